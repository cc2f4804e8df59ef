//! The worker protocol. Every process of a scenario is a worker: `P0`
//! forked by the executor, every other one by its parent worker's `fork`.
//! A worker obeys fixed-size binary commands on its command pipe and makes
//! the system calls and memory accesses itself (so that they happen in
//! its mm), answering each on its reply pipe.
//!
//! A command is 16 bytes: opcode, three small arguments, a 64-bit word. An
//! answer is 16 bytes: status (0 or an errno), a small value, a 64-bit word.

use crate::sys::{errno, read_exact, write_all};
use rmapcheck_conform::proto::{page_addr, NONCE_OFFSET, PAGE_SIZE};

/// `mmap(page a, b pages, writable c)`, MAP_FIXED_NOREPLACE.
pub const OP_MMAP: u8 = 1;
/// `munmap(page a, b pages)`.
pub const OP_MUNMAP: u8 = 2;
/// A load of byte 0 of page `a` (and of the nonce).
pub const OP_READ: u8 = 3;
/// Store `b` at byte 0 of page `a` and the nonce `word` at [`NONCE_OFFSET`].
pub const OP_WRITE: u8 = 4;
/// `fork()`; the child becomes worker `a`. The value is the child's pid.
pub const OP_FORK: u8 = 5;
/// `_exit(0)` (no answer: the executor waits on the pidfd).
pub const OP_EXIT: u8 = 6;
/// As [`OP_READ`], for the snapshot of a present page.
pub const OP_PEEK: u8 = 7;
/// `mprotect(page a, b pages, writable c)`.
pub const OP_MPROTECT: u8 = 8;
/// `mremap(page a, b pages, to page c)`, MAYMOVE|FIXED, DONTUNMAP if `word`.
pub const OP_MREMAP: u8 = 9;
/// `madvise(page a, b pages, advice word)`.
pub const OP_MADVISE: u8 = 10;
/// `mincore()` of page `a`: the value is bit 0 of the result.
pub const OP_MINCORE: u8 = 11;
/// `mmap(page a, b pages)` of a file, MAP_FIXED_NOREPLACE: bit 0 of `c`
/// PROT_WRITE, bit 1 MAP_SHARED; `word` is the descriptor (low 32 bits,
/// -1 for MAP_SHARED|MAP_ANONYMOUS) and the file page offset (high 32).
pub const OP_MMAP_FILE: u8 = 12;
/// `ftruncate(fd word, a pages)`.
pub const OP_FTRUNCATE: u8 = 13;
/// `fsync(fd word)`.
pub const OP_FSYNC: u8 = 14;
/// A longterm R/W pin of page `a` (an io_uring fixed buffer, see `pin`).
pub const OP_PIN: u8 = 15;
/// The release of the pin on page `a`.
pub const OP_UNPIN: u8 = 16;
/// What the pin on page `a` sees (value: byte 0, word: the nonce).
pub const OP_PIN_PEEK: u8 = 17;
/// UFFDIO_MOVE of page `a` to page `b` (see [`crate::uffd`]).
pub const OP_UFFD_MOVE: u8 = 18;
/// `prctl(PR_SET_MEMORY_MERGE, a)`.
pub const OP_PRCTL_MERGE: u8 = 19;

/// One command to a worker.
pub fn encode(op: u8, a: u8, b: u8, c: u8, word: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0] = op;
    m[1] = a;
    m[2] = b;
    m[3] = c;
    m[8..].copy_from_slice(&word.to_le_bytes());
    m
}

/// After prctl(PR_SET_MEMORY_MERGE, 1): MADV_UNMERGEABLE over everything
/// outside the window, so that ksmd merges none of the worker's own pages
/// (stack, heap, data), which the model does not have and which would
/// show in KSM's counters (docs/conformance.md §4, "Counters"). ksmd is
/// paused, so nothing was merged yet; MMF_VM_MERGE_ANY stays, and VMAs
/// mapped later in the window still get VM_MERGEABLE. The ENOMEM for the
/// holes is expected (madvise() still applies to every VMA in the range).
fn unmerge_outside_window() {
    let (lo, hi) = (page_addr(0), page_addr(255) + PAGE_SIZE);
    // The top of the x86-64 4-level user address space (TASK_SIZE_MAX).
    let top: u64 = 0x7fff_ffff_f000;
    // SAFETY: MADV_UNMERGEABLE changes no contents, only VM_MERGEABLE.
    unsafe {
        libc::madvise(PAGE_SIZE as *mut _, (lo - PAGE_SIZE) as usize, libc::MADV_UNMERGEABLE);
        libc::madvise(hi as *mut _, (top - hi) as usize, libc::MADV_UNMERGEABLE);
    }
}

