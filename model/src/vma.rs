//! Splitting and merging VMAs (mm/vma.c): when two VMAs may become one, and
//! what happens to their anon_vma state when they do.
//!
//! The merge rules are where anon rmap is most fragile: a merge hands the
//! pages of one VMA to another, and rmap only finds them afterwards if the
//! survivor is linked to every anon_vma those pages point at. The kernel
//! guarantees that by allowing a merge only when both VMAs share their
//! anon_vma (and then, by I9, their chain), or when one side is unfaulted
//! and receives an exact copy of the other's chain (dup_anon_vma()).
//! [`check_absorb`] verifies exactly that at every merge (I27).

use crate::config::Mutant;
use crate::ctx::{oops, Branch, Ctx};
use crate::rmap::{anon_vma_clone, unlink_anon_vmas};
use crate::state::{AvId, OopsKind, Page, State, Vma};

/// Mirrors __split_vma(vmi, vma, addr, new_below): vm_area_dup() copies
/// `anon_vma`, the new part's range and pgoff are set, anon_vma_clone()
/// gives it an exact copy of the chain (and one more `num_active_vmas`),
/// and the original shrinks. Both halves share `anon_vma` and chain.
pub fn split_vma(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, at: Page, new_below: bool) {
    let vma = s.mms[pid].vmas[vi];
    let mut new = Vma { chain: Default::default(), ..vma };
    if new_below {
        new.end = at;
    } else {
        new.start = at;
        new.pgoff = vma.pgoff + (at - vma.start);
    }
    anon_vma_clone(s, ctx, &mut new, &vma);
    let old = &mut s.mms[pid].vmas[vi];
    if new_below {
        old.pgoff += at - old.start;
        old.start = at;
        s.mms[pid].vmas.insert(vi, new);
    } else {
        old.end = at;
        s.mms[pid].vmas.insert(vi + 1, new);
    }
    ctx.took(Branch::SplitVma);
    ctx.say(|| format!("__split_vma at page {at}"));
}

/// The parts of `struct vma_merge_struct` that matter to anon rmap.
#[derive(Clone, Debug)]
pub struct Vmg {
    /// Proposed range start.
    pub start: Page,
    /// Proposed range end.
    pub end: Page,
    /// vm_pgoff the range would have.
    pub pgoff: u8,
    /// VM_WRITE of the range (the flags is_mergeable_vma() compares).
    pub write: bool,
    /// VM_ACCOUNT of the range, compared like VM_WRITE.
    pub account: bool,
    /// VM_MERGEABLE of the range, compared like VM_WRITE.
    pub mergeable: bool,
    /// `vmg->anon_vma`: of the VMA being modified or copied, NULL for mmap.
    pub anon_vma: Option<AvId>,
    /// `vmg->middle`: the existing VMA whose range is modified (mprotect).
    pub middle: Option<Vma>,
    /// `vmg->copied_from`: the VMA mremap() copies from.
    pub copied_from: Option<Vma>,
    /// `vmg->file`: the `vm_file` of the range (`None` for anonymous memory).
    pub file: Option<crate::address_space::FileId>,
    /// VM_SHARED of the range, compared like VM_WRITE.
    pub shared: bool,
}

/// Mirrors vma_is_fork_child() (formerly vma_had_uncowed_parents()): a
/// faulted VMA whose chain is not singular was cloned from a parent.
pub fn vma_is_fork_child(v: &Vma) -> bool {
    v.anon_vma.is_some() && v.chain.len() != 1
}

