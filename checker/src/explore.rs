//! The explorer: the one way every search strategy, the scenario runner
//! and the counterexample printer drive the model. It does five things,
//! each in one place:
//!
//! * the initial state ([`Explorer::init`]);
//! * successors, recording coverage per action kind and kernel branch
//!   ([`Explorer::actions`], [`Explorer::step`]);
//! * invariant evaluation ([`Explorer::check`], and the one loop over the
//!   checked invariants, [`Explorer::violations`]);
//! * replay of an action sequence from the initial state
//!   ([`Explorer::replay`]), which is never counted as coverage;
//! * shrinking a violating sequence ([`Explorer::shrink`]).

use rmapcheck_invariants::{Invariant, INVARIANTS};
use rmapcheck_model::{enabled_actions, step, Action, ActionKind, Branch, Config, Ctx, State};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// `(name, transitions)` pairs.
pub type Counts = Vec<(String, u64)>;

/// Transition counts per action kind and per kernel branch.
struct Coverage {
    /// Indexed by [`ActionKind`] as usize.
    actions: [AtomicU64; ActionKind::ALL.len()],
    /// Indexed by [`Branch`] as usize.
    branches: [AtomicU64; Branch::ALL.len()],
}

/// One step of a replay, as [`Explorer::replay`] shows it to its visitor.
pub struct Replayed<'a> {
    /// Position of the action in the replayed sequence (refused actions
    /// that were skipped count too).
    pub index: usize,
    /// The action taken.
    pub action: Action,
    /// The state before it.
    pub before: &'a State,
    /// The state after it.
    pub after: &'a State,
    /// What the kernel did, in its own words (empty unless asked for).
    pub log: Vec<String>,
}

/// The model under one configuration, with the invariants a run checks
/// and its coverage counters. Shared by reference between worker threads;
/// a clone shares the coverage counters.
#[derive(Clone)]
pub struct Explorer {
    /// Model parameters.
    pub cfg: Config,
    /// Indexes into [`INVARIANTS`] of the invariants checked, in the order
    /// given (registry order by default, so that a state breaking several
    /// reports the most basic first).
    pub invariants: Vec<usize>,
    coverage: Arc<Coverage>,
}

