//! KSM: madvise(MADV_MERGEABLE/UNMERGEABLE), ksmd merge and drop,
//! rmap_walk_ksm(), against outcomes worked out by hand from mm/ksm.c,
//! mm/memory.c and mm/rmap.c; the `ksm` configuration and the KSM mutants.

use rmapcheck::check::run_check;
use rmapcheck::run::run_text;
use rmapcheck::settings::Settings;
use rmapcheck_model::{Action, ActionKind, ActionSet, Kernel, Mapping, Pte, RmapItem};
use rmapcheck_tests::{apply, cfg, exec};

const V6: Kernel = Kernel::V6_18;
const MERGED: &str = "P0 mmap 0 2 rw\nP0 madv_mergeable 0 2\nP0 write 0 5\nP0 write 1 5\nksmd merge P0 0 P0 1";

#[test]
fn ksmd_merges_two_equal_pages_of_one_process() {
    let s = exec(&cfg(V6, 2), MERGED);
    // The scanned page's frame F0 became the KSM page; F1 was replaced.
    for p in 0..2 {
        assert_eq!(s.mms[0].ptes[p], Pte::Present { folio: 0, sub: 0, writable: false, dirty: false });
    }
    let f = &s.folios[0];
    assert_eq!(f.mapping, Mapping::Ksm(0));
    assert!(!f.anon_exclusive && f.dirty, "write_protect_page() shares it; KSM pages are PG_dirty");
    assert_eq!((f.mapcount, f.refcount), (2, 2));
    assert!(s.folios[1].freed);
    let node = &s.stable_nodes[0];
    assert_eq!(node.kpfn, Some(0));
    assert_eq!(
        node.items,
        vec![
            RmapItem { mm: 0, address: 0, anon_vma: 0, unmapped: false },
            RmapItem { mm: 0, address: 1, anon_vma: 0, unmapped: false }
        ]
    );
    // The tree's reference plus one get_anon_vma() per rmap_item.
    assert_eq!(s.anon_vmas[0].refcount, 3);
    assert!(s.mms[0].vmas[0].mergeable);
}

#[test]
fn a_write_copies_a_ksm_page_even_its_last_mapping() {
    let c = cfg(V6, 2);
    let s = exec(&c, &format!("{MERGED}\nP0 write 1 6"));
    assert_eq!((s.folios[0].mapcount, s.folios[0].mapping), (1, Mapping::Ksm(0)));
    let s = apply(&c, &s, "P0 write 0 7").unwrap();
    let Pte::Present { folio, sub: 0, writable: true, .. } = s.mms[0].ptes[0] else { panic!("{:?}", s.mms[0].ptes[0]) };
    assert_ne!(folio, 0);
    assert!(s.folios[0].freed, "the KSM frame went with its last mapping");
    // The stable node is stale and its rmap_items still pin AV0 until ksmd passes.
    assert_eq!(s.stable_nodes[0].kpfn, None);
    assert_eq!(s.anon_vmas[0].refcount, 3);
    let s = apply(&c, &s, "ksmd drop P0 1").unwrap();
    assert!(s.stable_nodes[0].freed, "remove_node_from_stable_tree() drops every rmap_item");
    assert_eq!(s.anon_vmas[0].refcount, 1);
}

#[test]
fn the_child_s_cow_copy_merges_with_the_parent_s_page() {
    let s = exec(
        &cfg(V6, 1),
        "P0 mmap 0 1 rw\nP0 madv_mergeable 0 1\nP0 write 0 3\nP0 fork\nP1 write 0 3\nksmd merge P1 0 P0 0",
    );
    // P1's copy F1 survives; each side's rmap_item pins its own anon_vma.
    assert_eq!(s.mms[0].ptes[0], Pte::Present { folio: 1, sub: 0, writable: false, dirty: false });
    assert_eq!(s.mms[1].ptes[0], Pte::Present { folio: 1, sub: 0, writable: false, dirty: false });
    assert!(s.folios[0].freed);
    let av1 = s.mms[1].vmas[0].anon_vma.unwrap();
    assert_eq!(
        s.stable_nodes[0].items,
        vec![
            RmapItem { mm: 0, address: 0, anon_vma: 0, unmapped: false },
            RmapItem { mm: 1, address: 0, anon_vma: av1, unmapped: false }
        ]
    );
}

#[test]
fn kswapd_unmaps_a_forked_ksm_page_through_the_parent_s_rmap_items() {
    let c = cfg(V6, 2);
    // The child has no rmap_item: rmap_walk_ksm() reaches it through AV0
    // in the search_new_forks pass.
    let s = exec(&c, &format!("{MERGED}\nP0 fork\nP1 reclaim 0"));
    for pid in 0..2 {
        for p in 0..2 {
            assert!(matches!(s.mms[pid].ptes[p], Pte::Swap { exclusive: false, .. }), "P{pid} page {p}");
        }
    }
    let s = apply(&c, &s, "kswapd writeback").unwrap();
    assert!(s.folios[0].freed);
    assert_eq!(s.reads(1, 1), 5);
}

