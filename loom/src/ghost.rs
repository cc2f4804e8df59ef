//! Ghost state: an event trace for counterexamples and the failure kinds.
//!
//! Ghost state is *not* loom state: it uses `std` types, so it adds no scheduling points
//! and no state-space growth. Loom runs one model thread at a time on the test's OS thread
//! (its threads are coroutines), so a thread-local trace records the real interleaving.

use std::cell::RefCell;

thread_local! {
    static TRACE: RefCell<Vec<(&'static str, &'static str, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Record one event `(thread, event, slot-or-value)` of the current execution.
pub fn ev(who: &'static str, what: &'static str, arg: usize) {
    TRACE.with(|t| t.borrow_mut().push((who, what, arg)));
}

/// Forget the trace (start of every explored execution).
pub fn clear() {
    TRACE.with(|t| t.borrow_mut().clear());
}

/// The trace of the current (usually: the failing) execution, one event per line.
pub fn dump() -> String {
    TRACE.with(|t| {
        t.borrow()
            .iter()
            .map(|(w, e, a)| if *a == usize::MAX { format!("  {w}: {e}\n") } else { format!("  {w}: {e} {a}\n") })
            .collect()
    })
}

/// How an explored execution ended. Each broken variant's test asserts one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every explored execution passed.
    Pass,
    /// Loom's `UnsafeCell` causality check: an access not ordered with a write — with the
    /// `object` cell of an anon_vma this is KASAN's use-after-free under weak memory.
    DataRace,
    /// Ghost generation mismatch: a path that trusts an anon_vma got a slot that was
    /// freed and handed out again (a *different* anon_vma in the same memory).
    Stale,
    /// Ghost liveness: a trusted use of a freed slot, double free, refcount underflow.
    Uaf,
    /// Ghost "untyped" flag: a speculative access (allowed on freed slots by
    /// `SLAB_TYPESAFE_BY_RCU`) after the grace period that let the slab page go.
    RcuUaf,
    /// Loom found no runnable thread.
    Deadlock,
    /// `might_sleep()` inside `rcu_read_lock()` or in a no-sleep context.
    MightSleep,
    /// Any other model assertion (lock ownership, quiescent invariants, S7's root check).
    Assertion,
}

impl Kind {
    /// Classify a panic message of the model or of loom.
    pub fn classify(msg: &str) -> Kind {
        if msg.contains("Causality violation") {
            Kind::DataRace
        } else if msg.starts_with("deadlock") || msg.contains("deadlock;") {
            Kind::Deadlock
        } else if msg.starts_with("STALE:") {
            Kind::Stale
        } else if msg.starts_with("RCU-UAF:") {
            Kind::RcuUaf
        } else if msg.starts_with("UAF:") {
            Kind::Uaf
        } else if msg.starts_with("MIGHT_SLEEP:") {
            Kind::MightSleep
        } else {
            Kind::Assertion
        }
    }
}
