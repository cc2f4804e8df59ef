//! Model parameters: the kernel variant, the bounds, and the switches that
//! deliberately break the model (mutants) so that tests can show the
//! invariants catch real mistakes.

use crate::action::ActionKind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which kernel's anon rmap rules the model follows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub enum Kernel {
    /// v6.0 – v6.18: `num_children` and `num_active_vmas` (commit 2555283eb40d).
    #[default]
    #[serde(rename = "v6.18")]
    V6_18,
    /// v3.19 – v5.19: the single `degree` counter and the reuse test that
    /// CVE-2022-42703 broke (7a3ef208e662).
    #[serde(rename = "v5.19")]
    V5_19,
    /// v6.18 with the fix of the MADV_FREE data loss at its root:
    /// madvise_free_pte_range() leaves alone every folio that may be mapped
    /// by more than one process, whatever its PG_dirty and swap-cache state,
    /// as madvise_free_huge_pmd() already does for a PMD-mapped THP ("If
    /// other processes are mapping this folio, we couldn't discard the folio
    /// unless they all do MADV_FREE so let's skip the folio"). Mainline
    /// decides "shared" with folio_maybe_mapped_shared() (v6.15+; before it
    /// folio_likely_mapped_shared(), folio_estimated_sharers(),
    /// folio_mapcount() != 1); for an order-0 folio that is
    /// `folio_mapcount() > 1`, for a large one the MM-id shared bit
    /// (CONFIG_MM_ID; docs/kernel/large-folios.md). v6.18 checks
    /// folio_mapcount() only for a folio that is PG_dirty or in the swap
    /// cache, so a clean folio under clean PTEs that holds the only copy of
    /// the data (a zram swap-in that skipped the swap cache) becomes
    /// lazyfree for every process mapping it, a large one included
    /// (findings/madv-free-clean-shared-folio.md, docs/kernel/madv-free.md §6).
    #[serde(rename = "v6.18-madvfree-skips-shared")]
    V6_18MadvFreeSkipsShared,
    /// v6.18 with a partial fix kept to show why it is not enough:
    /// do_swap_page() marks a folio that skipped the swap cache dirty (the
    /// slot is freed, memory holds the only copy, as folio_free_swap()
    /// assumes). It closes the zram trigger of the MADV_FREE data loss but
    /// not the KSM one, where no swap is involved: ksmd merges a page into a
    /// KSM page MADV_FREE made lazyfree, and replace_page() maps it clean
    /// (scenarios/madv-free-ksm-trigger-defeats-swapin-bypass-dirty.rmap).
    #[serde(rename = "v6.18-swapin-bypass-dirty")]
    V6_18SwapinBypassDirty,
}

impl Kernel {
    /// All variants, for `rmapcheck list`.
    pub const ALL: [Kernel; 4] =
        [Kernel::V6_18, Kernel::V5_19, Kernel::V6_18MadvFreeSkipsShared, Kernel::V6_18SwapinBypassDirty];

    /// One line on what the variant is.
    pub fn description(self) -> &'static str {
        match self {
            Kernel::V6_18 => {
                "current mainline (v6.0-v6.18): anon_vma num_children + num_active_vmas, \
                 fork reuses an anon_vma only if num_children < 2 && num_active_vmas == 0"
            }
            Kernel::V5_19 => {
                "v3.19-v5.19: one anon_vma->degree counter (children + VMAs); fork reuses \
                 an anon_vma other than src->anon_vma if degree < 2 (CVE-2022-42703)"
            }
            Kernel::V6_18MadvFreeSkipsShared => {
                "v6.18 plus the root-cause fix of the MADV_FREE data loss: madvise_free_pte_range() skips \
                 every folio that may be mapped by more than one process (folio_maybe_mapped_shared()), \
                 dirty or clean, in the swap cache or not"
            }
            Kernel::V6_18SwapinBypassDirty => {
                "v6.18 plus a partial fix (not enough: a ksmd merge into a lazyfree KSM page still loses data): \
                 do_swap_page() marks a folio that skipped the swap cache dirty"
            }
        }
    }

    /// Whether the variant has v6.0+'s anon_vma counters (`num_children`,
    /// `num_active_vmas`) rather than v5.19's `degree`.
    pub fn is_v6(self) -> bool {
        self != Kernel::V5_19
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kernel::V6_18 => "v6.18",
            Kernel::V5_19 => "v5.19",
            Kernel::V6_18MadvFreeSkipsShared => "v6.18-madvfree-skips-shared",
            Kernel::V6_18SwapinBypassDirty => "v6.18-swapin-bypass-dirty",
        })
    }
}

