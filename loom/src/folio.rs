//! The folio side of `mm/rmap.c`: setting and moving `folio->mapping`, the mapcount, and
//! the two lockless lookups `folio_get_anon_vma()` and `folio_lock_anon_vma_read()`, plus
//! `rmap_walk_anon()` as the trusted user of the latter.

use crate::cfg::Kernel;
use crate::ghost::ev;
use crate::rcu::Cpu;
use crate::sync::{
    atomic_dec_and_test, atomic_inc, atomic_inc_not_zero, atomic_inc_return, full_rmw, AcqRel, Acquire, Relaxed,
};
use crate::world::{Rwc, World, NONE};
use std::sync::atomic::Ordering::SeqCst as G;

impl World {
    /// Mirrors `__folio_set_anon()` + the first `folio_add_new_anon_rmap()` mapping:
    /// `WRITE_ONCE(folio->mapping, anon_vma | PAGE_MAPPING_ANON)` and one PTE.
    pub fn folio_add_new_anon_rmap(&self, cpu: &Cpu, folio: usize, vma: usize) {
        let av = self.vmas[vma].anon_vma();
        assert_ne!(av, NONE, "scenario: fault in a VMA without anon_vma");
        self.set_mapping(folio, av);
        full_rmw(|| self.folios[folio].mapcount.fetch_add(1, AcqRel));
        ev(cpu.name, "folio mapped, anon_vma", av);
    }

    /// A further PTE maps the folio (fork's `folio_try_dup_anon_rmap_pte()`).
    pub fn folio_dup_anon_rmap(&self, folio: usize) {
        full_rmw(|| self.folios[folio].mapcount.fetch_add(1, AcqRel));
    }

    fn set_mapping(&self, folio: usize, av: usize) {
        let f = &self.folios[folio];
        f.g_history.lock().unwrap().push((av, self.av[av].gen()));
        f.g_mapping.store(av, G);
        f.mapping.store(av + 1, Relaxed); // WRITE_ONCE
    }

    /// Mirrors `folio_remove_rmap_pte()` (zap): `atomic_add_negative(-1, &_mapcount)`, a
    /// value-returning, fully ordered RMW. `folio->mapping` is *not* cleared: an unmapped
    /// folio keeps a possibly dangling anon_vma pointer, hence every `folio_mapped()`
    /// check below.
    pub fn folio_remove_rmap_pte(&self, cpu: &Cpu, folio: usize) {
        full_rmw(|| self.folios[folio].mapcount.fetch_sub(1, AcqRel));
        ev(cpu.name, "zap: folio_remove_rmap_pte", folio);
    }

    /// Mirrors `folio_mapped()`: `atomic_read()` of the mapcounts, relaxed.
    pub fn folio_mapped(&self, folio: usize) -> bool {
        self.folios[folio].mapcount.load(Relaxed) > 0
    }

    /// Mirrors `folio_move_anon_rmap()` as used by UFFDIO_MOVE (v6.8, possibly to a
    /// *different root*): `WRITE_ONCE(folio->mapping, ...)`. The caller holds the folio
    /// lock and the source anon_vma's (root) lock for write.
    pub fn folio_move_anon_rmap(&self, cpu: &Cpu, folio: usize, vma: usize) {
        let av = self.vmas[vma].anon_vma();
        self.set_mapping(folio, av);
        ev(cpu.name, "folio_move_anon_rmap ->", av);
    }

