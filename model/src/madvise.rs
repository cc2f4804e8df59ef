//! madvise(MADV_PAGEOUT), madvise(MADV_FREE) and madvise(MADV_DONTNEED)
//! (mm/madvise.c).

use crate::config::Kernel;
use crate::ctx::{Branch, Ctx};
use crate::state::{FolioId, Page, Pte, State, GHOST_OR_ZERO};
use crate::swapfile::{folio_free_swap, free_swap_and_cache};
use crate::thp_madvise::{large_folio_batch, Batch};
use crate::vmscan::{pageout, shrink_folio_list, Shrunk};

/// The pages `start..start+len`, all inside VMAs of `pid` (a hole makes
/// madvise() fail with ENOMEM after advising the rest, which the model does
/// not take).
fn advised_range(s: &State, pid: usize, start: Page, len: u8) -> Result<std::ops::Range<Page>, String> {
    let end = start as u16 + len as u16;
    if len == 0 || end > s.pages() as u16 {
        return Err(format!("pages {start}..{end} are not a non-empty range of the {}-page window", s.pages()));
    }
    if let Some(p) = (start..end as Page).find(|&p| s.mms[pid].vma_index(p).is_none()) {
        return Err(format!("page {p} is not mapped: madvise() fails with ENOMEM"));
    }
    Ok(start..end as Page)
}

/// Mirrors madvise_pageout() -> madvise_cold_or_pageout_pte_range() ->
/// reclaim_pages(): every present folio in the range that is on the LRU
/// and mapped exactly once (`folio_mapcount() != 1` "do not interfere with
/// other mappings of this folio", so pages shared after fork are skipped)
/// is isolated onto a list, and shrink_folio_list() reclaims each, pageout
/// included.
pub fn madvise_pageout(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8) -> Result<(), String> {
    let mut list: Vec<FolioId> = Vec::new();
    let range = advised_range(s, pid, start, len)?;
    let mut page = range.start;
    while page < range.end {
        let Pte::Present { folio, .. } = s.mms[pid].ptes[page as usize] else {
            page += 1;
            continue;
        };
        // A large folio not fully mapped in the range is split (then its
        // pages are looked at again) or left; a fully mapped one is taken
        // whole ("so that it can be swapped out whole").
        let nr = match large_folio_batch(s, ctx, pid, page, range.end) {
            Batch::Again => continue,
            Batch::Skip(nr) => {
                page += nr;
                continue;
            }
            Batch::Whole(nr) => nr,
        };
        let here = page;
        page += nr;
        let f = &s.folios[folio as usize];
        // "If we have a large folio at this point, we know it is fully
        // mapped so if its mapcount is the same as its number of pages, it
        // must be exclusive."
        if f.isolated || f.mapcount != f.nr_pages() {
            let page = here;
            ctx.took(Branch::PageoutSkipShared);
            ctx.say(|| {
                format!("madvise_cold_or_pageout_pte_range: page {page}: F{folio} skipped (mapcount {})", f.mapcount)
            });
            continue;
        }
        list.push(folio);
    }
    for folio in list {
        ctx.say(|| format!("reclaim_pages: shrink_folio_list(F{folio})"));
        if shrink_folio_list(s, ctx, folio) == Shrunk::NeedsPageout {
            pageout(s, ctx, folio);
        }
        if s.oops.is_some() {
            break;
        }
    }
    Ok(())
}

