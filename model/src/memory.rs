//! Page faults, copy-on-write, and the PTE side of fork and unmap
//! (mm/memory.c).

use crate::config::Mutant;
use crate::ctx::{oops, Branch, Ctx};
use crate::rmap::{anon_vma_prepare, folio_add_new_anon_rmap, folio_alloc, folio_move_anon_rmap};
use crate::state::{OopsKind, Page, Pte, State, Value};
use crate::thp::{folio_alloc_large, folio_remove_rmap_ptes_and_put};

/// Mirrors handle_mm_fault() for a load. A load from a `pte_none()` page
/// runs do_anonymous_page()'s read path: a special PTE for the shared zero
/// page, no anon_vma, no rmap, no refcount. A load from a present page does
/// not fault and changes nothing.
pub fn read_fault(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page) -> Result<(), String> {
    if s.mms[pid].vma_index(page).is_none() {
        return Err(format!("no VMA at page {page}: the load would SIGSEGV"));
    }
    if let Pte::Swap { .. } = s.mms[pid].ptes[page as usize] {
        let vi = s.mms[pid].vma_index(page).unwrap_or(0);
        return crate::swapin::do_swap_page(s, ctx, pid, vi, page, false);
    }
    let vi = s.mms[pid].vma_index(page).unwrap_or(0);
    if s.mms[pid].vmas[vi].file.is_some() {
        // do_pte_missing() -> do_fault() -> do_read_fault() for a VMA with vm_ops.
        if s.mms[pid].ptes[page as usize] == Pte::None {
            crate::filemap::do_read_fault(s, ctx, pid, vi, page)?;
        }
        return Ok(());
    }
    crate::ksm_zero::clear(s, pid, page);
    let pte = &mut s.mms[pid].ptes[page as usize];
    if *pte == Pte::None {
        *pte = Pte::Zero;
        ctx.took(Branch::AnonymousZeroPage);
        ctx.say(|| format!("do_anonymous_page: page {page} -> zero page"));
    }
    Ok(())
}

/// A store of `value`: handle_mm_fault() when the PTE is not writable
/// (do_anonymous_page() for `pte_none()`, do_wp_page() for a read-only
/// present PTE or the zero page), then the store itself, which also marks
/// the PTE dirty.
pub fn write_access(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page, value: Value) -> Result<(), String> {
    let Some(vi) = s.mms[pid].vma_index(page) else {
        return Err(format!("no VMA at page {page}: the store would SIGSEGV"));
    };
    if !s.mms[pid].vmas[vi].write {
        return Err(format!("the VMA at page {page} is read-only: the store would SIGSEGV"));
    }
    let (file, shared) = (s.mms[pid].vmas[vi].file, s.mms[pid].vmas[vi].shared);
    handle_mm_fault_write(s, ctx, pid, vi, page)?;
    if s.oops.is_some() {
        return Ok(());
    }
    match &mut s.mms[pid].ptes[page as usize] {
        Pte::Present { folio, sub, writable: true, dirty } => {
            *dirty = true;
            let (folio, sub) = (*folio, *sub);
            s.folios[folio as usize].set_page_data(sub, value);
        }
        other => {
            let other = *other;
            oops(s, OopsKind::Bug, format!("store after the fault found {other:?}, not a writable PTE"));
        }
    }
    if shared {
        // The store reaches the file: every mapping of it reads it now.
        let index = s.mms[pid].vmas[vi].linear_page_index(page);
        s.files[file.unwrap_or(0) as usize].content[index as usize] = value;
    } else {
        s.mms[pid].ghost[page as usize] = Some(value);
        // What every attached pin at this address must see now (I45).
        s.mms[pid].pins.iter_mut().filter(|p| p.at == page && p.attached).for_each(|p| p.ghost = value);
    }
    Ok(())
}

