//! Scenario assertions: what the kernel's objects must look like after a
//! step, in the spirit of herd7's final conditions but checked after the
//! step they follow. One line names one object and some of its fields:
//!
//! ```text
//! P0 fork
//! assert AV1 parent=AV0 root=AV0 refcount=1 num_children=1 num_active_vmas=1
//! assert P1 VMA 0..2 anon_vma=AV1 chain=[AV1,AV0]
//! assert F0 mapping=AV0|ANON mapcount=2 refcount=2 anon_exclusive=no
//! assert P1 page 0 pte=F0 writable=no
//! ```
//!
//! Objects and their fields ([`Object::keys`]); ids are those a trace
//! prints (stable allocation order); booleans are `yes`/`no`; lists have
//! no blanks:
//!
//! | object | fields |
//! |---|---|
//! | `Pn` | `alive`, `vmas` (how many), `merge_any` (MMF_VM_MERGE_ANY: prctl(PR_SET_MEMORY_MERGE)), `ksm_zero_pages` (`mm->ksm_zero_pages`), `has_pinned` (MMF_HAS_PINNED), `ksm_merging_pages` (`mm->ksm_merging_pages`: its rmap_items in the stable tree; never in `--trace-out` lines) and `pins` (the longterm pins it holds, `[0:F1:rw,1:F2:r]`, with `@p` after the address when mremap moved the pinned page to page p, `~` after the folio once the pinned mapping is gone; both named only once the process has pinned) |
//! | `Pn VMA a..b` (exactly that range) | `prot` (`rw`/`r`), `pgoff`, `account`, `mergeable`, `anon_vma` (`AVn`/`NULL`), `chain` (`[AV1,AV0]`, newest first), `file` (`vm_file`: `reg`, `memfd`, `tmpfs`, `shmn`, `none`) and `shared` (`VM_SHARED`; both named only for a file or shared VMA) |
//! | `Pn page p` | `pte` (`none`, `zero`, `Fn`, `Fn.i` for page `i` of a large folio, `Sn`), `writable`, `dirty`, `exclusive` (a swap PTE's marker), `reads` (what a load returns) |
//! | `AVn` | `root`, `parent`, `refcount`, `num_children`, `num_active_vmas`, `degree`, `freed`, `tree` (`[P0:0..2,P1:0..2]`) |
//! | `Fn` | `mapping` (`AVn\|ANON`, `stable_noden\|KSM`, a file's name for a page-cache folio, `NULL`), `index`, `mapcount`, `refcount`, `swapbacked`, `anon_exclusive`, `dirty`, `data`, `swapcache` (`Sn`/`none`), `isolated`, `freed`, `order` and `deferred` (PG_partially_mapped, on the deferred split queue; both named only when the order is not 0), `pincount` (FOLL_PIN pins, folio_maybe_dma_pinned(); named only when not 0); of a large folio `mapcount` is folio_mapcount(), and `anon_exclusive` and `data` list its pages (`[yes,no]`, `[7,0]`) |
//! | `Sn` | `count`, `cache` (`Fn`/`none`), `data` (`n`/`none`) |
//! | `stable_noden` | `kpfn` (`Fn`/`stale`), `rmap_items` (`[P0@0:AV0,P1@0:AV1]`), `freed` |
//! | `file NAME` (`reg`, `memfd`, `tmpfs`, or `shmn` for shared anonymous memory) | `kind` (`regular`/`shmem`), `size` (i_size in pages), `cache` (`mapping->i_pages` by offset: `Fn`, `Sn` for a shmem swap entry, `-` for a hole), `disk` (a regular file's blocks; `[]` for shmem), `freed`; the ghost contents the memory oracle keeps are not kernel state and are not asserted |
//! | `ksm` | KSM's global counters (derived, see [`crate::ksm_counters`]): `pages_shared`, `pages_sharing`, `ksm_zero_pages` |
//! | `oops` | `kind`: `none`, or the [`crate::OopsKind`] the step fired (`Bug`, `Warn`, `UseAfterFree`, `UnlinkBeforeZap`, `MergeIncompatible`) |
//!
//! [`fields`] gives every field of an object; [`Assert::check`] compares
//! the ones a line names; `--trace-out` writes lines with [`Assert::all`].

