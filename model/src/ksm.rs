//! Kernel samepage merging (mm/ksm.c): VM_MERGEABLE ranges, ksmd merging
//! equal pages into stable nodes, the stable rmap_items that pin an
//! anon_vma each, rmap_walk_ksm(), and unmerging.
//!
//! ksmd is modelled as two nondeterministic steps instead of its scan
//! loop: `merge` (one cmp_and_merge_page() that succeeds, naming the page
//! scanned and the page it merges with) and `drop` (ksmd passing an
//! rmap_item that is stale: get_next_rmap_item() and
//! remove_trailing_rmap_items() call remove_rmap_item_from_tree(), and a
//! stale stable node goes with remove_node_from_stable_tree()). Between a
//! change that makes an rmap_item stale (a COW break, munmap, exit, swap
//! out) and the `drop`, the rmap_item still pins its anon_vma: that window
//! is a reachable state. The unstable tree holds no reference and is not
//! modelled; nor are stable-node chains (max_page_sharing), NUMA, smart
//! scan, merging of lazyfree (MADV_FREE) pages, or folio_referenced().
//! use_zero_pages is [`crate::ksm_zero`], prctl(PR_SET_MEMORY_MERGE)
//! [`crate::ksm_prctl`].

use crate::config::Mutant;
use crate::ctx::{oops, touch, Branch, Ctx};
use crate::memory::wp_page_copy;
use crate::mmap::check_range;
use crate::rmap::{folio_remove_rmap_and_put, put_anon_vma};
use crate::state::{AvId, FolioId, Mapping, NodeId, OopsKind, Page, Pid, Pte, RmapItem, StableNode, State};
use crate::swapfile::free_swap_cache;
use crate::vma::vma_modify;

/// Mirrors madvise(MADV_MERGEABLE / MADV_UNMERGEABLE) over `start..start+len`:
/// every page must be mapped (else ENOMEM; the model refuses the whole
/// call), then each VMA piece goes through madvise_vma_behavior() in
/// address order.
pub fn ksm_madvise(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8, merge: bool) -> Result<(), String> {
    let end = check_range(s, start, len)?;
    if let Some(p) = (start..end).find(|&p| s.mms[pid].vma_index(p).is_none()) {
        return Err(format!("page {p} of {start}..{end} is not mapped: madvise fails with ENOMEM"));
    }
    let mut nstart = start;
    while nstart < end {
        let vi = s.mms[pid].vma_index(nstart).expect("checked above");
        let tmp = s.mms[pid].vmas[vi].end.min(end);
        madvise_vma_behavior(s, ctx, pid, vi, nstart, tmp, merge);
        nstart = tmp;
    }
    Ok(())
}

/// Mirrors madvise_vma_behavior() for the two KSM advices: ksm_madvise()
/// computes the new flags (MADV_MERGEABLE: __ksm_enter() and
/// VM_MERGEABLE; MADV_UNMERGEABLE of a VM_MERGEABLE VMA: unmerge_ksm_pages()
/// when it has an anon_vma, then VM_MERGEABLE cleared), and
/// madvise_update_vma() applies them through vma_modify_flags(), which
/// merges with a neighbour or splits like mprotect(). A VMA that already
/// has the flag is left alone.
fn madvise_vma_behavior(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, start: Page, end: Page, merge: bool) {
    if s.mms[pid].vmas[vi].mergeable == merge {
        return;
    }
    if merge && s.mms[pid].vmas[vi].shared {
        // ksm_compatible(): a VM_SHARED VMA is left alone, and the call succeeds.
        return;
    }
    if !merge {
        unmerge_ksm_pages(s, ctx, pid, vi, start, end);
    }
    let v = &s.mms[pid].vmas[vi];
    let (write, account) = (v.write, v.account);
    let vi = vma_modify(s, ctx, pid, vi, start, end, write, account, merge);
    s.mms[pid].vmas[vi].mergeable = merge;
    ctx.say(|| format!("ksm_madvise: pages {start}..{end} {}", if merge { "VM_MERGEABLE" } else { "unmerged" }));
}

