//! Reclaim of one anonymous folio (mm/vmscan.c shrink_folio_list(), and
//! try_to_unmap() of mm/rmap.c), split where the kernel lets others in:
//!
//! 1. shrink_folio_list() up to try_to_unmap(): isolate, add_to_swap() and
//!    folio_mark_dirty(), the rmap walk, the lazyfree discard. The folio
//!    stays locked throughout, so nothing else can observe a midpoint
//!    except through PTEs, which try_to_unmap() re-reads.
//! 2. pageout() -> swap_writepage() and __remove_mapping(). Between the two
//!    steps the folio is unmapped, locked and in the swap cache; other
//!    processes can fork (sharing the swap entries), or zap and MADV_FREE
//!    them, and a swap-in sleeps on the lock. zram writes synchronously,
//!    so the window between writeback and __remove_mapping() is folded
//!    into step 2.
//!
//! MADV_PAGEOUT runs both steps for each folio it takes, inside the
//! system call (reclaim_pages()); kswapd's `reclaim` runs step 1 and its
//! `writeback` step 2.

use crate::ctx::{oops, touch, Branch, Ctx};
use crate::state::{FolioId, OopsKind, Page, Pid, Pte, State};
use crate::swapfile::{delete_from_swap_cache, folio_alloc_swap, folio_free_swap, folio_put, swap_duplicate};
use crate::thp::folio_remove_rmap_ptes_and_put;

/// What step 1 left behind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shrunk {
    /// Put back on the LRU (still mapped, or no swap slot).
    Kept,
    /// Freed (a lazyfree discard, or a clean swap-cache folio).
    Freed,
    /// Unmapped, dirty and in the swap cache: pageout() is next.
    NeedsPageout,
}

/// Mirrors shrink_folio_list() for one isolated anon folio, up to
/// pageout(): folio_isolate_lru() takes a reference; a swap-backed folio
/// not yet in the swap cache gets a slot (add_to_swap()) and is marked
/// dirty unconditionally ("A special case is MADV_FREE page..."); a mapped
/// folio goes through try_to_unmap(), and is kept if anything still maps
/// it; an unmapped lazyfree folio is freed (folio_ref_freeze(folio, 1));
/// a clean swap-cache folio goes to __remove_mapping().
pub fn shrink_folio_list(s: &mut State, ctx: &mut Ctx, folio: FolioId) -> Shrunk {
    let mut split = Vec::new();
    let r = shrink_one(s, ctx, folio, &mut split);
    shrink_split_off(s, ctx, &split);
    r
}