/// handle_mm_fault(FAULT_FLAG_WRITE) at `page` of VMA `vi` when the PTE
/// is not writable: do_anonymous_page() for `pte_none()`, do_wp_page() for
/// a read-only present PTE or the zero page, do_swap_page() for a swap
/// entry; nothing for a writable PTE. A store ([`write_access`]) and a
/// FOLL_WRITE GUP ([`crate::gup`]) both fault this way.
pub(crate) fn handle_mm_fault_write(
    s: &mut State,
    ctx: &mut Ctx,
    pid: usize,
    vi: usize,
    page: Page,
) -> Result<(), String> {
    let (file, shared) = (s.mms[pid].vmas[vi].file, s.mms[pid].vmas[vi].shared);
    match s.mms[pid].ptes[page as usize] {
        Pte::None if file.is_some() => crate::filemap::do_fault_write(s, ctx, pid, vi, page)?,
        Pte::None => do_anonymous_page_write(s, ctx, pid, vi, page),
        Pte::Present { writable: true, .. } => ctx.took(Branch::WriteHit),
        // do_wp_page(): "Shared mapping: ... We should not cow pages in a
        // shared writeable mapping" -> wp_page_shared().
        Pte::Present { writable: false, .. } if shared && ctx.cfg.mutant != Some(Mutant::SharedWriteCows) => {
            crate::filemap::wp_page_shared(s, ctx, pid, page)
        }
        Pte::Zero | Pte::Present { writable: false, .. } => do_wp_page(s, ctx, pid, vi, page),
        Pte::Swap { .. } => crate::swapin::do_swap_page(s, ctx, pid, vi, page, true)?,
    }
    Ok(())
}

/// Mirrors do_anonymous_page() for a write fault: vmf_anon_prepare()
/// (__anon_vma_prepare), a new zeroed folio, folio_add_new_anon_rmap()
/// with RMAP_EXCLUSIVE *before* the PTE becomes visible, then a writable,
/// dirty PTE.
fn do_anonymous_page_write(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page) {
    anon_vma_prepare(s, ctx, pid, vi);
    let order = alloc_anon_folio(s, ctx, pid, vi, page);
    if order > 0 {
        return do_anonymous_page_large(s, ctx, pid, vi, page, order);
    }
    let folio = folio_alloc(s, 0);
    folio_add_new_anon_rmap(s, folio, pid, vi, page, true);
    s.mms[pid].ptes[page as usize] = Pte::Present { folio, sub: 0, writable: true, dirty: true };
    ctx.took(Branch::AnonymousNewFolio);
    ctx.say(|| format!("do_anonymous_page: new folio F{folio} at page {page}"));
}

/// Mirrors alloc_anon_folio(): the orders thp_vma_allowable_orders()
/// allows (the configured mTHP sizes), kept by thp_vma_suitable_orders()
/// when the naturally aligned range around the fault lies inside the VMA
/// (no pgoff alignment for anonymous VMAs), and then the highest order
/// whose aligned range is all pte_none() (a zero-page, swap or present
/// PTE in it falls back to a smaller order); 0 when none is left
/// (folio_prealloc() of an order-0 folio). Allocation never fails here.
fn alloc_anon_folio(s: &State, ctx: &Ctx, pid: usize, vi: usize, page: Page) -> u8 {
    let mm = &s.mms[pid];
    let v = &mm.vmas[vi];
    ctx.cfg
        .mthp
        .orders_desc()
        .find(|&order| {
            let r = crate::thp::aligned(page, order);
            v.start <= r.start && r.end <= v.end && r.clone().all(|p| mm.ptes[p as usize] == Pte::None)
        })
        .unwrap_or(0)
}

/// The large-folio arm of do_anonymous_page(): folio_add_new_anon_rmap()
/// with RMAP_EXCLUSIVE at the aligned address (`folio->index` its linear
/// index), folio_ref_add(folio, nr_pages - 1), then set_ptes() of `nr`
/// writable, dirty PTEs, one per page.
fn do_anonymous_page_large(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page, order: u8) {
    let r = crate::thp::aligned(page, order);
    let folio = folio_alloc_large(s, order);
    folio_add_new_anon_rmap(s, folio, pid, vi, r.start, true);
    s.folios[folio as usize].refcount += r.len() as u8 - 1;
    for (i, p) in r.clone().enumerate() {
        s.mms[pid].ptes[p as usize] = Pte::Present { folio, sub: i as u8, writable: true, dirty: true };
    }
    ctx.took(Branch::AnonymousLargeFolio);
    ctx.say(|| format!("do_anonymous_page: new order-{order} folio F{folio} at pages {}..{}", r.start, r.end));
}

