//! The JSON-lines protocol between `rmapcheck conform` and the
//! single-threaded executor `rmapcheck-exec`: one [`Request`] per line on the
//! executor's stdin, one [`Reply`] per line on its stdout.

use serde::{Deserialize, Serialize};

/// Base address of the test window (docs/conformance.md §6): page `n` of a
/// scenario is `WINDOW_BASE + n * PAGE_SIZE` in every worker.
pub const WINDOW_BASE: u64 = 0x6000_0000_0000;
/// Page size of the machine (x86-64 base pages).
pub const PAGE_SIZE: u64 = 4096;
/// Offset inside a page where writes store the per-run nonce.
pub const NONCE_OFFSET: usize = 8;

/// The address of page `page` of the window.
pub fn page_addr(page: u8) -> u64 {
    WINDOW_BASE + page as u64 * PAGE_SIZE
}

/// A command to the executor.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start a scenario: kill any workers left from the previous one and
    /// fork a fresh `P0` with an empty window of `pages` pages.
    Start {
        /// Pages in the window.
        pages: u8,
        /// Process bound (pipes are prepared for this many workers).
        procs: u8,
        /// Per-run content nonce written next to every value.
        nonce: u64,
        /// How many of the named files (`reg`, `memfd`, `tmpfs`) to create
        /// for the scenario, fresh and empty (see [`KFile`]).
        #[serde(default)]
        files: u8,
        /// The model's [`rmapcheck_model::Mthp`] orders (0: order 0 only,
        /// `PR_SET_THP_DISABLE`; 16 kB: MADV_HUGEPAGE on every mmap).
        #[serde(default)]
        mthp: u8,
        /// `/sys/kernel/mm/ksm/use_zero_pages` for the scenario (the
        /// isolation restores the machine's value at the end).
        #[serde(default)]
        use_zero_pages: bool,
    },
    /// Perform one action (the scenario text form, e.g. `P0 write 1 3`) and
    /// take a snapshot.
    Act {
        /// The action.
        action: String,
        /// For `ksmd merge`: what the model predicts once ksmd has settled
        /// (see [`KsmWait`]). ksmd is paused between steps and runs only
        /// while the executor waits for this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ksm: Option<KsmWait>,
    },
    /// Take a snapshot without acting.
    Snap,
    /// Kill the workers of the current scenario.
    Stop,
}

/// The structure the model predicts after a ksmd step, as alternatives
/// (ksmd's scan order decides which frame survives a merge, so the model
/// offers every order): in one alternative, each group is a set of
/// (process, page) that must map one frame with KPF_KSM set. The executor
/// runs ksmd (`run=1`) until every group of some alternative is visible and at least
/// [`KSM_SETTLE_SCANS`] full scans have passed since the wait began, or
/// until it gives up after [`KSM_TIMEOUT_SCANS`] full scans and at least
/// [`KSM_TIMEOUT_MS`] (docs/conformance.md §4); then it pauses ksmd again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KsmWait {
    /// Alternatives; each is a list of groups of (process, page) sharing
    /// one KSM frame.
    pub alternatives: Vec<Vec<Vec<(u8, u8)>>>,
    /// For each alternative, the (process, page) that mapped a page of a
    /// large folio before the step and no longer do in it: ksmd splits a
    /// large folio before it merges one of its pages, and may need another
    /// full scan for the next folio (a page of the first, remapped to the
    /// zero page by the split, still sits in its unstable tree and ends
    /// that scan's searches). The wait lasts until these frames are no
    /// longer compound too.
    #[serde(default)]
    pub split: Vec<Vec<(u8, u8)>>,
}

/// Full scans a ksmd wait lasts at least: the scan in progress when ksmd
/// was paused, then one whole scan that started after the last change, so
/// that every stale rmap_item was passed and every merge was tried.
pub const KSM_SETTLE_SCANS: u64 = 2;
/// Full scans (counted from before the wait) after which a wait gives up.
pub const KSM_TIMEOUT_SCANS: u64 = 4;
/// Milliseconds a wait lasts at least before it gives up.
pub const KSM_TIMEOUT_MS: u64 = 200;

/// The executor's answer to one [`Request`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reply {
    /// `None` on success; otherwise why the request could not be carried out
    /// (a harness failure, not a conformance result).
    pub error: Option<String>,
    /// For `act`: the system call's result, `0` or an errno value.
    pub errno: i32,
    /// For `act` and `snap`: the snapshot taken after the action.
    pub snap: Option<KernelSnap>,
    /// For a ksmd wait that timed out: what was still missing (the step is
    /// then reported as unsettled/flaky, not as a divergence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsettled: Option<String>,
    /// For a ksmd wait: how long it took (ms) and how many full scans passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksm_wait: Option<(f64, u64)>,
}

/// Raw observations of every process after one action. PFNs are raw here;
/// the comparison only ever uses them as equivalence classes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelSnap {
    /// Indexed by the model's process number.
    pub procs: Vec<KProc>,
    /// `pgsteal_anon` of `/proc/vmstat`: anon folios taken by kswapd,
    /// direct or memcg reclaim anywhere on the machine. MADV_PAGEOUT does
    /// not count there (reclaim_pages() skips shrink_inactive_list()), so
    /// a change during a run means background reclaim that may have taken
    /// test pages (docs/conformance.md §5).
    #[serde(default)]
    pub pgsteal_anon: u64,
    /// `pgsteal_file` of `/proc/vmstat`, likewise for page-cache folios:
    /// background reclaim may take a clean, unmapped page of the
    /// executor's own files at any moment (MADV_PAGEOUT, truncation and
    /// POSIX_FADV_DONTNEED do not count there).
    #[serde(default)]
    pub pgsteal_file: u64,
    /// The named files the executor created, in file order.
    #[serde(default)]
    pub files: Vec<KFile>,
    /// `/sys/kernel/mm/ksm/{pages_shared,pages_sharing,ksm_zero_pages}`
    /// less what they were when the scenario started (they count the
    /// whole machine; docs/conformance.md §4); `None` without KSM.
    #[serde(default)]
    pub ksm: Option<[i64; 3]>,
}

