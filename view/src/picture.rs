//! A picture of one state as a Graphviz graph.
//!
//! One function per object kind walks that kind ([`processes`],
//! [`anon_vmas`], [`folios`], [`swap_slots`], [`stable_nodes`], [`oops`]);
//! a new kind of object gets its own function here, and until it has one
//! [`other_fields`] draws it generically. Inside an object, every field of
//! its serde form that the kind's function does not draw as an edge is
//! listed as a row ([`field_rows`]), so a field added to the model shows up
//! without a change here.
//!
//! What the last step changed is filled yellow; the objects the violated
//! invariant names are outlined red; freed objects are grey and dashed.

use crate::esc;
use crate::marks::Mark;
use rmapcheck_model::display::tree_members;
use rmapcheck_model::{AvId, Kernel, Pte, State, Vma, GHOST_OR_ZERO};
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::fmt::Write;

/// What to draw: a state, the state before the step that led to it (to
/// highlight changes), and the objects to mark.
pub struct Scene<'a> {
    /// The state drawn.
    pub state: &'a State,
    /// The state before the last step, if any.
    pub prev: Option<&'a State>,
    /// Which anon_vma counters exist.
    pub kernel: Kernel,
    /// Objects a violation names.
    pub marks: &'a BTreeSet<Mark>,
}

/// The state as a Graphviz DOT digraph.
pub fn dot(scene: &Scene) -> String {
    let mut g = String::from(
        "digraph state {\n  rankdir=TB; nodesep=0.3; ranksep=0.45; fontname=\"Helvetica\";\n  \
         node [shape=plain, fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    processes(scene, &mut g);
    anon_vmas(scene, &mut g);
    folios(scene, &mut g);
    swap_slots(scene, &mut g);
    stable_nodes(scene, &mut g);
    oops(scene, &mut g);
    other_fields(scene, &mut g);
    g.push_str("}\n");
    g
}

/// How an object looks: changed by the last step, named by the violation,
/// freed.
#[derive(Clone, Copy, Default)]
struct Look {
    changed: bool,
    marked: bool,
    freed: bool,
}

impl Look {
    fn fill(self) -> &'static str {
        match self {
            Look { marked: true, .. } => "#ffd9d9",
            Look { changed: true, .. } => "#fff0a0",
            Look { freed: true, .. } => "#eeeeee",
            _ => "#ffffff",
        }
    }
    fn border(self) -> (&'static str, u8) {
        if self.marked {
            ("#d00000", 3)
        } else if self.freed {
            ("#999999", 1)
        } else {
            ("#333333", 1)
        }
    }
}

/// An HTML-like table label: a bold header and one row per line.
fn table(header: &str, rows: &[String], look: Look) -> String {
    let rows: Vec<(Option<String>, &str)> = rows.iter().map(|r| (None, r.as_str())).collect();
    table_ports(header, &rows, look)
}

/// [`table`] with an optional port name per row (an edge can end at
/// `NODE:PORT`: the page of a large folio a PTE maps).
fn table_ports(header: &str, rows: &[(Option<String>, &str)], look: Look) -> String {
    let (pen, width) = look.border();
    let font = if look.freed { "#777777" } else { "#000000" };
    let style = if look.freed { " STYLE=\"DASHED\"" } else { "" };
    let mut t = format!(
        "<<TABLE BORDER=\"{width}\" COLOR=\"{pen}\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"2\" BGCOLOR=\"{}\"{style}>\
         <TR><TD><FONT COLOR=\"{font}\"><B>{}</B></FONT></TD></TR>",
        look.fill(),
        esc(header)
    );
    for (port, r) in rows {
        let port = port.as_ref().map(|p| format!(" PORT=\"{p}\"")).unwrap_or_default();
        let _ = write!(t, "<TR><TD ALIGN=\"LEFT\"{port}><FONT COLOR=\"{font}\">{}</FONT></TD></TR>", esc(r));
    }
    t.push_str("</TABLE>>");
    t
}

