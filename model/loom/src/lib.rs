//! # loom models of the anon_vma locking paths of `mm/rmap.c`
//!
//! The kernel functions around the root `rwsem` of an anon_vma tree — `anon_vma_alloc`,
//! `anon_vma_free` (with its `rwsem_is_locked()` wait), `put_anon_vma`/`__put_anon_vma`,
//! `lock_anon_vma_root`/`unlock_anon_vma_root`, `anon_vma_clone`, `anon_vma_fork`,
//! `unlink_anon_vmas`, `folio_get_anon_vma` and `folio_lock_anon_vma_read` — written once,
//! step by step, over loom primitives ([`anon_vma`](crate::anon_vma),
//! [`folio`](crate::folio)), and explored by the scenarios in [`scenarios`] (S1–S10 of
//! `LOOM-NOTES.md` §3). The kernel shape is v6.8–v6.18 (`lock_anon_vma_root()` and the
//! UFFDIO_MOVE mapping retry); [`Kernel::MmNext`] switches the part of the 2025/26 mm tree
//! that S7 exercises.
//!
//! The crate uses loom types directly (no `cfg(loom)`), so `cargo test` runs every
//! scenario. `RMAPCHECK_LOOM_DEEP=1 cargo test -p rmapcheck-loom --release` runs them at
//! the deep bounds (see `README.md`).
//!
//! ## Building blocks
//! * [`arena`]: type-stable anon_vma slots standing in for `SLAB_TYPESAFE_BY_RCU`, with a
//!   KASAN-like `object` cell (loom race = use after free) and ghost generation/liveness.
//! * [`rwsem`]: an rwsem with trylock and `is_locked`, blocking on a loom `Condvar`
//!   (two variants, [`RwsemKind`]).
//! * [`rcu`]: per-thread ghost context (RCU nesting, `might_sleep`, held locks) and an
//!   optional grace-period model.
//! * [`harness`]: runs a scenario under `loom::model::Builder` with the CI or deep
//!   preemption bound, classifies the outcome ([`Kind`]), counts iterations.
//!
//! ## Ordering upgrades (kernel → model)
//! Loom has no dependency ordering, so some kernel orderings are strengthened. Each
//! upgrade can hide a bug that LKMM allows; they are listed so that a herd7/LKMM litmus
//! test can check them separately.
//!
//! | kernel | LKMM | model | why |
//! |---|---|---|---|
//! | `READ_ONCE(folio->mapping)`, `READ_ONCE(anon_vma->root)`, then dereference | relaxed + address dependency | `load(Acquire)` | loom has no consume |
//! | plain `anon_vma->root` in `anon_vma_lock_*`, `lock_anon_vma_root` | plain read of a published field | `load(Acquire)` | same |
//! | `rwsem_is_locked()` in `anon_vma_free()` | plain read + control dependency to the free's stores | `load(Acquire)` (AtomicWaitq) | finding F2: `Relaxed` gives a false use-after-free ([`Cfg::is_locked_relaxed`], test `s1e`) |
//! | `atomic_dec_and_test`, successful `atomic_inc_not_zero`, `atomic_add_negative` | fully ordered | `fence(SeqCst)`; RMW `AcqRel`; `fence(SeqCst)` | exact in loom's SC-fence model |
//! | `atomic_inc` (`get_anon_vma`), `atomic_set`, `atomic_read` | relaxed | `Relaxed` | exact |
//! | `down_*_trylock` success / `up_*` | acquire / release | same (AtomicWaitq); everything through a mutex (MutexCondvar) | MutexCondvar also orders a *failed* trylock and `is_locked` |
//! | `WRITE_ONCE(folio->mapping)` | relaxed | `Relaxed` store | exact |
//!
//! ## What loom cannot settle (LOOM-NOTES §5)
//! 1. **The store-buffering shape in `anon_vma_free()`'s comment.** The comment pairs
//!    the reader's `down_read_trylock()` (LOCK, acquire only) + later check against the
//!    freer's `atomic_dec_and_test()` (MB) + plain `rwsem_is_locked()`. Whether LKMM
//!    forbids the reader's check from being satisfied while the freer's `is_locked()` reads
//!    the pre-lock count depends on the ordering of a *failed-or-acquire* RMW against a
//!    later plain read — an SB litmus question. Here `is_locked()` is an `Acquire` load
//!    and, with the default rwsem, even goes through a mutex, so the model cannot
//!    distinguish "safe by LKMM" from "safe by our upgrade". In every scenario the fast
//!    path is in any case protected independently: emptying the tree needs the write
//!    lock in `unlink_anon_vmas()` (I4/I5), so no fast-path counterexample exists even
//!    without the wait; only the slow path (return locked without a reference) needs it
//!    (S1a vs. `s1_no_wait_undetectable_without_writer`). A herd7 test would settle the
//!    remaining theoretical window.
//! 2. **Load buffering and dependencies.** Loom does not explore load-buffering
//!    executions and does not track address/control dependencies, so every
//!    dependency-ordered read is modelled as `Acquire` (table above). A bug that needs
//!    an LB cycle or the *absence* of a dependency cannot be found here.
//! 3. **Inputs that are not interleavings.** Loom has no nondeterministic choice: chain
//!    shapes, reuse of a freed slot, allocation failure (`Cfg::clone_nowait_fail_at`) and
//!    the kernel shape are fixed per model run. Structural coverage (all chain shapes,
//!    `-ENOMEM` paths of `anon_vma_clone`/`anon_vma_fork`, which are not modelled here)
//!    belongs to the state-machine model of this project.
//! 4. **Bounded exploration.** CI runs use a preemption bound (3 for two threads, 2 for
//!    three). S1a needs ≥ 2 preemptions; S10 at the deep bound is still bounded (p = 3),
//!    so "passes" for three threads means "no counterexample within 3 preemptions".
//! 5. **rwsem fairness and waiter bits are not modelled.** The kernel's `down_read_trylock`
//!    fails while a writer is queued, and `rwsem_is_locked()` is also true when only
//!    waiters exist. Both would only add executions where the walker takes the slow path
//!    or the freer waits; the model's rwsem is "unlocked" slightly more often, which can
//!    hide but not invent a bug in the paths that depend on `is_locked()`.
//! 6. **The MutexCondvar rwsem over-synchronises** (a failed trylock and `is_locked()`
//!    acquire the internal mutex). Memory-order questions are therefore checked with
//!    [`RwsemKind::AtomicWaitq`] in S1 (`s1_correct_atomic_rwsem`, `s1e`), which is
//!    15–100× more expensive.
//! 7. **UFFDIO_MOVE's lock set.** S7's mover takes the folio lock and the *source*
//!    anon_vma's root lock for write, which is what `folio_move_anon_rmap()` requires;
//!    other locks of `move_pages_pte()` are not modelled.
//!
//! ## Where the notes and the kernel source disagree (kernel wins)
//! * S4c "walk the chain oldest-first → root put first → UAF": with the root pin that
//!   `anon_vma_fork()` takes (I3) the root cannot reach zero before its child is freed,
//!   so the order of `unlink_anon_vmas()`' second loop is not load-bearing any more; the
//!   model passes (`s4c_oldest_first_is_harmless_with_root_pin`). The "newest to oldest
//!   … root gets freed last" comment predates the root pin. Without the pin even the
//!   kernel's order frees the root first (S3c).
//! * S1d "put inside unlink's locked loop → deadlock" cannot fire in S1, where the
//!   unlink's put is never the last (the scenario's migration pin outlives it); the same
//!   switch is checked in S4b, where it is the last put and deadlocks.
//! * `__anon_vma_prepare()` also counts a self-parent link (`num_children++`) for a new
//!   root, which the notes' §1.4 field list omits; the quiescent `num_children` check
//!   relies on it.

#![warn(missing_docs)]

pub mod anon_vma;
pub mod arena;
pub mod cfg;
pub mod folio;
pub mod ghost;
pub mod harness;
pub mod rcu;
pub mod rwsem;
pub mod scenarios;
pub mod sync;
pub mod world;

pub use cfg::{Cfg, Kernel, RwsemKind};
pub use ghost::Kind;
pub use harness::{explore, Report, Threads};
pub use world::World;