/// shrink_folio_list()'s work on one folio; `split` receives the folios a
/// large one was split into.
fn shrink_one(s: &mut State, ctx: &mut Ctx, folio: FolioId, split: &mut Vec<FolioId>) -> Shrunk {
    s.folios[folio as usize].refcount += 1; // folio_isolate_lru()
    if s.folios[folio as usize].mapping.file().is_some() {
        return crate::filemap::shrink_file_folio(s, ctx, folio);
    }
    let f = &s.folios[folio as usize];
    let ignore_pins = ctx.cfg.mutant == Some(crate::Mutant::ReclaimIgnoresPin);
    if f.swapbacked && f.swap.is_none() && f.maybe_dma_pinned() && !ignore_pins {
        // "if (folio_maybe_dma_pinned(folio)) goto keep_locked;" before
        // add_to_swap() (v6.18 shrink_folio_list()).
        return putback(s, ctx, folio, "maybe DMA-pinned: keep, no swap slot");
    }
    if f.swapbacked && f.swap.is_none() {
        if f.large.is_some() {
            if let Some(kept) = shrink_large_folio(s, ctx, folio, split) {
                return kept;
            }
        } else if folio_alloc_swap(s, ctx, folio).is_none() {
            ctx.took(Branch::ReclaimKeep);
            return putback(s, ctx, folio, "no swap slot: activate");
        }
        s.folios[folio as usize].dirty = true; // folio_mark_dirty()
    }
    if s.folios[folio as usize].mapcount > 0 {
        try_to_unmap(s, ctx, folio);
        if s.oops.is_some() {
            return Shrunk::Kept;
        }
        if s.folios[folio as usize].mapcount > 0 {
            ctx.took(Branch::ReclaimKeep);
            return putback(s, ctx, folio, "still mapped after try_to_unmap: activate");
        }
    }
    // "Folio is unmapped now so it cannot be newly pinned anymore. No point
    // in trying to reclaim folio if it is pinned." -> activate_locked.
    if s.folios[folio as usize].maybe_dma_pinned() && !ignore_pins {
        return putback(s, ctx, folio, "maybe DMA-pinned after unmap: activate");
    }
    let f = &s.folios[folio as usize];
    if f.lazyfree() {
        // folio_ref_freeze(folio, 1): only the isolation reference is left.
        if f.refcount != 1 {
            return putback(s, ctx, folio, "lazyfree folio still referenced: keep");
        }
        ctx.took(Branch::LazyfreeFreed);
        ctx.say(|| format!("shrink_folio_list: lazyfree F{folio} freed without I/O (PGLAZYFREED)"));
        folio_put(s, ctx, folio);
        return Shrunk::Freed;
    }
    if f.swap.is_none() {
        return putback(s, ctx, folio, "not in the swap cache: keep");
    }
    if f.dirty {
        return Shrunk::NeedsPageout;
    }
    remove_mapping(s, ctx, folio)
}

/// The large-folio part of shrink_folio_list() before add_to_swap(): a
/// folio with unexpected references is activated ("cannot split folio,
/// skip it"); a partially mapped one on the deferred split queue is split
/// first ("We can free the unmapped pages without IO"); folio_alloc_swap()
/// takes a run of slots for the whole folio (THP_SWAP), and when it fails
/// the folio is split ("Fallback to swap normal pages") and page 0 tries
/// again. The other pages split off are reclaimed in the same call, as
/// split_folio_to_list() puts them on the list being shrunk. `None`: go
/// on with `folio` (now in the swap cache).
fn shrink_large_folio(s: &mut State, ctx: &mut Ctx, folio: FolioId, split: &mut Vec<FolioId>) -> Option<Shrunk> {
    let f = &s.folios[folio as usize];
    if f.mapcount + 1 != f.refcount {
        ctx.took(Branch::ReclaimKeep);
        return Some(putback(s, ctx, folio, "large folio with extra references: activate"));
    }
    if f.large.as_ref().is_some_and(|l| l.deferred) {
        match crate::huge_memory::split_folio(s, ctx, folio, 1) {
            Some(ids) => *split = ids,
            None => return Some(putback(s, ctx, folio, "partially mapped, split fails: activate")),
        }
    }
    if folio_alloc_swap(s, ctx, folio).is_some() {
        if s.folios[folio as usize].large.is_some() {
            ctx.took(Branch::SwapoutLargeFolio);
        }
        return None;
    }
    if s.folios[folio as usize].large.is_some() {
        match crate::huge_memory::split_folio(s, ctx, folio, 1) {
            Some(ids) => *split = ids,
            None => return Some(putback(s, ctx, folio, "no swap slots and split fails: activate")),
        }
        if folio_alloc_swap(s, ctx, folio).is_some() {
            return None;
        }
    }
    ctx.took(Branch::ReclaimKeep);
    Some(putback(s, ctx, folio, "no swap slot: activate"))
}

/// The folios split off page 0 go through shrink_folio_list() (pageout
/// included) after it, in the same call.
fn shrink_split_off(s: &mut State, ctx: &mut Ctx, split: &[FolioId]) {
    for &f in split.iter().skip(1) {
        if s.folios[f as usize].freed || s.oops.is_some() {
            continue;
        }
        if shrink_folio_list(s, ctx, f) == Shrunk::NeedsPageout {
            pageout(s, ctx, f);
        }
    }
}

