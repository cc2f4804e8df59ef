//! Scenarios S1–S10 of docs/loom.md §3. Each module builds a tiny world, runs two or three
//! model threads over the kernel functions, and checks quiescent invariants after the
//! join. Its tests run the correct kernel and every broken variant ([`crate::Cfg`]
//! switches) and assert the outcome [`crate::Kind`].

use crate::rcu::Cpu;
use crate::world::World;

pub mod s1_walker_vs_free;
pub mod s2_get_anon_vma;
pub mod s3_fork;
pub mod s4_child_exit;
pub mod s5_clone_roots;
pub mod s6_clone_vs_unlink;
pub mod s7_uffdio_move;
pub mod s8_rcu_gp;

/// Spawn model thread `name` (RCU index `id`) running `f` with its own ghost `Cpu`;
/// the thread ends by asserting it leaked no lock and no RCU section.
pub fn spawn(
    w: &'static World,
    name: &'static str,
    id: usize,
    f: impl FnOnce(&'static World, &Cpu) + Send + 'static,
) -> loom::thread::JoinHandle<()> {
    loom::thread::spawn(move || {
        let cpu = Cpu::new(name, id);
        f(w, &cpu);
        cpu.assert_quiescent();
    })
}

/// Link `vma` into `av`'s tree under the root lock (setup helper for odd chain shapes).
pub fn link_locked(w: &World, cpu: &Cpu, vma: usize, av: usize) {
    w.anon_vma_lock_write(cpu, av);
    w.anon_vma_chain_link(cpu, vma, av);
    w.anon_vma_unlock_write(cpu, av);
}

/// Assert that every slot is free (after a full teardown).
pub fn assert_all_freed(w: &World) {
    for (s, a) in w.av.iter().enumerate() {
        assert!(!a.live(), "anon_vma slot {s} leaked after teardown");
    }
}
