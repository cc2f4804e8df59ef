//! Coverage-guided search, in the manner of a greybox fuzzer (AFL) or of
//! Go-Explore: keep a corpus of states that each showed a structural
//! feature no earlier state showed ([`crate::features`]), and repeatedly
//! extend a random corpus state by a short uniform random walk. A deep
//! history that BFS cannot afford and a uniform walk almost never strings
//! together is reached one novel step at a time, because every state along
//! it that changes the shape of the anon_vma forest is kept and extended.
//!
//! The search is sound for bugs (every state it reaches is reachable by
//! the trace it keeps) and incomplete: it proves nothing when it finds
//! nothing. Violations are shrunk like the swarm's. It runs in rounds of
//! extension walks from the corpus as it stood when the round began, each
//! walk determined by the seed and its number, committed in walk order:
//! the same seed gives the same run whatever the thread count.

use super::walks::{in_order, walk_rng};
use crate::explore::Explorer;
use crate::features::{atoms, AtomSet};
use crate::strategy::{Findings, Limits, Outcome, Progress, Stop, Strategy, Traits};
use rmapcheck_model::rng::SplitMix64;
use rmapcheck_model::{Action, State};
use std::sync::Arc;

/// Coverage-guided search.
pub struct Guided;

impl Strategy for Guided {
    fn traits(&self) -> Traits {
        Traits::sampling("guided", "coverage-guided search (greybox fuzzing over structural atoms): extend states that showed a new atom by short random walks")
    }
    fn run(&self, ex: &Explorer, limits: &Limits, _: Progress) -> Outcome {
        search(ex, limits)
    }
}

/// A corpus entry: a state and the actions that reach it from the start.
struct Entry {
    state: State,
    trace: Vec<Action>,
}

/// Longest extension walk from a corpus state.
const WALK: u64 = 8;
/// Extension walks per round: each round's walks start from the corpus as
/// it was when the round began, and their results join it in walk order,
/// so that the run does not depend on the thread count.
const ROUND: usize = 64;

/// One step of an extension walk, kept until the round commits it.
struct Stepped {
    state: State,
    trace: Vec<Action>,
    atoms: Vec<u64>,
    violated: Option<usize>,
}

/// Runs the guided search in rounds of [`ROUND`] extension walks, each
/// determined by the seed and its number, until the time limit, the first
/// violation, or with `--continue` a violation of every invariant.
fn search(ex: &Explorer, limits: &Limits) -> Outcome {
    let init = ex.init();
    let mut seen: AtomSet = atoms(&init, None, 0).into_iter().collect();
    let mut corpus = vec![Arc::new(Entry { state: init, trace: Vec::new() })];
    let findings = Findings::new(ex, limits);
    let (mut states, mut walks, mut depth) = (0usize, 0usize, 0usize);
    let max_depth = limits.walk_depth();
    let mut round = 0u64;
    'rounds: while !findings.done() && !limits.past_deadline() {
        let base = round * ROUND as u64;
        let snapshot = &corpus;
        let results = in_order(ROUND, limits.threads, |k| {
            extend(ex, snapshot, walk_rng(limits.seed, base + k as u64), max_depth, limits.keep_going)
        });
        round += 1;
        for steps in results {
            walks += 1;
            for st in steps {
                states += 1;
                if let Some(inv) = st.violated {
                    findings.record(ex, &st.trace, &st.state, inv, true);
                    if findings.done() {
                        break 'rounds;
                    }
                }
                // A state at the depth bound cannot be extended: it counts
                // for coverage but is not worth a place in the corpus.
                let mut new = false;
                for f in st.atoms {
                    new |= seen.insert(f);
                }
                if new && st.trace.len() < max_depth {
                    depth = depth.max(st.trace.len());
                    corpus.push(Arc::new(Entry { state: st.state, trace: st.trace }));
                }
            }
        }
    }
    let stop = findings.stop().unwrap_or(Stop::TimeLimit(limits.time_limit.unwrap_or_default()));
    Outcome {
        states,
        unique: 0,
        max_depth: depth,
        stop,
        found: findings.into_found(ex),
        walks: Some(walks),
        corpus: Some((corpus.len(), seen.len())),
        storage: None,
    }
}

/// One extension walk: a corpus entry picked by `rng`, extended by up to
/// [`WALK`] uniform random steps (not past `max_depth`); each step with
/// its atoms and the first invariant it violates. Without `--continue`
/// the walk ends at a violation.
fn extend(
    ex: &Explorer,
    corpus: &[Arc<Entry>],
    mut rng: SplitMix64,
    max_depth: usize,
    keep_going: bool,
) -> Vec<Stepped> {
    let start = pick(corpus, &mut rng);
    let mut s = start.state.clone();
    let mut trace = start.trace.clone();
    let mut out = Vec::new();
    let mut actions = Vec::new();
    let len = 1 + rng.below(WALK) as usize;
    for _ in 0..len {
        if trace.len() >= max_depth {
            break;
        }
        actions.clear();
        ex.actions(&s, &mut actions);
        if actions.is_empty() {
            break;
        }
        let a = actions[rng.below(actions.len() as u64) as usize];
        let Some((next, branches)) = ex.step(&s, a) else { break };
        s = next;
        trace.push(a);
        let violated = ex.violated(&s);
        out.push(Stepped { state: s.clone(), trace: trace.clone(), atoms: atoms(&s, Some(a), branches), violated });
        if violated.is_some() && !keep_going {
            break;
        }
    }
    out
}

/// Half the time a uniform pick over the whole corpus, half the time one
/// of the newest eighth: new entries are where the frontier is, old ones
/// keep the search from tunnelling into one history.
fn pick(corpus: &[Arc<Entry>], rng: &mut SplitMix64) -> Arc<Entry> {
    let n = corpus.len() as u64;
    let i = if rng.below(2) == 0 { rng.below(n) } else { n - 1 - rng.below(n.div_ceil(8)) };
    corpus[i as usize].clone()
}