/// The folio goes back to the LRU: the isolation reference is dropped.
pub(crate) fn putback(s: &mut State, ctx: &mut Ctx, folio: FolioId, why: &str) -> Shrunk {
    ctx.say(|| format!("shrink_folio_list: F{folio}: {why}"));
    folio_put(s, ctx, folio);
    Shrunk::Kept
}

/// Mirrors try_to_unmap(): rmap_walk() with try_to_unmap_one() as
/// `rmap_one` and folio_not_mapped() as `done`, through the rmap as the
/// model holds it (see [`rmap_walk_anon`]), so a VMA missing from the tree
/// keeps its PTE.
pub fn try_to_unmap(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    // rmap_walk(): "if (unlikely(folio_test_ksm(folio))) rmap_walk_ksm();
    // else if (folio_test_anon(folio)) rmap_walk_anon(); else rmap_walk_file()".
    let hits = if s.folios[folio as usize].mapping.stable_node().is_some() {
        crate::ksm::rmap_walk_ksm(s, ctx, folio)
    } else if s.folios[folio as usize].mapping.file().is_some() {
        for (pid, page) in crate::filemap::rmap_walk_file(s, folio) {
            crate::filemap::try_to_unmap_one_file(s, ctx, folio, pid, page);
        }
        return;
    } else {
        rmap_walk_anon(s, folio)
    };
    for (pid, page) in hits {
        if s.folios[folio as usize].mapcount == 0 {
            break;
        }
        // A batch of a large folio's PTEs may have gone already.
        if !matches!(s.mms[pid as usize].ptes[page as usize], Pte::Present { folio: f, .. } if f == folio) {
            continue;
        }
        if !try_to_unmap_one(s, ctx, folio, pid, page) {
            break;
        }
    }
}

/// Mirrors rmap_walk_anon() with folio_lock_anon_vma_read(): read
/// `folio_anon_vma(folio)` and its `root` (the root's rwsem is taken), then
/// every VMA in that anon_vma's interval tree whose pgoff range holds
/// `folio->index`, at vma_address(). page_vma_mapped_walk() then keeps the
/// PTEs that map this folio. The tree is derived from the VMA chains; VMAs
/// with equal keys are visited in process order (insertion order in the
/// kernel's rb-tree, which the model does not keep).
pub fn rmap_walk_anon(s: &mut State, folio: FolioId) -> Vec<(Pid, Page)> {
    let f = &s.folios[folio as usize];
    let (Some(av), index, nr) = (f.mapping.anon_vma(), f.index, f.nr_pages()) else { return Vec::new() };
    touch(s, av, "folio_lock_anon_vma_read: anon_vma->root");
    let root = s.anon_vmas[av as usize].root;
    touch(s, root, "folio_lock_anon_vma_read: down_read_trylock(&root->rwsem)");
    if s.oops.is_some() {
        return Vec::new();
    }
    // A large folio's pages sit at index..index+nr: every VMA whose pgoff
    // range meets them (vma_interval_tree_foreach over [pgoff_start,
    // pgoff_end]), and page_vma_mapped_walk() over the folio's range in it.
    let mut hits: Vec<(u8, Pid, Page)> = Vec::new();
    for (pid, v) in s.all_vmas().filter(|(_, v)| v.chain.contains(&av)) {
        for i in index..index + nr {
            if v.pgoff <= i && i < v.pgoff + v.pages() {
                hits.push((v.pgoff, pid, v.start + (i - v.pgoff)));
            }
        }
    }
    hits.sort_unstable();
    hits.into_iter()
        .filter(|&(_, pid, page)| {
            matches!(s.mms[pid as usize].ptes[page as usize], Pte::Present { folio: f, .. } if f == folio)
        })
        .map(|(_, pid, page)| (pid, page))
        .collect()
}

