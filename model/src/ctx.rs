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
    /// do_fault_around() -> filemap_map_pages() mapped a cached folio the fault did not ask for.
    FaultAround,
    /// filemap_fault() -> do_sync_mmap_readahead(): a cache miss read the file in.
    FilemapReadahead,
    /// shmem_get_folio_gfp() allocated a folio for a hole.
    ShmemAllocFolio,
    /// shmem_swapin_folio() read a swapped-out shmem page back.
    ShmemSwapin,
    /// do_cow_fault() / wp_page_copy() copied a page-cache folio into an anon folio.
    CowFromPageCache,
    /// do_shared_fault() / wp_page_shared(): a store through a shared mapping dirtied the page-cache folio.
    SharedDirty,
    /// shmem_writeout(): the folio went to swap, its swap entry stayed in the page cache.
    ShmemWriteout,
    /// __remove_mapping() dropped a clean page-cache folio (reclaim).
    PageCacheDropped,
    /// unmap_mapping_range(even_cows) zapped a private COW copy beyond EOF.
    TruncateEvenCows,
    /// folio_mkclean() write-protected and cleaned a PTE for writeback.
    FolioMkclean,
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
    /// move_present_ptes() moved an exclusive page (folio_move_anon_rmap(), index update).
    UffdMovePresent,
    /// move_swap_pte() moved an exclusive swap entry.
    UffdMoveSwap,
    /// move_zeropage_pte() moved a zero-page PTE.
    UffdMoveZeroPage,
    /// UFFDIO_MOVE refused the page (EEXIST, ENOENT, EBUSY, EINVAL).
    UffdMoveRefused,
    /// try_to_merge_with_zero_page() mapped a zero-filled page to the KSM zero page.
    KsmZeroPage,
}

/// One line of [`Branch::ALL`]: `branch!(Variant, "name in reports")`.
macro_rules! branch {
    ($b:ident, $name:literal) => {
        (Branch::$b, $name)
    };
}

