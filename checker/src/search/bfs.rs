//! Exact level-by-level breadth-first search.
//!
//! stateright 0.31's BFS shares work between threads in blocks and keeps
//! the *last* counterexample it meets for a property, so the trace it
//! returns is not always the shortest. This search finishes one depth
//! before starting the next and keeps the first violation of each depth,
//! so every counterexample it reports is a shortest one. It stores a
//! 64-bit fingerprint and a parent link (the parent's fingerprint and the
//! action) per state, not the path, expands a level on all threads, and
//! rebuilds a trace by following the links back.

use crate::explore::Explorer;
use crate::report::rss_kib;
use crate::strategy::{Found, Limits, Outcome, Progress, Stop, Strategy, Traits};
use rmapcheck_model::{Action, State};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Exact level-by-level BFS: exhaustive, shortest counterexamples.
pub struct Bfs;

impl Strategy for Bfs {
    fn traits(&self) -> Traits {
        Traits::exhaustive("bfs", "exact level-by-level breadth-first search: exhaustive, shortest counterexamples")
    }
    /// Runs the search; `progress` gets a line every two seconds.
    fn run(&self, ex: &Explorer, limits: &Limits, progress: Progress) -> Outcome {
        let live = Live::default();
        std::thread::scope(|sc| {
            if let Some(w) = progress {
                let live = &live;
                sc.spawn(move || report(w, live));
            }
            let out = explore(ex, limits, &live);
            live.done.store(true, Relaxed);
            out
        })
    }
}

/// What the level loop tracks besides the outcome.
struct Cut {
    depth_bounded: bool,
    timed_out: bool,
    out_of_memory: bool,
}

/// A fingerprint is already a hash: use it as is.
#[derive(Default)]
struct Identity(u64);
impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A state's 64-bit fingerprint: the state's `Hash` output collected into
/// one buffer, then SipHash-1-3 with fixed keys over the whole buffer (one
/// call instead of hundreds of tiny ones; reproducible across runs). With
/// process symmetry on, [`State`]'s `Hash` folds symmetric states into one
/// fingerprint.
pub fn fingerprint(s: &State) -> u64 {
    thread_local!(static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) });
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        s.hash(&mut Collect(&mut b));
        let mut h = std::hash::DefaultHasher::new();
        h.write(&b);
        h.finish()
    })
}

/// A `Hasher` that only collects the bytes it is fed.
struct Collect<'a>(&'a mut Vec<u8>);
impl Hasher for Collect<'_> {
    fn finish(&self) -> u64 {
        unreachable!("fingerprint() hashes the collected bytes")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// Fingerprint -> (parent fingerprint, the action from the parent); the
/// initial state has no action.
type Seen = HashMap<u64, (u64, Option<Action>), BuildHasherDefault<Identity>>;

/// Counters the level workers bump and the progress reporter reads.
#[derive(Default)]
struct Live {
    generated: AtomicUsize,
    /// Distinct states as of the last completed level.
    unique: AtomicUsize,
    /// New states found so far in this level, before deduplication
    /// across threads and against the level itself.
    fresh: AtomicUsize,
    depth: AtomicUsize,
    done: AtomicBool,
}

/// Prints a progress line every two seconds until the search is done.
fn report(w: &mut (dyn Write + Send), live: &Live) {
    let start = Instant::now();
    let mut last = (Instant::now(), 0usize);
    while !live.done.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if last.0.elapsed() < Duration::from_secs(2) {
            continue;
        }
        let generated = live.generated.load(Relaxed);
        let rate = (generated - last.1) as f64 / last.0.elapsed().as_secs_f64();
        let _ = writeln!(
            w,
            "[{:>6.1}s] depth={} states={generated} unique={} (+{} candidates at this depth) states/s={rate:.0}",
            start.elapsed().as_secs_f64(),
            live.depth.load(Relaxed),
            live.unique.load(Relaxed),
            live.fresh.load(Relaxed),
        );
        last = (Instant::now(), generated);
    }
}

