//! The action vocabulary: one action per system call or memory access, in
//! the same words the scenario files and the live-kernel executor use.

use crate::address_space::{parse_file_name, FileId, NAMED_FILES};
use crate::state::{Page, Pid, Value};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One step of one process.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Action {
    /// `P mmap START LEN rw|r`: a private anonymous mapping of LEN pages at START.
    Mmap {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
        /// `PROT_WRITE` (always `PROT_READ`).
        write: bool,
    },
    /// `P read PAGE`: a load.
    Read {
        /// Process.
        pid: Pid,
        /// Page.
        page: Page,
    },
    /// `P write PAGE VALUE`: a store of VALUE.
    Write {
        /// Process.
        pid: Pid,
        /// Page.
        page: Page,
        /// Value stored (1..=values).
        value: Value,
    },
    /// `P fork`: the child is the next unused process number.
    Fork {
        /// Parent.
        pid: Pid,
    },
    /// `P munmap START LEN`.
    Munmap {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P exit`.
    Exit {
        /// Process.
        pid: Pid,
    },
    /// `P madv_pageout START LEN`: `madvise(MADV_PAGEOUT)`.
    MadvPageout {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P madv_free START LEN`: `madvise(MADV_FREE)`.
    MadvFree {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P reclaim PAGE`: kswapd reclaims the folio that P maps at PAGE, or
    /// that caches the swap slot P's swap PTE at PAGE names. The process
    /// only names the folio; kswapd does the work.
    Reclaim {
        /// Process whose page names the folio.
        pid: Pid,
        /// Page.
        page: Page,
    },
    /// `P mprotect START LEN rw|r`: change the protection of a range.
    Mprotect {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
        /// `PROT_WRITE` (always `PROT_READ`).
        write: bool,
    },
    /// `P mremap START LEN TO [dontunmap]`: move LEN pages at START to TO
    /// (`MREMAP_MAYMOVE|MREMAP_FIXED`, optionally `MREMAP_DONTUNMAP`).
    Mremap {
        /// Process.
        pid: Pid,
        /// First page of the source range.
        start: Page,
        /// Length in pages (old and new length are equal).
        len: u8,
        /// First page of the destination.
        to: Page,
        /// `MREMAP_DONTUNMAP`: the source VMA stays, empty.
        dontunmap: bool,
    },
    /// `kswapd writeback`: kswapd writes out and frees the folio its last
    /// `reclaim` unmapped. No process is involved.
    Writeback,
    /// `P madv_mergeable START LEN`: `madvise(MADV_MERGEABLE)`.
    MadvMergeable {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P madv_unmergeable START LEN`: `madvise(MADV_UNMERGEABLE)`.
    MadvUnmergeable {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `ksmd merge P A Q B`: ksmd scans page A of P and merges it with the
    /// page Q maps at B: into B's stable node if B is a KSM page, else the
    /// two pages become one new KSM page (A's frame survives, B's PTE is
    /// replaced). The processes only name the pages; ksmd does the work.
    /// `ksmd merge P A zero` (kept as Q = P, B = [`KSM_ZERO_PAGE`]): with `use_zero_pages`,
    /// the zero-filled page A becomes a KSM zero page.
    KsmMerge {
        /// Process whose page ksmd scans.
        pid: Pid,
        /// Its page.
        page: Page,
        /// Process mapping the partner page.
        with: Pid,
        /// The partner's page.
        with_page: Page,
    },
    /// `ksmd drop P A`: ksmd notices that the rmap_item of P's page A is
    /// stale and removes it (remove_rmap_item_from_tree()).
    KsmDrop {
        /// Process of the rmap_item (it may have exited).
        pid: Pid,
        /// Page of the rmap_item.
        page: Page,
    },
    /// `P mmap START LEN rw|r shared` (`MAP_SHARED|MAP_ANONYMOUS`, `file`
    /// is `None`) or `P mmap START LEN rw|r private|shared FILE PGOFF` (a
    /// named file from file page PGOFF).
    MmapFile {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
        /// `PROT_WRITE` (always `PROT_READ`).
        write: bool,
        /// `MAP_SHARED` (else `MAP_PRIVATE`).
        shared: bool,
        /// The named file, `None` for shared anonymous memory.
        file: Option<FileId>,
        /// The file offset in pages (`vm_pgoff`); 0 for anonymous memory.
        pgoff: u8,
    },
    /// `P madv_dontneed START LEN`: `madvise(MADV_DONTNEED)`.
    MadvDontneed {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P ftruncate FILE PAGES`: `ftruncate()` of a named file to PAGES pages.
    Ftruncate {
        /// Process (every process holds the executor's file descriptors).
        pid: Pid,
        /// The named file.
        file: FileId,
        /// The new size in pages.
        size: u8,
    },
    /// `P fsync FILE`: `fsync()` of a named file.
    Fsync {
        /// Process.
        pid: Pid,
        /// The named file.
        file: FileId,
    },
    /// `kswapd split_deferred`: the deferred split shrinker runs over the
    /// whole queue. No process is involved.
    SplitDeferred,
    /// `P pin PAGE rw|r`: a longterm pin on the page P maps at PAGE
    /// (pin_user_pages(FOLL_LONGTERM), R/W with FOLL_WRITE); live, an
    /// io_uring fixed buffer (R/W only).
    Pin {
        /// Process.
        pid: Pid,
        /// Page.
        page: Page,
        /// `FOLL_WRITE`.
        write: bool,
    },
    /// `P unpin PAGE`: unpin_user_page() of the pin P took at PAGE.
    Unpin {
        /// Process.
        pid: Pid,
        /// Page.
        page: Page,
    },
    /// `P uffd_move SRC DST`: UFFDIO_MOVE of one page from SRC to DST
    /// (UFFDIO_REGISTER of DST before, UFFDIO_UNREGISTER after).
    UffdMove {
        /// Process.
        pid: Pid,
        /// Source page.
        src: Page,
        /// Destination page.
        dst: Page,
    },
    /// `P prctl_merge 1|0`: prctl(PR_SET_MEMORY_MERGE, 1 or 0).
    PrctlMerge {
        /// Process.
        pid: Pid,
        /// The argument: set (1) or clear (0) MMF_VM_MERGE_ANY.
        on: bool,
    },
}

/// The `with_page` of `ksmd merge P A zero`: the shared zero page, no
/// page of the window (a merge of a page with itself is the "ksm page
/// forked" append).
pub const KSM_ZERO_PAGE: Page = 0xff;

/// The name kswapd's own actions carry in place of a process.
pub const KSWAPD: &str = "kswapd";
/// The name ksmd's actions carry in place of a process.
pub const KSMD: &str = "ksmd";

/// One line of [`ActionKind::ALL`]: `kind!(Variant, "name", "what it mirrors")`.
macro_rules! kind {
    ($kind:ident, $name:literal, $mirrors:literal) => {
        (ActionKind::$kind, $name, $mirrors)
    };
}

/// The kinds of action, as named on the command line and in scenarios.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum ActionKind {
    /// `mmap(MAP_PRIVATE|MAP_ANONYMOUS)`.
    Mmap,
    /// A load from a page.
    Read,
    /// A store of a value to a page.
    Write,
    /// `fork()`.
    Fork,
    /// `munmap()` of a range.
    Munmap,
    /// `exit()`.
    Exit,
    /// `madvise(MADV_PAGEOUT)` of a range.
    MadvPageout,
    /// `madvise(MADV_FREE)` of a range.
    MadvFree,
    /// kswapd reclaims one folio: add_to_swap, try_to_unmap.
    Reclaim,
    /// kswapd finishes the folio it unmapped: pageout, __remove_mapping.
    Writeback,
    /// `mprotect()` of a range.
    Mprotect,
    /// `mremap()` moving a range.
    Mremap,
    /// `madvise(MADV_MERGEABLE)` of a range.
    MadvMergeable,
    /// `madvise(MADV_UNMERGEABLE)` of a range.
    MadvUnmergeable,
    /// ksmd merges a page into another page or into a stable node.
    KsmMerge,
    /// ksmd notices a stale rmap_item and removes it.
    KsmDrop,
    /// `mmap(MAP_SHARED|MAP_ANONYMOUS)`: a new shmem object.
    MmapShared,
    /// `mmap()` of a named file, `MAP_PRIVATE` or `MAP_SHARED`.
    MmapFile,
    /// `madvise(MADV_DONTNEED)` of a range.
    MadvDontneed,
    /// `ftruncate()` of a named file.
    Ftruncate,
    /// `fsync()` of a named file.
    Fsync,
    /// The deferred split shrinker splits the partially mapped large folios.
    SplitDeferred,
    /// A longterm GUP pin on a page.
    Pin,
    /// The release of a longterm pin.
    Unpin,
    /// UFFDIO_MOVE of one anonymous page.
    UffdMove,
    /// prctl(PR_SET_MEMORY_MERGE).
    PrctlMerge,
}

impl ActionKind {
    /// Every kind, in the order of the enum: its name on the command line
    /// and in scenarios, and what it mirrors. One line per kind.
    pub const ALL: &'static [(ActionKind, &'static str, &'static str)] = &[
        kind!(Mmap, "mmap",
            "mmap(MAP_PRIVATE|MAP_ANONYMOUS) of a free range: do_mmap() -> mmap_region(), vm_pgoff = addr >> PAGE_SHIFT"),
        kind!(Read, "read",
            "load from a page: do_anonymous_page() maps the shared zero page (no anon_vma needed)"),
        kind!(Write, "write",
            "store a value: do_anonymous_page() with __anon_vma_prepare(), or do_wp_page() reuse / wp_page_copy()"),
        kind!(Fork, "fork",
            "fork(): dup_mmap() -> anon_vma_fork() -> anon_vma_clone(), copy_present_pte()"),
        kind!(Munmap, "munmap",
            "munmap(): __split_vma() at the edges, unmap_vmas(), free_pgtables() -> unlink_anon_vmas()"),
        kind!(Exit, "exit",
            "exit(): exit_mmap() zaps every PTE, then unlinks every VMA"),
        kind!(MadvPageout, "madv_pageout",
            "madvise(MADV_PAGEOUT): madvise_cold_or_pageout_pte_range() skips shared folios, reclaim_pages() -> shrink_folio_list() for the rest, to the end"),
        kind!(MadvFree, "madv_free",
            "madvise(MADV_FREE): madvise_free_pte_range() drops swap entries, cleans PTEs, folio_mark_lazyfree()"),
        kind!(Reclaim, "reclaim",
            "kswapd: shrink_folio_list() on the folio a page maps or swap-caches: add_to_swap(), try_to_unmap() over the modelled rmap, or the lazyfree discard"),
        kind!(Writeback, "writeback",
            "kswapd: pageout() -> swap_writepage() and __remove_mapping() for the folio reclaim unmapped"),
        kind!(Mprotect, "mprotect",
            "mprotect(): vma_modify_flags() merges with a neighbour (vma_merge_existing_range) or splits, then change_protection()"),
        kind!(Mremap, "mremap",
            "mremap(MAYMOVE|FIXED[|DONTUNMAP]): copy_vma() merges (vma_merge_copied_range) or clones, move_page_tables(), unmap or unlink the source"),
        kind!(MadvMergeable, "madv_mergeable",
            "madvise(MADV_MERGEABLE): ksm_madvise() sets VM_MERGEABLE, vma_modify_flags() merges or splits"),
        kind!(MadvUnmergeable, "madv_unmergeable",
            "madvise(MADV_UNMERGEABLE): unmerge_ksm_pages() -> break_ksm() unshares every KSM page, then VM_MERGEABLE is cleared"),
        kind!(KsmMerge, "merge",
            "ksmd: cmp_and_merge_page(): try_to_merge_two_pages() or try_to_merge_with_ksm_page() (write_protect_page, replace_page), stable_tree_append() with get_anon_vma()"),
        kind!(KsmDrop, "drop",
            "ksmd: remove_rmap_item_from_tree() of a stale rmap_item (put_anon_vma), or remove_node_from_stable_tree() of a stale stable node"),
        kind!(MmapShared, "mmap_shared",
            "mmap(MAP_SHARED|MAP_ANONYMOUS): shmem_zero_setup() gives the VMA a new shmem object, vm_pgoff 0; fork shares it without an anon_vma"),
        kind!(MmapFile, "mmap_file",
            "mmap() of a named file MAP_PRIVATE or MAP_SHARED: vm_file, vm_pgoff = file offset, merges need the same file and contiguous pgoff"),
        kind!(MadvDontneed, "madv_dontneed",
            "madvise(MADV_DONTNEED): zap_vma_range(): anon folios freed, file folios unmapped (dirty PTEs dirty the folio), page cache kept"),
        kind!(Ftruncate, "ftruncate",
            "ftruncate() of a named file: truncate_setsize(), truncate_pagecache() unmaps even private COW copies beyond EOF (even_cows), drops the page cache and shmem swap"),
        kind!(Fsync, "fsync",
            "fsync() of a named file: writeback of every dirty page-cache folio, folio_mkclean() write-protects its PTEs through rmap_walk_file(); a no-op for shmem"),
        kind!(SplitDeferred, "split_deferred",
            "the deferred split shrinker (kswapd's shrink_slab(), or drop_caches): deferred_split_scan() splits every partially mapped large folio on the queue (split_folio(), zero-filled pages remapped to the zero page)"),
        kind!(Pin, "pin",
            "pin_user_pages(FOLL_PIN|FOLL_LONGTERM[|FOLL_WRITE]) of one page: faultin_page() breaks COW (R/W) or unshares (R/O, gup_must_unshare(), FAULT_FLAG_UNSHARE), try_grab_folio(), MMF_HAS_PINNED"),
        kind!(Unpin, "unpin",
            "unpin_user_page() of a pin the process holds: the pin's reference dropped, the page freed if nothing else holds it"),
        kind!(UffdMove, "uffd_move",
            "ioctl(UFFDIO_MOVE) of one page between two private anonymous VMAs of a process: move_pages_ptes() -> move_present_ptes() (folio_move_anon_rmap(), folio->index), move_swap_pte(), move_zeropage_pte(); EBUSY for a page that is not PageAnonExclusive"),
        kind!(PrctlMerge, "prctl_merge",
            "prctl(PR_SET_MEMORY_MERGE, 1|0): ksm_enable_merge_any() sets MMF_VM_MERGE_ANY and VM_MERGEABLE on every compatible VMA (ksm_add_vmas()), new VMAs get it at mmap (ksm_vma_flags()), fork keeps it; ksm_disable_merge_any() unmerges every VMA (ksm_del_vmas())"),
    ];

    /// The pin kinds: opt-in, never part of [`crate::ActionSet::all`].
    pub const PIN: [ActionKind; 2] = [ActionKind::Pin, ActionKind::Unpin];

    /// KSM's kinds: opt-in, never part of [`crate::ActionSet::all`].
    pub const KSM: [ActionKind; 4] =
        [ActionKind::MadvMergeable, ActionKind::MadvUnmergeable, ActionKind::KsmMerge, ActionKind::KsmDrop];

    /// The file kinds: opt-in, never part of [`crate::ActionSet::all`], so
    /// anonymous-only configurations keep their state spaces.
    pub const FILE: [ActionKind; 5] = [
        ActionKind::MmapShared,
        ActionKind::MmapFile,
        ActionKind::MadvDontneed,
        ActionKind::Ftruncate,
        ActionKind::Fsync,
    ];

    /// The name used on the command line and in scenarios.
    pub fn name(self) -> &'static str {
        Self::ALL[self as usize].1
    }
}

impl FromStr for ActionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.iter().find(|(_, n, _)| *n == s).map(|(k, _, _)| *k).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|(_, n, _)| *n).collect();
            format!("unknown action '{s}' (known: {})", names.join(", "))
        })
    }
}

impl Action {
    /// The process performing (or, for `reclaim` and ksmd's actions,
    /// naming) the action; `0` for kswapd's `writeback`, which names none
    /// (see [`Action::process`]).
    pub fn pid(self) -> Pid {
        match self {
            Action::KsmMerge { pid, .. } | Action::KsmDrop { pid, .. } => pid,
            _ => self.process().unwrap_or(0),
        }
    }

    /// Applies `f` to every process the action names (the partner of a
    /// ksmd merge included): renumbering when a trace drops a fork.
    pub fn map_pids(self, f: impl Fn(Pid) -> Pid) -> Action {
        match self {
            Action::KsmMerge { pid, page, with, with_page } => {
                Action::KsmMerge { pid: f(pid), page, with: f(with), with_page }
            }
            Action::KsmDrop { pid, page } => Action::KsmDrop { pid: f(pid), page },
            a => match a.process() {
                Some(p) => a.with_pid(f(p)),
                None => a,
            },
        }
    }

    /// The process performing or naming the action, which must be alive;
    /// `None` for kswapd's `writeback` and ksmd's actions (a ksmd `drop`
    /// may name an exited process).
    pub fn process(self) -> Option<Pid> {
        match self {
            Action::Mmap { pid, .. }
            | Action::Read { pid, .. }
            | Action::Write { pid, .. }
            | Action::Fork { pid }
            | Action::Munmap { pid, .. }
            | Action::Exit { pid }
            | Action::MadvPageout { pid, .. }
            | Action::MadvFree { pid, .. }
            | Action::Reclaim { pid, .. }
            | Action::Mprotect { pid, .. }
            | Action::Mremap { pid, .. }
            | Action::MadvMergeable { pid, .. }
            | Action::MadvUnmergeable { pid, .. }
            | Action::MmapFile { pid, .. }
            | Action::MadvDontneed { pid, .. }
            | Action::Ftruncate { pid, .. }
            | Action::Fsync { pid, .. }
            | Action::Pin { pid, .. }
            | Action::Unpin { pid, .. } => Some(pid),
            Action::UffdMove { pid, .. } | Action::PrctlMerge { pid, .. } => Some(pid),
            Action::Writeback | Action::SplitDeferred | Action::KsmMerge { .. } | Action::KsmDrop { .. } => None,
        }
    }

    /// The action's kind.
    pub fn kind(self) -> ActionKind {
        match self {
            Action::Mmap { .. } => ActionKind::Mmap,
            Action::Read { .. } => ActionKind::Read,
            Action::Write { .. } => ActionKind::Write,
            Action::Fork { .. } => ActionKind::Fork,
            Action::Munmap { .. } => ActionKind::Munmap,
            Action::Exit { .. } => ActionKind::Exit,
            Action::MadvPageout { .. } => ActionKind::MadvPageout,
            Action::MadvFree { .. } => ActionKind::MadvFree,
            Action::Reclaim { .. } => ActionKind::Reclaim,
            Action::Writeback => ActionKind::Writeback,
            Action::Mprotect { .. } => ActionKind::Mprotect,
            Action::Mremap { .. } => ActionKind::Mremap,
            Action::MadvMergeable { .. } => ActionKind::MadvMergeable,
            Action::MadvUnmergeable { .. } => ActionKind::MadvUnmergeable,
            Action::KsmMerge { .. } => ActionKind::KsmMerge,
            Action::KsmDrop { .. } => ActionKind::KsmDrop,
            Action::MmapFile { file: None, .. } => ActionKind::MmapShared,
            Action::MmapFile { file: Some(_), .. } => ActionKind::MmapFile,
            Action::MadvDontneed { .. } => ActionKind::MadvDontneed,
            Action::Ftruncate { .. } => ActionKind::Ftruncate,
            Action::Fsync { .. } => ActionKind::Fsync,
            Action::SplitDeferred => ActionKind::SplitDeferred,
            Action::Pin { .. } => ActionKind::Pin,
            Action::Unpin { .. } => ActionKind::Unpin,
            Action::UffdMove { .. } => ActionKind::UffdMove,
            Action::PrctlMerge { .. } => ActionKind::PrctlMerge,
        }
    }

    /// The same action performed by another process (symmetry, replay).
    pub fn with_pid(self, new: Pid) -> Action {
        let mut a = self;
        match &mut a {
            Action::Mmap { pid, .. }
            | Action::Read { pid, .. }
            | Action::Write { pid, .. }
            | Action::Fork { pid }
            | Action::Munmap { pid, .. }
            | Action::Exit { pid }
            | Action::MadvPageout { pid, .. }
            | Action::MadvFree { pid, .. }
            | Action::Reclaim { pid, .. }
            | Action::Mprotect { pid, .. }
            | Action::Mremap { pid, .. }
            | Action::MadvMergeable { pid, .. }
            | Action::MadvUnmergeable { pid, .. }
            | Action::KsmMerge { pid, .. }
            | Action::KsmDrop { pid, .. }
            | Action::MmapFile { pid, .. }
            | Action::MadvDontneed { pid, .. }
            | Action::Ftruncate { pid, .. }
            | Action::Fsync { pid, .. }
            | Action::Pin { pid, .. }
            | Action::Unpin { pid, .. } => *pid = new,
            Action::UffdMove { pid, .. } | Action::PrctlMerge { pid, .. } => *pid = new,
            Action::Writeback | Action::SplitDeferred => {}
        }
        a
    }

    /// Parses the text form, e.g. `P0 mmap 0 2 rw` or `P1 write 0 3`.
    pub fn parse(text: &str) -> Result<Action, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            [KSWAPD, "writeback"] => return Ok(Action::Writeback),
            [KSWAPD, "split_deferred"] => return Ok(Action::SplitDeferred),
            [KSWAPD, v, ..] => {
                return Err(format!(
                    "'{v}' is not a kswapd action: expected 'kswapd writeback' or 'kswapd split_deferred'"
                ))
            }
            [KSMD, rest @ ..] => return parse_ksmd(rest),
            _ => {}
        }
        let (who, verb, args) = match words.as_slice() {
            [who, verb, args @ ..] => (*who, *verb, args),
            [] => return Err("empty action".into()),
            [w] => return Err(format!("'{w}' is not an action: expected 'P<n> <verb> ...'")),
        };
        let pid = who
            .strip_prefix('P')
            .and_then(|n| n.parse::<Pid>().ok())
            .ok_or_else(|| format!("'{who}' is not a process: expected P0, P1, ..."))?;
        let num = |i: usize, what: &str| -> Result<u8, String> {
            let w = args.get(i).ok_or_else(|| format!("'{verb}' needs {what}"))?;
            w.parse::<u8>().map_err(|_| format!("'{w}' is not a valid {what}"))
        };
        let arity = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("'{verb}' takes {n} argument(s), got {}", args.len()))
            }
        };
        let prot = |w: &str| match w {
            "rw" => Ok(true),
            "r" => Ok(false),
            p => Err(format!("'{p}' is not a protection: expected rw or r")),
        };
        let action = match verb {
            "mmap" if args.len() > 3 => parse_mmap_file(pid, args)?,
            "mmap" => {
                arity(3)?;
                Action::Mmap { pid, start: num(0, "start page")?, len: num(1, "length")?, write: prot(args[2])? }
            }
            "madv_dontneed" => {
                arity(2)?;
                Action::MadvDontneed { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "ftruncate" => {
                arity(2)?;
                Action::Ftruncate { pid, file: parse_file_name(args[0])?, size: num(1, "size in pages")? }
            }
            "fsync" => {
                arity(1)?;
                Action::Fsync { pid, file: parse_file_name(args[0])? }
            }
            "mprotect" => {
                arity(3)?;
                Action::Mprotect { pid, start: num(0, "start page")?, len: num(1, "length")?, write: prot(args[2])? }
            }
            "mremap" => {
                let dontunmap = match args.get(3) {
                    None => false,
                    Some(&"dontunmap") if args.len() == 4 => true,
                    Some(w) if args.len() == 4 => {
                        return Err(format!("'{w}' is not an mremap flag: expected dontunmap"))
                    }
                    _ => return Err(format!("'mremap' takes 3 or 4 arguments, got {}", args.len())),
                };
                if args.len() < 3 {
                    return Err(format!("'mremap' takes 3 or 4 arguments, got {}", args.len()));
                }
                let (start, len, to) = (num(0, "start page")?, num(1, "length")?, num(2, "destination page")?);
                Action::Mremap { pid, start, len, to, dontunmap }
            }
            "read" => {
                arity(1)?;
                Action::Read { pid, page: num(0, "page")? }
            }
            "write" => {
                arity(2)?;
                // 0 stores a zero-filled page (byte 0 and the nonce are 0).
                Action::Write { pid, page: num(0, "page")?, value: num(1, "value")? }
            }
            "fork" => {
                arity(0)?;
                Action::Fork { pid }
            }
            "munmap" => {
                arity(2)?;
                Action::Munmap { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "exit" => {
                arity(0)?;
                Action::Exit { pid }
            }
            "madv_pageout" => {
                arity(2)?;
                Action::MadvPageout { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "madv_free" => {
                arity(2)?;
                Action::MadvFree { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "madv_mergeable" => {
                arity(2)?;
                Action::MadvMergeable { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "madv_unmergeable" => {
                arity(2)?;
                Action::MadvUnmergeable { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "merge" | "drop" => return Err(format!("{verb} is ksmd's, not {who}'s: write 'ksmd {verb} {who} ...'")),
            "writeback" | "split_deferred" => {
                return Err(format!("{verb} is kswapd's, not {who}'s: write 'kswapd {verb}'"))
            }
            "prctl_merge" => {
                arity(1)?;
                let on = match args[0] {
                    "1" => true,
                    "0" => false,
                    w => return Err(format!("'{w}' is not a PR_SET_MEMORY_MERGE argument: expected 1 or 0")),
                };
                Action::PrctlMerge { pid, on }
            }
            "uffd_move" => {
                arity(2)?;
                Action::UffdMove { pid, src: num(0, "source page")?, dst: num(1, "destination page")? }
            }
            "reclaim" => {
                arity(1)?;
                Action::Reclaim { pid, page: num(0, "page")? }
            }
            "pin" => {
                arity(2)?;
                Action::Pin { pid, page: num(0, "page")?, write: prot(args[1])? }
            }
            "unpin" => {
                arity(1)?;
                Action::Unpin { pid, page: num(0, "page")? }
            }
            v => {
                let names: Vec<_> = ActionKind::ALL.iter().map(|(_, n, _)| *n).collect();
                return Err(format!("unknown action '{v}' (known: {})", names.join(", ")));
            }
        };
        Ok(action)
    }
}

/// Parses the file forms of `mmap`: `START LEN rw|r shared` (shared
/// anonymous) and `START LEN rw|r private|shared FILE PGOFF`.
fn parse_mmap_file(pid: Pid, args: &[&str]) -> Result<Action, String> {
    let num = |w: &str, what: &str| w.parse::<u8>().map_err(|_| format!("'{w}' is not a valid {what}"));
    let (start, len) = (num(args[0], "start page")?, num(args[1], "length")?);
    let write = match args[2] {
        "rw" => true,
        "r" => false,
        p => return Err(format!("'{p}' is not a protection: expected rw or r")),
    };
    let shared = match args[3] {
        "shared" => true,
        "private" => false,
        w => return Err(format!("'{w}' is not a mapping type: expected shared or private")),
    };
    match args {
        [_, _, _, "shared"] => Ok(Action::MmapFile { pid, start, len, write, shared, file: None, pgoff: 0 }),
        [_, _, _, "private"] => Err("a private anonymous mapping is 'mmap START LEN rw|r' (no 'private')".into()),
        [_, _, _, _, f, off] => {
            Ok(Action::MmapFile { pid, start, len, write, shared, file: Some(parse_file_name(f)?), pgoff: num(off, "file page offset")? })
        }
        _ => Err(format!(
            "'mmap' takes START LEN rw|r, START LEN rw|r shared, or START LEN rw|r private|shared FILE PGOFF; got {} arguments",
            args.len()
        )),
    }
}

/// Parses what follows `ksmd`: `merge P A Q B` or `drop P A`.
fn parse_ksmd(args: &[&str]) -> Result<Action, String> {
    let proc_ = |w: &str| -> Result<Pid, String> {
        w.strip_prefix('P')
            .and_then(|n| n.parse::<Pid>().ok())
            .ok_or_else(|| format!("'{w}' is not a process: expected P0, P1, ..."))
    };
    let page = |w: &str| w.parse::<Page>().map_err(|_| format!("'{w}' is not a valid page"));
    match args {
        ["merge", p, a, "zero"] => {
            let (pid, page) = (proc_(p)?, page(a)?);
            Ok(Action::KsmMerge { pid, page, with: pid, with_page: KSM_ZERO_PAGE })
        }
        ["merge", p, a, q, b] => {
            Ok(Action::KsmMerge { pid: proc_(p)?, page: page(a)?, with: proc_(q)?, with_page: page(b)? })
        }
        ["merge", ..] => Err(format!("'ksmd merge' takes 4 arguments (P A Q B), got {}", args.len() - 1)),
        ["drop", p, a] => Ok(Action::KsmDrop { pid: proc_(p)?, page: page(a)? }),
        ["drop", ..] => Err(format!("'ksmd drop' takes 2 arguments (P A), got {}", args.len() - 1)),
        [v, ..] => Err(format!("'{v}' is not a ksmd action: expected 'ksmd merge P A Q B' or 'ksmd drop P A'")),
        [] => Err("'ksmd' needs an action: 'ksmd merge P A Q B' or 'ksmd drop P A'".into()),
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Action::Mmap { pid, start, len, write } => {
                write!(f, "P{pid} mmap {start} {len} {}", if write { "rw" } else { "r" })
            }
            Action::Read { pid, page } => write!(f, "P{pid} read {page}"),
            Action::Write { pid, page, value } => write!(f, "P{pid} write {page} {value}"),
            Action::Fork { pid } => write!(f, "P{pid} fork"),
            Action::Munmap { pid, start, len } => write!(f, "P{pid} munmap {start} {len}"),
            Action::Exit { pid } => write!(f, "P{pid} exit"),
            Action::Mprotect { pid, start, len, write } => {
                write!(f, "P{pid} mprotect {start} {len} {}", if write { "rw" } else { "r" })
            }
            Action::Mremap { pid, start, len, to, dontunmap } => {
                write!(f, "P{pid} mremap {start} {len} {to}{}", if dontunmap { " dontunmap" } else { "" })
            }
            Action::MadvPageout { pid, start, len } => write!(f, "P{pid} madv_pageout {start} {len}"),
            Action::MadvFree { pid, start, len } => write!(f, "P{pid} madv_free {start} {len}"),
            Action::Reclaim { pid, page } => write!(f, "P{pid} reclaim {page}"),
            Action::Writeback => write!(f, "{KSWAPD} writeback"),
            Action::SplitDeferred => write!(f, "{KSWAPD} split_deferred"),
            Action::MadvMergeable { pid, start, len } => write!(f, "P{pid} madv_mergeable {start} {len}"),
            Action::MadvUnmergeable { pid, start, len } => write!(f, "P{pid} madv_unmergeable {start} {len}"),
            Action::KsmMerge { pid, page, with_page: KSM_ZERO_PAGE, .. } => {
                write!(f, "{KSMD} merge P{pid} {page} zero")
            }
            Action::KsmMerge { pid, page, with, with_page } => {
                write!(f, "{KSMD} merge P{pid} {page} P{with} {with_page}")
            }
            Action::KsmDrop { pid, page } => write!(f, "{KSMD} drop P{pid} {page}"),
            Action::MmapFile { pid, start, len, write, shared, file, pgoff } => {
                let prot = if write { "rw" } else { "r" };
                match file {
                    None => write!(f, "P{pid} mmap {start} {len} {prot} shared"),
                    Some(id) => {
                        let kind = if shared { "shared" } else { "private" };
                        let name = NAMED_FILES.get(id as usize).map_or("?", |n| n.0);
                        write!(f, "P{pid} mmap {start} {len} {prot} {kind} {name} {pgoff}")
                    }
                }
            }
            Action::MadvDontneed { pid, start, len } => write!(f, "P{pid} madv_dontneed {start} {len}"),
            Action::Ftruncate { pid, file, size } => {
                write!(f, "P{pid} ftruncate {} {size}", NAMED_FILES.get(file as usize).map_or("?", |n| n.0))
            }
            Action::Fsync { pid, file } => {
                write!(f, "P{pid} fsync {}", NAMED_FILES.get(file as usize).map_or("?", |n| n.0))
            }
            Action::Pin { pid, page, write } => write!(f, "P{pid} pin {page} {}", if write { "rw" } else { "r" }),
            Action::Unpin { pid, page } => write!(f, "P{pid} unpin {page}"),
            Action::UffdMove { pid, src, dst } => write!(f, "P{pid} uffd_move {src} {dst}"),
            Action::PrctlMerge { pid, on } => write!(f, "P{pid} prctl_merge {}", u8::from(on)),
        }
    }
}
