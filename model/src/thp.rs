//! The rmap accounting of large anonymous folios (mTHP mapped by PTEs):
//! the `folio_*_anon_rmap_ptes()` family of mm/rmap.c and the MM-id
//! large mapcount of include/linux/rmap.h, as v6.18 builds them with
//! CONFIG_PAGE_MAPCOUNT and CONFIG_MM_ID (this machine's kernel: per-page
//! `_mapcount`, `_nr_pages_mapped`, `_large_mapcount` and the two MM-id
//! slots). Read in the linux-mm snapshot of include/linux/rmap.h
//! (02f574458974) and mm/rmap.c (0014dde7e945), which carry the v6.18
//! code for these paths unchanged but for names (`FOLIO_MAPPING_ANON`,
//! `enum pgtable_level`).
//!
//! Order-0 folios keep their own code in [`crate::rmap`]; the functions
//! here dispatch to it, so callers can treat every folio alike.

use crate::ctx::{oops, Branch, Ctx};
use crate::state::{Folio, FolioId, Large, Mapping, OopsKind, Page, Pid, State, SubPage};

/// Mirrors vma_alloc_folio() of a large `order` (alloc_anon_folio(),
/// alloc_swap_folio()): a new swap-backed folio, not anon (mapped) yet,
/// zero-filled, every page's `_mapcount` -1, with the allocation's
/// reference. [`crate::rmap::folio_add_new_anon_rmap`] maps it.
pub fn folio_alloc_large(s: &mut State, order: u8) -> FolioId {
    let nr = 1u8 << order;
    let mut f = Folio::small(Mapping::None, 0, 0, 0, false);
    let pages = (0..nr).map(|_| SubPage { mapcount: 0, anon_exclusive: false, data: 0 }).collect();
    f.large = Some(Box::new(Large {
        order,
        pages,
        nr_pages_mapped: 0,
        deferred: false,
        mm_id: [None, None],
        mm_id_mapcount: [0, 0],
        maybe_shared: false,
    }));
    s.folios.push(f);
    (s.folios.len() - 1) as FolioId
}

/// The arm of folio_add_new_anon_rmap() for a large, not PMD-mappable
/// folio, after __folio_set_anon(): each page's `_mapcount` 0 (mapped
/// once) and, with RMAP_EXCLUSIVE, SetPageAnonExclusive on each;
/// folio_set_large_mapcount(folio, nr, vma) puts `pid`'s mm in slot 0
/// with all `nr` mappings (the shared bit clear); `_nr_pages_mapped` = nr.
/// The caller takes the other `nr - 1` references (folio_ref_add()).
pub(crate) fn folio_add_new_anon_rmap_large(f: &mut Folio, pid: Pid, exclusive: bool) {
    let Some(l) = f.large.as_mut() else { return };
    let nr = 1u8 << l.order;
    for p in l.pages.iter_mut() {
        p.mapcount = 1;
        p.anon_exclusive = exclusive;
    }
    l.nr_pages_mapped = nr;
    l.mm_id = [Some(pid), None];
    l.mm_id_mapcount = [nr, 0];
    l.maybe_shared = false;
    f.mapcount = nr;
}

/// Mirrors folio_add_return_large_mapcount() (CONFIG_MM_ID): `diff` more
/// mappings by `pid`; the mm's slot counts them, a free slot is taken
/// ("We might have other mappings already": then the folio may be mapped
/// shared), and with both slots busy the shared bit stays set.
fn folio_add_large_mapcount(f: &mut Folio, diff: u8, pid: Pid) {
    f.mapcount += diff;
    let new_val = f.mapcount; // _large_mapcount + 1
    let Some(l) = f.large.as_mut() else { return };
    if l.mm_id[0] == Some(pid) {
        l.mm_id_mapcount[0] += diff;
    } else if l.mm_id[1] == Some(pid) {
        l.mm_id_mapcount[1] += diff;
    } else if l.mm_id[0].is_none() {
        l.mm_id[0] = Some(pid);
        l.mm_id_mapcount[0] = diff;
        // "if (new_mapcount_val != diff - 1)" in the kernel's -1 based counts.
        if new_val != diff {
            l.maybe_shared = true;
        }
    } else if l.mm_id[1].is_none() {
        l.mm_id[1] = Some(pid);
        l.mm_id_mapcount[1] = diff;
        // "Slot 0 certainly has mappings as well."
        l.maybe_shared = true;
    }
}

