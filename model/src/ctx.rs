//! What one action reports besides its new state: a narration in kernel
//! vocabulary (only when asked for, so exploration stays cheap) and the set
//! of kernel branches it took (for coverage).

use crate::config::Config;
use crate::state::{AvId, Oops, OopsKind, State};

/// Kernel branches whose coverage the checker reports.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Branch {
    /// __anon_vma_prepare() reused a neighbour's anon_vma (find_mergeable_anon_vma()).
    PrepareReuseNeighbour,
    /// __anon_vma_prepare() allocated a new root anon_vma.
    PrepareNewRoot,
    /// do_anonymous_page() mapped the zero page for a read.
    AnonymousZeroPage,
    /// do_anonymous_page() allocated a new folio for a write.
    AnonymousNewFolio,
    /// A store hit a writable PTE (no fault).
    WriteHit,
    /// do_wp_page() reused a PageAnonExclusive page.
    WpReuseExclusive,
    /// do_wp_page() reused via wp_can_reuse_anon_folio() + folio_move_anon_rmap().
    WpReuseMoveAnonRmap,
    /// do_wp_page() -> wp_page_copy() from a shared anon folio.
    WpCopyFolio,
    /// do_wp_page() -> wp_page_copy() from the zero page.
    WpCopyZeroPage,
    /// anon_vma_fork() of an unfaulted VMA (nothing to do).
    ForkUnfaulted,
    /// anon_vma_clone() reused an existing anon_vma for the child.
    ForkReuseAnonVma,
    /// anon_vma_fork() allocated a new anon_vma for the child.
    ForkNewAnonVma,
    /// copy_present_pte() shared an anon folio with the child.
    CopyPresentPte,
    /// copy_pte_range() copied a zero-page PTE.
    CopyZeroPte,
    /// __split_vma().
    SplitVma,
    /// unlink_anon_vmas() found an anon_vma tree empty and dropped its reference.
    UnlinkEmptiedTree,
    /// __put_anon_vma() freed an anon_vma.
    FreeAnonVma,
    /// __put_anon_vma() also freed the root.
    FreeRootAnonVma,
    /// The last reference to a folio was dropped.
    FreeFolio,
    /// vma_merge_existing_range() merged a modified range into a neighbour.
    MergeExisting,
    /// vma_merge_new_range() extended a neighbour over a new range.
    MergeNew,
    /// dup_anon_vma() gave an unfaulted merge target a faulted VMA's chain.
    DupAnonVma,
    /// anon_vma_merge() unlinked a faulted VMA removed by a merge.
    AnonVmaMerge,
    /// copy_vma() found no merge and cloned the chain into a new VMA.
    CopyVmaClone,
    /// dontunmap_complete() unlinked the emptied source VMA.
    DontunmapUnlink,
    /// change_protection() made an exclusive anon PTE writable.
    MprotectMakeWritable,
    /// free_swap_and_cache() took an unmapped folio out of the swap cache.
    TryToReclaimSwap,
    /// do_swap_page() found the folio in the swap cache.
    SwapinCacheHit,
    /// do_swap_page() read a slot only one PTE names into a fresh folio, skipping the swap cache.
    SwapinBypassCache,
    /// do_swap_page() read a shared slot into a new swap-cache folio.
    SwapinReadIntoCache,
    /// do_swap_page() freed the swap cache for a write fault (should_try_to_free_swap()).
    SwapinFreeSwap,
    /// copy_nonpresent_pte() shared a swap entry with the child.
    CopySwapPte,
    /// shrink_folio_list() kept the folio (still mapped, or no slot).
    ReclaimKeep,
    /// shrink_folio_list() freed an unmapped lazyfree folio.
    LazyfreeFreed,
    /// try_to_unmap_one() discarded a clean lazyfree PTE.
    LazyfreeDiscard,
    /// try_to_unmap_one() found a lazyfree folio redirtied.
    LazyfreeRedirtied,
    /// try_to_unmap_one() replaced a PTE by a swap entry.
    UnmapToSwapEntry,
    /// swap_writepage() found no swap entry left and freed the swap cache.
    WritebackFreeSwap,
    /// __remove_mapping() freed a written-back swap-cache folio.
    RemoveMapping,
    /// MADV_PAGEOUT skipped a shared (or isolated) folio.
    PageoutSkipShared,
    /// MADV_FREE dropped a swap entry.
    MadvFreeSwapEntry,
    /// MADV_FREE made a folio lazyfree.
    MadvFreeLazyfree,
    /// try_to_merge_two_pages() + stable_tree_insert(): a new KSM page.
    KsmMergeTwoPages,
    /// try_to_merge_with_ksm_page() + replace_page(): a page joined a stable node.
    KsmMergeWithKsmPage,
    /// cmp_and_merge_page() on a KSM page forked since ksmd passed: rmap_item appended.
    KsmForkedAppend,
    /// write_protect_page() cleared PageAnonExclusive and write-protected the PTE.
    KsmWriteProtect,
    /// remove_rmap_item_from_tree() dropped a stale rmap_item and its anon_vma reference.
    KsmRemoveRmapItem,
    /// remove_node_from_stable_tree(): ksm_get_folio() found the stable node stale.
    KsmStaleNode,
    /// break_ksm(): an unshare fault copied a KSM page.
    KsmBreak,
    /// do_wp_page() copied a KSM page on a write (COW_KSM).
    WpCopyKsm,
    /// rmap_walk_ksm() found a PTE through an rmap_item of another mm (search_new_forks).
    RmapWalkKsmNewFork,
    /// do_anonymous_page() -> alloc_anon_folio() allocated a large folio (mTHP).
    AnonymousLargeFolio,
    /// do_wp_page() reused a page of a large folio (__wp_can_reuse_large_anon_folio()).
    WpReuseLargeFolio,
    /// __folio_remove_rmap() queued a partially mapped large folio (deferred_split_folio()).
    DeferredSplitQueue,
    /// __folio_split() split a large folio into order-0 folios.
    SplitFolio,
    /// __folio_split() refused (no live anon_vma, extra references, rmap misses a mapping).
    SplitFailed,
    /// remap_page() mapped a zero-filled page of a split folio to the shared zero page.
    SplitRemapZeroPage,
    /// do_swap_page() -> alloc_swap_folio() swapped in a large folio.
    SwapinLargeFolio,
    /// shrink_folio_list() gave a large folio swap slots whole (THP_SWAP).
    SwapoutLargeFolio,
    /// madvise_cold_or_pageout_pte_range() / madvise_free_pte_range() split a large folio not fully in range.
    MadviseSplitLarge,
    /// madvise skipped a large folio not fully in range that folio_maybe_mapped_shared() says is shared.
    MadviseSkipSharedLarge,
    /// try_to_unmap_one() discarded a batch of lazyfree PTEs of a large folio (folio_unmap_pte_batch()).
    LazyfreeDiscardBatch,
}

