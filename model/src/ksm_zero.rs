//! KSM zero pages (mm/ksm.c, `use_zero_pages`): with the knob set, ksmd
//! maps a zero-filled page of a VM_MERGEABLE VMA to the shared zero page
//! instead of merging it with other pages, and counts it in
//! `mm->ksm_zero_pages` (the global `ksm_zero_pages` too: derived in
//! [`crate::ksm_counters`]).
//! The page table marks such a PTE (dirty and special: is_ksm_zero_pte());
//! zapping it or copying on write counts it out
//! (ksm_might_unmap_zero_page()). I48 checks that the count and the page
//! table agree. See docs/kernel/ksm.md §8.

use crate::config::{Config, Mutant};
use crate::ctx::{Branch, Ctx};
use crate::ksm::{remove_rmap_item_from_tree, write_protect_page};
use crate::rmap::folio_remove_rmap_and_put;
use crate::state::{Page, Pid, Pte, State};
use crate::swapfile::free_swap_cache;

/// Whether `pid`'s PTE at `page` is a KSM zero page.
pub fn is_ksm_zero(s: &State, pid: usize, page: Page) -> bool {
    let mm = &s.mms[pid];
    mm.ptes[page as usize] == Pte::Zero && mm.ksm_zero & 1 << page != 0
}

/// The zero-page PTE at `page` becomes (or stays) an ordinary one.
pub fn clear(s: &mut State, pid: usize, page: Page) {
    s.mms[pid].ksm_zero &= !(1 << page);
}

/// Mirrors ksm_might_unmap_zero_page(): if the PTE about to go is a KSM
/// zero page, `mm->ksm_zero_pages--` (and the global count).
pub fn ksm_might_unmap_zero_page(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page) {
    if !is_ksm_zero(s, pid, page) {
        return;
    }
    clear(s, pid, page);
    if ctx.cfg.mutant == Some(Mutant::KsmZeroUnmapUncounted) {
        return;
    }
    let mm = &mut s.mms[pid];
    mm.ksm_zero_pages = mm.ksm_zero_pages.wrapping_sub(1);
    ctx.say(|| format!("ksm_might_unmap_zero_page: P{pid} page {page} was a KSM zero page"));
}

/// Whether `ksmd merge P A zero` can happen: `use_zero_pages`, and the
/// page a present anon page of a VM_MERGEABLE VMA (with an anon_vma), not
/// a KSM page, order 0, not held by reclaim, swap-backed, and zero-filled
/// (the checksum equals `zero_checksum`).
pub fn zero_merge_allowed(cfg: &Config, s: &State, pid: Pid, page: Page) -> Result<(), String> {
    if !cfg.use_zero_pages {
        return Err("use_zero_pages is off: ksmd merges zero-filled pages like any other".into());
    }
    // get_mergeable_page()'s conditions, as for any merge (ksm.rs).
    let folio = crate::ksm::mergeable_page(s, pid as usize, page)?;
    let f = &s.folios[folio as usize];
    if f.mapping.stable_node().is_some() || f.large.is_some() {
        return Err(format!("P{pid} page {page}: F{folio} is not a plain order-0 anon page"));
    }
    if s.reads(pid as usize, page) != 0 {
        return Err(format!("P{pid} page {page} is not zero-filled"));
    }
    Ok(())
}

/// Mirrors try_to_merge_with_zero_page(): cmp_and_merge_page() removes the
/// page's old rmap_item first; try_to_merge_one_page(vma, page,
/// ZERO_PAGE(addr)) write-protects the page (write_protect_page()) and
/// replace_page() maps the zero page with `pte_mkdirty(pte_mkspecial())`,
/// ksm_map_zero_page() counting it, and drops the old page.
pub fn try_to_merge_with_zero_page(s: &mut State, ctx: &mut Ctx, pid: Pid, page: Page) -> Result<(), String> {
    zero_merge_allowed(ctx.cfg, s, pid, page)?;
    remove_rmap_item_from_tree(s, ctx, pid, page);
    let p = pid as usize;
    let Pte::Present { folio, .. } = s.mms[p].ptes[page as usize] else { unreachable!("checked") };
    write_protect_page(s, ctx, p, page, folio)?;
    s.mms[p].ptes[page as usize] = Pte::Zero;
    s.mms[p].ksm_zero |= 1 << page;
    s.mms[p].ksm_zero_pages = s.mms[p].ksm_zero_pages.wrapping_add(1);
    folio_remove_rmap_and_put(s, ctx, folio);
    free_swap_cache(s, ctx, folio);
    ctx.took(Branch::KsmZeroPage);
    ctx.say(|| format!("try_to_merge_with_zero_page: P{pid} page {page} now maps the KSM zero page, F{folio} dropped"));
    Ok(())
}