/// Mirrors unmerge_ksm_pages(): break_ksm() on every page of the range of
/// VMA `vi` (nothing to do for an unfaulted VMA: "if (vma->anon_vma)").
/// The rmap_items stay: "it's easier to leave that to the next pass of
/// ksmd".
pub fn unmerge_ksm_pages(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, start: Page, end: Page) {
    if s.mms[pid].vmas[vi].anon_vma.is_none() {
        return;
    }
    for page in start..end {
        break_ksm(s, ctx, pid, vi, page);
    }
}

/// Mirrors break_ksm(): if the page is a present KSM page,
/// handle_mm_fault(FAULT_FLAG_UNSHARE) -> do_wp_page() -> wp_page_copy():
/// a private exclusive copy, mapped read-only and clean (an unshare fault
/// does not make the PTE writable). Swap PTEs are left alone.
fn break_ksm(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page) {
    if crate::ksm_zero::is_ksm_zero(s, pid, page) {
        // break_ksm_pmd_entry(): "is_ksm_zero_pte(ptent)" counts as KSM;
        // the unshare fault copies the zero page (wp_page_copy()).
        ctx.took(Branch::KsmBreak);
        ctx.say(|| format!("break_ksm: P{pid} page {page}: unshare fault copies the KSM zero page"));
        return wp_page_copy(s, ctx, pid, vi, page, true);
    }
    let Pte::Present { folio, .. } = s.mms[pid].ptes[page as usize] else { return };
    if s.folios[folio as usize].mapping.stable_node().is_none() {
        return;
    }
    ctx.took(Branch::KsmBreak);
    ctx.say(|| format!("break_ksm: P{pid} page {page}: unshare fault copies KSM page F{folio}"));
    wp_page_copy(s, ctx, pid, vi, page, true);
}

/// Mirrors find_mergeable_vma(): the VMA at `page` if the mm is alive,
/// the VMA is VM_MERGEABLE and has an anon_vma.
pub fn find_mergeable_vma(s: &State, pid: usize, page: Page) -> Option<usize> {
    let mm = s.mms.get(pid).filter(|m| m.alive)?;
    let vi = mm.vma_index(page)?;
    let v = &mm.vmas[vi];
    (v.mergeable && v.anon_vma.is_some()).then_some(vi)
}

/// The live stable node a folio's `mapping` points at.
fn live_node(s: &State, folio: FolioId) -> Option<NodeId> {
    let n = s.folios[folio as usize].mapping.stable_node()?;
    s.stable_nodes.get(n as usize).filter(|x| !x.freed && x.kpfn == Some(folio)).map(|_| n)
}

/// Mirrors get_mergeable_page() for the page ksmd scans or finds in a
/// tree: a present anon page in a mergeable VMA (follow_page() +
/// PageAnon()). Pages reclaim holds are skipped (folio_trylock() fails in
/// try_to_merge_one_page()), and lazyfree pages are not modelled.
pub(crate) fn mergeable_page(s: &State, pid: usize, page: Page) -> Result<FolioId, String> {
    if page >= s.pages() {
        return Err(format!("page {page} is outside the {}-page address window", s.pages()));
    }
    if pid >= s.mms.len() || !s.mms[pid].alive {
        return Err(format!("P{pid} is not a live process"));
    }
    if find_mergeable_vma(s, pid, page).is_none() {
        return Err(format!("P{pid} page {page} is not in a VM_MERGEABLE VMA with an anon_vma: ksmd does not scan it"));
    }
    let Pte::Present { folio, .. } = s.mms[pid].ptes[page as usize] else {
        return Err(format!("P{pid} page {page} maps no anon page (follow_page() finds none)"));
    };
    let f = &s.folios[folio as usize];
    if !f.mapping.is_anon() || f.freed {
        return Err(format!("P{pid} page {page}: F{folio} is not anon"));
    }
    if f.isolated {
        return Err(format!("P{pid} page {page}: F{folio} is locked by reclaim (folio_trylock() fails)"));
    }
    if !f.swapbacked {
        return Err(format!("P{pid} page {page}: F{folio} is lazyfree (merging MADV_FREE pages is not modelled)"));
    }
    Ok(folio)
}

