//! Whole checker runs: the default configuration holds, broken models are
//! caught with short counterexamples that replay, bounded runs say so.

use rmapcheck::check::run_check;
use rmapcheck::settings::{Plan, Settings};
use rmapcheck_tests::covered;

fn plan(over: Settings) -> Plan {
    Settings::load("default").unwrap().overlay(over).resolve().unwrap()
}

fn anon(over: Settings) -> Plan {
    Settings::load("anon").unwrap().overlay(over).resolve().unwrap()
}

/// Unique and generated states of the built-in configurations this file
/// runs whole, as `rmapcheck check --config NAME` printed them before the
/// search strategies were moved onto one explorer. The model did not
/// change, so neither may they (`ksm` and `cve-2022-42703` are pinned in
/// their own test files). `lazyfree` runs on `v6.18-madvfree-skips-shared`
/// since that variant replaced `v6.18-swapin-dirty` there (2,944,668 unique,
/// 47,233,186 generated before).
const PINNED: [(&str, usize, usize); 3] =
    [("default", 1_453_794, 20_669_364), ("vma", 707_565, 17_614_534), ("lazyfree", 2_319_080, 36_851_967)];

fn pinned(name: &str, r: &rmapcheck::report::Report) {
    let &(_, unique, generated) = PINNED.iter().find(|(n, _, _)| *n == name).expect("a pinned configuration");
    assert_eq!((r.unique_states, r.states), (unique, generated), "{name}: unique and generated states changed");
    // The seen set stores fingerprints only (docs/storage.md).
    let seen = r.storage.expect("bfs reports its storage").seen_bytes;
    assert!(seen <= 16 * unique as u64, "{name}: seen set of {seen} bytes for {unique} states");
}

#[test]
fn the_default_configuration_holds_exhaustively() {
    let p = plan(Settings::default());
    let r = run_check(&p, false, None);
    assert_eq!(r.outcome, "holds");
    assert!(r.complete);
    assert!(r.invariants.iter().all(|v| v.verdict == "holds"));
    // Exactly the figures of the order-0 model: large folios (mTHP) are off
    // by default and change nothing here.
    pinned("default", &r);
    // Every action kind of the configuration ran, and reclaim and swap-in
    // went through their kernel branches.
    let on = p.model.actions.names();
    assert!(r.coverage.actions.iter().filter(|(n, _)| on.contains(&n.as_str())).all(|(_, n)| *n > 0));
    covered(
        &r,
        &[
            "do_wp_page: wp_page_copy from a shared folio",
            "anon_vma_clone: reuse an anon_vma",
            "try_to_unmap_one: PTE -> swap entry",
            "do_swap_page: swap-cache hit",
            "do_swap_page: SWP_SYNCHRONOUS_IO, swap cache skipped",
            "do_swap_page: read into the swap cache",
            "copy_nonpresent_pte: share a swap entry",
            "swap_writepage: folio_free_swap, nothing written",
            "__remove_mapping: swap-cache folio freed",
            "madvise_cold_or_pageout_pte_range: shared folio skipped",
        ],
    );
}

#[test]
fn the_vma_configuration_holds_and_splits_merges_and_moves() {
    let r = run_check(&Settings::load("vma").unwrap().resolve().unwrap(), false, None);
    assert_eq!(r.outcome, "holds");
    pinned("vma", &r);
    covered(
        &r,
        &[
            "do_wp_page: wp_can_reuse_anon_folio + folio_move_anon_rmap",
            "__split_vma",
            "__put_anon_vma: anon_vma_free",
            "vma_merge_existing_range: merge",
            "vma_merge_new_range: merge",
            "dup_anon_vma: unfaulted target takes the chain",
            "anon_vma_merge: removed faulted VMA unlinked",
            "copy_vma: new VMA, chain cloned",
            "dontunmap_complete: source unlinked",
            "change_protection: exclusive anon PTE made writable",
        ],
    );
}

#[test]
fn v6_18_madv_free_loses_a_clean_shared_page_and_the_fix_holds() {
    // Every action, MADV_FREE included: v6.18 discards a page the child
    // never freed (README, "Found in the kernel"), in seven steps.
    let v6_18 = Settings { kernel: Some("v6.18".into()), procs: Some(2), ..Settings::default() };
    let p = Settings::load("lazyfree").unwrap().overlay(v6_18).resolve().unwrap();
    let r = run_check(&p, false, None);
    assert_eq!(r.outcome, "violated");
    let cx = &r.counterexamples[0];
    assert_eq!((cx.invariant, cx.steps.len()), ("memory_semantics", 7), "{:?}", cx.steps);
    // The root-cause fix (madvise_free_pte_range() skips every folio that
    // may be mapped by more than one process) holds on the whole lazyfree
    // configuration.
    let r = run_check(&Settings::load("lazyfree").unwrap().resolve().unwrap(), false, None);
    assert_eq!(r.outcome, "holds");
    assert!(r.complete);
    pinned("lazyfree", &r);
    covered(
        &r,
        &[
            "madvise_free_pte_range: folio_mark_lazyfree",
            "madvise_free_pte_range: swap entry dropped",
            "try_to_unmap_one: lazyfree PTE discarded",
            "try_to_unmap_one: lazyfree folio redirtied",
            "shrink_folio_list: lazyfree folio freed",
        ],
    );
}

