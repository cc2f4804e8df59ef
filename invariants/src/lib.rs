//! Named invariants over the anon rmap model state.
//!
//! Each invariant is one function `fn(&State, Kernel) -> Result<(), String>`
//! returning the objects that violate it, and one line in [`INVARIANTS`].
//! The numbers (I1, I2, ...) are the project's own; `docs/kernel/` says what
//! each invariant rests on in the kernel (docs/kernel/anon-vma.md §7 lists
//! the gaps).
//!
//! To add one: write the function in the module it belongs to and add a
//! line to [`INVARIANTS`]; `rmapcheck list`, `--invariants`, scenario
//! verdicts and the README table pick it up from there.

#![warn(missing_docs)]

mod anon_vma;
mod file;
mod folio;
mod ksm;
mod ksm_zero;
mod pins;
mod semantics;
mod swap;
mod thp;

pub use rmapcheck_model::{Kernel, State};

/// A named predicate over the model state.
pub struct Invariant {
    /// Name used on the command line, in scenarios and in reports.
    pub name: &'static str,
    /// Its I-number, or "-".
    pub id: &'static str,
    /// One line on what it says.
    pub description: &'static str,
    /// The kernel assertion, comment or commit it mirrors.
    pub mirrors: &'static str,
    /// The check: `Err` names the objects that violate it.
    pub check: fn(&State, Kernel) -> Result<(), String>,
}

macro_rules! inv {
    ($name:literal, $id:literal, $check:path, $desc:literal, $mirrors:literal) => {
        Invariant { name: $name, id: $id, description: $desc, mirrors: $mirrors, check: $check }
    };
}

