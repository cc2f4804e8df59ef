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
//! nothing. Violations are shrunk like the swarm's.

use crate::explore::Explorer;
use crate::features::{atoms, AtomSet};
use crate::strategy::{Findings, Limits, Outcome, Progress, Stop, Strategy, Traits};
use rmapcheck_model::rng::SplitMix64;
use rmapcheck_model::{Action, State};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

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

/// Shared between the workers.
struct Shared {
    corpus: RwLock<Vec<Arc<Entry>>>,
    seen: Mutex<AtomSet>,
    states: AtomicUsize,
    walks: AtomicUsize,
    depth: AtomicUsize,
    findings: Findings,
}

impl Shared {
    /// Records `fs`; true when one of them is new. `local` caches what this
    /// worker already knows is old, to keep the lock cold.
    fn novel(&self, fs: &[u64], local: &mut AtomSet) -> bool {
        if fs.iter().all(|f| local.contains(f)) {
            return false;
        }
        let mut seen = self.seen.lock().unwrap();
        let mut new = false;
        for &f in fs {
            new |= seen.insert(f);
            local.insert(f);
        }
        new
    }
}

/// Runs the guided search on every thread until the time limit, the first
/// violation, or with `--continue` a violation of every invariant. With
/// one thread the run is determined by the seed.
fn search(ex: &Explorer, limits: &Limits) -> Outcome {
    let init = ex.init();
    let fs = atoms(&init, None, 0);
    let shared = Shared {
        corpus: RwLock::new(vec![Arc::new(Entry { state: init, trace: Vec::new() })]),
        seen: Mutex::new(fs.into_iter().collect()),
        states: AtomicUsize::new(0),
        walks: AtomicUsize::new(0),
        depth: AtomicUsize::new(0),
        findings: Findings::new(ex, limits),
    };
    std::thread::scope(|sc| {
        for t in 0..limits.threads.max(1) {
            let shared = &shared;
            sc.spawn(move || worker(ex, limits, shared, SplitMix64(limits.seed ^ ((t as u64 + 1) << 40))));
        }
    });
    let stop = shared.findings.stop().unwrap_or(Stop::TimeLimit(limits.time_limit.unwrap_or_default()));
    Outcome {
        states: shared.states.into_inner(),
        unique: 0,
        max_depth: shared.depth.into_inner(),
        stop,
        found: shared.findings.into_found(ex),
        walks: Some(shared.walks.into_inner()),
        corpus: Some((shared.corpus.into_inner().unwrap().len(), shared.seen.into_inner().unwrap().len())),
        storage: None,
    }
}

fn worker(ex: &Explorer, limits: &Limits, shared: &Shared, mut rng: SplitMix64) {
    let max_depth = limits.walk_depth();
    let mut local = AtomSet::default();
    let mut actions = Vec::new();
    let mut steps = 0usize;
    while !shared.findings.done() && !limits.past_deadline() {
        let start = pick(&shared.corpus.read().unwrap(), &mut rng);
        let mut s = start.state.clone();
        let mut trace = start.trace.clone();
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
            steps += 1;
            s = next;
            trace.push(a);
            if let Some(inv) = ex.violated(&s) {
                shared.findings.record(ex, &trace, &s, inv, true);
                if shared.findings.done() || !limits.keep_going {
                    break;
                }
            }
            // A state at the depth bound cannot be extended: it counts for
            // coverage but is not worth a place in the corpus.
            if shared.novel(&atoms(&s, Some(a), branches), &mut local) && trace.len() < max_depth {
                shared.depth.fetch_max(trace.len(), Relaxed);
                shared.corpus.write().unwrap().push(Arc::new(Entry { state: s.clone(), trace: trace.clone() }));
            }
        }
        shared.walks.fetch_add(1, Relaxed);
        if steps >= 4096 {
            shared.states.fetch_add(std::mem::take(&mut steps), Relaxed);
        }
    }
    shared.states.fetch_add(steps, Relaxed);
}

/// Half the time a uniform pick over the whole corpus, half the time one
/// of the newest eighth: new entries are where the frontier is, old ones
/// keep the search from tunnelling into one history.
fn pick(corpus: &[Arc<Entry>], rng: &mut SplitMix64) -> Arc<Entry> {
    let n = corpus.len() as u64;
    let i = if rng.below(2) == 0 { rng.below(n) } else { n - 1 - rng.below(n.div_ceil(8)) };
    corpus[i as usize].clone()
}
