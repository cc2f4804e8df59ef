//! The named files of a scenario: a regular file on a disk-backed
//! filesystem, a memfd and a file on a tmpfs mount, created fresh and
//! empty (sparse, `pages` pages) for every scenario before `P0` is forked,
//! so that every worker inherits the descriptors.
//!
//! Nothing is left behind on any exit path: each file is unlinked as soon
//! as it is created (the memfd has no name at all), so the kernel frees it
//! with its page cache once the last descriptor and mapping are gone,
//! whether the executor ends normally, on a signal, or is killed. The page
//! cache of these files is their own: nothing here drops caches machine-wide.

use crate::sys::{close, errno};
use rmapcheck_conform::proto::{KFile, PAGE_SIZE};
use std::ffi::CString;

/// statfs() f_type of tmpfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// statfs() f_type of ramfs.
const RAMFS_MAGIC: i64 = 0x8584_58f6;
/// Directories tried, in order, for the regular file: the first one on a
/// filesystem that is neither tmpfs nor ramfs.
const DISK_DIRS: [&str; 2] = ["/var/tmp", "/tmp"];
/// Where the tmpfs file goes.
const TMPFS_DIR: &str = "/dev/shm";
/// The cachestat() system call (x86-64, since v6.5).
const SYS_CACHESTAT: i64 = 451;

/// The open named files, in file order (`reg`, `memfd`, `tmpfs`).
#[derive(Default)]
pub struct Files {
    /// One descriptor per created file.
    pub fds: Vec<i32>,
    /// Which of them are shmem (cachestat's evicted pages are swap entries).
    shmem: Vec<bool>,
}

fn fs_type(dir: &str) -> Result<i64, String> {
    let c = CString::new(dir).map_err(|e| e.to_string())?;
    // SAFETY: statfs is plain data filled by the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and buffer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(format!("statfs({dir}): errno {}", errno()));
    }
    Ok(st.f_type as i64)
}

/// Creates `dir/rmapcheck-exec-PID-NAME` exclusively, unlinks it at once
/// and returns the descriptor.
fn create_unlinked(dir: &str, name: &str) -> Result<i32, String> {
    let path = format!("{dir}/rmapcheck-exec-{}-{name}", std::process::id());
    let c = CString::new(path.clone()).map_err(|e| e.to_string())?;
    // SAFETY: a valid path; the descriptor is ours.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return Err(format!("create {path}: errno {}", errno()));
    }
    // SAFETY: the path we just created.
    if unsafe { libc::unlink(c.as_ptr()) } != 0 {
        let e = errno();
        close(fd);
        return Err(format!("unlink {path}: errno {e}"));
    }
    Ok(fd)
}

fn memfd() -> Result<i32, String> {
    let name = CString::new("rmapcheck-memfd").map_err(|e| e.to_string())?;
    // SAFETY: a valid name; the descriptor is ours.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: errno {}", errno()));
    }
    Ok(fd)
}

impl Files {
    /// Closes the previous scenario's files and creates `n` new ones (0-3)
    /// of `pages` pages each, sparse. `Err` when this machine has no
    /// disk-backed or no tmpfs directory for them.
    pub fn create(&mut self, n: u8, pages: u8) -> Result<(), String> {
        self.close_all();
        for i in 0..n {
            let (fd, shmem) = match i {
                0 => {
                    let dir = DISK_DIRS
                        .iter()
                        .find(|d| fs_type(d).is_ok_and(|t| t != TMPFS_MAGIC && t != RAMFS_MAGIC))
                        .ok_or("no disk-backed filesystem for the regular file (tried /var/tmp, /tmp)")?;
                    (create_unlinked(dir, "reg")?, false)
                }
                1 => (memfd()?, true),
                2 => {
                    if fs_type(TMPFS_DIR)? != TMPFS_MAGIC {
                        return Err(format!("{TMPFS_DIR} is not a tmpfs mount"));
                    }
                    (create_unlinked(TMPFS_DIR, "tmpfs")?, true)
                }
                _ => return Err(format!("there are only 3 named files, not {n}")),
            };
            self.fds.push(fd);
            self.shmem.push(shmem);
            // SAFETY: our descriptor.
            if unsafe { libc::ftruncate(fd, pages as i64 * PAGE_SIZE as i64) } != 0 {
                return Err(format!("ftruncate of named file {i}: errno {}", errno()));
            }
        }
        Ok(())
    }

    /// Closes every file (the kernel frees them: they have no name).
    pub fn close_all(&mut self) {
        for fd in self.fds.drain(..) {
            close(fd);
        }
        self.shmem.clear();
    }

    /// What each file looks like: its size (fstat()) and cachestat() of
    /// each of the window's `pages` offsets.
    pub fn snapshot(&self, pages: u8) -> Result<Vec<KFile>, String> {
        let mut out = Vec::new();
        for (i, &fd) in self.fds.iter().enumerate() {
            // SAFETY: plain data filled by fstat on our descriptor.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe { libc::fstat(fd, &mut st) } != 0 {
                return Err(format!("fstat of named file {i}: errno {}", errno()));
            }
            let mut f = KFile { size: st.st_size as u64 / PAGE_SIZE, pages: Vec::new() };
            for p in 0..pages {
                let c = cachestat(fd, p)?;
                let shmem = self.shmem[i];
                f.pages.push((c[0] != 0, !shmem && c[1] != 0, shmem && c[3] != 0));
            }
            out.push(f);
        }
        Ok(out)
    }
}

/// cachestat() of one page: nr_cache, nr_dirty, nr_writeback, nr_evicted,
/// nr_recently_evicted.
fn cachestat(fd: i32, page: u8) -> Result<[u64; 5], String> {
    let range: [u64; 2] = [page as u64 * PAGE_SIZE, PAGE_SIZE];
    let mut cs = [0u64; 5];
    // SAFETY: struct cachestat_range and struct cachestat are these arrays.
    let r = unsafe { libc::syscall(SYS_CACHESTAT, fd, range.as_ptr(), cs.as_mut_ptr(), 0) };
    if r != 0 {
        return Err(format!("cachestat: errno {}", errno()));
    }
    Ok(cs)
}

/// The kind of object a `/proc/PID/maps` path names: `reg`, `memfd`,
/// `tmpfs` for the executor's files, `shm` for shared anonymous memory
/// (`/dev/zero (deleted)`), empty for anonymous memory.
pub fn kind_of_path(path: &str) -> String {
    let p = path.trim();
    if p.is_empty() {
        String::new()
    } else if p.starts_with("/memfd:rmapcheck-memfd") {
        "memfd".into()
    } else if p.starts_with("/dev/zero") || p.starts_with("/SYSV") {
        "shm".into()
    } else if p.starts_with(TMPFS_DIR) && p.contains("rmapcheck-exec") {
        "tmpfs".into()
    } else if p.contains("rmapcheck-exec") {
        "reg".into()
    } else {
        format!("other:{p}")
    }
}
