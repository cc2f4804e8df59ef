//! Every search strategy through the one interface: coverage is recorded
//! and adds up, `--continue` is honoured (or refused up front), and no
//! verdict claims more than the search did.

use rmapcheck::check::{refuse_continue, run_check};
use rmapcheck::explore::Explorer;
use rmapcheck::report::Report;
use rmapcheck::search::STRATEGIES;
use rmapcheck::settings::{Plan, Settings};
use rmapcheck::strategy::{Limits, Outcome, Progress, Strategy, Traits};

/// 2 processes, 1 page, no KSM: small enough that the exhaustive
/// strategies finish in well under a second and the random ones reach
/// every action kind within their one-second limit.
fn small(strategy: &str, over: Settings) -> Plan {
    let random = STRATEGIES.iter().find(|s| s.name() == strategy).unwrap().needs_time_limit();
    Settings::load("default")
        .unwrap()
        .overlay(Settings {
            procs: Some(2),
            strategy: Some(strategy.into()),
            threads: Some(1),
            seed: Some(5),
            time_limit: random.then_some(1),
            ..Settings::default()
        })
        .overlay(over)
        .resolve()
        .unwrap()
}

/// The coverage of a holding run adds up: the transitions per action kind
/// sum to the transitions the strategy counts itself, every kind of the
/// configuration was taken and no other, no branch was taken more often
/// than there were transitions, and the basic fault and fork branches
/// were taken.
fn coverage_adds_up(strategy: &str) {
    let p = small(strategy, Settings::default());
    let r = run_check(&p, false, None);
    assert_eq!(r.outcome, if p.strategy.exhaustive() { "holds" } else { "holds within bounds" }, "{strategy}");
    let transitions: u64 = r.coverage.actions.iter().map(|(_, n)| n).sum();
    let states = r.states as u64;
    match strategy {
        // They count the initial state among their states.
        "bfs" | "dfs" => assert_eq!(transitions, states - 1, "{strategy}"),
        _ => assert_eq!(transitions, states, "{strategy}"),
    }
    let on = p.model.actions.names();
    for (kind, n) in &r.coverage.actions {
        assert_eq!(*n > 0, on.contains(&kind.as_str()), "{strategy}: {kind} taken {n} times");
    }
    for (branch, n) in &r.coverage.branches {
        assert!(*n <= transitions, "{strategy}: {branch} taken {n} times in {transitions} transitions");
    }
    for b in ["do_anonymous_page: new folio", "anon_vma_fork: new anon_vma", "copy_present_pte: share an anon folio"] {
        assert!(r.coverage.branches.iter().any(|(n, c)| n == b && *c > 0), "{strategy}: {b} never taken");
    }
}

#[test]
fn coverage_bfs() {
    coverage_adds_up("bfs");
}

#[test]
fn coverage_dfs() {
    coverage_adds_up("dfs");
}

#[test]
fn coverage_simulate() {
    coverage_adds_up("simulate");
}

#[test]
fn coverage_swarm() {
    coverage_adds_up("swarm");
}

#[test]
fn coverage_guided() {
    coverage_adds_up("guided");
}

#[test]
fn coverage_novelty() {
    coverage_adds_up("novelty");
}

#[test]
fn every_registered_strategy_has_a_coverage_test() {
    let this = include_str!("strategies.rs");
    for s in STRATEGIES {
        assert!(this.contains(&format!("fn coverage_{}()", s.name())), "no coverage test for {}", s.name());
    }
}

/// `fork-skips-root-ref` breaks three invariants (no_kernel_oops, I6,
/// I10) within a few steps of 2 processes on 1 page.
fn mutant(strategy: &str) -> Plan {
    small(
        strategy,
        Settings {
            mutant: Some("fork-skips-root-ref".into()),
            actions: Some(["mmap", "read", "write", "fork", "munmap", "exit"].map(String::from).to_vec()),
            ..Settings::default()
        },
    )
}

fn violated(r: &Report) -> Vec<&str> {
    r.invariants.iter().filter(|v| v.verdict == "violated").map(|v| v.name).collect()
}

/// Without `--continue`: the violations of the first violating state (one
/// for the strategies that report the first invariant it breaks; dfs and
/// simulate, which run on stateright, report every property it breaks),
/// the search incomplete, and every other invariant "not established",
/// never "holds".
fn stops_at_the_first_violation_without_claims(strategy: &str) {
    let r = run_check(&mutant(strategy), false, None);
    assert_eq!(r.outcome, "violated", "{strategy}");
    let found = violated(&r);
    assert!(found.len() == 1 || strategy == "dfs", "{strategy}: {found:?}");
    assert!(found.len() < r.invariants.len(), "{strategy}: {found:?}");
    assert_eq!(r.counterexamples.len(), found.len());
    assert!(!r.complete, "{strategy}: a search that stopped at a violation is not complete");
    assert!(r.stopped_by.as_deref().unwrap().starts_with("first violation"), "{strategy}: {:?}", r.stopped_by);
    for v in r.invariants.iter().filter(|v| v.verdict != "violated") {
        assert_eq!(v.verdict, "not established (search stopped at the first violation)", "{strategy}: {}", v.name);
    }
}

