//! Invariants of KSM pages, stable nodes and rmap_items (mm/ksm.c; I12 and
//! I31–I34; docs/kernel/ksm.md).

use crate::report;
use rmapcheck_model::{ghost_allows, Kernel, Pte, State};

/// Every present PTE of a live process mapping a KSM folio:
/// (pid, page, folio, writable, stable node).
fn ksm_ptes(s: &State) -> impl Iterator<Item = (usize, u8, u8, bool, u8)> + '_ {
    s.mms.iter().enumerate().filter(|(_, m)| m.alive).flat_map(move |(pid, mm)| {
        mm.ptes.iter().enumerate().filter_map(move |(p, pte)| match *pte {
            Pte::Present { folio, writable, .. } => {
                let n = s.folios.get(folio as usize)?.mapping.stable_node()?;
                Some((pid, p as u8, folio, writable, n))
            }
            _ => None,
        })
    })
}

/// I12: every present PTE (M, a) mapping a KSM folio is found by
/// rmap_walk_ksm(): some rmap_item r on the folio's stable node has
/// `r.address == a` and M's VMA at `a` in the interval tree of
/// `r.anon_vma` (the walk visits VMAs of r's own mm first, then of forked
/// mms), and that anon_vma is live.
pub fn ksm_rmap_complete(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, page, folio, _, n) in ksm_ptes(s) {
        let Some(node) = s.stable_nodes.get(n as usize).filter(|x| !x.freed) else { continue };
        let Some(vi) = s.mms[pid].vma_index(page) else { continue };
        let v = &s.mms[pid].vmas[vi];
        let found = node.items.iter().any(|r| {
            r.address == page
                && v.chain.contains(&r.anon_vma)
                && s.anon_vmas.get(r.anon_vma as usize).is_some_and(|a| !a.freed)
        });
        if !found {
            let items: Vec<String> =
                node.items.iter().map(|r| format!("P{}@{} AV{}", r.mm, r.address, r.anon_vma)).collect();
            bad.push(format!(
                "P{pid} page {page} maps KSM page F{folio}, but no rmap_item of stable_node{n} [{}] reaches its VMA: rmap_walk_ksm() misses it",
                items.join(", ")
            ));
        }
    }
    report(bad)
}

/// I34: the weaker form of I12 the kernel keeps: an rmap_item whose own
/// PTE (`rmap_item->mm`, `rmap_item->address`, in the VMA it was made for)
/// still maps its node's KSM page reaches that PTE (pass 0 of
/// rmap_walk_ksm()): the VMA there is in the tree of `rmap_item->anon_vma`.
/// An rmap_item whose VMA was unmapped since (the ghost
/// [`RmapItem::unmapped`](rmapcheck_model::RmapItem)) is stale: mremap can
/// move a KSM page onto its address from another VMA
/// (scenarios/ksm-mremap-onto-stale-rmap-item.rmap), and the kernel does
/// not update it. PTEs without an rmap_item of their own are I12's
/// business, which the kernel does not always meet.
pub fn ksm_rmap_item_reaches(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (n, x) in s.stable_nodes.iter().enumerate().filter(|(_, x)| !x.freed) {
        let Some(k) = x.kpfn else { continue };
        for r in x.items.iter().filter(|r| !r.unmapped) {
            let Some(mm) = s.mms.get(r.mm as usize).filter(|m| m.alive) else { continue };
            if !matches!(mm.ptes.get(r.address as usize), Some(Pte::Present { folio, .. }) if *folio == k) {
                continue;
            }
            let reached = mm.vma_index(r.address).is_some_and(|vi| mm.vmas[vi].chain.contains(&r.anon_vma));
            if !reached {
                bad.push(format!(
                    "stable_node{n}: rmap_item P{}@{} AV{} does not reach its own PTE to F{k}",
                    r.mm, r.address, r.anon_vma
                ));
            }
        }
    }
    report(bad)
}

/// I31: a mapped KSM folio's stable node is live and points back at it
/// (`kpfn`); a live node's page, while it has one, is that KSM folio; and
/// every anon_vma an rmap_item pins is live, even when its tree is empty.
pub fn ksm_stable_node_live(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        let Some(n) = f.mapping.stable_node() else { continue };
        match s.stable_nodes.get(n as usize) {
            Some(x) if !x.freed && x.kpfn == Some(i) => {}
            Some(x) if !x.freed => bad.push(format!("F{i}: stable_node{n} points at {:?}, not at it", x.kpfn)),
            _ => bad.push(format!("F{i} is a KSM page but stable_node{n} is freed")),
        }
    }
    for (n, x) in s.stable_nodes.iter().enumerate().filter(|(_, x)| !x.freed) {
        if let Some(k) = x.kpfn {
            if s.folios.get(k as usize).is_none_or(|f| f.freed || f.mapping.stable_node() != Some(n as u8)) {
                bad.push(format!("stable_node{n}: kpfn F{k} is not its KSM page"));
            }
        }
        for r in &x.items {
            if s.anon_vmas.get(r.anon_vma as usize).is_none_or(|a| a.freed) {
                bad.push(format!("stable_node{n}: rmap_item P{}@{} pins freed AV{}", r.mm, r.address, r.anon_vma));
            }
        }
    }
    report(bad)
}

/// I32: a KSM folio is never PageAnonExclusive and every PTE mapping it is
/// read-only, so no process writes into a page others share.
pub fn ksm_readonly_shared(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        if f.mapping.stable_node().is_some() && f.anon_exclusive {
            bad.push(format!("KSM page F{i} is PageAnonExclusive"));
        }
    }
    for (pid, page, folio, writable, _) in ksm_ptes(s) {
        if writable {
            bad.push(format!("P{pid} page {page}: writable PTE to KSM page F{folio}"));
        }
    }
    report(bad)
}

/// I33: merging kept memory semantics: every process mapping a KSM page
/// reads there what its own sequential history says, so only equal pages
/// were merged.
pub fn ksm_same_content(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, page, folio, _, n) in ksm_ptes(s) {
        let data = s.folios[folio as usize].data;
        if let Some(want) = s.mms[pid].ghost[page as usize] {
            if !ghost_allows(want, data) {
                bad.push(format!(
                    "P{pid} page {page}: KSM page F{folio} (stable_node{n}) holds {data}, P{pid} wrote {want}"
                ));
            }
        }
    }
    report(bad)
}