fn explore(ex: &Explorer, limits: &Limits, live: &Live) -> Outcome {
    let init = ex.init();
    let init_fp = fingerprint(&init);
    let mut seen: Seen = HashMap::default();
    seen.insert(init_fp, (init_fp, None));
    let mut frontier: Vec<(u64, State)> = vec![(init_fp, init)];
    let mut out = Outcome::initial();
    let mut cut = Cut { depth_bounded: false, timed_out: false, out_of_memory: false };
    let threads = limits.threads.max(1);
    let mut depth = 0usize;
    live.unique.store(1, Relaxed);
    while !frontier.is_empty() {
        out.max_depth = depth;
        live.depth.store(depth, Relaxed);
        live.fresh.store(0, Relaxed);
        let expand = limits.max_depth.is_none_or(|d| depth < d);
        // Check and expand this level in chunks, on every thread.
        let chunk = frontier.len().div_ceil(threads).max(1);
        let results: Vec<Level> = std::thread::scope(|sc| {
            let handles: Vec<_> =
                frontier.chunks(chunk).map(|part| sc.spawn(|| level(ex, &seen, part, expand, limits, live))).collect();
            handles.into_iter().map(|h| h.join().expect("search thread panicked")).collect()
        });
        let mut next = Vec::new();
        for r in results {
            cut.timed_out |= r.timed_out;
            cut.out_of_memory |= r.out_of_memory;
            cut.depth_bounded |= r.cut_off;
            for (inv, fp) in r.violations {
                if !out.found.iter().any(|f| f.invariant == inv) {
                    out.found.push(Found { invariant: inv, trace: trace(&seen, fp), unshrunk: None });
                }
            }
            out.states += r.generated;
            for (fp, parent, a, s) in r.successors {
                if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(fp) {
                    e.insert((parent, Some(a)));
                    next.push((fp, s));
                }
            }
        }
        out.unique = seen.len();
        live.unique.store(out.unique, Relaxed);
        let all_found = ex.invariants.iter().all(|i| out.found.iter().any(|f| f.invariant == *i));
        cut.out_of_memory |= limits.max_rss_kib.is_some_and(|m| rss_kib() > m);
        if cut.timed_out || cut.out_of_memory || (!out.found.is_empty() && (!limits.keep_going || all_found)) {
            break;
        }
        frontier = next;
        depth += 1;
    }
    out.found.sort_by_key(|f| ex.invariants.iter().position(|&i| i == f.invariant));
    out.stop = if !out.found.is_empty() && !limits.keep_going {
        Stop::FirstViolation
    } else if limits.keep_going && ex.invariants.iter().all(|i| out.found.iter().any(|f| f.invariant == *i)) {
        Stop::AllViolated
    } else if cut.out_of_memory {
        Stop::MemoryBudget(limits.max_rss_kib.unwrap_or(0) / 1024)
    } else if cut.timed_out {
        Stop::TimeLimit(limits.time_limit.unwrap_or_default())
    } else if cut.depth_bounded {
        Stop::DepthBound(limits.max_depth.unwrap_or(0))
    } else {
        Stop::Exhausted
    };
    out
}

/// What one thread made of its share of a level.
struct Level {
    violations: Vec<(usize, u64)>,
    /// New states (not seen at earlier depths, deduplicated within the
    /// thread): fingerprint, parent fingerprint, action, state.
    successors: Vec<(u64, u64, Action, State)>,
    /// Successors generated, repeats included.
    generated: usize,
    timed_out: bool,
    out_of_memory: bool,
    /// A state at the depth bound had actions left: the bound cut the search.
    cut_off: bool,
}

/// Checks and expands one thread's share of a level. `seen` is only read
/// here; the merge after the level is the only writer.
fn level(ex: &Explorer, seen: &Seen, part: &[(u64, State)], expand: bool, limits: &Limits, live: &Live) -> Level {
    let mut r = Level {
        violations: Vec::new(),
        successors: Vec::new(),
        generated: 0,
        timed_out: false,
        out_of_memory: false,
        cut_off: false,
    };
    let mut local: std::collections::HashSet<u64, BuildHasherDefault<Identity>> = Default::default();
    let mut actions = Vec::new();
    for (n, (fp, s)) in part.iter().enumerate() {
        if n % 1024 == 0 {
            r.timed_out = limits.past_deadline();
            r.out_of_memory = limits.max_rss_kib.is_some_and(|m| rss_kib() > m);
            if r.timed_out || r.out_of_memory {
                return r;
            }
        }
        for i in ex.violations(s) {
            if !r.violations.iter().any(|(v, _)| *v == i) {
                r.violations.push((i, *fp));
            }
        }
        actions.clear();
        ex.actions(s, &mut actions);
        if !expand {
            r.cut_off |= !actions.is_empty();
            continue;
        }
        for a in actions.drain(..) {
            if let Some((next, _)) = ex.step(s, a) {
                r.generated += 1;
                live.generated.fetch_add(1, Relaxed);
                let nfp = fingerprint(&next);
                if !seen.contains_key(&nfp) && local.insert(nfp) {
                    live.fresh.fetch_add(1, Relaxed);
                    r.successors.push((nfp, *fp, a, next));
                }
            }
        }
    }
    r
}

/// The action sequence to the state with fingerprint `fp`: the parent
/// links followed back to the initial state.
fn trace(seen: &Seen, fp: u64) -> Vec<Action> {
    let mut out = Vec::new();
    let mut at = fp;
    while let Some(&(parent, Some(a))) = seen.get(&at) {
        out.push(a);
        at = parent;
    }
    out.reverse();
    out
}
