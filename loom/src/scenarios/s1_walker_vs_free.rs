//! **S1** rmap walker vs. the last put, free and reuse of its anon_vma; **S9** the same
//! walker with reclaim's `try_lock`; **S10** two walkers (three threads).
//!
//! World: root anon_vma `A` (slot 0) of VMA 0 maps folio 0. `A` has its base reference
//! (the tree) and a migration/KSM-style pin that T holds and drops last.
//!
//! * R (and R2 in S10): `rmap_walk_anon(folio 0)` = `folio_lock_anon_vma_read()`, walk the
//!   tree, `anon_vma_unlock_read()`.
//! * T: an unrelated write section on `A`'s root while the folio is still mapped (forces
//!   R into the slow path), zap the folio, `unlink_anon_vmas(vma 0)`, drop the pin (the
//!   last put: `anon_vma_free()`), then `__anon_vma_prepare(vma 1)` reuses the slot.
//!   Shape switches: no writer, no pin, two walkers, `try_lock` walkers.

use super::spawn;
use crate::harness::{explore, Report, Threads};
use crate::world::{Rwc, World};
use crate::Cfg;

/// Shape of the S1 family.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// T's unrelated write section before the zap.
    pub writer: bool,
    /// Number of walkers (1: S1/S9, 2: S10).
    pub walkers: usize,
    /// Walkers use `rwc->try_lock` and promise not to sleep (S9).
    pub try_lock: bool,
    /// T holds a migration/KSM-style pin and drops it last (otherwise the unlink's put
    /// is the last one).
    pub pin: bool,
}

/// S1's default shape.
pub const S1: Shape = Shape { writer: true, walkers: 1, try_lock: false, pin: true };

fn setup(cfg: Cfg, shape: Shape) -> World {
    let w = World::new(cfg, 2, 2, 1);
    let cpu = World::setup_cpu();
    w.__anon_vma_prepare(&cpu, 0);
    w.folio_add_new_anon_rmap(&cpu, 0, 0);
    if shape.pin {
        w.get_anon_vma(0); // the pin T drops last
    }
    w
}

fn walker(w: &'static World, cpu: &crate::rcu::Cpu, try_lock: bool) {
    let mut rwc = Rwc { try_lock, contended: false };
    cpu.no_sleep.set(try_lock);
    // The tree may be empty: the slow path does not re-check `folio_mapped()` after
    // sleeping, so it can return an anon_vma whose tree was emptied meanwhile (kept
    // alive only by `anon_vma_free()`'s wait). Validity, not content, is what I5 gives.
    let seen = w.rmap_walk_anon(cpu, 0, &mut rwc);
    assert!(!(rwc.contended && seen.is_some()), "contended walk returned a lock");
}

fn run(w: &'static World, shape: Shape) {
    let t = crate::rcu::Cpu::new("T", 0);
    let r1 = spawn(w, "R", 1, move |w, cpu| walker(w, cpu, shape.try_lock));
    let r2 = (shape.walkers > 1).then(|| spawn(w, "R2", 2, move |w, cpu| walker(w, cpu, shape.try_lock)));
    if shape.writer {
        // e.g. an mprotect split elsewhere in the tree: holds the root while mapped.
        w.anon_vma_lock_write(&t, 0);
        w.anon_vma_unlock_write(&t, 0);
    }
    w.folio_remove_rmap_pte(&t, 0);
    w.unlink_anon_vmas(&t, 0);
    if shape.pin {
        w.put_anon_vma(&t, 0); // migration/KSM pin: the last reference
    }
    w.__anon_vma_prepare(&t, 1); // reuses slot 0 as a new anon_vma
    r1.join().unwrap();
    if let Some(r2) = r2 {
        r2.join().unwrap();
    }
    t.assert_quiescent();
    w.check_quiescent(&[]);
}

