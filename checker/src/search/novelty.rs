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

use crate::explore::Explorer;
use crate::features::{atoms, tuples, AtomSet};
use crate::strategy::{Findings, Limits, Outcome, Progress, Stop, Strategy, Traits};
use rmapcheck_model::{Action, State};
use std::time::Instant;

/// Novelty-pruned BFS with iterative widening.
pub struct Novelty;

impl Strategy for Novelty {
    fn traits(&self) -> Traits {
        Traits::pruning(
            "novelty",
            "novelty-pruned BFS with iterative widening (IW(k)): keep only states showing a new atom (pair, \
             triple); deterministic, finds deep bugs, proves nothing",
            "in a novelty search (which prunes states)",
        )
    }
    fn run(&self, ex: &Explorer, limits: &Limits, progress: Progress) -> Outcome {
        search(ex, limits, progress)
    }
}

/// The figures of a run across its rounds.
struct Run {
    /// States generated (and checked), repeats included, over all rounds.
    states: usize,
    /// States kept for expansion, over all rounds.
    kept: usize,
    /// Distinct atom tuples seen in the last round.
    features: usize,
    /// Deepest level generated.
    depth: usize,
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

/// Runs rounds of widening until a violation (with `--continue`, one of
/// every invariant), the time limit, or the end of the widest round.
fn search(ex: &Explorer, limits: &Limits, mut progress: Progress) -> Outcome {
    let start = Instant::now();
    let mut out = Run { states: 0, kept: 0, features: 0, depth: 0 };
    let findings = Findings::new(ex, limits);
    let mut stop = Stop::Pruned(limits.width);
    for width in 1..=limits.width {
        let finished = round(ex, limits, width, &mut out, &findings, &mut progress);
        if let Some(w) = progress.as_deref_mut() {
            let _ = writeln!(
                w,
                "[{:>6.1}s] width {width}: kept={} features={} states={} depth={}{}",
                start.elapsed().as_secs_f64(),
                out.kept,
                out.features,
                out.states,
                out.depth,
                if findings.stop().is_some() { " VIOLATION" } else { "" }
            );
        }
        if let Some(s) = findings.stop() {
            stop = s;
            break;
        }
        if !finished {
            stop = Stop::TimeLimit(limits.time_limit.unwrap_or_default());
            break;
        }
    }
    Outcome {
        states: out.states,
        unique: out.kept,
        max_depth: out.depth,
        stop,
        found: findings.into_found(ex),
        walks: None,
        corpus: Some((out.kept, out.features)),
        storage: None,
    }
}

/// One IW round at feature radius `width`. Returns false when stopped by
/// the time limit.
fn round(
    ex: &Explorer,
    limits: &Limits,
    width: usize,
    out: &mut Run,
    findings: &Findings,
    progress: &mut Progress,
) -> bool {
    let init = ex.init();
    let mut seen = AtomSet::default();
    seen.extend(tuples(&atoms(&init, None, 0), width));
    let mut nodes = vec![Node { parent: 0, action: None }];
    let mut frontier = vec![(0u32, init)];
    for depth in 1..=limits.walk_depth() {
        if frontier.is_empty() {
            return true;
        }
        if limits.past_deadline() {
            return false;
        }
        let mut next = Vec::new();
        // Batches bound the memory the successors take; the filter still
        // sees them in frontier order, so the run stays deterministic.
        for batch in frontier.chunks(BATCH) {
            if limits.past_deadline() {
                return false;
            }
            let succs = expand(ex, batch, width, limits.threads);
            out.states += succs.len();
            out.depth = out.depth.max(depth);
            for s in succs {
                if let Some(inv) = s.violated {
                    let mut trace = trace(&nodes, s.from);
                    trace.push(s.action);
                    findings.record(ex, &trace, &s.state, inv, true);
                    if findings.done() {
                        out.features = seen.len();
                        return true;
                    }
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
fn expand(ex: &Explorer, batch: &[(u32, State)], width: usize, threads: usize) -> Vec<Succ> {
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
                        ex.actions(s, &mut actions);
                        for &a in &actions {
                            let Some((state, branches)) = ex.step(s, a) else { continue };
                            let features = tuples(&atoms(&state, Some(a), branches), width);
                            let violated = ex.violated(&state);
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
