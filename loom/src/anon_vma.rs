//! The anon_vma life-cycle functions of `mm/rmap.c` (v6.8–v6.18 shape), one Rust function
//! each, step by step. Comments say why each step exists; broken variants are `Cfg`
//! switches.

use crate::cfg::Kernel;
use crate::ghost::ev;
use crate::rcu::Cpu;
use crate::sync::{atomic_dec_and_test, atomic_inc, Acquire, Relaxed};
use crate::world::{World, NONE};
use std::sync::atomic::Ordering::SeqCst as G;

impl World {
    /// Mirrors `anon_vma_alloc()`: `kmem_cache_alloc()`, then `atomic_set(&refcount, 1)`,
    /// `num_children = 0`, `num_active_vmas = 0`, `parent = root = self`.
    ///
    /// The memory may be a recycled anon_vma that stale RCU readers still reference; some
    /// of them may hold or be trying for its rwsem right now. That is why the rwsem is
    /// *not* reinitialised (it belongs to the slab constructor) and why even a brand-new
    /// anon_vma is locked before its first AVC is linked (d9d332e0874f).
    pub fn anon_vma_alloc(&self, cpu: &Cpu) -> usize {
        cpu.might_sleep("anon_vma_alloc(GFP_KERNEL)");
        let s = self.slab.alloc(&self.av, cpu);
        let a = &self.av[s];
        a.refcount.store(1, Relaxed); // atomic_set: a relaxed store
        a.update(&a.num_children, |n| *n = 0);
        a.update(&a.num_active_vmas, |n| *n = 0);
        a.parent.with_mut(|p| unsafe { *p = s });
        // "Initialise the anon_vma root to point to itself. If called from fork, the root
        // will be reset to the parents anon_vma." Stale readers READ_ONCE this.
        a.root.store(s, Relaxed);
        a.g_root.store(s, G);
        s
    }

    /// Mirrors `anon_vma_free()` (called with `refcount == 0`).
    ///
    /// The `rwsem_is_locked()` lock/unlock waits out any reader that holds the root lock
    /// and believes `av` is valid: the slow path of `folio_lock_anon_vma_read()` returns
    /// `av` read-locked after dropping its own reference, and from then on nothing but the
    /// lock keeps `av` alive (88c22088bf23; docs/loom.md §1.4, finding F1). The kernel pairs
    /// the full barrier of the `atomic_dec_and_test()` that reached zero with the acquire
    /// of the reader's `down_read_trylock()`.
    pub fn anon_vma_free(&self, cpu: &Cpu, av: usize) {
        let a = &self.av[av];
        // VM_BUG_ON(atomic_read(&anon_vma->refcount)). Ghost checks follow the loom
        // operation they guard (see folio.rs).
        let rc = a.refcount.load(Relaxed);
        self.trust(av, "anon_vma_free (double free?)");
        assert!(rc == 0, "UAF: anon_vma_free of slot {av} with refcount {rc}");
        cpu.might_sleep("anon_vma_free");
        if !self.cfg.free_skips_is_locked_wait {
            // anon_vma->root->rwsem: the root must still exist (I3; 624483f3ea82).
            let root = a.root.load(Relaxed);
            let locked = self.av[root].rwsem.is_locked();
            self.trust(root, "anon_vma_free reads anon_vma->root->rwsem");
            if locked {
                ev(cpu.name, "anon_vma_free: root locked, waiting", av);
                self.anon_vma_lock_write(cpu, av);
                self.anon_vma_unlock_write(cpu, av);
            }
        }
        self.slab.free(&self.av, cpu, av);
    }

    /// Mirrors `get_anon_vma()`: a plain, unordered `atomic_inc`.
    pub fn get_anon_vma(&self, av: usize) {
        atomic_inc(&self.av[av].refcount);
        self.trust(av, "get_anon_vma");
    }

    /// Mirrors `put_anon_vma()`: the last reference frees through `__put_anon_vma()`.
    /// Callers must not hold the root rwsem (I8: the free may `down_write` it) and must
    /// not be inside `rcu_read_lock()` (I7: the free sleeps).
    pub fn put_anon_vma(&self, cpu: &Cpu, av: usize) {
        ev(cpu.name, "put_anon_vma", av);
        let last = atomic_dec_and_test(&self.av[av].refcount, "put_anon_vma");
        self.trust(av, "put_anon_vma");
        if last {
            self.__put_anon_vma(cpu, av);
        }
    }

