//! Whole-system invariants: kernel assertions, the memory-semantics
//! oracle, and leaks.

use crate::report;
use rmapcheck_model::{Kernel, State};

/// No kernel assertion fired and no freed object was touched.
pub fn no_kernel_oops(s: &State, _: Kernel) -> Result<(), String> {
    match &s.oops {
        None => Ok(()),
        Some(o) => Err(format!("{:?}: {}", o.kind, o.what)),
    }
}

/// Every live process reads, at every page, the value of the ghost
/// oracle: its own last write, what its parent had at fork, or zero; and
/// pages the oracle says are unmapped have no VMA.
pub fn memory_semantics(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for (page, ghost) in mm.ghost.iter().enumerate() {
            let mapped = mm.vma_index(page as u8).is_some();
            let reads = s.reads(pid, page as u8);
            match (*ghost, mapped) {
                (Some(want), true) if want != reads => {
                    bad.push(format!("P{pid} page {page} reads {reads}, sequential semantics says {want}"))
                }
                (Some(_), false) => bad.push(format!("P{pid} page {page}: mapping lost, the process would SIGSEGV")),
                (None, true) => bad.push(format!("P{pid} page {page}: a VMA appeared that was never mapped")),
                _ => {}
            }
        }
    }
    report(bad)
}

/// Once every process has exited nothing is left.
pub fn no_leak_at_exit(s: &State, _: Kernel) -> Result<(), String> {
    if !s.all_exited() {
        return Ok(());
    }
    let mut bad: Vec<String> = s.live_folios().map(|(i, f)| format!("F{i} leaked (refcount {})", f.refcount)).collect();
    for (i, a) in s.anon_vmas.iter().enumerate().filter(|(_, a)| !a.freed) {
        bad.push(format!("AV{i} leaked (refcount {})", a.refcount));
    }
    report(bad)
}
