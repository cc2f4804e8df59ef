//! Printing states in kernel vocabulary, whole or as the objects an action
//! changed.

use crate::config::Kernel;
use crate::state::{AvId, Mapping, Pte, State, GHOST_FILE, GHOST_OR_ZERO};

/// One line per object, keyed by the object's name (`P0`, `P0 VMA 0..2`,
/// `AV1`, `F0`): the form traces and `rmapcheck run` print.
pub fn objects(s: &State, kernel: Kernel) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (pid, mm) in s.mms.iter().enumerate() {
        if !mm.alive {
            out.push((format!("P{pid}"), "exited".to_string()));
            continue;
        }
        let ptes: Vec<String> = mm
            .ptes
            .iter()
            .zip(&mm.ghost)
            .enumerate()
            .map(|(p, (pte, g))| {
                let p = match *pte {
                    Pte::None => "-".to_string(),
                    Pte::Zero if mm.ksm_zero & 1 << p != 0 => "zero ksm".to_string(),
                    Pte::Zero => "zero".to_string(),
                    Pte::Present { folio, sub, writable, dirty } => format!(
                        "{}{}{}",
                        crate::thp::page_desc(s, folio, sub),
                        if writable { " w" } else { " ro" },
                        if dirty { " d" } else { "" }
                    ),
                    Pte::Swap { slot, exclusive } => format!("swap S{slot}{}", if exclusive { " x" } else { "" }),
                };
                match g {
                    Some(GHOST_FILE) => format!("{p} (reads file)"),
                    Some(v) if v & GHOST_OR_ZERO != 0 => format!("{p} (reads {} or 0)", v & !GHOST_OR_ZERO),
                    Some(v) => format!("{p} (reads {v})"),
                    None => p,
                }
            })
            .collect();
        let merge_any = if mm.merge_any { " MMF_VM_MERGE_ANY" } else { "" };
        let mut line = format!("ptes [{}]{merge_any}", ptes.join(", "));
        if mm.has_pinned {
            let pins: Vec<String> = mm
                .pins
                .iter()
                .map(|x| {
                    let gone = match (x.attached, x.at) {
                        (false, _) => " unmapped".to_string(),
                        (true, at) if at != x.page => format!(" moved to {at}"),
                        _ => String::new(),
                    };
                    let prot = if x.write { "rw" } else { "r" };
                    format!("{}: {} {prot}{gone} (sees {})", x.page, crate::thp::page_desc(s, x.folio, x.sub), x.ghost)
                })
                .collect();
            line.push_str(&format!(" MMF_HAS_PINNED pins [{}]", pins.join(", ")));
        }
        out.push((format!("P{pid}"), line));
        for v in &mm.vmas {
            let chain: Vec<String> = v.chain.iter().map(|a| format!("AV{a}")).collect();
            out.push((
                format!("P{pid} VMA {}..{}", v.start, v.end),
                format!(
                    "{}{}{}{}{} pgoff={} anon_vma={} chain=[{}]",
                    if v.write { "rw" } else { "r" },
                    if v.shared { " shared" } else { "" },
                    v.file.map_or(String::new(), |f| format!(" file={}", crate::address_space::file_name(s, f))),
                    if v.account { " account" } else { "" },
                    if v.mergeable { " mergeable" } else { "" },
                    v.pgoff,
                    v.anon_vma.map_or("NULL".to_string(), |a| format!("AV{a}")),
                    chain.join(", ")
                ),
            ));
        }
    }
    for (i, a) in s.anon_vmas.iter().enumerate() {
        let counters = match kernel {
            k if k.is_v6() => format!("num_children={} num_active_vmas={}", a.num_children, a.num_active_vmas),
            _ => format!("degree={}", a.degree),
        };
        let tree: Vec<String> = tree_members(s, i as AvId);
        out.push((
            format!("AV{i}"),
            format!(
                "{}root=AV{} parent=AV{} refcount={} {} tree={{{}}}",
                if a.freed { "FREED " } else { "" },
                a.root,
                a.parent,
                a.refcount,
                counters,
                tree.join(", ")
            ),
        ));
    }
    for (i, f) in s.folios.iter().enumerate() {
        if f.freed {
            out.push((format!("F{i}"), "freed".to_string()));
            continue;
        }
        let mapping = match f.mapping {
            Mapping::None => "NULL".to_string(),
            Mapping::Anon(a) => format!("AV{a}|ANON"),
            Mapping::Ksm(n) => format!("stable_node{n}|KSM"),
            Mapping::File(f) => crate::address_space::file_name(s, f),
        };
        let mut flags = Vec::new();
        if f.swapbacked {
            flags.push("swapbacked");
        }
        if f.anon_exclusive {
            flags.push("anon_exclusive");
        }
        if f.dirty {
            flags.push("dirty");
        }
        let swapcache = f.swap.map(|sl| format!("swapcache=S{sl}"));
        if let Some(sc) = &swapcache {
            flags.push(sc);
        }
        if f.isolated {
            flags.push("isolated+locked");
        }
        if f.readahead {
            flags.push("readahead");
        }
        let pins = format!("pincount={}", f.pincount);
        if f.pincount > 0 {
            flags.push(&pins);
        }
        let line = match &f.large {
            None => format!(
                "mapping={mapping} index={} mapcount={} refcount={} [{}] data={}",
                f.index,
                f.mapcount,
                f.refcount,
                flags.join(" "),
                f.data
            ),
            Some(l) => {
                let pages: Vec<String> = l
                    .pages
                    .iter()
                    .map(|p| format!("{}{}={}", p.mapcount, if p.anon_exclusive { "x" } else { "" }, p.data))
                    .collect();
                let ids: Vec<String> = (0..2)
                    .map(|k| l.mm_id[k].map_or("-".into(), |p| format!("P{p}:{}", l.mm_id_mapcount[k])))
                    .collect();
                format!(
                    "order-{} mapping={mapping} index={} mapcount={} refcount={} [{}] pages=[{}] nr_pages_mapped={}{} mm_ids=[{}]{}",
                    l.order,
                    f.index,
                    f.mapcount,
                    f.refcount,
                    flags.join(" "),
                    pages.join(" "),
                    l.nr_pages_mapped,
                    if l.deferred { " partially_mapped+deferred_split" } else { "" },
                    ids.join(" "),
                    if l.maybe_shared { " maybe_shared" } else { "" }
                )
            }
        };
        out.push((format!("F{i}"), line));
    }
    for (i, sl) in s.swap.iter().enumerate() {
        let v = if sl.free() {
            "free".to_string()
        } else {
            format!(
                "count={} cache={} data={}",
                sl.count,
                sl.cache.map_or("-".to_string(), |f| format!("F{f}")),
                sl.data.map_or("-".to_string(), |d| d.to_string())
            )
        };
        out.push((format!("S{i}"), v));
    }
    for (i, n) in s.stable_nodes.iter().enumerate() {
        let v = if n.freed {
            "freed".to_string()
        } else {
            let items: Vec<String> = n
                .items
                .iter()
                .map(|r| {
                    format!("P{}@{} AV{}{}", r.mm, r.address, r.anon_vma, if r.unmapped { " unmapped" } else { "" })
                })
                .collect();
            format!(
                "kpfn={} rmap_items=[{}]",
                n.kpfn.map_or("stale".to_string(), |f| format!("F{f}")),
                items.join(", ")
            )
        };
        out.push((format!("stable_node{i}"), v));
    }
    for (i, f) in s.files.iter().enumerate() {
        let name = crate::address_space::file_name(s, i as u8);
        out.push((format!("file {name}"), file_line(f)));
    }
    if let Some(o) = &s.oops {
        out.push(("oops".to_string(), format!("{:?}: {}", o.kind, o.what)));
    }
    out
}

