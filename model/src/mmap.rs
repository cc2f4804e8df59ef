//! Address-space operations: mmap, munmap, fork, exit (mm/mmap.c, mm/vma.c,
//! kernel/fork.c).

use crate::ctx::Ctx;
use crate::memory::{copy_pte_range, zap_pte_range};
use crate::rmap::{anon_vma_fork, unlink_anon_vmas};
use crate::state::{Mm, Page, Pid, State, Vma};
use crate::vma::{split_vma, vma_merge_new_range, Vmg};

/// Mirrors do_mmap() -> __mmap_region() for `MAP_PRIVATE|MAP_ANONYMOUS|
/// MAP_FIXED_NOREPLACE`: vma_merge_new_range() first tries to extend a
/// neighbour with the same flags (the new range has no anon_vma, so a
/// faulted neighbour qualifies only if it is not a fork child); otherwise a
/// new unfaulted VMA with `vm_pgoff = addr >> PAGE_SHIFT`. A private
/// writable mapping is VM_ACCOUNT (accountable_mapping()).
pub fn do_mmap(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8, write: bool) -> Result<(), String> {
    let end = check_range(s, start, len)?;
    if s.mms[pid].overlaps(start, end) {
        return Err(format!("pages {start}..{end} overlap an existing VMA (MAP_FIXED_NOREPLACE fails with EEXIST)"));
    }
    let vmg = Vmg {
        start,
        end,
        pgoff: start,
        write,
        account: write,
        // ksm_vma_flags(): MMF_VM_MERGE_ANY gives a new VMA VM_MERGEABLE
        // before the merge is tried.
        mergeable: s.mms[pid].merge_any,
        anon_vma: None,
        middle: None,
        copied_from: None,
        file: None,
        shared: false,
    };
    if mmap_region(s, ctx, pid, &vmg, true) {
        ctx.say(|| format!("mmap_region: new VMA {start}..{end} pgoff={start}"));
    }
    for p in start..end {
        s.mms[pid].ghost[p as usize] = Some(0);
    }
    Ok(())
}

/// Mirrors __mmap_region() after the checks: vma_merge_new_range()
/// extends a neighbour when `merge` allows it, else a new VMA with the
/// range's flags (no anon_vma yet) is inserted in address order. `true`
/// when a new VMA was inserted.
pub(crate) fn mmap_region(s: &mut State, ctx: &mut Ctx, pid: usize, vmg: &Vmg, merge: bool) -> bool {
    if merge && vma_merge_new_range(s, ctx, pid, vmg).is_some() {
        return false;
    }
    let mm = &mut s.mms[pid];
    let at = mm.vmas.partition_point(|v| v.start < vmg.start);
    let vma = Vma {
        start: vmg.start,
        end: vmg.end,
        pgoff: vmg.pgoff,
        write: vmg.write,
        mergeable: vmg.mergeable,
        account: vmg.account,
        anon_vma: None,
        chain: Default::default(),
        file: vmg.file,
        shared: vmg.shared,
    };
    mm.vmas.insert(at, vma);
    true
}

pub(crate) fn check_range(s: &State, start: Page, len: u8) -> Result<Page, String> {
    let end = start as u16 + len as u16;
    if len == 0 {
        return Err("length 0: the call fails with EINVAL".into());
    }
    if end > s.pages() as u16 {
        return Err(format!("pages {start}..{end} leave the {}-page address window", s.pages()));
    }
    Ok(end as Page)
}

