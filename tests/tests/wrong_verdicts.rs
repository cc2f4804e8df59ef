//! No wrong verdict at the edges of what the tool accepts: long valid
//! scenarios hold (object ids are 8 bits; stable ids are compacted before
//! they could wrap), and every strategy given the largest bounds it
//! accepts finds what it finds with sane ones, or refuses the bounds.

use rmapcheck::check::run_check;
use rmapcheck::contract;
use rmapcheck::run::run_text;
use rmapcheck::search::STRATEGIES;
use rmapcheck::settings::{Settings, MAX_DEPTH, MAX_TIME_LIMIT_SECS};
use rmapcheck_model::Expect;

/// A valid scenario of `steps` actions that holds: two processes that
/// map, write, swap out, read back, protect and unmap pages over and
/// over, so that anon_vmas, folios and swap slots are allocated and freed
/// thousands of times.
fn long_scenario(steps: usize) -> String {
    let mut t =
        String::from("kernel: v6.18\npages: 2\nprocs: 2\nexpect: holds\n\nP0 mmap 0 2 rw\nP0 write 0 1\nP0 fork\n");
    let cycle = |p: u8, v: u8| {
        [
            format!("P{p} munmap 0 2"),
            format!("P{p} mmap 0 2 rw"),
            format!("P{p} write 0 {v}"),
            format!("P{p} write 1 {v}"),
            format!("P{p} madv_pageout 0 2"),
            format!("P{p} read 1 = {v}"),
            format!("P{p} mprotect 0 1 r"),
            format!("P{p} read 0 = {v}"),
        ]
    };
    let mut n = 3;
    let mut i = 0u32;
    while n < steps {
        for line in cycle((i % 2) as u8, 1 + (i % 15) as u8) {
            if n == steps {
                break;
            }
            t.push_str(&line);
            t.push('\n');
            n += 1;
        }
        i += 1;
    }
    t
}

#[test]
fn long_valid_scenarios_hold() {
    for steps in [1_000, 20_000] {
        let text = long_scenario(steps);
        let r = run_text(&text, "long", false).unwrap_or_else(|e| panic!("{steps} steps: {e}"));
        assert!(r.passed, "{steps} steps: {}", r.output.lines().rev().take(5).collect::<Vec<_>>().join("\n"));
        assert_eq!(r.verdict, Expect::Holds);
        // Thousands of objects were allocated, and the ids did not wrap:
        // the stable-id run agrees with a canonical-id one.
        contract::scenario(text.as_bytes()).unwrap();
    }
}

#[test]
fn the_issue_s_long_scenarios_hold() {
    // 257 anon_vmas allocated over time, never more than one alive.
    let mut t = String::from("expect: holds\n");
    for _ in 0..257 {
        t.push_str("P0 mmap 0 1 rw\nP0 write 0 1\nP0 munmap 0 1\n");
    }
    let r = run_text(&t, "cycles", false).unwrap();
    assert!(r.passed, "{}", r.output.lines().rev().take(5).collect::<Vec<_>>().join("\n"));
    // 15,000 steps of munmap, mmap, write.
    let mut t = String::from("expect: holds\nP0 mmap 0 1 rw\n");
    for i in 0..5_000 {
        t.push_str(&format!("P0 munmap 0 1\nP0 mmap 0 1 rw\nP0 write 0 {}\n", 1 + i % 15));
    }
    let r = run_text(&t, "15k", false).unwrap();
    assert!(r.passed);
    assert!(r.output.contains("stable ids compacted"), "the run went past 240 objects of a kind");
}

/// keep-exclusive-on-fork breaks I14 in three steps (mmap, write, fork).
fn mutant_run(strategy: &str, max_depth: Option<usize>, time_limit: Option<u64>) -> rmapcheck::report::Report {
    let p = Settings::load("anon")
        .unwrap()
        .overlay(Settings {
            procs: Some(2),
            pages: Some(1),
            strategy: Some(strategy.into()),
            mutant: Some("keep-exclusive-on-fork".into()),
            threads: Some(2),
            seed: Some(3),
            max_depth,
            time_limit,
            ..Settings::default()
        })
        .resolve()
        .unwrap_or_else(|e| panic!("{strategy}: {e}"));
    run_check(&p, false, None)
}

#[test]
fn every_strategy_with_the_largest_bounds_finds_what_it_finds_with_sane_ones() {
    for s in STRATEGIES {
        let name = s.name();
        let timed = s.needs_time_limit();
        let sane = mutant_run(name, Some(10), timed.then_some(60));
        let extreme = mutant_run(name, Some(MAX_DEPTH), timed.then_some(MAX_TIME_LIMIT_SECS));
        for r in [&sane, &extreme] {
            assert_eq!(r.outcome, "violated", "{name}");
            assert_eq!(r.counterexamples[0].invariant, "exclusive_single_mapping", "{name}");
        }
        // dfs keeps the first path it meets, which the depth bound decides;
        // the others report the shortest, or shrink what they find.
        if name != "dfs" {
            assert_eq!(sane.counterexamples[0].scenario, extreme.counterexamples[0].scenario, "{name}");
        }
        // One past the largest is refused, with a reason.
        for (depth, time) in [(MAX_DEPTH + 1, 60), (10, MAX_TIME_LIMIT_SECS + 1)] {
            let err = Settings {
                strategy: Some(name.into()),
                max_depth: Some(depth),
                time_limit: Some(time),
                ..Settings::default()
            }
            .resolve()
            .err()
            .unwrap_or_else(|| panic!("{name}: depth {depth}, time {time} accepted"));
            assert!(err.contains("must be between 1 and"), "{name}: {err}");
        }
    }
}