/// Mirrors is_mergeable_anon_vma() for merging the proposed range into
/// `tgt`.
fn is_mergeable_anon_vma(ctx: &Ctx, vmg: &Vmg, tgt: &Vma) -> bool {
    let (src_anon, tgt_anon) = (vmg.anon_vma, tgt.anon_vma);
    if ctx.degree_era() {
        // v5.19: `if ((!anon_vma1 || !anon_vma2) && (!vma ||
        // list_is_singular(&vma->anon_vma_chain))) return 1; return
        // anon_vma1 == anon_vma2;` with vma = the neighbour. An unfaulted
        // neighbour has an empty (not singular) chain, so a faulted range
        // never merges into an unfaulted VMA.
        if (src_anon.is_none() || tgt_anon.is_none()) && tgt.chain.len() == 1 {
            return true;
        }
        return src_anon == tgt_anon;
    }
    // v6.18 (879bca0a2c4f and the copied_from fix): three cases.
    match (tgt_anon, src_anon) {
        // Case 1: dup_anon_vma() will copy src into tgt, unless src (or the
        // VMA mremap copies from) is a fork child.
        (None, Some(_)) => {
            let copied_from = if ctx.cfg.mutant == Some(Mutant::MremapMergeSkipsCopiedFrom) {
                None
            } else {
                vmg.copied_from.as_ref()
            };
            !vmg.middle.as_ref().is_some_and(vma_is_fork_child) && !copied_from.is_some_and(vma_is_fork_child)
        }
        // Case 2: the range simply joins tgt's anon_vma.
        (Some(_), None) => !vma_is_fork_child(tgt),
        // Case 3: both faulted, only if already shared.
        _ => src_anon == tgt_anon,
    }
}

/// Mirrors is_mergeable_vma() for what the model has: the flags (VM_WRITE,
/// VM_ACCOUNT, VM_MERGEABLE, VM_SHARED) must be equal and `vm_file` the
/// same ("if (vma->vm_file != vmg->file) return false"); no mempolicy,
/// uffd or anon name.
fn is_mergeable_vma(vmg: &Vmg, v: &Vma) -> bool {
    v.write == vmg.write
        && v.account == vmg.account
        && v.mergeable == vmg.mergeable
        && v.shared == vmg.shared
        && v.file == vmg.file
}

/// Mirrors can_vma_merge_after(): the range may extend `prev` upwards.
fn can_vma_merge_after(ctx: &Ctx, vmg: &Vmg, prev: &Vma) -> bool {
    is_mergeable_vma(vmg, prev) && is_mergeable_anon_vma(ctx, vmg, prev) && prev.pgoff + prev.pages() == vmg.pgoff
}

/// Mirrors can_vma_merge_before(): `next` may extend downwards over the range.
fn can_vma_merge_before(ctx: &Ctx, vmg: &Vmg, next: &Vma) -> bool {
    is_mergeable_vma(vmg, next)
        && is_mergeable_anon_vma(ctx, vmg, next)
        && next.pgoff == vmg.pgoff + (vmg.end - vmg.start)
}

/// Mirrors can_vma_merge_left().
fn can_vma_merge_left(ctx: &Ctx, vmg: &Vmg, prev: Option<&Vma>) -> bool {
    prev.is_some_and(|p| p.end == vmg.start && can_vma_merge_after(ctx, vmg, p))
}

/// Mirrors can_vma_merge_right(): when merging both sides, prev and next
/// must also be compatible with each other: one of them unfaulted, or the
/// same anon_vma (the test v6.18 makes inline at its end since 879bca0a2c4f
/// "mm/vma: fix incorrectly disallowed anonymous VMA merges"; before it,
/// are_anon_vmas_compatible()).
fn can_vma_merge_right(ctx: &Ctx, vmg: &Vmg, prev: Option<&Vma>, next: Option<&Vma>, left: bool) -> bool {
    let Some(next) = next else { return false };
    if vmg.end != next.start || !can_vma_merge_before(ctx, vmg, next) {
        return false;
    }
    // Each side being compatible with the range does not make prev and
    // next compatible with each other: joining two anon_vmas would leave
    // one side's folios mapped in a VMA outside their anon_vma's tree
    // (rmap_complete).
    let prev = prev.filter(|_| left && ctx.cfg.mutant != Some(Mutant::MergeBothIgnoresAnonVmas));
    prev.is_none_or(|p| p.anon_vma.is_none() || next.anon_vma.is_none() || p.anon_vma == next.anon_vma)
}

