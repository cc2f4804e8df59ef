//! Process lifecycle: the worker processes of the current scenario, their
//! pipes and pidfds; starting `P0`, sending a command and waiting for its
//! answer, registering a forked child, waiting for an exit, and killing
//! and reaping everything at the end of a scenario.
//!
//! The executor is the workers' child subreaper (see `main`), so orphans
//! come back to it and [`reap`] collects them. Every live worker's pid is in
//! [`PIDS`], which the isolation's signal handler reads to kill them before
//! it swaps the device off.

use crate::sys::{close, errno, read_exact, wait_readable, write_all};
use crate::worker::{decode, encode, worker_loop, OP_EXIT, OP_FORK};
use std::sync::atomic::{AtomicI32, Ordering};

/// Live worker pids, by process slot, for the isolation's signal handler,
/// which kills them before it restores the machine (0: no worker).
pub static PIDS: [AtomicI32; MAX_PIDS] = [const { AtomicI32::new(0) }; MAX_PIDS];
const MAX_PIDS: usize = 16;

/// Records a worker pid for the signal handler (`pid` 0 forgets `slot`).
fn register_worker(slot: usize, pid: i32) {
    if let Some(p) = PIDS.get(slot) {
        p.store(pid, Ordering::SeqCst);
    }
}

/// Milliseconds to wait for a worker's answer or exit before giving up.
pub const TIMEOUT_MS: i32 = 10_000;

/// One worker process.
pub struct Worker {
    /// Its pid.
    pub pid: i32,
    pidfd: i32,
    /// It has not exited.
    pub alive: bool,
    /// The pages it holds a longterm pin on (an io_uring fixed buffer each).
    pub pins: Vec<u8>,
}

/// The workers of the current scenario, indexed by the model's process
/// number, and the executor's ends of their pipes.
#[derive(Default)]
pub struct Procs {
    /// Command write ends, per process slot (prepared for every process
    /// the scenario may create).
    cmd_w: Vec<i32>,
    /// Reply read ends, per process slot.
    reply_r: Vec<i32>,
    /// The workers created so far.
    pub workers: Vec<Worker>,
}

fn pidfd_open(pid: i32) -> Result<i32, String> {
    // SAFETY: plain system call.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return Err(format!("pidfd_open({pid}): errno {}", errno()));
    }
    Ok(fd)
}

/// Reaps every exited child of ours (P0, and orphaned workers re-parented
/// to us as the child subreaper).
pub fn reap() {
    loop {
        // SAFETY: plain system call.
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if r <= 0 {
            return;
        }
    }
}

impl Procs {
    /// Kills every worker of the current scenario and closes its pipes.
    pub fn stop(&mut self) {
        for (i, w) in self.workers.iter().enumerate() {
            register_worker(i, 0);
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

    /// Ends the previous scenario's workers, prepares pipes for `procs`
    /// processes and forks `P0`.
    pub fn start(&mut self, procs: u8, mthp: bool) -> Result<(), String> {
        self.stop();
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
                if !mthp {
                    libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
                }
                libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            }
            worker_loop(0, &cmd_r, &reply_w);
        }
        for fd in cmd_r.into_iter().chain(reply_w) {
            close(fd);
        }
        register_worker(0, pid);
        let pidfd = pidfd_open(pid)?;
        self.workers.push(Worker { pid, pidfd, alive: true, pins: Vec::new() });
        Ok(())
    }

    /// `Ok` when worker `i` exists and has not exited.
    pub fn check_alive(&self, i: usize) -> Result<(), String> {
        match self.workers.get(i) {
            Some(w) if w.alive => Ok(()),
            Some(_) => Err(format!("P{i} has exited")),
            None => Err(format!("P{i} does not exist")),
        }
    }

    /// The pid of worker `i` if it is alive.
    pub fn live_pid(&self, i: usize) -> Option<i32> {
        self.workers.get(i).filter(|w| w.alive).map(|w| w.pid)
    }

    /// Sends one command to worker `i` and waits for its answer: status,
    /// value, word.
    pub fn call(&mut self, i: usize, msg: [u8; 16]) -> Result<(i32, i32, u64), String> {
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
        Ok(decode(&m))
    }

    /// Worker `i` forks; the child becomes the next worker. Returns 0 or
    /// fork()'s errno.
    pub fn fork(&mut self, i: usize) -> Result<i32, String> {
        let child = self.workers.len();
        if child >= self.cmd_w.len() {
            return Err(format!("fork would create P{child}, beyond the {} prepared workers", self.cmd_w.len()));
        }
        let (status, pid, _) = self.call(i, encode(OP_FORK, child as u8, 0, 0, 0))?;
        if status != 0 {
            return Ok(status);
        }
        register_worker(child, pid);
        let pidfd = pidfd_open(pid)?;
        self.workers.push(Worker { pid, pidfd, alive: true, pins: Vec::new() });
        Ok(0)
    }

    /// Worker `i` exits; returns once its mm is gone.
    pub fn exit(&mut self, i: usize) -> Result<(), String> {
        write_all(self.cmd_w[i], &encode(OP_EXIT, 0, 0, 0, 0)).map_err(|e| format!("P{i}: errno {e}"))?;
        // The mm is torn down (exit_mm) before the pidfd polls readable.
        if !wait_readable(self.workers[i].pidfd, TIMEOUT_MS) {
            return Err(format!("P{i} did not exit within {TIMEOUT_MS} ms"));
        }
        self.workers[i].alive = false;
        register_worker(i, 0);
        reap();
        Ok(())
    }
}