/// The rmap_item of (`pid`, `page`) in a live stable node, as (node, index).
fn find_item(s: &State, pid: Pid, page: Page) -> Option<(NodeId, usize)> {
    s.stable_nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.freed)
        .find_map(|(i, n)| n.items.iter().position(|r| r.mm == pid && r.address == page).map(|j| (i as NodeId, j)))
}

/// Whether `ksmd merge P page Q with_page` can happen: the preconditions
/// of cmp_and_merge_page() reaching a successful merge. Shared by
/// [`ksmd_merge`] and the action enumeration.
pub fn merge_allowed(s: &State, pid: Pid, page: Page, with: Pid, with_page: Page) -> Result<(), String> {
    let folio = mergeable_page(s, pid as usize, page)?;
    if with_page >= s.pages() || with as usize >= s.mms.len() || !s.mms[with as usize].alive {
        return Err(format!("P{with} page {with_page} is not a page of a live process"));
    }
    let Pte::Present { folio: kfolio, .. } = s.mms[with as usize].ptes[with_page as usize] else {
        return Err(format!("P{with} page {with_page} maps no page"));
    };
    let (f, k) = (&s.folios[folio as usize], &s.folios[kfolio as usize]);
    pinned_refuses(s, folio)?;
    // The contents of the two pages (of a large folio: the page itself).
    let data = |pid: Pid, page: Page| s.reads(pid as usize, page);
    let (fdata, kdata) = (data(pid, page), data(with, with_page));
    if let Some(n) = live_node(s, kfolio) {
        // stable_tree_search() finds the KSM page by content.
        if fdata != kdata {
            return Err(format!("F{folio} and KSM page F{kfolio} differ: stable_tree_search() does not find it"));
        }
        if folio == kfolio {
            // "ksm page forked": only if this mm's rmap_item is not on the node.
            if s.stable_nodes[n as usize].items.iter().any(|r| r.mm == pid && r.address == page) {
                return Err(format!("P{pid} page {page} is already in stable_node{n}"));
            }
            return Ok(());
        }
        if f.mapping.stable_node().is_some() {
            return Err(format!("P{pid} page {page} is already a KSM page"));
        }
        return Ok(());
    }
    // The unstable tree: the partner page was scanned too.
    let kf = mergeable_page(s, with as usize, with_page)?;
    pinned_refuses(s, kf)?;
    // One page (of a large folio: the same page of it), reached twice.
    if kf == folio && s.mms[pid as usize].ptes[page as usize] == s.mms[with as usize].ptes[with_page as usize] {
        return Err(format!("P{pid} page {page} and P{with} page {with_page} are one page (forked, not merged)"));
    }
    if f.mapping.stable_node().is_some() || k.mapping.stable_node().is_some() {
        return Err("a KSM page only merges as the stable-tree page".into());
    }
    if fdata != kdata {
        return Err(format!("F{folio} and F{kfolio} differ (memcmp_pages())"));
    }
    if let Some(other) =
        (0..s.folios.len() as FolioId).find(|&g| live_node(s, g).is_some() && s.folios[g as usize].data == fdata)
    {
        return Err(format!("stable_tree_search() finds KSM page F{other} with the same content first"));
    }
    Ok(())
}

/// write_protect_page()'s "Check that no O_DIRECT or similar I/O is in
/// progress on the page": `folio_mapcount() + 1 + swapped !=
/// folio_ref_count()` leaves the page unmerged, as does
/// folio_try_share_anon_rmap_pte() on a maybe-pinned exclusive page. A
/// longterm pin is such a reference (GUP_PIN_COUNTING_BIAS).
fn pinned_refuses(s: &State, folio: FolioId) -> Result<(), String> {
    if s.folios[folio as usize].maybe_dma_pinned() {
        return Err(format!("F{folio} is pinned: write_protect_page() finds an extra reference and gives up"));
    }
    Ok(())
}

