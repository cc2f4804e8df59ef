//! Seeded random walks on several threads with a result that does not
//! depend on the threads: walk `i` is determined by the seed and `i`
//! alone, and results are committed in walk order. Without `--continue`
//! the violation reported is that of the first violating walk, and the
//! counts are those of the walks up to it, whatever the thread count and
//! however the threads were scheduled. `simulate` and `swarm` run on it;
//! `guided` uses [`in_order`] round by round.

use crate::explore::Explorer;
use crate::strategy::{Findings, Limits, Outcome, Stop};
use rmapcheck_model::rng::SplitMix64;
use rmapcheck_model::{Action, State};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// What one walk did: its steps, and each violating state it reached
/// (the trace to it, the state, the first checked invariant it violates).
pub struct Walk {
    /// Transitions taken.
    pub steps: usize,
    /// Violations met, in the order met.
    pub violations: Vec<(Vec<Action>, State, usize)>,
}

/// Steps of a walk between two looks at the clock.
const CLOCK_EVERY: usize = 256;

/// The random generator of walk `i` under `seed`.
pub fn walk_rng(seed: u64, i: u64) -> SplitMix64 {
    let mut rng = SplitMix64(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
    rng.next();
    rng
}

/// Walks `pick`'s choices from the initial state: at most the walk depth,
/// to the time limit, until no action is enabled or `pick` gives up. With
/// `--continue` a walk goes on past a violating state; without, it ends
/// there.
pub fn walk(
    ex: &Explorer,
    limits: &Limits,
    mut pick: impl FnMut(&[Action]) -> Option<Action>,
    stop: &AtomicBool,
) -> Walk {
    let mut s = ex.init();
    let mut trace = Vec::new();
    let mut actions = Vec::new();
    let mut violations = Vec::new();
    for n in 0..limits.walk_depth() {
        if n % CLOCK_EVERY == CLOCK_EVERY - 1 && (limits.past_deadline() || stop.load(Relaxed)) {
            break;
        }
        actions.clear();
        ex.actions(&s, &mut actions);
        let Some(a) = pick(&actions) else { break };
        let Some((next, _)) = ex.step(&s, a) else { break };
        s = next;
        trace.push(a);
        if let Some(inv) = ex.violated(&s) {
            violations.push((trace.clone(), s.clone(), inv));
            if !limits.keep_going {
                break;
            }
        }
    }
    Walk { steps: trace.len(), violations }
}

/// Runs walk `0, 1, 2, ...` (`run(i, stop)` computes walk `i`) on every
/// thread until the time limit, or until the findings committed in walk
/// order end the search; violations are shrunk as they are committed.
pub fn search(ex: &Explorer, limits: &Limits, run: impl Fn(u64, &AtomicBool) -> Walk + Sync) -> Outcome {
    let findings = Findings::new(ex, limits);
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    // Walks done but not yet committed, and what the committed ones add up to.
    let pending: Mutex<(BTreeMap<u64, Walk>, Committed)> = Mutex::new((BTreeMap::new(), Committed::default()));
    std::thread::scope(|sc| {
        for _ in 0..limits.threads.max(1) {
            sc.spawn(|| {
                while !stop.load(Relaxed) && !limits.past_deadline() {
                    let i = next.fetch_add(1, Relaxed);
                    let w = run(i, &stop);
                    let mut p = pending.lock().unwrap();
                    if stop.load(Relaxed) {
                        break;
                    }
                    p.0.insert(i, w);
                    let (ready, c) = &mut *p;
                    while let Some(w) = ready.remove(&c.walks) {
                        c.add(&w);
                        for (trace, s, inv) in &w.violations {
                            findings.record(ex, trace, s, *inv, true);
                            if findings.done() {
                                break;
                            }
                        }
                        if findings.done() {
                            stop.store(true, Relaxed);
                            break;
                        }
                    }
                }
            });
        }
    });
    let c = pending.into_inner().unwrap().1;
    Outcome {
        states: c.steps,
        unique: 0,
        max_depth: c.depth,
        stop: findings.stop().unwrap_or(Stop::TimeLimit(limits.time_limit.unwrap_or_default())),
        found: findings.into_found(ex),
        walks: Some(c.walks as usize),
        corpus: None,
        storage: None,
    }
}

/// The walks committed so far, in order.
#[derive(Default)]
struct Committed {
    walks: u64,
    steps: usize,
    depth: usize,
}

impl Committed {
    fn add(&mut self, w: &Walk) {
        self.walks += 1;
        self.steps += w.steps;
        self.depth = self.depth.max(w.steps);
    }
}

/// `f(0), ..., f(n - 1)` computed on up to `threads` threads, returned in
/// order.
pub fn in_order<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    std::thread::scope(|sc| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|t| sc.spawn(move || (t..n).step_by(threads).map(|i| (i, f(i))).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            for (i, v) in h.join().expect("a walk thread panicked") {
                out[i] = Some(v);
            }
        }
    });
    out.into_iter().map(|v| v.expect("every index computed")).collect()
}