/// Mirrors do_wp_page() for a private anonymous mapping: reuse the page in
/// place when it is PageAnonExclusive, or when wp_can_reuse_anon_folio()
/// proves nobody else holds it (then folio_move_anon_rmap()); otherwise
/// wp_page_copy(). The zero page (vm_normal_page() == NULL) always copies.
pub(crate) fn do_wp_page(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page) {
    let Pte::Present { folio, sub, .. } = s.mms[pid].ptes[page as usize] else {
        return wp_page_copy(s, ctx, pid, vi, page, false);
    };
    let f = &s.folios[folio as usize];
    let ksm = f.mapping.stable_node().is_some();
    if f.page_exclusive(sub) {
        ctx.took(Branch::WpReuseExclusive);
        ctx.say(|| format!("do_wp_page: F{folio} is PageAnonExclusive -> wp_page_reuse"));
    } else if f.large.is_some() {
        if !crate::thp::wp_can_reuse_large_anon_folio(s, ctx, folio) {
            return wp_page_copy(s, ctx, pid, vi, page, false);
        }
        // "if (!PageAnonExclusive(vmf->page)) SetPageAnonExclusive(vmf->page)"
        s.folios[folio as usize].set_page_exclusive(sub, true);
        ctx.say(|| format!("do_wp_page: __wp_can_reuse_large_anon_folio(F{folio}) -> page {sub} reused"));
    } else if f.mapping.is_anon() && wp_can_reuse_anon_folio(s, ctx, folio) {
        let vma = s.mms[pid].vmas[vi];
        if ksm && ctx.cfg.mutant == Some(Mutant::KsmReuseInPlace) {
            ctx.say(|| format!("do_wp_page: (mutant) KSM page F{folio} reused in place"));
            s.folios[folio as usize].anon_exclusive = true;
            s.mms[pid].ptes[page as usize] = Pte::Present { folio, sub, writable: true, dirty: true };
            return;
        }
        folio_move_anon_rmap(s, folio, &vma);
        s.folios[folio as usize].anon_exclusive = true;
        ctx.took(Branch::WpReuseMoveAnonRmap);
        ctx.say(|| {
            format!(
                "do_wp_page: wp_can_reuse_anon_folio(F{folio}) -> folio_move_anon_rmap to AV{}",
                vma.anon_vma.unwrap_or(0)
            )
        });
    } else {
        if ksm {
            // "if (folio_test_ksm(folio)) count_vm_event(COW_KSM)": a KSM
            // page is never reused, not even its last mapping.
            ctx.took(Branch::WpCopyKsm);
        }
        return wp_page_copy(s, ctx, pid, vi, page, false);
    }
    // wp_page_reuse(): VM_BUG_ON(anon && !PageAnonExclusive(page)).
    s.mms[pid].ptes[page as usize] = Pte::Present { folio, sub, writable: true, dirty: true };
}

/// Mirrors wp_can_reuse_anon_folio() for a small folio: not KSM, at most
/// our reference and the swap cache's (`refcount > 1 + swapcache` gives
/// up), folio_trylock(), folio_free_swap() when in the swap cache, and then
/// the only reference must be ours (`refcount == 1`).
pub(crate) fn wp_can_reuse_anon_folio(s: &mut State, ctx: &mut Ctx, folio: u8) -> bool {
    let f = &s.folios[folio as usize];
    let ksm = f.mapping.tag_bits() == crate::state::Mapping::KSM && ctx.cfg.mutant != Some(Mutant::KsmReuseInPlace);
    if ksm || f.refcount > 1 + u8::from(f.swap.is_some()) {
        return false;
    }
    if f.isolated {
        return false; // folio_trylock() fails: reclaim holds the lock.
    }
    if f.swap.is_some() {
        crate::swapfile::folio_free_swap(s, ctx, folio);
    }
    s.folios[folio as usize].refcount == 1
}