/// ksmd's `merge`: cmp_and_merge_page() on the page `pid` maps at
/// `page`, with the partner page `with` maps at `with_page`. If the
/// partner is a KSM page, try_to_merge_with_ksm_page() maps it here (or,
/// when this PTE already maps it, "ksm page forked", only appends an
/// rmap_item); otherwise try_to_merge_two_pages() turns this page into a
/// KSM page, replaces the partner's PTE with it, and stable_tree_insert()
/// creates the stable node. In both cases this page's old rmap_item is
/// removed first.
pub fn ksmd_merge(
    s: &mut State,
    ctx: &mut Ctx,
    pid: Pid,
    page: Page,
    with: Pid,
    with_page: Page,
) -> Result<(), String> {
    if with_page == crate::action::KSM_ZERO_PAGE {
        return crate::ksm_zero::try_to_merge_with_zero_page(s, ctx, pid, page);
    }
    if ctx.cfg.use_zero_pages && s.reads(pid as usize, page) == 0 {
        return Err("use_zero_pages: ksmd maps a zero-filled page to the zero page, it merges it with no other".into());
    }
    merge_allowed(s, pid, page, with, with_page)?;
    if !split_large_for_merge(s, ctx, &[(pid, page), (with, with_page)])? {
        return Ok(());
    }
    let Pte::Present { folio, .. } = s.mms[pid as usize].ptes[page as usize] else { unreachable!() };
    let Pte::Present { folio: kfolio, .. } = s.mms[with as usize].ptes[with_page as usize] else { unreachable!() };
    if let Some(n) = live_node(s, kfolio) {
        remove_rmap_item_from_tree(s, ctx, pid, page);
        let av = try_to_merge_with_ksm_page(s, ctx, pid, page, folio, Some(kfolio))?;
        stable_tree_append(s, n, RmapItem { mm: pid, address: page, anon_vma: av, unmapped: false });
        if folio == kfolio {
            ctx.took(Branch::KsmForkedAppend);
            ctx.say(|| format!("cmp_and_merge_page: KSM page F{kfolio} forked to P{pid}: rmap_item appended"));
        } else {
            ctx.took(Branch::KsmMergeWithKsmPage);
            ctx.say(|| format!("try_to_merge_with_ksm_page: P{pid} page {page} now maps KSM page F{kfolio}"));
        }
        return Ok(());
    }
    // try_to_merge_two_pages(rmap_item, page, tree_rmap_item, tree_page).
    remove_rmap_item_from_tree(s, ctx, pid, page);
    remove_rmap_item_from_tree(s, ctx, with, with_page);
    let av = try_to_merge_with_ksm_page(s, ctx, pid, page, folio, None)?;
    let tree_av = try_to_merge_with_ksm_page(s, ctx, with, with_page, kfolio, Some(folio))?;
    let n = stable_tree_insert(s, folio);
    stable_tree_append(s, n, RmapItem { mm: with, address: with_page, anon_vma: tree_av, unmapped: false });
    stable_tree_append(s, n, RmapItem { mm: pid, address: page, anon_vma: av, unmapped: false });
    ctx.took(Branch::KsmMergeTwoPages);
    ctx.say(|| format!("try_to_merge_two_pages: F{folio} is KSM page of stable_node{n}, F{kfolio} replaced"));
    Ok(())
}

/// try_to_merge_one_page() on a page of a large folio: "if
/// (folio_test_large(folio)) { if (split_huge_page(page)) goto
/// out_unlock; }". The model splits the scanned page's folio, then the
/// partner's, before merging (the kernel splits the partner only once the
/// scanned page became KSM, and breaks that again if the split fails).
/// `Err` when a split fails (no merge); `Ok(false)` when a split remapped a
/// zero-filled page to the zero page, so nothing is left to merge.
fn split_large_for_merge(s: &mut State, ctx: &mut Ctx, pages: &[(Pid, Page)]) -> Result<bool, String> {
    for &(pid, page) in pages {
        let Pte::Present { folio, .. } = s.mms[pid as usize].ptes[page as usize] else { return Ok(false) };
        if s.folios[folio as usize].large.is_some() && crate::huge_memory::split_folio(s, ctx, folio, 0).is_none() {
            return Err(format!("split_huge_page(F{folio}) fails: no merge"));
        }
    }
    Ok(pages.iter().all(|&(pid, page)| matches!(s.mms[pid as usize].ptes[page as usize], Pte::Present { .. })))
}

