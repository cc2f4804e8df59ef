//! Invariants of folios and their reverse mapping (I10, I11, I13–I15).

use crate::report;
use rmapcheck_model::{Kernel, Mapping, Pte, State};

/// Every present PTE of a live process: (pid, page, folio, writable).
fn present(s: &State) -> impl Iterator<Item = (usize, u8, u8, bool)> + '_ {
    s.mms.iter().enumerate().filter(|(_, m)| m.alive).flat_map(|(pid, mm)| {
        mm.ptes.iter().enumerate().filter_map(move |(p, pte)| match *pte {
            Pte::Present { folio, writable, .. } => Some((pid, p as u8, folio, writable)),
            _ => None,
        })
    })
}

/// A mapped anon folio's `mapping` has the ANON tag and points at an
/// anon_vma object, or the KSM tag and points at a stable node.
pub fn mapping_tag(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        if f.mapcount == 0 {
            continue;
        }
        match f.mapping {
            Mapping::Anon(a) if (a as usize) < s.anon_vmas.len() => {}
            Mapping::Anon(a) => bad.push(format!("F{i}: mapping points at AV{a}, which does not exist")),
            Mapping::Ksm(n) if (n as usize) < s.stable_nodes.len() => {}
            Mapping::Ksm(n) => bad.push(format!("F{i}: mapping points at stable_node{n}, which does not exist")),
            Mapping::File(x) if (x as usize) < s.files.len() => {}
            Mapping::File(x) => bad.push(format!("F{i}: mapping points at file {x}, which does not exist")),
            m => bad.push(format!("F{i}: mapped anon folio with mapping tag {:#x}", m.tag_bits())),
        }
    }
    report(bad)
}

/// I10: a mapped anon folio's anon_vma is live.
pub fn mapped_anon_vma_live(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        if let (true, Some(a)) = (f.mapcount > 0, f.mapping.anon_vma()) {
            match s.anon_vmas.get(a as usize) {
                Some(av) if !av.freed && av.refcount > 0 => {}
                _ => bad.push(format!("F{i} is mapped but its anon_vma AV{a} is freed")),
            }
        }
    }
    report(bad)
}

/// I11: every present PTE at page `a` of VMA `v` mapping anon folio `f` is
/// found by rmap_walk_anon(f): `v` is in the tree of `folio_anon_vma(f)`
/// and the two share a root. (That the walk computes the right address,
/// `f->index == linear_page_index(v, a)`, is I28.)
pub fn rmap_complete(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, page, folio, _) in present(s) {
        let mm = &s.mms[pid];
        let Some(vi) = mm.vma_index(page) else {
            bad.push(format!("P{pid} page {page}: present PTE outside any VMA"));
            continue;
        };
        let v = &mm.vmas[vi];
        let f = &s.folios[folio as usize];
        let Some(a) = f.mapping.anon_vma() else { continue };
        // Formatted only for a violation: this runs on every state.
        let at = || format!("F{folio} at P{pid} page {page} (VMA {}..{})", v.start, v.end);
        let Some(own) = v.anon_vma else {
            bad.push(format!("{}: the VMA has no anon_vma", at()));
            continue;
        };
        if !v.chain.contains(&a) {
            bad.push(format!("{}: VMA is not in the tree of folio->mapping AV{a}, rmap_walk_anon() misses it", at()));
        } else if s.anon_vmas.get(a as usize).map(|x| x.root) != Some(s.anon_vmas[own as usize].root) {
            bad.push(format!("{}: AV{a} and the VMA's AV{own} have different roots", at()));
        }
    }
    report(bad)
}

