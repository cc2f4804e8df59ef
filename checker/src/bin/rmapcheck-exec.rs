//! `rmapcheck-exec`: the single-threaded conformance executor.
//!
//! It is spawned by `rmapcheck conform` and never runs inside the
//! multi-threaded checker. It reads [`Request`]s (JSON lines) on stdin and
//! answers each with one [`Reply`] line on stdout. Every process of a
//! scenario is a worker process forked from here (`P0`) or from another
//! worker (`fork`); workers obey fixed-size binary commands on pipes and do
//! the memory accesses themselves, while this process reads `/proc/PID/maps`,
//! `/proc/PID/pagemap`, `/proc/kpagecount` and `/proc/kpageflags`.
//!
//! Isolation (CONFORMANCE.md §5/§6): this process pins itself to one CPU
//! before forking anything (workers inherit the mask), drains that CPU's
//! per-CPU folio batches with `madvise(MADV_COLD)` on an untouched dummy VMA
//! before each snapshot, and `P0` sets `PR_SET_THP_DISABLE` (inherited by
//! forks). Machine-wide, it runs under [`Isolation`]: its own zram swap
//! device at priority 200 and `page-cluster = 0`, set up at start and
//! restored at exit, on error and on SIGINT/SIGTERM/SIGHUP (see
//! `rmapcheck::conform::isolate`), and the KSM knobs (ksmd paused with
//! `run=0`, `sleep_millisecs=10`, `pages_to_scan=1000`, `smart_scan=0`,
//! `use_zero_pages=0`), restored the same way.
//!
//! KSM (CONFORMANCE.md §4): `madv_mergeable`/`madv_unmergeable` are
//! madvise() in the worker. ksmd stays paused between steps, so nothing
//! merges behind the model's back (pages with equal content in mergeable
//! VMAs would otherwise merge on ksmd's own schedule). A `ksmd merge` step
//! sets `run=1` and polls (1 ms) until the structure the model predicts
//! (the request's [`KsmWait`]) is visible and at least two full scans have
//! passed, then sets `run=0` again; a timeout is reported as unsettled.
//! `ksmd drop` (a stale rmap_item removed) has no user-visible effect and
//! is a no-op here.

use rmapcheck::conform::isolate::{self, Isolation};
use rmapcheck::conform::proto::{
    kpf, KPage, KProc, KPte, KernelSnap, KsmWait, Reply, Request, KSM_SETTLE_SCANS, KSM_TIMEOUT_MS, KSM_TIMEOUT_SCANS,
    NONCE_OFFSET, PAGE_SIZE, WINDOW_BASE,
};
use rmapcheck_model::Action;
use std::io::{BufRead, Write};

const OP_MMAP: u8 = 1;
const OP_MUNMAP: u8 = 2;
const OP_READ: u8 = 3;
const OP_WRITE: u8 = 4;
const OP_FORK: u8 = 5;
const OP_EXIT: u8 = 6;
const OP_PEEK: u8 = 7;
const OP_MPROTECT: u8 = 8;
const OP_MREMAP: u8 = 9;
const OP_MADVISE: u8 = 10;
const OP_MINCORE: u8 = 11;

/// Seconds to wait for a worker's answer or exit before giving up.
const TIMEOUT_MS: i32 = 10_000;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn page_addr(page: u8) -> u64 {
    WINDOW_BASE + page as u64 * PAGE_SIZE
}

/// Writes all of `buf` to `fd`.
fn write_all(fd: i32, buf: &[u8]) -> Result<(), i32> {
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
fn read_exact(fd: i32, buf: &mut [u8]) -> Result<bool, i32> {
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

/// One command to a worker: opcode, three small arguments, a 64-bit word.
fn encode(op: u8, a: u8, b: u8, c: u8, word: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0] = op;
    m[1] = a;
    m[2] = b;
    m[3] = c;
    m[8..].copy_from_slice(&word.to_le_bytes());
    m
}

/// A worker's answer: status (0 or errno), a small value, a 64-bit word.
fn reply_msg(status: i32, value: i32, word: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&status.to_le_bytes());
    m[4..8].copy_from_slice(&value.to_le_bytes());
    m[8..].copy_from_slice(&word.to_le_bytes());
    m
}

