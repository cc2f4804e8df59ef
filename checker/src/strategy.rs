//! What every search strategy implements and returns: the [`Strategy`]
//! trait, its one [`Limits`] and one [`Outcome`] (why it stopped, a
//! [`Stop`], and what it found, [`Found`]). The strategies themselves are
//! in `search/`, one file each, registered in `STRATEGIES`
//! (`search/mod.rs`, which depends on this module, not the other way).

use crate::explore::Explorer;
use rmapcheck_model::{Action, State};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where progress lines go (stderr for the CLI, nowhere for tests).
pub type Progress<'a> = Option<&'a mut (dyn Write + Send)>;

/// A search strategy: one file under `checker/src/search/` and one line in
/// `STRATEGIES` (`search/mod.rs`).
pub trait Strategy: Sync {
    /// Its name, what it does, and what it can do.
    fn traits(&self) -> Traits;
    /// Runs the search.
    fn run(&self, ex: &Explorer, limits: &Limits, progress: Progress) -> Outcome;

    /// Its `--strategy` name.
    fn name(&self) -> &'static str {
        self.traits().name
    }
    /// One line on what it does, for `rmapcheck list`.
    fn about(&self) -> &'static str {
        self.traits().about
    }
    /// See [`Traits::exhaustive`].
    fn exhaustive(&self) -> bool {
        self.traits().exhaustive
    }
    /// See [`Traits::continues`].
    fn continues(&self) -> bool {
        self.traits().continues
    }
    /// See [`Traits::needs_time_limit`].
    fn needs_time_limit(&self) -> bool {
        self.traits().needs_time_limit
    }
    /// See [`Traits::caveat`].
    fn caveat(&self) -> Option<&'static str> {
        self.traits().caveat
    }
}

/// What a strategy declares about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traits {
    /// Its `--strategy` name.
    pub name: &'static str,
    /// One line on what it does, for `rmapcheck list`.
    pub about: &'static str,
    /// Whether a search that ran to its end ([`Stop::Exhausted`]) visited
    /// every reachable state within the model bounds, so that "holds" is
    /// a proof for those bounds.
    pub exhaustive: bool,
    /// Whether it can keep searching after a violation (`--continue`);
    /// when it cannot, `--continue` is refused before the run starts.
    pub continues: bool,
    /// Whether it never ends on its own, so a time limit is required.
    pub needs_time_limit: bool,
    /// What a time limit leaves unsearched besides the time, for the
    /// "stopped by" line (a pruning or sampling strategy says so).
    pub caveat: Option<&'static str>,
}

impl Traits {
    /// An exhaustive search that can continue after a violation.
    pub const fn exhaustive(name: &'static str, about: &'static str) -> Traits {
        Traits { name, about, exhaustive: true, continues: true, needs_time_limit: false, caveat: None }
    }

    /// Random sampling: never exhaustive, never ends on its own, continues.
    pub const fn sampling(name: &'static str, about: &'static str) -> Traits {
        let caveat = Some("in a random search, which never exhausts the state space");
        Traits { name, about, exhaustive: false, continues: true, needs_time_limit: true, caveat }
    }

    /// A search that ends on its own but prunes states (`caveat` says how);
    /// it continues after a violation.
    pub const fn pruning(name: &'static str, about: &'static str, caveat: &'static str) -> Traits {
        Traits { name, about, exhaustive: false, continues: true, needs_time_limit: false, caveat: Some(caveat) }
    }
}

/// The bounds of one search (each strategy reads the ones it uses).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Worker threads.
    pub threads: usize,
    /// Deepest level, in actions from the initial state; the walking
    /// strategies use 30 when it is not given.
    pub max_depth: Option<usize>,
    /// The time limit, counted from [`Limits::start`].
    pub time_limit: Option<Duration>,
    /// When the search started.
    pub start: Instant,
    /// Stop when the resident set grows past this many KiB.
    pub max_rss_kib: Option<u64>,
    /// Seed of the random strategies.
    pub seed: u64,
    /// Largest novelty width (`novelty`).
    pub width: usize,
    /// Keep searching after a violation, for one counterexample per
    /// invariant (`--continue`).
    pub keep_going: bool,
    /// The BFS frontier kept in memory, in KiB, before it spills to disk
    /// (default: 32 MiB, or a quarter of a smaller `max_rss_kib`).
    pub frontier_kib: Option<u64>,
    /// A level's candidate fingerprints and parent links kept in memory,
    /// in KiB, before they spill to disk (default: a quarter of
    /// `max_rss_kib`, all of them without it).
    pub candidates_kib: Option<u64>,
    /// This process's share of a sharded BFS (`--shard I/N`).
    pub shard: Option<Shard>,
}

