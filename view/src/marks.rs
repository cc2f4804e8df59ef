//! Which objects a violation names, read from the invariant's report.
//!
//! Invariants report the objects that break them as text in the names the
//! traces use (`AV2`, `F0`, `S1`, `stable_node0`, `P5 VMA 0..1`,
//! `P3 page 2`, `P1@2` for a KSM rmap_item). This reads those names back so
//! that the picture can mark the objects. A VMA range or a page number
//! belongs to the process named last before it, as the reports write them
//! (`P5: VMAs 0..1 and 2..3 share anon_vma AV2`).

use std::collections::BTreeSet;

/// One object of a state, by the name traces give it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Mark {
    /// A process.
    Proc(u8),
    /// A VMA: process, first page, one past the last page.
    Vma(u8, u8, u8),
    /// A page-table entry: process, page.
    Pte(u8, u8),
    /// An anon_vma.
    Av(u8),
    /// A folio.
    Folio(u8),
    /// A swap slot.
    Slot(u8),
    /// A KSM stable node.
    Node(u8),
}

fn num(s: &str, prefix: &str) -> Option<u8> {
    s.strip_prefix(prefix).filter(|n| !n.is_empty()).and_then(|n| n.parse().ok())
}

/// The objects `report` names outside brackets.
pub fn marks(report: &str) -> BTreeSet<Mark> {
    let mut out = BTreeSet::new();
    // A bracketed list is evidence (`chains differ ([AV3, AV2] vs ...)`),
    // not the objects at fault.
    let mut depth = 0usize;
    let outside: String = report
        .chars()
        .filter(|&c| {
            depth = match c {
                '[' => depth + 1,
                ']' => depth.saturating_sub(1),
                _ => depth,
            };
            depth == 0 && c != ']'
        })
        .collect();
    let words: Vec<&str> =
        outside.split(|c: char| c.is_whitespace() || ",:;()[]{}'\"".contains(c)).filter(|w| !w.is_empty()).collect();
    let mut pid = None;
    for (i, w) in words.iter().enumerate() {
        if let Some((p, page)) = w.split_once('@') {
            // A KSM rmap_item: `P1@2`.
            if let (Some(p), Ok(page)) = (num(p, "P"), page.parse()) {
                out.insert(Mark::Proc(p));
                out.insert(Mark::Pte(p, page));
            }
        } else if let Some(p) = num(w, "P") {
            pid = Some(p);
            out.insert(Mark::Proc(p));
        } else if let Some(a) = num(w, "AV") {
            out.insert(Mark::Av(a));
        } else if let Some(f) = num(w, "F") {
            out.insert(Mark::Folio(f));
        } else if let Some(s) = num(w, "S") {
            out.insert(Mark::Slot(s));
        } else if let Some(n) = num(w, "stable_node") {
            out.insert(Mark::Node(n));
        } else if let (Some(p), Some((a, b))) = (pid, w.split_once("..")) {
            if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                out.insert(Mark::Vma(p, a, b));
            }
        } else if let (Some(p), true) = (pid, *w == "page") {
            if let Some(Ok(page)) = words.get(i + 1).map(|n| n.parse()) {
                out.insert(Mark::Pte(p, page));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_objects_of_real_reports() {
        let m = marks("P5: VMAs 0..1 and 2..3 share anon_vma AV2 but their chains differ ([AV3, AV2] vs [AV4])");
        let want = [Mark::Proc(5), Mark::Vma(5, 0, 1), Mark::Vma(5, 2, 3), Mark::Av(2)];
        assert_eq!(m, want.into_iter().collect());
        let m = marks("F0 at P1 page 2 (VMA 0..3): VMA is not in the tree of folio->mapping AV1");
        assert!(m.contains(&Mark::Pte(1, 2)) && m.contains(&Mark::Vma(1, 0, 3)) && m.contains(&Mark::Folio(0)));
        let m = marks("stable_node0: rmap_item P1@2 pins freed AV3; S4 leaked");
        let want = [Mark::Node(0), Mark::Proc(1), Mark::Pte(1, 2), Mark::Av(3), Mark::Slot(4)];
        assert_eq!(m, want.into_iter().collect());
        assert!(marks("no objects here, only page 3 without a process").is_empty());
    }
}
