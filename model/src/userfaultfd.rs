//! UFFDIO_MOVE (mm/userfaultfd.c, v6.8+): one anonymous page moved between
//! two addresses of one process without a copy, and what it does to the
//! rmap: folio_move_anon_rmap() and the folio->index update, so that the
//! moved page is found from the destination VMA's anon_vma at its new
//! linear index (I11, I28). See docs/kernel/uffd-move.md.
//!
//! The action is the executor's sequence for one page: UFFDIO_REGISTER
//! (MISSING mode) of the destination page, UFFDIO_MOVE of one page,
//! UFFDIO_UNREGISTER of the destination page. Registering changes
//! `vm_flags`, so the destination VMA is split around the page, and
//! unregistering merges the piece back (vma_modify_flags_uffd() both
//! ways). The uffd context itself, events, faults delivered to user
//! space, UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, moves of several pages and
//! PMD-mapped THPs are left out; so is the pinned refusal
//! (folio_maybe_dma_pinned(): the model has no pins). Read in mm/userfaultfd.c
//! of linux-mm 01730ada6dd5 (after v6.18).

use crate::config::Mutant;
use crate::ctx::{oops, Branch, Ctx};
use crate::rmap::{anon_vma_prepare_new_root, folio_move_anon_rmap};
use crate::state::{OopsKind, Page, Pte, State};
use crate::vma::{split_vma, vma_merge_existing_range, Vmg};

/// errno values UFFDIO_MOVE returns (asm-generic/errno-base.h).
const ENOENT: i32 = 2;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;

/// `P uffd_move SRC DST`: register, move, unregister. `Err` for what the
/// model does not take (a page outside every VMA, a file or shared VMA,
/// or a folio reclaim holds locked, on which the move would sleep until
/// `kswapd writeback`); a refusal of the kernel's is an errno in
/// [`Ctx::errno`] with the registration's side effects kept.
pub fn uffd_move(s: &mut State, ctx: &mut Ctx, pid: usize, src: Page, dst: Page) -> Result<(), String> {
    for p in [src, dst] {
        if p >= s.pages() {
            return Err(format!("page {p} is outside the {}-page address window", s.pages()));
        }
        let Some(vi) = s.mms[pid].vma_index(p) else {
            return Err(format!("page {p} is not mapped: the executor's UFFDIO_REGISTER or UFFDIO_MOVE fails"));
        };
        let v = &s.mms[pid].vmas[vi];
        if !v.is_anonymous() || v.shared {
            return Err(format!("page {p} is not private anonymous memory: UFFDIO_MOVE of file pages is not modelled"));
        }
    }
    if src == dst {
        return Err("source and destination are the same page".into());
    }
    if would_sleep(s, pid, src) {
        return Err(format!("P{pid} page {src}: the folio is locked by reclaim, the move sleeps until writeback"));
    }
    let vi = userfaultfd_register(s, ctx, pid, dst);
    uffd_prepare_anon(s, ctx, pid, vi);
    ctx.errno = move_pages(s, ctx, pid, src, dst);
    if ctx.errno == 0 {
        let g = s.mms[pid].ghost[src as usize];
        s.mms[pid].ghost[dst as usize] = g;
        s.mms[pid].ghost[src as usize] = Some(0);
    }
    userfaultfd_unregister(s, ctx, pid, dst);
    Ok(())
}

/// Whether a move from `src` would sleep on a folio reclaim holds locked:
/// folio_lock() in move_pages_ptes() waits for the writeback to end.
pub fn would_sleep(s: &State, pid: usize, src: Page) -> bool {
    let folio = match s.mms[pid].ptes[src as usize] {
        Pte::Present { folio, .. } => Some(folio),
        Pte::Swap { slot, .. } => s.swap[slot as usize].cache,
        _ => None,
    };
    folio.is_some_and(|f| s.folios[f as usize].isolated)
}

/// Mirrors userfaultfd_register() of one page: vma_modify_flags_uffd()
/// adds VM_UFFD_MISSING to the page, which no neighbour has, so the VMA
/// is split around it. Returns the index of the one-page VMA.
fn userfaultfd_register(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page) -> usize {
    let mut vi = s.mms[pid].vma_index(page).expect("checked by uffd_move");
    if s.mms[pid].vmas[vi].start < page {
        split_vma(s, ctx, pid, vi, page, true);
        vi += 1;
    }
    if s.mms[pid].vmas[vi].end > page + 1 {
        split_vma(s, ctx, pid, vi, page + 1, false);
    }
    vi
}

