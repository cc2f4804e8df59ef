//! mremap() moving a range (mm/mremap.c): copy the VMA to the new place
//! (merging it into a neighbour when the rules allow), move the page
//! tables, then unmap the source or, with MREMAP_DONTUNMAP, keep it empty.

use crate::ctx::{oops, Branch, Ctx};
use crate::mmap::{check_range, do_munmap};
use crate::rmap::{anon_vma_clone, unlink_anon_vmas};
use crate::state::{OopsKind, Page, Pte, State, Vma};
use crate::vma::{vma_merge_new_range, Vmg};

/// Mirrors do_mremap() with `MREMAP_MAYMOVE|MREMAP_FIXED` (and optionally
/// `MREMAP_DONTUNMAP`), old length equal to new length: the ranges must
/// not overlap (-EINVAL), the source must lie in one VMA (-EFAULT), the
/// destination is unmapped first (mremap_to() -> do_munmap()), then
/// move_vma().
#[allow(clippy::too_many_arguments)]
pub fn do_mremap(
    s: &mut State,
    ctx: &mut Ctx,
    pid: usize,
    start: Page,
    len: u8,
    to: Page,
    dontunmap: bool,
) -> Result<(), String> {
    let end = check_range(s, start, len)?;
    let to_end = check_range(s, to, len)?;
    if start < to_end && to < end {
        return Err(format!("pages {start}..{end} and {to}..{to_end} overlap: mremap fails with EINVAL"));
    }
    let covered = |s: &State| s.mms[pid].vma_index(start).is_some_and(|vi| s.mms[pid].vmas[vi].end >= end);
    if !covered(s) {
        return Err(format!("pages {start}..{end} are not inside one VMA: mremap fails with EFAULT"));
    }
    do_munmap(s, ctx, pid, to, len)?;
    move_vma(s, ctx, pid, start, len, to, dontunmap);
    Ok(())
}

/// Mirrors move_vma(): prep_move_vma() first breaks every KSM page in a
/// VM_MERGEABLE source range (ksm_madvise(MADV_UNMERGEABLE) on a copy of
/// the flags, so the VMA stays VM_MERGEABLE: "it would be confusing if
/// they were to turn up at the new address"; rmap_walk_ksm() finds a KSM
/// page only at its rmap_item's address), then copy_vma() at the
/// destination with the source's pgoff, move_page_tables(), then
/// dontunmap_complete() or unmap_source_vma() (do_munmap() of the source
/// range).
fn move_vma(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8, to: Page, dontunmap: bool) {
    let vi = s.mms[pid].vma_index(start).expect("checked by do_mremap");
    if s.mms[pid].vmas[vi].mergeable {
        crate::ksm::unmerge_ksm_pages(s, ctx, pid, vi, start, start + len);
    }
    let vma = s.mms[pid].vmas[vi];
    let new_pgoff = vma.pgoff + (start - vma.start);
    let self_merged = copy_vma(s, ctx, pid, &vma, to, len, new_pgoff);
    move_page_tables(s, pid, start, to, len);
    if dontunmap {
        dontunmap_complete(s, ctx, pid, start, len, self_merged);
    } else {
        do_munmap(s, ctx, pid, start, len).expect("the source range is inside the window");
    }
}