/// With `--continue`: the search goes on past the first violation and finds
/// the mutant's other violations; an invariant it did not find "holds"
/// only after an exhaustive search ran to its end.
fn continues_past_the_first_violation(strategy: &str) {
    let p = mutant(strategy);
    refuse_continue(&p, true).unwrap();
    let r = run_check(&p, true, None);
    let found = violated(&r);
    assert!(found.len() >= 2, "{strategy}: --continue found only {found:?}");
    assert_eq!(r.counterexamples.len(), found.len());
    let unproven = if r.complete { "holds" } else { "holds within bounds" };
    for v in r.invariants.iter().filter(|v| v.verdict != "violated") {
        assert_eq!(v.verdict, unproven, "{strategy}: {}", v.name);
    }
    assert_eq!(r.complete, p.strategy.exhaustive(), "{strategy}: {:?}", r.stopped_by);
    // Each counterexample replays to its own invariant.
    for cx in &r.counterexamples {
        assert!(cx.violation.len() > 3 && !cx.violation.starts_with("internal error"), "{}", cx.violation);
    }
}

#[test]
fn bfs_verdicts_with_and_without_continue() {
    stops_at_the_first_violation_without_claims("bfs");
    continues_past_the_first_violation("bfs");
}

#[test]
fn dfs_verdicts_with_and_without_continue() {
    stops_at_the_first_violation_without_claims("dfs");
    continues_past_the_first_violation("dfs");
}

#[test]
fn simulate_verdicts_with_and_without_continue() {
    stops_at_the_first_violation_without_claims("simulate");
    continues_past_the_first_violation("simulate");
}

#[test]
fn swarm_verdicts_with_and_without_continue() {
    stops_at_the_first_violation_without_claims("swarm");
    continues_past_the_first_violation("swarm");
}

#[test]
fn guided_verdicts_with_and_without_continue() {
    stops_at_the_first_violation_without_claims("guided");
    continues_past_the_first_violation("guided");
}

#[test]
fn novelty_verdicts_with_and_without_continue() {
    stops_at_the_first_violation_without_claims("novelty");
    continues_past_the_first_violation("novelty");
}

/// A strategy that cannot keep searching after a violation.
struct StopsAtFirst;

impl Strategy for StopsAtFirst {
    fn traits(&self) -> Traits {
        Traits { continues: false, ..Traits::pruning("stops-at-first", "a test strategy that cannot continue", "") }
    }
    /// Checks the initial state only.
    fn run(&self, ex: &Explorer, _: &Limits, _: Progress) -> Outcome {
        assert_eq!(ex.violated(&ex.init()), None);
        Outcome::initial()
    }
}

static STOPS_AT_FIRST: StopsAtFirst = StopsAtFirst;

#[test]
fn continue_is_refused_up_front_by_a_strategy_that_cannot() {
    let mut p = small("bfs", Settings::default());
    p.strategy = &STOPS_AT_FIRST;
    let err = refuse_continue(&p, true).unwrap_err();
    assert_eq!(err, "the stops-at-first strategy stops at the first violation: --continue is not supported");
    assert!(refuse_continue(&p, false).is_ok());
    // A strategy that is not exhaustive never says "holds", even when it
    // ran to its end.
    let r = run_check(&p, false, None);
    assert_eq!(r.outcome, "holds within bounds");
    assert!(!r.complete && r.invariants.iter().all(|v| v.verdict == "holds within bounds"));
    assert_eq!(r.stopped_by.as_deref(), Some("end of the search"));
}

#[test]
fn every_strategy_declares_what_it_can_do() {
    let names: Vec<_> = STRATEGIES.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["bfs", "dfs", "simulate", "swarm", "guided", "novelty"]);
    let exhaustive: Vec<_> = STRATEGIES.iter().filter(|s| s.exhaustive()).map(|s| s.name()).collect();
    assert_eq!(exhaustive, ["bfs", "dfs"]);
    let timed: Vec<_> = STRATEGIES.iter().filter(|s| s.needs_time_limit()).map(|s| s.name()).collect();
    assert_eq!(timed, ["simulate", "swarm", "guided"]);
    assert!(STRATEGIES.iter().all(|s| s.continues()));
}

/// Same bounds, same result: the counts and the counterexample of a run
/// that ends at a violation do not depend on the thread count or on the
/// run. The mutant breaks I14 a few steps in; the random strategies'
/// walks are numbered and committed in order, so more threads change
/// only the speed.
fn deterministic(strategy: &str) {
    let run = |threads: usize| {
        let p = small(
            strategy,
            Settings {
                procs: Some(3),
                mutant: Some("keep-exclusive-on-fork".into()),
                threads: Some(threads),
                time_limit: STRATEGIES.iter().find(|s| s.name() == strategy).unwrap().needs_time_limit().then_some(600),
                ..Settings::default()
            },
        );
        let r = run_check(&p, false, None);
        assert_eq!(r.outcome, "violated", "{strategy} on {threads} threads");
        (r.states, r.unique_states, r.walks, r.corpus, r.counterexamples[0].scenario.clone())
    };
    let one = run(1);
    for threads in [1, 2, 3] {
        assert_eq!(run(threads), one, "{strategy}: {threads} threads differ from 1");
    }
}

#[test]
fn deterministic_bfs() {
    deterministic("bfs");
}

#[test]
fn deterministic_dfs() {
    deterministic("dfs");
}

#[test]
fn deterministic_simulate() {
    deterministic("simulate");
}

#[test]
fn deterministic_swarm() {
    deterministic("swarm");
}

#[test]
fn deterministic_guided() {
    deterministic("guided");
}

#[test]
fn deterministic_novelty() {
    deterministic("novelty");
}

#[test]
fn every_registered_strategy_has_a_determinism_test() {
    let this = include_str!("strategies.rs");
    for s in STRATEGIES {
        assert!(this.contains(&format!("fn deterministic_{}()", s.name())), "no determinism test for {}", s.name());
    }
}