    /// Mirrors `__put_anon_vma()`: free the anon_vma, *then* drop its pin on the root.
    /// The order matters: `anon_vma_free(av)` dereferences `av->root->rwsem`, so the root
    /// must outlive it (624483f3ea82 "fix use-after-free in __put_anon_vma", found by
    /// KASAN). `Cfg::put_root_before_child` is the pre-fix order.
    #[allow(non_snake_case)]
    pub fn __put_anon_vma(&self, cpu: &Cpu, av: usize) {
        let root = self.av[av].root.load(Relaxed);
        if self.cfg.put_root_before_child {
            if root != av && self.root_dec_and_test(root) {
                self.anon_vma_free(cpu, root);
            }
            self.anon_vma_free(cpu, av);
            return;
        }
        self.anon_vma_free(cpu, av);
        if root != av && self.root_dec_and_test(root) {
            self.anon_vma_free(cpu, root);
        }
    }

    fn root_dec_and_test(&self, root: usize) -> bool {
        let last = atomic_dec_and_test(&self.av[root].refcount, "__put_anon_vma(root)");
        self.trust(root, "__put_anon_vma drops the root's reference");
        last
    }

    /// Mirrors `anon_vma_lock_write()`: `down_write(&anon_vma->root->rwsem)`. Only the
    /// root's rwsem is ever used (012f18004da3 "always lock the root").
    pub fn anon_vma_lock_write(&self, cpu: &Cpu, av: usize) {
        let root = self.av[av].root.load(Acquire);
        self.trust(av, "anon_vma_lock_write");
        self.av[root].rwsem.down_write(cpu);
        self.trust(root, "anon_vma_lock_write: root");
    }

    /// Mirrors `anon_vma_unlock_write()`: re-reads `anon_vma->root`.
    pub fn anon_vma_unlock_write(&self, cpu: &Cpu, av: usize) {
        let root = self.av[av].root.load(Acquire);
        self.av[root].rwsem.up_write(cpu);
    }

    /// Mirrors `anon_vma_lock_read()`: `down_read(&anon_vma->root->rwsem)`.
    pub fn anon_vma_lock_read(&self, cpu: &Cpu, av: usize) {
        let root = self.av[av].root.load(Acquire);
        self.trust(av, "anon_vma_lock_read");
        self.av[root].rwsem.down_read(cpu);
        self.trust(root, "anon_vma_lock_read: root");
    }

    /// Mirrors `anon_vma_unlock_read()`: `up_read(&anon_vma->root->rwsem)`.
    pub fn anon_vma_unlock_read(&self, cpu: &Cpu, av: usize) {
        let root = self.av[av].root.load(Acquire);
        self.av[root].rwsem.up_read(cpu);
    }

    /// Mirrors `lock_anon_vma_root()` [v3.0 … v6.18]: one `down_write` per chain traversal
    /// instead of one per AVC, safe because every anon_vma on a VMA's chain has the same
    /// root (I1). If the root changes anyway, it WARNs and *releases the old root first*,
    /// keeping "at most one root held" (I9) so that a broken I1 is a warning, never an
    /// ABBA deadlock. `Cfg::lock_root_keeps_old` drops that release (S5).
    pub fn lock_anon_vma_root(&self, cpu: &Cpu, root: Option<usize>, av: usize) -> Option<usize> {
        let new_root = self.av[av].root.load(Acquire);
        self.trust(av, "lock_anon_vma_root");
        if Some(new_root) != root {
            if let Some(old) = root {
                // WARN_ON_ONCE(root)
                self.g_root_warns.fetch_add(1, G);
                ev(cpu.name, "WARN lock_anon_vma_root: root changed within chain", new_root);
                if !self.cfg.lock_root_keeps_old {
                    self.av[old].rwsem.up_write(cpu);
                }
            }
            self.av[new_root].rwsem.down_write(cpu);
            self.trust(new_root, "lock_anon_vma_root: new root");
            return Some(new_root);
        }
        root
    }

    /// Mirrors `unlock_anon_vma_root()`.
    pub fn unlock_anon_vma_root(&self, cpu: &Cpu, root: Option<usize>) {
        if let Some(r) = root {
            self.av[r].rwsem.up_write(cpu);
        }
    }