/// Explore the S1 family with `cfg`.
pub fn check(name: &'static str, cfg: Cfg, shape: Shape) -> Report {
    let threads = if shape.walkers > 1 { Threads::Three } else { Threads::Two };
    explore(name, cfg, threads, move |c| setup(c, shape), move |w| run(w, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kind, RwsemKind};

    #[test]
    fn s1_correct() {
        check("s1_correct", Cfg::CORRECT, S1).expect(Kind::Pass);
    }

    #[test]
    fn s1_correct_atomic_rwsem() {
        let cfg = Cfg { rwsem: RwsemKind::AtomicWaitq, ..Cfg::CORRECT };
        check("s1_correct_atomic_rwsem", cfg, S1).expect(Kind::Pass);
    }

    /// R3: without the `rwsem_is_locked()` wait the last (non-locking) put frees the
    /// anon_vma under a slow-path walker that holds the lock but no reference.
    #[test]
    fn s1a_free_without_is_locked_wait() {
        let cfg = Cfg { free_skips_is_locked_wait: true, ..Cfg::CORRECT };
        check("s1a_free_without_is_locked_wait", cfg, S1).expect(Kind::DataRace);
    }

    /// Finding F1: without the unrelated writer the walker never takes the slow path
    /// while the folio is mapped, and dropping the wait cannot be observed.
    #[test]
    fn s1_no_wait_undetectable_without_writer() {
        let cfg = Cfg { free_skips_is_locked_wait: true, ..Cfg::CORRECT };
        let shape = Shape { writer: false, ..S1 };
        check("s1_no_wait_undetectable_without_writer", cfg, shape).expect(Kind::Pass);
    }

    /// R1: without the mapped re-check after the trylock the walker returns the
    /// recycled anon_vma.
    #[test]
    fn s1b_no_mapped_recheck_after_trylock() {
        let cfg = Cfg { skip_mapped_recheck_after_trylock: true, ..Cfg::CORRECT };
        check("s1b_no_mapped_recheck_after_trylock", cfg, S1).expect(Kind::Stale);
    }

    /// R4: the slow path's put before `rcu_read_unlock()` can be the last one.
    #[test]
    fn s1c_put_inside_rcu() {
        let cfg = Cfg { put_inside_rcu: true, ..Cfg::CORRECT };
        check("s1c_put_inside_rcu", cfg, S1).expect(Kind::MightSleep);
    }

    /// R5: `put_anon_vma()` inside `unlink_anon_vmas()`' locked loop. With T's pin the
    /// unlink's put is never the last and nothing happens (the design's S1d, docs/loom.md §3); without the
    /// pin it is the last, and `anon_vma_free()` `down_write`s the root T holds.
    #[test]
    fn s1d_put_inside_unlink_lock() {
        let cfg = Cfg { put_inside_unlink_lock: true, ..Cfg::CORRECT };
        let shape = Shape { pin: false, ..S1 };
        check("s1d_put_inside_unlink_lock", cfg, shape).expect(Kind::Deadlock);
    }

    /// Control for S1d: the same shape without the pin passes with the kernel's two loops.
    #[test]
    fn s1_correct_unpinned() {
        let shape = Shape { pin: false, ..S1 };
        check("s1_correct_unpinned", Cfg::CORRECT, shape).expect(Kind::Pass);
    }

    /// Modelling pitfall F2: a `Relaxed` `rwsem_is_locked()` (no stand-in for the
    /// kernel's control dependency) reports a use-after-free on the *correct* protocol.
    #[test]
    fn s1e_is_locked_relaxed_false_alarm() {
        let cfg = Cfg { rwsem: RwsemKind::AtomicWaitq, is_locked_relaxed: true, ..Cfg::CORRECT };
        check("s1e_is_locked_relaxed_false_alarm", cfg, S1).expect(Kind::DataRace);
    }

    /// S9: reclaim's `try_lock` walk never sleeps.
    #[test]
    fn s9_try_lock_correct() {
        let shape = Shape { try_lock: true, ..S1 };
        check("s9_try_lock_correct", Cfg::CORRECT, shape).expect(Kind::Pass);
    }

    /// S9 broken: `try_lock` ignored, the walker sleeps in `down_read()`.
    #[test]
    fn s9_try_lock_ignored() {
        let cfg = Cfg { ignore_try_lock: true, ..Cfg::CORRECT };
        let shape = Shape { try_lock: true, ..S1 };
        check("s9_try_lock_ignored", cfg, shape).expect_msg(Kind::MightSleep, "no-sleep");
    }

    /// S10: two walkers and T.
    #[test]
    fn s10_two_walkers_correct() {
        let shape = Shape { walkers: 2, ..S1 };
        check("s10_two_walkers_correct", Cfg::CORRECT, shape).expect(Kind::Pass);
    }

    /// S10 broken: no `rwsem_is_locked()` wait.
    #[test]
    fn s10_two_walkers_free_without_wait() {
        let cfg = Cfg { free_skips_is_locked_wait: true, ..Cfg::CORRECT };
        let shape = Shape { walkers: 2, ..S1 };
        check("s10_two_walkers_free_without_wait", cfg, shape).expect(Kind::DataRace);
    }

    /// S1a with the AtomicWaitq rwsem: the same use-after-free under kernel orderings.
    #[test]
    fn s1a_free_without_is_locked_wait_atomic_rwsem() {
        let cfg = Cfg { rwsem: RwsemKind::AtomicWaitq, free_skips_is_locked_wait: true, ..Cfg::CORRECT };
        check("s1a_free_without_is_locked_wait_atomic_rwsem", cfg, S1).expect(Kind::DataRace);
    }

    /// The unbounded AtomicWaitq run of S1 (9.0 M executions, ≈ 15 min on the 2-core box):
    /// `cargo test -p rmapcheck-loom --release -- --ignored`.
    #[test]
    #[ignore = "very deep: unbounded AtomicWaitq exploration, about 15 minutes"]
    fn s1_correct_atomic_rwsem_unbounded() {
        let cfg = Cfg { rwsem: RwsemKind::AtomicWaitq, ..Cfg::CORRECT };
        crate::harness::explore_at(
            "s1_correct_atomic_rwsem_unbounded",
            cfg,
            None,
            move |c| setup(c, S1),
            move |w| run(w, S1),
        )
        .expect(Kind::Pass);
    }

    /// The same scenario on the mm-next shape ([`crate::Kernel::MmNext`]).
    #[test]
    fn s1_correct_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s1_correct_mm_next", cfg, S1).expect(Kind::Pass);
    }
}