use crate::display::tree_members;
use crate::state::{Folio, Mapping, Pte, State};
use crate::thp::page_desc;
use std::fmt;

/// A kernel object an assertion names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Object {
    /// A process.
    Proc(u8),
    /// The VMA of a process spanning exactly `start..end`.
    Vma(u8, u8, u8),
    /// A page of a process: its PTE.
    Page(u8, u8),
    /// An anon_vma.
    AnonVma(u8),
    /// A folio.
    Folio(u8),
    /// A swap slot.
    Slot(u8),
    /// A KSM stable node.
    StableNode(u8),
    /// A file (`anon`: a shared anonymous shmem object, named `shmN`).
    File {
        /// Its row in `State::files`.
        id: u8,
        /// `shmem_zero_setup()`'s object rather than a named file.
        anon: bool,
    },
    /// What went wrong inside the kernel during the step, if anything.
    Oops,
    /// KSM's global counters (`/sys/kernel/mm/ksm`).
    Ksm,
}

impl Object {
    /// The fields an assertion on this kind of object may name, in the
    /// order [`fields`] gives them.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Object::Proc(_) => {
                &["alive", "vmas", "merge_any", "ksm_zero_pages", "has_pinned", "pins", "ksm_merging_pages"]
            }
            Object::Vma(..) => &["prot", "pgoff", "account", "mergeable", "anon_vma", "chain", "file", "shared"],
            Object::Page(..) => &["pte", "writable", "dirty", "exclusive", "reads"],
            Object::AnonVma(_) => {
                &["root", "parent", "refcount", "num_children", "num_active_vmas", "degree", "freed", "tree"]
            }
            Object::Folio(_) => &[
                "mapping",
                "index",
                "mapcount",
                "refcount",
                "swapbacked",
                "anon_exclusive",
                "dirty",
                "data",
                "swapcache",
                "isolated",
                "freed",
                "order",
                "deferred",
                "pincount",
            ],
            Object::Slot(_) => &["count", "cache", "data"],
            Object::StableNode(_) => &["kpfn", "rmap_items", "freed"],
            Object::File { .. } => &["kind", "size", "cache", "disk", "freed"],
            Object::Oops => &["kind"],
            Object::Ksm => &["pages_shared", "pages_sharing", "ksm_zero_pages"],
        }
    }

    /// Parses the object part of an assertion (`P0`, `P0 VMA 0..2`,
    /// `P0 page 1`, `AV3`, `F2`, `S0`, `stable_node1`) from the first
    /// words; returns it with the number of words it took.
    fn parse(words: &[&str]) -> Result<(Object, usize), String> {
        let num = |w: &str, prefix: &str| w.strip_prefix(prefix).and_then(|n| n.parse::<u8>().ok());
        let first = *words.first().ok_or(
            "'assert' needs an object: Pn, Pn VMA a..b, Pn page p, AVn, Fn, Sn, stable_noden, file NAME, oops or ksm",
        )?;
        if first == "oops" {
            return Ok((Object::Oops, 1));
        }
        if first == "ksm" {
            return Ok((Object::Ksm, 1));
        }
        if first == "file" {
            let name = words.get(1).ok_or("'assert file' needs a file name: reg, memfd, tmpfs or shmN")?;
            if let Some(id) = num(name, "shm") {
                return Ok((Object::File { id, anon: true }, 2));
            }
            let id = crate::address_space::parse_file_name(name)?;
            return Ok((Object::File { id, anon: false }, 2));
        }
        if let Some(n) = num(first, "stable_node") {
            return Ok((Object::StableNode(n), 1));
        }
        if let Some(n) = num(first, "AV") {
            return Ok((Object::AnonVma(n), 1));
        }
        if let Some(n) = num(first, "F") {
            return Ok((Object::Folio(n), 1));
        }
        if let Some(n) = num(first, "S") {
            return Ok((Object::Slot(n), 1));
        }
        let Some(pid) = num(first, "P") else {
            return Err(format!(
                "'{first}' is not an object: expected Pn, Pn VMA a..b, Pn page p, AVn, Fn, Sn, stable_noden, file NAME, oops or ksm"
            ));
        };
        match words.get(1..3) {
            Some(["VMA", range]) => {
                let (a, b) = range
                    .split_once("..")
                    .and_then(|(a, b)| Some((a.parse::<u8>().ok()?, b.parse::<u8>().ok()?)))
                    .filter(|(a, b)| a < b)
                    .ok_or_else(|| format!("'{range}' is not a VMA range: expected START..END"))?;
                Ok((Object::Vma(pid, a, b), 3))
            }
            Some(["page", p]) => {
                let p = p.parse::<u8>().map_err(|_| format!("'{p}' is not a page"))?;
                Ok((Object::Page(pid, p), 3))
            }
            _ => Ok((Object::Proc(pid), 1)),
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Object::Proc(p) => write!(f, "P{p}"),
            Object::Vma(p, a, b) => write!(f, "P{p} VMA {a}..{b}"),
            Object::Page(p, n) => write!(f, "P{p} page {n}"),
            Object::AnonVma(n) => write!(f, "AV{n}"),
            Object::Folio(n) => write!(f, "F{n}"),
            Object::Slot(n) => write!(f, "S{n}"),
            Object::StableNode(n) => write!(f, "stable_node{n}"),
            Object::File { id, anon: true } => write!(f, "file shm{id}"),
            Object::File { id, anon: false } => {
                write!(f, "file {}", crate::address_space::NAMED_FILES.get(id as usize).map_or("?", |n| n.0))
            }
            Object::Oops => f.write_str("oops"),
            Object::Ksm => f.write_str("ksm"),
        }
    }
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// One value for a small folio, `[v0,v1,...]` page by page for a large one.
fn per_page(f: &Folio, v: impl Fn(u8) -> String) -> String {
    if f.large.is_none() {
        return v(0);
    }
    format!("[{}]", (0..f.nr_pages()).map(v).collect::<Vec<_>>().join(","))
}