#[test]
fn an_exited_mm_s_rmap_item_keeps_its_anon_vma_until_ksmd_drops_it() {
    let c = cfg(V6, 1);
    let script =
        "P0 mmap 0 1 rw\nP0 madv_mergeable 0 1\nP0 write 0 3\nP0 fork\nP1 write 0 3\nksmd merge P1 0 P0 0\nP1 exit";
    let s = exec(&c, script);
    let av1 = 1;
    assert!(!s.anon_vmas[av1].freed, "pinned by P1's rmap_item");
    assert_eq!((s.anon_vmas[av1].refcount, s.tree_len(av1 as u8)), (1, 0));
    // Not stale yet for P0: its PTE still maps the KSM page.
    assert!(apply(&c, &s, "ksmd drop P0 0").unwrap_err().contains("not stale"));
    let s = apply(&c, &s, "ksmd drop P1 0").unwrap();
    assert!(s.anon_vmas[av1].freed);
    assert_eq!(s.anon_vmas[0].refcount, 2, "AV0: tree + P0's rmap_item (AV1's root pin went)");
}

#[test]
fn madv_unmergeable_breaks_every_ksm_page_with_an_unshare_fault() {
    let s = exec(&cfg(V6, 2), &format!("{MERGED}\nP0 madv_unmergeable 0 2"));
    for p in 0..2 {
        let Pte::Present { folio, sub: 0, writable, dirty } = s.mms[0].ptes[p] else { panic!() };
        // FAULT_FLAG_UNSHARE: an exclusive copy, but the PTE stays read-only;
        // dirty as the live kernel shows it (smaps), PG_dirty clear.
        assert!(!writable && dirty);
        assert!(!s.folios[folio as usize].dirty);
        let f = &s.folios[folio as usize];
        assert!(f.anon_exclusive && matches!(f.mapping, Mapping::Anon(0)));
    }
    assert!(s.folios[0].freed && s.stable_nodes[0].kpfn.is_none());
    assert!(!s.mms[0].vmas[0].mergeable);
}

#[test]
fn mremap_breaks_ksm_pages_before_moving_them() {
    let s = exec(&cfg(V6, 4), &format!("{MERGED}\nP0 mremap 0 2 2"));
    assert!(s.folios[0].freed);
    for p in 2..4 {
        let Pte::Present { folio, .. } = s.mms[0].ptes[p] else { panic!() };
        assert!(s.folios[folio as usize].mapping.stable_node().is_none());
        assert_eq!(s.reads(0, p as u8), 5);
    }
    assert!(s.mms[0].vmas[0].mergeable, "the flags copy was unmerged, not the VMA");
}

#[test]
fn madv_mergeable_of_part_of_a_vma_splits_it_and_unmergeable_merges_it_back() {
    let c = cfg(V6, 2);
    let s = exec(&c, "P0 mmap 0 2 rw\nP0 madv_mergeable 1 1");
    assert_eq!(s.mms[0].vmas.len(), 2);
    assert!(!s.mms[0].vmas[0].mergeable && s.mms[0].vmas[1].mergeable);
    let s = apply(&c, &s, "P0 madv_unmergeable 1 1").unwrap();
    assert_eq!(s.mms[0].vmas.len(), 1);
}

#[test]
fn merges_ksmd_would_not_make_are_refused() {
    let c = cfg(V6, 2);
    let unequal = exec(&c, "P0 mmap 0 2 rw\nP0 madv_mergeable 0 2\nP0 write 0 5\nP0 write 1 6");
    assert!(apply(&c, &unequal, "ksmd merge P0 0 P0 1").unwrap_err().contains("differ"));
    let plain = exec(&c, "P0 mmap 0 2 rw\nP0 write 0 5\nP0 write 1 5");
    assert!(apply(&c, &plain, "ksmd merge P0 0 P0 1").unwrap_err().contains("VM_MERGEABLE"));
    let merged = exec(&c, MERGED);
    assert!(apply(&c, &merged, "ksmd merge P0 1 P0 0").unwrap_err().contains("already in stable_node0"));
    assert!(apply(&c, &merged, "ksmd drop P0 0").unwrap_err().contains("not stale"));
}

#[test]
fn ksmd_actions_parse_and_print_with_clear_errors() {
    for text in ["ksmd merge P0 0 P1 1", "ksmd drop P2 3", "P1 madv_mergeable 0 2", "P0 madv_unmergeable 1 1"] {
        assert_eq!(Action::parse(text).unwrap().to_string(), text);
    }
    let bad = [
        ("ksmd merge P0 0", "'ksmd merge' takes 4 arguments (P A Q B), got 2"),
        ("ksmd drop P0", "'ksmd drop' takes 2 arguments (P A), got 1"),
        ("ksmd scan P0 0", "'scan' is not a ksmd action"),
        ("ksmd merge Q0 0 P1 0", "'Q0' is not a process"),
        ("ksmd drop P0 x", "'x' is not a valid page"),
        ("P0 merge 0 P1 0", "merge is ksmd's, not P0's"),
        ("ksmd", "'ksmd' needs an action"),
    ];
    for (text, want) in bad {
        let err = Action::parse(text).unwrap_err();
        assert!(err.starts_with(want), "{text}: got {err:?}, want {want:?}");
    }
}

