//! Swap PTEs in the fault, fork and unmap paths of mm/memory.c:
//! do_swap_page(), copy_nonpresent_pte() and the swap arm of
//! zap_pte_range().
//!
//! do_swap_page() follows v6.12–v6.18 on a `SWP_SYNCHRONOUS_IO` device
//! (zram): a swap-cache miss on a slot only one PTE names bypasses the
//! swap cache (a fresh folio, certainly exclusive); any other miss reads
//! the slot into the swap cache (swapin_readahead()).

use crate::config::{Kernel, Mutant};
use crate::ctx::{oops, Branch, Ctx};
use crate::memory::do_wp_page;
use crate::rmap::{folio_add_new_anon_rmap, folio_alloc};
use crate::state::{FolioId, Mapping, OopsKind, Page, Pte, SlotId, State};
use crate::swapfile::{folio_free_swap, free_swap_and_cache, swap_duplicate, swap_free};

/// Mirrors do_swap_page() for a private anonymous VMA, then the
/// do_wp_page() a write fault still needs when the page was mapped
/// read-only. `Err` when the fault would sleep on the folio lock reclaim
/// holds (the fault retries after writeback).
pub fn do_swap_page(
    s: &mut State,
    ctx: &mut Ctx,
    pid: usize,
    vi: usize,
    page: Page,
    write: bool,
) -> Result<(), String> {
    let Pte::Swap { slot, exclusive: pte_exclusive } = s.mms[pid].ptes[page as usize] else {
        return Err(format!("page {page} holds no swap entry"));
    };
    let (folio, swapcache) = match swap_cache_get_folio(s, slot) {
        Some(f) if s.folios[f as usize].isolated => {
            return Err(format!("do_swap_page: folio_lock_or_retry() sleeps on F{f}, which reclaim holds"));
        }
        Some(f) if s.folios[f as usize].large.is_some() => {
            crate::thp_swap::do_swap_page_cached_large(s, ctx, pid, vi, page, write, f);
            return Ok(());
        }
        None if s.swap[slot as usize].count == 1
            && crate::thp_swap::alloc_swap_folio_order(s, ctx, pid, vi, page) > 0 =>
        {
            crate::thp_swap::do_swap_page_large(s, ctx, pid, vi, page, write);
            return Ok(());
        }
        Some(f) => {
            s.folios[f as usize].refcount += 1;
            ctx.took(Branch::SwapinCacheHit);
            ctx.say(|| format!("do_swap_page: S{slot} hits swap-cache folio F{f}"));
            (f, Some(f))
        }
        None if s.swap[slot as usize].count == 1 => {
            // "skip swapcache": SWP_SYNCHRONOUS_IO && __swap_count(entry) == 1.
            // v6.18 leaves the folio clean although swap_free() below frees
            // the slot and memory then holds the only copy (the zram
            // trigger of the MADV_FREE data loss; confirmed live).
            let f = alloc_swap_folio(s, slot);
            if ctx.cfg.kernel == Kernel::V6_18SwapinBypassDirty {
                s.folios[f as usize].dirty = true; // the partial fix
            }
            ctx.took(Branch::SwapinBypassCache);
            ctx.say(|| format!("do_swap_page: S{slot} read into new folio F{f}, swap cache skipped"));
            (f, None)
        }
        None => {
            // swapin_readahead() -> read_swap_cache_async(): a new folio in
            // the swap cache (its reference) plus ours.
            let f = alloc_swap_folio(s, slot);
            s.folios[f as usize].swap = Some(slot);
            s.folios[f as usize].refcount += 1;
            s.swap[slot as usize].cache = Some(f);
            ctx.took(Branch::SwapinReadIntoCache);
            ctx.say(|| format!("do_swap_page: S{slot} read into F{f} in the swap cache"));
            (f, Some(f))
        }
    };
    let folio = ksm_might_need_to_copy(s, ctx, folio, pid, vi, page);
    // BUG_ON(folio_test_anon(folio) && PageAnonExclusive(page)): a swap PTE
    // never points at an exclusive swap-cache page.
    let f = &s.folios[folio as usize];
    if f.mapping != Mapping::None && f.page_exclusive(0) {
        oops(s, OopsKind::Bug, format!("BUG_ON(PageAnonExclusive) in do_swap_page: F{folio} for S{slot}"));
        return Ok(());
    }
    let mut exclusive = pte_exclusive;
    if Some(folio) != swapcache || ctx.cfg.mutant == Some(Mutant::SwapinSharedExclusive) {
        // "We have a fresh page that is not exposed to the swapcache ->
        // certainly exclusive."
        exclusive = true;
    }
    // swap_free_nr(): this PTE's reference on the slot goes; then
    // should_try_to_free_swap() for a write fault that holds the only
    // references (swap cache + ours).
    swap_free(s, slot);
    let f = &s.folios[folio as usize];
    let ksm = f.mapping.stable_node().is_some();
    // should_try_to_free_swap(): "(fault_flags & FAULT_FLAG_WRITE) &&
    // !folio_test_ksm(folio) && folio_ref_count(folio) == 2".
    if write && !ksm && f.swap.is_some() && f.refcount == 2 && folio_free_swap(s, ctx, folio) {
        ctx.took(Branch::SwapinFreeSwap);
    }
    let vma_write = s.mms[pid].vmas[vi].write;
    // "if (!folio_test_ksm(folio) && (exclusive || folio_ref_count(folio)
    // == 1))": a KSM page is never mapped exclusive or writable.
    let map_exclusive = !ksm && (exclusive || s.folios[folio as usize].refcount == 1);
    let writable = map_exclusive && vma_write;
    if s.folios[folio as usize].mapping == Mapping::None {
        folio_add_new_anon_rmap(s, folio, pid, vi, page, map_exclusive);
    } else {
        folio_add_anon_rmap_pte(s, folio, pid, vi, page, map_exclusive);
    }
    if s.oops.is_some() {
        return Ok(());
    }
    if writable && !s.folios[folio as usize].anon_exclusive {
        oops(s, OopsKind::Bug, format!("VM_BUG_ON(pte_write && !PageAnonExclusive) in do_swap_page: F{folio}"));
        return Ok(());
    }
    s.mms[pid].ptes[page as usize] = Pte::Present { folio, sub: 0, writable, dirty: write && writable };
    if let Some(old) = swapcache.filter(|&c| c != folio) {
        // The swap-cache folio ksm_might_need_to_copy() replaced.
        crate::swapfile::folio_put(s, ctx, old);
    }
    let w = if writable { "writable" } else { "read-only" };
    ctx.say(|| format!("do_swap_page: F{folio} mapped {w} at page {page} (exclusive={map_exclusive})"));
    if write && !writable {
        do_wp_page(s, ctx, pid, vi, page);
    }
    Ok(())
}

