//! KSM zero pages (model/src/ksm_zero.rs, docs/kernel/ksm.md §8) and
//! prctl(PR_SET_MEMORY_MERGE) (model/src/ksm_prctl.rs, §7).

use rmapcheck::check::run_check;
use rmapcheck::run::run_text;
use rmapcheck::settings::Settings;
use rmapcheck_model::{ActionKind, ActionSet, Config, Kernel, Pte};
use rmapcheck_tests::{cfg, exec};

fn zero_cfg() -> Config {
    Config { use_zero_pages: true, ..cfg(Kernel::V6_18, 4) }
}

#[test]
fn zero_filled_pages_become_counted_ksm_zero_pages_and_unmerge_counts_them_out() {
    let c = zero_cfg();
    let merged = "P0 mmap 0 2 rw\nP0 madv_mergeable 0 2\nP0 write 0 0\nP0 write 1 0\n\
                  ksmd merge P0 0 zero\nksmd merge P0 1 zero";
    let s = exec(&c, merged);
    assert_eq!(
        (s.mms[0].ptes[0], s.mms[0].ptes[1], s.mms[0].ksm_zero, s.mms[0].ksm_zero_pages),
        (Pte::Zero, Pte::Zero, 3, 2)
    );
    assert!(s.live_folios().next().is_none(), "the zero-filled folios are freed");
    // MADV_UNMERGEABLE: break_ksm() gives page 0 a private zeroed copy.
    let s = exec(&c, &format!("{merged}\nP0 madv_unmergeable 0 1"));
    assert!(matches!(s.mms[0].ptes[0], Pte::Present { writable: false, .. }));
    assert_eq!((s.mms[0].ksm_zero, s.mms[0].ksm_zero_pages), (2, 1));
    // fork copies the PTE and the count; the child's munmap counts its own out.
    let s = exec(&Config { procs: 2, ..c.clone() }, &format!("{merged}\nP0 fork\nP1 munmap 0 2"));
    assert_eq!((s.mms[0].ksm_zero_pages, s.mms[1].ksm_zero_pages), (2, 0));
    // Without use_zero_pages no zero merge exists, and two zero-filled pages
    // merge with each other like any equal pages.
    let plain = cfg(Kernel::V6_18, 4);
    assert!(rmapcheck_tests::apply(
        &plain,
        &exec(&plain, "P0 mmap 0 2 rw\nP0 madv_mergeable 0 2\nP0 write 0 0"),
        "ksmd merge P0 0 zero"
    )
    .is_err());
}

#[test]
fn prctl_merge_flags_every_vma_now_and_later_and_fork_keeps_it() {
    let c = Config { procs: 2, ..cfg(Kernel::V6_18, 4) };
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 mmap 2 1 rw shared\nP0 prctl_merge 1\nP0 mmap 3 1 rw\nP0 fork");
    let vmas = |p: usize| s.mms[p].vmas.iter().map(|v| (v.start, v.mergeable)).collect::<Vec<_>>();
    // The shared VMA is not KSM-compatible.
    assert_eq!(vmas(0), [(0, true), (2, false), (3, true)]);
    assert_eq!(vmas(1), vmas(0));
    assert!(s.mms[0].merge_any && s.mms[1].merge_any);
    let s = exec(&c, "P0 mmap 0 2 rw\nP0 prctl_merge 1\nP0 prctl_merge 0");
    assert!(!s.mms[0].merge_any && !s.mms[0].vmas[0].mergeable);
    assert!(!ActionSet::all().contains(ActionKind::PrctlMerge));
}

/// About 0.3 s: the built-in `ksm-zero` to depth 6 holds and maps KSM zero pages.
#[test]
fn the_ksm_zero_configuration_holds_to_depth_6() {
    let over = Settings { max_depth: Some(6), ..Settings::default() };
    let r = run_check(&Settings::load("ksm-zero").unwrap().overlay(over).resolve().unwrap(), false, None);
    assert_eq!(r.outcome, "holds within bounds");
    rmapcheck_tests::covered(&r, &["try_to_merge_with_zero_page: KSM zero page"]);
}

/// About 0.2 s: with uffd_move the checker finds the kernel's count leak
/// (findings/uffd-move-ksm-zero-pages-count.md) in 5 steps, and its
/// counterexample replays.
#[test]
fn uffd_move_of_a_ksm_zero_page_leaks_its_count() {
    let mut actions: Vec<String> = Settings::load("ksm-zero").unwrap().actions.unwrap();
    actions.push("uffd_move".into());
    let over = Settings { actions: Some(actions), ..Settings::default() };
    let r = run_check(&Settings::load("ksm-zero").unwrap().overlay(over).resolve().unwrap(), false, None);
    assert_eq!(r.outcome, "violated");
    let cx = &r.counterexamples[0];
    assert_eq!((cx.invariant, cx.steps.len()), ("ksm_zero_pages_count", 5), "{:?}", cx.steps);
    assert!(cx.scenario.contains("use_zero_pages: yes") && cx.scenario.contains("uffd_move"));
    assert!(run_text(&cx.scenario, "cx", false).unwrap().passed);
}

/// About 0.1 s: the mutant that forgets to count a zapped KSM zero page out.
#[test]
fn the_ksm_zero_mutant_is_caught_by_i48() {
    let shallow = Settings { max_depth: Some(5), ..Settings::default() };
    rmapcheck_tests::mutant_caught("ksm-zero", shallow, "ksm-zero-unmap-uncounted", "ksm_zero_pages_count", 5);
}
