//! Thin wrappers over the system calls the executor makes, in one place:
//! errno, descriptors, whole reads and writes, polls, sysfs/procfs files.

use std::ffi::CString;

/// The calling thread's errno.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A path as a C string (paths here never hold a NUL).
pub fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in paths")
}

/// Opens `path` read-only (close-on-exec).
pub fn open_ro(path: &str) -> Result<i32, String> {
    let c = cstr(path);
    // SAFETY: a valid NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!("cannot open {path}: {}", std::io::Error::from_raw_os_error(errno())));
    }
    Ok(fd)
}

/// Closes a descriptor we own (negative ones are ignored).
pub fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: closes a descriptor we own.
        unsafe { libc::close(fd) };
    }
}

/// The 64-bit word number `index` of the file `fd` (pagemap, kpageflags,
/// kpagecount are arrays of them); `Err` is the errno.
pub fn pread_u64(fd: i32, index: u64) -> Result<u64, i32> {
    let mut b = [0u8; 8];
    // SAFETY: reads 8 bytes into `b`.
    let n = unsafe { libc::pread(fd, b.as_mut_ptr().cast(), 8, (index * 8) as libc::off_t) };
    if n != 8 {
        return Err(errno());
    }
    Ok(u64::from_le_bytes(b))
}

/// Writes all of `buf` to `fd`.
pub fn write_all(fd: i32, buf: &[u8]) -> Result<(), i32> {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer and length describe the rest of `buf`.
        let n = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        off += n as usize;
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on end of file.
pub fn read_exact(fd: i32, buf: &mut [u8]) -> Result<bool, i32> {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer and length describe the rest of `buf`.
        let n = unsafe { libc::read(fd, buf[off..].as_mut_ptr().cast(), buf.len() - off) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(false);
        }
        off += n as usize;
    }
    Ok(true)
}

/// Waits until `fd` is readable; `false` on timeout.
pub fn wait_readable(fd: i32, ms: i32) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        return r > 0;
    }
}

/// open + write + close with raw system calls (async-signal-safe, so the
/// isolation's signal handler can restore with it); 0 or the errno.
pub fn raw_write(path: &CString, data: &[u8]) -> i32 {
    // SAFETY: a valid path; the descriptor is closed before returning.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return errno();
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = if n < 0 { errno() } else { 0 };
        libc::close(fd);
        e
    }
}

/// Writes `data` to a sysfs/procfs file; the error names both.
pub fn write_file(path: &str, data: &str) -> Result<(), String> {
    match raw_write(&cstr(path), data.as_bytes()) {
        0 => Ok(()),
        e => Err(format!("cannot write '{}' to {path}: {}", data.trim(), std::io::Error::from_raw_os_error(e))),
    }
}

/// A sysfs/procfs file's content, trimmed.
pub fn read_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| format!("cannot read {path}: {e}"))
}

/// `lru_add_drain_all()`: drains the per-CPU folio batches of every CPU.
/// `move_pages(2)` of no pages with a node array runs do_pages_move(),
/// which is lru_cache_disable() + lru_cache_enable() around nothing; it
/// changes no mapping and moves no page. About 0.1–0.2 ms. Needed after
/// writeback that ends in another CPU's context (ext4 completes buffered
/// writes in an unbound workqueue): a folio with PG_reclaim is then
/// rotated through that CPU's `lru_move_tail` batch, whose reference
/// makes a later MADV_PAGEOUT keep the folio (`__remove_mapping()`'s
/// refcount freeze fails) until that CPU happens to drain. Errors (a
/// kernel without CONFIG_NUMA/CONFIG_MIGRATION) are ignored: the remote
/// batch then stays, as before.
pub fn drain_all_cpus() {
    let (node, mut status) = (0i32, 0i32);
    // SAFETY: nr_pages 0: the kernel reads no page pointer, node or status.
    unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0,
            0usize,
            std::ptr::null::<*const libc::c_void>(),
            &node as *const i32,
            &mut status as *mut i32,
            0,
        )
    };
}