/// Mirrors wp_page_copy(): vmf_anon_prepare(), a new folio (zeroed for the
/// zero page, else a copy), folio_add_new_anon_rmap(RMAP_EXCLUSIVE), the
/// PTE switch, and only *then* folio_remove_rmap_pte() on the old folio, so
/// that nobody sees its mapcount drop while this PTE still maps it. For an
/// unshare fault (FAULT_FLAG_UNSHARE, break_ksm()) the new PTE is not
/// writable: "if (unlikely(unshare)) ... else entry =
/// maybe_mkwrite(pte_mkdirty(entry), vma)". By that source (read in
/// linux-mm 009857a22860 and every older copy found) it is clean too, but
/// the live 6.18 kernel shows it dirty: smaps counts the copy as
/// Private_Dirty while kpageflags has PG_dirty clear, after break_ksm() and
/// after an R/O GUP pin's unshare alike, and reclaim of a lazyfree folio
/// that PTE maps finds it redirtied (conformance of
/// scenarios/madv-free-ksm-unshare-copy-keeps-data.rmap; docs/kernel/madv-free.md).
/// The model follows the kernel it is compared with: dirty.
pub(crate) fn wp_page_copy(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page, unshare: bool) {
    anon_vma_prepare(s, ctx, pid, vi);
    // "if (is_zero_pfn(pte_pfn(vmf->orig_pte))) ksm_might_unmap_zero_page()".
    crate::ksm_zero::ksm_might_unmap_zero_page(s, ctx, pid, page);
    let old = match s.mms[pid].ptes[page as usize] {
        Pte::Present { folio, sub, .. } => Some((folio, sub)),
        _ => None,
    };
    let data = old.map_or(0, |(f, sub)| s.folios[f as usize].page_data(sub));
    let new = folio_alloc(s, data);
    folio_add_new_anon_rmap(s, new, pid, vi, page, true);
    s.mms[pid].ptes[page as usize] = Pte::Present { folio: new, sub: 0, writable: !unshare, dirty: true };
    match old {
        Some((old, sub)) => {
            ctx.took(Branch::WpCopyFolio);
            if s.folios[old as usize].mapping.file().is_some() {
                ctx.took(Branch::CowFromPageCache);
            }
            ctx.say(|| format!("do_wp_page: wp_page_copy F{old} -> new F{new}"));
            // folio_remove_rmap_pte(old_folio, vmf->page, vma): of a large
            // folio only this page (which may leave it partially mapped).
            folio_remove_rmap_ptes_and_put(s, ctx, old, sub, 1, pid as u8);
            crate::swapfile::free_swap_cache(s, ctx, old);
        }
        None => {
            ctx.took(Branch::WpCopyZeroPage);
            ctx.say(|| format!("do_wp_page: wp_page_copy zero page -> new F{new}"));
        }
    }
}

/// Mirrors zap_pte_range() over `[start, end)`: a present anon PTE drops
/// its rmap and reference (the folio's `mapping` stays until it is freed),
/// a zero-page PTE just goes. zap_present_ptes() batches the PTEs that map
/// consecutive pages of one large folio inside one VMA
/// (folio_pte_batch()) into one folio_remove_rmap_ptes(), which decides
/// whether the folio is left partially mapped.
pub fn zap_pte_range(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, end: Page) {
    crate::gup::pins_detach(s, pid, start, end);
    let mut page = start;
    while page < end {
        let pte = std::mem::replace(&mut s.mms[pid].ptes[page as usize], Pte::None);
        let mut nr = 1;
        match pte {
            Pte::Present { folio, sub, dirty, .. } => {
                // zap_present_folio_ptes(): "if (!folio_test_anon(folio))
                // { ... if (pte_dirty(ptent)) folio_mark_dirty(folio);"
                if dirty && s.folios[folio as usize].mapping.file().is_some() {
                    s.folios[folio as usize].dirty = true;
                }
                if s.folios[folio as usize].large.is_some() {
                    let vi = s.mms[pid].vma_index(page);
                    while page + nr < end
                        && s.mms[pid].vma_index(page + nr) == vi
                        && matches!(s.mms[pid].ptes[(page + nr) as usize],
                            Pte::Present { folio: f, sub: i, .. } if f == folio && i == sub + nr)
                    {
                        s.mms[pid].ptes[(page + nr) as usize] = Pte::None;
                        nr += 1;
                    }
                }
                folio_remove_rmap_ptes_and_put(s, ctx, folio, sub, nr, pid as u8);
                // tlb_finish_mmu() -> free_pages_and_swap_cache()
                crate::swapfile::free_swap_cache(s, ctx, folio);
            }
            Pte::Swap { slot, .. } => crate::swapin::zap_swap_pte(s, ctx, slot),
            Pte::Zero => {
                // zap_present_ptes(): the zero page has no folio, but a KSM
                // zero page is counted out.
                s.mms[pid].ptes[page as usize] = Pte::Zero;
                crate::ksm_zero::ksm_might_unmap_zero_page(s, ctx, pid, page);
                s.mms[pid].ptes[page as usize] = Pte::None;
            }
            Pte::None => {}
        }
        page += nr;
    }
}

