//! Running a check: spawn the stateright checker, print progress, collect
//! verdicts and counterexamples.

use crate::bfs::{self, Limits};
use crate::guided::{self, GuidedLimits};
use crate::model::RmapModel;
use crate::novelty::{self, NoveltyLimits};
use crate::report::{peak_rss_kib, ConfigEcho, Counterexample, CoverageReport, Report, Verdict};
use crate::settings::{Plan, Strategy};
use crate::swarm::{self, SwarmLimits};
use crate::trace::replay;
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::{Expect, Ids, Scenario, Step};
use stateright::{Checker, HasDiscoveries, Model, UniformChooser};
use std::io::Write;
use std::time::{Duration, Instant};

/// Where progress lines go (stderr for the CLI, nowhere for tests).
pub type Progress<'a> = Option<&'a mut (dyn Write + Send)>;

/// Runs the plan. `keep_going` looks for a counterexample to every
/// invariant instead of stopping at the first one.
pub fn run_check(plan: &Plan, keep_going: bool, progress: Progress) -> Report {
    let model = RmapModel::new(plan.model.clone(), &plan.invariants);
    let coverage = model.coverage.clone();
    let checked: Vec<usize> = model.invariants.clone();
    let start = Instant::now();
    if plan.strategy == Strategy::Bfs {
        let limits = Limits {
            threads: plan.threads,
            max_depth: plan.max_depth,
            deadline: plan.time_limit.map(|t| start + t),
            keep_going,
            max_rss_kib: plan.max_rss_kib,
        };
        let o = bfs::search(&model, &limits, progress);
        let outcome = Outcome {
            states: o.states,
            unique: o.unique,
            max_depth: o.depth,
            timed_out: o.timed_out,
            out_of_memory: o.out_of_memory,
            depth_bounded: o.depth_bounded,
            found: o.found.into_iter().map(|(i, a)| (INVARIANTS[i].name, a)).collect(),
        };
        return finish(plan, keep_going, start, coverage, checked, outcome);
    }
    if plan.strategy == Strategy::Swarm {
        let limits = SwarmLimits {
            threads: plan.threads,
            max_depth: plan.max_depth.unwrap_or(30),
            deadline: start + plan.time_limit.unwrap_or_default(),
            seed: plan.seed,
        };
        let o = swarm::search(&model, &limits);
        let outcome = Outcome {
            states: o.states,
            unique: 0,
            max_depth: o.depth,
            timed_out: o.found.is_none(),
            out_of_memory: false,
            depth_bounded: false,
            found: o.found.iter().map(|(i, a, _)| (INVARIANTS[*i].name, a.clone())).collect(),
        };
        let mut r = finish(plan, keep_going, start, coverage, checked, outcome);
        r.walks = Some(o.walks);
        r.unshrunk_len = o.found.map(|(_, _, n)| n);
        return r;
    }
    if plan.strategy == Strategy::Novelty {
        let limits = NoveltyLimits {
            threads: plan.threads,
            max_depth: plan.max_depth.unwrap_or(30),
            deadline: plan.time_limit.map_or(start + Duration::from_secs(u64::MAX / 4), |t| start + t),
            max_width: plan.width,
        };
        let o = novelty::search(&model, &limits, progress);
        let outcome = Outcome {
            states: o.states,
            unique: o.kept,
            max_depth: o.depth,
            timed_out: o.found.is_none() && !o.exhausted,
            out_of_memory: false,
            depth_bounded: false,
            found: o.found.iter().map(|(i, a, _)| (INVARIANTS[*i].name, a.clone())).collect(),
        };
        let mut r = finish(plan, keep_going, start, coverage, checked, outcome);
        r.corpus = Some((o.kept, o.features));
        r.unshrunk_len = o.found.map(|(_, _, n)| n);
        return r;
    }
    if plan.strategy == Strategy::Guided {
        let limits = GuidedLimits {
            threads: plan.threads,
            max_depth: plan.max_depth.unwrap_or(30),
            deadline: start + plan.time_limit.unwrap_or_default(),
            seed: plan.seed,
        };
        let o = guided::search(&model, &limits);
        let outcome = Outcome {
            states: o.states,
            unique: 0,
            max_depth: o.depth,
            timed_out: o.found.is_none(),
            out_of_memory: false,
            depth_bounded: false,
            found: o.found.iter().map(|(i, a, _)| (INVARIANTS[*i].name, a.clone())).collect(),
        };
        let mut r = finish(plan, keep_going, start, coverage, checked, outcome);
        r.walks = Some(o.walks);
        r.corpus = Some((o.corpus, o.features));
        r.unshrunk_len = o.found.map(|(_, _, n)| n);
        return r;
    }
    let mut b = model.checker().threads(plan.threads);
    b = b.finish_when(if keep_going { HasDiscoveries::All } else { HasDiscoveries::AnyFailures });
    if let Some(d) = plan.max_depth {
        // stateright's depth counts the initial state as 1 and does not
        // check states at the target depth.
        b = b.target_max_depth(d + 2);
    }
    if let Some(t) = plan.time_limit {
        b = b.timeout(t);
    }
    let mut outcome = if plan.strategy == Strategy::Dfs {
        drive(b.spawn_dfs(), start, progress)
    } else {
        drive(b.spawn_simulation(plan.seed, UniformChooser), start, progress)
    };
    let elapsed = start.elapsed();
    outcome.timed_out =
        plan.time_limit.is_some_and(|t| elapsed + Duration::from_millis(20) >= t) && outcome.found.is_empty();
    if let Some(d) = plan.max_depth {
        outcome.depth_bounded = outcome.max_depth >= d;
        outcome.max_depth = outcome.max_depth.min(d);
    }
    finish(plan, keep_going, start, coverage, checked, outcome)
}

