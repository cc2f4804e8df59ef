//! [`Kernel::MmNext`](crate::Kernel::MmNext): `anon_vma_clone()`, `anon_vma_fork()` and
//! `unlink_anon_vmas()` of the 2025/26 mm tree (Lorenzo Stoakes' anon_vma series;
//! `linux-mm/linux-mm` @ 0014dde7e945). `lock_anon_vma_root()` is gone: each function
//! takes `anon_vma_lock_write()` of the VMA's *active* anon_vma once and relies on I1
//! ("Note that all anon_vma's share the same root") without a runtime WARN, so the model
//! asserts I1 as a ghost check ("I1:"). The lockless lookups and the free path are
//! unchanged except for the folio-lock requirement (see `folio.rs`, S7).
//!
//! Note on ordering: `anon_vma_clone()` walks `src`'s chain forward (newest first) and
//! `list_add`s each AVC at the head of `dst`'s chain, so a cloned chain is
//! **oldest first**, and `unlink_anon_vmas()`' second loop then puts the root *before*
//! its children ("newest to oldest, ensuring the root anon_vma gets freed last" no longer
//! holds). That is safe only because of the root pin (I3); see S4c.

use crate::ghost::ev;
use crate::rcu::Cpu;
use crate::sync::{Acquire, Relaxed};
use crate::world::{World, NONE};
use std::sync::atomic::Ordering::SeqCst as G;

impl World {
    fn assert_one_root(&self, vma: usize, active: usize, who: &'static str) {
        let root = self.av[active].ghost_root();
        for av in self.vmas[vma].chain() {
            assert_eq!(
                self.av[av].ghost_root(),
                root,
                "I1: {who}: anon_vma {av} on vma {vma}'s chain has another root than the locked one"
            );
        }
    }

    /// Mirrors mm-next `anon_vma_clone(dst, src, operation)`: allocate and assign all
    /// AVCs without a lock (dst is private to the caller), then take
    /// `anon_vma_lock_write(src->anon_vma)` once and insert into the trees; fork tries
    /// `maybe_reuse_anon_vma()`, other operations count one more active VMA.
    pub fn anon_vma_clone_mm_next(&self, cpu: &Cpu, dst: usize, src: usize, fork: bool) {
        let (dv, sv) = (&self.vmas[dst], &self.vmas[src]);
        let active = sv.anon_vma();
        if active == NONE {
            return;
        }
        for av in sv.chain() {
            dv.chain_mut(|c| c.insert(0, av)); // anon_vma_chain_assign: list_add
        }
        if !self.cfg.clone_skips_lock {
            self.anon_vma_lock_write(cpu, active);
        }
        self.assert_one_root(dst, active, "anon_vma_clone");
        let mut order = dv.chain();
        order.reverse(); // list_for_each_entry_reverse
        for av in order {
            let a = &self.av[av];
            a.object.with(|_| ());
            a.rb_root.with_mut(|t| unsafe { *t |= 1 << dst });
            ev(cpu.name, "anon_vma_clone(mm-next): insert vma -> av", dst * 100 + av);
            if fork && dv.anon_vma() == NONE {
                // maybe_reuse_anon_vma()
                if a.read(&a.num_active_vmas) > 0 || a.read(&a.num_children) > 1 {
                    continue;
                }
                dv.set_anon_vma(av);
                a.update(&a.num_active_vmas, |n| *n += 1);
            }
        }
        if !fork {
            let a = &self.av[dv.anon_vma()];
            a.update(&a.num_active_vmas, |n| *n += 1);
        }
        if !self.cfg.clone_skips_lock {
            self.anon_vma_unlock_write(cpu, active);
        }
    }

