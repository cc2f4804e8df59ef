//! Swarm random testing: many seeded random walks, each with its own random
//! mix of action kinds (some switched off, the rest weighted), in the
//! manner of Groce et al., "Swarm Testing" (ISSTA 2012). A uniform walk
//! almost never strings together the long, specific histories that deep
//! rmap bugs need; a walk that happens to favour, say, fork and exit and
//! never mmaps again gets much further along one such history. A violation
//! is then shrunk by dropping actions while the same invariant still fails.

use crate::model::RmapModel;
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::{enabled_actions, step, Action, ActionKind, Ctx, State};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// Bounds of a swarm run.
pub struct SwarmLimits {
    /// Worker threads.
    pub threads: usize,
    /// Longest walk, in actions.
    pub max_depth: usize,
    /// Stop at this instant.
    pub deadline: Instant,
    /// Base seed; walk `i` of thread `t` is fully determined by (seed, t, i).
    pub seed: u64,
}

/// What a swarm run found.
pub struct SwarmOutcome {
    /// States visited, repeats included.
    pub states: usize,
    /// Walks run.
    pub walks: usize,
    /// Deepest walk.
    pub depth: usize,
    /// First violated invariant (index into INVARIANTS) with a shrunk trace,
    /// and the length of the trace before shrinking.
    pub found: Option<(usize, Vec<Action>, usize)>,
}

/// SplitMix64: small, seedable, good enough to pick actions.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Runs walks on every thread until the deadline or the first violation.
pub fn search(model: &RmapModel, limits: &SwarmLimits) -> SwarmOutcome {
    let states = AtomicUsize::new(0);
    let walks = AtomicUsize::new(0);
    let depth = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let found = std::sync::Mutex::new(None::<(usize, Vec<Action>, usize)>);
    std::thread::scope(|sc| {
        for t in 0..limits.threads.max(1) {
            let (states, walks, depth, stop, found) = (&states, &walks, &depth, &stop, &found);
            sc.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Relaxed) && Instant::now() < limits.deadline {
                    let mut rng = Rng(limits.seed ^ (t as u64) << 48 ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
                    i += 1;
                    let (n, violation) = walk(model, &mut rng, limits.max_depth);
                    states.fetch_add(n, Relaxed);
                    walks.fetch_add(1, Relaxed);
                    depth.fetch_max(n, Relaxed);
                    if let Some((inv, trace)) = violation {
                        stop.store(true, Relaxed);
                        let raw = trace.len();
                        let shrunk = shrink(model, inv, trace);
                        let mut f = found.lock().unwrap();
                        if f.as_ref().is_none_or(|(_, t, _)| shrunk.len() < t.len()) {
                            *f = Some((inv, shrunk, raw));
                        }
                    }
                }
            });
        }
    });
    SwarmOutcome {
        states: states.into_inner(),
        walks: walks.into_inner(),
        depth: depth.into_inner(),
        found: found.into_inner().unwrap(),
    }
}

/// One walk with its own action-kind weights. Returns the number of steps
/// and, on a violation, the invariant and the actions taken.
fn walk(model: &RmapModel, rng: &mut Rng, max_depth: usize) -> (usize, Option<(usize, Vec<Action>)>) {
    // Each enabled kind is kept with probability 3/4 and weighted 1..=8;
    // mmap is always kept so that something can happen.
    let mut weight = [0u64; ActionKind::ALL.len()];
    for (k, _, _) in ActionKind::ALL {
        if model.cfg.actions.contains(k) && (k == ActionKind::Mmap || rng.below(4) != 0) {
            weight[k as usize] = 1 + rng.below(8);
        }
    }
    let mut s = model.init();
    let mut trace = Vec::new();
    let mut actions = Vec::new();
    for _ in 0..max_depth {
        actions.clear();
        enabled_actions(&model.cfg, &s, &mut actions);
        let total: u64 = actions.iter().map(|a| weight[a.kind() as usize]).sum();
        if total == 0 {
            break;
        }
        let mut pick = rng.below(total);
        let a = *actions
            .iter()
            .find(|a| {
                let w = weight[a.kind() as usize];
                if pick < w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .expect("a pick below the total weight lands on an action");
        let Ok(next) = step(&s, a, &mut Ctx::new(&model.cfg, false)) else { break };
        s = next;
        trace.push(a);
        if let Some(inv) = violated(model, &s) {
            return (trace.len(), Some((inv, trace)));
        }
    }
    (trace.len(), None)
}

pub(crate) fn violated(model: &RmapModel, s: &State) -> Option<usize> {
    model.invariants.iter().copied().find(|&i| (INVARIANTS[i].check)(s, model.cfg.kernel).is_err())
}

/// Replays `trace`, skipping actions that can no longer run, and returns
/// the prefix up to the first state violating `inv` (if any).
fn replay_to(model: &RmapModel, inv: usize, trace: &[Action]) -> Option<Vec<Action>> {
    let mut s = model.init();
    let mut taken = Vec::new();
    for &a in trace {
        let Ok(next) = step(&s, a, &mut Ctx::new(&model.cfg, false)) else { continue };
        s = next;
        taken.push(a);
        match violated(model, &s) {
            Some(i) if i == inv => return Some(taken),
            Some(_) => return None,
            None => {}
        }
    }
    None
}

/// Drops actions one at a time while the same invariant is still the
/// first to fail, rescanning until no single action can go (a drop can
/// make an earlier action droppable). Dropping a fork also
/// hands the child's later actions to its parent (and renumbers the
/// processes created after it), so a history that needed a second process
/// only by accident shrinks to one.
pub(crate) fn shrink(model: &RmapModel, inv: usize, mut trace: Vec<Action>) -> Vec<Action> {
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
        let mut accepted = replay_to(model, inv, &shorter);
        if accepted.is_none() {
            if let Action::Fork { pid: parent } = dropped {
                // Every action of a replayed trace ran, so the child is the
                // process after all those created before this fork.
                let child = 1 + trace[..i].iter().filter(|a| matches!(a, Action::Fork { .. })).count() as u8;
                for a in &mut shorter[i..] {
                    *a = a.map_pids(|p| match p {
                        p if p == child => parent,
                        p if p > child => p - 1,
                        p => p,
                    });
                }
                accepted = replay_to(model, inv, &shorter);
            }
        }
        match accepted {
            Some(t) => (trace, shrunk_since_scan) = (t, true),
            None => i += 1,
        }
    }
}