/// Mirrors try_to_merge_with_ksm_page(): find_mergeable_vma(),
/// try_to_merge_one_page(), then "Must get reference to anon_vma while
/// still holding mmap_lock": `rmap_item->anon_vma = vma->anon_vma;
/// get_anon_vma(vma->anon_vma)`. Returns the pinned anon_vma.
fn try_to_merge_with_ksm_page(
    s: &mut State,
    ctx: &mut Ctx,
    pid: Pid,
    page: Page,
    folio: FolioId,
    kpage: Option<FolioId>,
) -> Result<AvId, String> {
    let vi = find_mergeable_vma(s, pid as usize, page).ok_or("find_mergeable_vma() fails")?;
    try_to_merge_one_page(s, ctx, pid as usize, page, folio, kpage)?;
    let av = s.mms[pid as usize].vmas[vi].anon_vma.expect("find_mergeable_vma() wants an anon_vma");
    if ctx.cfg.mutant != Some(Mutant::KsmItemSkipsAnonVmaPin) {
        touch(s, av, "try_to_merge_with_ksm_page: get_anon_vma");
        s.anon_vmas[av as usize].refcount += 1;
    }
    Ok(av)
}

/// Mirrors try_to_merge_one_page(): nothing to do for the KSM page
/// itself ("ksm page forked"); otherwise the page must be anon and
/// lockable, write_protect_page() must succeed, and then either the page
/// itself becomes the KSM page (`kpage == NULL`: set_page_stable_node(),
/// and SetPageDirty() "make sure that the ksm page would be swapped"), or,
/// when pages_identical(), replace_page() maps `kpage` instead.
fn try_to_merge_one_page(
    s: &mut State,
    ctx: &mut Ctx,
    pid: usize,
    page: Page,
    folio: FolioId,
    kpage: Option<FolioId>,
) -> Result<(), String> {
    if Some(folio) == kpage {
        return Ok(());
    }
    write_protect_page(s, ctx, pid, page, folio)?;
    match kpage {
        None => {
            s.folios[folio as usize].dirty = true;
            Ok(())
        }
        Some(k) if s.folios[k as usize].data == s.folios[folio as usize].data => {
            replace_page(s, ctx, pid, page, folio, k);
            Ok(())
        }
        Some(k) => Err(format!("pages_identical(F{folio}, F{k}) fails")),
    }
}

/// Mirrors write_protect_page(): if the PTE is writable or dirty, or the
/// page PageAnonExclusive, clear the PTE, check that no one else holds a
/// reference (`folio_mapcount() + 1 + swapped == folio_ref_count()`, the
/// 1 being ksmd's own, which the model does not count), share the page
/// (folio_try_share_anon_rmap_pte(): no pins here, so it succeeds), move
/// the PTE's dirty bit to the folio, and write-protect and clean the PTE.
pub(crate) fn write_protect_page(
    s: &mut State,
    ctx: &mut Ctx,
    pid: usize,
    page: Page,
    folio: FolioId,
) -> Result<(), String> {
    let Pte::Present { writable, dirty, .. } = s.mms[pid].ptes[page as usize] else {
        return Err(format!("write_protect_page: P{pid} page {page} is not mapped"));
    };
    let f = &mut s.folios[folio as usize];
    if !(writable || dirty || f.anon_exclusive) {
        return Ok(());
    }
    let swapped = u8::from(f.swap.is_some());
    if f.mapcount + swapped != f.refcount {
        return Err(format!(
            "write_protect_page: F{folio} mapcount {} + swapcache {swapped} != refcount {}",
            f.mapcount, f.refcount
        ));
    }
    f.anon_exclusive = false;
    if dirty {
        f.dirty = true;
    }
    s.mms[pid].ptes[page as usize] = Pte::Present { folio, sub: 0, writable: false, dirty: false };
    ctx.took(Branch::KsmWriteProtect);
    Ok(())
}

/// Mirrors replace_page(): `VM_BUG_ON_PAGE(PageAnonExclusive(page))`;
/// folio_get(kfolio) and folio_add_anon_rmap_pte(kfolio, RMAP_NONE) (a
/// KSM page skips __page_check_anon_rmap()); a read-only, clean PTE to the
/// KSM page; then folio_remove_rmap_pte() on the old page, folio_free_swap()
/// if it is no longer mapped, and folio_put(), which frees it.
fn replace_page(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page, folio: FolioId, kpage: FolioId) {
    if s.folios[folio as usize].anon_exclusive {
        oops(s, OopsKind::Bug, format!("VM_BUG_ON_PAGE(PageAnonExclusive(page)) in replace_page: F{folio}"));
        return;
    }
    let k = &mut s.folios[kpage as usize];
    k.refcount += 1;
    k.mapcount += 1;
    s.mms[pid].ptes[page as usize] = Pte::Present { folio: kpage, sub: 0, writable: false, dirty: false };
    folio_remove_rmap_and_put(s, ctx, folio);
    free_swap_cache(s, ctx, folio);
}