/// One process of a BFS sharded over several (`docs/sharding.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This process, `0..count`.
    pub index: usize,
    /// Processes in the run.
    pub count: usize,
    /// The directory every process of the run reads and writes.
    pub dir: std::path::PathBuf,
}

impl Limits {
    /// The instant the time limit ends, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.time_limit.and_then(|t| self.start.checked_add(t))
    }

    /// Whether the time limit has passed.
    pub fn past_deadline(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// The depth bound of a walk or a round: [`Limits::max_depth`] or 30.
    pub fn walk_depth(&self) -> usize {
        self.max_depth.unwrap_or(30)
    }
}

/// Why a search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// It ran to its end: for an exhaustive strategy, every reachable state
    /// within the model bounds was checked.
    Exhausted,
    /// A violation, without `--continue`: the invariants not violated were
    /// not searched for after it.
    FirstViolation,
    /// With `--continue`, every checked invariant has a counterexample.
    AllViolated,
    /// The depth bound cut the search.
    DepthBound(usize),
    /// The time limit.
    TimeLimit(Duration),
    /// The memory budget, in MiB.
    MemoryBudget(u64),
    /// The novelty search finished every round up to this width, without
    /// expanding the states it pruned.
    Pruned(usize),
    /// The BFS could not read or write its spill, link or exchange files.
    Storage(std::io::ErrorKind),
}

/// How [`Stop::Storage`] describes itself: `rmapcheck check` exits 2 on
/// such a stop (its one-line message is already printed), since no verdict
/// can be drawn from a search that lost its files.
pub const STORAGE_ERROR: &str = "storage error of the BFS files";

impl Stop {
    /// The "stopped by the ..." text of an incomplete search run by `s`.
    pub fn describe(self, s: &dyn Strategy) -> String {
        match self {
            Stop::Exhausted => "end of the search".into(),
            Stop::FirstViolation => "first violation (without --continue the search ends there)".into(),
            Stop::AllViolated => "last violation: every checked invariant has a counterexample".into(),
            Stop::DepthBound(d) => format!("depth bound of {d}"),
            Stop::TimeLimit(t) => match s.caveat() {
                Some(c) => format!("time limit of {} s, {c}", t.as_secs()),
                None => format!("time limit of {} s", t.as_secs()),
            },
            Stop::MemoryBudget(m) => format!("memory budget of {m} MiB"),
            Stop::Storage(k) => format!("{STORAGE_ERROR} ({k}; the message is above)"),
            Stop::Pruned(w) => format!(
                "novelty pruning: every round up to width {w} finished, but states showing no new atom tuple were not expanded"
            ),
        }
    }
}

/// A violation found: the invariant (an index into
/// [`rmapcheck_invariants::INVARIANTS`]) and the actions from the initial
/// state to a state violating it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The invariant.
    pub invariant: usize,
    /// The trace.
    pub trace: Vec<Action>,
    /// The trace's length before it was shrunk (strategies whose traces
    /// are not shortest).
    pub unshrunk: Option<usize>,
}

/// What a search did and found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// States generated (transitions taken), repeats included; `bfs` and
    /// `dfs` count the initial state too.
    pub states: usize,
    /// Distinct states, or states kept (`novelty`); 0 when not tracked.
    pub unique: usize,
    /// Deepest level reached, in actions.
    pub max_depth: usize,
    /// Why it stopped.
    pub stop: Stop,
    /// One violation per invariant found, in registry order.
    pub found: Vec<Found>,
    /// Random walks run (`swarm`, `guided`).
    pub walks: Option<usize>,
    /// States kept and distinct atoms seen (`guided`, `novelty`).
    pub corpus: Option<(usize, usize)>,
    /// What the stored states took (`bfs`).
    pub storage: Option<Storage>,
}