/// Mirrors do_vmi_align_munmap(): split the VMAs that straddle the edges
/// (vms_gather_munmap_vmas), zap every PTE in the range (unmap_vmas), then
/// free_pgtables() unlinks each VMA from its anon_vmas (unlink_anon_vmas),
/// and remove_vma() frees it. Unmapping a range with no VMA succeeds and
/// does nothing.
pub fn do_munmap(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8) -> Result<(), String> {
    let end = check_range(s, start, len)?;
    if let Some(vi) = s.mms[pid].vmas.iter().position(|v| v.start < start && start < v.end) {
        split_vma(s, ctx, pid, vi, start, true);
    }
    if let Some(vi) = s.mms[pid].vmas.iter().position(|v| v.start < end && end < v.end) {
        split_vma(s, ctx, pid, vi, end, false);
    }
    zap_pte_range(s, ctx, pid, start, end);
    // free_pgtables(): each VMA leaves the trees while the others still sit
    // in them, in address order.
    while let Some(vi) = s.mms[pid].vmas.iter().position(|v| start <= v.start && v.end <= end) {
        let mut vma = s.mms[pid].vmas.remove(vi);
        unlink_anon_vmas(s, ctx, pid, &mut vma);
    }
    for p in start..end {
        s.mms[pid].ghost[p as usize] = None;
    }
    crate::ksm::rmap_items_unmapped(s, pid, start, end);
    crate::shmem::release_unmapped_objects(s, ctx)
}

/// Mirrors dup_mmap(): the child gets a copy of every VMA (with its
/// `vm_file`, get_file()); a faulted one goes through anon_vma_fork() and
/// copy_page_range(). vma_needs_copy() is true only with an anon_vma
/// ("an anonymous VMA has page tables which naturally cannot be
/// reconstituted on page fault"), so an unfaulted anonymous VMA, a
/// private file VMA that never COWed and every shared VMA are not copied:
/// the child faults their pages in again. Returns the child's pid.
pub fn dup_mmap(s: &mut State, ctx: &mut Ctx, parent: usize) -> Result<Pid, String> {
    if s.mms.len() >= ctx.cfg.procs as usize {
        return Err(format!("fork would create P{}, beyond the bound of {} processes", s.mms.len(), ctx.cfg.procs));
    }
    let child = s.mms.len();
    ctx.say(|| format!("-> P{child}"));
    s.mms.push(Mm::new(s.pages()));
    s.mms[child].ghost = s.mms[parent].ghost;
    // MMF_INIT_MASK keeps MMF_VM_MERGE_ANY for the child (mm_init()).
    s.mms[child].merge_any = s.mms[parent].merge_any;
    // dup_mm() copies the mm, mm->ksm_zero_pages included: the child
    // starts with the parent's count (ksm_fork() adds it to the global
    // one), whatever its page table will hold.
    s.mms[child].ksm_zero_pages = s.mms[parent].ksm_zero_pages;
    for vi in 0..s.mms[parent].vmas.len() {
        let pvma = s.mms[parent].vmas[vi];
        let mut vma = Vma { anon_vma: None, chain: Default::default(), ..pvma };
        anon_vma_fork(s, ctx, &mut vma, &pvma);
        s.mms[child].vmas.push(vma);
        if pvma.anon_vma.is_some() {
            copy_pte_range(s, ctx, parent, child, pvma.start, pvma.end);
        }
    }
    Ok(child as Pid)
}

/// Mirrors exit_mmap(): unmap_vmas() over the whole address space first,
/// then free_pgtables() unlinks every VMA, then remove_vma() frees them.
/// All PTEs are gone before any VMA leaves an anon_vma tree.
pub fn exit_mmap(s: &mut State, ctx: &mut Ctx, pid: usize) -> Result<(), String> {
    let pages = s.pages();
    zap_pte_range(s, ctx, pid, 0, pages);
    while !s.mms[pid].vmas.is_empty() {
        let mut vma = s.mms[pid].vmas.remove(0);
        unlink_anon_vmas(s, ctx, pid, &mut vma);
    }
    // exit_files() after exit_mm(): the io_uring ring drops its pins.
    crate::gup::exit_pins(s, ctx, pid);
    let mm = &mut s.mms[pid];
    mm.alive = false;
    mm.ghost.iter_mut().for_each(|g| *g = None);
    ctx.say(|| format!("exit_mmap: P{pid} gone"));
    crate::shmem::release_unmapped_objects(s, ctx)
}