impl FromStr for Kernel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "v6.18" | "6.18" => Ok(Kernel::V6_18),
            "v5.19" | "5.19" => Ok(Kernel::V5_19),
            "v6.18-madvfree-skips-shared" => Ok(Kernel::V6_18MadvFreeSkipsShared),
            "v6.18-swapin-bypass-dirty" => Ok(Kernel::V6_18SwapinBypassDirty),
            _ => Err(format!(
                "unknown kernel variant '{s}' (known: v6.18, v5.19, v6.18-madvfree-skips-shared, v6.18-swapin-bypass-dirty)"
            )),
        }
    }
}

/// A deliberate mistake in the model, used to check that the invariants
/// catch it. Never enabled by default.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Mutant {
    /// copy_present_pte() forgets `ClearPageAnonExclusive()` on fork.
    KeepExclusiveOnFork,
    /// copy_present_pte() forgets to write-protect the parent's PTE.
    KeepParentWritableOnFork,
    /// Fork re-points a shared folio at the child's own anon_vma, the bug
    /// ea90002b0fa7 fixed for swap-in ("the case of the overly anonymous anon_vma").
    SharedFolioToChildAnonVma,
    /// anon_vma_fork() forgets `get_anon_vma(root)`.
    ForkSkipsRootRef,
    /// do_swap_page() treats a swap-cache folio as exclusive although the
    /// swap PTE lacks the exclusive marker (as for a fresh folio that
    /// bypassed the swap cache), so a page other swap PTEs still name
    /// becomes PageAnonExclusive.
    SwapinSharedExclusive,
    /// copy_vma() merges the moved range into an unfaulted neighbour without
    /// duplicating the source's anon_vma state: v6.18 before "mm/vma: fix
    /// anon_vma UAF on mremap() faulted, unfaulted merge" (syzbot; a
    /// regression of 879bca0a2c4f), which added `vmg->copied_from`.
    MremapMergeSkipsCopiedFrom,
    /// try_to_merge_with_ksm_page() forgets `get_anon_vma(vma->anon_vma)`:
    /// the rmap_item does not pin the anon_vma it will walk.
    KsmItemSkipsAnonVmaPin,
    /// wp_can_reuse_anon_folio() forgets the folio_test_ksm() check and
    /// do_wp_page() reuses the last mapping of a KSM page in place: the
    /// page stays in the stable tree, now PageAnonExclusive and writable.
    KsmReuseInPlace,
    /// shmem_alloc_and_add_folio() forgets __folio_set_swapbacked(): a
    /// shmem folio looks like a regular file's page cache.
    ShmemFolioNotSwapbacked,
    /// truncate_pagecache() skips unmap_mapping_range(): the page cache
    /// beyond EOF is removed while PTEs still map it.
    TruncateSkipsUnmap,
    /// copy_vma() resets vm_pgoff of every VMA without an anon_vma, not only
    /// of an anonymous one: a moved file VMA no longer maps its file offsets.
    MremapResetsFilePgoff,
    /// do_wp_page() forgets the VM_SHARED branch (wp_page_shared()) and
    /// copies on write in a shared mapping.
    SharedWriteCows,
    /// shrink_folio_list() frees a dirty regular-file folio instead of
    /// leaving it to writeback.
    ReclaimDropsDirtyFile,
    /// __folio_remove_rmap() forgets deferred_split_folio(): a partially
    /// mapped large folio never reaches the deferred split queue.
    RemoveRmapSkipsDeferredSplit,
    /// __wp_can_reuse_large_anon_folio() forgets the MM-id shared bit: a
    /// write reuses a page of a large folio another process still maps.
    LargeReuseIgnoresSharedBit,
    /// copy_present_ptes() ignores folio_needs_cow_for_dma(): fork shares a
    /// pinned page with the child instead of copying it.
    ForkSharesPinnedPage,
    /// An R/O pin skips gup_must_unshare(): a page that is not
    /// PageAnonExclusive is pinned as it is (before v5.19's unshare).
    RoPinWithoutUnshare,
    /// try_to_unmap_one() ignores folio_maybe_dma_pinned(): reclaim unmaps
    /// and swaps out a pinned page.
    ReclaimIgnoresPin,
    /// try_grab_folio(FOLL_PIN) counts the pin but takes no reference: the
    /// page is freed under the pin when its last mapping goes.
    PinTakesNoReference,
    /// move_present_ptes() forgets `src_folio->index = linear_page_index(dst_vma, dst_addr)`.
    UffdMoveSkipsIndex,
    /// move_present_ptes() forgets folio_move_anon_rmap(): the moved page
    /// still points at the source VMA's anon_vma.
    UffdMoveSkipsAnonRmap,
    /// move_pages_ptes() forgets the PageAnonExclusive() check and moves a
    /// page another process still maps.
    UffdMoveIgnoresExclusive,
    /// ksm_might_unmap_zero_page() forgets `mm->ksm_zero_pages--`: zapping
    /// a KSM zero page leaves its count behind.
    KsmZeroUnmapUncounted,
    /// can_vma_merge_right() forgets its last test, that prev and next
    /// have compatible anon_vmas (`!prev->anon_vma || !next->anon_vma ||
    /// prev->anon_vma == next->anon_vma`; are_anon_vmas_compatible() before
    /// 879bca0a2c4f): a range compatible with prev and with next on its own
    /// merges both, although their anon_vmas differ (the case of the
    /// kernel's tools/testing/vma test_anon_vma_non_mergeable()). Only a
    /// process with three pages (prev, the range, next) can show it.
    MergeBothIgnoresAnonVmas,
}

