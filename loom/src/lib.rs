//! # loom models of the anon_vma locking paths of `mm/rmap.c`
//!
//! The kernel functions around the root `rwsem` of an anon_vma tree — `anon_vma_alloc`,
//! `anon_vma_free` (with its `rwsem_is_locked()` wait), `put_anon_vma`/`__put_anon_vma`,
//! `lock_anon_vma_root`/`unlock_anon_vma_root`, `anon_vma_clone`, `anon_vma_fork`,
//! `unlink_anon_vmas`, `folio_get_anon_vma` and `folio_lock_anon_vma_read` — written once,
//! step by step, over loom primitives ([`anon_vma`],
//! [`folio`]), and explored by the scenarios in [`scenarios`] (S1–S10 of
//! docs/loom.md §3). The kernel shape is v6.8–v6.18 (`lock_anon_vma_root()` and the
//! UFFDIO_MOVE mapping retry); [`Kernel::MmNext`] switches to the 2025/26 mm tree
//! (`linux-mm/linux-mm` @ 0014dde7e945): `anon_vma_clone`/`anon_vma_fork`/
//! `unlink_anon_vmas` take the active anon_vma's root lock once ([`mm_next`]), and the
//! lockless lookups need the folio lock instead of the mapping retry (S7).
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
//! * [`world`]: VMAs, folios, ghost identity check, quiescent invariants (trees,
//!   `num_children`, `num_active_vmas` and refcounts recomputed from the VMAs' chains).
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
//! | plain field writes of a new anon_vma (`root`, `num_*`, `parent`) | plain | `root`: `Relaxed` store; others: `UnsafeCell` writes | `root` is read speculatively by stale readers, so it must be an atomic |
//!
//! ## What loom cannot settle (docs/loom.md §5)
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
//! 4. **Bounded exploration.** CI runs use a preemption bound (4 for two threads with
//!    the MutexCondvar rwsem, 3 with the AtomicWaitq rwsem, 3 for three threads); the
//!    deep mode runs two-thread MutexCondvar scenarios unbounded but keeps AtomicWaitq
//!    (p = 6) and three threads (p = 5) bounded. S1a needs ≥ 2 preemptions. For the
//!    bounded runs "passes" means "no counterexample within that many preemptions".
//! 5. **rwsem fairness and waiter bits are not modelled.** The kernel's `down_read_trylock`
//!    fails while a writer is queued, and `rwsem_is_locked()` is also true when only
//!    waiters exist. Both would only add executions where the walker takes the slow path
//!    or the freer waits; the model's rwsem is "unlocked" slightly more often, which can
//!    hide but not invent a bug in the paths that depend on `is_locked()`.
//! 6. **The MutexCondvar rwsem over-synchronises** (a failed trylock and `is_locked()`
//!    acquire the internal mutex). Memory-order questions are therefore checked with
//!    [`RwsemKind::AtomicWaitq`] in S1 (`s1_correct_atomic_rwsem`, `s1e`), which costs
//!    5–25× more executions here (15–850× in the prototype).
//! 7. **UFFDIO_MOVE's lock set.** S7's mover takes the folio lock and the *source*
//!    anon_vma's root lock for write, which is what `folio_move_anon_rmap()` requires;
//!    other locks of `move_pages_pte()` are not modelled.
//!
//! ## Where the design (docs/loom.md) and the kernel source disagree (the source wins)
//! Checked against `mm/rmap.c` of the v6.8–v6.18 shape (`lock_anon_vma_root()`, the
//! UFFDIO_MOVE retry). The kernel functions themselves match docs/loom.md §1 step by step;
//! the differences are in what the design predicted for some scenarios:
//! * **S4 premise.** The design first set S4 up as "parent already exited, so the root is kept
//!   only by the child's pin". `anon_vma_clone()` links the child VMA into *every*
//!   anon_vma of the parent's chain, the root included, so after the parent exits the
//!   root still has its tree (base) reference *and* the pin. Hence:
//! * **S4a** (pre-624483f3ea82 put order) is **not** visible in that setup: the root's
//!   count cannot reach zero inside `__put_anon_vma(child)`. It needs the case the fix
//!   describes ("for the last anon_vma"): the child outlives the unlink through an extra
//!   pin, so the root's base reference is already gone when the child's last put runs
//!   (`s4a_put_root_before_child` uses `pinned_child`).
//! * **S4c** ("walk the chain oldest-first → root put first → UAF") does **not** fail:
//!   with the root pin of `anon_vma_fork()` (I3) the order of `unlink_anon_vmas()`'
//!   second loop is not load-bearing any more (`s4c_oldest_first_is_harmless_with_root_pin`).
//!   The "newest to oldest … root gets freed last" comment predates the root pin; without
//!   the pin even the kernel's order frees the root too early (S3c, `s4c_…_without_root_pin`).
//! * **S1d** ("put inside unlink's locked loop → deadlock at iteration 1"): in S1 as the
//!   design defines it (T holds a pin and drops it last) the unlink's put is never the
//!   last, so the switch has no effect; it deadlocks when the unlink's put is the last
//!   (`s1d_put_inside_unlink_lock`, no pin) and in S4b.
//! * **S2c** ("`inc` instead of `inc_not_zero` → refcount underflow"): with the kernel's
//!   plain `atomic_inc`, which is *unordered*, loom first finds that the `folio_mapped()`
//!   re-check after the pin reads a stale "mapped" (the re-check relies on
//!   `atomic_inc_not_zero()` being fully ordered) → stale anon_vma at iteration 1. With a
//!   fully ordered `atomic_inc_return` the resurrection (increment from 0) shows as a
//!   use-after-free.
//! * **S3b** (`down_write(&av->rwsem)` in `anon_vma_fork()` "races with the walker"): the
//!   wrong lock only covers the new anon_vma's own tree, which no walker of a parent
//!   folio reads, and `parent->num_children++`, which walkers do not read. The race is
//!   with a concurrent `num_children` update under the real root lock: a sibling's exit.
//! * **§1.1 table** ("`num_children`, `num_active_vmas`, `parent`: root rwsem write; the
//!   mm-next `anon_vma_fork` sets them before publishing"): already in v6.8–v6.18,
//!   `anon_vma_fork()` does `num_active_vmas++`, `root = …`, `parent = …` on the new,
//!   unpublished anon_vma without a lock, and `__anon_vma_prepare()` counts the new root's
//!   self-parent link (`num_children++`) before locking.
//! * **mm-next chain order** (not in the design): mm-next `anon_vma_clone()` walks
//!   `src`'s chain forward and `list_add`s at the head of `dst`'s, so a split/cloned
//!   chain is oldest first and `unlink_anon_vmas()` then puts the root before its
//!   children, although its comment still says "newest to oldest, ensuring the root
//!   anon_vma gets freed last". Safe for the reason of S4c (the root pin); the model's
//!   mm-next scenarios run exactly that order.
//! * **S8** uses two threads: the freeing thread itself runs `synchronize_rcu()` and
//!   releases the slab page, instead of a third "K" thread.
//!
//! ## Modelling pitfalls found while building this (in addition to F1–F6, docs/loom.md §2.8)
//! * **F7: ghost checks must follow the loom operation they guard.** Loom switches
//!   threads only *at* a loom operation (before executing it). A ghost assertion placed
//!   before `root.load()` runs at the previous scheduling point, so a free that loom
//!   schedules "between" the check and the load is never seen. S8 found nothing until
//!   the checks were moved after the operations.
//! * **F8: a short-circuit matters.** `!skip && rwsem_is_locked()` must not evaluate
//!   `rwsem_is_locked()` in the broken variant: with the MutexCondvar rwsem that call
//!   takes the internal mutex and re-creates the happens-before the variant removed.
//! * **F9: the slow path does not re-check `folio_mapped()` after sleeping**, so a
//!   correct walker may walk an anon_vma whose tree has been emptied meanwhile; it is
//!   kept alive only by `anon_vma_free()`'s wait (this is S1a's window). A walker
//!   assertion "tree non-empty" is wrong.

#![warn(missing_docs)]

pub mod anon_vma;
pub mod arena;
pub mod cfg;
pub mod folio;
pub mod ghost;
pub mod harness;
pub mod mm_next;
pub mod rcu;
pub mod rwsem;
pub mod scenarios;
pub mod sync;
pub mod world;

pub use cfg::{Cfg, Kernel, RwsemKind};
pub use ghost::Kind;
pub use harness::{explore, Report, Threads};
pub use world::World;