#[test]
fn each_mutant_is_caught_with_a_short_counterexample_that_replays() {
    let cases = [
        ("keep-exclusive-on-fork", "exclusive_single_mapping", 3),
        ("keep-parent-writable-on-fork", "writable_exclusive", 3),
        ("shared-folio-to-child-anon-vma", "rmap_complete", 3),
        ("fork-skips-root-ref", "anon_vma_refcount", 3),
        ("swapin-shared-exclusive", "exclusive_swap_entry", 5),
    ];
    for (mutant, inv, len) in cases {
        // The scenario file names the mutant and replays; without it, in
        // the correct model, the same steps hold.
        let small = Settings { procs: Some(3), pages: Some(1), ..Settings::default() };
        rmapcheck_tests::mutant_caught("default", small, mutant, inv, len);
    }
}

#[test]
fn four_processes_reach_anon_vma_reuse() {
    // Reuse needs a grandchild whose parent has exited: P0 -> P1 -> P2, P1
    // exits, P2 forks P3. Three processes cannot get there.
    let r = run_check(&anon(Settings { procs: Some(4), pages: Some(1), ..Settings::default() }), false, None);
    assert_eq!(r.outcome, "holds");
    let reuse = r.coverage.branches.iter().find(|(n, _)| n == "anon_vma_clone: reuse an anon_vma").unwrap();
    assert!(reuse.1 > 0);
}

#[test]
fn canonical_ids_and_symmetry_each_shrink_the_state_space() {
    let small = Settings { procs: Some(3), pages: Some(1), ..Settings::default() };
    let both = run_check(&plan(small.clone()), false, None).unique_states;
    let canon = run_check(&plan(Settings { symmetry: Some(false), ..small.clone() }), false, None).unique_states;
    let none = run_check(&plan(Settings { symmetry: Some(false), ids: Some("compact".into()), ..small }), false, None)
        .unique_states;
    assert!(both < canon && canon < none, "symmetry {both}, canonical {canon}, neither {none}");
}

#[test]
fn bounded_searches_say_they_are_incomplete() {
    let r = run_check(&plan(Settings { max_depth: Some(4), ..Settings::default() }), false, None);
    assert_eq!(r.outcome, "holds within bounds");
    assert!(!r.complete);
    assert_eq!(r.max_depth, 4);
    assert!(r.stopped_by.as_deref().unwrap().contains("depth bound of 4"));
    assert!(r.invariants.iter().all(|v| v.verdict == "holds within bounds"));
    // A space too big for the memory budget stops with a report, not the OOM
    // killer. The default needs about 65 MiB with the compact storage
    // (docs/storage.md), so a 30 MiB budget is passed within seconds.
    let r = run_check(&plan(Settings { procs: Some(4), max_memory: Some(30), ..Settings::default() }), false, None);
    assert_eq!(r.outcome, "holds within bounds");
    assert!(r.stopped_by.as_deref().unwrap().contains("memory budget of 30 MiB"), "{:?}", r.stopped_by);
}

#[test]
fn dfs_simulation_and_swarm_find_the_same_bug() {
    for strategy in ["dfs", "simulate", "swarm"] {
        // Without reclaim: with swap, a random walk may first hit the BUG_ON
        // the broken fork makes do_swap_page() fire.
        let p = anon(Settings {
            procs: Some(3),
            pages: Some(1),
            mutant: Some("keep-exclusive-on-fork".into()),
            strategy: Some(strategy.into()),
            time_limit: Some(30),
            max_depth: Some(10),
            seed: Some(7),
            ..Settings::default()
        });
        let r = run_check(&p, false, None);
        assert_eq!(r.outcome, "violated", "{strategy}");
        assert_eq!(r.counterexamples[0].invariant, "exclusive_single_mapping");
        if strategy == "swarm" {
            // Shrinking leaves no action that can go: mmap, write, fork.
            assert_eq!(r.counterexamples[0].steps.len(), 3, "{:?}", r.counterexamples[0].steps);
        }
    }
}

#[test]
fn v5_19_holds_at_small_bounds_where_the_double_reuse_is_out_of_reach() {
    // The double reuse needs six processes; with three every invariant holds
    // under both variants, and the v5.19 degree accounting is checked (I7).
    let r =
        run_check(&plan(Settings { kernel: Some("v5.19".into()), procs: Some(3), ..Settings::default() }), false, None);
    assert_eq!(r.outcome, "holds");
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    let bad = [
        (Settings { procs: Some(0), ..Settings::default() }, "procs must be between 1 and 8"),
        (Settings { kernel: Some("v2.6".into()), ..Settings::default() }, "unknown kernel variant 'v2.6'"),
        (Settings { invariants: Some(vec!["I99".into()]), ..Settings::default() }, "unknown invariant 'I99'"),
        (Settings { actions: Some(vec!["teleport".into()]), ..Settings::default() }, "unknown action 'teleport'"),
        (Settings { strategy: Some("simulate".into()), ..Settings::default() }, "give --time-limit"),
        (Settings { mutant: Some("nope".into()), ..Settings::default() }, "unknown mutant 'nope'"),
        (Settings { ids: Some("compact".into()), ..Settings::default() }, "process symmetry works on canonical ids"),
        (Settings { max_depth: Some(0), ..Settings::default() }, "max depth must be between 1 and 1000000, got 0"),
        (Settings { max_memory: Some(0), ..Settings::default() }, "max memory must be between 1 and"),
        (Settings { max_depth: Some(usize::MAX), ..Settings::default() }, "max depth must be between 1 and 1000000"),
        (Settings { time_limit: Some(u64::MAX), ..Settings::default() }, "time limit must be between 1 and"),
        (Settings { max_memory: Some(u64::MAX), ..Settings::default() }, "max memory must be between 1 and"),
        (Settings { invariants: Some(Vec::new()), ..Settings::default() }, "the invariant list is empty"),
    ];
    for (s, want) in bad {
        let err = Settings::load("default").unwrap().overlay(s).resolve().err().expect(want);
        assert!(err.contains(want), "got {err:?}, want {want:?}");
    }
}
