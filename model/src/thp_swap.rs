//! The large-folio arms of do_swap_page() (mm/memory.c) on a
//! `SWP_SYNCHRONOUS_IO` device, as v6.18 has them: alloc_swap_folio()
//! with can_swapin_thp() on the swap-cache bypass, and mapping a whole
//! large swap-cache folio back at once. Read in the linux-mm snapshot of
//! mm/memory.c (009857a22860); that snapshot already sends every
//! SWP_SYNCHRONOUS_IO fault through the swap cache (swapin_folio()),
//! while v6.18 still skips the swap cache when `__swap_count(entry) == 1`
//! and leaves the folio clean, which this live kernel shows (README,
//! "Large folios").

use crate::config::Kernel;
use crate::ctx::{oops, Branch, Ctx};
use crate::memory::do_wp_page;
use crate::rmap::folio_add_new_anon_rmap;
use crate::state::{FolioId, OopsKind, Page, Pte, SlotId, State};
use crate::swapfile::{folio_free_swap, swap_free};
use crate::thp::{aligned, folio_add_anon_rmap_ptes, folio_alloc_large};

/// The swap PTEs at `range` name the slots of one run of `range.len()`
/// slots in order, with the same exclusive marker, none in the swap cache
/// (can_swapin_thp(): swap_pte_batch() finds consecutive offsets with
/// equal PTE bits, non_swapcache_batch() none cached). Slots from separate
/// order-0 allocations are never taken as contiguous: the model does not
/// know their offsets (the live kernel's allocator may give consecutive
/// ones; see the conformance notes). Returns the first slot.
fn swap_run_at(s: &State, pid: usize, range: std::ops::Range<Page>) -> Option<SlotId> {
    let nr = range.len() as u8;
    let Pte::Swap { slot: base, exclusive } = s.mms[pid].ptes[range.start as usize] else { return None };
    let first = &s.swap[base as usize];
    if first.run != nr || first.pos != 0 {
        return None;
    }
    range
        .enumerate()
        .all(|(k, p)| {
            let want = base + k as u8;
            s.mms[pid].ptes[p as usize] == Pte::Swap { slot: want, exclusive } && s.swap[want as usize].cache.is_none()
        })
        .then_some(base)
}

/// Mirrors alloc_swap_folio() for a swap-cache miss on a slot only this
/// PTE names: of the orders thp_vma_allowable_orders() allows, those
/// whose aligned range lies in the VMA (thp_vma_suitable_orders()) and
/// whose first offset is aligned like the address
/// (thp_swap_suitable_orders(): a slot's offset modulo the run is its
/// position), the highest for which can_swapin_thp() holds; 0 falls back
/// to an order-0 folio (__alloc_swap_folio()).
pub fn alloc_swap_folio_order(s: &State, ctx: &Ctx, pid: usize, vi: usize, page: Page) -> u8 {
    let v = &s.mms[pid].vmas[vi];
    ctx.cfg
        .mthp
        .orders_desc()
        .find(|&order| {
            let r = aligned(page, order);
            v.start <= r.start && r.end <= v.end && swap_run_at(s, pid, r).is_some()
        })
        .unwrap_or(0)
}

/// do_swap_page() with a large folio from alloc_swap_folio() (the swap
/// cache skipped): swap_read_folio() fills every page from its slot, the
/// folio is certainly exclusive ("We have a fresh page that is not exposed
/// to the swapcache"), folio_add_new_anon_rmap(RMAP_EXCLUSIVE) at the
/// aligned address, set_ptes() of `nr` PTEs, writable in a writable VMA
/// and dirty for a write fault, and swap_free_nr() drops this process's
/// count on every slot. Like the order-0 bypass, v6.18 leaves the folio
/// clean although its slots may now be freed.
pub fn do_swap_page_large(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page, write: bool) {
    let order = alloc_swap_folio_order(s, ctx, pid, vi, page);
    let r = aligned(page, order);
    let base = swap_run_at(s, pid, r.clone()).expect("checked by alloc_swap_folio_order");
    let vma_write = s.mms[pid].vmas[vi].write;
    let folio = folio_alloc_large(s, order);
    let nr = r.len() as u8;
    for k in 0..nr {
        let data = s.slot_data(base + k);
        s.folios[folio as usize].set_page_data(k, data);
    }
    if ctx.cfg.kernel == Kernel::V6_18SwapinBypassDirty {
        s.folios[folio as usize].dirty = true; // the partial fix, as for order 0
    }
    s.folios[folio as usize].refcount += nr - 1; // folio_ref_add(folio, nr_pages - 1)
    folio_add_new_anon_rmap(s, folio, pid, vi, r.start, true);
    let writable = vma_write;
    for (k, p) in r.clone().enumerate() {
        swap_free(s, base + k as u8);
        s.mms[pid].ptes[p as usize] = Pte::Present { folio, sub: k as u8, writable, dirty: write && writable };
    }
    ctx.took(Branch::SwapinLargeFolio);
    ctx.took(Branch::SwapinBypassCache);
    ctx.say(|| {
        format!("do_swap_page: S{base}..+{} read into new order-{order} folio F{folio}, swap cache skipped", r.len())
    });
    if write && !writable {
        do_wp_page(s, ctx, pid, vi, page);
    }
}