/// Mirrors folio_sub_return_large_mapcount(): `diff` mappings of `pid`
/// fewer; a slot whose count would go negative is freed, and when one
/// slot owns every remaining mapping the shared bit is cleared.
fn folio_sub_large_mapcount(f: &mut Folio, diff: u8, pid: Pid) {
    f.mapcount -= diff;
    let new_val = f.mapcount;
    let Some(l) = f.large.as_mut() else { return };
    for i in 0..2 {
        if l.mm_id[i] == Some(pid) {
            if l.mm_id_mapcount[i] > diff {
                l.mm_id_mapcount[i] -= diff;
                return; // "goto out": still mapped by this mm
            }
            // "There are valid corner cases where we might underflow a
            // per-MM mapcount ... we always set it to -1 once we go negative."
            l.mm_id_mapcount[i] = 0;
            l.mm_id[i] = None;
            break;
        }
    }
    // "If one MM slot owns all mappings, the folio is mapped exclusively."
    if l.mm_id_mapcount[0] == new_val || l.mm_id_mapcount[1] == new_val {
        l.maybe_shared = false;
    }
}

/// Mirrors folio_try_dup_anon_rmap_pte() as copy_present_ptes() calls it
/// for each page of a large folio at fork (no pins in this model, so it
/// never fails): ClearPageAnonExclusive on the page, its `_mapcount`
/// and the large mapcount up by one for the child's mm, one more
/// reference. Batching several PTEs (folio_try_dup_anon_rmap_ptes()) ends
/// in the same counts.
pub fn folio_try_dup_anon_rmap_pte(s: &mut State, folio: FolioId, sub: u8, child: Pid) {
    let f = &mut s.folios[folio as usize];
    f.refcount += 1;
    if f.large.is_none() {
        f.mapcount += 1;
        f.anon_exclusive = false;
        return;
    }
    folio_add_large_mapcount(f, 1, child);
    let l = f.large.as_mut().expect("large");
    let p = &mut l.pages[sub as usize];
    p.anon_exclusive = false;
    p.mapcount += 1;
    if p.mapcount == 1 {
        l.nr_pages_mapped += 1;
    }
}

/// Mirrors folio_add_anon_rmap_ptes() for `nr` pages from `sub` of a large
/// folio that is already anon (a swap-cache folio mapped back): each
/// page's `_mapcount` up (`_nr_pages_mapped` counts the pages that were
/// unmapped), the large mapcount up by `nr` for `pid`'s mm, and with
/// RMAP_EXCLUSIVE every page PageAnonExclusive. The caller checked
/// __page_check_anon_rmap() and took the references.
pub fn folio_add_anon_rmap_ptes(s: &mut State, folio: FolioId, sub: u8, nr: u8, pid: Pid, exclusive: bool) {
    let f = &mut s.folios[folio as usize];
    if f.large.is_none() {
        f.mapcount += nr;
        if exclusive {
            f.anon_exclusive = true;
        }
        return;
    }
    folio_add_large_mapcount(f, nr, pid);
    let l = f.large.as_mut().expect("large");
    for i in sub..sub + nr {
        let p = &mut l.pages[i as usize];
        p.mapcount += 1;
        if p.mapcount == 1 {
            l.nr_pages_mapped += 1;
        }
        if exclusive {
            p.anon_exclusive = true;
        }
    }
}