fn opt(v: Option<impl fmt::Display>, prefix: &str, none: &str) -> String {
    v.map_or(none.to_string(), |x| format!("{prefix}{x}"))
}

/// Every field of `obj` in `s`, in [`Object::keys`] order; `Err` when the
/// object does not exist. Both counter sets are given whatever the kernel
/// variant (`degree` stays 0 outside v5.19, the other two inside it).
pub fn fields(s: &State, obj: Object) -> Result<Vec<(&'static str, String)>, String> {
    let missing = || format!("{obj} does not exist");
    let mm = |p: u8| s.mms.get(p as usize).ok_or_else(missing);
    let v = match obj {
        Object::Proc(p) => {
            let m = mm(p)?;
            let pins: Vec<String> = m
                .pins
                .iter()
                .map(|x| {
                    let (gone, prot) = (if x.attached { "" } else { "~" }, if x.write { "rw" } else { "r" });
                    let moved = if x.attached && x.at != x.page { format!("@{}", x.at) } else { String::new() };
                    format!("{}{moved}:{}{gone}:{prot}", x.page, page_desc(s, x.folio, x.sub))
                })
                .collect();
            vec![
                yes(m.alive),
                m.vmas.len().to_string(),
                yes(m.merge_any),
                m.ksm_zero_pages.to_string(),
                yes(m.has_pinned),
                format!("[{}]", pins.join(",")),
                crate::ksm_counters::ksm_merging_pages(s, p as usize).to_string(),
            ]
        }
        Object::Vma(p, a, b) => {
            let m = mm(p)?;
            let v = m.vmas.iter().find(|v| v.start == a && v.end == b && m.alive).ok_or_else(missing)?;
            let chain: Vec<String> = v.chain.iter().map(|x| format!("AV{x}")).collect();
            vec![
                if v.write { "rw" } else { "r" }.to_string(),
                v.pgoff.to_string(),
                yes(v.account),
                yes(v.mergeable),
                opt(v.anon_vma, "AV", "NULL"),
                format!("[{}]", chain.join(",")),
                v.file.map_or("none".to_string(), |f| crate::address_space::file_name(s, f)),
                yes(v.shared),
            ]
        }
        Object::Page(p, n) => {
            let m = mm(p)?;
            let pte = *m.ptes.get(n as usize).filter(|_| m.alive).ok_or_else(missing)?;
            let (what, writable, dirty, exclusive) = match pte {
                Pte::None => ("none".to_string(), false, false, false),
                // A KSM zero page is the dirty zero-page PTE (is_ksm_zero_pte()).
                Pte::Zero => ("zero".to_string(), false, m.ksm_zero & 1 << n != 0, false),
                Pte::Present { folio, sub, writable, dirty } => (page_desc(s, folio, sub), writable, dirty, false),
                Pte::Swap { slot, exclusive } => (format!("S{slot}"), false, false, exclusive),
            };
            vec![what, yes(writable), yes(dirty), yes(exclusive), s.reads(p as usize, n).to_string()]
        }
        Object::AnonVma(n) => {
            let a = s.anon_vmas.get(n as usize).ok_or_else(missing)?;
            vec![
                format!("AV{}", a.root),
                format!("AV{}", a.parent),
                a.refcount.to_string(),
                a.num_children.to_string(),
                a.num_active_vmas.to_string(),
                a.degree.to_string(),
                yes(a.freed),
                format!("[{}]", tree_members(s, n).join(",")),
            ]
        }
        Object::Folio(n) => {
            let f = s.folios.get(n as usize).ok_or_else(missing)?;
            let mapping = match f.mapping {
                Mapping::None => "NULL".to_string(),
                Mapping::Anon(a) => format!("AV{a}|ANON"),
                Mapping::Ksm(k) => format!("stable_node{k}|KSM"),
                Mapping::File(x) => crate::address_space::file_name(s, x),
            };
            vec![
                mapping,
                f.index.to_string(),
                f.mapcount.to_string(),
                f.refcount.to_string(),
                yes(f.swapbacked),
                per_page(f, |i| yes(f.page_exclusive(i))),
                yes(f.dirty),
                per_page(f, |i| f.page_data(i).to_string()),
                opt(f.swap, "S", "none"),
                yes(f.isolated),
                yes(f.freed),
                f.order().to_string(),
                yes(f.large.as_ref().is_some_and(|l| l.deferred)),
                f.pincount.to_string(),
            ]
        }
        Object::Slot(n) => {
            let sl = s.swap.get(n as usize).ok_or_else(missing)?;
            vec![sl.count.to_string(), opt(sl.cache, "F", "none"), opt(sl.data, "", "none")]
        }
        Object::StableNode(n) => {
            let k = s.stable_nodes.get(n as usize).ok_or_else(missing)?;
            let items: Vec<String> =
                k.items.iter().map(|r| format!("P{}@{}:AV{}", r.mm, r.address, r.anon_vma)).collect();
            vec![opt(k.kpfn, "F", "stale"), format!("[{}]", items.join(",")), yes(k.freed)]
        }
        Object::File { id, anon } => {
            use crate::address_space::CacheEntry;
            let f = s.files.get(id as usize).filter(|f| f.anon == anon).ok_or_else(missing)?;
            let cache: Vec<String> = f
                .cache
                .iter()
                .map(|e| match e {
                    CacheEntry::Hole => "-".to_string(),
                    CacheEntry::Folio(x) => format!("F{x}"),
                    CacheEntry::Swap(x) => format!("S{x}"),
                })
                .collect();
            let disk: Vec<String> = if f.shmem() { Vec::new() } else { f.disk.iter().map(|x| x.to_string()).collect() };
            vec![
                if f.shmem() { "shmem" } else { "regular" }.to_string(),
                f.size.to_string(),
                format!("[{}]", cache.join(",")),
                format!("[{}]", disk.join(",")),
                yes(f.freed),
            ]
        }
        Object::Oops => vec![s.oops.as_ref().map_or("none".to_string(), |o| format!("{:?}", o.kind))],
        Object::Ksm => {
            let c = crate::ksm_counters::ksm_counters(s);
            vec![c.pages_shared.to_string(), c.pages_sharing.to_string(), c.ksm_zero_pages.to_string()]
        }
    };
    Ok(obj.keys().iter().copied().zip(v).collect())
}