impl Explorer {
    /// An explorer checking `invariants` (all of them when empty).
    pub fn new(cfg: Config, invariants: &[&'static Invariant]) -> Explorer {
        let invariants = if invariants.is_empty() {
            (0..INVARIANTS.len()).collect()
        } else {
            invariants
                .iter()
                .map(|i| INVARIANTS.iter().position(|j| std::ptr::eq(j, *i)).expect("registered invariant"))
                .collect()
        };
        let coverage = Coverage {
            actions: std::array::from_fn(|_| AtomicU64::new(0)),
            branches: std::array::from_fn(|_| AtomicU64::new(0)),
        };
        Explorer { cfg, invariants, coverage: Arc::new(coverage) }
    }

    /// The initial state: P0 with an empty address space.
    pub fn init(&self) -> State {
        State::initial(&self.cfg)
    }

    /// The actions enabled in `s`, in the model's fixed order.
    pub fn actions(&self, s: &State, out: &mut Vec<Action>) {
        enabled_actions(&self.cfg, s, out);
    }

    /// One transition of the search: the successor of `s` by `a` (`None`
    /// when the model refuses it) and the kernel branches it took. Every
    /// transition taken is counted in the coverage.
    pub fn step(&self, s: &State, a: Action) -> Option<(State, u128)> {
        let mut ctx = Ctx::new(&self.cfg, false);
        let next = step(s, a, &mut ctx).ok()?;
        self.coverage.actions[a.kind() as usize].fetch_add(1, Relaxed);
        let mut b = ctx.branches;
        while b != 0 {
            self.coverage.branches[b.trailing_zeros() as usize].fetch_add(1, Relaxed);
            b &= b - 1;
        }
        Some((next, ctx.branches))
    }

    /// Invariant `i` (an index into [`INVARIANTS`]) on `s`: the one place
    /// an invariant is evaluated. `Err` names the objects that violate it.
    pub fn check(&self, i: usize, s: &State) -> Result<(), String> {
        (INVARIANTS[i].check)(s, self.cfg.kernel)
    }

    /// The checked invariants `s` violates, in registry order, evaluated
    /// lazily: the one loop over the invariants.
    pub fn violations<'a>(&'a self, s: &'a State) -> impl Iterator<Item = usize> + 'a {
        self.invariants.iter().copied().filter(move |&i| self.check(i, s).is_err())
    }

    /// The first checked invariant `s` violates.
    pub fn violated(&self, s: &State) -> Option<usize> {
        self.violations(s).next()
    }

    /// Replays `actions` from the initial state. After every action taken
    /// the visitor sees it and may stop the replay. A refused action is
    /// skipped when `skip_refused`, else it ends the replay with its index
    /// and the model's reason. `narrate` asks the model for its log. The
    /// state where the replay ended is returned. Replays are not counted
    /// as coverage.
    pub fn replay(
        &self,
        actions: &[Action],
        narrate: bool,
        skip_refused: bool,
        mut visit: impl FnMut(Replayed) -> ControlFlow<()>,
    ) -> Result<State, (usize, String)> {
        let mut s = self.init();
        for (index, &action) in actions.iter().enumerate() {
            let mut ctx = Ctx::new(&self.cfg, narrate);
            let next = match step(&s, action, &mut ctx) {
                Ok(n) => n,
                Err(_) if skip_refused => continue,
                Err(e) => return Err((index, e)),
            };
            let log = ctx.log.unwrap_or_default();
            let flow = visit(Replayed { index, action, before: &s, after: &next, log });
            s = next;
            if flow.is_break() {
                break;
            }
        }
        Ok(s)
    }

    /// The prefix of `trace` (actions the model refuses skipped) that ends
    /// at its first state violating `inv`. When `first`, that state must
    /// also be the prefix's first violating state and `inv` the first
    /// checked invariant it violates, as a search without `--continue`
    /// reports it.
    fn replay_to(&self, inv: usize, trace: &[Action], first: bool) -> Option<Vec<Action>> {
        let mut taken = Vec::new();
        let mut hit = None;
        let _ = self.replay(trace, false, true, |r| {
            taken.push(r.action);
            hit = if first { self.violated(r.after) } else { self.check(inv, r.after).err().map(|_| inv) };
            if hit.is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        (hit == Some(inv)).then_some(taken)
    }

    /// Shrinks a trace that violates `inv`: drops actions one at a time
    /// while the rest still reaches a violation of `inv` (when `first`,
    /// as the first invariant to fail, see `replay_to`), rescanning until
    /// no single action can go (a drop can make an earlier action
    /// droppable). Dropping a fork also hands the child's later actions to
    /// its parent (and renumbers the processes created after it), so a
    /// history that needed a second process only by accident shrinks to
    /// one.
    pub fn shrink(&self, inv: usize, mut trace: Vec<Action>, first: bool) -> Vec<Action> {
        let mut i = 0;
        let mut shrunk_since_scan = false;
        loop {
            if i == trace.len() {
                if !shrunk_since_scan {
                    return trace;
                }
                (i, shrunk_since_scan) = (0, false);
                continue;
            }
            let mut shorter = trace.clone();
            let dropped = shorter.remove(i);
            let mut accepted = self.replay_to(inv, &shorter, first);
            if accepted.is_none() {
                if let Action::Fork { pid: parent } = dropped {
                    // Every action of a replayed trace ran, so the child is
                    // the process after all those created before this fork.
                    let child = 1 + trace[..i].iter().filter(|a| matches!(a, Action::Fork { .. })).count() as u8;
                    for a in &mut shorter[i..] {
                        *a = a.map_pids(|p| match p {
                            p if p == child => parent,
                            p if p > child => p - 1,
                            p => p,
                        });
                    }
                    accepted = self.replay_to(inv, &shorter, first);
                }
            }
            match accepted {
                Some(t) => (trace, shrunk_since_scan) = (t, true),
                None => i += 1,
            }
        }
    }

    /// `(name, transitions)` per action kind and per kernel branch, in
    /// registry order.
    pub fn coverage(&self) -> (Counts, Counts) {
        let a = ActionKind::ALL
            .iter()
            .map(|(k, n, _)| (n.to_string(), self.coverage.actions[*k as usize].load(Relaxed)))
            .collect();
        let b = Branch::ALL
            .iter()
            .map(|(k, n)| (n.to_string(), self.coverage.branches[*k as usize].load(Relaxed)))
            .collect();
        (a, b)
    }
}