/// Index of the last VMA ending at or before `start` (find_vma_prev()).
fn prev_index(s: &State, pid: usize, start: Page) -> Option<usize> {
    s.mms[pid].vmas.iter().rposition(|v| v.end <= start)
}

/// Index of the first VMA starting at or after `end` (vma_next()).
fn next_index(s: &State, pid: usize, end: Page) -> Option<usize> {
    s.mms[pid].vmas.iter().position(|v| v.start >= end)
}

/// Index of the VMA that starts at `start`.
fn at(s: &State, pid: usize, start: Page) -> usize {
    s.mms[pid].vmas.iter().position(|v| v.start == start).expect("VMA looked up by its own start")
}

/// Mirrors dup_anon_vma(dst, src): an unfaulted target that absorbs a
/// faulted range takes its anon_vma and an exact copy of its chain
/// (anon_vma_clone(), VMA_OP_MERGE_UNFAULTED). `dst` is the target's start.
fn dup_anon_vma(s: &mut State, ctx: &mut Ctx, pid: usize, dst: Page, src: &Vma) {
    let di = at(s, pid, dst);
    if src.anon_vma.is_some() && s.mms[pid].vmas[di].anon_vma.is_none() {
        let mut d = s.mms[pid].vmas[di];
        d.anon_vma = src.anon_vma;
        anon_vma_clone(s, ctx, &mut d, src);
        s.mms[pid].vmas[di] = d;
        ctx.took(Branch::DupAnonVma);
        ctx.say(|| format!("dup_anon_vma: VMA at {dst} takes AV{} and its chain", src.anon_vma.unwrap_or(0)));
    }
}

/// I27, checked when a merge hands the pages of `from` to the VMA starting
/// at `to`: if `from` was faulted the survivor must carry the same
/// anon_vma and the same set of anon_vmas on its chain, or rmap walks from
/// those pages' `folio->mapping` no longer find them.
fn check_absorb(s: &mut State, pid: usize, to: Page, from: &Vma) {
    let Some(av) = from.anon_vma else { return };
    let t = &s.mms[pid].vmas[at(s, pid, to)];
    let mut a: Vec<AvId> = t.chain.to_vec();
    let mut b: Vec<AvId> = from.chain.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    if t.anon_vma != Some(av) || a != b {
        let what = format!(
            "merge gives the pages of VMA {}..{} (AV{av}, chain {:?}) to VMA {}..{} ({}, chain {:?})",
            from.start,
            from.end,
            from.chain,
            t.start,
            t.end,
            t.anon_vma.map_or("no anon_vma".to_string(), |x| format!("AV{x}")),
            t.chain
        );
        oops(s, OopsKind::MergeIncompatible, what);
    }
}

/// Mirrors anon_vma_merge(vma, next) as vma_complete() calls it for a VMA a
/// merge removed: `VM_BUG_ON_VMA(vma->anon_vma != next->anon_vma)`, then
/// unlink_anon_vmas(next). The removed VMA is already out of the mm.
fn remove_merged(s: &mut State, ctx: &mut Ctx, pid: usize, survivor: Page, mut removed: Vma) {
    if removed.anon_vma.is_none() {
        return;
    }
    let keep = s.mms[pid].vmas[at(s, pid, survivor)].anon_vma;
    if keep != removed.anon_vma {
        oops(
            s,
            OopsKind::Bug,
            format!("VM_BUG_ON_VMA(vma->anon_vma != next->anon_vma) in anon_vma_merge at page {survivor}"),
        );
    }
    ctx.took(Branch::AnonVmaMerge);
    unlink_anon_vmas(s, ctx, pid, &mut removed);
}

/// Takes the VMA starting at `start` out of the mm.
fn detach(s: &mut State, pid: usize, start: Page) -> Vma {
    let i = at(s, pid, start);
    s.mms[pid].vmas.remove(i)
}