fn finish(
    plan: &Plan,
    keep_going: bool,
    start: Instant,
    coverage: std::sync::Arc<crate::model::Coverage>,
    checked: Vec<usize>,
    outcome: Outcome,
) -> Report {
    let elapsed = start.elapsed();
    let (timed_out, depth_bounded) = (outcome.timed_out, outcome.depth_bounded);
    let stopped_by = if plan.strategy == Strategy::Novelty {
        Some(if timed_out {
            format!(
                "time limit of {} s, in a novelty search (which prunes states)",
                plan.time_limit.map_or(0, |t| t.as_secs())
            )
        } else {
            format!(
                "novelty pruning: every round up to width {} finished, but states showing no new atom tuple were not expanded",
                plan.width
            )
        })
    } else if matches!(plan.strategy, Strategy::Simulate | Strategy::Swarm | Strategy::Guided) {
        Some("random simulation, which never exhausts the state space".to_string())
    } else if outcome.out_of_memory {
        Some(format!("memory budget of {} MiB", plan.max_rss_kib.unwrap_or(0) / 1024))
    } else if timed_out {
        Some(format!("time limit of {} s", plan.time_limit.map_or(0, |t| t.as_secs())))
    } else if depth_bounded {
        Some(format!("depth bound of {}", plan.max_depth.unwrap_or(0)))
    } else {
        None
    };
    let complete = stopped_by.is_none();
    let stopped_at_first = !outcome.found.is_empty() && !keep_going;
    let mut counterexamples = Vec::new();
    let invariants = checked
        .iter()
        .map(|&i| {
            let inv = &INVARIANTS[i];
            let verdict = if let Some((_, actions)) = outcome.found.iter().find(|(n, _)| *n == inv.name) {
                counterexamples.push(counterexample(plan, inv, actions));
                "violated".to_string()
            } else if stopped_at_first {
                "not established (search stopped at the first violation)".to_string()
            } else if complete {
                "holds".to_string()
            } else {
                "holds within bounds".to_string()
            };
            Verdict { name: inv.name, id: inv.id, verdict }
        })
        .collect();
    let (actions, branches) = coverage.snapshot();
    let secs = elapsed.as_secs_f64();
    Report {
        version: env!("CARGO_PKG_VERSION"),
        config: echo(plan),
        outcome: if !outcome.found.is_empty() {
            "violated".into()
        } else if complete {
            "holds".into()
        } else {
            "holds within bounds".into()
        },
        complete,
        stopped_by,
        states: outcome.states,
        unique_states: outcome.unique,
        walks: None,
        corpus: None,
        unshrunk_len: None,
        max_depth: outcome.max_depth,
        elapsed_secs: secs,
        states_per_sec: if secs > 0.0 { outcome.states as f64 / secs } else { 0.0 },
        peak_rss_kib: peak_rss_kib(),
        invariants,
        counterexamples,
        coverage: CoverageReport { actions, branches },
    }
}

