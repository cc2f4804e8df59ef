//! The anon_vma slab: an arena of type-stable slots emulating `SLAB_TYPESAFE_BY_RCU`
//! (docs/loom.md §2.4, invariant I6).
//!
//! A slot is never deallocated during a model run. `kmem_cache_free()` puts it on a LIFO
//! freelist and `kmem_cache_alloc()` hands the same memory out again *as another anon_vma*:
//! the `rwsem` (built once by `anon_vma_ctor()`), `refcount` and `root` keep their meaning,
//! so a stale reader may legally `READ_ONCE(->root)`, trylock the rwsem or
//! `atomic_inc_not_zero()` the refcount of a freed or recycled slot. Everything else is a
//! trusted use and is checked:
//!
//! * `object` is a loom `UnsafeCell<()>` standing for the allocation itself (KASAN's
//!   shadow): free and alloc *write* it, every trusted use *reads* it. Loom reports any
//!   trusted use not ordered with a free/reuse as "Causality violation".
//! * ghost `gen` (bumped by every free) and `live`: a trusted use of a freed slot panics
//!   "UAF:", a walker that got a slot whose generation is not one its folio ever pointed
//!   to panics "STALE:".
//! * ghost `untyped` (S8 only): set after an RCU grace period when the slab page is given
//!   back; then even speculative accesses are bugs ("RCU-UAF:").

use crate::cfg::Cfg;
use crate::ghost::ev;
use crate::rcu::Cpu;
use crate::rwsem::Rwsem;
use crate::sync::{AtomicI32, AtomicUsize, Mutex, UnsafeCell};
use std::sync::atomic::{AtomicBool as GBool, AtomicUsize as GUsize, Ordering::SeqCst as G};

/// `struct anon_vma`, one slab object.
pub struct AnonVma {
    /// `refcount`: base reference (the tree) + pins.
    pub refcount: AtomicI32,
    /// `root` (slot index). Read speculatively by `folio_lock_anon_vma_read()`.
    pub root: AtomicUsize,
    /// `rwsem`: only the root's is ever taken.
    pub rwsem: Rwsem,
    /// KASAN shadow of the allocation (see module docs).
    pub object: UnsafeCell<()>,
    /// `rb_root`: the interval tree of AVCs, as a bitmask of VMA ids. Root lock (I2).
    pub rb_root: UnsafeCell<u32>,
    /// `num_children`. Root lock.
    pub num_children: UnsafeCell<i32>,
    /// `num_active_vmas`. Root lock.
    pub num_active_vmas: UnsafeCell<i32>,
    /// `parent` (slot index). Written before publication, read under the root lock.
    pub parent: UnsafeCell<usize>,
    pub(crate) g_gen: GUsize,
    pub(crate) g_live: GBool,
    pub(crate) g_untyped: GBool,
    /// Ghost copy of `root`, readable without loom operations.
    pub(crate) g_root: GUsize,
}

impl AnonVma {
    /// `anon_vma_ctor()`: runs once per slab object, not per allocation.
    pub fn ctor(cfg: &Cfg, slot: usize) -> AnonVma {
        AnonVma {
            refcount: AtomicI32::new(0),
            root: AtomicUsize::new(slot),
            rwsem: Rwsem::new(cfg.rwsem, cfg.is_locked_relaxed, slot),
            object: UnsafeCell::new(()),
            rb_root: UnsafeCell::new(0),
            num_children: UnsafeCell::new(0),
            num_active_vmas: UnsafeCell::new(0),
            parent: UnsafeCell::new(slot),
            g_gen: GUsize::new(0),
            g_live: GBool::new(false),
            g_untyped: GBool::new(false),
            g_root: GUsize::new(slot),
        }
    }

    /// Ghost: allocated now?
    pub fn live(&self) -> bool {
        self.g_live.load(G)
    }

    /// Ghost: generation (number of frees so far).
    pub fn gen(&self) -> usize {
        self.g_gen.load(G)
    }

    /// Ghost: slab page released after a grace period?
    pub fn untyped(&self) -> bool {
        self.g_untyped.load(G)
    }

    /// Ghost root.
    pub fn ghost_root(&self) -> usize {
        self.g_root.load(G)
    }

    /// Trusted read of the tree.
    pub fn tree(&self) -> u32 {
        self.object.with(|_| ());
        self.rb_root.with(|t| unsafe { *t })
    }

    /// Trusted read-modify-write of a plain field (under the root lock in the kernel).
    pub fn update(&self, cell: &UnsafeCell<i32>, f: impl FnOnce(&mut i32)) {
        self.object.with(|_| ());
        cell.with_mut(|p| f(unsafe { &mut *p }));
    }

    /// Trusted read of a plain field.
    pub fn read(&self, cell: &UnsafeCell<i32>) -> i32 {
        self.object.with(|_| ());
        cell.with(|p| unsafe { *p })
    }
}

/// The `anon_vma` kmem_cache: a LIFO freelist under a loom mutex, so that reuse by another
/// thread gets its happens-before from the "slab lock", as with SLUB.
pub struct Slab {
    free: Mutex<Vec<usize>>,
}

impl Slab {
    /// All `n` slots free; slot 0 is handed out first.
    pub fn new(n: usize) -> Slab {
        Slab { free: Mutex::new((0..n).rev().collect()) }
    }

    /// `kmem_cache_alloc()`: pops the most recently freed slot (LIFO, so a freed
    /// anon_vma's memory comes straight back: the reuse every scenario wants).
    pub fn alloc(&self, av: &[AnonVma], cpu: &Cpu) -> usize {
        let s = self.free.lock().unwrap().pop().expect("scenario sizing: anon_vma slab exhausted");
        let a = &av[s];
        a.object.with_mut(|_| ());
        a.g_live.store(true, G);
        ev(cpu.name, "kmem_cache_alloc(anon_vma) ->", s);
        s
    }

    /// `kmem_cache_free()`: the memory stays an anon_vma (I6).
    pub fn free(&self, av: &[AnonVma], cpu: &Cpu, s: usize) {
        let a = &av[s];
        a.object.with_mut(|_| ());
        a.g_live.store(false, G);
        a.g_gen.fetch_add(1, G);
        ev(cpu.name, "kmem_cache_free(anon_vma)", s);
        self.free.lock().unwrap().push(s);
    }

    /// S8: the slab page of free slot `s` goes back to the page allocator. Only legal
    /// after a grace period; the caller runs `synchronize_rcu()` first.
    pub fn release_page(&self, av: &[AnonVma], cpu: &Cpu, s: usize) {
        let f = self.free.lock().unwrap();
        assert!(f.contains(&s), "release_page of an allocated slot {s}");
        av[s].g_untyped.store(true, G);
        ev(cpu.name, "slab page released (slot untyped)", s);
    }

    /// Is slot `s` on the freelist? (S8 decides whether to release the page.)
    pub fn is_free(&self, s: usize) -> bool {
        self.free.lock().unwrap().contains(&s)
    }
}