impl Branch {
    /// Every branch with its display name, in the order of the enum
    /// (the report's order). One line per branch.
    pub const ALL: &'static [(Branch, &'static str)] = &[
        branch!(PrepareReuseNeighbour, "__anon_vma_prepare: reuse neighbour's anon_vma"),
        branch!(PrepareNewRoot, "__anon_vma_prepare: new root anon_vma"),
        branch!(AnonymousZeroPage, "do_anonymous_page: zero page"),
        branch!(AnonymousNewFolio, "do_anonymous_page: new folio"),
        branch!(WriteHit, "store to a writable PTE"),
        branch!(WpReuseExclusive, "do_wp_page: reuse PageAnonExclusive"),
        branch!(WpReuseMoveAnonRmap, "do_wp_page: wp_can_reuse_anon_folio + folio_move_anon_rmap"),
        branch!(WpCopyFolio, "do_wp_page: wp_page_copy from a shared folio"),
        branch!(WpCopyZeroPage, "do_wp_page: wp_page_copy from the zero page"),
        branch!(ForkUnfaulted, "anon_vma_fork: unfaulted VMA"),
        branch!(ForkReuseAnonVma, "anon_vma_clone: reuse an anon_vma"),
        branch!(ForkNewAnonVma, "anon_vma_fork: new anon_vma"),
        branch!(CopyPresentPte, "copy_present_pte: share an anon folio"),
        branch!(CopyZeroPte, "copy_pte_range: zero-page PTE"),
        branch!(SplitVma, "__split_vma"),
        branch!(UnlinkEmptiedTree, "unlink_anon_vmas: tree emptied"),
        branch!(FreeAnonVma, "__put_anon_vma: anon_vma_free"),
        branch!(FreeRootAnonVma, "__put_anon_vma: root freed too"),
        branch!(FreeFolio, "folio freed"),
        branch!(MergeExisting, "vma_merge_existing_range: merge"),
        branch!(MergeNew, "vma_merge_new_range: merge"),
        branch!(DupAnonVma, "dup_anon_vma: unfaulted target takes the chain"),
        branch!(AnonVmaMerge, "anon_vma_merge: removed faulted VMA unlinked"),
        branch!(CopyVmaClone, "copy_vma: new VMA, chain cloned"),
        branch!(DontunmapUnlink, "dontunmap_complete: source unlinked"),
        branch!(MprotectMakeWritable, "change_protection: exclusive anon PTE made writable"),
        branch!(TryToReclaimSwap, "free_swap_and_cache: unmapped folio leaves the swap cache"),
        branch!(SwapinCacheHit, "do_swap_page: swap-cache hit"),
        branch!(SwapinBypassCache, "do_swap_page: SWP_SYNCHRONOUS_IO, swap cache skipped"),
        branch!(SwapinReadIntoCache, "do_swap_page: read into the swap cache"),
        branch!(SwapinFreeSwap, "do_swap_page: should_try_to_free_swap + folio_free_swap"),
        branch!(CopySwapPte, "copy_nonpresent_pte: share a swap entry"),
        branch!(ReclaimKeep, "shrink_folio_list: keep (still mapped or no slot)"),
        branch!(LazyfreeFreed, "shrink_folio_list: lazyfree folio freed"),
        branch!(LazyfreeDiscard, "try_to_unmap_one: lazyfree PTE discarded"),
        branch!(LazyfreeRedirtied, "try_to_unmap_one: lazyfree folio redirtied"),
        branch!(UnmapToSwapEntry, "try_to_unmap_one: PTE -> swap entry"),
        branch!(WritebackFreeSwap, "swap_writepage: folio_free_swap, nothing written"),
        branch!(RemoveMapping, "__remove_mapping: swap-cache folio freed"),
        branch!(PageoutSkipShared, "madvise_cold_or_pageout_pte_range: shared folio skipped"),
        branch!(MadvFreeSwapEntry, "madvise_free_pte_range: swap entry dropped"),
        branch!(MadvFreeLazyfree, "madvise_free_pte_range: folio_mark_lazyfree"),
        branch!(KsmMergeTwoPages, "try_to_merge_two_pages: new KSM page"),
        branch!(KsmMergeWithKsmPage, "try_to_merge_with_ksm_page: replace_page into a stable node"),
        branch!(KsmForkedAppend, "cmp_and_merge_page: KSM page forked, rmap_item appended"),
        branch!(KsmWriteProtect, "write_protect_page: PTE write-protected, exclusive cleared"),
        branch!(KsmRemoveRmapItem, "remove_rmap_item_from_tree: put_anon_vma"),
        branch!(KsmStaleNode, "remove_node_from_stable_tree: stale stable node"),
        branch!(KsmBreak, "break_ksm: unshare fault copies a KSM page"),
        branch!(WpCopyKsm, "do_wp_page: KSM page copied (COW_KSM)"),
        branch!(RmapWalkKsmNewFork, "rmap_walk_ksm: PTE found in a forked mm (search_new_forks)"),
        branch!(FaultAround, "do_fault_around: filemap_map_pages mapped a neighbour"),
        branch!(FilemapReadahead, "filemap_fault: do_sync_mmap_readahead read the file in"),
        branch!(ShmemAllocFolio, "shmem_get_folio_gfp: new folio for a hole"),
        branch!(ShmemSwapin, "shmem_swapin_folio: swap entry in the mapping read back"),
        branch!(CowFromPageCache, "do_cow_fault/wp_page_copy: page-cache folio copied to anon"),
        branch!(SharedDirty, "do_shared_fault/wp_page_shared: page-cache folio dirtied"),
        branch!(ShmemWriteout, "shmem_writeout: swap entry left in the page cache"),
        branch!(PageCacheDropped, "__remove_mapping: clean page-cache folio dropped"),
        branch!(TruncateEvenCows, "unmap_mapping_range(even_cows): private COW copy zapped"),
        branch!(FolioMkclean, "folio_mkclean: PTE write-protected for writeback"),
        branch!(AnonymousLargeFolio, "do_anonymous_page: alloc_anon_folio large folio"),
        branch!(WpReuseLargeFolio, "do_wp_page: __wp_can_reuse_large_anon_folio"),
        branch!(DeferredSplitQueue, "deferred_split_folio: partially mapped, queued"),
        branch!(SplitFolio, "__folio_split: large folio split"),
        branch!(SplitFailed, "__folio_split: refused"),
        branch!(SplitRemapZeroPage, "remap_page: zero-filled page mapped to the zero page"),
        branch!(SwapinLargeFolio, "do_swap_page: alloc_swap_folio large folio"),
        branch!(SwapoutLargeFolio, "shrink_folio_list: large folio to swap whole (THP_SWAP)"),
        branch!(MadviseSplitLarge, "madvise: large folio not fully in range split"),
        branch!(MadviseSkipSharedLarge, "madvise: large folio not fully in range, maybe shared: left"),
        branch!(LazyfreeDiscardBatch, "try_to_unmap_one: lazyfree large folio PTE batch discarded"),
        branch!(UffdMovePresent, "move_present_ptes: exclusive page moved"),
        branch!(UffdMoveSwap, "move_swap_pte: exclusive swap entry moved"),
        branch!(UffdMoveZeroPage, "move_zeropage_pte: zero page moved"),
        branch!(UffdMoveRefused, "move_pages: refused (EEXIST, ENOENT, EBUSY, EINVAL)"),
        branch!(KsmZeroPage, "try_to_merge_with_zero_page: KSM zero page"),
    ];
}

/// The per-action context every kernel function receives.
pub struct Ctx<'a> {
    /// Model parameters.
    pub cfg: &'a Config,
    /// Narration lines, collected only when `Some`.
    pub log: Option<Vec<String>>,
    /// Bit `b` is set when [`Branch`] `b` was taken.
    pub branches: u128,
    /// The system call's result when it fails without changing anything
    /// the model keeps (an errno value, e.g. `EINVAL` for MADV_FREE on a
    /// file VMA); 0 otherwise. Calls the model refuses outright are `Err`.
    pub errno: i32,
}

impl<'a> Ctx<'a> {
    /// A context that narrates when `narrate` is true.
    pub fn new(cfg: &'a Config, narrate: bool) -> Self {
        Ctx { cfg, log: narrate.then(Vec::new), branches: 0, errno: 0 }
    }

    /// Records a narration line (built only when narrating).
    pub fn say(&mut self, line: impl FnOnce() -> String) {
        if let Some(log) = &mut self.log {
            log.push(line());
        }
    }

    /// Records that a branch was taken.
    pub fn took(&mut self, b: Branch) {
        self.branches |= 1 << b as u32;
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