/// Mirrors uffd_lock_vma() / find_vma_and_prepare_anon() on the
/// destination: "We know we're going to need to use anon_vma", so
/// __anon_vma_prepare() runs before any check. find_mergeable_anon_vma()
/// finds nothing to reuse: the registered page's VM_UFFD_MISSING differs
/// from every neighbour's flags (anon_vma_compatible()), so an unfaulted
/// destination gets a new root anon_vma.
fn uffd_prepare_anon(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize) {
    if s.mms[pid].vmas[vi].anon_vma.is_some() {
        return;
    }
    ctx.say(|| "find_vma_and_prepare_anon: the registered page's flags match no neighbour's".to_string());
    anon_vma_prepare_new_root(s, ctx, pid, vi);
}

/// Mirrors userfaultfd_unregister() of the page: vma_modify_flags_uffd()
/// clears VM_UFFD_MISSING and vma_merge_existing_range() merges the piece
/// with its neighbours again where the merge rules allow (the flags are
/// the same again).
fn userfaultfd_unregister(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page) {
    let Some(vi) = s.mms[pid].vma_index(page) else { return };
    let v = s.mms[pid].vmas[vi];
    let vmg = Vmg {
        start: v.start,
        end: v.end,
        pgoff: v.pgoff,
        write: v.write,
        account: v.account,
        mergeable: v.mergeable,
        anon_vma: v.anon_vma,
        middle: Some(v),
        copied_from: None,
        file: v.file,
        shared: v.shared,
    };
    vma_merge_existing_range(s, ctx, pid, &vmg);
}

/// Mirrors move_pages() for one page: the checks of move_pages() and
/// validate_move_areas(), then move_pages_ptes(). Returns 0 or the errno.
fn move_pages(s: &mut State, ctx: &mut Ctx, pid: usize, src: Page, dst: Page) -> i32 {
    let mm = &s.mms[pid];
    let (sv, dv) = (&mm.vmas[mm.vma_index(src).unwrap_or(0)], &mm.vmas[mm.vma_index(dst).unwrap_or(0)]);
    // validate_move_areas(): same access flags, and only between writable VMAs.
    if sv.write != dv.write || !sv.write {
        ctx.took(Branch::UffdMoveRefused);
        ctx.say(|| "validate_move_areas: both VMAs must be writable: EINVAL".into());
        return EINVAL;
    }
    loop {
        match move_pages_ptes(s, ctx, pid, src, dst) {
            Retry::Again => continue,
            Retry::Done(e) => {
                if e != 0 {
                    ctx.took(Branch::UffdMoveRefused);
                }
                return e;
            }
        }
    }
}

enum Retry {
    Again,
    Done(i32),
}

/// Mirrors move_pages_ptes(): the destination PTE must be none (EEXIST),
/// the source not none (ENOENT); the zero page moves as is
/// (move_zeropage_pte()); a present page must be PageAnonExclusive
/// (EBUSY: a page shared after fork, and every KSM page) and not pinned
/// (EBUSY, folio_maybe_dma_pinned()); a large folio
/// is split first (split_folio(), EBUSY when that fails) and the page
/// retried; a swap entry must carry the exclusive marker (EBUSY).
fn move_pages_ptes(s: &mut State, ctx: &mut Ctx, pid: usize, src: Page, dst: Page) -> Retry {
    if s.mms[pid].ptes[dst as usize] != Pte::None {
        ctx.say(|| format!("move_pages_ptes: destination page {dst} is not pte_none: EEXIST"));
        return Retry::Done(EEXIST);
    }
    match s.mms[pid].ptes[src as usize] {
        Pte::None => {
            ctx.say(|| format!("move_pages_ptes: source page {src} is pte_none: ENOENT"));
            Retry::Done(ENOENT)
        }
        Pte::Zero => {
            // move_zeropage_pte(): a clean special zero-page PTE at dst, src
            // cleared with ptep_clear_flush() and no
            // ksm_might_unmap_zero_page(): a KSM zero page's count stays
            // (findings/uffd-move-ksm-zero-pages-count.md, I48).
            s.mms[pid].ptes[src as usize] = Pte::None;
            crate::ksm_zero::clear(s, pid, src);
            crate::ksm_zero::clear(s, pid, dst);
            s.mms[pid].ptes[dst as usize] = Pte::Zero;
            ctx.took(Branch::UffdMoveZeroPage);
            ctx.say(|| format!("move_zeropage_pte: zero page moved from page {src} to {dst}"));
            Retry::Done(0)
        }
        Pte::Present { folio, sub, dirty, .. } => {
            let f = &s.folios[folio as usize];
            let exclusive = f.page_exclusive(sub) || ctx.cfg.mutant == Some(Mutant::UffdMoveIgnoresExclusive);
            if !f.mapping.is_anon() || !exclusive {
                ctx.say(|| format!("move_pages_ptes: F{folio} is not PageAnonExclusive: EBUSY"));
                return Retry::Done(EBUSY);
            }
            if f.large.is_some() {
                ctx.say(|| format!("move_pages_ptes: F{folio} is large: split_folio()"));
                return match crate::huge_memory::split_folio(s, ctx, folio, 0) {
                    Some(_) => Retry::Again,
                    None => Retry::Done(EBUSY),
                };
            }
            // move_present_ptes(): `folio_maybe_dma_pinned(src_folio) ||
            // !PageAnonExclusive()` is EBUSY: a pinned page stays at the
            // address its pinner uses (I44), and its anon_vma stays put.
            if s.folios[folio as usize].pincount > 0 {
                ctx.say(|| format!("move_present_ptes: F{folio} is maybe DMA-pinned: EBUSY"));
                return Retry::Done(EBUSY);
            }
            move_present_pte(s, ctx, pid, src, dst, folio, dirty);
            Retry::Done(0)
        }
        Pte::Swap { slot, exclusive } => {
            if !exclusive {
                ctx.say(|| format!("move_pages_ptes: swap entry S{slot} is not exclusive: EBUSY"));
                return Retry::Done(EBUSY);
            }
            if let Some(f) = s.swap[slot as usize].cache {
                if s.folios[f as usize].large.is_some() {
                    ctx.say(|| format!("move_pages_ptes: swap-cache F{f} is large: EBUSY"));
                    return Retry::Done(EBUSY);
                }
            }
            move_swap_pte(s, ctx, pid, src, dst, slot, exclusive);
            Retry::Done(0)
        }
    }
}

