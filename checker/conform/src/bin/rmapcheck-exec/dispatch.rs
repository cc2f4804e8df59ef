//! System call dispatch: one scenario action to the worker command (or
//! the lifecycle step) that performs it on the kernel.

use crate::procs::Procs;
use crate::worker::{
    encode, OP_FSYNC, OP_FTRUNCATE, OP_MADVISE, OP_MMAP, OP_MMAP_FILE, OP_MPROTECT, OP_MREMAP, OP_MUNMAP, OP_PIN,
    OP_PRCTL_MERGE, OP_READ, OP_UFFD_MOVE, OP_UNPIN, OP_WRITE,
};
use rmapcheck_model::Action;

/// The descriptor of named file `f`.
fn fd_of(fds: &[i32], f: u8) -> Result<i32, String> {
    fds.get(f as usize).copied().ok_or_else(|| format!("named file {f} was not created for this scenario"))
}

/// Performs `a` in its worker; returns 0 or the errno of the system call.
/// `pages` is the window, `nonce` the run's content nonce, `ksm` whether
/// the kernel has KSM, `mthp` that mmap asks for large folios
/// (MADV_HUGEPAGE), `fds` the named files' descriptors (see `files`).
/// `ksmd merge` happens in the ksmd wait that follows (see `ksmd`), and
/// `ksmd drop` is not visible, so both are no-ops here.
pub fn act(
    procs: &mut Procs,
    pages: u8,
    nonce: u64,
    ksm: bool,
    mthp: bool,
    fds: &[i32],
    a: Action,
) -> Result<i32, String> {
    if let Action::KsmMerge { .. } | Action::KsmDrop { .. } = a {
        return if ksm { Ok(0) } else { Err(format!("'{a}': this kernel has no KSM")) };
    }
    if let Action::SplitDeferred = a {
        // The deferred split shrinker: drop_caches' drop_slab() runs every
        // shrinker, deferred_split_scan() among them (README, "Large folios").
        return crate::sys::write_file("/proc/sys/vm/drop_caches", "2").map(|()| 0);
    }
    let i = a.pid() as usize;
    procs.check_alive(i)?;
    let page_ok = |p: u8| if p < pages { Ok(()) } else { Err(format!("page {p} is outside the window")) };
    if let Action::Mmap { len: 0, .. }
    | Action::Munmap { len: 0, .. }
    | Action::Mprotect { len: 0, .. }
    | Action::Mremap { len: 0, .. } = a
    {
        return Ok(libc::EINVAL);
    }
    let madvise = |procs: &mut Procs, start: u8, len: u8, advice: i32| -> Result<i32, String> {
        if len == 0 {
            return Ok(libc::EINVAL);
        }
        if start.saturating_add(len - 1) >= pages {
            return Err(format!("pages {start}+{len} leave the window"));
        }
        Ok(procs.call(i, encode(OP_MADVISE, start, len, 0, advice as u64))?.0)
    };
    match a {
        Action::Mmap { start, len, write, .. } => {
            page_ok(start.saturating_add(len - 1))?;
            // With large folios every VMA gets MADV_HUGEPAGE (all alike, so
            // VM_HUGEPAGE changes no merge the model makes).
            Ok(procs.call(i, encode(OP_MMAP, start, len, write as u8, mthp as u64))?.0)
        }
        Action::Munmap { start, len, .. } => {
            page_ok(start.saturating_add(len - 1))?;
            Ok(procs.call(i, encode(OP_MUNMAP, start, len, 0, 0))?.0)
        }
        Action::Mprotect { start, len, write, .. } => {
            page_ok(start.saturating_add(len - 1))?;
            Ok(procs.call(i, encode(OP_MPROTECT, start, len, write as u8, 0))?.0)
        }
        Action::Mremap { start, len, to, dontunmap, .. } => {
            page_ok(start.saturating_add(len - 1))?;
            page_ok(to.saturating_add(len - 1))?;
            Ok(procs.call(i, encode(OP_MREMAP, start, len, to, dontunmap as u64))?.0)
        }
        Action::Read { page, .. } => {
            page_ok(page)?;
            Ok(procs.call(i, encode(OP_READ, page, 0, 0, 0))?.0)
        }
        Action::Write { page, value, .. } => {
            page_ok(page)?;
            // A zero-filled page: 0 at byte 0 and no nonce.
            let word = if value == 0 { 0 } else { nonce };
            Ok(procs.call(i, encode(OP_WRITE, page, value, 0, word))?.0)
        }
        Action::Fork { .. } => procs.fork(i),
        Action::Exit { .. } => procs.exit(i).map(|()| 0),
        Action::MadvPageout { start, len, .. } => madvise(procs, start, len, libc::MADV_PAGEOUT),
        Action::MadvFree { start, len, .. } => madvise(procs, start, len, libc::MADV_FREE),
        Action::Reclaim { .. } | Action::Writeback => Err(format!(
            "the executor does not run '{a}': no system call reclaims one chosen folio (README, \"What the model leaves out\")"
        )),
        Action::MadvMergeable { start, len, .. } => madvise(procs, start, len, libc::MADV_MERGEABLE),
        Action::MadvUnmergeable { start, len, .. } => madvise(procs, start, len, libc::MADV_UNMERGEABLE),
        Action::KsmMerge { .. } | Action::KsmDrop { .. } | Action::SplitDeferred => unreachable!("handled above"),
        Action::MmapFile { start, len, write, shared, file, pgoff, .. } => {
            page_ok(start.saturating_add(len.max(1) - 1))?;
            let fd = match file {
                None => -1,
                Some(f) => fd_of(fds, f)?,
            };
            let word = (fd as u32 as u64) | (pgoff as u64) << 32;
            Ok(procs.call(i, encode(OP_MMAP_FILE, start, len, write as u8 | (shared as u8) << 1, word))?.0)
        }
        Action::MadvDontneed { start, len, .. } => madvise(procs, start, len, libc::MADV_DONTNEED),
        Action::Ftruncate { file, size, .. } => {
            Ok(procs.call(i, encode(OP_FTRUNCATE, size, 0, 0, fd_of(fds, file)? as u64))?.0)
        }
        Action::Pin { page, write: true, .. } => {
            page_ok(page)?;
            let r = procs.call(i, encode(OP_PIN, page, 0, 0, 0))?.0;
            if r == 0 {
                procs.workers[i].pins.push(page);
            }
            Ok(r)
        }
        Action::Pin { write: false, .. } => Err(format!(
            "'{a}': no user-space route to an R/O longterm pin on this kernel (io_uring pins with FOLL_WRITE, CONFIG_GUP_TEST is unset): R/O pins are model-only"
        )),
        Action::Unpin { page, .. } => {
            let r = procs.call(i, encode(OP_UNPIN, page, 0, 0, 0))?.0;
            procs.workers[i].pins.retain(|&p| p != page);
            Ok(r)
        }
        Action::Fsync { file, .. } => {
            let r = procs.call(i, encode(OP_FSYNC, 0, 0, 0, fd_of(fds, file)? as u64))?.0;
            // The writeback may have ended on another CPU and left a
            // folio in that CPU's batch (see drain_all_cpus()).
            crate::sys::drain_all_cpus();
            Ok(r)
        }
        Action::UffdMove { src, dst, .. } => {
            page_ok(src)?;
            page_ok(dst)?;
            Ok(procs.call(i, encode(OP_UFFD_MOVE, src, dst, 0, 0))?.0)
        }
        Action::PrctlMerge { on, .. } => {
            if !ksm {
                return Err(format!("'{a}': this kernel has no KSM"));
            }
            Ok(procs.call(i, encode(OP_PRCTL_MERGE, on as u8, 0, 0, 0))?.0)
        }
    }
}