/// One line of [`Mutant::ALL`]: `mutant!(Variant, "name", "what it breaks")`.
macro_rules! mutant {
    ($m:ident, $name:literal, $what:literal) => {
        (Mutant::$m, $name, $what)
    };
}

impl Mutant {
    /// Every mutant, in the order of the enum: its command-line name and
    /// what it breaks. One line per mutant.
    pub const ALL: &'static [(Mutant, &'static str, &'static str)] = &[
        mutant!(KeepExclusiveOnFork, "keep-exclusive-on-fork",
            "copy_present_pte() keeps PageAnonExclusive on a shared page"),
        mutant!(KeepParentWritableOnFork, "keep-parent-writable-on-fork",
            "copy_present_pte() leaves the parent's PTE writable"),
        mutant!(SharedFolioToChildAnonVma, "shared-folio-to-child-anon-vma",
            "copy_present_pte() points a shared folio at the child's own anon_vma"),
        mutant!(ForkSkipsRootRef, "fork-skips-root-ref",
            "anon_vma_fork() forgets get_anon_vma(root)"),
        mutant!(SwapinSharedExclusive, "swapin-shared-exclusive",
            "do_swap_page() maps a swap-cache folio exclusive without the swap PTE's exclusive marker"),
        mutant!(MremapMergeSkipsCopiedFrom, "mremap-merge-skips-copied-from",
            "copy_vma() merges a faulted range into an unfaulted neighbour without dup_anon_vma() (v6.18 before the copied_from fix: the syzbot mremap UAF)"),
        mutant!(KsmItemSkipsAnonVmaPin, "ksm-item-skips-anon-vma-pin",
            "try_to_merge_with_ksm_page() forgets get_anon_vma(): a KSM rmap_item does not pin its anon_vma"),
        mutant!(KsmReuseInPlace, "ksm-reuse-in-place",
            "do_wp_page() reuses the last mapping of a KSM page in place (no folio_test_ksm() check)"),
        mutant!(ShmemFolioNotSwapbacked, "shmem-folio-not-swapbacked",
            "shmem_alloc_and_add_folio() forgets __folio_set_swapbacked()"),
        mutant!(TruncateSkipsUnmap, "truncate-skips-unmap",
            "truncate_pagecache() skips unmap_mapping_range(): truncated page cache stays mapped"),
        mutant!(MremapResetsFilePgoff, "mremap-resets-file-pgoff",
            "copy_vma() resets vm_pgoff of an unfaulted file VMA as if it were anonymous"),
        mutant!(SharedWriteCows, "shared-write-cows",
            "do_wp_page() copies on write in a shared mapping (no wp_page_shared())"),
        mutant!(ReclaimDropsDirtyFile, "reclaim-drops-dirty-file-folio",
            "shrink_folio_list() frees a dirty regular-file folio without writeback"),
        mutant!(RemoveRmapSkipsDeferredSplit, "remove-rmap-skips-deferred-split",
            "__folio_remove_rmap() forgets deferred_split_folio() for a partially mapped large folio"),
        mutant!(LargeReuseIgnoresSharedBit, "large-reuse-ignores-shared-bit",
            "__wp_can_reuse_large_anon_folio() ignores the MM-id shared bit (folio_maybe_mapped_shared())"),
        mutant!(ForkSharesPinnedPage, "fork-shares-pinned-page",
            "copy_present_ptes() ignores folio_needs_cow_for_dma(): fork shares a pinned page instead of copying it"),
        mutant!(RoPinWithoutUnshare, "ro-pin-without-unshare",
            "an R/O pin skips gup_must_unshare(): a page not PageAnonExclusive is pinned as it is (CVE-2020-29374)"),
        mutant!(ReclaimIgnoresPin, "reclaim-ignores-pin",
            "try_to_unmap_one() ignores folio_maybe_dma_pinned(): reclaim swaps out a pinned page"),
        mutant!(PinTakesNoReference, "pin-takes-no-reference",
            "try_grab_folio(FOLL_PIN) takes no reference: a pinned page is freed when its last mapping goes"),
        mutant!(UffdMoveSkipsIndex, "uffd-move-skips-index",
            "move_present_ptes() moves the page without updating folio->index"),
        mutant!(UffdMoveSkipsAnonRmap, "uffd-move-skips-anon-rmap",
            "move_present_ptes() forgets folio_move_anon_rmap(): the page keeps the source VMA's anon_vma"),
        mutant!(UffdMoveIgnoresExclusive, "uffd-move-ignores-exclusive",
            "move_pages_ptes() moves a page that is not PageAnonExclusive (shared after fork, or KSM)"),
        mutant!(KsmZeroUnmapUncounted, "ksm-zero-unmap-uncounted",
            "ksm_might_unmap_zero_page() forgets mm->ksm_zero_pages--: an unmapped KSM zero page stays counted"),
        mutant!(MergeBothIgnoresAnonVmas, "merge-both-ignores-anon-vmas",
            "can_vma_merge_right() skips its prev/next anon_vma test: prev and next with different anon_vmas merge around the range"),
    ];

    /// Its command-line name.
    pub fn name(self) -> &'static str {
        Self::ALL[self as usize].1
    }

    /// One line on what it breaks.
    pub fn description(self) -> &'static str {
        Self::ALL[self as usize].2
    }
}

