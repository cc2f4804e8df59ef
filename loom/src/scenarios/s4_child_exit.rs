//! **S4** a child's exit vs. an rmap walker on the parent's folio, and the order of
//! `__put_anon_vma()`.
//!
//! World: the parent (VMA 0, root anon_vma `A`, slot 0) forked a child (VMA 1, anon_vma
//! `C`, slot 1, which pins `A`); folio 0 (mapping `A`) was mapped in both; then the
//! parent exited. `A` is kept by its tree (VMA 1 is still in it) and by `C`'s pin.
//!
//! * R: `rmap_walk_anon(folio 0)` holds `A`'s root lock for read while walking.
//! * T: the child exits: zap, `unlink_anon_vmas(vma 1)` over the chain `[C, A]` (one
//!   lock via `lock_anon_vma_root()`), then puts `C` (→ `anon_vma_free(C)` reads
//!   `A->rwsem` and waits for R; then drops the pin on `A`) and `A`.
//!
//! With `pinned_child`, T also holds a migration-style pin on `C` and drops it last:
//! then `C`'s final put comes after `A`'s base reference is gone, which is the case
//! 624483f3ea82 fixed ("for the last anon_vma, anon_vma->root freed before child").
//!
//! Checked: every anon_vma freed exactly once, the root strictly after the child.

use super::{assert_all_freed, spawn};
use crate::harness::{explore, Report, Threads};
use crate::rcu::Cpu;
use crate::world::{Rwc, World};
use crate::Cfg;

fn setup(cfg: Cfg, pinned_child: bool) -> World {
    let w = World::new(cfg, 2, 2, 1);
    let cpu = World::setup_cpu();
    w.__anon_vma_prepare(&cpu, 0);
    w.folio_add_new_anon_rmap(&cpu, 0, 0);
    w.anon_vma_fork(&cpu, 1, 0);
    w.folio_dup_anon_rmap(0);
    // The parent exits.
    w.folio_remove_rmap_pte(&cpu, 0);
    w.unlink_anon_vmas(&cpu, 0);
    if pinned_child {
        w.get_anon_vma(1);
    }
    w
}

fn run(w: &'static World, pinned_child: bool) {
    let t = Cpu::new("T", 0);
    let r = spawn(w, "R", 1, |w, cpu| {
        let _ = w.rmap_walk_anon(cpu, 0, &mut Rwc::default());
    });
    w.folio_remove_rmap_pte(&t, 0);
    w.unlink_anon_vmas(&t, 1);
    if pinned_child {
        w.put_anon_vma(&t, 1);
    }
    r.join().unwrap();
    t.assert_quiescent();
    w.check_quiescent(&[]);
    assert_all_freed(w);
}

/// Explore S4 with `cfg`; `pinned_child`: T holds an extra pin on the child's anon_vma.
pub fn check(name: &'static str, cfg: Cfg, pinned_child: bool) -> Report {
    explore(name, cfg, Threads::Two, move |c| setup(c, pinned_child), move |w| run(w, pinned_child))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn s4_correct() {
        check("s4_correct", Cfg::CORRECT, false).expect(Kind::Pass);
    }

    #[test]
    fn s4_correct_pinned_child() {
        check("s4_correct_pinned_child", Cfg::CORRECT, true).expect(Kind::Pass);
    }

    /// (a) Pre-624483f3ea82 `__put_anon_vma()`: the root is put (and freed) first, then
    /// `anon_vma_free(child)` dereferences `child->root->rwsem` (R6).
    #[test]
    fn s4a_put_root_before_child() {
        let cfg = Cfg { put_root_before_child: true, ..Cfg::CORRECT };
        check("s4a_put_root_before_child", cfg, true).expect_msg(Kind::Uaf, "anon_vma->root->rwsem");
    }

    /// (b) Put inside `unlink_anon_vmas()`' locked loop: the last put's
    /// `anon_vma_free()` sees the root locked (by ourselves) and `down_write`s it (R5).
    #[test]
    fn s4b_put_inside_unlink_lock() {
        let cfg = Cfg { put_inside_unlink_lock: true, ..Cfg::CORRECT };
        check("s4b_put_inside_unlink_lock", cfg, false).expect(Kind::Deadlock);
    }

    /// (c) The design first expected "oldest-first second loop → root put first → UAF". The kernel
    /// source disagrees: the child's pin on the root (I3, `anon_vma_fork()`) keeps the
    /// root's count above zero until `__put_anon_vma(child)` has freed the child, so the
    /// order of the second loop is harmless. This passing test records that.
    #[test]
    fn s4c_oldest_first_is_harmless_with_root_pin() {
        let cfg = Cfg { unlink_oldest_first: true, ..Cfg::CORRECT };
        check("s4c_oldest_first_is_harmless_with_root_pin", cfg, false).expect(Kind::Pass);
    }

    /// (c') Without the root pin the root *is* freed before the child's free reads it,
    /// whatever the order.
    #[test]
    fn s4c_oldest_first_without_root_pin() {
        let cfg = Cfg { unlink_oldest_first: true, fork_skips_root_pin: true, ..Cfg::CORRECT };
        check("s4c_oldest_first_without_root_pin", cfg, false).expect(Kind::Uaf);
    }

    /// The correct protocol with the memory-order-faithful AtomicWaitq rwsem.
    #[test]
    fn s4_correct_pinned_child_atomic_rwsem() {
        let cfg = Cfg { rwsem: crate::RwsemKind::AtomicWaitq, ..Cfg::CORRECT };
        check("s4_correct_pinned_child_atomic_rwsem", cfg, true).expect(Kind::Pass);
    }

    /// The same scenario on the mm-next shape ([`crate::Kernel::MmNext`]).
    #[test]
    fn s4_correct_pinned_child_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s4_correct_pinned_child_mm_next", cfg, true).expect(Kind::Pass);
    }
}
