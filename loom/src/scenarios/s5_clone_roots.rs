//! **S5** two concurrent `anon_vma_clone()`s, and chains that mix two roots.
//!
//! World: two unrelated roots `A` (slot 0, VMA 0) and `B` (slot 1, VMA 1). In the mixed
//! shape VMA 2 has the chain `[A, B]` and VMA 3 `[B, A]` (newest first), which violates
//! I1 ("one root per chain"); the kernel cannot build that, the model links it by hand.
//!
//! * C1: `anon_vma_clone(vma 4, src)`; C2: `anon_vma_clone(vma 5, src')`, with
//!   `src, src' = 0, 1` (normal) or `2, 3` (mixed: C1 locks `B` then `A`, C2 `A` then
//!   `B`).
//!
//! Checked: no deadlock; in the mixed shape `lock_anon_vma_root()` WARNs once per clone
//! and releases the old root before taking the new one (I9).

use super::{link_locked, spawn};
use crate::harness::{explore, Report, Threads};
use crate::rcu::Cpu;
use crate::world::World;
use crate::Cfg;

fn setup(cfg: Cfg, mixed: bool) -> World {
    let w = World::new(cfg, 2, 6, 0);
    let cpu = World::setup_cpu();
    w.__anon_vma_prepare(&cpu, 0);
    w.__anon_vma_prepare(&cpu, 1);
    if mixed {
        link_locked(&w, &cpu, 2, 1);
        link_locked(&w, &cpu, 2, 0); // VMA 2: [A, B]
        adopt(&w, 2, 0);
        link_locked(&w, &cpu, 3, 0);
        link_locked(&w, &cpu, 3, 1); // VMA 3: [B, A]
        adopt(&w, 3, 1);
    }
    // A split copies the VMA, anon_vma pointer included, before the clone.
    let (s1, s2) = if mixed { (2, 3) } else { (0, 1) };
    w.vmas[4].set_anon_vma(w.vmas[s1].anon_vma());
    w.vmas[5].set_anon_vma(w.vmas[s2].anon_vma());
    w
}

/// `vma->anon_vma = av` with its active-VMA count (setup only).
fn adopt(w: &World, vma: usize, av: usize) {
    w.vmas[vma].set_anon_vma(av);
    let a = &w.av[av];
    a.update(&a.num_active_vmas, |n| *n += 1);
}

fn run(w: &'static World, mixed: bool) {
    let (s1, s2) = if mixed { (2, 3) } else { (0, 1) };
    let c1 = Cpu::new("C1", 0);
    let h = spawn(w, "C2", 1, move |w, cpu| w.anon_vma_clone(cpu, 5, s2));
    w.anon_vma_clone(&c1, 4, s1);
    h.join().unwrap();
    c1.assert_quiescent();
    w.check_quiescent(&[]);
    assert_eq!(w.root_warns(), if mixed { 2 } else { 0 }, "lock_anon_vma_root WARN count");
}

/// Explore S5 with `cfg`, normal or mixed chains.
pub fn check(name: &'static str, cfg: Cfg, mixed: bool) -> Report {
    explore(name, cfg, Threads::Two, move |c| setup(c, mixed), move |w| run(w, mixed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn s5_correct_two_roots() {
        check("s5_correct_two_roots", Cfg::CORRECT, false).expect(Kind::Pass);
    }

    /// The release-old-root-first rule turns a broken I1 into a WARN, not a deadlock.
    #[test]
    fn s5_correct_mixed_roots_warns() {
        check("s5_correct_mixed_roots_warns", Cfg::CORRECT, true).expect(Kind::Pass);
    }

    /// `lock_anon_vma_root()` keeping the old root: ABBA deadlock (R8).
    #[test]
    fn s5b_keep_old_root_deadlocks() {
        let cfg = Cfg { lock_root_keeps_old: true, ..Cfg::CORRECT };
        check("s5b_keep_old_root_deadlocks", cfg, true).expect(Kind::Deadlock);
    }

    /// mm-next has no `lock_anon_vma_root()` and no WARN: a mixed-root chain is simply
    /// linked under the wrong root's lock. The model's ghost I1 check reports it.
    #[test]
    fn s5_mm_next_mixed_roots_violate_i1() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s5_mm_next_mixed_roots_violate_i1", cfg, true).expect_msg(Kind::Assertion, "I1:");
    }

    #[test]
    fn s5_correct_two_roots_mm_next() {
        let cfg = Cfg { kernel: crate::Kernel::MmNext, ..Cfg::CORRECT };
        check("s5_correct_two_roots_mm_next", cfg, false).expect(Kind::Pass);
    }
}