/// Every invariant, in the order they are checked (cheap and basic first,
/// so a state that breaks several reports the most fundamental one).
pub static INVARIANTS: &[Invariant] = &[
    inv!("no_kernel_oops", "-", semantics::no_kernel_oops,
        "no BUG_ON/WARN_ON fired and no freed anon_vma was touched during an action",
        "the VM_BUG_ON/VM_WARN_ON sites of mm/rmap.c and mm/memory.c; KASAN use-after-free"),
    inv!("mapping_tag", "-", folio::mapping_tag,
        "a mapped anon folio's mapping carries the ANON tag and points at an anon_vma object, or the KSM tag and points at a stable node",
        "folio_anon_vma() / folio_test_ksm() decoding of PAGE_MAPPING_FLAGS; __folio_set_anon()"),
    inv!("page_anon_swapbacked", "I39", file::page_anon_swapbacked,
        "every live folio is private anon (PageAnon, PageSwapBacked), shmem (!PageAnon, PageSwapBacked), lazyfree (PageAnon, !PageSwapBacked) or a regular file's page cache (neither); no other combination",
        "PageAnon(): folio->mapping & PAGE_MAPPING_ANON; page-flags.h on PG_swapbacked (anon or shmem, cleared by MADV_FREE); __folio_set_swapbacked() in folio_add_new_anon_rmap() and shmem_alloc_and_add_folio(); folio_test_lazyfree()"),
    inv!("file_mapping", "I40", file::file_mapping,
        "a page-cache folio's mapping is its own file's address_space, which holds it at its index below i_size; a mapped non-anon folio is such a folio; an anon folio in a file VMA points at an anon_vma on that VMA's chain",
        "__filemap_add_folio() / shmem_add_to_page_cache() set mapping and index, page_cache_delete() clears mapping; truncate_pagecache() unmaps first; __folio_set_anon() for a COW copy"),
    inv!("single_root", "I1", anon_vma::single_root,
        "every live anon_vma has a live root that is its own root and parent, shared with its parent",
        "anon_vma_fork(): anon_vma->root = pvma->anon_vma->root; lock_anon_vma_root()"),
    inv!("chain_one_root", "I2", anon_vma::chain_one_root,
        "all anon_vmas on one VMA's chain share the root of vma->anon_vma",
        "lock_anon_vma_root(): WARN_ON_ONCE(root) when the root changes mid-chain"),
    inv!("own_link", "I3", anon_vma::own_link,
        "a faulted VMA is linked to its own anon_vma; an unfaulted VMA has an empty chain",
        "__anon_vma_prepare() / anon_vma_fork() link the VMA to vma->anon_vma"),
    inv!("ancestor_closure", "I4", anon_vma::ancestor_closure,
        "a VMA linked to a non-root anon_vma is linked to its parent too, so tree(X) is a subset of tree(X->parent)",
        "anon_vma_clone() copies the parent VMA's whole chain"),
    inv!("anon_vma_refcount", "I6", anon_vma::refcount,
        "refcount = [tree non-empty] + (for a root) live descendants + KSM rmap_items pinning it; freed exactly at zero",
        "__put_anon_vma(): children pin the root only; get_anon_vma() in try_to_merge_with_ksm_page(); VM_BUG_ON in anon_vma_free()"),
    inv!("num_active_vmas", "I7", anon_vma::num_active_vmas,
        "num_active_vmas (v6.18) counts the VMAs whose anon_vma it is; degree (v5.19) counts those VMAs plus non-empty children",
        "2555283eb40d: num_active_vmas; 7a3ef208e662: degree"),
    inv!("num_children", "I8", anon_vma::num_children,
        "num_children counts the anon_vmas with non-empty trees whose parent it is, a root counting itself",
        "2555283eb40d; VM_WARN_ON(anon_vma->num_children) in unlink_anon_vmas()"),
    inv!("same_anon_vma_same_chain", "I9", anon_vma::same_anon_vma_same_chain,
        "two VMAs of one mm with the same anon_vma have the same set of anon_vmas on their chains",
        "the assumption of is_mergeable_anon_vma(); broken by CVE-2022-42703, fixed in 2555283eb40d"),
    inv!("mapped_anon_vma_live", "I10", folio::mapped_anon_vma_live,
        "a mapped anon folio's anon_vma is live (refcount > 0, not freed)",
        "__folio_rmap_sanity_checks(): anon folios must have a live anon_vma while mapped"),
    inv!("parent_live", "I30", anon_vma::parent_live,
        "an anon_vma whose tree is not empty has a live parent",
        "unlink_anon_vmas(): anon_vma->parent->num_children-- when a tree empties"),
    inv!("unfaulted_vma_empty", "I23", folio::unfaulted_vma_empty,
        "a VMA without anon_vma maps no anon folio and holds no swap entry (only the zero page and page-cache folios)",
        "vma_needs_copy() / copy_vma(): an unfaulted anon VMA has no pages, so its pgoff may be reset"),
    inv!("shared_maps_no_anon", "I42", file::shared_maps_no_anon,
        "a VM_SHARED VMA has no anon_vma, maps no anon folio and holds no swap entry",
        "set_pte_range(): folio_add_new_anon_rmap() only if write && !(vm_flags & VM_SHARED); do_wp_page(): \"We should not cow pages in a shared writeable mapping\"; folio_add_file_rmap_ptes() VM_WARN_ON_FOLIO(folio_test_anon)"),
    inv!("unlink_after_zap", "I24", semantics::unlink_after_zap,
        "a VMA leaves the anon_vma trees only after every PTE in its range is zapped; no PTE lies outside every VMA",
        "unmap_vmas() before free_pgtables() in do_vmi_align_munmap() and exit_mmap()"),
    inv!("merge_compatible", "I27", semantics::merge_compatible,
        "a merge gives a faulted range only to a VMA with the same anon_vma and chain (dup_anon_vma() for an unfaulted one)",
        "is_mergeable_anon_vma(), dup_anon_vma(), anon_vma_merge()"),
    inv!("rmap_complete", "I11", folio::rmap_complete,
        "every present PTE mapping an anon folio is found by rmap_walk_anon() from folio->mapping: VMA in the tree of its anon_vma, same root",
        "__page_check_anon_rmap() VM_BUG_ONs; rmap_walk_anon()"),
    inv!("index_linear", "I28", folio::index_linear,
        "every present anon folio's index is linear_page_index() of where it is mapped, across splits, merges and moves",
        "vma_address(); pgoff contiguity in can_vma_merge_before/after(); copy_vma() keeps a faulted VMA's pgoff"),
    inv!("file_rmap_complete", "I41", file::file_rmap_complete,
        "every present PTE mapping a page-cache folio is found by rmap_walk_file(): its VMA is in that file's i_mmap and vma_address() of the folio's index is that page",
        "__rmap_walk_file(): vma_interval_tree_foreach() over the index, VM_BUG_ON_VMA(address == -EFAULT); page_vma_mapped_walk(); copy_vma() keeps a file VMA's pgoff"),
    inv!("ksm_stable_node_live", "I31", ksm::ksm_stable_node_live,
        "a mapped KSM folio's stable node is live and its kpfn is that folio; every anon_vma a KSM rmap_item pins is live, even with an empty tree",
        "ksm_get_folio()'s keyhole check (folio->mapping == stable_node|KSM); rmap_item->anon_vma pinned by get_anon_vma()"),
    inv!("ksm_rmap_item_reaches", "I34", ksm::ksm_rmap_item_reaches,
        "an rmap_item whose own PTE still maps its stable node's page reaches it: the VMA at rmap_item->address is in rmap_item->anon_vma's tree",
        "try_to_merge_with_ksm_page(): rmap_item->anon_vma = vma->anon_vma; pass 0 of rmap_walk_ksm()"),
    inv!("ksm_rmap_complete", "I12", ksm::ksm_rmap_complete,
        "every present PTE mapping a KSM folio is found by rmap_walk_ksm(): an rmap_item of its stable node at that address whose anon_vma's tree holds the VMA",
        "rmap_walk_ksm(): rmap_item->address, anon_vma interval tree, search_new_forks"),
    inv!("ksm_same_content", "I33", ksm::ksm_same_content,
        "every process mapping a KSM page reads there what it wrote (or inherited): only equal pages were merged",
        "pages_identical() before replace_page(); memcmp_pages() in the stable and unstable tree searches"),
    inv!("folio_counts", "I13", folio::folio_counts,
        "mapcount = number of PTEs mapping the folio, refcount >= mapcount, no PTE maps a freed folio",
        "folio_remove_rmap_pte() / folio_put() pairing; free_pages_prepare() checks"),
    inv!("exclusive_single_mapping", "I14", folio::exclusive_single_mapping,
        "a PageAnonExclusive folio is mapped at most once and is not KSM",
        "__folio_add_anon_rmap(): WARN on AnonExclusive with mapcount > 0; replace_page() VM_BUG_ON"),
    inv!("writable_exclusive", "I15", folio::writable_exclusive,
        "a writable PTE mapping an anon folio maps a PageAnonExclusive one (a shared mapping writes to the page cache)",
        "wp_page_reuse(): VM_BUG_ON(anon && !PageAnonExclusive); do_swap_page() VM_BUG_ON"),
    inv!("large_mapcount", "I35", thp::large_mapcount,
        "a large folio's per-page mapcounts count the PTEs mapping each page, its large mapcount their sum, _nr_pages_mapped the mapped pages",
        "__folio_add_rmap()/__folio_remove_rmap() (CONFIG_PAGE_MAPCOUNT), folio_mapcount(), print_bad_pte() in zap_present_folio_ptes()"),
    inv!("maybe_mapped_shared", "I36", thp::maybe_mapped_shared,
        "folio_maybe_mapped_shared() false means one process maps the whole folio; MM-id slots count at most their process's mappings",
        "folio_maybe_mapped_shared() (no false negatives), __folio_large_mapcount_sanity_checks() VM_WARN_ON_ONCEs"),
    inv!("large_page_exclusive", "I37", thp::large_page_exclusive,
        "a PageAnonExclusive page of a large folio is mapped at most once, and a writable PTE maps an exclusive page",
        "__folio_add_anon_rmap() VM_WARN_ON_FOLIO(_mapcount > 0 && PageAnonExclusive), do_swap_page()/wp_page_reuse() VM_BUG_ON"),
    inv!("deferred_split_queue", "I38", thp::deferred_split_queue,
        "a partially mapped large folio of order >= 2 outside the swap cache is on the deferred split queue, and only such folios are",
        "__folio_remove_rmap(): deferred_split_folio(folio, true); deferred_split_folio()'s order and swap-cache exclusions"),
    inv!("ksm_readonly_shared", "I32", ksm::ksm_readonly_shared,
        "a KSM folio is never PageAnonExclusive and every PTE mapping it is read-only",
        "write_protect_page() + folio_try_share_anon_rmap_pte(); replace_page() VM_BUG_ON_PAGE(PageAnonExclusive); wp_can_reuse_anon_folio() refuses KSM"),
    inv!("exclusive_swap_entry", "I16", swap::exclusive_swap_entry,
        "an exclusive swap PTE is the only one naming its slot; a swap-cache folio a swap PTE names is not PageAnonExclusive",
        "do_swap_page(): BUG_ON(folio_test_anon(folio) && PageAnonExclusive(page)); copy_nonpresent_pte() clears the marker"),
    inv!("swap_count", "I17", swap::swap_count,
        "a slot's swap count equals the swap PTEs naming it, and no PTE names a free slot",
        "swap_duplicate() / swap_free() pairing in si->swap_map; free_swap_and_cache()"),
    inv!("swapcache_flags", "I18", swap::swapcache_flags,
        "a swap-cache folio is anon and swap-backed (so lazyfree is never in the swap cache), and slot and folio->swap agree",
        "folio_test_swapcache() = swapbacked && PG_swapcache; lru_lazyfree() skips swap-cache folios"),
    inv!("unmap_precondition", "I19", swap::unmap_precondition,
        "a folio reclaim holds for pageout has PG_swapbacked == PG_swapcache, is dirty, and its isolation reference is counted",
        "try_to_unmap_one(): WARN_ON_ONCE(folio_test_swapbacked(folio) != folio_test_swapcache(folio))"),
    inv!("lazyfree_clean", "I20", swap::lazyfree_clean,
        "a lazyfree folio is not PG_dirty: whatever dirties it makes it swap-backed again, so reclaim discards only unwritten data",
        "madvise_free_pte_range(): folio_clear_dirty(); try_to_unmap_one(): a redirtied lazyfree folio gets folio_set_swapbacked()"),
    inv!("no_lost_swap_data", "I21", swap::no_lost_swap_data,
        "every slot a swap PTE names holds the data in a live swap-cache folio or in what pageout() wrote",
        "shrink_folio_list(): pageout() before __remove_mapping(), which refuses a dirty folio"),
    inv!("unmapped_after_try_to_unmap", "-", swap::unmapped_after_try_to_unmap,
        "try_to_unmap() leaves no PTE mapping a folio it reported unmapped (the folio reclaim holds for pageout)",
        "shrink_folio_list(): `if (folio_mapped(folio))` after try_to_unmap() keeps the folio; rmap_walk_anon() completeness"),
    inv!("memory_semantics", "-", semantics::memory_semantics,
        "every process reads what sequential semantics says: its own last write, the parent's value at fork, or zero; after MADV_FREE that or zero until the next write; swap-out and swap-in keep the data",
        "the COW contract of fork(): no lost write, no write seen through another process's private mapping"),
    inv!("file_content", "I43", file::file_content,
        "no write to a file is lost: below i_size the page cache, shmem's swap entry or the disk holds what was last stored through a shared mapping",
        "shrink_folio_list(): a dirty file folio is activated, never dropped; shmem_writeout() before __remove_mapping(); vfs_fsync() writeback; truncate only beyond EOF"),
    inv!("no_leak_at_exit", "-", semantics::no_leak_at_exit,
        "once every process has exited (and kswapd's writeback is done, and ksmd has dropped every rmap_item) no folio, anon_vma, swap slot or stable node is left",
        "exit_mmap() + unlink_anon_vmas() + __put_anon_vma() free everything"),
    inv!("pin_coherent", "I44", pins::pin_coherent,
        "while a process's pinned mapping is the one it pinned, its PTE there maps the pinned page: its loads and stores reach what the pin sees",
        "gup_must_unshare() + FAULT_FLAG_UNSHARE; folio_try_share_anon_rmap_pte() -EBUSY on folio_maybe_dma_pinned() (reclaim, KSM); wp_can_reuse_anon_folio() keeps a PageAnonExclusive page"),
    inv!("pin_sees_pinner_data", "I45", pins::pin_sees_pinner_data,
        "a pinned page holds what the pinner last stored through the pinned mapping (or held when pinned), also once that mapping is gone: no other process's write reaches it (CVE-2020-29374)",
        "CVE-2020-29374 fix (17839856fd58, then 09854ba94c6a); PageAnonExclusive (6c287605fd56) and R/O pin unsharing (a7f226604170, FAULT_FLAG_UNSHARE c89357e27f20)"),
    inv!("pin_count", "I46", pins::pin_count,
        "a folio's pin count is the number of pins naming it, a pinned folio is never freed, and its refcount covers mappings, swap cache and pins",
        "try_grab_folio(FOLL_PIN): GUP_PIN_COUNTING_BIAS (order 0) or _pincount; gup_put_folio() in unpin_user_page(); folio_maybe_dma_pinned()"),
    inv!("pinned_exclusive", "I47", pins::pinned_exclusive,
        "a pinned anon page its pinner still maps is PageAnonExclusive and mapped once",
        "gup_must_unshare(): PageAnonExclusive before an R/O pin; copy_present_ptes(): folio_needs_cow_for_dma() -> copy_present_page() at fork"),
    inv!("ksm_zero_pages_count", "I48", ksm_zero::ksm_zero_pages_count,
        "every process's mm->ksm_zero_pages equals the KSM zero pages (use_zero_pages) its page table maps",
        "ksm_map_zero_page() in replace_page(); ksm_might_unmap_zero_page() in zap_present_ptes() and wp_page_copy(); dup_mm() copies the count with the PTEs"),
];

/// Looks an invariant up by name (or by its I-number).
pub fn find(name: &str) -> Option<&'static Invariant> {
    INVARIANTS.iter().find(|i| i.name == name || (i.id != "-" && i.id == name))
}

/// Parses a comma-separated list of invariant names.
pub fn parse_list(list: &str) -> Result<Vec<&'static Invariant>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| find(n).ok_or_else(|| format!("unknown invariant '{n}' (see 'rmapcheck list')")))
        .collect()
}

/// Collects `Err` messages into one result.
pub(crate) fn report(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