/// Mirrors move_present_ptes() for one page, under both PTE locks
/// (double_pt_lock(dst_ptl, src_ptl)) and the folio lock: the source PTE
/// is cleared, folio_move_anon_rmap() points `mapping` at the destination
/// VMA's anon_vma and `folio->index = linear_page_index(dst_vma,
/// dst_addr)`, so rmap_walk_anon() finds the page at its new place (I11,
/// I28); the destination PTE is writable (pte_mkwrite()) and dirty only if
/// the source PTE was (v6.14+, 75cb1cca2c88). Mapcount and refcount do not
/// change.
fn move_present_pte(s: &mut State, ctx: &mut Ctx, pid: usize, src: Page, dst: Page, folio: u8, dirty: bool) {
    let Some(vi) = s.mms[pid].vma_index(dst) else { return };
    let dst_vma = s.mms[pid].vmas[vi];
    s.mms[pid].ptes[src as usize] = Pte::None;
    if ctx.cfg.mutant != Some(Mutant::UffdMoveSkipsAnonRmap) {
        folio_move_anon_rmap(s, folio, &dst_vma);
    }
    if ctx.cfg.mutant != Some(Mutant::UffdMoveSkipsIndex) {
        s.folios[folio as usize].index = dst_vma.linear_page_index(dst);
    }
    s.mms[pid].ptes[dst as usize] = Pte::Present { folio, sub: 0, writable: true, dirty };
    ctx.took(Branch::UffdMovePresent);
    ctx.say(|| format!("move_present_ptes: F{folio} moved from page {src} to {dst}, folio_move_anon_rmap"));
}

/// Mirrors move_swap_pte(): the swap entry moves as is (it keeps its
/// exclusive marker); a folio in the swap cache for it gets the same
/// folio_move_anon_rmap() and index update, "where a swap-in may occur and
/// hit the swapcache after moving the PTE" (0ea148a79919, v6.15; without
/// it the swap-in maps a folio whose anon_vma and index are the source's).
fn move_swap_pte(s: &mut State, ctx: &mut Ctx, pid: usize, src: Page, dst: Page, slot: u8, exclusive: bool) {
    let Some(vi) = s.mms[pid].vma_index(dst) else { return };
    let dst_vma = s.mms[pid].vmas[vi];
    if let Some(f) = s.swap[slot as usize].cache {
        if s.folios[f as usize].freed {
            oops(s, OopsKind::UseAfterFree, format!("move_swap_pte: swap-cache F{f} is freed"));
            return;
        }
        folio_move_anon_rmap(s, f, &dst_vma);
        s.folios[f as usize].index = dst_vma.linear_page_index(dst);
    }
    s.mms[pid].ptes[src as usize] = Pte::None;
    s.mms[pid].ptes[dst as usize] = Pte::Swap { slot, exclusive };
    ctx.took(Branch::UffdMoveSwap);
    ctx.say(|| format!("move_swap_pte: swap entry S{slot} moved from page {src} to {dst}"));
}
