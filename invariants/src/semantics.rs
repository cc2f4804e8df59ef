//! Whole-system invariants: kernel assertions, the memory-semantics
//! oracle, and leaks.

use crate::report;
use rmapcheck_model::{ghost_allows, CacheEntry, GHOST_FILE, GHOST_OR_ZERO};
use rmapcheck_model::{Kernel, OopsKind, Pte, State};

/// No kernel assertion fired and no freed object was touched. The
/// model-level ordering checks recorded in the same slot belong to I24 and
/// I27.
pub fn no_kernel_oops(s: &State, _: Kernel) -> Result<(), String> {
    match &s.oops {
        Some(o) if !matches!(o.kind, OopsKind::UnlinkBeforeZap | OopsKind::MergeIncompatible) => {
            Err(format!("{:?}: {}", o.kind, o.what))
        }
        _ => Ok(()),
    }
}

/// The model-level check of `kind` did not fail during the last action.
fn ordering(s: &State, kind: OopsKind) -> Result<(), String> {
    match &s.oops {
        Some(o) if o.kind == kind => Err(o.what.clone()),
        _ => Ok(()),
    }
}

/// I24: a VMA leaves the anon_vma trees only once no PTE in its range
/// maps a page any more (checked inside unlink_anon_vmas()), and no
/// present PTE is left outside every VMA.
pub fn unlink_after_zap(s: &State, _: Kernel) -> Result<(), String> {
    ordering(s, OopsKind::UnlinkBeforeZap)?;
    let mut bad = Vec::new();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for (page, pte) in mm.ptes.iter().enumerate() {
            if !matches!(pte, Pte::None | Pte::Zero) && mm.vma_index(page as u8).is_none() {
                bad.push(format!("P{pid} page {page}: a PTE still maps a page outside every VMA"));
            }
        }
    }
    crate::report(bad)
}

/// I27: a merge hands a faulted range only to a VMA with the same anon_vma
/// and the same chain (checked at every merge, see `check_absorb` in the
/// model's vma.rs).
pub fn merge_compatible(s: &State, _: Kernel) -> Result<(), String> {
    ordering(s, OopsKind::MergeIncompatible)
}

/// Every live process reads, at every page, the value of the ghost
/// oracle: its own last write, what its parent had at fork, or zero; after
/// MADV_FREE and until the next write, that value or zero. A swapped-out
/// page reads what a swap-in would map. Pages the oracle says are
/// unmapped have no VMA. A page of a file mapping (shared, or private and
/// not yet written by this process) reads the file's contents, which every
/// store through a shared mapping changes; beyond EOF it must fault
/// (SIGBUS), so no PTE may map it there.
pub fn memory_semantics(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for (page, ghost) in mm.ghost.iter().enumerate() {
            let mapped = mm.vma_index(page as u8).is_some();
            let reads = s.reads(pid, page as u8);
            if *ghost == Some(GHOST_FILE) && mapped {
                let v = &mm.vmas[mm.vma_index(page as u8).unwrap_or(0)];
                let Some(file) = v.file else {
                    bad.push(format!("P{pid} page {page}: reads a file but its VMA maps none"));
                    continue;
                };
                let (f, index) = (&s.files[file as usize], v.linear_page_index(page as u8));
                if index >= f.size {
                    if !matches!(mm.ptes[page], Pte::None) {
                        bad.push(format!("P{pid} page {page}: file offset {index} is beyond EOF but still mapped"));
                    }
                } else if reads != f.content[index as usize] {
                    let want = f.content[index as usize];
                    bad.push(format!("P{pid} page {page} reads {reads}, the file holds {want} at offset {index}"));
                }
                continue;
            }
            match (*ghost, mapped) {
                (Some(want), true) if !ghost_allows(want, reads) => {
                    let want = if want & GHOST_OR_ZERO != 0 {
                        format!("{} or 0 (MADV_FREE)", want & !GHOST_OR_ZERO)
                    } else {
                        want.to_string()
                    };
                    bad.push(format!("P{pid} page {page} reads {reads}, sequential semantics says {want}"))
                }
                (Some(_), false) => bad.push(format!("P{pid} page {page}: mapping lost, the process would SIGSEGV")),
                (None, true) => bad.push(format!("P{pid} page {page}: a VMA appeared that was never mapped")),
                _ => {}
            }
        }
    }
    report(bad)
}

/// Once every process has exited, kswapd has finished the folio it was
/// writing back, and ksmd has dropped every rmap_item of the exited mms
/// (each pins an anon_vma until then), nothing is left: no folio,
/// anon_vma, swap slot or stable node.
pub fn no_leak_at_exit(s: &State, _: Kernel) -> Result<(), String> {
    if !s.all_exited()
        || s.live_folios().any(|(_, f)| f.isolated)
        || s.stable_nodes.iter().any(|n| !n.freed && !n.items.is_empty())
    {
        return Ok(());
    }
    // A clean swap-cache folio that nothing maps and no swap PTE names sits
    // on the LRU for reclaim to free (__remove_mapping()); do_swap_page()
    // leaves one behind when ksm_might_need_to_copy() copies it (a swapped
    // KSM page's slot named at two indices). It is not a leak.
    let orphan = |f: &rmapcheck_model::Folio| {
        f.mapcount == 0 && f.refcount == 1 && !f.dirty && f.swap.is_some_and(|sl| s.swap[sl as usize].count == 0)
    };
    // The named files stay open in the executor: their page cache (and
    // shmem's swap entries) outlive every process, unmapped.
    let named = |e: CacheEntry| s.files.iter().any(|f| !f.anon && !f.freed && f.cache.contains(&e));
    let cached = |i: u8, f: &rmapcheck_model::Folio| f.mapcount == 0 && named(CacheEntry::Folio(i));
    let mut bad: Vec<String> = s
        .live_folios()
        .filter(|(i, f)| !orphan(f) && !cached(*i, f))
        .map(|(i, f)| format!("F{i} leaked (refcount {})", f.refcount))
        .collect();
    let orphan_slot =
        |sl: &rmapcheck_model::SwapSlot| sl.count == 0 && sl.cache.is_some_and(|f| orphan(&s.folios[f as usize]));
    for (i, sl) in s.swap.iter().enumerate().filter(|(_, sl)| !sl.free() && !orphan_slot(sl)) {
        if !(sl.count == 1 && sl.cache.is_none() && named(CacheEntry::Swap(i as u8))) {
            bad.push(format!("S{i} leaked (count {})", sl.count));
        }
    }
    for (i, f) in s.files.iter().enumerate().filter(|(_, f)| f.anon && !f.freed) {
        bad.push(format!("shm{i} leaked ({} pages)", f.size));
    }
    for (i, a) in s.anon_vmas.iter().enumerate().filter(|(_, a)| !a.freed) {
        bad.push(format!("AV{i} leaked (refcount {})", a.refcount));
    }
    for (i, _) in s.stable_nodes.iter().enumerate().filter(|(_, n)| !n.freed) {
        bad.push(format!("stable_node{i} leaked"));
    }
    report(bad)
}