/// Mirrors try_to_unmap_one() for one PTE of an order-0 anon folio: clear
/// the PTE (a dirty PTE marks the folio dirty); `PageSwapBacked !=
/// PageSwapCache` is a WARN and aborts; a lazyfree folio is discarded
/// only while it is clean and only reclaim and the PTEs hold it, else the
/// PTE is restored and the walk aborts, a dirty folio swap-backed again, a
/// clean one with an extra reference (a GUP pin) left lazyfree; a
/// swap-backed folio's PTE becomes a swap entry (swap_duplicate()), which
/// keeps PageAnonExclusive as its exclusive marker while the page itself
/// is shared (folio_try_share_anon_rmap_pte()). Returns false to end the
/// walk.
fn try_to_unmap_one(s: &mut State, ctx: &mut Ctx, folio: FolioId, pid: Pid, page: Page) -> bool {
    let f = &s.folios[folio as usize];
    if f.large.is_some() && !f.swapbacked {
        return try_to_unmap_lazyfree_batch(s, ctx, folio, pid, page);
    }
    let pte = &mut s.mms[pid as usize].ptes[page as usize];
    let Pte::Present { dirty, sub, .. } = *pte else { return true };
    let saved = *pte;
    *pte = Pte::None;
    let f = &mut s.folios[folio as usize];
    if dirty {
        f.dirty = true; // folio_mark_dirty()
    }
    let (swapbacked, swap, discardable) = (f.swapbacked, f.swap, f.refcount == 1 + f.mapcount && !f.dirty);
    if swapbacked != swap.is_some() {
        s.mms[pid as usize].ptes[page as usize] = saved;
        let what = format!("WARN_ON_ONCE(swapbacked != swapcache) in try_to_unmap_one: F{folio}");
        oops(s, OopsKind::Warn, what);
        return false;
    }
    let Some(slot) = swap else {
        // Lazyfree: "The only page refs must be one from isolation plus
        // the rmap(s)", and the folio must still be clean.
        if discardable {
            ctx.took(Branch::LazyfreeDiscard);
            ctx.say(|| format!("try_to_unmap_one: lazyfree F{folio} discarded at P{pid} page {page}"));
            folio_remove_rmap_ptes_and_put(s, ctx, folio, sub, 1, pid);
            return true;
        }
        s.mms[pid as usize].ptes[page as usize] = saved;
        if !s.folios[folio as usize].dirty {
            // "Additional reference. Could be a GUP reference ... act just
            // like nothing happened": still lazyfree (a pinned page).
            ctx.say(|| format!("try_to_unmap_one: lazyfree F{folio} has an extra reference: left lazyfree"));
            return false;
        }
        s.folios[folio as usize].swapbacked = true; // folio_set_swapbacked()
        ctx.took(Branch::LazyfreeRedirtied);
        ctx.say(|| format!("try_to_unmap_one: lazyfree F{folio} redirtied at P{pid} page {page}: swap-backed again"));
        return false;
    };
    // folio_try_share_anon_rmap_pte(): "if (unlikely(folio_maybe_dma_pinned(folio)))
    // return -EBUSY" for an exclusive page: the PTE is restored and the
    // walk aborts, so reclaim keeps a pinned page mapped.
    let f = &s.folios[folio as usize];
    if f.page_exclusive(sub) && f.maybe_dma_pinned() && ctx.cfg.mutant != Some(crate::Mutant::ReclaimIgnoresPin) {
        s.mms[pid as usize].ptes[page as usize] = saved;
        ctx.say(|| format!("try_to_unmap_one: F{folio} may be DMA-pinned: folio_try_share_anon_rmap_pte() fails"));
        return false;
    }
    // page_swap_entry(subpage): `folio->swap` + the page's index.
    let slot = slot + sub;
    swap_duplicate(s, slot);
    let exclusive = s.folios[folio as usize].page_exclusive(sub);
    s.folios[folio as usize].set_page_exclusive(sub, false);
    s.mms[pid as usize].ptes[page as usize] = Pte::Swap { slot, exclusive };
    ctx.took(Branch::UnmapToSwapEntry);
    ctx.say(|| format!("try_to_unmap_one: P{pid} page {page} -> swap entry S{slot} (exclusive={exclusive})"));
    folio_remove_rmap_ptes_and_put(s, ctx, folio, sub, 1, pid);
    true
}

