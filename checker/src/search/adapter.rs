//! The model as a `stateright` [`Model`], for the two strategies that run
//! on stateright's own checkers (`dfs.rs`, `simulate.rs`), and
//! the loop that drives such a checker to its end. Successors and
//! invariants go through the [`Explorer`], so coverage is recorded and
//! invariants are evaluated as for every other strategy.

use crate::explore::Explorer;
use crate::strategy::{Found, Limits, Outcome, Progress, Stop};
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::{Action, State};
use stateright::{Checker, CheckerBuilder, HasDiscoveries, Model, Property};
use std::time::{Duration, Instant};

/// The explorer seen by stateright, which needs a model it owns (a clone
/// of the explorer, sharing its coverage counters).
pub struct Adapter(pub Explorer);

/// One `fn` per registered invariant, because stateright properties are
/// plain function pointers.
fn prop<const I: usize>(m: &Adapter, s: &State) -> bool {
    m.0.check(I, s).is_ok()
}

type PropFn = fn(&Adapter, &State) -> bool;
const PROPS: [PropFn; 48] = [
    prop::<0>, prop::<1>, prop::<2>, prop::<3>, prop::<4>, prop::<5>, prop::<6>, prop::<7>, prop::<8>, prop::<9>,
    prop::<10>, prop::<11>, prop::<12>, prop::<13>, prop::<14>, prop::<15>, prop::<16>, prop::<17>, prop::<18>,
    prop::<19>, prop::<20>, prop::<21>, prop::<22>, prop::<23>, prop::<24>, prop::<25>, prop::<26>, prop::<27>,
    prop::<28>, prop::<29>, prop::<30>, prop::<31>, prop::<32>, prop::<33>, prop::<34>, prop::<35>, prop::<36>,
    prop::<37>, prop::<38>, prop::<39>, prop::<40>, prop::<41>, prop::<42>, prop::<43>, prop::<44>, prop::<45>,
    prop::<46>, prop::<47>,
];

impl Model for Adapter {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.0.init()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.0.actions(state, actions);
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        self.0.step(last, action).map(|(s, _)| s)
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        assert!(INVARIANTS.len() <= PROPS.len(), "raise PROPS to cover every invariant");
        self.0.invariants.iter().map(|&i| Property::always(INVARIANTS[i].name, PROPS[i])).collect()
    }
}

impl Adapter {
    /// A stateright checker builder with the limits applied.
    pub fn builder(self, limits: &Limits) -> CheckerBuilder<Self> {
        let mut b = self.checker().threads(limits.threads);
        b = b.finish_when(if limits.keep_going { HasDiscoveries::All } else { HasDiscoveries::AnyFailures });
        if let Some(d) = limits.max_depth {
            // stateright's depth counts the initial state as 1 and does not
            // check states at the target depth.
            b = b.target_max_depth(d.saturating_add(2));
        }
        if let Some(t) = limits.time_limit {
            b = b.timeout(t);
        }
        b
    }
}

/// Drives a spawned stateright checker to its end, printing progress, and
/// says why it stopped: a violation, the time limit, the depth bound, or
/// (for `exhaustive` checkers) the end of the state space.
pub fn drive<C: Checker<Adapter>>(
    ex: &Explorer,
    checker: C,
    limits: &Limits,
    exhaustive: bool,
    mut progress: Progress,
) -> Outcome {
    let start = limits.start;
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
    let mut found: Vec<Found> = checker
        .discoveries()
        .into_iter()
        .map(|(name, path)| Found {
            invariant: INVARIANTS.iter().position(|i| i.name == name).expect("a registered invariant"),
            trace: path.into_actions(),
            unshrunk: None,
        })
        .collect();
    found.sort_by_key(|f| ex.invariants.iter().position(|&i| i == f.invariant));
    // stateright counts the initial state as depth 1.
    let mut max_depth = checker.max_depth().saturating_sub(1);
    let elapsed = start.elapsed();
    let timed_out = limits.time_limit.is_some_and(|t| elapsed + Duration::from_millis(20) >= t);
    let depth_bounded = limits.max_depth.is_some_and(|d| max_depth >= d);
    if let Some(d) = limits.max_depth {
        max_depth = max_depth.min(d);
    }
    let all = ex.invariants.iter().all(|i| found.iter().any(|f| f.invariant == *i));
    let stop = if !found.is_empty() && !limits.keep_going {
        Stop::FirstViolation
    } else if limits.keep_going && all {
        Stop::AllViolated
    } else if timed_out || !exhaustive {
        Stop::TimeLimit(limits.time_limit.unwrap_or_default())
    } else if depth_bounded {
        Stop::DepthBound(limits.max_depth.unwrap_or(0))
    } else {
        Stop::Exhausted
    };
    Outcome {
        states: checker.state_count(),
        unique: checker.unique_state_count(),
        max_depth,
        stop,
        found,
        walks: None,
        corpus: None,
        storage: None,
    }
}
