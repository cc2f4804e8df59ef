//! Reclaim, swap and MADV_FREE actions against outcomes worked out by hand
//! from mm/vmscan.c, mm/rmap.c, mm/memory.c, mm/swapfile.c, mm/madvise.c.

use rmapcheck_model::{Kernel, Mapping, Pte, SwapSlot};
use rmapcheck_tests::{apply, av_of, cfg, exec};

const V6: Kernel = Kernel::V6_18;

#[test]
fn madv_pageout_swaps_a_private_page_out_and_frees_the_folio() {
    let s = exec(&cfg(V6, 1), "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_pageout 0 1");
    // try_to_unmap_one(): the exclusive page leaves an exclusive swap entry.
    assert_eq!(s.mms[0].ptes[0], Pte::Swap { slot: 0, exclusive: true });
    // pageout() wrote the data, __remove_mapping() dropped the swap cache.
    assert_eq!(s.swap.as_slice(), [SwapSlot { count: 1, cache: None, data: Some(3), run: 1, pos: 0 }]);
    assert!(s.folios[0].freed);
    assert_eq!(s.reads(0, 0), 3);
}

#[test]
fn read_swap_in_of_a_slot_named_once_skips_the_swap_cache() {
    let s = exec(&cfg(V6, 1), "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_pageout 0 1\nP0 read 0");
    let Pte::Present { folio, sub: 0, writable, dirty } = s.mms[0].ptes[0] else { panic!("{:?}", s.mms[0].ptes[0]) };
    // A fresh folio is "certainly exclusive": writable on a VM_WRITE VMA,
    // clean because the fault was a read; the slot is freed.
    assert!(writable && !dirty);
    let f = &s.folios[folio as usize];
    assert!(f.anon_exclusive && f.swap.is_none() && !f.dirty);
    assert_eq!((f.mapcount, f.refcount, f.data), (1, 1, 3));
    assert_eq!(f.mapping, Mapping::Anon(av_of(&s, 0, 0)));
    assert!(s.swap[0].free());
}

#[test]
fn fork_shares_the_swap_entry_and_clears_the_exclusive_marker() {
    let s = exec(&cfg(V6, 1), "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_pageout 0 1\nP0 fork");
    for pid in 0..2 {
        assert_eq!(s.mms[pid].ptes[0], Pte::Swap { slot: 0, exclusive: false });
    }
    assert_eq!(s.swap[0].count, 2);
}

