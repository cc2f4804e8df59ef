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

use crate::features::{atoms, AtomSet};
use crate::model::RmapModel;
use crate::swarm::{shrink, violated, Rng};
use rmapcheck_model::{enabled_actions, step, Action, Ctx, State};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Bounds of a guided run.
pub struct GuidedLimits {
    /// Worker threads.
    pub threads: usize,
    /// Longest trace, in actions.
    pub max_depth: usize,
    /// Stop at this instant.
    pub deadline: Instant,
    /// Base seed. With one thread the run is determined by it.
    pub seed: u64,
}

/// What a guided run found.
pub struct GuidedOutcome {
    /// States visited, repeats included.
    pub states: usize,
    /// Walks run.
    pub walks: usize,
    /// States kept in the corpus.
    pub corpus: usize,
    /// Distinct features seen.
    pub features: usize,
    /// Longest trace in the corpus.
    pub depth: usize,
    /// First violated invariant (index into INVARIANTS) with a shrunk trace,
    /// and the length of the trace before shrinking.
    pub found: Option<(usize, Vec<Action>, usize)>,
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
    stop: AtomicBool,
    found: Mutex<Option<(usize, Vec<Action>, usize)>>,
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

/// Runs the guided search on every thread until the deadline or the first
/// violation.
pub fn search(model: &RmapModel, limits: &GuidedLimits) -> GuidedOutcome {
    let init = model.init();
    let fs = atoms(&init, None, 0);
    let shared = Shared {
        corpus: RwLock::new(vec![Arc::new(Entry { state: init, trace: Vec::new() })]),
        seen: Mutex::new(fs.into_iter().collect()),
        states: AtomicUsize::new(0),
        walks: AtomicUsize::new(0),
        depth: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        found: Mutex::new(None),
    };
    std::thread::scope(|sc| {
        for t in 0..limits.threads.max(1) {
            let shared = &shared;
            sc.spawn(move || worker(model, limits, shared, Rng(limits.seed ^ ((t as u64 + 1) << 40))));
        }
    });
    GuidedOutcome {
        states: shared.states.into_inner(),
        walks: shared.walks.into_inner(),
        corpus: shared.corpus.into_inner().unwrap().len(),
        features: shared.seen.into_inner().unwrap().len(),
        depth: shared.depth.into_inner(),
        found: shared.found.into_inner().unwrap(),
    }
}

fn worker(model: &RmapModel, limits: &GuidedLimits, shared: &Shared, mut rng: Rng) {
    let mut local = AtomSet::default();
    let mut actions = Vec::new();
    let mut steps = 0usize;
    while !shared.stop.load(Relaxed) && Instant::now() < limits.deadline {
        let start = pick(&shared.corpus.read().unwrap(), &mut rng);
        let mut s = start.state.clone();
        let mut trace = start.trace.clone();
        let len = 1 + rng.below(WALK) as usize;
        for _ in 0..len {
            if trace.len() >= limits.max_depth {
                break;
            }
            actions.clear();
            enabled_actions(&model.cfg, &s, &mut actions);
            if actions.is_empty() {
                break;
            }
            let a = actions[rng.below(actions.len() as u64) as usize];
            let mut ctx = Ctx::new(&model.cfg, false);
            let Ok(next) = step(&s, a, &mut ctx) else { break };
            steps += 1;
            s = next;
            trace.push(a);
            if let Some(inv) = violated(model, &s) {
                shared.stop.store(true, Relaxed);
                let raw = trace.len();
                let shrunk = shrink(model, inv, trace);
                let mut f = shared.found.lock().unwrap();
                if f.as_ref().is_none_or(|(_, t, _)| shrunk.len() < t.len()) {
                    *f = Some((inv, shrunk, raw));
                }
                break;
            }
            // A state at the depth bound cannot be extended: it counts for
            // coverage but is not worth a place in the corpus.
            if shared.novel(&atoms(&s, Some(a), ctx.branches), &mut local) && trace.len() < limits.max_depth {
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
fn pick(corpus: &[Arc<Entry>], rng: &mut Rng) -> Arc<Entry> {
    let n = corpus.len() as u64;
    let i = if rng.below(2) == 0 { rng.below(n) } else { n - 1 - rng.below(n.div_ceil(8)) };
    corpus[i as usize].clone()
}
