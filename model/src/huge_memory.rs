//! Splitting large anonymous folios and the deferred split queue
//! (mm/huge_memory.c): deferred_split_folio(), __folio_split() with
//! unmap_folio() and remap_page(), and the shrinker's
//! deferred_split_scan(). Read in the linux-mm snapshot of
//! mm/huge_memory.c (00cb34b034a5, after v6.18: there the queue is a
//! list_lru; v6.18 keeps a per-memcg `split_queue` with the same rules).

use crate::ctx::{Branch, Ctx};
use crate::state::{Folio, FolioId, Pte, State};

/// Mirrors deferred_split_folio(folio, partially_mapped = true): "Order 1
/// folios have no space for a deferred list" (and are never queued), and
/// a swap-cache folio is excluded ("if page reclaim is already handling
/// the same folio, it is unnecessary to handle it again in the
/// shrinker"); otherwise PG_partially_mapped is set and the folio joins
/// the queue.
pub fn deferred_split_folio(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    let f = &mut s.folios[folio as usize];
    if f.order() <= 1 || f.swap.is_some() {
        return;
    }
    if let Some(l) = f.large.as_mut() {
        l.deferred = true;
        ctx.took(Branch::DeferredSplitQueue);
        ctx.say(|| format!("deferred_split_folio: F{folio} partially mapped, on the deferred split queue"));
    }
}

/// Mirrors split_folio() -> __folio_split() to order 0 for an anon large
/// folio that the caller holds locked. `pins` are references the caller
/// holds that the model counts (reclaim's isolation reference); other
/// callers' folio_get() is not modelled. Fails (returns `None`, nothing
/// changed but PG_dirty) when folio_get_anon_vma() finds no live
/// anon_vma, when some reference is unexpected
/// (`folio_expected_ref_count() != folio_ref_count() - 1`), or when
/// unmap_folio() cannot reach every mapping through the rmap (the freeze
/// then fails and remap_page() puts the migration entries back).
/// On success each page becomes an order-0 folio with the page's index,
/// mapcount, PageAnonExclusive and contents, the folio's flags (PG_dirty,
/// which unmap set from any dirty PTE, PG_swapbacked, and swap cache entry
/// `folio->swap` + i), and remap_page(TTU_USE_SHARED_ZEROPAGE) maps every
/// PTE of a zero-filled page to the shared zero page instead
/// (try_to_map_unused_to_zeropage()). Returns the new folios, page 0's
/// first (it keeps the folio's id and the caller's references); unmapped
/// ones are freed (free_folio_and_swap_cache()).
pub fn split_folio(s: &mut State, ctx: &mut Ctx, folio: FolioId, pins: u8) -> Option<Vec<FolioId>> {
    let f = &s.folios[folio as usize];
    let nr = f.nr_pages();
    if f.large.is_none() {
        return Some(vec![folio]);
    }
    let live_av = f.mapping.anon_vma().is_some_and(|a| !s.anon_vmas[a as usize].freed);
    let swap_refs = if f.swap.is_some() { nr } else { 0 };
    if !live_av || f.mapcount + swap_refs + pins != f.refcount {
        ctx.took(Branch::SplitFailed);
        ctx.say(|| format!("__folio_split: F{folio} not split (no live anon_vma, or extra references)"));
        return None;
    }
    // unmap_folio(): try_to_migrate() over the rmap; a dirty PTE marks the
    // folio dirty (folio_mark_dirty() in try_to_migrate_one()).
    let hits = crate::vmscan::rmap_walk_anon(s, folio);
    for &(pid, page) in &hits {
        if let Pte::Present { dirty: true, .. } = s.mms[pid as usize].ptes[page as usize] {
            s.folios[folio as usize].dirty = true;
        }
    }
    if hits.len() != s.folios[folio as usize].mapcount as usize {
        ctx.took(Branch::SplitFailed);
        ctx.say(|| format!("__folio_split: F{folio}: the rmap does not reach every mapping, freeze fails"));
        return None;
    }
    let old = s.folios[folio as usize].clone();
    let large = old.large.as_ref().expect("large");
    let mut ids = Vec::with_capacity(nr as usize);
    for i in 0..nr {
        let p = large.pages[i as usize];
        let new = Folio {
            mapping: old.mapping,
            index: old.index + i,
            mapcount: p.mapcount,
            refcount: p.mapcount + u8::from(old.swap.is_some()) + if i == 0 { pins } else { 0 },
            swapbacked: old.swapbacked,
            anon_exclusive: p.anon_exclusive,
            dirty: old.dirty,
            data: p.data,
            freed: false,
            swap: old.swap.map(|b| b + i),
            isolated: i == 0 && old.isolated,
            readahead: false,
            large: None,
            split_dirty: old.dirty && !old.swapbacked,
            pincount: 0,
        };
        let id = if i == 0 {
            s.folios[folio as usize] = new;
            folio
        } else {
            s.folios.push(new);
            (s.folios.len() - 1) as FolioId
        };
        if let Some(b) = old.swap {
            s.swap[(b + i) as usize].cache = Some(id);
        }
        ids.push(id);
    }
    // remap_page(): the migration entries become PTEs of the new folios;
    // a zero-filled page is mapped to the shared zero page instead.
    for (pid, page) in hits {
        let pte = &mut s.mms[pid as usize].ptes[page as usize];
        let Pte::Present { sub, writable, dirty, .. } = *pte else { continue };
        let id = ids[sub as usize];
        let nf = &mut s.folios[id as usize];
        if nf.data == 0 {
            *pte = Pte::Zero;
            nf.mapcount -= 1;
            nf.refcount -= 1;
            nf.anon_exclusive &= nf.mapcount > 0;
            ctx.took(Branch::SplitRemapZeroPage);
            ctx.say(|| format!("remap_page: P{pid} page {page} zero-filled, mapped to the shared zero page"));
        } else {
            *pte = Pte::Present { folio: id, sub: 0, writable, dirty };
        }
    }
    for &id in &ids {
        if s.folios[id as usize].refcount == 0 {
            // free_folio_and_swap_cache(): nothing maps it any more.
            s.folios[id as usize].refcount = 1;
            crate::swapfile::folio_put(s, ctx, id);
        }
    }
    ctx.took(Branch::SplitFolio);
    ctx.say(|| format!("__folio_split: F{folio} split into {ids:?}"));
    Some(ids)
}

/// Mirrors deferred_split_scan(), run by the shrinker (kswapd's
/// shrink_slab(), or drop_caches): every queued folio leaves the queue;
/// a partially mapped one is split if folio_trylock() succeeds (reclaim
/// holding it makes it fail: requeued) and requeued if the split fails.
/// (Folios queued without being partially mapped are PMD-sized THPs for
/// thp_underused(), which the model does not have.) An empty queue is a
/// no-op (the shrinker reports SHRINK_EMPTY), which the exploration does
/// not offer.
pub fn deferred_split_scan(s: &mut State, ctx: &mut Ctx) -> Result<(), String> {
    let queued: Vec<FolioId> =
        s.live_folios().filter(|(_, f)| f.large.as_ref().is_some_and(|l| l.deferred)).map(|(i, _)| i).collect();
    if queued.is_empty() {
        ctx.say(|| "deferred_split_scan: the queue is empty".into());
    }
    for folio in queued {
        if s.folios[folio as usize].isolated {
            ctx.say(|| format!("deferred_split_scan: F{folio} locked by reclaim, requeued"));
            continue;
        }
        split_folio(s, ctx, folio, 0);
        if s.oops.is_some() {
            break;
        }
    }
    Ok(())
}
