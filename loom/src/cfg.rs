//! The one configuration struct: kernel shape, modelling choices, inputs that are not
//! interleavings, and every broken variant as a switch.
//!
//! Each scenario runs the *same* kernel functions; a broken variant is one `bool` below
//! flipped to `true`. `Cfg::CORRECT` is the v6.8–v6.18 kernel.

/// Which shape of `mm/rmap.c` is modelled (docs/loom.md §1.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// v6.8–v6.18: `lock_anon_vma_root()`, the UFFDIO_MOVE mapping re-check and retry in
    /// `folio_lock_anon_vma_read()`, the walker does not need the folio lock.
    V6_18,
    /// The 2025/26 mm tree for the part that matters to S7: walker and mover both hold the
    /// folio lock, and `folio_lock_anon_vma_read()` has no mapping re-check.
    MmNext,
}

/// How the root `rwsem` is built on loom primitives (docs/loom.md §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RwsemKind {
    /// `Mutex<state>` + `Condvar`: every op, a failed trylock and `rwsem_is_locked()`
    /// included, synchronises through the internal mutex. Cheap; over-synchronises.
    MutexCondvar,
    /// `AtomicIsize` count with kernel orderings (acquire trylock, release up) plus a
    /// Mutex+Condvar wait queue for the sleeping paths. Faithful memory order; expensive.
    AtomicWaitq,
}

/// Configuration of one model run. `Copy`, captured by the loom closure.
#[derive(Clone, Copy, Debug)]
pub struct Cfg {
    /// Kernel shape.
    pub kernel: Kernel,
    /// rwsem implementation.
    pub rwsem: RwsemKind,
    /// Model real RCU grace periods (`synchronize_rcu()` waits for pre-existing readers)
    /// instead of the ghost-only nesting counter. Only S8 needs it; it costs loom ops.
    pub real_rcu_gp: bool,
    /// Input, not a bug: `anon_vma_chain_alloc(GFP_NOWAIT)` fails at this loop index of
    /// `anon_vma_clone()` (the `GFP_KERNEL` retry then succeeds).
    pub clone_nowait_fail_at: Option<usize>,

    // ---- broken variants (all `false` in `CORRECT`) ----
    /// `anon_vma_free()` without the `rwsem_is_locked()` lock/unlock wait (S1a, S10).
    pub free_skips_is_locked_wait: bool,
    /// `rwsem_is_locked()` as a `Relaxed` load instead of `Acquire` (modelling pitfall F2, S1e).
    pub is_locked_relaxed: bool,
    /// `folio_lock_anon_vma_read()` fast path without the `folio_mapped()` re-check (S1b).
    pub skip_mapped_recheck_after_trylock: bool,
    /// `put_anon_vma()` before `rcu_read_unlock()` on the "no longer mapped" exits of
    /// `folio_lock_anon_vma_read()` and `folio_get_anon_vma()` (S1c, S2b).
    pub put_inside_rcu: bool,
    /// `unlink_anon_vmas()` puts the empty anon_vmas inside its locked loop (S4b).
    pub put_inside_unlink_lock: bool,
    /// `lock_anon_vma_root()` takes the new root without releasing the old one (S5).
    pub lock_root_keeps_old: bool,
    /// `folio_get_anon_vma()` without the `folio_mapped()` re-check after the pin (S2a).
    pub get_anon_vma_skips_mapped_recheck: bool,
    /// `folio_get_anon_vma()` uses a plain `atomic_inc` instead of `atomic_inc_not_zero` (S2c).
    pub get_anon_vma_plain_inc: bool,
    /// `folio_get_anon_vma()` uses a fully ordered `atomic_inc_return` instead of
    /// `atomic_inc_not_zero` (S2c: resurrects a freed anon_vma).
    pub get_anon_vma_inc_return: bool,
    /// `anon_vma_clone()` links without taking the root lock (S3a).
    pub clone_skips_lock: bool,
    /// `anon_vma_fork()` takes `down_write(&av->rwsem)` (its own, non-root lock) instead of
    /// `anon_vma_lock_write(av)` (S3b).
    pub fork_locks_own_rwsem: bool,
    /// `anon_vma_fork()` without `get_anon_vma(anon_vma->root)` (S3c).
    pub fork_skips_root_pin: bool,
    /// `__put_anon_vma()` drops the root before freeing the child (pre-624483f3ea82, S4a).
    pub put_root_before_child: bool,
    /// `unlink_anon_vmas()` walks the chain oldest-first (root first) (S4c).
    pub unlink_oldest_first: bool,
    /// `anon_vma_clone()`'s GFP_NOWAIT fallback forgets `root = NULL` after unlocking (S6a).
    pub clone_forgets_root_reset: bool,
    /// `unlink_anon_vmas()` does `parent->num_children--` after dropping the lock (S6b).
    pub unlink_num_children_outside_lock: bool,
    /// `folio_lock_anon_vma_read()` without the v6.8 `folio->mapping` re-check/retry (S7).
    pub skip_mapping_recheck: bool,
    /// Slow path: `rcu_read_unlock()` before `atomic_inc_not_zero()` (S8a).
    pub slow_path_rcu_unlock_early: bool,
    /// Fast path: `rcu_read_unlock()` before `READ_ONCE(anon_vma->root)` (S8b).
    pub fast_path_rcu_unlock_early: bool,
    /// `rwc->try_lock` is ignored: a failed trylock falls into the sleeping slow path (S9).
    pub ignore_try_lock: bool,
}

impl Cfg {
    /// The v6.8–v6.18 kernel with the cheap rwsem and ghost-only RCU.
    pub const CORRECT: Cfg = Cfg {
        kernel: Kernel::V6_18,
        rwsem: RwsemKind::MutexCondvar,
        real_rcu_gp: false,
        clone_nowait_fail_at: None,
        free_skips_is_locked_wait: false,
        is_locked_relaxed: false,
        skip_mapped_recheck_after_trylock: false,
        put_inside_rcu: false,
        put_inside_unlink_lock: false,
        lock_root_keeps_old: false,
        get_anon_vma_skips_mapped_recheck: false,
        get_anon_vma_plain_inc: false,
        get_anon_vma_inc_return: false,
        clone_skips_lock: false,
        fork_locks_own_rwsem: false,
        fork_skips_root_pin: false,
        put_root_before_child: false,
        unlink_oldest_first: false,
        clone_forgets_root_reset: false,
        unlink_num_children_outside_lock: false,
        skip_mapping_recheck: false,
        slow_path_rcu_unlock_early: false,
        fast_path_rcu_unlock_early: false,
        ignore_try_lock: false,
    };
}

impl Default for Cfg {
    fn default() -> Self {
        Cfg::CORRECT
    }
}
