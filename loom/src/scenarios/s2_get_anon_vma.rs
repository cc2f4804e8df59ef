//! **S2** `folio_get_anon_vma()` vs. unlink, free and reuse.
//!
//! World: root anon_vma `A` (slot 0) of VMA 0 maps folio 0; `A` holds only its base
//! reference.
//!
//! * G: `folio_get_anon_vma(folio 0)`; on success the pin must be on the folio's
//!   anon_vma (ghost identity), then `anon_vma_lock_read()`, read the tree,
//!   `anon_vma_unlock_read()`, `put_anon_vma()` (possibly the last: frees).
//! * T: zap the folio, `unlink_anon_vmas(vma 0)` (drops the base reference), then
//!   `__anon_vma_prepare(vma 1)` reuses the slot.

use super::spawn;
use crate::harness::{explore, Report, Threads};
use crate::rcu::Cpu;
use crate::world::World;
use crate::Cfg;

fn setup(cfg: Cfg) -> World {
    let w = World::new(cfg, 2, 2, 1);
    let cpu = World::setup_cpu();
    w.__anon_vma_prepare(&cpu, 0);
    w.folio_add_new_anon_rmap(&cpu, 0, 0);
    w
}

fn run(w: &'static World) {
    let t = Cpu::new("T", 0);
    let g = spawn(w, "G", 1, |w, cpu| {
        // mm-next requires the folio lock here (v6.18 only recommends it).
        let lock = (w.cfg.kernel == crate::Kernel::MmNext).then(|| w.folios[0].lock());
        let got = w.folio_get_anon_vma(cpu, 0);
        drop(lock);
        if let Some(av) = got {
            w.check_identity(0, av, "folio_get_anon_vma");
            w.anon_vma_lock_read(cpu, av);
            let _ = w.av[av].tree();
            w.anon_vma_unlock_read(cpu, av);
            w.put_anon_vma(cpu, av);
        }
    });
    w.folio_remove_rmap_pte(&t, 0);
    w.unlink_anon_vmas(&t, 0);
    w.__anon_vma_prepare(&t, 1);
    g.join().unwrap();
    t.assert_quiescent();
    w.check_quiescent(&[]);
}

/// Explore S2 with `cfg`.
pub fn check(name: &'static str, cfg: Cfg) -> Report {
    explore(name, cfg, Threads::Two, setup, run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn s2_correct() {
        check("s2_correct", Cfg::CORRECT).expect(Kind::Pass);
    }

    /// (a) No `folio_mapped()` re-check after the pin: G pins the recycled anon_vma.
    #[test]
    fn s2a_no_mapped_recheck() {
        let cfg = Cfg { get_anon_vma_skips_mapped_recheck: true, ..Cfg::CORRECT };
        check("s2a_no_mapped_recheck", cfg).expect(Kind::Stale);
    }

    /// (b) The failure exit's `put_anon_vma()` inside `rcu_read_lock()` is the last one.
    #[test]
    fn s2b_put_inside_rcu() {
        let cfg = Cfg { put_inside_rcu: true, ..Cfg::CORRECT };
        check("s2b_put_inside_rcu", cfg).expect(Kind::MightSleep);
    }

    /// (c) A fully ordered `atomic_inc_return` instead of `atomic_inc_not_zero`: the pin
    /// resurrects a freed anon_vma (0 → 1); its put then frees the slot a second time,
    /// or frees the reuser's object under it.
    #[test]
    fn s2c_inc_instead_of_inc_not_zero() {
        let cfg = Cfg { get_anon_vma_inc_return: true, ..Cfg::CORRECT };
        check("s2c_inc_instead_of_inc_not_zero", cfg).expect(Kind::Uaf);
    }

    /// (c') The kernel's plain `atomic_inc` is also *unordered*: then the `folio_mapped()`
    /// re-check may read a stale "mapped" and G keeps a pin on the recycled anon_vma.
    /// The re-check relies on `atomic_inc_not_zero()` being fully ordered.
    #[test]
    fn s2c_plain_unordered_inc() {
        let cfg = Cfg { get_anon_vma_plain_inc: true, ..Cfg::CORRECT };
        check("s2c_plain_unordered_inc", cfg).expect(Kind::Stale);
    }

    /// The correct protocol with the memory-order-faithful AtomicWaitq rwsem.
    #[test]
    fn s2_correct_atomic_rwsem() {
        let cfg = Cfg { rwsem: crate::RwsemKind::AtomicWaitq, ..Cfg::CORRECT };
        check("s2_correct_atomic_rwsem", cfg).expect(Kind::Pass);
    }

    /// The same scenario on the mm-next shape ([`crate::Kernel::MmNext`]).
    #[test]
    fn s2_correct_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s2_correct_mm_next", cfg).expect(Kind::Pass);
    }
}