/// do_swap_page() on a swap-cache hit of a large folio: the whole folio is
/// mapped when the PTEs around the fault are exactly its slots in order
/// inside the VMA (swap_pte_batch() == nr), else only the faulting page;
/// then swap_free_nr(), should_try_to_free_swap() (v6.18:
/// `folio_ref_count(folio) == 2`, never true for a large folio), and
/// folio_add_anon_rmap_ptes(), exclusive only with the swap PTE's
/// exclusive marker.
pub fn do_swap_page_cached_large(
    s: &mut State,
    ctx: &mut Ctx,
    pid: usize,
    vi: usize,
    page: Page,
    write: bool,
    folio: FolioId,
) {
    let Pte::Swap { slot, exclusive } = s.mms[pid].ptes[page as usize] else { return };
    let f = &s.folios[folio as usize];
    let (nr, base) = (f.nr_pages(), f.swap.expect("a swap-cache folio"));
    let idx = slot - base;
    let v = &s.mms[pid].vmas[vi];
    let (vma_start, vma_end, vma_write) = (v.start, v.end, v.write);
    let whole = page >= idx && page - idx >= vma_start && page - idx + nr <= vma_end && {
        let start = page - idx;
        (0..nr).all(|k| s.mms[pid].ptes[(start + k) as usize] == Pte::Swap { slot: base + k, exclusive })
    };
    let (first_page, first_sub, n) = if whole { (page - idx, 0, nr) } else { (page, idx, 1) };
    ctx.took(Branch::SwapinCacheHit);
    if (first_sub..first_sub + n).any(|k| s.folios[folio as usize].page_exclusive(k)) {
        oops(s, OopsKind::Bug, format!("BUG_ON(PageAnonExclusive) in do_swap_page: F{folio} for S{slot}"));
        return;
    }
    // __page_check_anon_rmap(): same root, linear index.
    let v = &s.mms[pid].vmas[vi];
    let f = &s.folios[folio as usize];
    let root = |a: u8| s.anon_vmas[a as usize].root;
    let same_root = matches!((f.mapping.anon_vma(), v.anon_vma), (Some(a), Some(o)) if root(a) == root(o));
    if !same_root || f.index + first_sub != v.linear_page_index(first_page) {
        oops(s, OopsKind::Bug, format!("VM_BUG_ON in __page_check_anon_rmap: F{folio} at page {first_page}"));
        return;
    }
    s.folios[folio as usize].refcount += n; // the lookup's reference + folio_ref_add(nr - 1)
    for k in 0..n {
        swap_free(s, base + first_sub + k);
    }
    if write && s.folios[folio as usize].refcount == 2 {
        folio_free_swap(s, ctx, folio);
    }
    let writable = exclusive && vma_write;
    folio_add_anon_rmap_ptes(s, folio, first_sub, n, pid as u8, exclusive);
    for k in 0..n {
        let p = first_page + k;
        s.mms[pid].ptes[p as usize] = Pte::Present { folio, sub: first_sub + k, writable, dirty: write && writable };
    }
    ctx.say(|| format!("do_swap_page: S{slot} hits large swap-cache folio F{folio}, {n} page(s) mapped"));
    if write && !writable {
        do_wp_page(s, ctx, pid, vi, page);
    }
}
