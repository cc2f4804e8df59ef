//! The modelled kernel state of one explored execution: the anon_vma slab, VMAs, folios,
//! RCU. Built fresh inside every loom execution; shared by the model threads as a
//! `&'static World` (leaked by the harness; finding F4: a deadlock unwinding through
//! threads that own `loom::sync::Arc`s aborts the process).

use crate::arena::{AnonVma, Slab};
use crate::cfg::Cfg;
use crate::rcu::{Cpu, Rcu};
use crate::sync::{AtomicI32, AtomicUsize, Mutex, Relaxed, UnsafeCell};
use std::sync::atomic::{AtomicUsize as GUsize, Ordering::SeqCst as G};

/// "No anon_vma" (NULL).
pub const NONE: usize = usize::MAX;

/// `struct vm_area_struct`, reduced to its anon parts. Both fields are protected by the
/// owning mm's `mmap_lock`, which the one thread acting on the VMA holds; loom checks that.
pub struct Vma {
    /// `vma->anon_vma` (slot or `NONE`).
    pub anon_vma: UnsafeCell<usize>,
    /// `vma->anon_vma_chain`: the anon_vma of each AVC, newest first (`list_add` at head).
    pub chain: UnsafeCell<Vec<usize>>,
}

impl Vma {
    fn new() -> Vma {
        Vma { anon_vma: UnsafeCell::new(NONE), chain: UnsafeCell::new(Vec::new()) }
    }

    /// Read `vma->anon_vma`.
    pub fn anon_vma(&self) -> usize {
        self.anon_vma.with(|p| unsafe { *p })
    }

    /// Write `vma->anon_vma`.
    pub fn set_anon_vma(&self, av: usize) {
        self.anon_vma.with_mut(|p| unsafe { *p = av });
    }

    /// Copy of the chain (newest first).
    pub fn chain(&self) -> Vec<usize> {
        self.chain.with(|p| unsafe { (*p).clone() })
    }

    /// Mutate the chain.
    pub fn chain_mut<R>(&self, f: impl FnOnce(&mut Vec<usize>) -> R) -> R {
        self.chain.with_mut(|p| f(unsafe { &mut *p }))
    }
}

/// `struct folio`, reduced to `mapping`, the mapcount and the folio lock.
pub struct Folio {
    /// `folio->mapping`: anon_vma slot + 1 (the `PAGE_MAPPING_ANON` tag), 0 = none.
    pub mapping: AtomicUsize,
    /// Number of PTEs mapping it (the kernel's `_mapcount` + 1).
    pub mapcount: AtomicI32,
    /// `folio_lock()` (used by S7's mover and by the mm-next walker).
    pub lock: Mutex<()>,
    /// Ghost: every (slot, generation) this folio's mapping ever pointed to.
    pub(crate) g_history: std::sync::Mutex<Vec<(usize, usize)>>,
    /// Ghost copy of the current mapping slot.
    pub(crate) g_mapping: GUsize,
    /// Ghost `folio_test_locked()`.
    pub(crate) g_locked: std::sync::atomic::AtomicBool,
}

/// A held `folio_lock()`; `folio_unlock()` on drop.
pub struct FolioGuard<'a> {
    folio: &'a Folio,
    _g: crate::sync::MutexGuard<'a, ()>,
}

impl Drop for FolioGuard<'_> {
    fn drop(&mut self) {
        self.folio.g_locked.store(false, G);
    }
}

impl Folio {
    /// `folio_lock()`.
    pub fn lock(&self) -> FolioGuard<'_> {
        let g = self.lock.lock().unwrap();
        self.g_locked.store(true, G);
        FolioGuard { folio: self, _g: g }
    }

    /// Ghost `folio_test_locked()`.
    pub fn test_locked(&self) -> bool {
        self.g_locked.load(G)
    }
}