/// Mirrors copy_pte_range() for one COW VMA: present anon PTEs go through
/// copy_present_pte() (folio_try_dup_anon_rmap_pte() clears
/// PageAnonExclusive, both PTEs become read-only), zero-page PTEs are
/// copied as they are.
pub fn copy_pte_range(s: &mut State, ctx: &mut Ctx, parent: usize, child: usize, start: Page, end: Page) {
    for page in start..end {
        let pte = s.mms[parent].ptes[page as usize];
        let copied = match pte {
            Pte::None => Pte::None,
            Pte::Zero => {
                ctx.took(Branch::CopyZeroPte);
                // The PTE is copied as it is: a KSM zero page stays one.
                let bit = s.mms[parent].ksm_zero & 1 << page;
                s.mms[child].ksm_zero |= bit;
                Pte::Zero
            }
            Pte::Present { folio, sub, .. }
                if s.folios[folio as usize].mapping.tag_bits() == crate::state::Mapping::ANON
                    && s.folios[folio as usize].page_exclusive(sub)
                    && crate::gup::folio_needs_cow_for_dma(s, ctx, parent, folio) =>
            {
                // folio_try_dup_anon_rmap_pte() -> -EBUSY: "Page may be
                // pinned, we have to copy." (copy_present_ptes())
                crate::gup::copy_present_page(s, ctx, child, page, folio, sub)
            }
            Pte::Present { folio, sub, writable, dirty } => {
                copy_present_pte(s, ctx, parent, child, page, folio, sub);
                if writable && ctx.cfg.mutant != Some(Mutant::KeepParentWritableOnFork) {
                    // ptep_set_wrprotect(src_mm, addr, src_pte)
                    s.mms[parent].ptes[page as usize] = Pte::Present { folio, sub, writable: false, dirty };
                }
                Pte::Present { folio, sub, writable: false, dirty }
            }
            Pte::Swap { slot, .. } => crate::swapin::copy_nonpresent_pte(s, ctx, parent, page, slot),
        };
        s.mms[child].ptes[page as usize] = copied;
    }
}

/// Mirrors copy_present_pte() for an anon folio (no pins in this model, so
/// folio_try_dup_anon_rmap_pte() never asks for copy_present_page()):
/// folio_get(), ClearPageAnonExclusive(), one more mapping. For a large
/// folio copy_present_ptes() batches the PTEs into
/// folio_try_dup_anon_rmap_ptes(), which ends in the same counts as one
/// page at a time (see [`crate::thp::folio_try_dup_anon_rmap_pte`]).
fn copy_present_pte(s: &mut State, ctx: &mut Ctx, _parent: usize, child: usize, page: Page, folio: u8, sub: u8) {
    let mutant = ctx.cfg.mutant;
    let child_av = s.mms[child].vma_index(page).and_then(|vi| s.mms[child].vmas[vi].anon_vma);
    let keep = mutant == Some(Mutant::KeepExclusiveOnFork) && s.folios[folio as usize].page_exclusive(sub);
    crate::thp::folio_try_dup_anon_rmap_pte(s, folio, sub, child as u8);
    let f = &mut s.folios[folio as usize];
    if keep {
        f.set_page_exclusive(sub, true);
    }
    if mutant == Some(Mutant::SharedFolioToChildAnonVma) && f.mapping.is_anon() {
        if let Some(av) = child_av {
            f.mapping = crate::state::Mapping::Anon(av);
        }
    }
    ctx.took(Branch::CopyPresentPte);
    ctx.say(|| format!("copy_present_pte: F{folio} shared at page {page}, both PTEs read-only"));
}
