//! Large anonymous folios (mTHP): the v6.18 accounting step by step, the
//! `mthp` configuration, the large-folio mutants, and symmetry with MM ids.

use rmapcheck::check::run_check;
use rmapcheck::settings::Settings;
use rmapcheck_model::canon::{normalize, representative};
use rmapcheck_model::{Config, Ids, Kernel, Mthp, Pte, State};
use rmapcheck_tests::{cfg, exec};
use std::hash::{DefaultHasher, Hash, Hasher};

fn mthp(kernel: Kernel, pages: u8) -> Config {
    Config { mthp: "16k".parse().unwrap(), ..cfg(kernel, pages) }
}

/// (per-page mapcounts, large mapcount, nr_pages_mapped, deferred, mm ids, maybe shared) of folio `f`.
type Counts = (Vec<u8>, u8, u8, bool, [Option<u8>; 2], bool);

fn counts(s: &State, f: usize) -> Counts {
    let folio = &s.folios[f];
    let l = folio.large.as_ref().expect("a large folio");
    let pages = l.pages.iter().map(|p| p.mapcount).collect();
    (pages, folio.mapcount, l.nr_pages_mapped, l.deferred, l.mm_id, l.maybe_shared)
}

#[test]
fn a_write_fault_maps_a_whole_16k_folio_and_fork_shares_it_per_page() {
    let c = mthp(Kernel::V6_18, 4);
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 2 5");
    for p in 0..4u8 {
        assert_eq!(s.mms[0].ptes[p as usize], Pte::Present { folio: 0, sub: p, writable: true, dirty: true });
    }
    assert_eq!(counts(&s, 0), (vec![1, 1, 1, 1], 4, 4, false, [Some(0), None], false));
    assert_eq!((s.reads(0, 2), s.reads(0, 0)), (5, 0));
    assert!((0..4).all(|p| s.folios[0].page_exclusive(p)));
    // Fork: every page loses PageAnonExclusive, the child takes MM-id slot 1.
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 2 5\nP0 fork");
    assert_eq!(counts(&s, 0), (vec![2, 2, 2, 2], 8, 4, false, [Some(0), Some(1)], true));
    assert!((0..4).all(|p| !s.folios[0].page_exclusive(p)));
    assert_eq!(s.folios[0].refcount, 8);
}

#[test]
fn unmapping_the_last_mapping_of_a_page_queues_the_folio_for_deferred_split() {
    let c = mthp(Kernel::V6_18, 4);
    // One process: munmap of a page leaves the folio partially mapped.
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 munmap 3 1");
    assert_eq!(counts(&s, 0), (vec![1, 1, 1, 0], 3, 3, true, [Some(0), None], false));
    // Two processes: the parent's munmap leaves page 3 mapped by the child.
    let base = "P0 mmap 0 4 rw\nP0 write 0 1\nP0 fork\nP0 munmap 3 1";
    let s = exec(&c, base);
    assert_eq!(counts(&s, 0), (vec![2, 2, 2, 1], 7, 4, false, [Some(0), Some(1)], true));
    let s = exec(&c, &format!("{base}\nP1 munmap 3 1"));
    assert_eq!(counts(&s, 0), (vec![2, 2, 2, 0], 6, 3, true, [Some(0), Some(1)], true));
    // The child exits: slot 1 is freed and slot 0 owns every mapping.
    let s = exec(&c, &format!("{base}\nP1 exit"));
    assert_eq!(counts(&s, 0), (vec![1, 1, 1, 0], 3, 3, true, [Some(0), None], false));
}

#[test]
fn the_deferred_split_maps_zero_filled_pages_to_the_zero_page() {
    let c = mthp(Kernel::V6_18, 4);
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 write 2 3\nP0 munmap 3 1\nkswapd split_deferred");
    let ptes = &s.mms[0].ptes;
    assert!(matches!(ptes[0], Pte::Present { sub: 0, writable: true, dirty: true, .. }));
    assert_eq!((ptes[1], ptes[3]), (Pte::Zero, Pte::None));
    assert!(matches!(ptes[2], Pte::Present { sub: 0, .. }));
    let Pte::Present { folio, .. } = ptes[0] else { unreachable!() };
    let f = &s.folios[folio as usize];
    // PG_dirty: try_to_migrate_one() moved the dirty PTEs to the folio.
    assert!(f.large.is_none() && f.dirty && f.anon_exclusive && f.mapcount == 1);
    assert_eq!(s.live_folios().count(), 2);
}

#[test]
fn cow_of_a_shared_folio_copies_one_page_and_reuse_needs_an_exclusive_mm() {
    let c = mthp(Kernel::V6_18, 4);
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 fork\nP1 write 1 2");
    assert!(matches!(s.mms[1].ptes[1], Pte::Present { folio: 1, sub: 0, .. }));
    assert_eq!(counts(&s, 0), (vec![2, 1, 2, 2], 7, 4, false, [Some(0), Some(1)], true));
    // The child gone, the parent reuses a page that fork made shared.
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 fork\nP1 exit\nP0 write 1 2");
    assert!(matches!(s.mms[0].ptes[1], Pte::Present { folio: 0, sub: 1, writable: true, .. }));
    assert!(s.folios[0].page_exclusive(1) && !s.folios[0].page_exclusive(0));
    // Only one page left mapped: copy, do not reuse.
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 fork\nP1 exit\nP0 munmap 1 3\nP0 write 0 2");
    assert!(matches!(s.mms[0].ptes[0], Pte::Present { folio: 1, .. }));
}