/// try_to_unmap_one() on a lazyfree large folio: folio_unmap_pte_batch()
/// takes the PTEs from `page` on that map the folio's following pages in
/// this VMA with the same write permission (FPB_RESPECT_WRITE), and
/// get_and_clear_ptes() clears them together, a dirty one marking the
/// folio dirty. A dirty folio is redirtied (set_ptes() puts the batch back
/// with the merged bits, folio_set_swapbacked(), walk aborted); extra
/// references abort the walk; otherwise the batch is discarded
/// (folio_remove_rmap_ptes(), folio_put_refs()), and a batch of the whole
/// folio ends the walk.
fn try_to_unmap_lazyfree_batch(s: &mut State, ctx: &mut Ctx, folio: FolioId, pid: Pid, page: Page) -> bool {
    let mm = &s.mms[pid as usize];
    let Pte::Present { sub, writable, .. } = mm.ptes[page as usize] else { return true };
    let vi = mm.vma_index(page);
    let nr_pages = s.folios[folio as usize].nr_pages();
    let mut nr = 1;
    while (page + nr) < s.pages()
        && mm.vma_index(page + nr) == vi
        && matches!(mm.ptes[(page + nr) as usize],
            Pte::Present { folio: f, sub: i, writable: w, .. } if f == folio && i == sub + nr && w == writable)
    {
        nr += 1;
    }
    let saved: Vec<Pte> = (page..page + nr).map(|p| s.mms[pid as usize].ptes[p as usize]).collect();
    let any_dirty = saved.iter().any(|p| matches!(p, Pte::Present { dirty: true, .. }));
    if any_dirty {
        s.folios[folio as usize].dirty = true; // folio_mark_dirty()
    }
    let f = &s.folios[folio as usize];
    if f.dirty || f.refcount != 1 + f.mapcount {
        let redirtied = f.dirty;
        for (k, p) in (page..page + nr).enumerate() {
            // set_ptes(mm, address, pvmw.pte, pteval, nr_pages): the merged value.
            s.mms[pid as usize].ptes[p as usize] =
                Pte::Present { folio, sub: sub + k as u8, writable, dirty: any_dirty };
        }
        if redirtied {
            s.folios[folio as usize].swapbacked = true; // folio_set_swapbacked()
            ctx.took(Branch::LazyfreeRedirtied);
            ctx.say(|| {
                format!("try_to_unmap_one: lazyfree F{folio} redirtied at P{pid} page {page}: swap-backed again")
            });
        }
        return false;
    }
    for p in page..page + nr {
        s.mms[pid as usize].ptes[p as usize] = Pte::None;
    }
    ctx.took(Branch::LazyfreeDiscardBatch);
    ctx.say(|| format!("try_to_unmap_one: lazyfree F{folio}: {nr} PTE(s) at P{pid} page {page} discarded"));
    folio_remove_rmap_ptes_and_put(s, ctx, folio, sub, nr, pid);
    nr < nr_pages
}