/// Mirrors folio_remove_rmap_ptes() (__folio_remove_rmap() at
/// PGTABLE_LEVEL_PTE) for `nr` pages from `sub`, unmapped by `pid`, then
/// the caller's folio_put_refs(): the large mapcount down, each page's
/// `_mapcount` down, `_nr_pages_mapped` down by the pages that lost their
/// last mapping; "Queue anon large folio for deferred split if at least
/// one page of the folio is unmapped and at least one page is still
/// mapped" (deferred_split_folio(folio, true)); the folio is freed with
/// its last reference. An order-0 folio goes to
/// [`crate::rmap::folio_remove_rmap_and_put`].
pub fn folio_remove_rmap_ptes_and_put(s: &mut State, ctx: &mut Ctx, folio: FolioId, sub: u8, nr: u8, pid: Pid) {
    let f = &mut s.folios[folio as usize];
    if f.large.is_none() {
        for _ in 0..nr {
            crate::rmap::folio_remove_rmap_and_put(s, ctx, folio);
        }
        return;
    }
    let ok = f.mapcount >= nr
        && f.refcount >= nr
        && (sub..sub + nr).all(|i| f.large.as_ref().is_some_and(|l| l.pages[i as usize].mapcount > 0));
    if !ok {
        oops(s, OopsKind::Bug, format!("F{folio}: page mapcount underflow in folio_remove_rmap_ptes"));
        return;
    }
    folio_sub_large_mapcount(f, nr, pid);
    let l = f.large.as_mut().expect("large");
    let mut last = 0;
    for i in sub..sub + nr {
        let p = &mut l.pages[i as usize];
        p.mapcount -= 1;
        if p.mapcount == 0 {
            last += 1;
        }
    }
    l.nr_pages_mapped -= last;
    let partially_mapped = last > 0 && l.nr_pages_mapped > 0;
    if partially_mapped && !l.deferred && ctx.cfg.mutant != Some(crate::Mutant::RemoveRmapSkipsDeferredSplit) {
        crate::huge_memory::deferred_split_folio(s, ctx, folio);
    }
    folio_put_refs(s, ctx, folio, nr);
}

/// Mirrors folio_put_refs(): `nr` references fewer; the last frees the
/// folio (free_pages_prepare() resets `mapping`; a large folio also
/// leaves the deferred split queue, folio_unqueue_deferred_split()).
pub fn folio_put_refs(s: &mut State, ctx: &mut Ctx, folio: FolioId, nr: u8) {
    for _ in 0..nr {
        crate::swapfile::folio_put(s, ctx, folio);
    }
}

/// The folio_mapcount() of the page a PTE maps, for narration.
pub fn page_desc(s: &State, folio: FolioId, sub: u8) -> String {
    if s.folios[folio as usize].large.is_some() {
        format!("F{folio}.{sub}")
    } else {
        format!("F{folio}")
    }
}

/// Mirrors __wp_can_reuse_large_anon_folio(): a write fault on a page of a
/// large folio that is not PageAnonExclusive reuses it only if more than
/// one page is mapped ("Let's just free up a large folio if only a single
/// page is mapped"), the MM-id shared bit is clear, and after freeing the
/// swap cache (which fails while some PTE still holds a swap entry of it)
/// every reference is a mapping of this mm (`folio_large_mapcount() ==
/// folio_ref_count()`). Unlike the order-0 path it does not move
/// `folio->mapping` (no folio_move_anon_rmap()).
pub fn wp_can_reuse_large_anon_folio(s: &mut State, ctx: &mut Ctx, folio: FolioId) -> bool {
    let f = &s.folios[folio as usize];
    let Some(l) = f.large.as_ref() else { return false };
    let ignore_shared = ctx.cfg.mutant == Some(crate::Mutant::LargeReuseIgnoresSharedBit);
    if f.mapcount <= 1 || (l.maybe_shared && !ignore_shared) {
        return false;
    }
    if f.swap.is_some() {
        if f.isolated {
            return false; // folio_trylock() fails: reclaim holds the lock.
        }
        crate::swapfile::folio_free_swap(s, ctx, folio);
    }
    let f = &s.folios[folio as usize];
    let reuse = f.mapcount == f.refcount;
    if reuse {
        ctx.took(Branch::WpReuseLargeFolio);
    }
    reuse
}

/// The aligned range of `1 << order` pages around `page`.
pub fn aligned(page: Page, order: u8) -> std::ops::Range<Page> {
    let nr = 1 << order;
    let a = page & !(nr - 1);
    a..a + nr
}
