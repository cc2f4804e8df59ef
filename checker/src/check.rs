//! Running a check: the plan's strategy over an [`Explorer`], then the
//! report: verdicts that claim no more than the search did, and
//! counterexamples replayed with stable ids.

use crate::explore::Explorer;
use crate::report::{peak_rss_kib, ConfigEcho, Counterexample, CoverageReport, Report, Verdict};
use crate::settings::Plan;
use crate::strategy::{Found, Limits, Progress, Stop};
use crate::trace::replay;
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::assert::{objects, Assert};
use rmapcheck_model::{Expect, Ids, Scenario, Step};
use std::ops::ControlFlow;
use std::time::Instant;

/// The `--continue` refusal of a strategy that cannot keep searching
/// after a violation, before anything runs.
pub fn refuse_continue(plan: &Plan, keep_going: bool) -> Result<(), String> {
    if keep_going && !plan.strategy.continues() {
        return Err(format!(
            "the {} strategy stops at the first violation: --continue is not supported",
            plan.strategy.name()
        ));
    }
    Ok(())
}

/// Runs the plan. `keep_going` looks for a counterexample to every
/// invariant instead of stopping at the first one (see
/// [`refuse_continue`]).
pub fn run_check(plan: &Plan, keep_going: bool, progress: Progress) -> Report {
    assert!(refuse_continue(plan, keep_going).is_ok(), "--continue given to the {} strategy", plan.strategy.name());
    let ex = Explorer::new(plan.model.clone(), &plan.invariants);
    let limits = Limits {
        threads: plan.threads,
        max_depth: plan.max_depth,
        time_limit: plan.time_limit,
        start: Instant::now(),
        max_rss_kib: plan.max_rss_kib,
        seed: plan.seed,
        width: plan.width,
        keep_going,
        frontier_kib: None,
        candidates_kib: None,
        shard: plan.shard.clone(),
    };
    let o = plan.strategy.run(&ex, &limits, progress);
    let elapsed = limits.start.elapsed();
    let complete = plan.strategy.exhaustive() && o.stop == Stop::Exhausted;
    let stopped_by = (!complete).then(|| o.stop.describe(plan.strategy));
    let mut counterexamples = Vec::new();
    let invariants = ex
        .invariants
        .iter()
        .map(|&i| {
            let inv = &INVARIANTS[i];
            let verdict = if let Some(f) = o.found.iter().find(|f| f.invariant == i) {
                counterexamples.push(counterexample(plan, f));
                "violated"
            } else if o.stop == Stop::FirstViolation {
                "not established (search stopped at the first violation)"
            } else if complete {
                "holds"
            } else {
                "holds within bounds"
            };
            Verdict { name: inv.name, id: inv.id, verdict: verdict.to_string() }
        })
        .collect();
    let (actions, branches) = ex.coverage();
    let secs = elapsed.as_secs_f64();
    Report {
        version: env!("CARGO_PKG_VERSION"),
        config: echo(plan),
        outcome: if !o.found.is_empty() {
            "violated".into()
        } else if complete {
            "holds".into()
        } else {
            "holds within bounds".into()
        },
        complete,
        stopped_by,
        states: o.states,
        unique_states: o.unique,
        walks: o.walks,
        corpus: o.corpus,
        unshrunk_len: o.found.first().and_then(|f| f.unshrunk),
        max_depth: o.max_depth,
        elapsed_secs: secs,
        states_per_sec: if secs > 0.0 { o.states as f64 / secs } else { 0.0 },
        peak_rss_kib: peak_rss_kib(),
        storage: o.storage,
        invariants,
        counterexamples,
        coverage: CoverageReport { actions, branches },
    }
}

/// A found violation as the report shows it: replayed with stable ids and
/// narrated, with the invariant's own description of the violation, and
/// as a scenario file.
fn counterexample(plan: &Plan, f: &Found) -> Counterexample {
    let inv = &INVARIANTS[f.invariant];
    let actions = &f.trace;
    let shown = Explorer::new(plan.model.for_replay(), &[]);
    let (steps, violation) = match replay(&shown, actions) {
        Ok(t) => {
            let v = shown
                .check(f.invariant, &t.last)
                .err()
                .unwrap_or_else(|| "internal error: the replayed trace does not violate the invariant".to_string());
            (t.steps, v)
        }
        Err(e) => (Vec::new(), format!("internal error: the counterexample does not replay: {e}")),
    };
    let scenario = Scenario {
        title: vec![
            format!(
                "Counterexample found by rmapcheck check ({}, {} processes, {} pages).",
                plan.strategy.name(),
                plan.model.procs,
                plan.model.pages
            ),
            format!("{}: {}", inv.name, inv.description),
        ],
        kernel: plan.model.kernel,
        pages: plan.model.pages,
        procs: plan.model.procs,
        mutant: plan.model.mutant,
        mthp: plan.model.mthp,
        use_zero_pages: plan.model.use_zero_pages,
        expect: Expect::Violates { invariant: inv.name.to_string(), at: Some(actions.len()) },
        steps: actions.iter().enumerate().map(|(i, a)| Step::new(i + 1, *a)).collect(),
    };
    // The state after the last step, every object, as it must be when the
    // trace replays (`rmapcheck run` checks it): a final condition. It is
    // computed under the scenario's own configuration, the one `run` uses:
    // its files (a scenario names all three or none) number a shared
    // anonymous object `shmN` after them whatever the search had.
    let mut scenario = scenario;
    let replayed = Explorer::new(scenario.config(), &[]);
    let _ = replayed.replay(actions, false, false, |r| {
        if r.index + 1 == actions.len() {
            let asserts = objects(r.after).into_iter().filter_map(|o| Assert::all(r.after, o));
            scenario.steps[r.index].asserts = asserts.collect();
        }
        ControlFlow::Continue(())
    });
    Counterexample { invariant: inv.name, violation, steps, scenario: scenario.to_text(), unshrunk_len: f.unshrunk }
}

fn echo(plan: &Plan) -> ConfigEcho {
    let m = &plan.model;
    ConfigEcho {
        kernel: m.kernel.to_string(),
        procs: m.procs,
        pages: m.pages,
        values: m.values,
        swap_slots: m.swap_slots,
        max_memory_mib: plan.max_rss_kib.map(|k| k / 1024),
        actions: m.actions.names(),
        strategy: plan.strategy.name().to_string(),
        threads: plan.threads,
        max_depth: plan.max_depth,
        time_limit_secs: plan.time_limit.map(|t| t.as_secs()),
        width: (plan.strategy.name() == "novelty").then_some(plan.width),
        seed: plan.seed,
        ids: match m.ids {
            Ids::Canonical => "canonical",
            Ids::Compact => "compact",
            Ids::Stable => "stable",
        }
        .into(),
        symmetry: m.symmetry,
        mutant: m.mutant.map(|m| m.name()),
        shard: plan.shard.as_ref().map(|s| format!("{}/{}", s.index, s.count)),
    }
}