    /// Mirrors `anon_vma_chain_link()`: add the AVC to the VMA's chain (mmap_lock) and
    /// insert it into `anon_vma->rb_root` (root lock, I2).
    pub fn anon_vma_chain_link(&self, cpu: &Cpu, vma: usize, av: usize) {
        self.trust(av, "anon_vma_chain_link");
        self.vmas[vma].chain_mut(|c| c.insert(0, av)); // list_add: at the head
        let a = &self.av[av];
        a.object.with(|_| ());
        a.rb_root.with_mut(|t| unsafe { *t |= 1 << vma });
        ev(cpu.name, "anon_vma_chain_link vma -> av", vma * 100 + av);
    }

    /// Mirrors `__anon_vma_prepare()` (no mergeable neighbour): allocate a new root
    /// anon_vma, count its self-parent link, and link the first AVC **under the lock**
    /// even though the object is brand new, because a stale optimistic reader may be
    /// touching the recycled memory's rwsem (d9d332e0874f).
    #[allow(non_snake_case)]
    pub fn __anon_vma_prepare(&self, cpu: &Cpu, vma: usize) {
        cpu.might_sleep("__anon_vma_prepare");
        let av = self.anon_vma_alloc(cpu);
        let a = &self.av[av];
        a.update(&a.num_children, |n| *n += 1); // self-parent link for new root
        self.anon_vma_lock_write(cpu, av);
        // (page_table_lock: the VMA is private to this thread in every scenario)
        let v = &self.vmas[vma];
        assert_eq!(v.anon_vma(), NONE, "scenario: vma {vma} already has an anon_vma");
        v.set_anon_vma(av);
        self.anon_vma_chain_link(cpu, vma, av);
        a.update(&a.num_active_vmas, |n| *n += 1);
        self.anon_vma_unlock_write(cpu, av);
    }

    /// Mirrors `anon_vma_clone(dst, src)` [v6.0 … v6.18].
    ///
    /// Walks `src`'s chain in reverse (root first) and links `dst` into every anon_vma,
    /// all under the (single) root lock taken through `lock_anon_vma_root()`. If the
    /// atomic `GFP_NOWAIT` AVC allocation fails, the root lock is dropped *and forgotten*
    /// (`root = NULL`) before the sleeping `GFP_KERNEL` allocation: reclaim walks the rmap
    /// and may need this very lock. Forgetting to reset `root` makes the next
    /// `lock_anon_vma_root()` believe the lock is still held (S6a).
    ///
    /// Fork-only reuse (post CVE-2022-42703, 2555283eb40d): adopt an anon_vma with no
    /// active VMA and fewer than two children. `GFP_KERNEL` failure (`-ENOMEM`) is not
    /// modelled.
    pub fn anon_vma_clone(&self, cpu: &Cpu, dst: usize, src: usize) {
        if self.cfg.kernel == Kernel::MmNext {
            return self.anon_vma_clone_mm_next(cpu, dst, src, false);
        }
        let mut root = None;
        let src_chain = self.vmas[src].chain();
        let (dv, sv) = (&self.vmas[dst], &self.vmas[src]);
        for (i, &av) in src_chain.iter().rev().enumerate() {
            if self.cfg.clone_nowait_fail_at == Some(i) {
                ev(cpu.name, "anon_vma_chain_alloc(GFP_NOWAIT) failed", i);
                self.unlock_anon_vma_root(cpu, root);
                if !self.cfg.clone_forgets_root_reset {
                    root = None;
                }
                cpu.might_sleep("anon_vma_chain_alloc(GFP_KERNEL)");
            }
            if !self.cfg.clone_skips_lock {
                root = self.lock_anon_vma_root(cpu, root, av);
            }
            self.anon_vma_chain_link(cpu, dst, av);
            let a = &self.av[av];
            if dv.anon_vma() == NONE
                && sv.anon_vma() != NONE
                && a.read(&a.num_children) < 2
                && a.read(&a.num_active_vmas) == 0
            {
                dv.set_anon_vma(av);
                ev(cpu.name, "anon_vma_clone: reuse", av);
            }
        }
        let d = dv.anon_vma();
        if d != NONE {
            let a = &self.av[d];
            a.update(&a.num_active_vmas, |n| *n += 1);
        }
        self.unlock_anon_vma_root(cpu, root);
    }