#[test]
fn ksm_kinds_are_opt_in() {
    let all = ActionSet::all();
    for k in ActionKind::KSM {
        assert!(!all.contains(k) && ActionSet::every().contains(k), "{k:?}");
    }
}

#[test]
fn the_ksm_configuration_holds_exhaustively() {
    let p = Settings::load("ksm").unwrap().resolve().unwrap();
    let r = run_check(&p, false, None);
    assert_eq!(r.outcome, "holds");
    assert!(r.complete);
    // As `rmapcheck check --config ksm` printed them before the strategies
    // shared one explorer: unique and generated states.
    assert_eq!((r.unique_states, r.states), (730_420, 6_600_636));
    let on = p.model.actions.names();
    assert!(r.coverage.actions.iter().filter(|(n, _)| on.contains(&n.as_str())).all(|(_, n)| *n > 0));
    rmapcheck_tests::covered(
        &r,
        &[
            "try_to_merge_two_pages: new KSM page",
            "try_to_merge_with_ksm_page: replace_page into a stable node",
            "cmp_and_merge_page: KSM page forked, rmap_item appended",
            "write_protect_page: PTE write-protected, exclusive cleared",
            "remove_rmap_item_from_tree: put_anon_vma",
            "remove_node_from_stable_tree: stale stable node",
            "do_wp_page: KSM page copied (COW_KSM)",
            "rmap_walk_ksm: PTE found in a forked mm (search_new_forks)",
            "__put_anon_vma: root freed too",
        ],
    );
}

#[test]
fn the_kernel_breaks_ksm_rmap_completeness_when_a_page_shared_with_a_parent_merges() {
    let over = Settings { invariants: Some(vec!["ksm_rmap_complete".into()]), ..Settings::default() };
    let p = Settings::load("ksm").unwrap().overlay(over).resolve().unwrap();
    let r = run_check(&p, false, None);
    assert_eq!(r.outcome, "violated");
    let cx = &r.counterexamples[0];
    assert_eq!((cx.invariant, cx.steps.len()), ("ksm_rmap_complete", 6), "{:?}", cx.steps);
    // The correct model reaches the same verdict: it is the kernel's behaviour.
    let replay = run_text(&cx.scenario, "cx", false).unwrap();
    assert!(replay.passed, "{}", replay.output);
}

#[test]
fn ksm_mutants_are_caught_with_short_counterexamples_that_replay() {
    let cases = [
        ("ksm-item-skips-anon-vma-pin", "anon_vma_refcount", 5),
        ("ksm-reuse-in-place", "exclusive_single_mapping", 7),
    ];
    for (mutant, inv, len) in cases {
        rmapcheck_tests::mutant_caught("ksm", Settings::default(), mutant, inv, len);
    }
}

#[test]
fn mremap_can_move_a_ksm_page_onto_a_stale_rmap_item_which_i34_then_leaves_alone() {
    // The I34 flake of tests/tests/random.rs, as
    // scenarios/ksm-mremap-onto-stale-rmap-item.rmap: P1's page 2 maps the
    // KSM page from a VMA without VM_MERGEABLE, so mremap moves it unbroken
    // onto page 0, whose rmap_item (P1@0, pinning AV1) outlived its VMA.
    let script = "P0 mmap 0 3 rw\nP0 write 0 1\nP0 write 2 1\nP0 madv_mergeable 0 1\nP0 fork\n\
                  P0 madv_mergeable 2 1\nksmd merge P0 2 P0 0\nksmd merge P1 0 P0 0\nP1 mremap 2 1 0";
    let s = exec(&cfg(V6, 3), script);
    let node = s.stable_nodes.iter().find(|n| !n.freed).expect("a live stable node");
    let kpfn = node.kpfn.expect("the KSM page");
    let item = *node.items.iter().find(|r| r.mm == 1 && r.address == 0).expect("P1@0");
    assert!(item.unmapped, "munmap of P1's page 0 marks its rmap_item");
    assert!(matches!(s.mms[1].ptes[0], Pte::Present { folio, .. } if folio == kpfn), "the KSM page moved to page 0");
    let vi = s.mms[1].vma_index(0).unwrap();
    assert!(!s.mms[1].vmas[vi].chain.contains(&item.anon_vma), "AV{} does not reach the new VMA", item.anon_vma);
    assert!(!s.mms[1].vmas[vi].mergeable);
    let i34 = rmapcheck_invariants::find("I34").unwrap();
    assert!((i34.check)(&s, V6).is_ok());
    // Without the ghost the same state violates I34: the flake.
    let mut stale = s.clone();
    stale.stable_nodes.iter_mut().flat_map(|n| n.items.iter_mut()).for_each(|r| r.unmapped = false);
    assert!((i34.check)(&stale, V6).unwrap_err().contains("rmap_item P1@0 AV1 does not reach its own PTE"));
    // ksmd may drop it: the VMA at page 0 is not VM_MERGEABLE.
    assert!(apply(&cfg(V6, 3), &s, "ksmd drop P1 0").is_ok());
}