impl Folio {
    fn new() -> Folio {
        Folio {
            mapping: AtomicUsize::new(0),
            mapcount: AtomicI32::new(0),
            lock: Mutex::new(()),
            g_history: std::sync::Mutex::new(Vec::new()),
            g_mapping: GUsize::new(NONE),
            g_locked: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// The `rmap_walk_control` fields that matter here.
#[derive(Default, Clone, Copy, Debug)]
pub struct Rwc {
    /// `rwc->try_lock`: never sleep, report contention instead (6d4675e60135).
    pub try_lock: bool,
    /// `rwc->contended`: output.
    pub contended: bool,
}

/// One model world.
pub struct World {
    /// Kernel shape and switches.
    pub cfg: Cfg,
    /// The anon_vma slab objects.
    pub av: Vec<AnonVma>,
    /// The anon_vma kmem_cache.
    pub slab: Slab,
    /// VMAs, by id (bit position in `rb_root`).
    pub vmas: Vec<Vma>,
    /// Folios.
    pub folios: Vec<Folio>,
    /// RCU.
    pub rcu: Rcu,
    /// Ghost: number of `WARN_ON_ONCE` in `lock_anon_vma_root()` (I1 violated).
    pub(crate) g_root_warns: GUsize,
}

impl World {
    /// A world with `slots` anon_vma slab objects, `vmas` VMAs and `folios` folios, all
    /// empty.
    pub fn new(cfg: Cfg, slots: usize, vmas: usize, folios: usize) -> World {
        World {
            av: (0..slots).map(|s| AnonVma::ctor(&cfg, s)).collect(),
            slab: Slab::new(slots),
            vmas: (0..vmas).map(|_| Vma::new()).collect(),
            folios: (0..folios).map(|_| Folio::new()).collect(),
            rcu: Rcu::new(cfg.real_rcu_gp),
            g_root_warns: GUsize::new(0),
            cfg,
        }
    }

    /// Ghost: how often `lock_anon_vma_root()` warned.
    pub fn root_warns(&self) -> usize {
        self.g_root_warns.load(G)
    }

    /// A trusted use of anon_vma `s` (the kernel dereferences it as *this* object):
    /// the slot must be allocated.
    pub fn trust(&self, s: usize, what: &'static str) {
        assert!(self.av[s].live(), "UAF: {what}: anon_vma slot {s} is free (gen {})", self.av[s].gen());
    }

    /// A speculative use allowed on freed slots by `SLAB_TYPESAFE_BY_RCU`, as long as the
    /// slab page has not been given back (which needs a grace period).
    pub fn speculative(&self, s: usize, what: &'static str) {
        assert!(!self.av[s].untyped(), "RCU-UAF: {what} on anon_vma slot {s} whose slab page was released");
    }

    /// Ghost identity check at a point where the kernel trusts that `av` is the folio's
    /// anon_vma (or an ancestor it was moved from): the slot's generation must be one the
    /// folio's mapping pointed to, i.e. it was not freed or freed-and-reused since.
    pub fn check_identity(&self, folio: usize, av: usize, who: &'static str) {
        let a = &self.av[av];
        let (live, gen) = (a.live(), a.gen());
        let ok = live && self.folios[folio].g_history.lock().unwrap().contains(&(av, gen));
        assert!(
            ok,
            "STALE: {who} trusts anon_vma slot {av} gen {gen} ({}), which is not folio {folio}'s anon_vma",
            if live { "recycled" } else { "freed" }
        );
    }

    /// Quiescent invariants, after all threads joined (docs/loom.md §2.7 item 4).
    /// `pins[s]` = references on slot `s` held outside trees and child->root pins.
    pub fn check_quiescent(&self, pins: &[(usize, i32)]) {
        for (s, a) in self.av.iter().enumerate() {
            assert!(a.rwsem.is_free_at_quiescence(), "rwsem of slot {s} still held at quiescence");
            if !a.live() {
                continue;
            }
            let tree = a.tree();
            let expect_tree =
                self.vmas.iter().enumerate().filter(|(_, v)| v.chain().contains(&s)).fold(0u32, |m, (i, _)| m | 1 << i);
            assert_eq!(tree, expect_tree, "slot {s}: rb_root vs VMA chains");
            let active = self.vmas.iter().filter(|v| v.anon_vma() == s).count() as i32;
            assert_eq!(a.read(&a.num_active_vmas), active, "slot {s}: num_active_vmas");
            let children =
                self.av.iter().filter(|x| x.live() && x.parent.with(|p| unsafe { *p }) == s && x.tree() != 0).count()
                    as i32;
            assert_eq!(a.read(&a.num_children), children, "slot {s}: num_children");
            let base = i32::from(tree != 0);
            let dependants =
                self.av.iter().enumerate().filter(|(x, o)| *x != s && o.live() && o.root.load(Relaxed) == s).count()
                    as i32;
            let extra: i32 = pins.iter().filter(|p| p.0 == s).map(|p| p.1).sum();
            let rc = a.refcount.load(Relaxed);
            assert!(rc > 0, "anon_vma slot {s} leaked: allocated with refcount 0");
            assert_eq!(rc, base + dependants + extra, "slot {s}: refcount != tree + child roots + pins");
        }
    }

    /// Convenience for setup code: a ghost-free CPU for the main thread.
    pub fn setup_cpu() -> Cpu {
        Cpu::new("setup", 0)
    }
}
