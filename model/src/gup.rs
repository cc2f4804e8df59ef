//! Longterm GUP pins (mm/gup.c) and what the rest of mm does with a pinned
//! page (docs/kernel/gup-pins.md).
//!
//! A process pins one of its pages with pin_user_pages(FOLL_LONGTERM), as
//! io_uring's IORING_REGISTER_BUFFERS does (always FOLL_WRITE), and drops
//! the pin with unpin_user_page() (IORING_UNREGISTER_BUFFERS, or the ring's
//! release after exit). Read against v6.18 (mm/gup.c __get_user_pages(),
//! follow_page_pte(), faultin_page(), try_grab_folio(); mm/internal.h
//! gup_must_unshare(); mm/memory.c do_wp_page() under FAULT_FLAG_UNSHARE,
//! copy_present_ptes() / copy_present_page(); include/linux/mm.h
//! folio_maybe_dma_pinned(), folio_needs_cow_for_dma()). Pins are taken on
//! private anonymous mappings and on pages of order-0 folios only (a model
//! limit: the split of a pinned large folio and fork's batched
//! folio_try_dup_anon_rmap_ptes() are not modelled).

use crate::ctx::{oops, Ctx};
use crate::memory::{handle_mm_fault_write, read_fault, wp_can_reuse_anon_folio, wp_page_copy};
use crate::rmap::{folio_add_new_anon_rmap, folio_alloc, folio_move_anon_rmap};
use crate::state::{FolioId, OopsKind, Page, Pin, Pte, State};
use crate::Mutant;

/// Mirrors pin_user_pages(FOLL_PIN | FOLL_LONGTERM [| FOLL_WRITE]) of the
/// one page at `page` -> __gup_longterm_locked() -> __get_user_pages():
/// check_vma_flags() (FOLL_WRITE needs VM_WRITE), then follow_page_pte()
/// until it returns the page, faulting in between (faultin_page()):
/// no page (pte_none, swap entry) is a read or write fault; a read-only PTE
/// under FOLL_WRITE is a write fault (COW broken first); a read-only PTE
/// of a page gup_must_unshare() names (an anon page not PageAnonExclusive,
/// or, for FOLL_LONGTERM in a COW mapping, the shared zero page) is an
/// unshare fault (FAULT_FLAG_UNSHARE). Then try_grab_folio(FOLL_PIN) and
/// mm_set_has_pinned_flag(). The pinned page is then PageAnonExclusive (I47).
pub fn pin_user_pages(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page, write: bool) -> Result<(), String> {
    let Some(vi) = s.mms[pid].vma_index(page) else {
        return Err(format!("no VMA at page {page}: pin_user_pages() fails with EFAULT"));
    };
    let vma = &s.mms[pid].vmas[vi];
    if !vma.is_anonymous() || vma.shared {
        return Err(format!("model limit: pins are modelled on private anonymous memory only (page {page})"));
    }
    if write && !vma.write {
        return Err(format!("check_vma_flags(): FOLL_WRITE on the read-only VMA at page {page} fails with EFAULT"));
    }
    if s.mms[pid].pin_at(page).is_some() {
        return Err(format!("model limit: P{pid} already holds a pin at page {page} (one pin per page)"));
    }
    // __get_user_pages()'s retry loop: at most a fault to map the page and
    // a second one to break COW or unshare.
    for _ in 0..3 {
        match s.mms[pid].ptes[page as usize] {
            Pte::None | Pte::Swap { .. } if write => handle_mm_fault_write(s, ctx, pid, vi, page)?,
            Pte::None | Pte::Swap { .. } => read_fault(s, ctx, pid, page)?,
            Pte::Zero if write => handle_mm_fault_write(s, ctx, pid, vi, page)?,
            // gup_must_unshare(): the zero page is not anon; under
            // FOLL_LONGTERM "return is_cow_mapping(vma->vm_flags)", true
            // for every private mapping.
            Pte::Zero if ctx.cfg.mutant == Some(Mutant::RoPinWithoutUnshare) => {
                return Err("(mutant) the shared zero page is not pinned without unshare".into());
            }
            Pte::Zero => do_wp_page_unshare(s, ctx, pid, vi, page),
            Pte::Present { writable: false, .. } if write => handle_mm_fault_write(s, ctx, pid, vi, page)?,
            Pte::Present { folio, sub, writable, .. } => {
                if s.folios[folio as usize].large.is_some() {
                    return Err(format!("model limit: a pin on a page of a large folio (F{folio}) is not modelled"));
                }
                if !writable && gup_must_unshare(s, ctx, folio, sub) {
                    do_wp_page_unshare(s, ctx, pid, vi, page);
                } else {
                    try_grab_folio(s, ctx, pid, page, folio, sub, write);
                    return Ok(());
                }
            }
        }
        if s.oops.is_some() {
            return Ok(());
        }
    }
    oops(s, OopsKind::Bug, format!("__get_user_pages: P{pid} page {page} never became pinnable"));
    Ok(())
}

