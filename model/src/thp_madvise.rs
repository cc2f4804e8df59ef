//! The large-folio arms of madvise_cold_or_pageout_pte_range() and
//! madvise_free_pte_range() (mm/madvise.c, read in the linux-mm snapshot
//! 0386ed250e7b, the same code as v6.18 for these arms): "If we encounter a
//! large folio, only split it if it is not fully mapped within the range
//! we are operating on. Otherwise leave it as is so that it can be swapped
//! out whole" (or "marked as lazyfree").

use crate::config::Kernel;
use crate::ctx::{Branch, Ctx};
use crate::state::{Page, Pte, State};

/// What the walk does at one PTE.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Batch {
    /// Handle `n` PTEs as one folio: one order-0 PTE, or every page of a
    /// large folio mapped in order inside the range.
    Whole(u8),
    /// Leave `n` PTEs alone (`continue` with `pte += nr`).
    Skip(u8),
    /// The large folio was split: look at the same PTE again (`nr = 0`).
    Again,
}

/// madvise_folio_pte_batch() and the split decision: at `page`, the PTEs
/// that map consecutive pages of the same large folio inside the range
/// and the VMA. Fewer than the folio's pages: a folio that
/// folio_maybe_mapped_shared() calls shared, or that reclaim holds locked
/// (folio_trylock() fails), is left; otherwise split_folio() (failure
/// leaves it too). A PTE that is not present, or maps an order-0 folio, is
/// one PTE for the caller.
pub fn large_folio_batch(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page, end: Page) -> Batch {
    let mm = &s.mms[pid];
    let Pte::Present { folio, sub, .. } = mm.ptes[page as usize] else { return Batch::Whole(1) };
    let f = &s.folios[folio as usize];
    if f.large.is_none() {
        return Batch::Whole(1);
    }
    let vi = mm.vma_index(page);
    let mut nr = 1;
    while page + nr < end
        && mm.vma_index(page + nr) == vi
        && matches!(mm.ptes[(page + nr) as usize], Pte::Present { folio: g, sub: i, .. } if g == folio && i == sub + nr)
    {
        nr += 1;
    }
    if nr == f.nr_pages() {
        return Batch::Whole(nr);
    }
    if f.maybe_mapped_shared() || f.isolated {
        ctx.took(Branch::MadviseSkipSharedLarge);
        ctx.say(|| format!("madvise: page {page}: F{folio} not fully in range and shared (or locked): left"));
        return Batch::Skip(nr);
    }
    match crate::huge_memory::split_folio(s, ctx, folio, 0) {
        Some(_) => {
            ctx.took(Branch::MadviseSplitLarge);
            Batch::Again
        }
        None => Batch::Skip(nr),
    }
}

/// madvise_free_pte_range() on a large folio mapped whole in the range: a
/// swap-cache or PG_dirty folio is touched only if every mapping is this
/// one ("if its mapcount is the same as its number of pages, it must be
/// exclusive") and its swap cache can be freed, and then loses PG_dirty;
/// a clean folio is marked lazyfree without any mapcount check, even when
/// other processes map it (v6.18: the large-folio form of the MADV_FREE
/// data loss, scenarios/mthp-madv-free-loses-clean-shared-folio-v6.18.rmap).
/// Under [`Kernel::V6_18MadvFreeSkipsShared`] a folio that
/// folio_maybe_mapped_shared() calls shared (the MM-id shared bit, as
/// mainline decides "maybe shared" for a large folio) is left first.
/// clear_young_dirty_ptes() cleans the `nr` PTEs.
pub fn madvise_free_large(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page, nr: u8) {
    let Pte::Present { folio, .. } = s.mms[pid].ptes[page as usize] else { return };
    let f = &s.folios[folio as usize];
    if ctx.cfg.kernel == Kernel::V6_18MadvFreeSkipsShared && f.maybe_mapped_shared() {
        // Another process may still need the data its clean PTEs do not
        // protect (memory_semantics), as for an order-0 folio.
        ctx.say(|| format!("madvise_free_pte_range: page {page}: F{folio} maybe mapped shared, left"));
        return;
    }
    if f.swap.is_some() || f.dirty {
        if f.isolated || f.mapcount != f.nr_pages() {
            ctx.say(|| format!("madvise_free_pte_range: page {page}: F{folio} shared or locked, left"));
            return;
        }
        if f.swap.is_some() && !crate::swapfile::folio_free_swap(s, ctx, folio) {
            ctx.say(|| format!("madvise_free_pte_range: page {page}: F{folio} swap still in use, left"));
            return;
        }
        s.folios[folio as usize].dirty = false; // folio_clear_dirty()
    }
    for p in page..page + nr {
        if let Pte::Present { folio, sub, writable, .. } = s.mms[pid].ptes[p as usize] {
            s.mms[pid].ptes[p as usize] = Pte::Present { folio, sub, writable, dirty: false };
        }
    }
    crate::madvise::folio_mark_lazyfree(s, ctx, folio, page);
}
