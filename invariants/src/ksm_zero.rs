//! I48: KSM zero pages are counted exactly (mm/ksm.c `use_zero_pages`;
//! docs/kernel/ksm.md §8).

use crate::report;
use rmapcheck_model::{Kernel, Pte, State};

/// I48: every live process's `mm->ksm_zero_pages` equals the KSM zero
/// pages its page table holds: ksm_map_zero_page() counts each one ksmd
/// maps, ksm_might_unmap_zero_page() each one that goes, and fork copies
/// the count with the PTEs. `/proc/PID/ksm_stat` and the global
/// `ksm_zero_pages` report this count.
pub fn ksm_zero_pages_count(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        let held =
            mm.ptes.iter().enumerate().filter(|(p, pte)| **pte == Pte::Zero && mm.ksm_zero & 1 << p != 0).count();
        if held != mm.ksm_zero_pages as usize {
            bad.push(format!(
                "P{pid}: mm->ksm_zero_pages is {} but its page table holds {held} KSM zero page(s)",
                mm.ksm_zero_pages as i8
            ));
        }
    }
    report(bad)
}