/// Mirrors stable_tree_insert(): a new stable node for `kpage`, which
/// folio_set_stable_node() tags `stable_node | PAGE_MAPPING_KSM`.
fn stable_tree_insert(s: &mut State, kpage: FolioId) -> NodeId {
    let n = s.stable_nodes.len() as NodeId;
    s.stable_nodes.push(StableNode { kpfn: Some(kpage), items: Vec::new(), freed: false });
    s.folios[kpage as usize].mapping = Mapping::Ksm(n);
    n
}

/// Mirrors stable_tree_append(): the rmap_item joins the node's hlist.
fn stable_tree_append(s: &mut State, n: NodeId, item: RmapItem) {
    let items = &mut s.stable_nodes[n as usize].items;
    let at = items.partition_point(|r| (r.mm, r.address) < (item.mm, item.address));
    items.insert(at, item);
}

/// Mirrors remove_rmap_item_from_tree() for the stable rmap_item of
/// (`pid`, `page`), if any: ksm_get_folio() first; if the node is stale
/// (its page was freed) remove_node_from_stable_tree() drops every
/// rmap_item of the node; otherwise the rmap_item leaves the hlist and
/// `put_anon_vma(rmap_item->anon_vma)` drops its pin.
pub fn remove_rmap_item_from_tree(s: &mut State, ctx: &mut Ctx, pid: Pid, page: Page) {
    let Some((n, j)) = find_item(s, pid, page) else { return };
    if s.stable_nodes[n as usize].kpfn.is_none() {
        return remove_node_from_stable_tree(s, ctx, n);
    }
    let item = s.stable_nodes[n as usize].items.remove(j);
    ctx.took(Branch::KsmRemoveRmapItem);
    ctx.say(|| {
        format!("remove_rmap_item_from_tree: P{pid} page {page} leaves stable_node{n}, put AV{}", item.anon_vma)
    });
    put_anon_vma(s, ctx, item.anon_vma);
}

/// Mirrors remove_node_from_stable_tree(): put_anon_vma() for every
/// rmap_item, then free_stable_node().
fn remove_node_from_stable_tree(s: &mut State, ctx: &mut Ctx, n: NodeId) {
    let items = std::mem::take(&mut s.stable_nodes[n as usize].items);
    ctx.took(Branch::KsmStaleNode);
    ctx.say(|| format!("ksm_get_folio: stable_node{n} is stale, remove_node_from_stable_tree"));
    for item in items {
        put_anon_vma(s, ctx, item.anon_vma);
    }
    s.stable_nodes[n as usize].freed = true;
}

/// Whether ksmd, passing the rmap_item of (`pid`, `page`), finds it stale:
/// the stable node's page is gone, the mm exited (ksm_test_exit()), the
/// page is no longer in a VM_MERGEABLE faulted VMA (the scan skips it and
/// get_next_rmap_item() drops the rmap_item: "the VMA is MADV_UNMERGEABLE
/// or its page is ineligible or discarded"), or the PTE no longer maps
/// the node's page (cmp_and_merge_page() removes it before merging anew).
pub fn item_stale(s: &State, pid: Pid, page: Page) -> bool {
    let Some((n, _)) = find_item(s, pid, page) else { return false };
    let Some(kpfn) = s.stable_nodes[n as usize].kpfn else { return true };
    find_mergeable_vma(s, pid as usize, page).is_none()
        || !matches!(s.mms[pid as usize].ptes[page as usize], Pte::Present { folio, .. } if folio == kpfn)
}

