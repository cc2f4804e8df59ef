//! Novelty-pruned breadth-first search with iterative widening, after the
//! width-based planners IW(k) of Lipovetzky and Geffner ("Width and
//! Serialization of Classical Planning Problems", ECAI 2012).
//!
//! Level by level, every successor of every kept state is generated and
//! checked against the invariants, but only a successor that shows a
//! structural feature ([`crate::features`]) no earlier state showed is kept
//! for expansion. With features that describe each heap object and its
//! neighbourhood up to `r` pointers away, round `r` of the widening keeps
//! at most one state per feature: a few thousand states where plain BFS
//! would need billions, yet any history along which every step changes
//! the shape of the heap somewhere survives the pruning. Rounds run with
//! r = 0, 1, 2, ... until a violation, the depth bound or the time limit.
//!
//! Sound for bugs (a reported trace is replayed in the model), incomplete:
//! finding nothing proves nothing. Deterministic for a given configuration,
//! whatever the number of threads, and counterexamples are shortest within
//! the pruned space (so usually short), then shrunk like the swarm's.

use crate::features::{atoms, tuples, AtomSet};
use crate::model::RmapModel;
use crate::swarm::{shrink, violated};
use rmapcheck_model::{enabled_actions, step, Action, Ctx, State};
use std::time::Instant;

/// Bounds of a novelty run.
pub struct NoveltyLimits {
    /// Worker threads.
    pub threads: usize,
    /// Longest trace, in actions.
    pub max_depth: usize,
    /// Stop at this instant.
    pub deadline: Instant,
    /// Largest Weisfeiler–Lehman radius tried.
    pub max_width: usize,
}

/// What a novelty run found.
pub struct NoveltyOutcome {
    /// States generated (and checked), repeats included, over all rounds.
    pub states: usize,
    /// States kept for expansion, over all rounds.
    pub kept: usize,
    /// Distinct features seen in the last round.
    pub features: usize,
    /// Deepest level generated.
    pub depth: usize,
    /// The width (feature radius) of the last round run.
    pub width: usize,
    /// Whether a round ran out of states to expand before the deadline for
    /// every width up to `max_width` (the widening finished).
    pub exhausted: bool,
    /// First violated invariant (index into INVARIANTS), the shrunk trace,
    /// and the length of the trace before shrinking.
    pub found: Option<(usize, Vec<Action>, usize)>,
}

/// A kept state: its parent (index into the node list) and the action
/// that led here, for traces.
struct Node {
    parent: u32,
    action: Option<Action>,
}

/// Frontier states expanded at once.
const BATCH: usize = 2048;

/// One generated successor with what the filter needs.
struct Succ {
    from: u32,
    action: Action,
    state: State,
    features: Vec<u64>,
    violated: Option<usize>,
}

/// Runs rounds of widening until a violation or the deadline.
pub fn search(model: &RmapModel, limits: &NoveltyLimits, mut progress: crate::search::Progress) -> NoveltyOutcome {
    let start = Instant::now();
    let mut out = NoveltyOutcome { states: 0, kept: 0, features: 0, depth: 0, width: 0, exhausted: false, found: None };
    for width in 1..=limits.max_width {
        out.width = width;
        let finished = round(model, limits, width, &mut out, &mut progress);
        if let Some(w) = progress.as_deref_mut() {
            let _ = writeln!(
                w,
                "[{:>6.1}s] width {width}: kept={} features={} states={} depth={}{}",
                start.elapsed().as_secs_f64(),
                out.kept,
                out.features,
                out.states,
                out.depth,
                if out.found.is_some() { " VIOLATION" } else { "" }
            );
        }
        if out.found.is_some() || !finished {
            return out;
        }
    }
    out.exhausted = true;
    out
}

/// One IW round at feature radius `width`. Returns false when stopped by
/// the deadline.
fn round(
    model: &RmapModel,
    limits: &NoveltyLimits,
    width: usize,
    out: &mut NoveltyOutcome,
    progress: &mut crate::search::Progress,
) -> bool {
    let init = model.init();
    let mut seen = AtomSet::default();
    seen.extend(tuples(&atoms(&init, None, 0), width));
    let mut nodes = vec![Node { parent: 0, action: None }];
    let mut frontier = vec![(0u32, init)];
    for depth in 1..=limits.max_depth {
        if frontier.is_empty() {
            return true;
        }
        if Instant::now() >= limits.deadline {
            return false;
        }
        let mut next = Vec::new();
        // Batches bound the memory the successors take; the filter still
        // sees them in frontier order, so the run stays deterministic.
        for batch in frontier.chunks(BATCH) {
            if Instant::now() >= limits.deadline {
                return false;
            }
            let succs = expand(model, batch, width, limits.threads);
            out.states += succs.len();
            out.depth = out.depth.max(depth);
            for s in succs {
                if let Some(inv) = s.violated {
                    let mut trace = trace(&nodes, s.from);
                    trace.push(s.action);
                    let raw = trace.len();
                    out.found = Some((inv, shrink(model, inv, trace), raw));
                    out.features = seen.len();
                    return true;
                }
                let mut novel = false;
                for f in s.features {
                    novel |= seen.insert(f);
                }
                if novel {
                    nodes.push(Node { parent: s.from, action: Some(s.action) });
                    next.push(((nodes.len() - 1) as u32, s.state));
                }
            }
        }
        if let Some(w) = progress.as_deref_mut() {
            let _ = writeln!(
                w,
                "  width {width} depth {depth}: frontier={} kept={} features={} states={}",
                next.len(),
                out.kept + next.len(),
                seen.len(),
                out.states
            );
        }
        out.kept += next.len();
        out.features = seen.len();
        frontier = next;
    }
    true
}

fn trace(nodes: &[Node], mut at: u32) -> Vec<Action> {
    let mut t = Vec::new();
    while let Some(a) = nodes[at as usize].action {
        t.push(a);
        at = nodes[at as usize].parent;
    }
    t.reverse();
    t
}

/// All successors of `batch`, in batch order then action order, generated
/// on `threads` threads, each checked against the invariants.
fn expand(model: &RmapModel, batch: &[(u32, State)], width: usize, threads: usize) -> Vec<Succ> {
    let chunk = batch.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|sc| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| {
                sc.spawn(move || {
                    let mut v = Vec::new();
                    let mut actions = Vec::new();
                    for (from, s) in part {
                        actions.clear();
                        enabled_actions(&model.cfg, s, &mut actions);
                        for &a in &actions {
                            let mut ctx = Ctx::new(&model.cfg, false);
                            let Ok(state) = step(s, a, &mut ctx) else { continue };
                            let features = tuples(&atoms(&state, Some(a), ctx.branches), width);
                            let violated = violated(model, &state);
                            v.push(Succ { from: *from, action: a, state, features, violated });
                        }
                    }
                    v
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("novelty worker panicked")).collect()
    })
}