/// Mirrors gup_must_unshare() for an anon page under FOLL_PIN without
/// FOLL_WRITE: "return !PageAnonExclusive(page)" (a KSM page is never
/// exclusive, so it is unshared too).
fn gup_must_unshare(s: &State, ctx: &Ctx, folio: FolioId, sub: u8) -> bool {
    let f = &s.folios[folio as usize];
    f.mapping.is_anon() && !f.page_exclusive(sub) && ctx.cfg.mutant != Some(Mutant::RoPinWithoutUnshare)
}

/// Mirrors do_wp_page() under FAULT_FLAG_UNSHARE for a private anonymous
/// mapping: an anon page that is PageAnonExclusive or that
/// wp_can_reuse_anon_folio() proves ours (folio_move_anon_rmap()) is only
/// marked exclusive, the PTE stays read-only ("if (unlikely(unshare)) {
/// pte_unmap_unlock(); return 0; }"); anything else (a shared page, a KSM
/// page, the zero page) gets wp_page_copy(): an exclusive copy mapped
/// read-only.
fn do_wp_page_unshare(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page) {
    if let Pte::Present { folio, sub, .. } = s.mms[pid].ptes[page as usize] {
        let f = &s.folios[folio as usize];
        let anon = f.mapping.tag_bits() == crate::state::Mapping::ANON;
        if anon && (f.page_exclusive(sub) || wp_can_reuse_anon_folio(s, ctx, folio)) {
            let vma = s.mms[pid].vmas[vi];
            folio_move_anon_rmap(s, folio, &vma);
            s.folios[folio as usize].set_page_exclusive(sub, true);
            ctx.say(|| format!("do_wp_page(FAULT_FLAG_UNSHARE): F{folio} reused, PageAnonExclusive, PTE read-only"));
            return;
        }
    }
    ctx.say(|| format!("do_wp_page(FAULT_FLAG_UNSHARE): P{pid} page {page} -> wp_page_copy, mapped read-only"));
    wp_page_copy(s, ctx, pid, vi, page, true);
}

/// Mirrors try_grab_folio(FOLL_PIN): "folio_ref_add(folio, refs *
/// GUP_PIN_COUNTING_BIAS)" for an order-0 folio (`_pincount` and one
/// reference for a large one); one reference and one pin in the model
/// (see [`crate::state::Folio::pincount`]). Then mm_set_has_pinned_flag().
fn try_grab_folio(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page, folio: FolioId, sub: u8, write: bool) {
    let f = &mut s.folios[folio as usize];
    if ctx.cfg.mutant != Some(Mutant::PinTakesNoReference) {
        f.refcount += 1;
    }
    f.pincount += 1;
    let ghost = f.page_data(sub);
    let mm = &mut s.mms[pid];
    mm.has_pinned = true;
    let at = mm.pins.partition_point(|p| p.page < page);
    mm.pins.insert(at, Pin { page, at: page, folio, sub, write, attached: true, ghost });
    let kind = if write { "R/W" } else { "R/O" };
    ctx.say(|| format!("pin_user_pages: P{pid} page {page}: {kind} longterm pin on F{folio}"));
}