fn node(g: &mut String, id: &str, header: &str, rows: &[String], look: Look) {
    let _ = writeln!(g, "  {id} [label={}];", table(header, rows, look));
}

/// A value in a few characters: `3`, `-` for none, `[1, 2]`, `Anon(3)`.
pub fn compact(v: &Json) -> String {
    let s = match v {
        Json::Null => "-".to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => s.clone(),
        Json::Array(a) => format!("[{}]", a.iter().map(compact).collect::<Vec<_>>().join(", ")),
        // serde writes an enum variant as a one-entry object.
        Json::Object(o) if o.len() == 1 => {
            let (k, v) = o.iter().next().expect("one entry");
            match v {
                Json::Object(fields) => format!("{k}{}", record(fields)),
                _ => format!("{k}({})", compact(v)),
            }
        }
        Json::Object(o) => record(o),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

fn record(o: &serde_json::Map<String, Json>) -> String {
    format!("{{{}}}", o.iter().map(|(k, v)| format!("{k}={}", compact(v))).collect::<Vec<_>>().join(", "))
}

/// One row per field of `obj`'s serde form not in `skip`: a true flag by
/// its name, a false flag or an empty option not at all, anything else as
/// `name=value`.
pub fn field_rows(obj: &impl Serialize, skip: &[&str]) -> Vec<String> {
    let Ok(Json::Object(fields)) = serde_json::to_value(obj) else {
        return serde_json::to_value(obj).map(|v| vec![compact(&v)]).unwrap_or_default();
    };
    fields
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| match v {
            Json::Bool(true) => Some(k.clone()),
            Json::Bool(false) | Json::Null => None,
            _ => Some(format!("{k}={}", compact(v))),
        })
        .collect()
}

/// Whether `before` (absent: the object is new) differs from `after`.
fn differs<T: PartialEq>(before: Option<&T>, after: &T, has_prev: bool) -> bool {
    has_prev && before != Some(after)
}

/// Processes: one table per live process, its address window as columns:
/// the VMAs on top, each spanning its pages, the PTEs below.
fn processes(sc: &Scene, g: &mut String) {
    for (pid, mm) in sc.state.mms.iter().enumerate() {
        let before = sc.prev.and_then(|s| s.mms.get(pid));
        let marked = sc.marks.contains(&Mark::Proc(pid as u8));
        if !mm.alive {
            let look = Look { changed: before.is_some_and(|b| b.alive), marked, freed: true };
            node(g, &format!("P{pid}"), &format!("P{pid} exited"), &[], look);
            continue;
        }
        let pages = mm.ptes.len();
        let (pen, width) = Look { marked, ..Look::default() }.border();
        let new = if before.is_none() && sc.prev.is_some() { " (new)" } else { "" };
        let mut t = format!(
            "<<TABLE BORDER=\"{width}\" COLOR=\"{pen}\" CELLBORDER=\"1\" CELLSPACING=\"0\" CELLPADDING=\"3\" STYLE=\"ROUNDED\">\
             <TR><TD BORDER=\"0\" COLSPAN=\"{pages}\"><B>P{pid}{new}</B></TD></TR>"
        );
        for row in field_rows(mm, &["alive", "vmas", "ptes", "ghost"]) {
            let _ = write!(t, "<TR><TD BORDER=\"0\" COLSPAN=\"{pages}\">{}</TD></TR>", esc(&row));
        }
        t.push_str(&vma_row(sc, pid, g));
        t.push_str(&pte_row(sc, pid, g));
        t.push_str("</TABLE>>");
        let _ = writeln!(g, "  P{pid} [label={t}];");
    }
}

/// The row of VMAs of process `pid`, each cell spanning its pages, with
/// the edges from each VMA to its anon_vma. The AVCs of a VMA the
/// violation names are drawn too (elsewhere the chain row says them).
fn vma_row(sc: &Scene, pid: usize, g: &mut String) -> String {
    let mm = &sc.state.mms[pid];
    let before = sc.prev.and_then(|s| s.mms.get(pid)).filter(|b| b.alive);
    let mut row = String::from("<TR>");
    let mut next = 0;
    for v in &mm.vmas {
        if v.start > next {
            let _ = write!(row, "<TD BORDER=\"0\" COLSPAN=\"{}\"></TD>", v.start - next);
        }
        next = v.end;
        let old = before.and_then(|b| b.vmas.iter().find(|o| o.start == v.start && o.end == v.end));
        let marked = sc.marks.contains(&Mark::Vma(pid as u8, v.start, v.end));
        let look = Look { changed: differs(old, v, sc.prev.is_some()), marked, freed: false };
        let port = format!("v{}_{}", v.start, v.end);
        let mut lines = vec![format!("<B>VMA {}..{} {}</B>", v.start, v.end, if v.write { "rw" } else { "r" })];
        lines.extend(field_rows(v, &["start", "end", "write", "anon_vma", "chain"]).iter().map(|r| esc(r)));
        lines.push(format!("anon_vma={}", v.anon_vma.map_or("NULL".into(), |a| format!("AV{a}"))));
        let chain: Vec<String> = v.chain.iter().map(|a| format!("AV{a}")).collect();
        lines.push(format!("chain: {}", if chain.is_empty() { "(empty)".into() } else { chain.join(" ") }));
        let _ = write!(
            row,
            "<TD PORT=\"{port}\" COLSPAN=\"{}\" BGCOLOR=\"{}\"{}>{}</TD>",
            v.end - v.start,
            look.fill(),
            border_attr(look),
            lines.join("<BR/>")
        );
        if marked {
            for a in avcs_to_draw(sc, pid, v) {
                let _ =
                    writeln!(g, "  AV{a} -> P{pid}:{port} [dir=back, style=dashed, color=\"#d00000\", label=\"AVC\"];");
            }
        }
        if let Some(a) = v.anon_vma {
            let _ =
                writeln!(g, "  AV{a} -> P{pid}:{port} [dir=back, color=\"#1f5fbf\", penwidth=2, label=\"anon_vma\"];");
        }
    }
    if (next as usize) < mm.ptes.len() {
        let _ = write!(row, "<TD BORDER=\"0\" COLSPAN=\"{}\"></TD>", mm.ptes.len() - next as usize);
    }
    row.push_str("</TR>");
    row
}

/// The AVCs of a VMA the violation names that the picture draws: those
/// not shared by every other named VMA of the process (where two chains
/// differ), or all of them when it is the only one; never the one to its
/// own anon_vma, which has its own edge.
fn avcs_to_draw(sc: &Scene, pid: usize, v: &Vma) -> Vec<AvId> {
    let named: Vec<&Vma> =
        sc.state.mms[pid].vmas.iter().filter(|o| sc.marks.contains(&Mark::Vma(pid as u8, o.start, o.end))).collect();
    v.chain
        .iter()
        .copied()
        .filter(|a| Some(*a) != v.anon_vma)
        .filter(|a| named.len() < 2 || !named.iter().all(|o| o.chain.contains(a)))
        .collect()
}

/// A table cell's border for a marked object.
fn border_attr(look: Look) -> String {
    let (pen, width) = look.border();
    if look.marked {
        format!(" BORDER=\"{width}\" COLOR=\"{pen}\"")
    } else {
        String::new()
    }
}

/// The row of PTEs of process `pid`, with an edge from each mapped cell to
/// its folio or swap slot.
fn pte_row(sc: &Scene, pid: usize, g: &mut String) -> String {
    let mm = &sc.state.mms[pid];
    let before = sc.prev.and_then(|s| s.mms.get(pid)).filter(|b| b.alive);
    let mut row = String::from("<TR>");
    for (i, (pte, ghost)) in mm.ptes.iter().zip(&mm.ghost).enumerate() {
        let old = before.map(|b| (b.ptes[i], b.ghost[i]));
        let look = Look {
            changed: differs(old.as_ref(), &(*pte, *ghost), sc.prev.is_some()),
            marked: sc.marks.contains(&Mark::Pte(pid as u8, i as u8)),
            freed: false,
        };
        let text = match *pte {
            Pte::None => "-".to_string(),
            Pte::Present { folio, sub, writable, dirty } => {
                // A page of a large folio is named as in traces (F3.2), and
                // the edge ends at that page's row of the folio.
                let large = sc.state.folios.get(folio as usize).is_some_and(|f| f.large.is_some());
                let (page, port) = if large { (format!(".{sub}"), format!(":pg{sub}")) } else { Default::default() };
                let _ = writeln!(g, "  P{pid}:p{i}:s -> F{folio}{port} [color=\"#2a7a2a\"];");
                format!("F{folio}{page} {}{}", if writable { "w" } else { "ro" }, if dirty { " d" } else { "" })
            }
            Pte::Swap { slot, exclusive } => {
                let _ = writeln!(g, "  P{pid}:p{i}:s -> S{slot} [color=\"#a05a00\"];");
                format!("swap S{slot}{}", if exclusive { " x" } else { "" })
            }
            other => format!("{other:?}").to_lowercase(),
        };
        let reads = match ghost {
            Some(v) if v & GHOST_OR_ZERO != 0 => format!("reads {}|0", v & !GHOST_OR_ZERO),
            Some(v) => format!("reads {v}"),
            None => "unmapped".to_string(),
        };
        let _ = write!(
            row,
            "<TD PORT=\"p{i}\" BGCOLOR=\"{}\"{}>pte {i}: {}<BR/><FONT POINT-SIZE=\"8\" COLOR=\"#555555\">{}</FONT></TD>",
            look.fill(),
            border_attr(look),
            esc(&text),
            esc(&reads)
        );
    }
    row.push_str("</TR>");
    row
}

/// The anon_vma forest: each anon_vma below its parent, a dashed edge to
/// its root when that is not its parent.
fn anon_vmas(sc: &Scene, g: &mut String) {
    // Only one generation of counters exists in a given kernel.
    let hidden: &[&str] = if sc.kernel == Kernel::V5_19 {
        &["root", "parent", "freed", "num_children", "num_active_vmas"]
    } else {
        &["root", "parent", "freed", "degree"]
    };
    g.push_str("  subgraph cluster_forest {\n    label=\"anon_vma forest\"; style=dashed; color=\"#bbbbbb\";\n");
    for (i, a) in sc.state.anon_vmas.iter().enumerate() {
        let look = Look {
            changed: differs(sc.prev.and_then(|s| s.anon_vmas.get(i)), a, sc.prev.is_some()),
            marked: sc.marks.contains(&Mark::Av(i as u8)),
            freed: a.freed,
        };
        let mut rows = Vec::new();
        if a.root as usize != i {
            // The parent edge shows the parent; the root is a row, since
            // every anon_vma of a tree names the same one.
            rows.push(format!("root=AV{}", a.root));
        }
        rows.extend(field_rows(a, hidden));
        let tree = tree_members(sc.state, i as u8);
        for chunk in tree.chunks(3) {
            rows.push(format!("tree: {}", chunk.join(" ")));
        }
        let kind = if a.freed {
            " FREED"
        } else if a.root as usize == i {
            " (root)"
        } else {
            ""
        };
        node(g, &format!("AV{i}"), &format!("AV{i}{kind}"), &rows, look);
    }
    g.push_str("  }\n");
    for (i, a) in sc.state.anon_vmas.iter().enumerate() {
        if a.parent as usize != i {
            let _ = writeln!(g, "  AV{} -> AV{i} [dir=back, label=\"parent\"];", a.parent);
        }
    }
}

/// Folios with their `mapping` (anon_vma or stable node) and counts.
fn folios(sc: &Scene, g: &mut String) {
    for (i, f) in sc.state.folios.iter().enumerate() {
        let look = Look {
            changed: differs(sc.prev.and_then(|s| s.folios.get(i)), f, sc.prev.is_some()),
            marked: sc.marks.contains(&Mark::Folio(i as u8)),
            freed: f.freed,
        };
        if f.freed {
            node(g, &format!("F{i}"), &format!("F{i} freed"), &[], look);
            continue;
        }
        let mapping = if let Some(a) = f.mapping.anon_vma() {
            let _ = writeln!(g, "  F{i} -> AV{a} [color=\"#7a3fa0\", label=\"mapping\", constraint=false];");
            format!("AV{a}|ANON")
        } else if let Some(n) = f.mapping.stable_node() {
            let _ = writeln!(g, "  F{i} -> K{n} [color=\"#7a3fa0\", label=\"mapping\", constraint=false];");
            format!("stable_node{n}|KSM")
        } else {
            compact(&serde_json::to_value(f.mapping).unwrap_or_default())
        };
        let mut rows = vec![format!("mapping={mapping}")];
        let Some(l) = &f.large else {
            rows.extend(field_rows(f, &["mapping", "freed"]));
            node(g, &format!("F{i}"), &format!("F{i}"), &rows, look);
            continue;
        };
        // A large folio: its per-page state replaces `data` and
        // `anon_exclusive`, and `mapcount` is the large mapcount.
        rows.extend(field_rows(f, &["mapping", "freed", "large", "data", "anon_exclusive", "mapcount"]));
        rows.push(format!("large mapcount={}, nr_pages_mapped={}", f.mapcount, l.nr_pages_mapped));
        if l.deferred {
            rows.push("partially mapped, on the deferred split queue".into());
        }
        let ids: Vec<String> =
            l.mm_id.iter().zip(l.mm_id_mapcount).filter_map(|(id, n)| Some(format!("P{}×{n}", (*id)?))).collect();
        let shared = if l.maybe_shared { ", shared bit" } else { "" };
        rows.push(format!("mm ids: {}{shared}", if ids.is_empty() { "-".into() } else { ids.join(" ") }));
        let pages: Vec<String> = l
            .pages
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let excl = if p.anon_exclusive { ", PageAnonExclusive" } else { "" };
                format!("page {k} (index {}): mapcount {}, data {}{excl}", f.index as usize + k, p.mapcount, p.data)
            })
            .collect();
        let mut ported: Vec<(Option<String>, &str)> = rows.iter().map(|r| (None, r.as_str())).collect();
        ported.extend(pages.iter().enumerate().map(|(k, r)| (Some(format!("pg{k}")), r.as_str())));
        let header = format!("F{i} order {} ({} kB)", l.order, 4 << l.order);
        let _ = writeln!(g, "  F{i} [label={}];", table_ports(&header, &ported, look));
    }
}