struct Outcome {
    states: usize,
    unique: usize,
    /// Deepest level, in actions from the initial state.
    max_depth: usize,
    timed_out: bool,
    out_of_memory: bool,
    depth_bounded: bool,
    /// Violated invariant names with their action sequences.
    found: Vec<(&'static str, Vec<rmapcheck_model::Action>)>,
}

fn drive<C: Checker<RmapModel>>(checker: C, start: Instant, mut progress: Progress) -> Outcome {
    let mut last = Instant::now();
    let mut last_states = 0usize;
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(50));
        if last.elapsed() >= Duration::from_secs(2) {
            if let Some(w) = progress.as_deref_mut() {
                let states = checker.state_count();
                let rate = (states - last_states) as f64 / last.elapsed().as_secs_f64();
                let _ = writeln!(
                    w,
                    "[{:>6.1}s] states={} unique={} depth={} states/s={:.0}",
                    start.elapsed().as_secs_f64(),
                    states,
                    checker.unique_state_count(),
                    checker.max_depth(),
                    rate
                );
                last_states = states;
            }
            last = Instant::now();
        }
    }
    let checker = checker.join();
    let mut found: Vec<_> = checker.discoveries().into_iter().map(|(name, path)| (name, path.into_actions())).collect();
    found.sort_by_key(|(name, _)| INVARIANTS.iter().position(|i| i.name == *name));
    // stateright counts the initial state as depth 1.
    Outcome {
        states: checker.state_count(),
        unique: checker.unique_state_count(),
        max_depth: checker.max_depth().saturating_sub(1),
        timed_out: false,
        out_of_memory: false,
        depth_bounded: false,
        found,
    }
}

fn counterexample(
    plan: &Plan,
    inv: &'static rmapcheck_invariants::Invariant,
    actions: &[rmapcheck_model::Action],
) -> Counterexample {
    let (steps, violation) = match replay(&plan.model, actions) {
        Ok(t) => {
            let v = (inv.check)(&t.last, plan.model.kernel)
                .err()
                .unwrap_or_else(|| "internal error: the replayed trace does not violate the invariant".to_string());
            (t.steps, v)
        }
        Err(e) => (Vec::new(), format!("internal error: the counterexample does not replay: {e}")),
    };
    let scenario = Scenario {
        title: vec![
            format!(
                "Counterexample found by rmapcheck check ({:?}, {} processes, {} pages).",
                plan.strategy, plan.model.procs, plan.model.pages
            ),
            format!("{}: {}", inv.name, inv.description),
        ],
        kernel: plan.model.kernel,
        pages: plan.model.pages,
        procs: plan.model.procs,
        mthp: plan.model.mthp,
        expect: Expect::Violates { invariant: inv.name.to_string(), at: Some(actions.len()) },
        steps: actions.iter().enumerate().map(|(i, a)| Step { line: i + 1, action: *a, reads: None }).collect(),
    };
    Counterexample { invariant: inv.name, violation, steps, scenario: scenario.to_text() }
}

fn echo(plan: &Plan) -> ConfigEcho {
    let m = &plan.model;
    ConfigEcho {
        kernel: m.kernel.to_string(),
        procs: m.procs,
        pages: m.pages,
        values: m.values,
        actions: m.actions.names(),
        strategy: format!("{:?}", plan.strategy).to_lowercase(),
        threads: plan.threads,
        max_depth: plan.max_depth,
        time_limit_secs: plan.time_limit.map(|t| t.as_secs()),
        width: (plan.strategy == Strategy::Novelty).then_some(plan.width),
        seed: plan.seed,
        ids: match m.ids {
            Ids::Canonical => "canonical",
            Ids::Compact => "compact",
            Ids::Stable => "stable",
        }
        .into(),
        symmetry: m.symmetry,
        mutant: m.mutant.map(|m| m.name()),
    }
}