impl Branch {
    /// Every branch with its display name, in report order.
    pub const ALL: [(Branch, &'static str); 62] = [
        (Branch::PrepareReuseNeighbour, "__anon_vma_prepare: reuse neighbour's anon_vma"),
        (Branch::PrepareNewRoot, "__anon_vma_prepare: new root anon_vma"),
        (Branch::AnonymousZeroPage, "do_anonymous_page: zero page"),
        (Branch::AnonymousNewFolio, "do_anonymous_page: new folio"),
        (Branch::WriteHit, "store to a writable PTE"),
        (Branch::WpReuseExclusive, "do_wp_page: reuse PageAnonExclusive"),
        (Branch::WpReuseMoveAnonRmap, "do_wp_page: wp_can_reuse_anon_folio + folio_move_anon_rmap"),
        (Branch::WpCopyFolio, "do_wp_page: wp_page_copy from a shared folio"),
        (Branch::WpCopyZeroPage, "do_wp_page: wp_page_copy from the zero page"),
        (Branch::ForkUnfaulted, "anon_vma_fork: unfaulted VMA"),
        (Branch::ForkReuseAnonVma, "anon_vma_clone: reuse an anon_vma"),
        (Branch::ForkNewAnonVma, "anon_vma_fork: new anon_vma"),
        (Branch::CopyPresentPte, "copy_present_pte: share an anon folio"),
        (Branch::CopyZeroPte, "copy_pte_range: zero-page PTE"),
        (Branch::SplitVma, "__split_vma"),
        (Branch::UnlinkEmptiedTree, "unlink_anon_vmas: tree emptied"),
        (Branch::FreeAnonVma, "__put_anon_vma: anon_vma_free"),
        (Branch::FreeRootAnonVma, "__put_anon_vma: root freed too"),
        (Branch::FreeFolio, "folio freed"),
        (Branch::MergeExisting, "vma_merge_existing_range: merge"),
        (Branch::MergeNew, "vma_merge_new_range: merge"),
        (Branch::DupAnonVma, "dup_anon_vma: unfaulted target takes the chain"),
        (Branch::AnonVmaMerge, "anon_vma_merge: removed faulted VMA unlinked"),
        (Branch::CopyVmaClone, "copy_vma: new VMA, chain cloned"),
        (Branch::DontunmapUnlink, "dontunmap_complete: source unlinked"),
        (Branch::MprotectMakeWritable, "change_protection: exclusive anon PTE made writable"),
        (Branch::TryToReclaimSwap, "free_swap_and_cache: unmapped folio leaves the swap cache"),
        (Branch::SwapinCacheHit, "do_swap_page: swap-cache hit"),
        (Branch::SwapinBypassCache, "do_swap_page: SWP_SYNCHRONOUS_IO, swap cache skipped"),
        (Branch::SwapinReadIntoCache, "do_swap_page: read into the swap cache"),
        (Branch::SwapinFreeSwap, "do_swap_page: should_try_to_free_swap + folio_free_swap"),
        (Branch::CopySwapPte, "copy_nonpresent_pte: share a swap entry"),
        (Branch::ReclaimKeep, "shrink_folio_list: keep (still mapped or no slot)"),
        (Branch::LazyfreeFreed, "shrink_folio_list: lazyfree folio freed"),
        (Branch::LazyfreeDiscard, "try_to_unmap_one: lazyfree PTE discarded"),
        (Branch::LazyfreeRedirtied, "try_to_unmap_one: lazyfree folio redirtied"),
        (Branch::UnmapToSwapEntry, "try_to_unmap_one: PTE -> swap entry"),
        (Branch::WritebackFreeSwap, "swap_writepage: folio_free_swap, nothing written"),
        (Branch::RemoveMapping, "__remove_mapping: swap-cache folio freed"),
        (Branch::PageoutSkipShared, "madvise_cold_or_pageout_pte_range: shared folio skipped"),
        (Branch::MadvFreeSwapEntry, "madvise_free_pte_range: swap entry dropped"),
        (Branch::MadvFreeLazyfree, "madvise_free_pte_range: folio_mark_lazyfree"),
        (Branch::KsmMergeTwoPages, "try_to_merge_two_pages: new KSM page"),
        (Branch::KsmMergeWithKsmPage, "try_to_merge_with_ksm_page: replace_page into a stable node"),
        (Branch::KsmForkedAppend, "cmp_and_merge_page: KSM page forked, rmap_item appended"),
        (Branch::KsmWriteProtect, "write_protect_page: PTE write-protected, exclusive cleared"),
        (Branch::KsmRemoveRmapItem, "remove_rmap_item_from_tree: put_anon_vma"),
        (Branch::KsmStaleNode, "remove_node_from_stable_tree: stale stable node"),
        (Branch::KsmBreak, "break_ksm: unshare fault copies a KSM page"),
        (Branch::WpCopyKsm, "do_wp_page: KSM page copied (COW_KSM)"),
        (Branch::RmapWalkKsmNewFork, "rmap_walk_ksm: PTE found in a forked mm (search_new_forks)"),
        (Branch::AnonymousLargeFolio, "do_anonymous_page: alloc_anon_folio large folio"),
        (Branch::WpReuseLargeFolio, "do_wp_page: __wp_can_reuse_large_anon_folio"),
        (Branch::DeferredSplitQueue, "deferred_split_folio: partially mapped, queued"),
        (Branch::SplitFolio, "__folio_split: large folio split"),
        (Branch::SplitFailed, "__folio_split: refused"),
        (Branch::SplitRemapZeroPage, "remap_page: zero-filled page mapped to the zero page"),
        (Branch::SwapinLargeFolio, "do_swap_page: alloc_swap_folio large folio"),
        (Branch::SwapoutLargeFolio, "shrink_folio_list: large folio to swap whole (THP_SWAP)"),
        (Branch::MadviseSplitLarge, "madvise: large folio not fully in range split"),
        (Branch::MadviseSkipSharedLarge, "madvise: large folio not fully in range, maybe shared: left"),
        (Branch::LazyfreeDiscardBatch, "try_to_unmap_one: lazyfree large folio PTE batch discarded"),
    ];
}

/// The per-action context every kernel function receives.
pub struct Ctx<'a> {
    /// Model parameters.
    pub cfg: &'a Config,
    /// Narration lines, collected only when `Some`.
    pub log: Option<Vec<String>>,
    /// Bit `b` is set when [`Branch`] `b` was taken.
    pub branches: u64,
}

