//! mprotect() (mm/mprotect.c): new flags for a range, VMAs merged or split
//! to match, then the PTEs changed.

use crate::ctx::{Branch, Ctx};
use crate::mmap::check_range;
use crate::state::{Page, Pte, State};
use crate::vma::vma_modify;

/// Mirrors do_mprotect_pkey(): every page of the range must lie in a VMA
/// (otherwise -ENOMEM; the kernel may already have changed the VMAs before
/// the hole, the model refuses the whole call instead), then each VMA
/// piece goes through mprotect_fixup() in address order.
pub fn do_mprotect(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, len: u8, write: bool) -> Result<(), String> {
    let end = check_range(s, start, len)?;
    if let Some(p) = (start..end).find(|&p| s.mms[pid].vma_index(p).is_none()) {
        return Err(format!("page {p} of {start}..{end} is not mapped: mprotect fails with ENOMEM"));
    }
    let mut nstart = start;
    while nstart < end {
        let vi = s.mms[pid].vma_index(nstart).expect("checked above");
        let tmp = s.mms[pid].vmas[vi].end.min(end);
        mprotect_fixup(s, ctx, pid, vi, nstart, tmp, write);
        nstart = tmp;
    }
    Ok(())
}

/// Mirrors mprotect_fixup(): nothing to do when the flags do not change;
/// otherwise vma_modify_flags() (merge with a neighbour or split), the new
/// flags on the resulting VMA, and change_protection() on the range. A
/// private VMA that becomes writable for the first time is charged and
/// gains VM_ACCOUNT; losing write permission keeps it if the VMA is
/// faulted (v6.18 drops it from an unfaulted anonymous VMA; v5.19 always
/// keeps it), so a faulted once-writable VMA does not merge with a
/// read-only neighbour that never had pages.
fn mprotect_fixup(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, start: Page, end: Page, write: bool) {
    if s.mms[pid].vmas[vi].write == write {
        return;
    }
    let old = &s.mms[pid].vmas[vi];
    let account = if write {
        // A shared mapping is never charged (VM_SHARED in the test).
        old.account || !old.shared
    } else {
        // v6.x: "cannot reduce our commit if we make it unwritable again
        // except in the anonymous case where no anon_vma has yet to be
        // assigned" (vma_is_anonymous(): a private file VMA keeps it).
        old.account && (old.anon_vma.is_some() || ctx.degree_era() || !old.is_anonymous())
    };
    let mergeable = old.mergeable;
    let vi = vma_modify(s, ctx, pid, vi, start, end, write, account, mergeable);
    let v = &mut s.mms[pid].vmas[vi];
    v.write = write;
    v.account = account;
    change_protection(s, ctx, pid, start, end, write);
}

/// Mirrors change_pte_range(): removing write permission write-protects
/// every present PTE. Granting it (MM_CP_TRY_CHANGE_WRITABLE, set because
/// a private writable VMA wants manual write upgrades) makes a PTE
/// writable only where can_change_pte_writable() allows, which for a
/// private mapping means the page is an anon PageAnonExclusive page: a
/// write fault would reuse it anyway, so skipping the fault is safe. The
/// zero page is never made writable. v5.19 predates "mm/mprotect: allow
/// clean exclusive anon pages to be writable" (v6.0): there every anon PTE
/// stays read-only and the next store takes a write fault.
///
/// A shared mapping: vma_set_page_prot() gives shmem (no write-notify) a
/// writable vm_page_prot, and pte_modify() makes every PTE writable; a
/// regular file write-notifies, so only PTEs can_change_shared_pte_writable()
/// accepts, the dirty ones, are upgraded and a clean one faults into
/// page_mkwrite first.
fn change_protection(s: &mut State, ctx: &mut Ctx, pid: usize, start: Page, end: Page, write: bool) {
    let upgrade = write && !ctx.degree_era();
    for p in start..end {
        if let Pte::Present { folio, sub, writable, dirty } = s.mms[pid].ptes[p as usize] {
            let vma = s.mms[pid].vma_index(p).map(|vi| &s.mms[pid].vmas[vi]);
            let shared_upgrade = vma.filter(|v| v.shared).map(|v| {
                let shmem = v.file.is_some_and(|f| s.files[f as usize].shmem());
                shmem || dirty
            });
            let w = match (write, shared_upgrade) {
                (false, _) => false,
                (true, Some(up)) => writable || up,
                (true, None) => writable || (upgrade && s.folios[folio as usize].page_exclusive(sub)),
            };
            if w && !writable {
                ctx.took(Branch::MprotectMakeWritable);
            }
            s.mms[pid].ptes[p as usize] = Pte::Present { folio, sub, writable: w, dirty };
        }
    }
}
