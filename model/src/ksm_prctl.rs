//! prctl(PR_SET_MEMORY_MERGE) (mm/ksm.c, kernel/sys.c, v6.4+): KSM for a
//! whole process instead of madvise(MADV_MERGEABLE) per range. Read as in
//! mm/ksm.c of v6.18 (docs/kernel/ksm.md §8).

use crate::ctx::Ctx;
use crate::ksm::unmerge_ksm_pages;
use crate::state::{State, Vma};

/// Mirrors vma_ksm_compatible() for the modelled VMAs: everything but
/// VM_SHARED (a private file mapping is compatible: its COW copies are
/// anonymous pages).
pub fn vma_ksm_compatible(v: &Vma) -> bool {
    !v.shared
}

/// prctl(PR_SET_MEMORY_MERGE, on): ksm_enable_merge_any() or
/// ksm_disable_merge_any(). Setting a flag that is already set (or
/// clearing a clear one) does nothing.
pub fn prctl_set_memory_merge(s: &mut State, ctx: &mut Ctx, pid: usize, on: bool) {
    if s.mms[pid].merge_any == on {
        return;
    }
    if on {
        ksm_enable_merge_any(s, ctx, pid);
    } else {
        ksm_disable_merge_any(s, ctx, pid);
    }
}

/// Mirrors ksm_enable_merge_any(): __ksm_enter() if needed, set
/// MMF_VM_MERGE_ANY, then ksm_add_vmas(): ksm_add_vma() sets VM_MERGEABLE
/// on each compatible VMA with vm_flags_set(), in place: no VMA is split
/// or merged (so two neighbours may now differ in VM_MERGEABLE only and
/// stay apart, as they would after an mprotect() that changed nothing).
fn ksm_enable_merge_any(s: &mut State, ctx: &mut Ctx, pid: usize) {
    let mm = &mut s.mms[pid];
    mm.merge_any = true;
    for v in mm.vmas.iter_mut().filter(|v| vma_ksm_compatible(v)) {
        v.mergeable = true;
    }
    ctx.say(|| format!("ksm_enable_merge_any: P{pid} MMF_VM_MERGE_ANY, every compatible VMA VM_MERGEABLE"));
}

/// Mirrors ksm_disable_merge_any(): ksm_del_vmas() runs __ksm_del_vma()
/// on every VMA: for a VM_MERGEABLE one with an anon_vma,
/// unmerge_ksm_pages() over the whole VMA (break_ksm() on every KSM page),
/// then vm_flags_clear(VM_MERGEABLE) in place; then MMF_VM_MERGE_ANY is
/// cleared. VMAs made VM_MERGEABLE by madvise() lose it too.
fn ksm_disable_merge_any(s: &mut State, ctx: &mut Ctx, pid: usize) {
    for vi in 0..s.mms[pid].vmas.len() {
        let v = &s.mms[pid].vmas[vi];
        if !v.mergeable {
            continue;
        }
        let (start, end) = (v.start, v.end);
        unmerge_ksm_pages(s, ctx, pid, vi, start, end);
        s.mms[pid].vmas[vi].mergeable = false;
    }
    s.mms[pid].merge_any = false;
    ctx.say(|| format!("ksm_disable_merge_any: P{pid} unmerged, MMF_VM_MERGE_ANY cleared"));
}