    /// Mirrors `anon_vma_fork(vma, pvma)` [v6.0 … v6.18].
    ///
    /// First the child VMA joins every anon_vma of the parent's chain (so rmap finds the
    /// not-yet-COWed pages in the child), then it gets its own anon_vma whose `root` is the
    /// parent's root. The child pins the root with `get_anon_vma(root)` because "the lock
    /// lives in the root" (I3); `Cfg::fork_skips_root_pin` drops that (S3c). The link is
    /// done under `anon_vma_lock_write(anon_vma)`, which locks the *root*, not the new
    /// object's own rwsem (`Cfg::fork_locks_own_rwsem`, S3b). Error paths not modelled.
    pub fn anon_vma_fork(&self, cpu: &Cpu, vma: usize, pvma: usize) {
        if self.cfg.kernel == Kernel::MmNext {
            return self.anon_vma_fork_mm_next(cpu, vma, pvma);
        }
        let pav = self.vmas[pvma].anon_vma();
        if pav == NONE {
            return;
        }
        let v = &self.vmas[vma];
        v.set_anon_vma(NONE); // drop the inherited anon_vma
        self.anon_vma_clone(cpu, vma, pvma);
        if v.anon_vma() != NONE {
            return; // an existing anon_vma was reused
        }
        let av = self.anon_vma_alloc(cpu);
        let a = &self.av[av];
        a.update(&a.num_active_vmas, |n| *n += 1);
        // anon_vma_chain_alloc(GFP_KERNEL) succeeds.
        let proot = self.av[pav].root.load(Acquire);
        a.root.store(proot, Relaxed);
        a.g_root.store(proot, G);
        a.parent.with_mut(|p| unsafe { *p = pav });
        if !self.cfg.fork_skips_root_pin {
            self.get_anon_vma(proot);
        }
        v.set_anon_vma(av);
        if self.cfg.fork_locks_own_rwsem {
            self.av[av].rwsem.down_write(cpu);
        } else {
            self.anon_vma_lock_write(cpu, av);
        }
        self.anon_vma_chain_link(cpu, vma, av);
        let p = &self.av[pav];
        p.update(&p.num_children, |n| *n += 1);
        if self.cfg.fork_locks_own_rwsem {
            self.av[av].rwsem.up_write(cpu);
        } else {
            self.anon_vma_unlock_write(cpu, av);
        }
    }

    /// Mirrors `unlink_anon_vmas(vma)` [v6.0 … v6.18].
    ///
    /// Loop 1, under the root lock: remove the VMA from every anon_vma's tree; an emptied
    /// anon_vma stays on the list and its parent loses a child. Loop 2, **outside** the
    /// lock: put the emptied anon_vmas, because the last put frees through
    /// `anon_vma_free()`, which may `down_write` the same root (I8; `put_inside_unlink_lock`
    /// deadlocks, S4b). The chain is newest first, so children are put before their root
    /// (5c341ee1dfc8; with the root pin of I3 the order is no longer load-bearing, S4c).
    /// Callers zapped the VMA's PTEs first, so every folio is unmapped before its tree is
    /// emptied (this is what makes "mapped ⇒ anon_vma valid", I5, true).
    pub fn unlink_anon_vmas(&self, cpu: &Cpu, vma: usize) {
        if self.cfg.kernel == Kernel::MmNext {
            return self.unlink_anon_vmas_mm_next(cpu, vma);
        }
        let v = &self.vmas[vma];
        let mut order = v.chain();
        if self.cfg.unlink_oldest_first {
            order.reverse();
        }
        let mut root = None;
        let mut deferred_children_dec = Vec::new();
        for &av in &order {
            root = self.lock_anon_vma_root(cpu, root, av);
            let a = &self.av[av];
            a.object.with(|_| ());
            let empty = a.rb_root.with_mut(|t| unsafe {
                *t &= !(1 << vma);
                *t == 0
            });
            if empty {
                // Leave empty anon_vmas on the list: freed outside the lock.
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
            v.chain_mut(|c| c.retain(|&x| x != av)); // list_del + anon_vma_chain_free
        }
        let vav = v.anon_vma();
        if vav != NONE {
            let a = &self.av[vav];
            a.update(&a.num_active_vmas, |n| *n -= 1);
            v.set_anon_vma(NONE);
        }
        self.unlock_anon_vma_root(cpu, root);
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