impl FromStr for Mutant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.iter().find(|(_, n, _)| *n == s).map(|(m, _, _)| *m).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|(_, n, _)| *n).collect();
            format!("unknown mutant '{s}' (known: {})", names.join(", "))
        })
    }
}

/// How object ids are managed between actions.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub enum Ids {
    /// Renumber anon_vmas and folios by first reach from the processes after
    /// every action and drop freed objects nothing points at: states that
    /// differ only in ids are one state.
    #[default]
    Canonical,
    /// Keep allocation order, drop freed objects nothing points at. The
    /// baseline that shows what canonical ids save.
    Compact,
    /// Never renumber, keep freed objects as tombstones: ids are stable over
    /// a whole trace, like kernel pointers. Used to print traces and to run
    /// scenarios; the state space is unbounded, so never used to explore.
    Stable,
}

/// The parameters of one model instance.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Kernel variant.
    pub kernel: Kernel,
    /// Maximum number of processes ever created (P0 plus forks).
    pub procs: u8,
    /// Pages in the address window.
    pub pages: u8,
    /// Data values a write may store: 1..=values.
    pub values: u8,
    /// Which kinds of action the checker explores.
    pub actions: ActionSet,
    /// Object-id management.
    pub ids: Ids,
    /// Fold states that differ only by a permutation of processes.
    pub symmetry: bool,
    /// A deliberate model mistake, for testing the invariants.
    pub mutant: Option<Mutant>,
    /// Most swap slots in use at once; folio_alloc_swap() fails beyond it
    /// (as on a full swap device) and reclaim keeps the folio.
    #[serde(default = "default_swap_slots")]
    pub swap_slots: u8,
    /// How many of the named files ([`crate::NAMED_FILES`]: `reg`, `memfd`,
    /// `tmpfs`) exist, 0–3. Shared anonymous memory needs none.
    #[serde(default)]
    pub files: u8,
    /// The anonymous mTHP sizes a fault may allocate (every
    /// `hugepages-<size>kB/enabled` that allows the VMA); none by default,
    /// so order-0-only configurations are unchanged.
    #[serde(default)]
    pub mthp: Mthp,
    /// `/sys/kernel/mm/ksm/use_zero_pages`: ksmd maps a zero-filled page
    /// to the shared zero page (a KSM zero page) instead of merging it
    /// with other pages (see [`crate::ksm_zero`]). Off by default, as on
    /// the kernel.
    #[serde(default)]
    pub use_zero_pages: bool,
}

