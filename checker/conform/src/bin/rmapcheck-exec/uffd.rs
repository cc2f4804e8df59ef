//! UFFDIO_MOVE in a worker: the worker opens its own userfaultfd (a
//! context belongs to the mm that opened it, so a forked worker opens a
//! new one), and for `P uffd_move SRC DST` registers the destination page
//! (MISSING mode), moves one page and unregisters the page again, as
//! model/src/userfaultfd.rs describes. The ioctl numbers are those of
//! include/uapi/linux/userfaultfd.h (v6.8+: UFFDIO_MOVE, UFFD_FEATURE_MOVE),
//! spelled out because the installed header predates them.

use crate::sys::errno;
use rmapcheck_conform::proto::{page_addr, PAGE_SIZE};

/// `UFFD_API`.
const UFFD_API: u64 = 0xaa;
/// `UFFD_FEATURE_MOVE` (1 << 16).
const UFFD_FEATURE_MOVE: u64 = 1 << 16;
/// `UFFDIO_REGISTER_MODE_MISSING`.
const MODE_MISSING: u64 = 1;
/// `_IOWR(0xAA, 0x3F, struct uffdio_api)` (24 bytes).
const UFFDIO_API: u64 = 0xc018_aa3f;
/// `_IOWR(0xAA, 0x00, struct uffdio_register)` (32 bytes).
const UFFDIO_REGISTER: u64 = 0xc020_aa00;
/// `_IOR(0xAA, 0x01, struct uffdio_range)` (16 bytes).
const UFFDIO_UNREGISTER: u64 = 0x8010_aa01;
/// `_IOWR(0xAA, 0x05, struct uffdio_move)` (40 bytes).
const UFFDIO_MOVE: u64 = 0xc028_aa05;

/// This worker's userfaultfd and the process that opened it.
static mut UFFD: (i32, i32) = (-1, 0);

/// The worker's userfaultfd, opened (UFFDIO_API with UFFD_FEATURE_MOVE)
/// on first use in this process; `Err(errno)` if that fails.
fn uffd() -> Result<i32, i32> {
    // SAFETY: workers are single-threaded; getpid() has no preconditions.
    let (fd, owner) = unsafe { UFFD };
    let me = unsafe { libc::getpid() };
    if fd >= 0 && owner == me {
        return Ok(fd);
    }
    if fd >= 0 {
        // The parent's context, inherited by fork(): it acts on the
        // parent's mm, so close it here and open our own.
        // SAFETY: our copy of the descriptor.
        unsafe { libc::close(fd) };
    }
    // SAFETY: plain system call; root may open a userfaultfd for user and
    // kernel faults alike, UFFD_USER_MODE_ONLY (1) is enough.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | 1) } as i32;
    if fd < 0 {
        return Err(errno());
    }
    let mut api = [UFFD_API, UFFD_FEATURE_MOVE, 0u64];
    // SAFETY: `api` is a struct uffdio_api.
    if unsafe { libc::ioctl(fd, UFFDIO_API as _, api.as_mut_ptr()) } != 0 {
        let e = errno();
        // SAFETY: the descriptor just opened.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    // SAFETY: single-threaded worker.
    unsafe { UFFD = (fd, me) };
    Ok(fd)
}

/// `P uffd_move SRC DST`: 0 or the errno of the first call that failed
/// (the UFFDIO_MOVE's when the registration worked); the destination is
/// unregistered again in every case.
pub fn uffd_move(src: u8, dst: u8) -> i32 {
    let fd = match uffd() {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let range = [page_addr(dst), PAGE_SIZE];
    let mut reg = [range[0], range[1], MODE_MISSING, 0];
    // SAFETY: `reg` is a struct uffdio_register over one page of the window.
    if unsafe { libc::ioctl(fd, UFFDIO_REGISTER as _, reg.as_mut_ptr()) } != 0 {
        return errno();
    }
    // struct uffdio_move { dst, src, len, mode, move }.
    let mut mv = [page_addr(dst) as i64, page_addr(src) as i64, PAGE_SIZE as i64, 0, 0];
    // SAFETY: `mv` is a struct uffdio_move; both pages lie in the window.
    let r = if unsafe { libc::ioctl(fd, UFFDIO_MOVE as _, mv.as_mut_ptr()) } != 0 { errno() } else { 0 };
    let mut un = range;
    // SAFETY: `un` is a struct uffdio_range over the page registered above.
    if unsafe { libc::ioctl(fd, UFFDIO_UNREGISTER as _, un.as_mut_ptr()) } != 0 && r == 0 {
        return errno();
    }
    r
}