/// Mirrors swap_cache_get_folio(): the folio caching `slot`, if any.
fn swap_cache_get_folio(s: &State, slot: SlotId) -> Option<FolioId> {
    s.swap[slot as usize].cache
}

/// Mirrors alloc_swap_folio() + swap_read_folio(): a new locked,
/// swap-backed folio, not anon yet, holding the slot's data (our reference).
fn alloc_swap_folio(s: &mut State, slot: SlotId) -> FolioId {
    let data = s.slot_data(slot);
    folio_alloc(s, data)
}

/// Mirrors ksm_might_need_to_copy() for a non-KSM folio: an anon folio
/// whose anon_vma has another root, or whose index is not this page's
/// linear index, cannot be mapped here, so a private copy is made
/// (exclusive, on the VMA's own anon_vma).
fn ksm_might_need_to_copy(s: &mut State, ctx: &mut Ctx, folio: FolioId, pid: usize, vi: usize, page: Page) -> FolioId {
    let f = &s.folios[folio as usize];
    let Some(av) = f.mapping.anon_vma() else { return folio };
    let vma = &s.mms[pid].vmas[vi];
    let same_root = vma.anon_vma.is_some_and(|own| s.anon_vmas[own as usize].root == s.anon_vmas[av as usize].root);
    if same_root && f.index == vma.linear_page_index(page) {
        return folio;
    }
    let copy = folio_alloc(s, f.data);
    ctx.say(|| format!("ksm_might_need_to_copy: F{folio} cannot be mapped here, copied to F{copy}"));
    copy
}

/// Mirrors folio_add_anon_rmap_ptes() for one PTE of a folio that is
/// already anon: __page_check_anon_rmap() (same root, linear index), one
/// more mapping, PageAnonExclusive with RMAP_EXCLUSIVE.
pub(crate) fn folio_add_anon_rmap_pte(
    s: &mut State,
    folio: FolioId,
    pid: usize,
    vi: usize,
    page: Page,
    exclusive: bool,
) {
    let vma = &s.mms[pid].vmas[vi];
    let f = &s.folios[folio as usize];
    if f.mapping.stable_node().is_some() {
        // __folio_add_anon_rmap(): "if (!folio_test_ksm(folio))
        // __page_check_anon_rmap()": a KSM page has no anon_vma to check.
        s.folios[folio as usize].mapcount += 1;
        return;
    }
    let root = |a: u8| s.anon_vmas[a as usize].root;
    let same_root = match (f.mapping.anon_vma(), vma.anon_vma) {
        (Some(a), Some(own)) => root(a) == root(own),
        _ => false,
    };
    if !same_root || f.index != vma.linear_page_index(page) {
        oops(s, OopsKind::Bug, format!("VM_BUG_ON in __page_check_anon_rmap: F{folio} at page {page}"));
        return;
    }
    let f = &mut s.folios[folio as usize];
    f.mapcount += 1;
    if exclusive {
        f.anon_exclusive = true;
    }
}

/// Mirrors copy_nonpresent_pte() for a swap entry: swap_duplicate(), and
/// "Mark the swap entry as shared": the parent's exclusive marker is
/// cleared and the child's copy has none.
pub fn copy_nonpresent_pte(s: &mut State, ctx: &mut Ctx, parent: usize, page: Page, slot: SlotId) -> Pte {
    swap_duplicate(s, slot);
    s.mms[parent].ptes[page as usize] = Pte::Swap { slot, exclusive: false };
    ctx.took(Branch::CopySwapPte);
    ctx.say(|| format!("copy_nonpresent_pte: S{slot} shared at page {page}, exclusive marker cleared"));
    Pte::Swap { slot, exclusive: false }
}

/// Mirrors the swap arm of zap_nonpresent_ptes(): free_swap_and_cache().
pub fn zap_swap_pte(s: &mut State, ctx: &mut Ctx, slot: SlotId) {
    free_swap_and_cache(s, ctx, slot);
}