#[test]
fn swap_in_of_a_shared_slot_goes_through_the_swap_cache_and_keeps_the_root_rule() {
    let c = cfg(V6, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_pageout 0 1\nP0 fork\nP1 read 0");
    let Pte::Present { folio, sub: 0, writable: false, .. } = s.mms[1].ptes[0] else {
        panic!("{:?}", s.mms[1].ptes[0])
    };
    let f = &s.folios[folio as usize];
    // Not exclusive: mapping is the root (P0's anon_vma), not P1's own.
    assert_eq!(f.mapping, Mapping::Anon(av_of(&s, 0, 0)));
    assert!(!f.anon_exclusive);
    // Swap cache + P1's mapping; the slot is still named by P0.
    assert_eq!((f.mapcount, f.refcount, f.swap), (1, 2, Some(0)));
    assert_eq!(s.swap[0], SwapSlot { count: 1, cache: Some(folio), data: Some(3), run: 1, pos: 0 });
    // P0's swap-in hits the swap cache: the same folio, mapcount 2.
    let s = apply(&c, &s, "P0 read 0").unwrap();
    assert_eq!(s.mms[0].ptes[0], Pte::Present { folio, sub: 0, writable: false, dirty: false });
    assert_eq!((s.folios[folio as usize].mapcount, s.folios[folio as usize].refcount), (2, 3));
    assert_eq!(s.swap[0].count, 0);
    // A write by P1 copies; a write by P0 afterwards frees the swap cache
    // (wp_can_reuse_anon_folio -> folio_free_swap) and reuses the folio.
    let s = apply(&c, &s, "P1 write 0 4").unwrap();
    let s = apply(&c, &s, "P0 write 0 5").unwrap();
    assert_eq!(s.mms[0].ptes[0], Pte::Present { folio, sub: 0, writable: true, dirty: true });
    let f = &s.folios[folio as usize];
    assert!(f.anon_exclusive && f.swap.is_none() && f.dirty);
    assert!(s.swap[0].free());
}

#[test]
fn madv_pageout_skips_a_page_shared_after_fork() {
    let s = exec(&cfg(V6, 1), "P0 mmap 0 1 rw\nP0 write 0 3\nP0 fork\nP1 madv_pageout 0 1");
    assert!(matches!(s.mms[0].ptes[0], Pte::Present { .. }));
    assert!(matches!(s.mms[1].ptes[0], Pte::Present { .. }));
    assert!(s.swap.is_empty());
}

#[test]
fn kswapd_unmaps_every_pte_through_the_rmap_then_writes_back() {
    let c = cfg(V6, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 3\nP0 fork\nP1 reclaim 0");
    for pid in 0..2 {
        assert_eq!(s.mms[pid].ptes[0], Pte::Swap { slot: 0, exclusive: false });
    }
    // Isolated and locked: isolation + swap cache references, dirty.
    let f = &s.folios[0];
    assert!(f.isolated && f.dirty && !f.freed);
    assert_eq!((f.mapcount, f.refcount, f.swap), (0, 2, Some(0)));
    assert_eq!(s.swap[0], SwapSlot { count: 2, cache: Some(0), data: None, run: 1, pos: 0 });
    // A swap-in now sleeps on the folio lock; kswapd must finish first.
    assert!(apply(&c, &s, "P0 read 0").unwrap_err().contains("folio_lock_or_retry"));
    let s = apply(&c, &s, "kswapd writeback").unwrap();
    assert!(s.folios[0].freed);
    assert_eq!(s.swap[0], SwapSlot { count: 2, cache: None, data: Some(3), run: 1, pos: 0 });
}

#[test]
fn writeback_of_a_slot_nobody_names_frees_the_folio_unwritten() {
    let c = cfg(V6, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 3\nP0 reclaim 0\nP0 munmap 0 1");
    // free_swap_and_cache() could not take the locked folio.
    assert_eq!(s.swap[0], SwapSlot { count: 0, cache: Some(0), data: None, run: 1, pos: 0 });
    let s = apply(&c, &s, "kswapd writeback").unwrap();
    // swap_writepage(): folio_free_swap() succeeds, nothing is written.
    assert!(s.folios[0].freed);
    assert!(s.swap[0].free() && s.swap[0].data.is_none());
}

#[test]
fn madv_free_makes_a_private_page_lazyfree_and_reclaim_discards_it() {
    let c = cfg(V6, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_free 0 1");
    assert_eq!(s.mms[0].ptes[0], Pte::Present { folio: 0, sub: 0, writable: true, dirty: false });
    assert!(s.folios[0].lazyfree());
    let s = apply(&c, &s, "P0 madv_pageout 0 1").unwrap();
    assert_eq!(s.mms[0].ptes[0], Pte::None);
    assert!(s.folios[0].freed && s.swap.is_empty());
    assert_eq!(s.reads(0, 0), 0);
}

#[test]
fn a_write_after_madv_free_makes_the_folio_swap_backed_again_at_reclaim() {
    let c = cfg(V6, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_free 0 1\nP0 write 0 4\nP0 madv_pageout 0 1");
    // try_to_unmap_one() found the dirty PTE: restored, folio_set_swapbacked().
    assert_eq!(s.mms[0].ptes[0], Pte::Present { folio: 0, sub: 0, writable: true, dirty: true });
    let f = &s.folios[0];
    assert!(f.swapbacked && f.dirty && !f.lazyfree());
    assert_eq!(s.reads(0, 0), 4);
}

#[test]
fn madv_free_drops_swap_entries_and_leaves_dirty_shared_folios() {
    let c = cfg(V6, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_pageout 0 1\nP0 madv_free 0 1");
    assert_eq!(s.mms[0].ptes[0], Pte::None);
    assert!(s.swap[0].free());
    // A dirty folio mapped twice keeps PG_dirty and PG_swapbacked.
    // (The swap-cache folio becomes PG_dirty when the write frees its swap.)
    let script =
        "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_pageout 0 1\nP0 fork\nP0 read 0\nP1 exit\nP0 write 0 5\nP0 fork";
    let s = exec(&c, script);
    let Pte::Present { folio, .. } = s.mms[0].ptes[0] else { panic!() };
    assert!(s.folios[folio as usize].dirty && s.folios[folio as usize].mapcount == 2);
    let s = apply(&c, &s, "P0 madv_free 0 1").unwrap();
    assert!(s.folios[folio as usize].swapbacked && s.folios[folio as usize].dirty);
}

#[test]
fn a_full_swap_device_keeps_the_folio() {
    use rmapcheck_model::Config;
    let c = Config { swap_slots: 1, ..cfg(V6, 2) };
    let s = exec(&c, "P0 mmap 0 2 rw\nP0 write 0 3\nP0 write 1 4\nP0 madv_pageout 0 2");
    assert!(matches!(s.mms[0].ptes[0], Pte::Swap { .. }));
    let Pte::Present { folio, .. } = s.mms[0].ptes[1] else { panic!("{:?}", s.mms[0].ptes[1]) };
    assert!(!s.folios[folio as usize].freed && s.folios[folio as usize].swap.is_none());
}

#[test]
fn a_bypassed_swap_in_is_clean_under_v6_18_and_dirty_under_the_partial_fix() {
    let script = "P0 mmap 0 1 rw\nP0 write 0 3\nP0 madv_pageout 0 1\nP0 read 0";
    for (kernel, dirty) in [(V6, false), (Kernel::V6_18SwapinBypassDirty, true)] {
        let s = exec(&cfg(kernel, 1), script);
        let Pte::Present { folio, dirty: pte_dirty, .. } = s.mms[0].ptes[0] else { panic!() };
        assert!(!pte_dirty, "{kernel}: a read fault maps a clean PTE");
        assert_eq!(s.folios[folio as usize].dirty, dirty, "{kernel}");
    }
}

#[test]
fn madv_free_of_a_clean_shared_folio_lazyfrees_it_under_v6_18_only() {
    // The zram trigger up to the MADV_FREE: a clean folio under clean PTEs,
    // mapped by parent and child.
    let script = "P0 mmap 0 1 rw\nP0 write 0 7\nP0 madv_pageout 0 1\nP0 read 0\nP0 fork\nP0 madv_free 0 1";
    for (kernel, lazyfree) in [(V6, true), (Kernel::V6_18MadvFreeSkipsShared, false)] {
        let s = exec(&cfg(kernel, 1), script);
        let Pte::Present { folio, .. } = s.mms[1].ptes[0] else { panic!() };
        let f = &s.folios[folio as usize];
        assert_eq!((f.mapcount, f.dirty), (2, false), "{kernel}");
        assert_eq!(!f.swapbacked, lazyfree, "{kernel}");
    }
    // Mapped once, the fixed variant still makes it lazyfree: MADV_FREE's
    // contract for the caller's own data is unchanged.
    let s = exec(&cfg(Kernel::V6_18MadvFreeSkipsShared, 1), "P0 mmap 0 1 rw\nP0 write 0 7\nP0 madv_free 0 1");
    let Pte::Present { folio, .. } = s.mms[0].ptes[0] else { panic!() };
    assert!(!s.folios[folio as usize].swapbacked);
}