/// One named file: its size and, per page of the window, what cachestat()
/// says about that offset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KFile {
    /// `i_size` in pages (fstat()).
    pub size: u64,
    /// Per offset: (cached, dirty, evicted). For shmem "evicted" is a swap
    /// entry in the page cache; for a regular file it is a shadow entry
    /// and is not compared, and shmem folios carry no dirty tag.
    pub pages: Vec<(bool, bool, bool)>,
}

/// What backs one VMA, from `/proc/PID/maps`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KBacking {
    /// `s` (VM_MAYSHARE) in the permissions.
    pub shared: bool,
    /// `reg`, `memfd`, `tmpfs`, `shm` (shared anonymous memory), or empty
    /// for private anonymous memory.
    pub kind: String,
    /// The inode number: the same object in two VMAs has the same one.
    pub inode: u64,
    /// The file offset in pages.
    pub pgoff: u64,
}

/// One worker process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KProc {
    /// The worker has not exited.
    pub alive: bool,
    /// VMAs inside the window from `/proc/PID/maps`: (first page, end page,
    /// readable, writable).
    pub vmas: Vec<(u8, u8, bool, bool)>,
    /// What backs each of [`KProc::vmas`].
    #[serde(default)]
    pub backing: Vec<KBacking>,
    /// One entry per page of the window.
    pub pages: Vec<KPage>,
    /// The longterm pins the worker holds, by pinned address.
    #[serde(default)]
    pub pins: Vec<KPin>,
    /// `ksm_merge_any: yes` in `/proc/PID/ksm_stat` (MMF_VM_MERGE_ANY).
    #[serde(default)]
    pub merge_any: bool,
    /// `ksm_zero_pages` in `/proc/PID/ksm_stat` (`mm->ksm_zero_pages`).
    #[serde(default)]
    pub ksm_zero_pages: i64,
    /// `ksm_merging_pages` in `/proc/PID/ksm_stat` (`mm->ksm_merging_pages`);
    /// `None` when not read.
    #[serde(default)]
    pub ksm_merging_pages: Option<i64>,
}

/// What one longterm pin (an io_uring fixed buffer) sees, read through
/// IORING_OP_WRITE_FIXED.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KPin {
    /// The pinned page of the window.
    pub page: u8,
    /// Byte 0 of the pinned page.
    pub value: u8,
    /// The nonce bytes hold this run's nonce (or zero with value 0).
    pub nonce_ok: bool,
}

/// Kind of page-table entry (from pagemap bits 63/62 and the VMA list).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KPte {
    /// No VMA covers the page.
    #[default]
    Unmapped,
    /// `pte_none()` inside a VMA.
    None,
    /// A present PTE.
    Present,
    /// A swap (or migration) entry.
    Swap,
}

/// One (process, page) observation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KPage {
    /// PTE kind.
    pub pte: KPte,
    /// Raw PFN of a present PTE (0 otherwise), or the swap type/offset word
    /// of a swap PTE.
    pub pfn: u64,
    /// pagemap bit 56: the page is mapped exactly once.
    pub excl: bool,
    /// `/proc/kpagecount` of the frame.
    pub count: u64,
    /// `/proc/kpageflags` of the frame (all bits).
    pub flags: u64,
    /// Byte 0 as read by the worker itself (present pages only).
    pub value: Option<u8>,
    /// The nonce bytes hold this run's nonce (or the page is all zero
    /// there, as a never-written page is). `false` means foreign content.
    pub nonce_ok: bool,
    /// Swap PTEs only: the worker's `mincore()` says the slot has an
    /// uptodate folio in the swap cache.
    #[serde(default)]
    pub swapcache: bool,
    /// pagemap bit 61 (PM_FILE): a present page that is not anon.
    #[serde(default)]
    pub file: bool,
    /// Present pages: the PFN of the folio's head page (KPF_COMPOUND_HEAD
    /// found by walking back over KPF_COMPOUND_TAIL frames; the frame
    /// itself for a small folio).
    #[serde(default)]
    pub head: u64,
    /// Present pages: the folio's pages (the head and its tails).
    #[serde(default)]
    pub nr: u32,
}

/// kpageflags bit numbers (include/uapi/linux/kernel-page-flags.h).
pub mod kpf {
    /// KPF_DIRTY.
    pub const DIRTY: u32 = 4;
    /// KPF_ANON.
    pub const ANON: u32 = 12;
    /// KPF_COMPOUND_HEAD.
    pub const COMPOUND_HEAD: u32 = 15;
    /// KPF_COMPOUND_TAIL.
    pub const COMPOUND_TAIL: u32 = 16;
    /// KPF_SWAPCACHE.
    pub const SWAPCACHE: u32 = 13;
    /// KPF_SWAPBACKED.
    pub const SWAPBACKED: u32 = 14;
    /// KPF_KSM.
    pub const KSM: u32 = 21;
    /// KPF_THP.
    pub const THP: u32 = 22;
    /// KPF_ZERO_PAGE.
    pub const ZERO_PAGE: u32 = 24;
}