/// Swap slots, with an edge to the folio in their swap cache.
fn swap_slots(sc: &Scene, g: &mut String) {
    for (i, sl) in sc.state.swap.iter().enumerate() {
        let look = Look {
            changed: differs(sc.prev.and_then(|s| s.swap.get(i)), sl, sc.prev.is_some()),
            marked: sc.marks.contains(&Mark::Slot(i as u8)),
            freed: sl.free(),
        };
        if let Some(f) = sl.cache {
            let _ = writeln!(g, "  S{i} -> F{f} [style=dashed, label=\"swap cache\"];");
        }
        let header = if sl.free() { format!("S{i} free") } else { format!("S{i}") };
        node(g, &format!("S{i}"), &header, &field_rows(sl, &["cache"]), look);
    }
}

/// KSM stable nodes: `kpfn` and the anon_vma each rmap_item pins.
fn stable_nodes(sc: &Scene, g: &mut String) {
    for (i, n) in sc.state.stable_nodes.iter().enumerate() {
        let look = Look {
            changed: differs(sc.prev.and_then(|s| s.stable_nodes.get(i)), n, sc.prev.is_some()),
            marked: sc.marks.contains(&Mark::Node(i as u8)),
            freed: n.freed,
        };
        let mut rows = vec![format!("kpfn={}", n.kpfn.map_or("stale".into(), |f| format!("F{f}")))];
        rows.extend(field_rows(n, &["kpfn", "items", "freed"]));
        if !n.freed {
            if let Some(f) = n.kpfn {
                let _ = writeln!(g, "  K{i} -> F{f} [style=dashed, label=\"kpfn\"];");
            }
            for it in &n.items {
                rows.push(format!("rmap_item P{}@{} AV{}", it.mm, it.address, it.anon_vma));
                let _ = writeln!(
                    g,
                    "  K{i} -> AV{} [style=dashed, color=\"#7a3fa0\", label=\"pins P{}@{}\"];",
                    it.anon_vma, it.mm, it.address
                );
            }
        }
        let header = format!("stable_node{i}{}", if n.freed { " freed" } else { "" });
        node(g, &format!("K{i}"), &header, &rows, look);
    }
}