/// ksmd's `drop`: removes the stale rmap_item of (`pid`, `page`).
pub fn ksmd_drop(s: &mut State, ctx: &mut Ctx, pid: Pid, page: Page) -> Result<(), String> {
    if find_item(s, pid, page).is_none() {
        return Err(format!("P{pid} page {page} has no stable rmap_item"));
    }
    if !item_stale(s, pid, page) {
        return Err(format!(
            "the rmap_item of P{pid} page {page} is not stale: its PTE still maps the KSM page, cmp_and_merge_page() keeps it"
        ));
    }
    remove_rmap_item_from_tree(s, ctx, pid, page);
    Ok(())
}

/// Ghost bookkeeping with no kernel counterpart, called by do_munmap() for
/// `start..end` of `pid`: the rmap_items there lose the VMA they were made
/// for. The kernel does nothing here ("it's easier to leave that to the
/// next pass of ksmd"): scan_get_next_rmap_item() visits only VM_MERGEABLE
/// VMAs, and get_next_rmap_item() and remove_trailing_rmap_items() free
/// the rmap_items at addresses it passes without a page. Until then a KSM
/// page that mremap moves to `address` from a VMA without VM_MERGEABLE
/// (ksm_madvise(MADV_UNMERGEABLE) "just ignore[s] the advice" there, so
/// prep_move_vma() breaks nothing) is mapped under an rmap_item whose
/// anon_vma does not hold the new VMA; if that VMA is VM_MERGEABLE,
/// cmp_and_merge_page() even keeps it (`rmap_item->head == stable_node`:
/// return). Read in mm/ksm.c of linux-mm 019e71aec8a8 (after v6.18; these
/// functions as in v6.18).
pub fn rmap_items_unmapped(s: &mut State, pid: usize, start: Page, end: Page) {
    for n in s.stable_nodes.iter_mut().filter(|n| !n.freed) {
        for r in n.items.iter_mut().filter(|r| r.mm as usize == pid && (start..end).contains(&r.address)) {
            r.unmapped = true;
        }
    }
}

/// Called when a folio is freed with `mapping` as it was: a KSM page's
/// stable node goes stale (the keyhole no longer sees its tag). A node
/// without rmap_items pins nothing and is freed at once: the next
/// stable_tree_search() to pass it would do so.
pub fn ksm_folio_freed(s: &mut State, mapping: Mapping) {
    let Mapping::Ksm(n) = mapping else { return };
    let Some(node) = s.stable_nodes.get_mut(n as usize) else { return };
    node.kpfn = None;
    if node.items.is_empty() {
        node.freed = true;
    }
}

/// Mirrors rmap_walk_ksm(): for each rmap_item of the folio's stable node,
/// lock `rmap_item->anon_vma` and visit every VMA in its interval tree
/// that contains `rmap_item->address`, first only VMAs of
/// `rmap_item->mm`, then (`search_new_forks`) only those of other mms "in
/// case they were forked from the original since ksmd passed". Returns the
/// PTEs found that map the folio, in visiting order.
pub fn rmap_walk_ksm(s: &mut State, ctx: &mut Ctx, folio: FolioId) -> Vec<(Pid, Page)> {
    let Some(n) = s.folios[folio as usize].mapping.stable_node() else { return Vec::new() };
    let items = s.stable_nodes[n as usize].items.clone();
    let mut hits: Vec<(Pid, Page)> = Vec::new();
    for search_new_forks in [false, true] {
        for r in &items {
            touch(s, r.anon_vma, "rmap_walk_ksm: anon_vma_lock_read(rmap_item->anon_vma)");
            if s.oops.is_some() {
                return Vec::new();
            }
            let found: Vec<(Pid, Page)> = s
                .all_vmas()
                .filter(|(pid, v)| {
                    v.chain.contains(&r.anon_vma) && v.contains(r.address) && (*pid == r.mm) != search_new_forks
                })
                .map(|(pid, _)| (pid, r.address))
                .filter(|&(pid, a)| {
                    matches!(s.mms[pid as usize].ptes[a as usize], Pte::Present { folio: f, .. } if f == folio)
                })
                .collect();
            for h in found {
                if !hits.contains(&h) {
                    if search_new_forks {
                        ctx.took(Branch::RmapWalkKsmNewFork);
                    }
                    hits.push(h);
                }
            }
        }
    }
    hits
}