/// Mirrors madvise_free_single_vma() -> madvise_free_pte_range(): a swap
/// entry is dropped at once (free_swap_and_cache(), the PTE becomes none);
/// a present folio that is in the swap cache or PG_dirty is only touched
/// when mapped once and, if in the swap cache, after folio_free_swap()
/// succeeds, and then loses PG_dirty; the PTE is cleaned; and
/// folio_mark_lazyfree() clears PG_swapbacked of an anon folio outside the
/// swap cache. The caller's ghost may now read zero on every advised page.
///
/// madvise_walk_vmas() visits the VMAs in address order and stops at the
/// first error: madvise_free_single_vma() refuses a VMA that is not
/// vma_is_anonymous() ("MADV_FREE works for only anon vma at the moment"),
/// a private file mapping or shared anonymous memory included, with
/// EINVAL ([`Ctx::errno`]); the pages before it are already advised.
///
/// v6.18 checks sharing only inside the PG_dirty/swap-cache branch, so a
/// clean shared folio under clean PTEs becomes lazyfree for every process
/// that maps it, and reclaim discards it from all of them (the kernel bug of
/// findings/madv-free-clean-shared-folio.md; `memory_semantics` catches it).
/// Under [`Kernel::V6_18MadvFreeSkipsShared`] a folio that may be mapped by
/// more than one process is skipped first, whatever its state
/// (folio_maybe_mapped_shared(), as in madvise_free_huge_pmd()); a large
/// folio mapped whole in the range too ([`crate::thp_madvise::madvise_free_large`]).
pub fn madvise_free(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8) -> Result<(), String> {
    let range = advised_range(s, pid, start, len)?;
    // madvise_walk_vmas() stops at the first VMA that is not
    // vma_is_anonymous(): the pages before it are advised, then EINVAL.
    let stop = range
        .clone()
        .find(|&p| s.mms[pid].vma_index(p).is_some_and(|vi| !s.mms[pid].vmas[vi].is_anonymous()))
        .unwrap_or(range.end);
    let einval = stop < range.end;
    let range = range.start..stop;
    for page in range.clone() {
        if let Some(v) = s.mms[pid].ghost[page as usize].as_mut().filter(|v| **v & !GHOST_OR_ZERO != 0) {
            *v |= GHOST_OR_ZERO;
        }
    }
    let mut page = range.start;
    while page < range.end {
        match large_folio_batch(s, ctx, pid, page, range.end) {
            Batch::Again => continue,
            Batch::Skip(nr) => {
                page += nr;
                continue;
            }
            Batch::Whole(nr) if nr > 1 => {
                crate::thp_madvise::madvise_free_large(s, ctx, pid, page, nr);
                page += nr;
                continue;
            }
            Batch::Whole(_) => {}
        }
        let next = page + 1;
        let page = std::mem::replace(&mut page, next);
        match s.mms[pid].ptes[page as usize] {
            Pte::None | Pte::Zero => {}
            Pte::Swap { slot, .. } => {
                s.mms[pid].ptes[page as usize] = Pte::None;
                free_swap_and_cache(s, ctx, slot);
                ctx.took(Branch::MadvFreeSwapEntry);
                ctx.say(|| format!("madvise_free_pte_range: page {page}: swap entry S{slot} dropped"));
            }
            Pte::Present { folio, writable, .. } => {
                let f = &s.folios[folio as usize];
                if ctx.cfg.kernel == Kernel::V6_18MadvFreeSkipsShared && f.maybe_mapped_shared() {
                    // folio_maybe_mapped_shared(): another process may still
                    // need the data its clean PTE does not protect (memory_semantics).
                    ctx.say(|| format!("madvise_free_pte_range: page {page}: F{folio} maybe mapped shared, left"));
                    continue;
                }
                if f.swap.is_some() || f.dirty {
                    if f.isolated || f.mapcount != 1 {
                        ctx.say(|| format!("madvise_free_pte_range: page {page}: F{folio} shared or locked, left"));
                        continue;
                    }
                    if f.swap.is_some() && !folio_free_swap(s, ctx, folio) {
                        ctx.say(|| format!("madvise_free_pte_range: page {page}: F{folio} swap still in use, left"));
                        continue;
                    }
                    s.folios[folio as usize].dirty = false; // folio_clear_dirty()
                }
                // clear_young_dirty_ptes(): mkold + mkclean.
                s.mms[pid].ptes[page as usize] = Pte::Present { folio, sub: 0, writable, dirty: false };
                folio_mark_lazyfree(s, ctx, folio, page);
            }
        }
    }
    if einval {
        ctx.errno = EINVAL;
        ctx.say(|| format!("madvise_free_single_vma: page {stop} is not in an anonymous VMA: EINVAL"));
    }
    Ok(())
}

/// `EINVAL` of the kernel's errno.h.
pub const EINVAL: i32 = 22;

/// Mirrors madvise_dontneed_single_vma() -> zap_vma_range() for every VMA
/// of the range: private anonymous pages and swap entries are freed, a
/// private file mapping loses its COW copies (the file shows through
/// again), page-cache folios are only unmapped (a dirty PTE dirties the
/// folio first) and stay cached.
pub fn madvise_dontneed(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8) -> Result<(), String> {
    let range = advised_range(s, pid, start, len)?;
    crate::memory::zap_pte_range(s, ctx, pid, range.start, range.end);
    for page in range {
        let vi = s.mms[pid].vma_index(page).unwrap_or(0);
        let g = if s.mms[pid].vmas[vi].file.is_some() { crate::state::GHOST_FILE } else { 0 };
        s.mms[pid].ghost[page as usize] = Some(g);
    }
    Ok(())
}

/// Mirrors folio_mark_lazyfree() -> lru_lazyfree(): only an anon,
/// swap-backed folio outside the swap cache is moved to the (file) LRU
/// without PG_swapbacked.
pub(crate) fn folio_mark_lazyfree(s: &mut State, ctx: &mut Ctx, folio: FolioId, page: Page) {
    let f = &mut s.folios[folio as usize];
    if f.swapbacked && f.swap.is_none() && !f.isolated {
        f.swapbacked = false;
        ctx.took(Branch::MadvFreeLazyfree);
        ctx.say(|| format!("madvise_free_pte_range: page {page}: F{folio} lazyfree (PG_swapbacked cleared)"));
    }
}