    /// Mirrors `folio_get_anon_vma()`: a reference on the folio's anon_vma, or `None`.
    ///
    /// `atomic_inc_not_zero()` on a possibly freed or recycled object is harmless (I6): it
    /// pins whatever anon_vma lives in the slot *now*. Only the `folio_mapped()` re-check
    /// *after* the pin proves it is the folio's (I5); without it the caller may get a
    /// reference to an unrelated, recycled anon_vma (S2a). The put on the failure exit
    /// comes after `rcu_read_unlock()` because it can be the last one and sleep (I7, S2b).
    pub fn folio_get_anon_vma(&self, cpu: &Cpu, folio: usize) -> Option<usize> {
        let f = &self.folios[folio];
        if self.cfg.kernel == Kernel::MmNext {
            assert!(f.test_locked(), "VM_WARN_ON_FOLIO(!folio_test_locked(folio))");
        }
        self.rcu.read_lock(cpu);
        let m = f.mapping.load(Acquire); // READ_ONCE + dereference
        if m == 0 || !self.folio_mapped(folio) {
            self.rcu.read_unlock(cpu);
            return None;
        }
        let av = m - 1;
        let rc = &self.av[av].refcount;
        let pinned = if self.cfg.get_anon_vma_inc_return {
            atomic_inc_return(rc);
            true
        } else if self.cfg.get_anon_vma_plain_inc {
            atomic_inc(rc);
            true
        } else {
            atomic_inc_not_zero(rc)
        };
        self.speculative(av, "atomic_inc_not_zero(&anon_vma->refcount)");
        if !pinned {
            self.rcu.read_unlock(cpu);
            return None;
        }
        ev(cpu.name, "folio_get_anon_vma: pinned", av);
        if !self.cfg.get_anon_vma_skips_mapped_recheck && !self.folio_mapped(folio) {
            if self.cfg.put_inside_rcu {
                self.put_anon_vma(cpu, av);
                self.rcu.read_unlock(cpu);
            } else {
                self.rcu.read_unlock(cpu);
                self.put_anon_vma(cpu, av);
            }
            return None;
        }
        self.rcu.read_unlock(cpu);
        Some(av)
    }