/// The body of a worker process: obey commands on `cmd` until told to exit
/// or until the executor goes away (end of file). Never returns.
fn worker_loop(me: usize, cmd_r: &[i32], reply_w: &[i32]) -> ! {
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
                } else {
                    reply_msg(0, 0, 0)
                }
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
            // SAFETY: ends only this worker.
            OP_EXIT => unsafe { libc::_exit(0) },
            _ => reply_msg(libc::EINVAL, 0, 0),
        };
        if write_all(reply, &out).is_err() {
            // SAFETY: ends only this worker.
            unsafe { libc::_exit(1) };
        }
    }
}

struct Worker {
    pid: i32,
    pidfd: i32,
    alive: bool,
}

/// The executor's state for the current scenario.
struct Exec {
    pages: u8,
    nonce: u64,
    /// Executor ends: command write ends and reply read ends, per process slot.
    cmd_w: Vec<i32>,
    reply_r: Vec<i32>,
    workers: Vec<Worker>,
    kpagecount: i32,
    kpageflags: i32,
    dummy: *mut libc::c_void,
    /// The kernel has KSM (the isolation manages its knobs).
    ksm: bool,
    /// ksmd ran at least once (clean up before exit).
    ksm_used: bool,
}

fn pidfd_open(pid: i32) -> Result<i32, String> {
    // SAFETY: plain system call.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return Err(format!("pidfd_open({pid}): errno {}", errno()));
    }
    Ok(fd)
}

/// Waits until `fd` is readable; `false` on timeout.
fn wait_readable(fd: i32, ms: i32) -> bool {
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

/// Reaps every exited child of ours (P0, and orphaned workers re-parented
/// to us as the child subreaper).
fn reap() {
    loop {
        // SAFETY: plain system call.
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if r <= 0 {
            return;
        }
    }
}

fn pread_u64(fd: i32, index: u64) -> Result<u64, i32> {
    let mut b = [0u8; 8];
    // SAFETY: reads 8 bytes into `b`.
    let n = unsafe { libc::pread(fd, b.as_mut_ptr().cast(), 8, (index * 8) as libc::off_t) };
    if n != 8 {
        return Err(errno());
    }
    Ok(u64::from_le_bytes(b))
}

/// `pgsteal_anon` from `/proc/vmstat`.
fn pgsteal_anon() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/vmstat").map_err(|e| format!("/proc/vmstat: {e}"))?;
    Ok(text.lines().find_map(|l| l.strip_prefix("pgsteal_anon ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0))
}

fn open_ro(path: &str) -> Result<i32, String> {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!("cannot open {path}: {}", std::io::Error::from_raw_os_error(errno())));
    }
    Ok(fd)
}

fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: closes a descriptor we own.
        unsafe { libc::close(fd) };
    }
}

impl Exec {
    fn new() -> Result<Exec, String> {
        let kpagecount = open_ro("/proc/kpagecount")?;
        let kpageflags = open_ro("/proc/kpageflags")?;
        // SAFETY: an anonymous mapping anywhere; it is never touched.
        let dummy = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if dummy == libc::MAP_FAILED {
            return Err(format!("mmap of the drain VMA failed: errno {}", errno()));
        }
        Ok(Exec {
            pages: 0,
            nonce: 0,
            cmd_w: Vec::new(),
            reply_r: Vec::new(),
            workers: Vec::new(),
            kpagecount,
            kpageflags,
            dummy,
            ksm: isolate::ksm_available(),
            ksm_used: false,
        })
    }