/// Mirrors pageout() -> swap_writepage() on zram and the rest of
/// shrink_folio_list(): swap_writepage() first tries folio_free_swap()
/// (no swap PTE names the slot any more: the folio leaves the swap cache
/// dirty and is kept, and putback drops the last reference); otherwise the
/// data goes to the slot and the folio is clean, and __remove_mapping()
/// frees it.
pub fn pageout(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    if s.folios[folio as usize].mapping.file().is_some() {
        // pageout() -> writeout(): "if (shmem_mapping(mapping)) shmem_writeout()".
        return crate::shmem::shmem_pageout(s, ctx, folio);
    }
    s.folios[folio as usize].isolated = false;
    let nr = s.folios[folio as usize].nr_pages();
    // is_page_cache_freeable(): isolation + swap cache references only.
    if s.folios[folio as usize].refcount != 1 + nr {
        putback(s, ctx, folio, "pageout: extra references: keep");
        return;
    }
    if folio_free_swap(s, ctx, folio) {
        ctx.took(Branch::WritebackFreeSwap);
        putback(s, ctx, folio, "swap_writepage: no swap entry left, folio_free_swap(): keep (dirty)");
        return;
    }
    let Some(slot) = s.folios[folio as usize].swap else {
        oops(s, OopsKind::Bug, format!("pageout: F{folio} is not in the swap cache"));
        return;
    };
    let f = &mut s.folios[folio as usize];
    f.dirty = false; // folio_clear_dirty_for_io()
    for k in 0..nr {
        let data = s.folios[folio as usize].page_data(k);
        s.swap[(slot + k) as usize].data = Some(data);
    }
    ctx.say(|| format!("swap_writepage: F{folio} written to S{slot}..+{nr}"));
    remove_mapping(s, ctx, folio);
}

/// Mirrors __remove_mapping() for a swap-cache folio: the references must
/// be exactly isolation + swap cache (folio_ref_freeze(folio, 1 + nr)) and
/// the folio clean; it leaves the swap cache (the slot stays while swap
/// PTEs name it) and is freed.
fn remove_mapping(s: &mut State, ctx: &mut Ctx, folio: FolioId) -> Shrunk {
    let f = &s.folios[folio as usize];
    if f.refcount != 1 + f.nr_pages() || f.dirty {
        return putback(s, ctx, folio, "__remove_mapping: references or dirty: keep");
    }
    let slot = f.swap;
    delete_from_swap_cache(s, ctx, folio);
    ctx.took(Branch::RemoveMapping);
    ctx.say(|| format!("__remove_mapping: F{folio} leaves the swap cache of S{}", slot.unwrap_or(0)));
    folio_put(s, ctx, folio);
    Shrunk::Freed
}

/// kswapd's `reclaim` of the folio `pid` maps at `page`, or that caches
/// the slot of its swap PTE there: step 1; a folio that needs pageout()
/// stays isolated and locked for `writeback`.
pub fn kswapd_reclaim(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page) -> Result<(), String> {
    if let Some((f, _)) = s.folios.iter().enumerate().find(|(_, f)| f.isolated && !f.freed) {
        return Err(format!("kswapd is still writing back F{f}"));
    }
    let folio = match s.mms[pid].ptes[page as usize] {
        Pte::Present { folio, .. } => folio,
        Pte::Swap { slot, .. } => match s.swap[slot as usize].cache {
            Some(f) => f,
            None => return Err(format!("page {page}: slot S{slot} has no swap-cache folio to reclaim")),
        },
        Pte::None | Pte::Zero => return Err(format!("page {page} maps no anon folio")),
    };
    ctx.say(|| format!("kswapd: shrink_folio_list(F{folio})"));
    if shrink_folio_list(s, ctx, folio) == Shrunk::NeedsPageout {
        s.folios[folio as usize].isolated = true;
        ctx.say(|| format!("kswapd: F{folio} unmapped and dirty, locked until writeback"));
    }
    Ok(())
}

/// kswapd's `writeback`: step 2 for the folio its `reclaim` left isolated.
pub fn kswapd_writeback(s: &mut State, ctx: &mut Ctx) -> Result<(), String> {
    let Some(folio) = s.folios.iter().position(|f| f.isolated && !f.freed) else {
        return Err("kswapd has no folio waiting for writeback".into());
    };
    pageout(s, ctx, folio as FolioId);
    Ok(())
}