/// The large folio orders `thp_vma_allowable_orders()` lets a fault (and a
/// swap-in) allocate: bit `k` for order `k`. The model bounds orders to
/// 1 and 2 (8 and 16 kB). v6.18 never allocates an anonymous order-1 folio
/// (THP_ORDERS_ALL_ANON leaves out orders 0 and 1, and this machine's
/// `hugepages-8kB` has no `enabled` file); order 1 is allowed in the model
/// to explore the large-folio code paths with two pages, and the live
/// conformance refuses it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mthp(pub u8);

impl Mthp {
    /// The largest modelled order (a bound of the state: [`crate::state::MAX_FOLIO_PAGES`]).
    pub const MAX_ORDER: u8 = 2;
    /// No large folios.
    pub fn none() -> Self {
        Mthp(0)
    }
    /// Whether a fault may allocate a folio of `order`.
    pub fn allows(self, order: u8) -> bool {
        order > 0 && self.0 & (1 << order) != 0
    }
    /// Whether any large order is enabled.
    pub fn any(self) -> bool {
        self.0 != 0
    }
    /// The enabled orders, highest first (highest_order()/next_order()).
    pub fn orders_desc(self) -> impl Iterator<Item = u8> {
        (1..=Self::MAX_ORDER).rev().filter(move |&o| self.allows(o))
    }
}

impl fmt::Display for Mthp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let sizes: Vec<String> =
            (1..=Self::MAX_ORDER).filter(|&o| self.allows(o)).map(|o| format!("{}k", 4 << o)).collect();
        f.write_str(&sizes.join(","))
    }
}

impl FromStr for Mthp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut m = Mthp(0);
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match w {
                "none" => {}
                "8k" | "8kB" => m.0 |= 1 << 1,
                "16k" | "16kB" => m.0 |= 1 << 2,
                _ => {
                    return Err(format!(
                        "unknown mTHP size '{w}' (known: 16k, 8k, none; the model bounds folios at order {})",
                        Self::MAX_ORDER
                    ))
                }
            }
        }
        Ok(m)
    }
}

impl TryFrom<String> for Mthp {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Mthp> for String {
    fn from(m: Mthp) -> String {
        m.to_string()
    }
}

fn default_swap_slots() -> u8 {
    8
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kernel: Kernel::V6_18,
            procs: 3,
            pages: 2,
            values: 1,
            actions: ActionSet::all(),
            ids: Ids::Canonical,
            symmetry: true,
            mutant: None,
            swap_slots: default_swap_slots(),
            files: 0,
            mthp: Mthp::none(),
            use_zero_pages: false,
        }
    }
}