/// One `assert` line: an object and the fields it must have.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Assert {
    /// 1-based line in the scenario file (0 when not from a file).
    pub line: usize,
    /// The object.
    pub object: Object,
    /// `(field, value)` pairs, as written.
    pub fields: Vec<(String, String)>,
}

impl Assert {
    /// Parses what follows `assert`: an object, then `field=value` pairs
    /// naming fields the object has, none twice.
    pub fn parse(text: &str, line: usize) -> Result<Assert, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (object, used) = Object::parse(&words)?;
        let mut fields: Vec<(String, String)> = Vec::new();
        for w in &words[used..] {
            let (k, v) =
                w.split_once('=').ok_or_else(|| format!("'{w}' is not a field: expected NAME=VALUE after {object}"))?;
            if !object.keys().contains(&k) {
                return Err(format!("{object} has no field '{k}' (fields: {})", object.keys().join(", ")));
            }
            if v.is_empty() {
                return Err(format!("field '{k}' of {object} has no value"));
            }
            if fields.iter().any(|(f, _)| f == k) {
                return Err(format!("field '{k}' of {object} named twice"));
            }
            fields.push((k.to_string(), v.to_string()));
        }
        if fields.is_empty() {
            return Err(format!("'assert {object}' names no field (fields: {})", object.keys().join(", ")));
        }
        Ok(Assert { line, object, fields })
    }

    /// An assertion naming every field `obj` has in `s` (`None` if it does
    /// not exist). Of a freed object only what the kernel still promises
    /// is named (a freed anon_vma's zero refcount, a freed folio's cleared
    /// mapping, a free slot's zero count and empty cache): the rest is
    /// memory back in the allocator.
    pub fn all(s: &State, obj: Object) -> Option<Assert> {
        let f = fields(s, obj).ok()?;
        let get = |k: &str| f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        let keep: Option<&[&str]> = match obj {
            Object::AnonVma(_) | Object::StableNode(_) if get("freed") == Some("yes") => Some(&["refcount", "freed"]),
            Object::File { .. } if get("freed") == Some("yes") => Some(&["freed"]),
            // Private anonymous memory goes without `file` and `shared`
            // (and keeps the anonymous lines as they were).
            Object::Vma(..) if get("file") == Some("none") && get("shared") == Some("no") => {
                Some(&Object::Vma(0, 0, 1).keys()[..6])
            }
            Object::Folio(_) if get("freed") == Some("yes") => Some(&["mapping", "freed"]),
            // Order 0 goes without saying (and keeps the order-0 lines as they were).
            Object::Folio(_) if get("order") == Some("0") => Some(&Object::Folio(0).keys()[..11]),
            Object::Slot(_) if get("count") == Some("0") && get("cache") == Some("none") => Some(&["count", "cache"]),
            // A process that never pinned keeps its lines as they were.
            Object::Proc(_) if get("has_pinned") == Some("no") => Some(&Object::Proc(0).keys()[..4]),
            _ => None,
        };
        // Likewise a folio that is not pinned, and a process without
        // KSM pages (`ksm_merging_pages` is derived: it adds to no line).
        let unpinned = |k: &str| (k == "pincount" && get("pincount") == Some("0")) || k == "ksm_merging_pages";
        // A pinned order-0 folio still names its pin count.
        let pinned = |k: &str| k == "pincount" && !unpinned(k);
        let fields = f.iter().filter(|(k, _)| (keep.is_none_or(|keep| keep.contains(k)) || pinned(k)) && !unpinned(k));
        Some(Assert { line: 0, object: obj, fields: fields.map(|(k, v)| (k.to_string(), v.clone())).collect() })
    }

    /// Whether `s` has what the line says; `Err` names the first field
    /// that differs, with both values.
    pub fn check(&self, s: &State) -> Result<(), String> {
        let have = fields(s, self.object)?;
        for (k, want) in &self.fields {
            let got = &have.iter().find(|(h, _)| h == k).expect("parse accepts known fields only").1;
            if got != want {
                return Err(format!("{} {k} is {got}, the scenario says {want}", self.object));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Assert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "assert {}", self.object)?;
        for (k, v) in &self.fields {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// Every object of `s`, in the order [`fields`] would list a state.
pub fn objects(s: &State) -> Vec<Object> {
    let mut objs = Vec::new();
    for (p, m) in s.mms.iter().enumerate() {
        let p = p as u8;
        objs.push(Object::Proc(p));
        for v in &m.vmas {
            objs.push(Object::Vma(p, v.start, v.end));
        }
        for n in 0..m.ptes.len() as u8 {
            objs.push(Object::Page(p, n));
        }
    }
    objs.extend((0..s.anon_vmas.len() as u8).map(Object::AnonVma));
    objs.extend((0..s.folios.len() as u8).map(Object::Folio));
    objs.extend((0..s.swap.len() as u8).map(Object::Slot));
    objs.extend((0..s.stable_nodes.len() as u8).map(Object::StableNode));
    objs.extend(s.files.iter().enumerate().map(|(i, f)| Object::File { id: i as u8, anon: f.anon }));
    objs.push(Object::Oops);
    objs.retain(|&o| fields(s, o).is_ok());
    objs
}

/// The objects whose fields differ between `before` and `after`, or that
/// exist in `after` only: what `rmapcheck run --annotate` asserts after a
/// step, and `--trace-out` after the last one.
pub fn changed(before: &State, after: &State) -> Vec<Object> {
    objects(after).into_iter().filter(|&o| fields(after, o) != fields(before, o)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_refuse_unknown_fields() {
        let a = Assert::parse("P1 VMA 0..2 anon_vma=AV1 chain=[AV1,AV0]", 7).unwrap();
        assert_eq!(a.object, Object::Vma(1, 0, 2));
        assert_eq!(a.to_string(), "assert P1 VMA 0..2 anon_vma=AV1 chain=[AV1,AV0]");
        assert_eq!(
            Assert::parse("AV0 colour=red", 1).unwrap_err().split(" (").next(),
            Some("AV0 has no field 'colour'")
        );
        assert!(Assert::parse("F0 mapcount=1 mapcount=2", 1).unwrap_err().contains("named twice"));
        assert!(Assert::parse("F0", 1).unwrap_err().contains("names no field"));
        assert!(Assert::parse("P0 VMA 2..1 prot=rw", 1).unwrap_err().contains("not a VMA range"));
        assert!(Assert::parse("Q0 alive=yes", 1).unwrap_err().contains("not an object"));
        assert_eq!(Assert::parse("P0 page 1 pte=zero", 1).unwrap().object, Object::Page(0, 1));
        let f = Assert::parse("file memfd size=1 cache=[F0]", 1).unwrap();
        assert_eq!(f.object, Object::File { id: 1, anon: false });
        assert_eq!(f.to_string(), "assert file memfd size=1 cache=[F0]");
        assert_eq!(Assert::parse("file shm3 freed=no", 1).unwrap().to_string(), "assert file shm3 freed=no");
        assert!(Assert::parse("file nfs size=1", 1).unwrap_err().contains("not a file"));
        assert!(Assert::parse("file", 1).unwrap_err().contains("needs a file name"));
    }

    #[test]
    fn a_state_checks_against_its_own_fields() {
        let s = State::new(2, false);
        let all = Assert::all(&s, Object::Page(0, 1)).unwrap();
        assert_eq!(all.to_string(), "assert P0 page 1 pte=none writable=no dirty=no exclusive=no reads=0");
        assert!(all.check(&s).is_ok());
        let wrong = Assert::parse("P0 alive=no", 1).unwrap();
        assert_eq!(wrong.check(&s).unwrap_err(), "P0 alive is yes, the scenario says no");
        let gone = Assert::parse("AV0 refcount=1", 1).unwrap();
        assert_eq!(gone.check(&s).unwrap_err(), "AV0 does not exist");
    }
}