    /// Kills every worker of the current scenario and closes its pipes.
    fn stop(&mut self) {
        for (i, w) in self.workers.iter().enumerate() {
            isolate::register_worker(i, 0);
            if w.alive {
                // SAFETY: signals only a worker we created.
                unsafe { libc::kill(w.pid, libc::SIGKILL) };
                wait_readable(w.pidfd, TIMEOUT_MS);
            }
            close(w.pidfd);
        }
        self.workers.clear();
        for fd in self.cmd_w.drain(..).chain(self.reply_r.drain(..)) {
            close(fd);
        }
        reap();
    }

    fn start(&mut self, pages: u8, procs: u8, nonce: u64) -> Result<(), String> {
        self.stop();
        self.pages = pages;
        self.nonce = nonce;
        let (mut cmd_r, mut reply_w) = (Vec::new(), Vec::new());
        for _ in 0..procs.max(1) {
            let mut a = [0i32; 2];
            let mut b = [0i32; 2];
            // SAFETY: two valid arrays of two descriptors.
            if unsafe { libc::pipe2(a.as_mut_ptr(), libc::O_CLOEXEC) } != 0
                || unsafe { libc::pipe2(b.as_mut_ptr(), libc::O_CLOEXEC) } != 0
            {
                return Err(format!("pipe2: errno {}", errno()));
            }
            cmd_r.push(a[0]);
            self.cmd_w.push(a[1]);
            self.reply_r.push(b[0]);
            reply_w.push(b[1]);
        }
        // SAFETY: the executor is single-threaded.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: errno {}", errno()));
        }
        if pid == 0 {
            // P0: keep only the worker ends; THP off for the whole tree;
            // children of workers are reaped automatically.
            for &fd in self.cmd_w.iter().chain(self.reply_r.iter()) {
                close(fd);
            }
            // SAFETY: process-local settings of this worker.
            unsafe {
                libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
                libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            }
            worker_loop(0, &cmd_r, &reply_w);
        }
        for fd in cmd_r.into_iter().chain(reply_w) {
            close(fd);
        }
        isolate::register_worker(0, pid);
        let pidfd = pidfd_open(pid)?;
        self.workers.push(Worker { pid, pidfd, alive: true });
        Ok(())
    }

    /// Sends one command to worker `i` and waits for its answer.
    fn call(&mut self, i: usize, msg: [u8; 16]) -> Result<(i32, i32, u64), String> {
        write_all(self.cmd_w[i], &msg).map_err(|e| format!("P{i}: command pipe: errno {e}"))?;
        let (pid, pidfd) = (self.workers[i].pid, self.workers[i].pidfd);
        let mut fds = [
            libc::pollfd { fd: self.reply_r[i], events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 },
        ];
        loop {
            // SAFETY: two valid pollfds.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, TIMEOUT_MS) };
            if r < 0 && errno() == libc::EINTR {
                continue;
            }
            if r == 0 {
                return Err(format!("P{i} (pid {pid}) did not answer within {TIMEOUT_MS} ms"));
            }
            break;
        }
        if fds[0].revents & libc::POLLIN == 0 {
            self.workers[i].alive = false;
            return Err(format!("P{i} (pid {pid}) died while performing a command (fault or signal)"));
        }
        let mut m = [0u8; 16];
        match read_exact(self.reply_r[i], &mut m) {
            Ok(true) => {}
            _ => return Err(format!("P{i}: reply pipe closed")),
        }
        let status = i32::from_le_bytes(m[..4].try_into().unwrap());
        let value = i32::from_le_bytes(m[4..8].try_into().unwrap());
        Ok((status, value, u64::from_le_bytes(m[8..].try_into().unwrap())))
    }

    /// Performs one action; returns 0 or the errno of the system call.
    fn act(&mut self, a: Action) -> Result<i32, String> {
        if let Action::KsmMerge { .. } | Action::KsmDrop { .. } = a {
            // The merge happens in ksm_wait(); a drop is not visible.
            return if self.ksm { Ok(0) } else { Err(format!("'{a}': this kernel has no KSM")) };
        }
        let i = a.pid() as usize;
        match self.workers.get(i) {
            Some(w) if w.alive => {}
            Some(_) => return Err(format!("P{i} has exited")),
            None => return Err(format!("P{i} does not exist")),
        }
        let page_ok = |p: u8| if p < self.pages { Ok(()) } else { Err(format!("page {p} is outside the window")) };
        if let Action::Mmap { len: 0, .. }
        | Action::Munmap { len: 0, .. }
        | Action::Mprotect { len: 0, .. }
        | Action::Mremap { len: 0, .. } = a
        {
            return Ok(libc::EINVAL);
        }
        match a {
            Action::Mmap { start, len, write, .. } => {
                page_ok(start.saturating_add(len - 1))?;
                Ok(self.call(i, encode(OP_MMAP, start, len, write as u8, 0))?.0)
            }
            Action::Munmap { start, len, .. } => {
                page_ok(start.saturating_add(len - 1))?;
                Ok(self.call(i, encode(OP_MUNMAP, start, len, 0, 0))?.0)
            }
            Action::Mprotect { start, len, write, .. } => {
                page_ok(start.saturating_add(len - 1))?;
                Ok(self.call(i, encode(OP_MPROTECT, start, len, write as u8, 0))?.0)
            }
            Action::Mremap { start, len, to, dontunmap, .. } => {
                page_ok(start.saturating_add(len - 1))?;
                page_ok(to.saturating_add(len - 1))?;
                Ok(self.call(i, encode(OP_MREMAP, start, len, to, dontunmap as u64))?.0)
            }
            Action::Read { page, .. } => {
                page_ok(page)?;
                Ok(self.call(i, encode(OP_READ, page, 0, 0, 0))?.0)
            }
            Action::Write { page, value, .. } => {
                page_ok(page)?;
                Ok(self.call(i, encode(OP_WRITE, page, value, 0, self.nonce))?.0)
            }
            Action::Fork { .. } => {
                let child = self.workers.len();
                if child >= self.cmd_w.len() {
                    return Err(format!(
                        "fork would create P{child}, beyond the {} prepared workers",
                        self.cmd_w.len()
                    ));
                }
                let (status, pid, _) = self.call(i, encode(OP_FORK, child as u8, 0, 0, 0))?;
                if status != 0 {
                    return Ok(status);
                }
                isolate::register_worker(child, pid);
                let pidfd = pidfd_open(pid)?;
                self.workers.push(Worker { pid, pidfd, alive: true });
                Ok(0)
            }
            Action::Exit { .. } => {
                write_all(self.cmd_w[i], &encode(OP_EXIT, 0, 0, 0, 0)).map_err(|e| format!("P{i}: errno {e}"))?;
                // The mm is torn down (exit_mm) before the pidfd polls readable.
                if !wait_readable(self.workers[i].pidfd, TIMEOUT_MS) {
                    return Err(format!("P{i} did not exit within {TIMEOUT_MS} ms"));
                }
                self.workers[i].alive = false;
                isolate::register_worker(i, 0);
                reap();
                Ok(0)
            }
            Action::MadvPageout { start, len, .. } => self.madvise(i, start, len, libc::MADV_PAGEOUT),
            Action::MadvFree { start, len, .. } => self.madvise(i, start, len, libc::MADV_FREE),
            Action::Reclaim { .. } | Action::Writeback => Err(format!(
                "the executor does not run '{a}': no system call reclaims one chosen folio (README, \"What the model leaves out\")"
            )),
            Action::MadvMergeable { start, len, .. } => self.madvise(i, start, len, libc::MADV_MERGEABLE),
            Action::MadvUnmergeable { start, len, .. } => self.madvise(i, start, len, libc::MADV_UNMERGEABLE),
            Action::KsmMerge { .. } | Action::KsmDrop { .. } => unreachable!("handled above"),
        }
    }

    /// Whether, for some alternative of `want`, every group maps one frame
    /// with KPF_KSM set.
    fn ksm_visible(&mut self, want: &KsmWait) -> Result<bool, String> {
        for alt in &want.alternatives {
            if self.ksm_groups_visible(alt)? {
                return Ok(true);
            }
        }
        Ok(want.alternatives.is_empty())
    }

    /// Whether every group maps one frame with KPF_KSM set.
    fn ksm_groups_visible(&mut self, groups: &[Vec<(u8, u8)>]) -> Result<bool, String> {
        for g in groups {
            let mut pfn = None;
            for &(p, page) in g {
                let Some(w) = self.workers.get(p as usize).filter(|w| w.alive) else { return Ok(false) };
                let pm = open_ro(&format!("/proc/{}/pagemap", w.pid))?;
                let e = pread_u64(pm, page_addr(page) / PAGE_SIZE);
                close(pm);
                let e = e.map_err(|e| format!("pagemap of P{p}: errno {e}"))?;
                if e >> 63 & 1 == 0 {
                    return Ok(false);
                }
                let f = e & ((1u64 << 55) - 1);
                if pfn.is_some_and(|x| x != f) {
                    return Ok(false);
                }
                pfn = Some(f);
                let flags = pread_u64(self.kpageflags, f).map_err(|e| format!("kpageflags: errno {e}"))?;
                if flags >> kpf::KSM & 1 == 0 {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Runs ksmd until `want` is visible and [`KSM_SETTLE_SCANS`] full
    /// scans have passed, polling every millisecond; gives up after
    /// max([`KSM_TIMEOUT_SCANS`] full scans, [`KSM_TIMEOUT_MS`]) (or 5 s,
    /// should ksmd not scan at all). Returns what was missing on a
    /// timeout, the milliseconds waited and the full scans passed.
    fn ksm_wait(&mut self, want: &KsmWait) -> Result<(Option<String>, f64, u64), String> {
        let start = isolate::ksm_full_scans()?;
        let t0 = std::time::Instant::now();
        self.ksm_used = true;
        isolate::ksm_run(true)?;
        let r: Result<(Option<String>, f64, u64), String> = (|| loop {
            // SAFETY: plain sleep.
            unsafe { libc::usleep(1000) };
            let scans = isolate::ksm_full_scans()? - start;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let seen = self.ksm_visible(want)?;
            if seen && scans >= KSM_SETTLE_SCANS {
                return Ok((None, ms, scans));
            }
            if (scans >= KSM_TIMEOUT_SCANS && ms >= KSM_TIMEOUT_MS as f64) || ms >= 5000.0 {
                let what = if seen { "ksmd did not complete its scans" } else { "the predicted merge did not appear" };
                return Ok((Some(format!("{what} within {ms:.0} ms and {scans} full scans")), ms, scans));
            }
        })();
        let paused = isolate::ksm_run(false);
        let r = r?;
        paused?;
        Ok(r)
    }

    /// Lets ksmd pass everything once more (two full scans, at most 2 s), so
    /// that the rmap_items and mm slots of exited workers are freed before
    /// the KSM knobs are restored.
    fn ksm_cleanup(&mut self) {
        if !self.ksm_used {
            return;
        }
        let Ok(start) = isolate::ksm_full_scans() else { return };
        if isolate::ksm_run(true).is_err() {
            return;
        }
        let t0 = std::time::Instant::now();
        while t0.elapsed().as_millis() < 2000 && isolate::ksm_full_scans().map_or(true, |n| n < start + 2) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = isolate::ksm_run(false);
    }

    /// madvise(`advice`) on pages `start..start+len` in worker `i`.
    fn madvise(&mut self, i: usize, start: u8, len: u8, advice: i32) -> Result<i32, String> {
        if len == 0 {
            return Ok(libc::EINVAL);
        }
        if start.saturating_add(len - 1) >= self.pages {
            return Err(format!("pages {start}+{len} leave the window"));
        }
        Ok(self.call(i, encode(OP_MADVISE, start, len, 0, advice as u64))?.0)
    }

    /// `lru_add_drain()` on this CPU: MADV_COLD on the untouched dummy VMA.
    fn drain(&self) {
        // SAFETY: the dummy mapping is ours; MADV_COLD does not free it.
        unsafe { libc::madvise(self.dummy, PAGE_SIZE as usize, libc::MADV_COLD) };
    }

    fn snapshot(&mut self) -> Result<KernelSnap, String> {
        self.drain();
        let mut snap = KernelSnap { pgsteal_anon: pgsteal_anon()?, ..KernelSnap::default() };
        for i in 0..self.workers.len() {
            if !self.workers[i].alive {
                snap.procs.push(KProc { alive: false, ..KProc::default() });
                continue;
            }
            let pid = self.workers[i].pid;
            let vmas = self.maps(pid)?;
            let pm = open_ro(&format!("/proc/{pid}/pagemap"))?;
            let mut pages = Vec::new();
            for p in 0..self.pages {
                let inside = vmas.iter().any(|&(s, e, _, _)| s <= p && p < e);
                let e = pread_u64(pm, page_addr(p) / PAGE_SIZE);
                let e = match e {
                    Ok(e) => e,
                    Err(err) => {
                        close(pm);
                        return Err(format!("pagemap of P{i}: errno {err}"));
                    }
                };
                pages.push(self.page(inside, e)?);
            }
            close(pm);
            snap.procs.push(KProc { alive: true, vmas, pages });
        }
        Ok(snap)
    }

    fn page(&mut self, inside: bool, e: u64) -> Result<KPage, String> {
        let mut k = KPage::default();
        if !inside {
            return Ok(k);
        }
        k.excl = e >> 56 & 1 == 1;
        if e >> 63 & 1 == 1 {
            k.pte = KPte::Present;
            k.pfn = e & ((1u64 << 55) - 1);
            k.count = pread_u64(self.kpagecount, k.pfn).map_err(|e| format!("kpagecount: errno {e}"))?;
            k.flags = pread_u64(self.kpageflags, k.pfn).map_err(|e| format!("kpageflags: errno {e}"))?;
        } else if e >> 62 & 1 == 1 {
            k.pte = KPte::Swap;
            k.pfn = e & ((1u64 << 55) - 1);
        } else {
            k.pte = KPte::None;
        }
        Ok(k)
    }

    /// Reads the content of every present page, after pagemap and the
    /// kpage files were read (a load of a present page changes nothing).
    fn peek(&mut self, snap: &mut KernelSnap) -> Result<(), String> {
        for (i, proc) in snap.procs.iter_mut().enumerate() {
            for (p, k) in proc.pages.iter_mut().enumerate() {
                if k.pte == KPte::Present {
                    let (_, v, w) = self.call(i, encode(OP_PEEK, p as u8, 0, 0, 0))?;
                    k.value = Some(v as u8);
                    k.nonce_ok = w == self.nonce || (w == 0 && v == 0);
                } else if k.pte == KPte::Swap {
                    // mincore() of a swap PTE: the slot has an uptodate
                    // folio in the swap cache (mincore_swap()).
                    let (e, incore, _) = self.call(i, encode(OP_MINCORE, p as u8, 0, 0, 0))?;
                    if e != 0 {
                        return Err(format!("P{i}: mincore of page {p}: errno {e}"));
                    }
                    k.swapcache = incore != 0;
                }
            }
        }
        Ok(())
    }

    /// VMAs of `pid` that overlap the window, clipped to it.
    fn maps(&self, pid: i32) -> Result<Vec<(u8, u8, bool, bool)>, String> {
        let text =
            std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| format!("/proc/{pid}/maps: {e}"))?;
        let (lo, hi) = (WINDOW_BASE, page_addr(self.pages));
        let mut out = Vec::new();
        for line in text.lines() {
            let mut w = line.split_whitespace();
            let (Some(range), Some(perms)) = (w.next(), w.next()) else { continue };
            let Some((s, e)) = range.split_once('-') else { continue };
            let (Ok(s), Ok(e)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) else { continue };
            if e <= lo || s >= hi {
                continue;
            }
            let (s, e) = (s.max(lo), e.min(hi));
            out.push((
                ((s - lo) / PAGE_SIZE) as u8,
                ((e - lo) / PAGE_SIZE) as u8,
                perms.starts_with('r'),
                perms.as_bytes().get(1) == Some(&b'w'),
            ));
        }
        Ok(out)
    }

    fn handle(&mut self, req: Request) -> Reply {
        let mut reply = Reply { error: None, errno: 0, snap: None, unsettled: None, ksm_wait: None };
        let r: Result<(), String> = (|| {
            match req {
                Request::Start { pages, procs, nonce } => self.start(pages, procs, nonce)?,
                Request::Act { action, ksm } => {
                    let a = Action::parse(&action)?;
                    reply.errno = self.act(a)?;
                    if let (Action::KsmMerge { .. }, Some(want)) = (a, &ksm) {
                        let (missing, ms, scans) = self.ksm_wait(want)?;
                        reply.unsettled = missing;
                        reply.ksm_wait = Some((ms, scans));
                    }
                    let mut s = self.snapshot()?;
                    self.peek(&mut s)?;
                    reply.snap = Some(s);
                }
                Request::Snap => {
                    let mut s = self.snapshot()?;
                    self.peek(&mut s)?;
                    reply.snap = Some(s);
                }
                Request::Stop => self.stop(),
            }
            Ok(())
        })();
        reply.error = r.err();
        reply
    }
}

/// Pins this process (and so every worker forked later) to one CPU: CPU 0
/// when allowed, else the lowest allowed one.
fn pin() -> Result<usize, String> {
    // SAFETY: cpu_set_t is plain data; the calls fill or read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(format!("sched_getaffinity: errno {}", errno()));
        }
        let cpu = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set)).unwrap_or(0);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) != 0 {
            return Err(format!("sched_setaffinity(CPU {cpu}): errno {}", errno()));
        }
        Ok(cpu)
    }
}