/// A worker's answer.
fn reply_msg(status: i32, value: i32, word: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&status.to_le_bytes());
    m[4..8].copy_from_slice(&value.to_le_bytes());
    m[8..].copy_from_slice(&word.to_le_bytes());
    m
}

/// An answer's status, value and word.
pub fn decode(m: &[u8; 16]) -> (i32, i32, u64) {
    let status = i32::from_le_bytes(m[..4].try_into().unwrap());
    let value = i32::from_le_bytes(m[4..8].try_into().unwrap());
    (status, value, u64::from_le_bytes(m[8..].try_into().unwrap()))
}

/// The body of a worker process: obey commands on `cmd` until told to exit
/// or until the executor goes away (end of file). Never returns.
pub fn worker_loop(me: usize, cmd_r: &[i32], reply_w: &[i32]) -> ! {
    let (cmd, reply) = (cmd_r[me], reply_w[me]);
    loop {
        let mut m = [0u8; 16];
        match read_exact(cmd, &mut m) {
            Ok(true) => {}
            // SAFETY: _exit is async-signal-safe and ends only this process.
            _ => unsafe { libc::_exit(0) },
        }
        let (op, a, b, c) = (m[0], m[1], m[2], m[3]);
        let word = u64::from_le_bytes(m[8..].try_into().unwrap());
        let out = match op {
            OP_MMAP => {
                let addr = page_addr(a);
                let prot = libc::PROT_READ | if c != 0 { libc::PROT_WRITE } else { 0 };
                let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE;
                // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
                let p = unsafe { libc::mmap(addr as *mut _, b as usize * PAGE_SIZE as usize, prot, flags, -1, 0) };
                if p == libc::MAP_FAILED {
                    reply_msg(errno(), 0, 0)
                } else if p as u64 != addr {
                    // A kernel that ignored the flag: undo and report EEXIST.
                    // SAFETY: `p` is the mapping just created.
                    unsafe { libc::munmap(p, b as usize * PAGE_SIZE as usize) };
                    reply_msg(libc::EEXIST, 0, 0)
                } else if word != 0
                    // SAFETY: the mapping just created; large folios (mTHP)
                    // for it in a scenario that has them.
                    && unsafe { libc::madvise(p, b as usize * PAGE_SIZE as usize, libc::MADV_HUGEPAGE) } != 0
                {
                    reply_msg(errno(), 0, 0)
                } else {
                    reply_msg(0, 0, 0)
                }
            }
            OP_MMAP_FILE => {
                let addr = page_addr(a);
                let len = b as usize * PAGE_SIZE as usize;
                let prot = libc::PROT_READ | if c & 1 != 0 { libc::PROT_WRITE } else { 0 };
                let fd = word as u32 as i32;
                let off = (word >> 32) as i64 * PAGE_SIZE as i64;
                let mut flags =
                    libc::MAP_FIXED_NOREPLACE | if c & 2 != 0 { libc::MAP_SHARED } else { libc::MAP_PRIVATE };
                if fd < 0 {
                    flags |= libc::MAP_ANONYMOUS;
                }
                // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
                let p = unsafe { libc::mmap(addr as *mut _, len, prot, flags, fd, off) };
                if p == libc::MAP_FAILED {
                    reply_msg(errno(), 0, 0)
                } else if p as u64 != addr {
                    // SAFETY: `p` is the mapping just created.
                    unsafe { libc::munmap(p, len) };
                    reply_msg(libc::EEXIST, 0, 0)
                } else {
                    reply_msg(0, 0, 0)
                }
            }
            OP_FTRUNCATE => {
                // SAFETY: one of the executor's own files.
                let r = unsafe { libc::ftruncate(word as i32, a as i64 * PAGE_SIZE as i64) };
                reply_msg(if r == 0 { 0 } else { errno() }, 0, 0)
            }
            OP_FSYNC => {
                // SAFETY: one of the executor's own files.
                let r = unsafe { libc::fsync(word as i32) };
                reply_msg(if r == 0 { 0 } else { errno() }, 0, 0)
            }
            OP_MUNMAP => {
                // SAFETY: only the test window is ever unmapped.
                let r = unsafe { libc::munmap(page_addr(a) as *mut _, b as usize * PAGE_SIZE as usize) };
                reply_msg(if r == 0 { 0 } else { errno() }, 0, 0)
            }
            OP_READ | OP_PEEK => {
                let p = page_addr(a) as *const u8;
                // SAFETY: the model only reads pages inside a VMA, and the
                // executor only peeks at present pages.
                let (v, w) =
                    unsafe { (std::ptr::read_volatile(p), std::ptr::read_volatile(p.add(NONCE_OFFSET).cast::<u64>())) };
                reply_msg(0, v as i32, w)
            }
            OP_WRITE => {
                let p = page_addr(a) as *mut u8;
                // SAFETY: the model only writes pages of a writable VMA.
                unsafe {
                    std::ptr::write_volatile(p.add(NONCE_OFFSET).cast::<u64>(), word);
                    std::ptr::write_volatile(p, b);
                }
                reply_msg(0, 0, 0)
            }
            OP_FORK => {
                // SAFETY: workers are single-threaded.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    crate::pin::forget_inherited();
                    worker_loop(a as usize, cmd_r, reply_w);
                }
                reply_msg(if pid < 0 { errno() } else { 0 }, pid, 0)
            }
            OP_MPROTECT => {
                let prot = libc::PROT_READ | if c != 0 { libc::PROT_WRITE } else { 0 };
                // SAFETY: only the test window is ever reprotected.
                let r = unsafe { libc::mprotect(page_addr(a) as *mut _, b as usize * PAGE_SIZE as usize, prot) };
                reply_msg(if r == 0 { 0 } else { errno() }, 0, 0)
            }
            OP_MREMAP => {
                let len = b as usize * PAGE_SIZE as usize;
                let mut flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
                if word != 0 {
                    flags |= libc::MREMAP_DONTUNMAP;
                }
                // SAFETY: source and destination both lie in the test window.
                let p =
                    unsafe { libc::mremap(page_addr(a) as *mut _, len, len, flags, page_addr(c) as *mut libc::c_void) };
                reply_msg(if p == libc::MAP_FAILED { errno() } else { 0 }, 0, 0)
            }
            OP_MADVISE => {
                // SAFETY: only the test window is ever advised; the advice
                // (MADV_PAGEOUT, MADV_FREE, MADV_[UN]MERGEABLE) never
                // unmaps anything.
                let r = unsafe { libc::madvise(page_addr(a) as *mut _, b as usize * PAGE_SIZE as usize, word as i32) };
                reply_msg(if r == 0 { 0 } else { errno() }, 0, 0)
            }
            OP_MINCORE => {
                let mut v = 0u8;
                // SAFETY: one page of the window, one result byte.
                let r = unsafe { libc::mincore(page_addr(a) as *mut _, PAGE_SIZE as usize, &mut v) };
                reply_msg(if r == 0 { 0 } else { errno() }, (v & 1) as i32, 0)
            }
            OP_EXIT => {
                crate::pin::release_all();
                // SAFETY: ends only this worker.
                unsafe { libc::_exit(0) }
            }
            OP_PIN => reply_msg(crate::pin::pin(a), 0, 0),
            OP_UNPIN => reply_msg(crate::pin::unpin(a), 0, 0),
            OP_PIN_PEEK => match crate::pin::peek(a) {
                Ok((v, w)) => reply_msg(0, v as i32, w),
                Err(e) => reply_msg(e, 0, 0),
            },
            OP_UFFD_MOVE => reply_msg(crate::uffd::uffd_move(a, b), 0, 0),
            OP_PRCTL_MERGE => {
                // SAFETY: PR_SET_MEMORY_MERGE (67) changes only this mm's KSM flags.
                let r = unsafe { libc::prctl(67, a as libc::c_ulong, 0, 0, 0) };
                if r == 0 && a == 1 {
                    unmerge_outside_window();
                }
                reply_msg(if r == 0 { 0 } else { errno() }, 0, 0)
            }
            _ => reply_msg(libc::EINVAL, 0, 0),
        };
        if write_all(reply, &out).is_err() {
            // SAFETY: ends only this worker.
            unsafe { libc::_exit(1) };
        }
    }
}
