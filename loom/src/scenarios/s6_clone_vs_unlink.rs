//! **S6** a clone and an unlink on the same root.
//!
//! World: parent VMA 0 with root `A` (slot 0) forked child VMA 1 (anon_vma `C`, slot 1,
//! chain `[C, A]`).
//!
//! * Split variant: W1 `anon_vma_clone(vma 2, vma 1)` (a split of the child VMA),
//!   optionally with the `GFP_NOWAIT` AVC allocation failing at the second AVC (input);
//!   W2 `unlink_anon_vmas(vma 0)` (the parent exits).
//! * Fork variant: W1 `anon_vma_fork(vma 2, vma 0)` (the parent forks again: reads and
//!   bumps `A.num_children`); W2 `unlink_anon_vmas(vma 1)` (the first child exits:
//!   `A.num_children--`).
//!
//! Checked at quiescence: trees, `num_children`, `num_active_vmas`, refcounts recomputed
//! from the VMAs' chains.

use super::spawn;
use crate::harness::{explore, Report, Threads};
use crate::rcu::Cpu;
use crate::world::World;
use crate::Cfg;

/// Which S6 variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Split of the child VMA vs. the parent's exit.
    Split,
    /// A second fork of the parent vs. the first child's exit.
    Fork,
}

fn setup(cfg: Cfg, v: Variant) -> World {
    let w = World::new(cfg, 3, 3, 0);
    let cpu = World::setup_cpu();
    w.__anon_vma_prepare(&cpu, 0);
    w.anon_vma_fork(&cpu, 1, 0);
    if v == Variant::Split {
        w.vmas[2].set_anon_vma(w.vmas[1].anon_vma());
    }
    w
}

fn run(w: &'static World, v: Variant) {
    let w1 = Cpu::new("W1", 0);
    let h = spawn(w, "W2", 1, move |w, cpu| match v {
        Variant::Split => w.unlink_anon_vmas(cpu, 0),
        Variant::Fork => w.unlink_anon_vmas(cpu, 1),
    });
    match v {
        Variant::Split => w.anon_vma_clone(&w1, 2, 1),
        Variant::Fork => w.anon_vma_fork(&w1, 2, 0),
    }
    h.join().unwrap();
    w1.assert_quiescent();
    w.check_quiescent(&[]);
}

/// Explore S6 with `cfg`.
pub fn check(name: &'static str, cfg: Cfg, v: Variant) -> Report {
    explore(name, cfg, Threads::Two, move |c| setup(c, v), move |w| run(w, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn s6_correct_split() {
        check("s6_correct_split", Cfg::CORRECT, Variant::Split).expect(Kind::Pass);
    }

    /// The GFP_NOWAIT fallback (unlock, sleep-allocate, relock) is correct.
    #[test]
    fn s6_correct_split_nowait_fails() {
        let cfg = Cfg { clone_nowait_fail_at: Some(1), ..Cfg::CORRECT };
        check("s6_correct_split_nowait_fails", cfg, Variant::Split).expect(Kind::Pass);
    }

    #[test]
    fn s6_correct_fork() {
        check("s6_correct_fork", Cfg::CORRECT, Variant::Fork).expect(Kind::Pass);
    }

    /// (a) The fallback forgets `root = NULL`: the relock is skipped (the stale `root`
    /// looks held) and the final `unlock_anon_vma_root()` releases a lock not held.
    #[test]
    fn s6a_nowait_fallback_forgets_root_reset() {
        let cfg = Cfg { clone_nowait_fail_at: Some(1), clone_forgets_root_reset: true, ..Cfg::CORRECT };
        check("s6a_nowait_fallback_forgets_root_reset", cfg, Variant::Split)
            .expect_msg(Kind::Assertion, "up_write on rwsem not write-held");
    }

    /// (b) `parent->num_children--` after dropping the root lock races with the
    /// fork's read and increment under the lock.
    #[test]
    fn s6b_num_children_outside_lock() {
        let cfg = Cfg { unlink_num_children_outside_lock: true, ..Cfg::CORRECT };
        check("s6b_num_children_outside_lock", cfg, Variant::Fork).expect(Kind::DataRace);
    }

    /// The correct protocol with the memory-order-faithful AtomicWaitq rwsem.
    #[test]
    fn s6_correct_fork_atomic_rwsem() {
        let cfg = Cfg { rwsem: crate::RwsemKind::AtomicWaitq, ..Cfg::CORRECT };
        check("s6_correct_fork_atomic_rwsem", cfg, Variant::Fork).expect(Kind::Pass);
    }

    /// The same scenario on the mm-next shape ([`crate::Kernel::MmNext`]).
    #[test]
    fn s6_correct_split_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s6_correct_split_mm_next", cfg, Variant::Split).expect(Kind::Pass);
    }

    /// The same scenario on the mm-next shape ([`crate::Kernel::MmNext`]).
    #[test]
    fn s6_correct_fork_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s6_correct_fork_mm_next", cfg, Variant::Fork).expect(Kind::Pass);
    }
}
