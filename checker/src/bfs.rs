//! Exact level-by-level breadth-first search.
//!
//! stateright 0.31's BFS shares work between threads in blocks and keeps
//! the *last* counterexample it meets for a property, so the trace it
//! returns is not always the shortest. This search finishes one depth
//! before starting the next and keeps the first violation of each depth,
//! so every counterexample it reports is a shortest one. It stores a
//! 64-bit fingerprint and a parent link per state (not the path), expands
//! a level on all threads, and rebuilds traces by replaying action indices
//! from the initial state, as stateright does.

use crate::model::RmapModel;
use crate::report::rss_kib;
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::{Action, State};
use stateright::Model;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Limits of one search.
pub struct Limits {
    /// Worker threads.
    pub threads: usize,
    /// Deepest level to check, in actions from the initial state.
    pub max_depth: Option<usize>,
    /// Stop at this instant.
    pub deadline: Option<Instant>,
    /// Look for a counterexample to every invariant instead of stopping at the first.
    pub keep_going: bool,
    /// Stop when the resident set grows past this many KiB.
    pub max_rss_kib: Option<u64>,
}

/// What the search found.
pub struct BfsOutcome {
    /// States generated, repeats included.
    pub states: usize,
    /// Distinct states.
    pub unique: usize,
    /// Deepest level checked, in actions.
    pub depth: usize,
    /// The search stopped at the depth bound with states still unexpanded.
    pub depth_bounded: bool,
    /// The search stopped at the deadline.
    pub timed_out: bool,
    /// The search stopped at the memory budget.
    pub out_of_memory: bool,
    /// Violated invariants (indexes into INVARIANTS) with shortest traces.
    pub found: Vec<(usize, Vec<Action>)>,
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

type Seen = HashMap<u64, (u64, u32), BuildHasherDefault<Identity>>;

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

/// Runs the search; `progress` gets a line every two seconds.
pub fn search(model: &RmapModel, limits: &Limits, progress: Option<&mut (dyn Write + Send)>) -> BfsOutcome {
    let live = Live::default();
    std::thread::scope(|sc| {
        if let Some(w) = progress {
            let live = &live;
            sc.spawn(move || report(w, live));
        }
        let out = explore(model, limits, &live);
        live.done.store(true, Relaxed);
        out
    })
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

fn explore(model: &RmapModel, limits: &Limits, live: &Live) -> BfsOutcome {
    let init = model.init_states().remove(0);
    let init_fp = fingerprint(&init);
    let mut seen: Seen = HashMap::default();
    seen.insert(init_fp, (init_fp, u32::MAX));
    let mut frontier: Vec<(u64, State)> = vec![(init_fp, init)];
    let mut out = BfsOutcome {
        states: 1,
        unique: 1,
        depth: 0,
        depth_bounded: false,
        timed_out: false,
        out_of_memory: false,
        found: Vec::new(),
    };
    let threads = limits.threads.max(1);
    let mut depth = 0usize;
    live.unique.store(1, Relaxed);
    while !frontier.is_empty() {
        out.depth = depth;
        live.depth.store(depth, Relaxed);
        live.fresh.store(0, Relaxed);
        let expand = limits.max_depth.is_none_or(|d| depth < d);
        // Check and expand this level in chunks, on every thread.
        let chunk = frontier.len().div_ceil(threads).max(1);
        let results: Vec<Level> = std::thread::scope(|sc| {
            let handles: Vec<_> = frontier
                .chunks(chunk)
                .map(|part| sc.spawn(|| level(model, &seen, part, expand, limits, live)))
                .collect();
            handles.into_iter().map(|h| h.join().expect("search thread panicked")).collect()
        });
        let mut next = Vec::new();
        for r in results {
            out.timed_out |= r.timed_out;
            out.out_of_memory |= r.out_of_memory;
            out.depth_bounded |= r.cut_off;
            for (inv, fp) in r.violations {
                if !out.found.iter().any(|(i, _)| *i == inv) {
                    out.found.push((inv, trace(model, &seen, fp)));
                }
            }
            out.states += r.generated;
            for (fp, parent, idx, s) in r.successors {
                if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(fp) {
                    e.insert((parent, idx));
                    next.push((fp, s));
                }
            }
        }
        out.unique = seen.len();
        live.unique.store(out.unique, Relaxed);
        let all_found = model.invariants.iter().all(|i| out.found.iter().any(|(f, _)| f == i));
        out.out_of_memory |= limits.max_rss_kib.is_some_and(|m| rss_kib() > m);
        if out.timed_out || out.out_of_memory || (!out.found.is_empty() && (!limits.keep_going || all_found)) {
            break;
        }
        frontier = next;
        depth += 1;
    }
    out.found.sort_by_key(|(i, _)| *i);
    out
}

/// What one thread made of its share of a level.
struct Level {
    violations: Vec<(usize, u64)>,
    /// New states (not seen at earlier depths, deduplicated within the
    /// thread): fingerprint, parent fingerprint, action index, state.
    successors: Vec<(u64, u64, u32, State)>,
    /// Successors generated, repeats included.
    generated: usize,
    timed_out: bool,
    out_of_memory: bool,
    /// A state at the depth bound had actions left: the bound cut the search.
    cut_off: bool,
}

/// Checks and expands one thread's share of a level. `seen` is only read
/// here; the merge after the level is the only writer.
fn level(model: &RmapModel, seen: &Seen, part: &[(u64, State)], expand: bool, limits: &Limits, live: &Live) -> Level {
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
            r.timed_out = limits.deadline.is_some_and(|d| Instant::now() >= d);
            r.out_of_memory = limits.max_rss_kib.is_some_and(|m| rss_kib() > m);
            if r.timed_out || r.out_of_memory {
                return r;
            }
        }
        for &i in &model.invariants {
            if (INVARIANTS[i].check)(s, model.cfg.kernel).is_err() && !r.violations.iter().any(|(v, _)| *v == i) {
                r.violations.push((i, *fp));
            }
        }
        actions.clear();
        model.actions(s, &mut actions);
        if !expand {
            r.cut_off |= !actions.is_empty();
            continue;
        }
        for (idx, a) in actions.drain(..).enumerate() {
            if let Some(next) = model.next_state(s, a) {
                r.generated += 1;
                live.generated.fetch_add(1, Relaxed);
                let nfp = fingerprint(&next);
                if !seen.contains_key(&nfp) && local.insert(nfp) {
                    live.fresh.fetch_add(1, Relaxed);
                    r.successors.push((nfp, *fp, idx as u32, next));
                }
            }
        }
    }
    r
}

/// Rebuilds the action sequence to the state with fingerprint `fp` by
/// following parent links back and replaying action indices forward.
fn trace(model: &RmapModel, seen: &Seen, fp: u64) -> Vec<Action> {
    let mut indices = Vec::new();
    let mut at = fp;
    while let Some(&(parent, idx)) = seen.get(&at) {
        if idx == u32::MAX {
            break;
        }
        indices.push(idx);
        at = parent;
    }
    indices.reverse();
    let mut s = model.init_states().remove(0);
    let mut out = Vec::new();
    let mut actions = Vec::new();
    for idx in indices {
        actions.clear();
        model.actions(&s, &mut actions);
        let a = actions[idx as usize];
        s = model.next_state(&s, a).expect("a recorded transition replays");
        out.push(a);
    }
    out
}