fn main() {
    let fatal = |m: String| -> ! {
        let r = Reply { error: Some(m), errno: 0, snap: None, unsettled: None, ksm_wait: None };
        println!("{}", serde_json::to_string(&r).unwrap());
        std::process::exit(2);
    };
    // SAFETY: process-local settings: end with the checker (SIGTERM, so
    // that the machine is restored); orphaned
    // workers are re-parented to us so that we can reap them.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    if let Err(e) = pin() {
        fatal(e);
    }
    let iso = Isolation::setup().unwrap_or_else(|e| fatal(format!("isolation (CONFORMANCE.md §6.3): {e}")));
    let mut ex = match Exec::new() {
        Ok(ex) => ex,
        Err(e) => {
            drop(iso);
            fatal(e)
        }
    };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(req) => ex.handle(req),
            Err(e) => Reply {
                error: Some(format!("bad request: {e}")),
                errno: 0,
                snap: None,
                unsettled: None,
                ksm_wait: None,
            },
        };
        let text = serde_json::to_string(&reply).unwrap();
        if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    // End of input (the checker finished or died): leave nothing behind.
    ex.stop();
    ex.ksm_cleanup();
    if let Err(e) = iso.restore() {
        eprintln!("rmapcheck-exec: could not restore the machine: {e}");
        drop(iso);
        std::process::exit(3);
    }
}
