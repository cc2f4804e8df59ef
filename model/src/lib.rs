//! The anon rmap state machine of the Linux kernel as plain data.
//!
//! A [`State`] holds processes (mm) with their VMAs and page tables,
//! `anon_vma`s, and folios. An [`Action`] is one system call or memory
//! access of one process. [`step`] applies an action by running the same
//! sequence of kernel functions the kernel runs, each mirrored by one Rust
//! function of the same name in [`rmap`], [`memory`], [`mmap`], [`vma`],
//! [`mprotect`] and [`mremap`].
//! function of the same name in [`rmap`], [`memory`], [`mmap`], [`swapin`],
//! [`swapfile`], [`vmscan`], [`madvise`] and [`ksm`]; large folios (mTHP)
//! in [`thp`] and [`huge_memory`].
//!
//! The crate knows nothing about invariants or search: those live in
//! `rmapcheck-invariants` and `rmapcheck`.

#![warn(missing_docs)]

pub mod action;
pub mod canon;
pub mod config;
pub mod ctx;
pub mod display;
pub mod huge_memory;
pub mod ksm;
pub mod madvise;
pub mod memory;
pub mod mmap;
pub mod mprotect;
pub mod mremap;
pub mod rmap;
pub mod rng;
pub mod scenario;
pub mod state;
pub mod step;
pub mod swapfile;
pub mod swapin;
pub mod thp;
pub mod thp_madvise;
pub mod thp_swap;
pub mod vma;
pub mod vmscan;

pub use action::Action;
pub use config::{ActionKind, ActionSet, Config, Ids, Kernel, Mthp, Mutant};
pub use ctx::{Branch, Ctx};
pub use scenario::{Expect, Scenario, Step};
pub use state::{
    ghost_allows, AnonVma, AvId, Folio, FolioId, Large, Mapping, Mm, NodeId, Oops, OopsKind, Page, Pid, Pte, RmapItem,
    SlotId, StableNode, State, SubPage, SwapSlot, Value, Vma, GHOST_OR_ZERO, LOST, MAX_FOLIO_PAGES,
};
pub use step::{enabled_actions, step};
