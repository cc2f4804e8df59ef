//! Kernel atomics mapped onto loom (docs/loom.md §1.3). Every upgrade over the kernel's
//! own ordering is listed in the crate docs ("Ordering upgrades").

pub use loom::cell::UnsafeCell;
pub use loom::sync::atomic::{fence, AtomicI32, AtomicIsize, AtomicUsize};
pub use loom::sync::{Condvar, Mutex, MutexGuard};
pub use std::sync::atomic::Ordering::{self, AcqRel, Acquire, Relaxed, Release, SeqCst};

/// A kernel value-returning atomic RMW (`atomic_dec_and_test`, `atomic_add_negative`,
/// successful `atomic_inc_not_zero`): LKMM makes these fully ordered, i.e. `smp_mb()`
/// before and after. Loom models `fence(SeqCst)` (a global SC clock), so we bracket the
/// RMW with two SC fences.
pub fn full_rmw<R>(f: impl FnOnce() -> R) -> R {
    fence(SeqCst);
    let r = f();
    fence(SeqCst);
    r
}

/// `atomic_dec_and_test(v)`: fully ordered; true when the count reached zero.
/// A decrement from zero or below is a refcount underflow: some path put a reference it
/// did not own, or put a freed (possibly recycled) object.
pub fn atomic_dec_and_test(v: &AtomicI32, what: &'static str) -> bool {
    let prev = full_rmw(|| v.fetch_sub(1, AcqRel));
    assert!(prev > 0, "UAF: refcount underflow in {what} (was {prev})");
    prev == 1
}

/// `atomic_inc_not_zero(v)`: a `try_cmpxchg` loop, fully ordered on success, unordered
/// when it sees zero. Legal on a freed `SLAB_TYPESAFE_BY_RCU` object: it can only pin
/// whatever anon_vma lives in the slot now, never resurrect a free one.
pub fn atomic_inc_not_zero(v: &AtomicI32) -> bool {
    let mut c = v.load(Relaxed);
    loop {
        if c == 0 {
            return false;
        }
        fence(SeqCst);
        match v.compare_exchange(c, c + 1, AcqRel, Relaxed) {
            Ok(_) => {
                fence(SeqCst);
                return true;
            }
            Err(now) => c = now,
        }
    }
}

/// `atomic_inc(v)` (e.g. `get_anon_vma`): non-value-returning, so *not* ordered in LKMM.
/// Ghost check in the spirit of `refcount_t`'s "addition on 0; use-after-free": an
/// increment from zero resurrects an object that is being (or has been) freed.
pub fn atomic_inc(v: &AtomicI32) {
    let prev = v.fetch_add(1, Relaxed);
    assert!(prev != 0, "UAF: atomic_inc: addition on 0 (use-after-free)");
}

/// `atomic_inc_return(v)`: fully ordered; same ghost check as [`atomic_inc`].
pub fn atomic_inc_return(v: &AtomicI32) -> i32 {
    let prev = full_rmw(|| v.fetch_add(1, AcqRel));
    assert!(prev != 0, "UAF: atomic_inc_return: addition on 0 (use-after-free)");
    prev + 1
}
