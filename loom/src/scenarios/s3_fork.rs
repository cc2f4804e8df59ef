//! **S3** `anon_vma_fork()` vs. an rmap walker on a parent folio, or vs. a sibling's exit.
//!
//! World: root anon_vma `A` (slot 0) of the parent's VMA 0 maps folio 0. For the sibling
//! variant, VMA 2 is an earlier child (its own anon_vma, parent `A`).
//!
//! * P: `anon_vma_fork(vma 1, vma 0)`: clone (links VMA 1 into `A` under the root lock),
//!   allocate the child's anon_vma, pin the root, link it, `A.num_children++`.
//! * R (walker variant): `rmap_walk_anon(folio 0)` reads `A`'s tree under the root lock.
//! * U (sibling variant): `unlink_anon_vmas(vma 2)`: `A.num_children--` under the root
//!   lock, put the sibling's anon_vma.
//!
//! After the join, a sequential teardown (parent exits, then the child) must free every
//! anon_vma exactly once: this is where a missing root pin (I3) shows.

use super::{assert_all_freed, spawn};
use crate::harness::{explore, Report, Threads};
use crate::rcu::Cpu;
use crate::world::{Rwc, World};
use crate::Cfg;

/// Who runs against the fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Other {
    /// An rmap walker on the parent's folio.
    Walker,
    /// An earlier child (sibling) exits.
    SiblingExit,
}

fn setup(cfg: Cfg, other: Other) -> World {
    let w = World::new(cfg, 3, 3, 1);
    let cpu = World::setup_cpu();
    w.__anon_vma_prepare(&cpu, 0);
    w.folio_add_new_anon_rmap(&cpu, 0, 0);
    if other == Other::SiblingExit {
        w.anon_vma_fork(&cpu, 2, 0);
    }
    w
}

fn run(w: &'static World, other: Other) {
    let p = Cpu::new("P", 0);
    let h = match other {
        Other::Walker => spawn(w, "R", 1, |w, cpu| {
            let _ = w.rmap_walk_anon(cpu, 0, &mut Rwc::default());
        }),
        Other::SiblingExit => spawn(w, "U", 1, |w, cpu| w.unlink_anon_vmas(cpu, 2)),
    };
    w.anon_vma_fork(&p, 1, 0);
    h.join().unwrap();
    p.assert_quiescent();
    // Teardown first (the quiescent refcount equation would flag a missing root pin as
    // a plain assertion; the teardown shows what it leads to).
    w.folio_remove_rmap_pte(&p, 0);
    w.unlink_anon_vmas(&p, 0);
    w.unlink_anon_vmas(&p, 1);
    p.assert_quiescent();
    w.check_quiescent(&[]);
    assert_all_freed(w);
}

/// Explore S3 with `cfg` against `other`.
pub fn check(name: &'static str, cfg: Cfg, other: Other) -> Report {
    explore(name, cfg, Threads::Two, move |c| setup(c, other), move |w| run(w, other))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn s3_correct_vs_walker() {
        check("s3_correct_vs_walker", Cfg::CORRECT, Other::Walker).expect(Kind::Pass);
    }

    #[test]
    fn s3_correct_vs_sibling_exit() {
        check("s3_correct_vs_sibling_exit", Cfg::CORRECT, Other::SiblingExit).expect(Kind::Pass);
    }

    /// (a) The clone inserts into the root's tree without the root lock (R7).
    #[test]
    fn s3a_clone_without_lock() {
        let cfg = Cfg { clone_skips_lock: true, ..Cfg::CORRECT };
        check("s3a_clone_without_lock", cfg, Other::Walker).expect(Kind::DataRace);
    }

    /// (b) `down_write(&anon_vma->rwsem)` (the new, non-root lock) instead of
    /// `anon_vma_lock_write()`: `parent->num_children++` races with the sibling's
    /// `num_children--` under the real root lock (R7).
    #[test]
    fn s3b_fork_locks_own_rwsem() {
        let cfg = Cfg { fork_locks_own_rwsem: true, ..Cfg::CORRECT };
        check("s3b_fork_locks_own_rwsem", cfg, Other::SiblingExit).expect(Kind::DataRace);
    }

    /// (c) No `get_anon_vma(root)`: when the child exits, `__put_anon_vma(child)` drops a
    /// reference the root never had and frees it under the child's chain (R6/I3).
    #[test]
    fn s3c_fork_without_root_pin() {
        let cfg = Cfg { fork_skips_root_pin: true, ..Cfg::CORRECT };
        check("s3c_fork_without_root_pin", cfg, Other::Walker).expect(Kind::Uaf);
    }

    /// The correct protocol with the memory-order-faithful AtomicWaitq rwsem.
    #[test]
    fn s3_correct_vs_walker_atomic_rwsem() {
        let cfg = Cfg { rwsem: crate::RwsemKind::AtomicWaitq, ..Cfg::CORRECT };
        check("s3_correct_vs_walker_atomic_rwsem", cfg, Other::Walker).expect(Kind::Pass);
    }

    /// The same scenario on the mm-next shape ([`crate::Kernel::MmNext`]).
    #[test]
    fn s3_correct_vs_walker_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s3_correct_vs_walker_mm_next", cfg, Other::Walker).expect(Kind::Pass);
    }

    /// The same scenario on the mm-next shape ([`crate::Kernel::MmNext`]).
    #[test]
    fn s3_correct_vs_sibling_exit_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s3_correct_vs_sibling_exit_mm_next", cfg, Other::SiblingExit).expect(Kind::Pass);
    }
}