/// What a search's stored states took, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Storage {
    /// The seen set at the end, empty slots included.
    pub seen_bytes: u64,
    /// Most bytes of frontier states held in memory at once.
    pub frontier_peak_memory: u64,
    /// Most bytes of frontier states on disk at once.
    pub frontier_peak_disk: u64,
    /// The parent-link file this process wrote.
    pub links_bytes: u64,
    /// Bytes of candidate fingerprints and parent links written to disk.
    pub candidates_written: u64,
}

impl Outcome {
    /// A search that has checked the initial state and nothing else.
    pub fn initial() -> Outcome {
        Outcome {
            states: 1,
            unique: 1,
            max_depth: 0,
            stop: Stop::Exhausted,
            found: Vec::new(),
            walks: None,
            corpus: None,
            storage: None,
        }
    }
}

/// The violations a multi-threaded search collects, and whether it should
/// stop: at the first violation, or with `--continue` once every checked
/// invariant has one.
pub struct Findings {
    keep_going: bool,
    checked: usize,
    found: Mutex<Vec<Found>>,
    done: AtomicBool,
}

impl Findings {
    /// Nothing found yet.
    pub fn new(ex: &Explorer, limits: &Limits) -> Findings {
        Findings {
            keep_going: limits.keep_going,
            checked: ex.invariants.len(),
            found: Mutex::new(Vec::new()),
            done: AtomicBool::new(false),
        }
    }

    /// Whether the search should stop.
    pub fn done(&self) -> bool {
        self.done.load(Relaxed)
    }

    /// Records `trace`, which ends in `s`, a state violating `first` (the
    /// first checked invariant it violates): for `first`, and with
    /// `--continue` for every other invariant `s` violates that was not
    /// found before, the trace shrunk by [`Explorer::shrink`] when
    /// `shrink`. Without `--continue` one violation is kept; two threads
    /// finding one at once keep the shorter trace. With `--continue` a
    /// walk goes on past a violating state (a search that expands every
    /// state does too), since some invariants only break after others.
    pub fn record(&self, ex: &Explorer, trace: &[Action], s: &State, first: usize, shrink: bool) {
        let new: Vec<usize> = if self.keep_going {
            let known: Vec<usize> = self.found.lock().unwrap().iter().map(|f| f.invariant).collect();
            ex.violations(s).filter(|i| !known.contains(i)).collect()
        } else {
            // Stop the other threads before shrinking.
            self.done.store(true, Relaxed);
            vec![first]
        };
        for inv in new {
            let f = if shrink {
                let shrunk = ex.shrink(inv, trace.to_vec(), !self.keep_going);
                Found { invariant: inv, trace: shrunk, unshrunk: Some(trace.len()) }
            } else {
                Found { invariant: inv, trace: trace.to_vec(), unshrunk: None }
            };
            let mut all = self.found.lock().unwrap();
            let same = if self.keep_going {
                all.iter().position(|g| g.invariant == inv)
            } else {
                (!all.is_empty()).then_some(0)
            };
            match same {
                Some(k) if f.trace.len() < all[k].trace.len() => all[k] = f,
                Some(_) => {}
                None => all.push(f),
            }
            if all.len() >= self.checked {
                self.done.store(true, Relaxed);
            }
        }
    }

    /// How the search ended if the findings ended it.
    pub fn stop(&self) -> Option<Stop> {
        let n = self.found.lock().unwrap().len();
        match (n, self.keep_going) {
            (0, _) => None,
            (_, false) => Some(Stop::FirstViolation),
            (n, true) if n >= self.checked => Some(Stop::AllViolated),
            _ => None,
        }
    }

    /// What was found, in the order of the checked invariants.
    pub fn into_found(self, ex: &Explorer) -> Vec<Found> {
        let mut v = self.found.into_inner().unwrap();
        v.sort_by_key(|f| ex.invariants.iter().position(|&i| i == f.invariant));
        v
    }
}
