//! **S7** UFFDIO_MOVE vs. an rmap walker (v6.8–v6.18: mapping re-check and retry;
//! mm-next: both hold the folio lock).
//!
//! World: two unrelated roots `A` (slot 0, VMA 0) and `B` (slot 1, VMA 1); folio 0 is
//! mapped in VMA 0 (mapping `A`).
//!
//! * M: `move_pages_pte()`'s core: folio lock, `anon_vma_lock_write(A)`,
//!   `folio_move_anon_rmap(folio, vma 1)` (mapping becomes `B`, another root), unlock.
//! * R: `rmap_walk_anon(folio 0)`.
//!
//! Checked (ghost, in `rmap_walk_anon()`): under the returned lock, the root held is the
//! root of the folio's *current* anon_vma (R9).

use super::spawn;
use crate::harness::{explore, Report, Threads};
use crate::rcu::Cpu;
use crate::world::{Rwc, World};
use crate::Cfg;

fn setup(cfg: Cfg) -> World {
    let w = World::new(cfg, 2, 2, 1);
    let cpu = World::setup_cpu();
    w.__anon_vma_prepare(&cpu, 0);
    w.__anon_vma_prepare(&cpu, 1);
    w.folio_add_new_anon_rmap(&cpu, 0, 0);
    w
}

fn run(w: &'static World) {
    let m = Cpu::new("M", 0);
    let r = spawn(w, "R", 1, |w, cpu| {
        let _ = w.rmap_walk_anon(cpu, 0, &mut Rwc::default());
    });
    {
        let _folio_lock = w.folios[0].lock();
        w.anon_vma_lock_write(&m, 0);
        w.folio_move_anon_rmap(&m, 0, 1);
        w.anon_vma_unlock_write(&m, 0);
    }
    r.join().unwrap();
    m.assert_quiescent();
    w.check_quiescent(&[]);
}

/// Explore S7 with `cfg`.
pub fn check(name: &'static str, cfg: Cfg) -> Report {
    explore(name, cfg, Threads::Two, setup, run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kernel, Kind};

    #[test]
    fn s7_correct_v6_18_retry() {
        check("s7_correct_v6_18_retry", Cfg::CORRECT).expect(Kind::Pass);
    }

    /// mm-next: the walker holds the folio lock, no retry needed.
    #[test]
    fn s7_correct_mm_next_folio_lock() {
        let cfg = Cfg { kernel: Kernel::MmNext, ..Cfg::CORRECT };
        check("s7_correct_mm_next_folio_lock", cfg).expect(Kind::Pass);
    }

    /// Without the v6.8 mapping re-check the walker holds `A`'s lock for a folio that now
    /// belongs to `B` (R9).
    #[test]
    fn s7_no_mapping_recheck() {
        let cfg = Cfg { skip_mapping_recheck: true, ..Cfg::CORRECT };
        check("s7_no_mapping_recheck", cfg).expect_msg(Kind::Assertion, "ROOT:");
    }

    /// The correct protocol with the memory-order-faithful AtomicWaitq rwsem.
    #[test]
    fn s7_correct_v6_18_retry_atomic_rwsem() {
        let cfg = Cfg { rwsem: crate::RwsemKind::AtomicWaitq, ..Cfg::CORRECT };
        check("s7_correct_v6_18_retry_atomic_rwsem", cfg).expect(Kind::Pass);
    }
}