    /// Mirrors `folio_lock_anon_vma_read(folio, rwc)` [v6.8 … v6.18]: the folio's anon_vma
    /// with its root read-locked, or `None`. On success the caller holds the lock but **no
    /// reference**.
    ///
    /// * Fast path, one atomic: `down_read_trylock()` on `READ_ONCE(anon_vma->root)` saved
    ///   in a local, which is what gets unlocked (eee0f252c653: a recycler may rewrite
    ///   `->root`). Then `folio_mapped()` again: the trylock may have taken the rwsem of a
    ///   recycled object, or of a live one whose folio was just unmapped; only "still
    ///   mapped under the lock" proves the object is the folio's (I5; S1b).
    /// * v6.8+: re-check `folio->mapping`: UFFDIO_MOVE may have moved the folio to another
    ///   root while we did not hold the folio lock; then retry (S7). mm-next drops the retry
    ///   and requires the folio lock instead.
    /// * `rwc->try_lock` (reclaim): never sleep, report contention (6d4675e60135; S9).
    /// * Slow path: cannot sleep under RCU, so pin with `atomic_inc_not_zero()` and
    ///   re-check mapped *before* leaving RCU (S8a); a failed re-check puts after
    ///   `rcu_read_unlock()` (S1c). Sleep in `anon_vma_lock_read()`, then drop the pin with
    ///   `atomic_dec_and_test()`: if it was the last, unlock first and `__put_anon_vma()`
    ///   ("can't simply use put_anon_vma() because we'll deadlock on the
    ///   anon_vma_lock_write() recursion", I8). Returning locked without a reference is
    ///   safe only because of `anon_vma_free()`'s `rwsem_is_locked()` wait (S1a).
    pub fn folio_lock_anon_vma_read(&self, cpu: &Cpu, folio: usize, rwc: &mut Rwc) -> Option<usize> {
        let f = &self.folios[folio];
        if self.cfg.kernel == Kernel::MmNext {
            assert!(f.test_locked(), "VM_WARN_ON_FOLIO(!folio_test_locked(folio))");
        }
        let retry_on_move = self.cfg.kernel == Kernel::V6_18 && !self.cfg.skip_mapping_recheck;
        'retry: loop {
            self.rcu.read_lock(cpu);
            let mut in_rcu = true;
            let m = f.mapping.load(Acquire); // READ_ONCE(folio->mapping) + dereference
            if m == 0 || !self.folio_mapped(folio) {
                self.rcu.read_unlock(cpu);
                return None;
            }
            let av = m - 1;
            if self.cfg.fast_path_rcu_unlock_early {
                self.rcu.read_unlock(cpu);
                in_rcu = false;
            }
            // Ghost checks go *after* the loom operation they guard: loom may switch
            // threads only at an operation, so a check placed before it would look at
            // the state of the previous scheduling point.
            let root = self.av[av].root.load(Acquire); // READ_ONCE(anon_vma->root)
            self.speculative(av, "READ_ONCE(anon_vma->root)");
            let locked = self.av[root].rwsem.down_read_trylock(cpu);
            self.speculative(root, "down_read_trylock(&root_anon_vma->rwsem)");
            if locked {
                if retry_on_move && f.mapping.load(Acquire) != m {
                    self.av[root].rwsem.up_read(cpu);
                    if in_rcu {
                        self.rcu.read_unlock(cpu);
                    }
                    ev(cpu.name, "folio_lock_anon_vma_read: mapping changed, retry", av);
                    continue 'retry;
                }
                let mut ret = Some(av);
                if !self.cfg.skip_mapped_recheck_after_trylock && !self.folio_mapped(folio) {
                    self.av[root].rwsem.up_read(cpu);
                    ret = None;
                }
                if in_rcu {
                    self.rcu.read_unlock(cpu);
                }
                return ret;
            }
            if rwc.try_lock && !self.cfg.ignore_try_lock {
                rwc.contended = true;
                if in_rcu {
                    self.rcu.read_unlock(cpu);
                }
                return None;
            }
            // trylock failed, we got to sleep
            if self.cfg.slow_path_rcu_unlock_early && in_rcu {
                self.rcu.read_unlock(cpu);
                in_rcu = false;
            }
            let pinned = atomic_inc_not_zero(&self.av[av].refcount);
            self.speculative(av, "atomic_inc_not_zero(&anon_vma->refcount)");
            if !pinned {
                if in_rcu {
                    self.rcu.read_unlock(cpu);
                }
                return None;
            }
            ev(cpu.name, "folio_lock_anon_vma_read: slow path pinned", av);
            if !self.folio_mapped(folio) {
                if self.cfg.put_inside_rcu && in_rcu {
                    self.put_anon_vma(cpu, av);
                    self.rcu.read_unlock(cpu);
                } else {
                    if in_rcu {
                        self.rcu.read_unlock(cpu);
                    }
                    self.put_anon_vma(cpu, av);
                }
                return None;
            }
            // we pinned the anon_vma, its safe to sleep
            if in_rcu {
                self.rcu.read_unlock(cpu);
            }
            self.anon_vma_lock_read(cpu, av);
            if retry_on_move && f.mapping.load(Acquire) != m {
                self.anon_vma_unlock_read(cpu, av);
                self.put_anon_vma(cpu, av);
                ev(cpu.name, "folio_lock_anon_vma_read: mapping changed, retry", av);
                continue 'retry;
            }
            if atomic_dec_and_test(&self.av[av].refcount, "folio_lock_anon_vma_read") {
                // Oops, we held the last refcount: unlock, then free.
                self.anon_vma_unlock_read(cpu, av);
                self.__put_anon_vma(cpu, av);
                return None;
            }
            ev(cpu.name, "folio_lock_anon_vma_read: locked WITHOUT reference", av);
            return Some(av);
        }
    }

    /// Mirrors `rmap_walk_anon()` with `rwc->anon_lock = folio_lock_anon_vma_read`: lock,
    /// iterate `anon_vma->rb_root`, unlock. Returns the tree it saw (`None`: no anon_vma,
    /// not mapped, or contended).
    ///
    /// Ghost checks at the point where the kernel trusts the result: the anon_vma is the
    /// folio's (generation check, "STALE:"), and the rwsem held is the root of the folio's
    /// *current* anon_vma (S7, "ROOT:"). The tree read goes through `object`, so loom
    /// reports it if it is not ordered before a free ("Causality violation").
    pub fn rmap_walk_anon(&self, cpu: &Cpu, folio: usize, rwc: &mut Rwc) -> Option<u32> {
        let mm_next = self.cfg.kernel == Kernel::MmNext;
        let guard = mm_next.then(|| self.folios[folio].lock());
        let av = self.folio_lock_anon_vma_read(cpu, folio, rwc);
        let Some(av) = av else {
            drop(guard);
            return None;
        };
        self.check_identity(folio, av, "rmap_walk_anon");
        let cur = self.folios[folio].g_mapping.load(G);
        let want = self.av[cur].ghost_root();
        assert!(
            cpu.held.borrow().contains(&(want, false)),
            "ROOT: {} walks anon_vma {av} holding {:?}, but folio {folio} now belongs to anon_vma {cur} under root {want}",
            cpu.name,
            cpu.held.borrow()
        );
        let tree = self.av[av].tree();
        ev(cpu.name, "rmap_walk_anon: walked tree of", av);
        self.anon_vma_unlock_read(cpu, av);
        drop(guard);
        Some(tree)
    }
}