impl<'a> Ctx<'a> {
    /// A context that narrates when `narrate` is true.
    pub fn new(cfg: &'a Config, narrate: bool) -> Self {
        Ctx { cfg, log: narrate.then(Vec::new), branches: 0 }
    }

    /// Records a narration line (built only when narrating).
    pub fn say(&mut self, line: impl FnOnce() -> String) {
        if let Some(log) = &mut self.log {
            log.push(line());
        }
    }

    /// Records that a branch was taken.
    pub fn took(&mut self, b: Branch) {
        self.branches |= 1 << b as u64;
    }

    /// Whether the running kernel is the v5.19 `degree` variant.
    pub fn degree_era(&self) -> bool {
        self.cfg.kernel == crate::config::Kernel::V5_19
    }
}

/// Records the first oops of an action; later ones are consequences.
pub fn oops(s: &mut State, kind: OopsKind, what: String) {
    if s.oops.is_none() {
        s.oops = Some(Oops { kind, what });
    }
}

/// Reads an anon_vma on behalf of `site`, reporting a use after free when
/// the object was already returned to the slab.
pub fn touch(s: &mut State, av: AvId, site: &str) {
    if s.anon_vmas[av as usize].freed {
        oops(s, OopsKind::UseAfterFree, format!("{site} touches freed anon_vma AV{av}"));
    }
}