/// Mirrors copy_vma(&vma, addr, len, pgoff): an unfaulted anonymous VMA
/// takes `pgoff = addr >> PAGE_SHIFT` ("to increase its chance of
/// merging"; safe because no page carries an index yet), a faulted one
/// keeps its pgoff so the moved folios' indices stay linear. Then
/// vma_merge_copied_range() (v6.18: `vmg->copied_from = vma`; v5.19:
/// vma_merge() with the source's anon_vma), and if nothing merges a new
/// VMA with an exact clone of the chain (anon_vma_clone(), VMA_OP_REMAP).
/// Returns whether the source itself was merged into the new VMA, which
/// the kernel allows only for an unfaulted source (VM_BUG_ON_VMA).
fn copy_vma(s: &mut State, ctx: &mut Ctx, pid: usize, vma: &Vma, to: Page, len: u8, pgoff: u8) -> bool {
    let faulted = vma.anon_vma.is_some();
    // "If anonymous vma has not yet been faulted, update new pgoff to
    // match new location": only vma_is_anonymous(); a file VMA's pgoff is
    // a file offset and moves with it.
    let reset_file = ctx.cfg.mutant == Some(crate::Mutant::MremapResetsFilePgoff);
    let pgoff = if faulted || (!vma.is_anonymous() && !reset_file) { pgoff } else { to };
    let copied_from = (!ctx.degree_era()).then_some(*vma);
    let vmg = Vmg {
        start: to,
        end: to + len,
        pgoff,
        write: vma.write,
        account: vma.account,
        mergeable: vma.mergeable,
        anon_vma: vma.anon_vma,
        middle: None,
        copied_from,
        file: vma.file,
        shared: vma.shared,
    };
    if let Some(t) = vma_merge_new_range(s, ctx, pid, &vmg) {
        let new = &s.mms[pid].vmas[s.mms[pid].vma_index(t).expect("merged VMA")];
        let self_merged = new.start <= vma.start && vma.start < new.end;
        if self_merged && (faulted || !vma.is_anonymous()) {
            oops(s, OopsKind::Bug, "VM_BUG_ON_VMA(faulted_in_anon_vma, new_vma) in copy_vma".into());
        }
        return self_merged;
    }
    let mut new = Vma {
        start: to,
        end: to + len,
        pgoff,
        write: vma.write,
        account: vma.account,
        mergeable: vma.mergeable,
        anon_vma: vma.anon_vma,
        chain: Default::default(),
        file: vma.file,
        shared: vma.shared,
    };
    anon_vma_clone(s, ctx, &mut new, vma);
    let mm = &mut s.mms[pid];
    let at = mm.vmas.partition_point(|v| v.start < to);
    mm.vmas.insert(at, new);
    ctx.took(Branch::CopyVmaClone);
    ctx.say(|| format!("copy_vma: new VMA {to}..{} pgoff={pgoff}, chain cloned", to + len));
    false
}

/// Mirrors move_page_tables() -> move_ptes(): each PTE moves to the same
/// offset in the destination with its folio, which keeps `mapping` and
/// `index` (the new VMA is on the same anon_vmas with the same pgoff base).
/// The ghost memory moves with it.
fn move_page_tables(s: &mut State, pid: usize, start: Page, to: Page, len: u8) {
    let mm = &mut s.mms[pid];
    for i in 0..len {
        let (from, dst) = ((start + i) as usize, (to + i) as usize);
        mm.ptes[dst] = std::mem::replace(&mut mm.ptes[from], Pte::None);
        mm.ghost[dst] = mm.ghost[from];
        // move_ptes() moves the PTE as it is: a KSM zero page stays one.
        let bit = (mm.ksm_zero >> from) & 1;
        mm.ksm_zero = (mm.ksm_zero & !(1 << dst) & !(1 << from)) | bit << dst;
    }
    crate::gup::pins_move(s, pid, start, to, len);
}

/// Mirrors dontunmap_complete(): the source VMA stays mapped (a load now
/// reads zero); if the whole VMA was moved and it was not merged into the
/// new one, its anon_vma links "are no longer needed after its page table
/// has been moved" and unlink_anon_vmas() drops them, leaving it unfaulted.
fn dontunmap_complete(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8, self_merged: bool) {
    let file_backed = s.mms[pid].vma_index(start).is_some_and(|vi| s.mms[pid].vmas[vi].file.is_some());
    for p in start..start + len {
        s.mms[pid].ghost[p as usize] = Some(if file_backed { crate::state::GHOST_FILE } else { 0 });
    }
    let vi = s.mms[pid].vma_index(start).expect("DONTUNMAP keeps the source VMA");
    let old = &s.mms[pid].vmas[vi];
    if self_merged || old.start != start || old.end != start + len {
        return;
    }
    let mut old = s.mms[pid].vmas.remove(vi);
    unlink_anon_vmas(s, ctx, pid, &mut old);
    s.mms[pid].vmas.insert(vi, old);
    ctx.took(Branch::DontunmapUnlink);
    ctx.say(|| format!("dontunmap_complete: VMA {start}..{} unlinked from its anon_vmas", start + len));
}