/// A file: size, page cache (`F2`, `S0` for a shmem swap entry, `-` for a
/// hole), the disk of a regular file, and the contents the ghost expects.
fn file_line(f: &crate::address_space::File) -> String {
    use crate::address_space::CacheEntry;
    if f.freed {
        return "freed".to_string();
    }
    let list = |v: Vec<String>| v.join(", ");
    let cache = f.cache.iter().take(f.size as usize).map(|e| match e {
        CacheEntry::Hole => "-".to_string(),
        CacheEntry::Folio(x) => format!("F{x}"),
        CacheEntry::Swap(x) => format!("S{x}"),
    });
    let vals = |v: &[u8]| list(v.iter().take(f.size as usize).map(|x| x.to_string()).collect());
    let disk = if f.shmem() { String::new() } else { format!(" disk=[{}]", vals(&f.disk)) };
    format!(
        "{} size={} i_pages=[{}]{disk} (contents {})",
        if f.shmem() { "shmem" } else { "regular" },
        f.size,
        list(cache.collect()),
        vals(&f.content)
    )
}

/// The VMAs in `av`'s interval tree, as `P1:0..2`.
pub fn tree_members(s: &State, av: AvId) -> Vec<String> {
    s.all_vmas()
        .filter(|(_, v)| v.chain.contains(&av))
        .map(|(pid, v)| format!("P{pid}:{}..{}", v.start, v.end))
        .collect()
}

/// The whole state, one object per line.
pub fn render(s: &State, kernel: Kernel) -> String {
    objects(s, kernel).into_iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// The objects that are new or changed in `after`, and those that went
/// away, one per line.
pub fn diff(before: &State, after: &State, kernel: Kernel) -> Vec<String> {
    let b = objects(before, kernel);
    let a = objects(after, kernel);
    let mut out = Vec::new();
    for (k, v) in &a {
        match b.iter().find(|(bk, _)| bk == k) {
            Some((_, bv)) if bv == v => {}
            Some(_) => out.push(format!("{k}: {v}")),
            None => out.push(format!("{k}: (new) {v}")),
        }
    }
    for (k, _) in &b {
        if !a.iter().any(|(ak, _)| ak == k) {
            out.push(format!("{k}: (gone)"));
        }
    }
    out
}