/// Mirrors vma_merge_existing_range() for mprotect: the range
/// `vmg.start..vmg.end` of `vmg.middle` gets new flags; if a neighbour
/// already has them it absorbs the range (and the whole middle if the
/// range spans it). Returns the start of the VMA now covering the range,
/// or `None` when no merge is possible (vma_modify() then splits).
pub fn vma_merge_existing_range(s: &mut State, ctx: &mut Ctx, pid: usize, vmg: &Vmg) -> Option<Page> {
    let middle = vmg.middle.expect("vma_merge_existing_range needs vmg->middle");
    let left_side = vmg.start == middle.start;
    let right_side = vmg.end == middle.end;
    if !left_side && !right_side {
        return None;
    }
    let prev = prev_index(s, pid, middle.start).map(|i| s.mms[pid].vmas[i]);
    let next = next_index(s, pid, middle.end).map(|i| s.mms[pid].vmas[i]);
    let merge_left = left_side && can_vma_merge_left(ctx, vmg, prev.as_ref());
    let merge_right = right_side && can_vma_merge_right(ctx, vmg, prev.as_ref(), next.as_ref(), merge_left);
    if !merge_left && !merge_right {
        return None;
    }
    let remove_middle = left_side && right_side;
    ctx.took(Branch::MergeExisting);
    if merge_left && merge_right {
        // prev extend, middle delete, next delete.
        let (prev, next) = (prev.unwrap(), next.unwrap());
        dup_anon_vma(s, ctx, pid, prev.start, if next.anon_vma.is_some() { &next } else { &middle });
        check_absorb(s, pid, prev.start, &middle);
        check_absorb(s, pid, prev.start, &next);
        let m = detach(s, pid, middle.start);
        let n = detach(s, pid, next.start);
        let pi = at(s, pid, prev.start);
        s.mms[pid].vmas[pi].end = next.end;
        ctx.say(|| {
            format!(
                "vma_merge_existing_range: VMA {}..{} absorbs {}..{} and {}..{}",
                prev.start, prev.end, m.start, m.end, n.start, n.end
            )
        });
        remove_merged(s, ctx, pid, prev.start, m);
        remove_merged(s, ctx, pid, prev.start, n);
        Some(prev.start)
    } else if merge_left {
        // prev extend, middle shrink or delete.
        let prev = prev.unwrap();
        dup_anon_vma(s, ctx, pid, prev.start, &middle);
        check_absorb(s, pid, prev.start, &middle);
        let removed = if remove_middle {
            Some(detach(s, pid, middle.start))
        } else {
            let mi = at(s, pid, middle.start);
            let m = &mut s.mms[pid].vmas[mi];
            m.pgoff += vmg.end - m.start;
            m.start = vmg.end;
            None
        };
        let pi = at(s, pid, prev.start);
        s.mms[pid].vmas[pi].end = vmg.end;
        ctx.say(|| {
            format!(
                "vma_merge_existing_range: VMA {}..{} extends over {}..{}",
                prev.start, prev.end, vmg.start, vmg.end
            )
        });
        if let Some(m) = removed {
            remove_merged(s, ctx, pid, prev.start, m);
        }
        Some(prev.start)
    } else {
        // middle shrink or delete, next extend downwards.
        let next = next.unwrap();
        dup_anon_vma(s, ctx, pid, next.start, &middle);
        check_absorb(s, pid, next.start, &middle);
        let removed = if remove_middle {
            Some(detach(s, pid, middle.start))
        } else {
            let mi = at(s, pid, middle.start);
            s.mms[pid].vmas[mi].end = vmg.start;
            None
        };
        let ni = at(s, pid, next.start);
        let n = &mut s.mms[pid].vmas[ni];
        n.pgoff -= n.start - vmg.start;
        n.start = vmg.start;
        ctx.say(|| {
            format!(
                "vma_merge_existing_range: VMA {}..{} extends down over {}..{}",
                next.start, next.end, vmg.start, vmg.end
            )
        });
        if let Some(m) = removed {
            remove_merged(s, ctx, pid, vmg.start, m);
        }
        Some(vmg.start)
    }
}