impl Config {
    /// The configuration replays use: stable ids (allocation order, like
    /// kernel pointers) and no symmetry folding, so that a trace names the
    /// same objects from step to step.
    pub fn for_replay(&self) -> Config {
        Config { ids: Ids::Stable, symmetry: false, ..self.clone() }
    }

    /// Checks the bounds; the message names the problem.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.procs) {
            return Err(format!("procs must be between 1 and 8, got {}", self.procs));
        }
        if !(1..=8).contains(&self.pages) {
            return Err(format!("pages must be between 1 and 8, got {}", self.pages));
        }
        if !(1..=15).contains(&self.values) {
            return Err(format!("values must be between 1 and 15, got {}", self.values));
        }
        if self.swap_slots > 32 {
            return Err(format!("swap slots must be at most 32, got {}", self.swap_slots));
        }
        if self.files as usize > crate::NAMED_FILES.len() {
            return Err(format!("files must be between 0 and {}, got {}", crate::NAMED_FILES.len(), self.files));
        }
        // ftruncate and fsync name a file too: without one they would never act.
        let named = [ActionKind::MmapFile, ActionKind::Ftruncate, ActionKind::Fsync];
        if let Some(k) = named.into_iter().find(|&k| self.actions.contains(k)).filter(|_| self.files == 0) {
            return Err(format!(
                "the {} action needs files: set files to 1 (reg), 2 (and memfd) or 3 (and tmpfs)",
                k.name()
            ));
        }
        if self.symmetry && self.ids != Ids::Canonical {
            return Err("process symmetry works on canonical ids: drop the ids setting or turn symmetry off".into());
        }
        if self.actions.is_empty() {
            return Err("no action kind is enabled".into());
        }
        if self.actions.contains(ActionKind::Reclaim) && !self.actions.contains(ActionKind::Writeback) {
            return Err(
                "the reclaim action needs writeback: kswapd must be able to finish the folio it unmapped".into()
            );
        }
        if ![ActionKind::Mmap, ActionKind::MmapShared, ActionKind::MmapFile].iter().any(|&k| self.actions.contains(k)) {
            return Err("the mmap action (or mmap_shared, mmap_file) must be enabled: nothing else can happen without a mapping".into());
        }
        Ok(())
    }
}

/// A set of [`ActionKind`]s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ActionSet(u32);

impl ActionSet {
    /// Every action kind but KSM's ([`ActionKind::KSM`]), the file kinds
    /// ([`ActionKind::FILE`]), the pins' ([`ActionKind::PIN`]) and the deferred split's (it only acts on
    /// large folios, see [`Mthp`]), which a configuration must name: checks
    /// written before them keep their state spaces and their reports.
    pub fn all() -> Self {
        let mut set = Self::every();
        let opt_in = [ActionKind::SplitDeferred, ActionKind::UffdMove, ActionKind::PrctlMerge];
        for k in ActionKind::KSM.into_iter().chain(ActionKind::FILE).chain(opt_in).chain(ActionKind::PIN) {
            set.0 &= !(1 << k as u32);
        }
        set
    }
    /// Every action kind, KSM's included.
    pub fn every() -> Self {
        ActionSet((1 << ActionKind::ALL.len()) - 1)
    }
    /// No action kind.
    pub fn empty() -> Self {
        ActionSet(0)
    }
    /// Adds a kind.
    pub fn insert(&mut self, k: ActionKind) {
        self.0 |= 1 << k as u32;
    }
    /// Whether a kind is in the set.
    pub fn contains(self, k: ActionKind) -> bool {
        self.0 & (1 << k as u32) != 0
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Parses `mmap,write,fork`.
    pub fn parse_list(s: &str) -> Result<Self, String> {
        let mut set = ActionSet::empty();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            set.insert(name.parse()?);
        }
        Ok(set)
    }
    /// Names of the kinds in the set.
    pub fn names(self) -> Vec<&'static str> {
        ActionKind::ALL.iter().filter(|(k, _, _)| self.contains(*k)).map(|(_, n, _)| *n).collect()
    }
}
