//! The anon rmap model as a `stateright` [`Model`].

use rmapcheck_invariants::{Invariant, INVARIANTS};
use rmapcheck_model::{enabled_actions, step, Action, ActionKind, Branch, Config, Ctx, State};
use stateright::{Model, Property};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// `(name, transitions)` pairs.
pub type Counts = Vec<(String, u64)>;

/// Transition counts per action kind and per kernel branch.
pub struct Coverage {
    /// Indexed by [`ActionKind`] as usize.
    pub actions: [AtomicU64; ActionKind::ALL.len()],
    /// Indexed by [`Branch`] as usize.
    pub branches: [AtomicU64; Branch::ALL.len()],
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            actions: std::array::from_fn(|_| AtomicU64::new(0)),
            branches: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Coverage {
    fn record(&self, kind: ActionKind, branches: u64) {
        self.actions[kind as usize].fetch_add(1, Ordering::Relaxed);
        let mut b = branches;
        while b != 0 {
            let i = b.trailing_zeros() as usize;
            self.branches[i].fetch_add(1, Ordering::Relaxed);
            b &= b - 1;
        }
    }

    /// `(name, transitions)` per action kind and per branch.
    pub fn snapshot(&self) -> (Counts, Counts) {
        let a = ActionKind::ALL
            .iter()
            .map(|(k, n, _)| (n.to_string(), self.actions[*k as usize].load(Ordering::Relaxed)))
            .collect();
        let b = Branch::ALL
            .iter()
            .map(|(k, n)| (n.to_string(), self.branches[*k as usize].load(Ordering::Relaxed)))
            .collect();
        (a, b)
    }
}

/// The model: parameters, the invariants to check, and coverage counters.
pub struct RmapModel {
    /// Model parameters.
    pub cfg: Config,
    /// Indexes into [`INVARIANTS`] of the invariants checked.
    pub invariants: Vec<usize>,
    /// Shared with the caller, which reads it after the run.
    pub coverage: Arc<Coverage>,
}

impl RmapModel {
    /// A model checking `invariants` (all of them when empty).
    pub fn new(cfg: Config, invariants: &[&'static Invariant]) -> Self {
        let invariants = if invariants.is_empty() {
            (0..INVARIANTS.len()).collect()
        } else {
            invariants
                .iter()
                .map(|i| INVARIANTS.iter().position(|j| std::ptr::eq(j, *i)).expect("registered invariant"))
                .collect()
        };
        assert!(INVARIANTS.len() <= PROPS.len(), "raise PROPS to cover every invariant");
        RmapModel { cfg, invariants, coverage: Arc::new(Coverage::default()) }
    }

    /// The initial state: P0 with an empty address space.
    pub fn init(&self) -> State {
        State::initial(&self.cfg)
    }
}

/// One `fn` per registered invariant, because stateright properties are
/// plain function pointers.
fn prop<const I: usize>(m: &RmapModel, s: &State) -> bool {
    (INVARIANTS[I].check)(s, m.cfg.kernel).is_ok()
}

type PropFn = fn(&RmapModel, &State) -> bool;
const PROPS: [PropFn; 48] = [
    prop::<0>, prop::<1>, prop::<2>, prop::<3>, prop::<4>, prop::<5>, prop::<6>, prop::<7>, prop::<8>, prop::<9>,
    prop::<10>, prop::<11>, prop::<12>, prop::<13>, prop::<14>, prop::<15>, prop::<16>, prop::<17>, prop::<18>,
    prop::<19>, prop::<20>, prop::<21>, prop::<22>, prop::<23>, prop::<24>, prop::<25>, prop::<26>, prop::<27>,
    prop::<28>, prop::<29>, prop::<30>, prop::<31>, prop::<32>, prop::<33>, prop::<34>, prop::<35>, prop::<36>,
    prop::<37>, prop::<38>, prop::<39>, prop::<40>, prop::<41>, prop::<42>, prop::<43>, prop::<44>, prop::<45>,
    prop::<46>, prop::<47>,
];

impl Model for RmapModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.init()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        enabled_actions(&self.cfg, state, actions);
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut ctx = Ctx::new(&self.cfg, false);
        let next = step(last, action, &mut ctx).ok()?;
        self.coverage.record(action.kind(), ctx.branches);
        Some(next)
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.invariants.iter().map(|&i| Property::always(INVARIANTS[i].name, PROPS[i])).collect()
    }
}
