//! Running one scenario under loom and reporting how it ended.
//!
//! * The preemption bound is the CI bound unless `RMAPCHECK_LOOM_DEEP=1` is set (the only
//!   environment variable read; the deep bound is then used). `LOOM_MAX_PERMUTATIONS` /
//!   `LOOM_MAX_DURATION` are ignored: a capped loom run returns "pass" silently.
//! * The model runs under `catch_unwind`; the panic message is classified into a
//!   [`Kind`], so a test asserts the *kind* of failure, not just "it panicked".
//! * Iterations are counted outside loom (a `std` counter bumped at the start of every
//!   explored execution); for a failing variant this is the iteration that failed.
//! * The world of each execution is leaked as `&'static` (finding F4) and freed at the
//!   start of the next execution, when loom has finished with it.

use crate::ghost::{self, Kind};
use crate::world::World;
use crate::RwsemKind;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// Environment variable selecting the deep bounds.
pub const DEEP_ENV: &str = "RMAPCHECK_LOOM_DEEP";

/// How many model threads run concurrently; picks the preemption bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Main thread + one spawned thread.
    Two,
    /// Main thread + two spawned threads.
    Three,
}

impl Threads {
    /// Bound used by plain `cargo test` (CI): the whole suite stays within seconds.
    pub fn ci_bound(self, rwsem: RwsemKind) -> Option<usize> {
        match (self, rwsem) {
            (Threads::Two, RwsemKind::MutexCondvar) => Some(4),
            (Threads::Two, RwsemKind::AtomicWaitq) => Some(3),
            (Threads::Three, _) => Some(3),
        }
    }

    /// Bound used with `RMAPCHECK_LOOM_DEEP=1`: unbounded for two threads with the
    /// MutexCondvar rwsem; the AtomicWaitq rwsem and three threads stay bounded (an
    /// unbounded two-thread AtomicWaitq run of S1 took 8.7 M iterations in the prototype).
    pub fn deep_bound(self, rwsem: RwsemKind) -> Option<usize> {
        match (self, rwsem) {
            (Threads::Two, RwsemKind::MutexCondvar) => None,
            (Threads::Two, RwsemKind::AtomicWaitq) => Some(6),
            (Threads::Three, _) => Some(5),
        }
    }
}

/// Is the deep mode selected?
pub fn deep() -> bool {
    std::env::var(DEEP_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// How a scenario run ended.
#[derive(Debug, Clone)]
pub struct Report {
    /// Test name.
    pub name: &'static str,
    /// Outcome.
    pub kind: Kind,
    /// The panic message (empty on pass).
    pub message: String,
    /// Executions explored (to the failing one, for a failure).
    pub iterations: usize,
    /// Wall time of the loom run.
    pub elapsed: Duration,
    /// Preemption bound used (`None`: unbounded).
    pub bound: Option<usize>,
    /// Ghost trace of the failing execution.
    pub trace: String,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.bound.map_or("unbounded".to_string(), |b| format!("p={b}"));
        write!(
            f,
            "[loom] {}: {:?} after {} iterations in {:.3} s ({b})",
            self.name,
            self.kind,
            self.iterations,
            self.elapsed.as_secs_f64()
        )?;
        if self.kind != Kind::Pass {
            write!(f, "\n  message: {}\n  trace of the failing execution:\n{}", self.message, self.trace)?;
        }
        Ok(())
    }
}

impl Report {
    /// Assert the outcome kind; on mismatch the message and counterexample are printed.
    #[track_caller]
    pub fn expect(&self, kind: Kind) {
        assert_eq!(self.kind, kind, "unexpected outcome\n{self}");
    }

    /// Assert a failure of `kind` whose message contains `needle`.
    #[track_caller]
    pub fn expect_msg(&self, kind: Kind, needle: &str) {
        self.expect(kind);
        assert!(self.message.contains(needle), "message lacks {needle:?}\n{self}");
    }
}

thread_local! {
    static IN_MODEL: Cell<bool> = const { Cell::new(false) };
    static LAST_TRACE: RefCell<String> = const { RefCell::new(String::new()) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_MODEL.with(|f| f.get()) {
                // Expected panics of explored executions: keep the trace, stay quiet.
                LAST_TRACE.with(|t| *t.borrow_mut() = ghost::dump());
            } else {
                prev(info);
            }
        }));
    });
}

struct WorldSlot(Mutex<usize>);

impl WorldSlot {
    fn replace(&self, new: Option<&'static World>) {
        let mut p = self.0.lock().unwrap();
        let old = *p;
        *p = new.map_or(0, |w| w as *const World as usize);
        if old != 0 {
            // SAFETY: `old` came from `Box::leak` below, and the execution that used it
            // has finished (loom runs executions one after another).
            drop(unsafe { Box::from_raw(old as *mut World) });
        }
    }
}

/// Explore `run` over a world built by `setup`, at the CI or deep preemption bound.
/// `setup` runs inside the execution (it may use loom operations, single-threaded);
/// `run` spawns the model threads, joins them and checks quiescent invariants.
pub fn explore<S, R>(name: &'static str, cfg: crate::Cfg, threads: Threads, setup: S, run: R) -> Report
where
    S: Fn(crate::Cfg) -> World + Send + Sync + 'static,
    R: Fn(&'static World) + Send + Sync + 'static,
{
    let bound = if deep() { threads.deep_bound(cfg.rwsem) } else { threads.ci_bound(cfg.rwsem) };
    explore_at(name, cfg, bound, setup, run)
}

/// [`explore`] at an explicit bound.
pub fn explore_at<S, R>(name: &'static str, cfg: crate::Cfg, bound: Option<usize>, setup: S, run: R) -> Report
where
    S: Fn(crate::Cfg) -> World + Send + Sync + 'static,
    R: Fn(&'static World) + Send + Sync + 'static,
{
    install_hook();
    let iters = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(WorldSlot(Mutex::new(0)));
    let mut b = loom::model::Builder::new();
    b.preemption_bound = bound;
    b.max_permutations = None;
    b.max_duration = None;
    b.max_branches = 10_000;
    let (it, sl) = (iters.clone(), slot.clone());
    let start = Instant::now();
    IN_MODEL.with(|f| f.set(true));
    let res = panic::catch_unwind(AssertUnwindSafe(|| {
        b.check(move || {
            it.fetch_add(1, SeqCst);
            ghost::clear();
            sl.replace(None);
            let w: &'static World = Box::leak(Box::new(setup(cfg)));
            sl.replace(Some(w));
            run(w);
        })
    }));
    IN_MODEL.with(|f| f.set(false));
    let elapsed = start.elapsed();
    let (kind, message, trace) = match res {
        Ok(()) => {
            slot.replace(None);
            (Kind::Pass, String::new(), String::new())
        }
        Err(e) => {
            // The failing execution's world is leaked on purpose (one per failing test):
            // unwound model threads may have left references to it inside loom.
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "<non-string panic>".into());
            (Kind::classify(&msg), msg, LAST_TRACE.with(|t| t.borrow().clone()))
        }
    };
    let r = Report { name, kind, message, iterations: iters.load(SeqCst), elapsed, bound, trace };
    // Captured by libtest; `-- --nocapture` shows every counterexample.
    eprintln!("{r}");
    r
}