/// A kernel assertion that fired during the last step.
fn oops(sc: &Scene, g: &mut String) {
    if let Some(o) = &sc.state.oops {
        let look = Look { changed: false, marked: true, freed: false };
        node(g, "oops", &format!("OOPS: {:?}", o.kind), std::slice::from_ref(&o.what), look);
    }
}

/// The state's fields that no function above draws (a kind of object added
/// to the model after this file): one box per element, its fields as rows.
fn other_fields(sc: &Scene, g: &mut String) {
    let Ok(now) = serde_json::to_value(sc.state) else { return };
    let before = sc.prev.and_then(|p| serde_json::to_value(p).ok());
    other_json_fields(&now, before.as_ref(), sc.prev.is_some(), g);
}

fn other_json_fields(now: &Json, before: Option<&Json>, has_prev: bool, g: &mut String) {
    const DRAWN: [&str; 6] = ["mms", "anon_vmas", "folios", "swap", "stable_nodes", "oops"];
    let Json::Object(all) = now else { return };
    for (k, v) in all.iter().filter(|(k, _)| !DRAWN.contains(&k.as_str())) {
        let old = before.and_then(|b| b.get(k));
        let items: Vec<(String, &Json, Option<&Json>)> = match v {
            Json::Array(a) => {
                a.iter().enumerate().map(|(i, x)| (format!("{k}[{i}]"), x, old.and_then(|o| o.get(i)))).collect()
            }
            _ => vec![(k.clone(), v, old)],
        };
        for (n, (name, x, was)) in items.into_iter().enumerate() {
            let look = Look { changed: has_prev && was != Some(x), ..Look::default() };
            node(g, &format!("\"x_{k}_{n}\""), &name, &field_rows(x, &[]), look);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_list_every_field_a_kind_does_not_draw() {
        let v = json!({"start": 0, "order": 2, "pinned": true, "lru": false, "mapping": {"File": 3}, "pages": [1, 2]});
        assert_eq!(field_rows(&v, &["start"]), ["order=2", "pinned", "mapping=File(3)", "pages=[1, 2]"]);
        assert_eq!(compact(&json!({"Present": {"folio": 1}})), "Present{folio=1}");
        assert_eq!(compact(&Json::Null), "-");
    }

    #[test]
    fn a_kind_of_object_the_picture_does_not_know_gets_a_box_per_element() {
        let now = json!({"mms": [], "files": [{"inode": 3, "pages": [0, 1]}, {"inode": 4, "pages": []}], "clock": 7});
        let before = json!({"mms": [], "files": [{"inode": 3, "pages": [0, 1]}], "clock": 7});
        let mut g = String::new();
        other_json_fields(&now, Some(&before), true, &mut g);
        let lines: Vec<&str> = g.lines().collect();
        assert_eq!(lines.len(), 3, "{g}");
        assert!(lines[0].contains("files[0]") && lines[0].contains("inode=3") && lines[0].contains("pages=[0, 1]"));
        assert!(lines[0].contains("#ffffff"), "unchanged");
        assert!(lines[1].contains("files[1]") && lines[1].contains("#fff0a0"), "new, so changed");
        assert!(lines[2].contains("<B>clock</B>") && lines[2].contains(">7</FONT>"), "{}", lines[2]);
    }
}