/// Mirrors unpin_user_page() of the pin `pid` holds at `page`:
/// gup_put_folio(FOLL_PIN) drops the pin and its reference
/// (GUP_PIN_COUNTING_BIAS of an order-0 folio); the last reference frees
/// a page whose mappings are gone.
pub fn unpin_user_page(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page) -> Result<(), String> {
    let Some(i) = s.mms[pid].pins.iter().position(|p| p.page == page) else {
        return Err(format!("P{pid} holds no pin at page {page}"));
    };
    let pin = s.mms[pid].pins.remove(i);
    let f = &mut s.folios[pin.folio as usize];
    if f.freed || f.pincount == 0 {
        oops(s, OopsKind::Bug, format!("unpin_user_page: F{} is not pinned", pin.folio));
        return Ok(());
    }
    f.pincount -= 1;
    ctx.say(|| format!("unpin_user_page: P{pid} page {page}: F{} unpinned", pin.folio));
    if ctx.cfg.mutant != Some(Mutant::PinTakesNoReference) {
        crate::swapfile::folio_put(s, ctx, pin.folio);
    }
    Ok(())
}

/// The process's pins at pages `start..end` lose their mapping (zap of
/// munmap, MADV_DONTNEED, exit): the pinned page outlives it, held by the
/// pin alone, and what the pin sees is frozen.
pub fn pins_detach(s: &mut State, pid: usize, start: Page, end: Page) {
    for p in s.mms[pid].pins.iter_mut().filter(|p| start <= p.at && p.at < end) {
        p.attached = false;
    }
}

/// The pins move with the PTEs mremap() moves (move_ptes()): the pinned
/// page is still the process's, at its new address (the registered
/// buffer keeps its old one: the pin is to the page, not the address).
pub fn pins_move(s: &mut State, pid: usize, start: Page, to: Page, len: u8) {
    let mm = &mut s.mms[pid];
    for p in mm.pins.iter_mut().filter(|p| p.attached && start <= p.at && p.at < start + len) {
        p.at = p.at - start + to;
    }
}

/// The io_uring ring goes with the exiting process's files (exit_files()
/// after exit_mm(); io_ring_ctx_free() -> io_sqe_buffers_unregister()):
/// every pin it holds is dropped after its mappings are gone.
pub fn exit_pins(s: &mut State, ctx: &mut Ctx, pid: usize) {
    while let Some(p) = s.mms[pid].pins.first().map(|p| p.page) {
        if unpin_user_page(s, ctx, pid, p).is_err() || s.oops.is_some() {
            return;
        }
    }
}

/// Mirrors folio_needs_cow_for_dma(): the source mm has MMF_HAS_PINNED and
/// folio_maybe_dma_pinned(). fork must then copy an exclusive page at once
/// instead of sharing it (folio_try_dup_anon_rmap_pte() fails with -EBUSY).
pub fn folio_needs_cow_for_dma(s: &State, ctx: &Ctx, parent: usize, folio: FolioId) -> bool {
    ctx.cfg.mutant != Some(Mutant::ForkSharesPinnedPage)
        && s.mms[parent].has_pinned
        && s.folios[folio as usize].maybe_dma_pinned()
}

/// Mirrors copy_present_page() (fork of an exclusive page that may be
/// pinned): a new folio with a copy of the page for the child,
/// folio_add_new_anon_rmap(RMAP_EXCLUSIVE), mapped
/// `maybe_mkwrite(pte_mkdirty(pte), dst_vma)`; the parent's PTE is left as
/// it was (writable if it was) and its page stays PageAnonExclusive.
/// Returns the child's PTE.
pub fn copy_present_page(s: &mut State, ctx: &mut Ctx, child: usize, page: Page, folio: FolioId, sub: u8) -> Pte {
    let data = s.folios[folio as usize].page_data(sub);
    let Some(vi) = s.mms[child].vma_index(page) else {
        oops(s, OopsKind::Bug, format!("copy_present_page: no child VMA at page {page}"));
        return Pte::None;
    };
    let new = folio_alloc(s, data);
    folio_add_new_anon_rmap(s, new, child, vi, page, true);
    let writable = s.mms[child].vmas[vi].write;
    ctx.say(|| format!("copy_present_page: F{folio} may be pinned: the child gets its own copy F{new}"));
    Pte::Present { folio: new, sub: 0, writable, dirty: true }
}
