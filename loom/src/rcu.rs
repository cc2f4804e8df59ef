//! Per-thread ghost context (`Cpu`) and the RCU emulation (docs/loom.md §2.6).
//!
//! Default RCU is ghost-only: `rcu_read_lock()` bumps a per-thread nesting counter and
//! costs no loom operation. The only RCU guarantee the anon_vma protocol uses is type
//! stability (I6), and the arena provides that permanently. `might_sleep()` asserts the
//! counter is zero (I7, "mm: fix sleeping function warning from __put_anon_vma").
//!
//! With `Cfg::real_rcu_gp` (scenario S8) the read side also registers in an epoch table
//! under a loom mutex, and `synchronize_rcu()` blocks until every reader that started
//! before the grace period has left. Waiting only for *pre-existing* readers is what real
//! RCU does; waiting for "no readers at all" would let a new reader stall the grace period
//! and report false deadlocks.

use crate::ghost::ev;
use crate::sync::{Condvar, Mutex};
use std::cell::{Cell, RefCell};

/// One model thread's ghost context: what the kernel knows about `current`.
pub struct Cpu {
    /// Name used in traces and panic messages.
    pub name: &'static str,
    /// Index into the RCU reader table (0..5, loom allows at most 5 threads).
    pub id: usize,
    rcu_nesting: Cell<u32>,
    /// Set by a caller that must not sleep (S9: reclaim's `rwc->try_lock` contract).
    pub no_sleep: Cell<bool>,
    /// Ghost lockdep: rwsems (by anon_vma slot) this thread holds, `true` = write.
    pub held: RefCell<Vec<(usize, bool)>>,
}

impl Cpu {
    /// A fresh context for thread `name` with RCU reader index `id`.
    pub fn new(name: &'static str, id: usize) -> Cpu {
        Cpu { name, id, rcu_nesting: Cell::new(0), no_sleep: Cell::new(false), held: RefCell::new(Vec::new()) }
    }

    /// `might_sleep()`: a sleeping operation must not run inside an RCU read-side
    /// critical section (non-preemptible RCU) nor in a caller that promised not to sleep.
    pub fn might_sleep(&self, what: &'static str) {
        assert!(self.rcu_nesting.get() == 0, "MIGHT_SLEEP: {what} inside rcu_read_lock() on {}", self.name);
        assert!(!self.no_sleep.get(), "MIGHT_SLEEP: {what} in a no-sleep (try_lock) context on {}", self.name);
    }

    /// Inside an RCU read-side critical section?
    pub fn in_rcu(&self) -> bool {
        self.rcu_nesting.get() > 0
    }

    /// End-of-thread check: no RCU section open, no rwsem held.
    pub fn assert_quiescent(&self) {
        assert_eq!(self.rcu_nesting.get(), 0, "rcu_read_lock leaked on {}", self.name);
        assert!(self.held.borrow().is_empty(), "rwsem leaked on {}: {:?}", self.name, self.held.borrow());
    }
}

const NR_CPUS: usize = 5;

struct RcuState {
    epoch: u64,
    /// Start epoch of each CPU's current read-side section.
    readers: [Option<u64>; NR_CPUS],
}

/// RCU: ghost-only unless built with `real_gp`.
pub struct Rcu {
    real_gp: bool,
    st: Mutex<RcuState>,
    cv: Condvar,
}

impl Rcu {
    /// `real_gp`: model grace periods with loom blocking primitives.
    pub fn new(real_gp: bool) -> Rcu {
        Rcu { real_gp, st: Mutex::new(RcuState { epoch: 0, readers: [None; NR_CPUS] }), cv: Condvar::new() }
    }

    /// `rcu_read_lock()`.
    pub fn read_lock(&self, cpu: &Cpu) {
        let n = cpu.rcu_nesting.get();
        cpu.rcu_nesting.set(n + 1);
        if self.real_gp && n == 0 {
            let mut s = self.st.lock().unwrap();
            s.readers[cpu.id] = Some(s.epoch);
        }
        ev(cpu.name, "rcu_read_lock", usize::MAX);
    }

    /// `rcu_read_unlock()`.
    pub fn read_unlock(&self, cpu: &Cpu) {
        let n = cpu.rcu_nesting.get();
        assert!(n > 0, "rcu_read_unlock without rcu_read_lock on {}", cpu.name);
        cpu.rcu_nesting.set(n - 1);
        if self.real_gp && n == 1 {
            let mut s = self.st.lock().unwrap();
            s.readers[cpu.id] = None;
            self.cv.notify_all();
        }
        ev(cpu.name, "rcu_read_unlock", usize::MAX);
    }

    /// `synchronize_rcu()`: sleeps until all read-side sections that began before it ended.
    pub fn synchronize(&self, cpu: &Cpu) {
        cpu.might_sleep("synchronize_rcu");
        assert!(self.real_gp, "synchronize_rcu needs Cfg::real_rcu_gp");
        let mut s = self.st.lock().unwrap();
        let gp = s.epoch;
        s.epoch += 1;
        while s.readers.iter().any(|r| matches!(r, Some(e) if *e <= gp)) {
            s = self.cv.wait(s).unwrap();
        }
        drop(s);
        ev(cpu.name, "synchronize_rcu done", usize::MAX);
    }
}