    /// Mirrors mm-next `anon_vma_fork(vma, pvma)`: allocate the anon_vma and AVC first,
    /// clone (fork operation); if an anon_vma was reused, put the unused one (it was
    /// never published: this put frees it). Otherwise set the fields unlocked ("not
    /// linked anywhere"), pin the root (I3), and insert under the root lock.
    pub fn anon_vma_fork_mm_next(&self, cpu: &Cpu, vma: usize, pvma: usize) {
        let pav = self.vmas[pvma].anon_vma();
        if pav == NONE {
            return;
        }
        let v = &self.vmas[vma];
        v.set_anon_vma(NONE);
        let av = self.anon_vma_alloc(cpu);
        self.anon_vma_clone_mm_next(cpu, vma, pvma, true);
        if v.anon_vma() != NONE {
            self.put_anon_vma(cpu, av);
            return;
        }
        let a = &self.av[av];
        a.update(&a.num_active_vmas, |n| *n = 1);
        let proot = self.av[pav].root.load(Acquire);
        a.root.store(proot, Relaxed);
        a.g_root.store(proot, G);
        a.parent.with_mut(|p| unsafe { *p = pav });
        if !self.cfg.fork_skips_root_pin {
            self.get_anon_vma(proot);
        }
        v.set_anon_vma(av);
        v.chain_mut(|c| c.insert(0, av)); // anon_vma_chain_assign
        if self.cfg.fork_locks_own_rwsem {
            self.av[av].rwsem.down_write(cpu);
        } else {
            self.anon_vma_lock_write(cpu, av);
        }
        a.object.with(|_| ());
        a.rb_root.with_mut(|t| unsafe { *t |= 1 << vma });
        let p = &self.av[pav];
        p.update(&p.num_children, |n| *n += 1);
        if self.cfg.fork_locks_own_rwsem {
            self.av[av].rwsem.up_write(cpu);
        } else {
            self.anon_vma_unlock_write(cpu, av);
        }
    }

    /// Mirrors mm-next `unlink_anon_vmas(vma)`: a no-op for an unfaulted VMA; otherwise
    /// `anon_vma_lock_write(vma->anon_vma)` once for the whole chain, then the same two
    /// loops as v6.18.
    pub fn unlink_anon_vmas_mm_next(&self, cpu: &Cpu, vma: usize) {
        let v = &self.vmas[vma];
        let active = v.anon_vma();
        if active == NONE {
            assert!(v.chain().is_empty(), "VM_WARN_ON_ONCE(!list_empty(&vma->anon_vma_chain))");
            return;
        }
        self.anon_vma_lock_write(cpu, active);
        self.assert_one_root(vma, active, "unlink_anon_vmas");
        let mut order = v.chain();
        if self.cfg.unlink_oldest_first {
            order.reverse();
        }
        let mut deferred_children_dec = Vec::new();
        for &av in &order {
            let a = &self.av[av];
            a.object.with(|_| ());
            let empty = a.rb_root.with_mut(|t| unsafe {
                *t &= !(1 << vma);
                *t == 0
            });
            if empty {
                let parent = a.parent.with(|p| unsafe { *p });
                if self.cfg.unlink_num_children_outside_lock {
                    deferred_children_dec.push(parent);
                } else {
                    let p = &self.av[parent];
                    p.update(&p.num_children, |n| *n -= 1);
                }
                if self.cfg.put_inside_unlink_lock {
                    self.put_anon_vma(cpu, av);
                    v.chain_mut(|c| c.retain(|&x| x != av));
                }
                continue;
            }
            v.chain_mut(|c| c.retain(|&x| x != av));
        }
        let a = &self.av[active];
        a.update(&a.num_active_vmas, |n| *n -= 1);
        v.set_anon_vma(NONE);
        self.anon_vma_unlock_write(cpu, active);
        for parent in deferred_children_dec {
            let p = &self.av[parent];
            p.update(&p.num_children, |n| *n -= 1);
        }
        let mut rest = v.chain();
        if self.cfg.unlink_oldest_first {
            rest.reverse();
        }
        for av in rest {
            let a = &self.av[av];
            assert_eq!(a.read(&a.num_children), 0, "VM_WARN_ON(anon_vma->num_children)");
            assert_eq!(a.read(&a.num_active_vmas), 0, "VM_WARN_ON(anon_vma->num_active_vmas)");
            self.put_anon_vma(cpu, av);
            v.chain_mut(|c| c.retain(|&x| x != av));
        }
    }
}
