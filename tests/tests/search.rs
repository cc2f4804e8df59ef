//! The deep-bug searches: the novelty search (IW(k)) rediscovers
//! CVE-2022-42703 from the bounds alone under v5.19 (and its `--html` page
//! steps through in a browser) and finds nothing under
//! v6.18 within the same bounds; it is deterministic; the guided search
//! finds what the others find.

use rmapcheck::check::run_check;
use rmapcheck::run::run_text;
use rmapcheck::settings::{Plan, Settings};
use rmapcheck::views;
use rmapcheck_model::Expect;
use rmapcheck_tests::browser::{step_through_viewer, Browser};

/// The shipped `cve-2022-42703` configuration, with `over` on top. Its
/// 10-minute limit is raised to an hour: the search is deterministic and
/// ends on its own (at the violation, or at the depth bound), and on a
/// loaded machine the test profile can need more than 10 minutes, which
/// would turn the verdict into "holds within bounds" for want of time.
fn cve(over: Settings) -> Plan {
    let unhurried = Settings { time_limit: Some(3600), ..Settings::default() };
    Settings::load("cve-2022-42703").unwrap().overlay(unhurried).overlay(over).resolve().unwrap()
}

#[test]
fn novelty_search_rediscovers_cve_2022_42703_under_v5_19() {
    let r = run_check(&cve(Settings::default()), false, None);
    assert_eq!(r.outcome, "violated");
    let cx = &r.counterexamples[0];
    assert_eq!(cx.invariant, "same_anon_vma_same_chain");
    // The hand-derived history (docs/kernel/anon-vma.md §6) reaches the
    // double reuse in 11 steps; the search finds one no longer.
    assert!(cx.steps.len() <= 11, "{} steps", cx.steps.len());
    // Width 1 is not enough; width 2 is. The states kept and generated are
    // those `rmapcheck check --config cve-2022-42703` printed before the
    // strategies shared one explorer (deterministic whatever the threads).
    assert_eq!((r.unique_states, r.states), (236_038, 11_760_231));
    // The printed counterexample is a scenario file that replays to the
    // same violation at the same step.
    let replayed = run_text(&cx.scenario, "counterexample", false).unwrap();
    assert!(replayed.passed, "{}", replayed.output);
    assert_eq!(
        replayed.verdict,
        Expect::Violates { invariant: "same_anon_vma_same_chain".into(), at: Some(cx.steps.len()) }
    );
    // `check --config cve-2022-42703 --html FILE`: the page of this
    // counterexample steps through to the violation in a real browser.
    let trace = views::counterexample_trace(&r, "cve-2022-42703").unwrap().unwrap();
    assert_eq!(trace.steps.len(), cx.steps.len());
    assert_eq!(trace.violation.as_ref().unwrap().objects, cx.violation);
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cve-check.html");
    std::fs::write(&file, rmapcheck_view::html::page(&trace).unwrap()).unwrap();
    let mut b = Browser::launch();
    step_through_viewer(&mut b, &file, cx.steps.len(), "same_anon_vma_same_chain");
}

#[test]
fn the_same_search_finds_nothing_under_v6_18() {
    // Bounded for the test suite: the full width-2 round to depth 11, the
    // depth at which v5.19 fails (the shipped configuration goes to 14).
    let r = run_check(
        &cve(Settings { kernel: Some("v6.18".into()), max_depth: Some(11), ..Settings::default() }),
        false,
        None,
    );
    assert_eq!(r.outcome, "holds within bounds", "{:?}", r.counterexamples.first().map(|c| &c.scenario));
    assert_eq!(r.max_depth, 11);
    assert!(r.states > 5_000_000, "{} states", r.states);
}

#[test]
fn novelty_search_is_deterministic_whatever_the_thread_count() {
    let plan = |threads| {
        Settings {
            kernel: Some("v6.18".into()),
            procs: Some(3),
            pages: Some(2),
            values: Some(1),
            actions: Some(["mmap", "write", "fork", "exit", "mprotect"].map(String::from).to_vec()),
            mutant: Some("keep-exclusive-on-fork".into()),
            strategy: Some("novelty".into()),
            threads: Some(threads),
            ..Settings::default()
        }
        .resolve()
        .unwrap()
    };
    let one = run_check(&plan(1), false, None);
    let two = run_check(&plan(2), false, None);
    assert_eq!(one.outcome, "violated");
    assert_eq!(one.counterexamples[0].scenario, two.counterexamples[0].scenario);
    assert_eq!((one.states, one.corpus), (two.states, two.corpus));
    // mmap, write, fork: the mutant's shortest history.
    assert_eq!(one.counterexamples[0].steps.len(), 3);
}

#[test]
fn guided_search_finds_a_mutant_and_shrinks_it() {
    let p = Settings {
        kernel: Some("v6.18".into()),
        procs: Some(3),
        pages: Some(1),
        values: Some(1),
        actions: Some(["mmap", "read", "write", "fork", "munmap", "exit"].map(String::from).to_vec()),
        mutant: Some("keep-exclusive-on-fork".into()),
        strategy: Some("guided".into()),
        time_limit: Some(30),
        threads: Some(1),
        seed: Some(3),
        ..Settings::default()
    }
    .resolve()
    .unwrap();
    let r = run_check(&p, false, None);
    assert_eq!(r.outcome, "violated");
    assert_eq!(r.counterexamples[0].invariant, "exclusive_single_mapping");
    assert_eq!(r.counterexamples[0].steps.len(), 3, "{:?}", r.counterexamples[0].steps);
    assert!(r.corpus.unwrap().0 >= 1);
}

#[test]
fn widths_outside_one_to_three_are_refused() {
    let e = cve(Settings::default()).width;
    assert_eq!(e, 2);
    let err = Settings { width: Some(4), ..Settings::default() }.resolve().err().unwrap();
    assert_eq!(err, "width must be between 1 and 3, got 4");
}
