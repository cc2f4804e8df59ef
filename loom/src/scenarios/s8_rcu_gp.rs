//! **S8** real RCU grace periods and the release of the slab page.
//!
//! `SLAB_TYPESAFE_BY_RCU` keeps a freed anon_vma's memory an anon_vma only until a grace
//! period has passed and the slab page is returned. Every speculative access in
//! `folio_lock_anon_vma_read()` (`READ_ONCE(anon_vma->root)`, the trylock,
//! `atomic_inc_not_zero()`) must therefore sit inside `rcu_read_lock()`.
//!
//! World: root anon_vma `A` (slot 0) of VMA 0 maps folio 0, base reference only;
//! `Cfg::real_rcu_gp` is on.
//!
//! * R: `rmap_walk_anon(folio 0)`.
//! * T: zap, `unlink_anon_vmas(vma 0)` (the last put frees `A` unless R pinned it); if
//!   `A`'s slot is free, `synchronize_rcu()` and release its slab page ("untyped").

use super::spawn;
use crate::harness::{explore, Report, Threads};
use crate::rcu::Cpu;
use crate::world::{Rwc, World};
use crate::Cfg;

fn setup(cfg: Cfg) -> World {
    let w = World::new(Cfg { real_rcu_gp: true, ..cfg }, 1, 1, 1);
    let cpu = World::setup_cpu();
    w.__anon_vma_prepare(&cpu, 0);
    w.folio_add_new_anon_rmap(&cpu, 0, 0);
    w
}

fn run(w: &'static World) {
    let t = Cpu::new("T", 0);
    let r = spawn(w, "R", 1, |w, cpu| {
        let _ = w.rmap_walk_anon(cpu, 0, &mut Rwc::default());
    });
    w.folio_remove_rmap_pte(&t, 0);
    w.unlink_anon_vmas(&t, 0);
    if w.slab.is_free(0) {
        w.rcu.synchronize(&t);
        w.slab.release_page(&w.av, &t, 0);
    }
    r.join().unwrap();
    t.assert_quiescent();
    w.check_quiescent(&[]);
}

/// Explore S8 with `cfg` (`real_rcu_gp` is forced on).
pub fn check(name: &'static str, cfg: Cfg) -> Report {
    explore(name, cfg, Threads::Two, setup, run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn s8_correct() {
        check("s8_correct", Cfg::CORRECT).expect(Kind::Pass);
    }

    /// (a) Slow path leaves RCU before `atomic_inc_not_zero()`.
    #[test]
    fn s8a_slow_path_rcu_unlock_early() {
        let cfg = Cfg { slow_path_rcu_unlock_early: true, ..Cfg::CORRECT };
        check("s8a_slow_path_rcu_unlock_early", cfg).expect_msg(Kind::RcuUaf, "atomic_inc_not_zero");
    }

    /// (b) Fast path leaves RCU before `READ_ONCE(anon_vma->root)`.
    #[test]
    fn s8b_fast_path_rcu_unlock_early() {
        let cfg = Cfg { fast_path_rcu_unlock_early: true, ..Cfg::CORRECT };
        check("s8b_fast_path_rcu_unlock_early", cfg).expect(Kind::RcuUaf);
    }

    /// The correct protocol with the memory-order-faithful AtomicWaitq rwsem.
    #[test]
    fn s8_correct_atomic_rwsem() {
        let cfg = Cfg { rwsem: crate::RwsemKind::AtomicWaitq, ..Cfg::CORRECT };
        check("s8_correct_atomic_rwsem", cfg).expect(Kind::Pass);
    }

    /// The same scenario on the mm-next shape ([`crate::Kernel::MmNext`]).
    #[test]
    fn s8_correct_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s8_correct_mm_next", cfg).expect(Kind::Pass);
    }
}
