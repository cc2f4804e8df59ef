//! Swap slots and the swap cache (mm/swapfile.c, mm/swap_state.c), on one
//! zram device (`SWP_SYNCHRONOUS_IO`), the device the live-kernel runs use.
//!
//! A slot's `count` is the kernel's swap count without `SWAP_HAS_CACHE`;
//! `cache` is `SWAP_HAS_CACHE` together with the swap-cache folio. A slot
//! is free when both are clear (docs/kernel/swap-reclaim.md §1).

use crate::ctx::{oops, Branch, Ctx};
use crate::state::{FolioId, Mapping, OopsKind, SlotId, State, SwapSlot};

/// Mirrors folio_alloc_swap() followed by add_to_swap_cache() (v6.12
/// add_to_swap()): allocate a slot, set PG_swapcache and `folio->swap`, and
/// give the swap cache its reference. Fails, as on a full device, when the
/// configured number of slots is in use. A large folio (THP_SWAP) takes a
/// run of `nr` contiguous, aligned slots whole, one swap-cache reference
/// per page, or fails.
pub fn folio_alloc_swap(s: &mut State, ctx: &mut Ctx, folio: FolioId) -> Option<SlotId> {
    let nr = s.folios[folio as usize].nr_pages();
    let in_use = s.swap.iter().filter(|sl| !sl.free()).count();
    if in_use + nr as usize > ctx.cfg.swap_slots as usize {
        ctx.say(|| format!("folio_alloc_swap(F{folio}): no {nr} free slot(s) ({in_use} in use)"));
        return None;
    }
    let slot = s.swap.len() as SlotId;
    for pos in 0..nr {
        s.swap.push(SwapSlot { count: 0, cache: Some(folio), data: None, run: nr, pos });
    }
    let f = &mut s.folios[folio as usize];
    f.swap = Some(slot);
    f.refcount += nr;
    ctx.say(|| format!("folio_alloc_swap: F{folio} -> swap cache of new slot(s) S{slot}..+{nr}"));
    Some(slot)
}

/// The slots a swap-cache folio caches: `folio->swap` + i for each page.
pub fn folio_slots(s: &State, folio: FolioId) -> std::ops::Range<SlotId> {
    let f = &s.folios[folio as usize];
    match f.swap {
        Some(b) => b..b + f.nr_pages(),
        None => 0..0,
    }
}

/// Mirrors swap_duplicate() (v6.18 folio_dup_swap / swap_dup_entry_direct):
/// one more swap PTE names the slot.
pub fn swap_duplicate(s: &mut State, slot: SlotId) {
    if s.swap[slot as usize].free() {
        oops(s, OopsKind::Bug, format!("swap_duplicate: S{slot} is a free slot (bad swap entry)"));
        return;
    }
    s.swap[slot as usize].count += 1;
}

/// Mirrors swap_free() (v6.18 swap_put_entries_direct without the cache
/// reclaim): one swap PTE fewer. The slot is free once no PTE names it and
/// no folio caches it.
pub fn swap_free(s: &mut State, slot: SlotId) {
    let sl = &mut s.swap[slot as usize];
    match sl.count.checked_sub(1) {
        Some(c) => sl.count = c,
        None => oops(s, OopsKind::Bug, format!("swap_free: S{slot} count underflows (bad swap entry)")),
    }
}

/// Mirrors free_swap_and_cache(): drop one swap PTE's reference, and when
/// only the swap cache is left (`swap_only_has_cache`), let
/// __try_to_reclaim_swap(TTRS_UNMAPPED | TTRS_FULL) take an unmapped,
/// unlocked folio out of the swap cache.
pub fn free_swap_and_cache(s: &mut State, ctx: &mut Ctx, slot: SlotId) {
    swap_free(s, slot);
    let sl = &s.swap[slot as usize];
    let Some(folio) = sl.cache.filter(|_| sl.count == 0) else { return };
    let f = &s.folios[folio as usize];
    // folio_trylock() fails while reclaim holds the folio; TTRS_UNMAPPED
    // wants it unmapped (TTRS_FULL needs a full device, never here);
    // swap_only_has_cache() wants every slot of a large folio unused.
    if f.isolated || f.mapcount > 0 || folio_slots(s, folio).any(|i| s.swap[i as usize].count > 0) {
        return;
    }
    delete_from_swap_cache(s, ctx, folio);
    ctx.took(Branch::TryToReclaimSwap);
    ctx.say(|| format!("free_swap_and_cache: S{slot} unused, F{folio} leaves the swap cache"));
}

/// Mirrors folio_free_swap() (the folio is locked by the caller): only for
/// a swap-cache folio whose slot no swap PTE names any more
/// (`folio_swapped()` false); it leaves the swap cache, freeing the slot,
/// and is marked dirty because memory now holds the only copy.
pub fn folio_free_swap(s: &mut State, ctx: &mut Ctx, folio: FolioId) -> bool {
    let Some(slot) = s.folios[folio as usize].swap else { return false };
    // folio_swapped(): any slot of the folio still named by a swap PTE.
    if folio_slots(s, folio).any(|i| s.swap[i as usize].count > 0) {
        return false;
    }
    s.folios[folio as usize].dirty = true;
    delete_from_swap_cache(s, ctx, folio);
    ctx.say(|| format!("folio_free_swap: F{folio} leaves the swap cache, S{slot} freed"));
    true
}

/// Mirrors free_swap_cache(): after an unmap, a swap-cache folio that is no
/// longer mapped drops its slot if folio_trylock() succeeds and no swap PTE
/// needs it.
pub fn free_swap_cache(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    let f = &s.folios[folio as usize];
    if f.freed || f.swap.is_none() || f.mapcount > 0 || f.isolated {
        return;
    }
    folio_free_swap(s, ctx, folio);
}

/// Mirrors delete_from_swap_cache(): __delete_from_swap_cache() clears
/// PG_swapcache, put_swap_folio() clears `SWAP_HAS_CACHE`, and the swap
/// cache's references (one per page) go, freeing the folio if they were
/// the last.
pub fn delete_from_swap_cache(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    let slots = folio_slots(s, folio);
    if s.folios[folio as usize].swap.take().is_none() {
        oops(s, OopsKind::Bug, format!("delete_from_swap_cache: F{folio} is not in the swap cache"));
        return;
    }
    for i in slots {
        s.swap[i as usize].cache = None;
        folio_put(s, ctx, folio);
    }
}

/// Mirrors folio_put(): one reference fewer; the last one frees the folio
/// and resets its `mapping` (free_pages_prepare).
pub fn folio_put(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    let f = &mut s.folios[folio as usize];
    match f.refcount.checked_sub(1) {
        None => oops(s, OopsKind::Bug, format!("folio_put: F{folio} refcount underflows")),
        Some(0) => {
            f.refcount = 0;
            f.freed = true;
            f.isolated = false;
            if let Some(l) = f.large.as_mut() {
                l.deferred = false; // folio_unqueue_deferred_split()
            }
            let old = std::mem::replace(&mut f.mapping, Mapping::None);
            crate::ksm::ksm_folio_freed(s, old);
            ctx.took(Branch::FreeFolio);
            ctx.say(|| format!("folio F{folio} freed"));
        }
        Some(r) => f.refcount = r,
    }
}
