//! The anon rmap state machine of the Linux kernel as plain data.
//!
//! A [`State`] holds processes (mm) with their VMAs and page tables,
//! `anon_vma`s, and folios. An [`Action`] is one system call or memory
//! access of one process. [`step()`] applies an action by running the same
//! sequence of kernel functions the kernel runs, each mirrored by one Rust
//! function of the same name in [`rmap`], [`memory`], [`mmap`], [`vma`],
//! [`mprotect`], [`mremap`], [`swapin`], [`swapfile`], [`vmscan`],
//! [`madvise`] and [`ksm`]; large folios (mTHP) in [`thp`], [`thp_swap`],
//! [`thp_madvise`] and [`huge_memory`]. [`canon`] renumbers objects
//! canonically, [`scenario`] is the scenario-file format with its
//! [`assert`] lines, [`input`] reads untrusted files and makes messages
//! printable, [`rng`] the one seeded generator. What each kernel function
//! does, in the project's words: `docs/kernel/`.
//!
//! The crate knows nothing about invariants or search: those live in
//! `rmapcheck-invariants` and `rmapcheck`.

#![warn(missing_docs)]

pub mod action;
pub mod address_space;
pub mod assert;
pub mod canon;
pub mod config;
pub mod ctx;
pub mod display;
pub mod encode;
pub mod filemap;
pub mod gup;
pub mod huge_memory;
pub mod inline;
pub mod input;
pub mod ksm;
pub mod ksm_counters;
pub mod ksm_prctl;
pub mod ksm_zero;
pub mod madvise;
pub mod memory;
pub mod mmap;
pub mod mprotect;
pub mod mremap;
pub mod rmap;
pub mod rng;
pub mod scenario;
pub mod shmem;
pub mod state;
pub mod step;
pub mod swapfile;
pub mod swapin;
pub mod thp;
pub mod thp_madvise;
pub mod thp_swap;
pub mod truncate;
pub mod userfaultfd;
pub mod vma;
pub mod vmscan;

pub use action::{Action, ActionKind};
pub use address_space::{CacheEntry, File, FileId, FileKind, NAMED_FILES};
pub use config::{ActionSet, Config, Ids, Kernel, Mthp, Mutant};
pub use ctx::{Branch, Ctx};
pub use scenario::{Expect, Scenario, Step};
pub use state::{
    ghost_allows, AnonVma, AvId, Folio, FolioId, Large, Mapping, Mm, NodeId, Oops, OopsKind, Page, Pid, Pin, Pte,
    RmapItem, SlotId, StableNode, State, SubPage, SwapSlot, Value, Vma, GHOST_FILE, GHOST_OR_ZERO, LOST,
    MAX_FOLIO_PAGES,
};
pub use step::{enabled_actions, step};

#[cfg(test)]
mod registries {
    use crate::{ActionKind, Branch, Mutant};

    /// Each registry has one line per variant, at the variant's position
    /// (`name()` indexes by discriminant), and no name twice.
    #[test]
    fn every_registry_line_sits_at_its_variant_and_names_are_unique() {
        let check = |what: &str, ids: Vec<usize>, names: Vec<&str>| {
            assert_eq!(ids, (0..ids.len()).collect::<Vec<_>>(), "{what}: a line out of the enum's order");
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{what}: a name twice");
        };
        check(
            "ActionKind",
            ActionKind::ALL.iter().map(|(k, ..)| *k as usize).collect(),
            ActionKind::ALL.iter().map(|(_, n, _)| *n).collect(),
        );
        check(
            "Mutant",
            Mutant::ALL.iter().map(|(m, ..)| *m as usize).collect(),
            Mutant::ALL.iter().map(|(_, n, _)| *n).collect(),
        );
        check(
            "Branch",
            Branch::ALL.iter().map(|(b, _)| *b as usize).collect(),
            Branch::ALL.iter().map(|(_, n)| *n).collect(),
        );
        // Ctx::branches and ActionSet are bit sets of these widths.
        assert!(Branch::ALL.len() <= 128 && ActionKind::ALL.len() <= 32);
        assert_eq!(ActionKind::KsmDrop.name(), "drop");
        assert_eq!(Mutant::KsmReuseInPlace.name(), "ksm-reuse-in-place");
    }
}