/// I28: every present anon folio sits where vma_address() computes from
/// its index: `f->index == linear_page_index(v, a)`. Splits, merges and
/// mremap must keep this (pgoff contiguity in can_vma_merge_*(),
/// copy_vma() keeping a faulted VMA's pgoff).
pub fn index_linear(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, page, folio, _) in present(s) {
        let Some(vi) = s.mms[pid].vma_index(page) else { continue };
        let v = &s.mms[pid].vmas[vi];
        let f = &s.folios[folio as usize];
        // Page `sub` of a large folio has index `folio->index + sub` (page_pgoff()).
        let Pte::Present { sub, .. } = s.mms[pid].ptes[page as usize] else { continue };
        if f.mapping.anon_vma().is_some() && f.index + sub != v.linear_page_index(page) {
            bad.push(format!(
                "F{folio} page {sub} at P{pid} page {page} (VMA {}..{} pgoff {}): index {} but linear_page_index is {}",
                v.start,
                v.end,
                v.pgoff,
                f.index + sub,
                v.linear_page_index(page)
            ));
        }
    }
    report(bad)
}

/// I23: an unfaulted VMA (no anon_vma) maps no anon folio and holds no
/// swap entry: its pages can only be the zero page, page-cache folios (a
/// file VMA) or not present.
pub fn unfaulted_vma_empty(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, page, folio, _) in present(s) {
        let Some(vi) = s.mms[pid].vma_index(page) else { continue };
        let v = &s.mms[pid].vmas[vi];
        if v.anon_vma.is_none() && s.folios[folio as usize].mapping.is_anon() {
            bad.push(format!("P{pid} page {page}: unfaulted VMA {}..{} maps anon folio F{folio}", v.start, v.end));
        }
    }
    // Nor a swap entry: one is only ever made from an anon folio mapped in
    // the VMA (try_to_unmap_one()), and moves with it (mremap, fork).
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for v in mm.vmas.iter().filter(|v| v.anon_vma.is_none()) {
            for page in v.start..v.end {
                if let Pte::Swap { slot, .. } = mm.ptes[page as usize] {
                    bad.push(format!(
                        "P{pid} page {page}: unfaulted VMA {}..{} holds swap entry S{slot}",
                        v.start, v.end
                    ));
                }
            }
        }
    }
    report(bad)
}

/// I13: mapcount equals the PTEs mapping the folio, refcount covers them
/// plus the swap cache's, the page cache's and reclaim's isolation
/// reference, and no PTE maps a freed folio.
pub fn folio_counts(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    let mut count = vec![0usize; s.folios.len()];
    for (pid, page, folio, _) in present(s) {
        if s.folios[folio as usize].freed {
            bad.push(format!("P{pid} page {page} maps freed folio F{folio}"));
        }
        count[folio as usize] += 1;
    }
    for (i, f) in s.live_folios() {
        if f.mapcount as usize != count[i as usize] {
            bad.push(format!("F{i}: mapcount {} but {} PTEs map it", f.mapcount, count[i as usize]));
        }
        // The swap cache holds one reference per page of the folio, the
        // page cache one for its folio.
        let swap_refs = if f.swap.is_some() { f.nr_pages() } else { 0 };
        let cached = f.mapping.file().is_some_and(|x| s.files[x as usize].folio_at(f.index) == Some(i));
        let held = f.mapcount + swap_refs + u8::from(f.isolated) + u8::from(cached);
        if f.refcount < held || f.refcount == 0 {
            bad.push(format!("F{i}: refcount {} below mapcount {} (or zero while live)", f.refcount, f.mapcount));
        }
    }
    report(bad)
}

/// I14: PageAnonExclusive implies at most one mapping and not KSM.
pub fn exclusive_single_mapping(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        if f.anon_exclusive && (f.mapcount > 1 || f.mapping.tag_bits() == Mapping::KSM) {
            let ksm = if f.mapping.tag_bits() == Mapping::KSM { " and a KSM page" } else { "" };
            bad.push(format!("F{i}: PageAnonExclusive but mapcount {}{ksm}", f.mapcount));
        }
    }
    report(bad)
}

/// I15: a writable PTE maps a PageAnonExclusive folio, unless it is a
/// page-cache folio of a shared mapping (which is written in place).
pub fn writable_exclusive(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, page, folio, writable) in present(s) {
        let f = &s.folios[folio as usize];
        if writable && f.large.is_none() && !f.anon_exclusive && f.mapping.is_anon() {
            bad.push(format!("P{pid} page {page}: writable PTE to F{folio}, which is not PageAnonExclusive"));
        }
    }
    report(bad)
}