#[test]
fn a_whole_folio_swaps_out_and_in_whole_and_shared_slots_come_back_one_by_one() {
    let c = mthp(Kernel::V6_18, 4);
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 write 3 2\nP0 madv_pageout 0 4");
    let slots: Vec<_> = s.swap.iter().map(|sl| (sl.count, sl.run, sl.pos, sl.data)).collect();
    assert_eq!(slots, vec![(1, 4, 0, Some(1)), (1, 4, 1, Some(0)), (1, 4, 2, Some(0)), (1, 4, 3, Some(2))]);
    let s2 = rmapcheck_tests::apply(&c, &s, "P0 read 2").unwrap();
    assert_eq!(s2.live_folios().count(), 1);
    let (id, f) = s2.live_folios().next().unwrap();
    assert_eq!((f.order(), f.dirty, f.page_data(3)), (2, false, 2), "v6.18 leaves the bypass folio clean");
    assert!(s2.swap.iter().all(|sl| sl.free()));
    assert!(matches!(s2.mms[0].ptes[3], Pte::Present { folio, sub: 3, dirty: false, .. } if folio == id));
    // After fork every slot has count 2: the swap cache path, order 0.
    let s3 = exec(&c, "P0 mmap 0 4 rw\nP0 write 1 1\nP0 madv_pageout 0 4\nP0 fork\nP1 read 1");
    let Pte::Present { folio, .. } = s3.mms[1].ptes[1] else { panic!("{:?}", s3.mms[1].ptes[1]) };
    assert_eq!(s3.folios[folio as usize].order(), 0);
    assert!(matches!(s3.mms[1].ptes[0], Pte::Swap { .. }));
}

#[test]
fn madvise_splits_a_folio_it_cuts_but_leaves_a_shared_one() {
    let c = mthp(Kernel::V6_18, 4);
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 madv_free 0 2");
    assert!(s.live_folios().all(|(_, f)| f.large.is_none()));
    assert_eq!(s.mms[0].ptes[2], Pte::Zero);
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 fork\nP0 madv_free 0 2\nP0 madv_pageout 0 1");
    assert_eq!(counts(&s, 0), (vec![2, 2, 2, 2], 8, 4, false, [Some(0), Some(1)], true));
    assert!(s.folios[0].swapbacked);
    // Whole in the range a clean shared folio is marked lazyfree (v6.18).
    let s = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 fork\nP0 madv_free 0 4");
    assert!(s.folios[0].lazyfree() && s.folios[0].large.is_some());
}

#[test]
fn mthp_sizes_parse_and_order_0_is_the_default() {
    assert_eq!(Config::default().mthp, Mthp::none());
    assert_eq!("16k".parse::<Mthp>().unwrap().to_string(), "16k");
    assert_eq!("8k,16k".parse::<Mthp>().unwrap().orders_desc().collect::<Vec<_>>(), vec![2, 1]);
    assert!("32k".parse::<Mthp>().unwrap_err().contains("unknown mTHP size '32k'"));
    let e = Settings { mthp: Some("2M".into()), ..Settings::default() }.resolve().err().unwrap();
    assert!(e.contains("unknown mTHP size"), "{e}");
}

#[test]
fn symmetry_renames_the_processes_in_mm_id_slots() {
    let c = mthp(Kernel::V6_18, 4);
    // P1 and P2 are siblings; P1 holds MM-id slot 1, P2 none.
    let mut a = exec(&c, "P0 mmap 0 4 rw\nP0 write 0 1\nP0 fork\nP0 fork\nP1 munmap 3 1");
    normalize(&mut a, Ids::Canonical);
    // The same state with P1 and P2 renamed, MM-id slots included.
    let mut b = a.clone();
    b.mms.swap(1, 2);
    for l in b.folios.iter_mut().filter_map(|f| f.large.as_mut()) {
        l.mm_id.iter_mut().flatten().for_each(|p| *p = [0, 2, 1][*p as usize]);
    }
    assert_ne!(a, b);
    let h = |s: &State| {
        let mut x = DefaultHasher::new();
        s.hash(&mut x);
        x.finish()
    };
    a.symmetry = true;
    b.symmetry = true;
    assert_eq!(h(&a), h(&b));
    assert_eq!(representative(&a), representative(&b));
}

#[test]
fn the_mthp_configuration_holds_to_depth_6_through_the_large_folio_paths() {
    let over = Settings { max_depth: Some(6), ..Settings::default() };
    let r = run_check(&Settings::load("mthp").unwrap().overlay(over).resolve().unwrap(), false, None);
    assert_eq!(r.outcome, "holds within bounds");
    rmapcheck_tests::covered(
        &r,
        &[
            "do_anonymous_page: alloc_anon_folio large folio",
            "deferred_split_folio: partially mapped, queued",
            "__folio_split: large folio split",
            "remap_page: zero-filled page mapped to the zero page",
            "do_swap_page: alloc_swap_folio large folio",
            "shrink_folio_list: large folio to swap whole (THP_SWAP)",
            "madvise: large folio not fully in range split",
            "madvise: large folio not fully in range, maybe shared: left",
            "try_to_unmap_one: lazyfree large folio PTE batch discarded",
            "do_wp_page: __wp_can_reuse_large_anon_folio",
        ],
    );
}

#[test]
fn large_folio_mutants_are_caught_with_short_counterexamples_that_replay() {
    let shallow = || Settings { max_depth: Some(5), ..Settings::default() };
    rmapcheck_tests::mutant_caught("mthp", shallow(), "remove-rmap-skips-deferred-split", "deferred_split_queue", 3);
    // Reusing a page another process maps: PageAnonExclusive on a page
    // mapped twice.
    rmapcheck_tests::mutant_caught("mthp", shallow(), "large-reuse-ignores-shared-bit", "large_page_exclusive", 4);
}
