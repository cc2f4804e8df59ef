//! `struct rw_semaphore` with `down_read_trylock`, `down_write_trylock`, the sleeping
//! `down_read`/`down_write`, `up_read`/`up_write` and `rwsem_is_locked` (docs/loom.md §2.5).
//!
//! loom's `RwLock` has no `is_locked` and only RAII guards (the kernel unlocks in another
//! function), so the rwsem is built here. Both kinds *block* on a loom `Condvar` instead of
//! spinning: a spin-and-`yield_now` lock gives false "deadlocks" as soon as two threads can
//! wait at once, because loom explores unfair schedules (finding F3).
//!
//! Ownership is tracked in the per-thread ghost `Cpu::held` (a `CONFIG_DEBUG_RWSEMS`-like
//! check): releasing an rwsem this thread does not hold panics with
//! "up_write on rwsem not write-held".

use crate::cfg::RwsemKind;
use crate::ghost::ev;
use crate::rcu::Cpu;
use crate::sync::{AcqRel, Acquire, AtomicIsize, Condvar, Mutex, Relaxed, Release};

#[derive(Default)]
struct State {
    readers: u32,
    writer: bool,
}

/// One rwsem. Constructed once per slab object (`anon_vma_ctor`), never reset.
pub struct Rwsem {
    kind: RwsemKind,
    /// Modelling pitfall F2: `rwsem_is_locked()` as a `Relaxed` load.
    relaxed_is_locked: bool,
    /// The anon_vma slot this rwsem lives in (ghost, for ownership checks and traces).
    slot: usize,
    // MutexCondvar: the whole state under one mutex. AtomicWaitq: only the wait queue.
    st: Mutex<State>,
    cv: Condvar,
    /// AtomicWaitq: `sem->count`, +n for n readers, -1 for a writer.
    count: AtomicIsize,
}

impl Rwsem {
    /// `init_rwsem()` for the rwsem in slot `slot`.
    pub fn new(kind: RwsemKind, relaxed_is_locked: bool, slot: usize) -> Rwsem {
        Rwsem {
            kind,
            relaxed_is_locked,
            slot,
            st: Mutex::new(State::default()),
            cv: Condvar::new(),
            count: AtomicIsize::new(0),
        }
    }

    fn grab(&self, cpu: &Cpu, write: bool) {
        cpu.held.borrow_mut().push((self.slot, write));
        ev(cpu.name, if write { "rwsem: write-locked" } else { "rwsem: read-locked" }, self.slot);
    }

    fn release(&self, cpu: &Cpu, write: bool) {
        let mut held = cpu.held.borrow_mut();
        let Some(i) = held.iter().position(|h| *h == (self.slot, write)) else {
            panic!(
                "{} on rwsem not {}-held: slot {} by {} (holds {:?})",
                if write { "up_write" } else { "up_read" },
                if write { "write" } else { "read" },
                self.slot,
                cpu.name,
                held
            );
        };
        held.remove(i);
        ev(cpu.name, if write { "rwsem: up_write" } else { "rwsem: up_read" }, self.slot);
    }

    fn try_read_raw(&self) -> bool {
        match self.kind {
            RwsemKind::MutexCondvar => {
                let mut s = self.st.lock().unwrap();
                if s.writer {
                    return false;
                }
                s.readers += 1;
                true
            }
            // The kernel's rwsem_read_trylock: read count, cmpxchg_acquire; a failure is
            // unordered. A stale count read fails spuriously, as in the kernel.
            RwsemKind::AtomicWaitq => {
                let mut c = self.count.load(Relaxed);
                loop {
                    if c < 0 {
                        return false;
                    }
                    match self.count.compare_exchange(c, c + 1, Acquire, Relaxed) {
                        Ok(_) => return true,
                        Err(now) => c = now,
                    }
                }
            }
        }
    }

    fn try_write_raw(&self) -> bool {
        match self.kind {
            RwsemKind::MutexCondvar => {
                let mut s = self.st.lock().unwrap();
                if s.writer || s.readers > 0 {
                    return false;
                }
                s.writer = true;
                true
            }
            RwsemKind::AtomicWaitq => self.count.compare_exchange(0, -1, Acquire, Relaxed).is_ok(),
        }
    }