/// Mirrors vma_merge_new_range() -> vma_expand() for a range no VMA covers
/// (mmap, and mremap's copy_vma() through vma_merge_copied_range()):
/// extend `prev`, or `next` downwards, or `prev` over the range and `next`
/// (removing `next`). vma_expand() duplicates anon_vma state from a removed
/// `next` and from `vmg->copied_from`. Returns the start of the VMA now
/// covering the range.
pub fn vma_merge_new_range(s: &mut State, ctx: &mut Ctx, pid: usize, vmg: &Vmg) -> Option<Page> {
    let prev = prev_index(s, pid, vmg.start).map(|i| s.mms[pid].vmas[i]);
    let next = next_index(s, pid, vmg.end).map(|i| s.mms[pid].vmas[i]);
    if prev.is_none() && next.is_none() {
        return None;
    }
    let left = can_vma_merge_left(ctx, vmg, prev.as_ref());
    let right = can_vma_merge_right(ctx, vmg, prev.as_ref(), next.as_ref(), left);
    let (target, start, end) = match (left, right) {
        (false, false) => return None,
        (true, r) => {
            (prev.unwrap(), prev.as_ref().unwrap().start, if r { next.as_ref().unwrap().end } else { vmg.end })
        }
        (false, true) => (next.unwrap(), vmg.start, next.as_ref().unwrap().end),
    };
    ctx.took(Branch::MergeNew);
    // vma_expand()
    let remove_next = next.as_ref().filter(|n| n.start != target.start && end == n.end).cloned();
    if let Some(n) = &remove_next {
        dup_anon_vma(s, ctx, pid, target.start, n);
    }
    let copied_from = vmg.copied_from.as_ref().filter(|_| ctx.cfg.mutant != Some(Mutant::MremapMergeSkipsCopiedFrom));
    if let Some(c) = copied_from {
        dup_anon_vma(s, ctx, pid, target.start, c);
    }
    if let Some(c) = &vmg.copied_from {
        check_absorb(s, pid, target.start, c);
    }
    if let Some(n) = &remove_next {
        check_absorb(s, pid, target.start, n);
    }
    // commit_merge(): vma_set_range(target, start, end, pgoff).
    let pgoff = if left { target.pgoff } else { vmg.pgoff };
    let removed = remove_next.map(|n| detach(s, pid, n.start));
    let ti = at(s, pid, target.start);
    let t = &mut s.mms[pid].vmas[ti];
    (t.start, t.end, t.pgoff) = (start, end, pgoff);
    ctx.say(|| format!("vma_merge_new_range: VMA {}..{} becomes {start}..{end}", target.start, target.end));
    if let Some(n) = removed {
        remove_merged(s, ctx, pid, start, n);
    }
    Some(start)
}

/// Mirrors vma_modify() (mprotect's vma_modify_flags()): merge the range
/// `start..end` of the VMA at index `vi` with a neighbour if the new flags
/// allow it, otherwise split it off (split_vma() below, then above).
/// Returns the index of the VMA now exactly covering or containing the
/// range.
#[allow(clippy::too_many_arguments)]
pub fn vma_modify(
    s: &mut State,
    ctx: &mut Ctx,
    pid: usize,
    vi: usize,
    start: Page,
    end: Page,
    write: bool,
    account: bool,
    mergeable: bool,
) -> usize {
    let vma = s.mms[pid].vmas[vi];
    let vmg = Vmg {
        start,
        end,
        pgoff: vma.pgoff + (start - vma.start),
        write,
        account,
        mergeable,
        anon_vma: vma.anon_vma,
        middle: Some(vma),
        copied_from: None,
        file: vma.file,
        shared: vma.shared,
    };
    if let Some(merged) = vma_merge_existing_range(s, ctx, pid, &vmg) {
        return at(s, pid, merged);
    }
    let mut vi = vi;
    if vma.start < start {
        split_vma(s, ctx, pid, vi, start, true);
        vi += 1;
    }
    if s.mms[pid].vmas[vi].end > end {
        split_vma(s, ctx, pid, vi, end, false);
    }
    vi
}