    /// `down_read_trylock()`: acquire on success, no ordering on failure.
    pub fn down_read_trylock(&self, cpu: &Cpu) -> bool {
        let ok = self.try_read_raw();
        if ok {
            self.grab(cpu, false);
        } else {
            ev(cpu.name, "rwsem: down_read_trylock failed", self.slot);
        }
        ok
    }

    /// `down_write_trylock()`.
    pub fn down_write_trylock(&self, cpu: &Cpu) -> bool {
        let ok = self.try_write_raw();
        if ok {
            self.grab(cpu, true);
        }
        ok
    }

    /// `down_read()`: may sleep.
    pub fn down_read(&self, cpu: &Cpu) {
        cpu.might_sleep("down_read");
        ev(cpu.name, "rwsem: down_read...", self.slot);
        match self.kind {
            RwsemKind::MutexCondvar => {
                let mut s = self.st.lock().unwrap();
                while s.writer {
                    s = self.cv.wait(s).unwrap();
                }
                s.readers += 1;
            }
            RwsemKind::AtomicWaitq => {
                if !self.try_read_raw() {
                    let mut g = self.st.lock().unwrap();
                    while !self.try_read_raw() {
                        g = self.cv.wait(g).unwrap();
                    }
                }
            }
        }
        self.grab(cpu, false);
    }

    /// `down_write()`: may sleep.
    pub fn down_write(&self, cpu: &Cpu) {
        cpu.might_sleep("down_write");
        ev(cpu.name, "rwsem: down_write...", self.slot);
        match self.kind {
            RwsemKind::MutexCondvar => {
                let mut s = self.st.lock().unwrap();
                while s.writer || s.readers > 0 {
                    s = self.cv.wait(s).unwrap();
                }
                s.writer = true;
            }
            RwsemKind::AtomicWaitq => {
                if !self.try_write_raw() {
                    let mut g = self.st.lock().unwrap();
                    while !self.try_write_raw() {
                        g = self.cv.wait(g).unwrap();
                    }
                }
            }
        }
        self.grab(cpu, true);
    }

    /// `up_read()`: release.
    pub fn up_read(&self, cpu: &Cpu) {
        self.release(cpu, false);
        match self.kind {
            RwsemKind::MutexCondvar => {
                let mut s = self.st.lock().unwrap();
                s.readers -= 1;
                if s.readers == 0 {
                    self.cv.notify_all();
                }
            }
            RwsemKind::AtomicWaitq => {
                if self.count.fetch_sub(1, Release) == 1 {
                    // Waiters re-check under the wait-queue lock: no lost wake-up.
                    let _g = self.st.lock().unwrap();
                    self.cv.notify_all();
                }
            }
        }
    }

    /// `up_write()`: release.
    pub fn up_write(&self, cpu: &Cpu) {
        self.release(cpu, true);
        match self.kind {
            RwsemKind::MutexCondvar => {
                let mut s = self.st.lock().unwrap();
                s.writer = false;
                self.cv.notify_all();
            }
            RwsemKind::AtomicWaitq => {
                self.count.fetch_add(1, Release);
                let _g = self.st.lock().unwrap();
                self.cv.notify_all();
            }
        }
    }

    /// `rwsem_is_locked()`: a plain `atomic_long_read(&sem->count) != 0` in the kernel,
    /// ordered before `anon_vma_free()`'s stores by a control dependency. Loom tracks no
    /// dependencies, so it is an `Acquire` load here (finding F2); `Relaxed` is the pitfall
    /// switch. The kernel's count also carries waiter bits; not modelled (this answers
    /// "locked" slightly less often than the kernel, i.e. never more often).
    pub fn is_locked(&self) -> bool {
        match self.kind {
            RwsemKind::MutexCondvar => {
                let s = self.st.lock().unwrap();
                s.writer || s.readers > 0
            }
            RwsemKind::AtomicWaitq => {
                let o = if self.relaxed_is_locked { Relaxed } else { Acquire };
                self.count.load(o) != 0
            }
        }
    }

    /// Quiescent check (after all threads joined): nobody holds it.
    pub fn is_free_at_quiescence(&self) -> bool {
        match self.kind {
            RwsemKind::MutexCondvar => {
                let s = self.st.lock().unwrap();
                !s.writer && s.readers == 0
            }
            RwsemKind::AtomicWaitq => self.count.fetch_add(0, AcqRel) == 0,
        }
    }
}
