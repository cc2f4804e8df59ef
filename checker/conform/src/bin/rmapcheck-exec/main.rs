//! `rmapcheck-exec`: the single-threaded conformance executor.
//!
//! It is spawned by `rmapcheck conform` and never runs inside the
//! multi-threaded checker. It reads [`Request`]s (JSON lines) on stdin and
//! answers each with one [`Reply`] line on stdout. By job:
//!
//! * [`worker`]: the worker protocol. Every process of a scenario is a
//!   worker process that makes the system calls and memory accesses itself.
//! * [`procs`]: process lifecycle: `P0`, fork, exit, kill and reap.
//! * [`dispatch`]: one scenario action to the worker command that runs it.
//! * [`ksmd`]: ksmd waits, the per-step control of ksmd.
//! * [`snapshot`]: the /proc snapshot after every step (maps, pagemap,
//!   kpagecount, kpageflags, vmstat).
//! * [`isolate`]: machine isolation and its restore (zram swap,
//!   page-cluster, KSM knobs), kept apart from the per-step control above.
//! * [`sys`]: the thin system call wrappers all of them use.
//!
//! Per process (`docs/conformance.md`, "Isolation"): this process pins
//! itself to one CPU before forking anything (workers inherit the mask),
//! the snapshot drains that CPU's per-CPU folio batches first, and `P0`
//! sets `PR_SET_THP_DISABLE` (inherited by forks), except in a scenario
//! with large folios: then [`thp`] knobs give 16 kB folios to VMAs with
//! MADV_HUGEPAGE, which every mmap of the scenario gets.

mod dispatch;
mod files;
mod isolate;
mod ksmd;
mod pin;
mod procs;
mod snapshot;
mod sys;
mod thp;
mod uffd;
mod worker;

use isolate::Isolation;
use ksmd::Ksmd;
use procs::Procs;
use rmapcheck_conform::proto::{Reply, Request};
use rmapcheck_model::Action;
use snapshot::ProcFiles;
use std::io::{BufRead, Write};

/// The executor's state for the current scenario.
struct Exec {
    /// Pages in the window.
    pages: u8,
    /// This run's content nonce.
    nonce: u64,
    /// The scenario has large folios (16 kB mTHP).
    mthp: bool,
    procs: Procs,
    files: ProcFiles,
    /// The scenario's named files.
    named: files::Files,
    ksmd: Ksmd,
    /// The KSM counters when the scenario started ([`ksmd::counters`]),
    /// which the snapshots subtract; `None` without KSM.
    ksm_base: Option<[i64; 3]>,
}

impl Exec {
    fn new() -> Result<Exec, String> {
        Ok(Exec {
            pages: 0,
            nonce: 0,
            mthp: false,
            procs: Procs::default(),
            files: ProcFiles::open()?,
            named: files::Files::default(),
            ksmd: Ksmd::new(),
            ksm_base: None,
        })
    }

    fn snapshot(&mut self) -> Result<rmapcheck_conform::proto::KernelSnap, String> {
        let mut snap = self.files.snapshot(&mut self.procs, self.pages, self.nonce)?;
        snap.files = self.named.snapshot(self.pages)?;
        if let Some(base) = self.ksm_base {
            let now = ksmd::counters()?;
            snap.ksm = Some([now[0] - base[0], now[1] - base[1], now[2] - base[2]]);
        }
        Ok(snap)
    }

    fn handle(&mut self, req: Request, iso: &Isolation) -> Reply {
        let mut reply = Reply { error: None, errno: 0, snap: None, unsettled: None, ksm_wait: None };
        let r: Result<(), String> = (|| {
            match req {
                Request::Start { pages, procs, nonce, files, mthp, use_zero_pages } => {
                    self.pages = pages;
                    self.nonce = nonce;
                    if self.ksmd.available {
                        // One of isolate::KSM_KNOBS: restored with the others.
                        let knob = format!("{}/use_zero_pages", ksmd::KSM_DIR);
                        sys::write_file(&knob, if use_zero_pages { "1" } else { "0" })?;
                    } else if use_zero_pages {
                        return Err("use_zero_pages: this kernel has no KSM".into());
                    }
                    match mthp {
                        0 => self.mthp = false,
                        // rmapcheck_model::Mthp: bit 2 is order 2 (16 kB).
                        0b100 => {
                            iso.enable_mthp()?;
                            self.mthp = true;
                        }
                        m => return Err(format!("mTHP orders {m:#b}: only 16 kB (order 2) is an anonymous size here")),
                    }
                    self.procs.stop();
                    // The counters are machine-wide: compare from here on.
                    // ksmd first passes what the last scenario left (the
                    // rmap_items of its exited workers), which would
                    // otherwise go during this one's first ksmd step.
                    if self.ksmd.available {
                        self.ksmd.cleanup();
                        self.ksm_base = Some(ksmd::counters()?);
                    }
                    // Before P0 is forked: every worker inherits the descriptors.
                    self.named.create(files, pages)?;
                    self.procs.start(procs, self.mthp)?
                }
                Request::Act { action, ksm } => {
                    let a = Action::parse(&action)?;
                    let (have_ksm, fds) = (self.ksmd.available, &self.named.fds);
                    reply.errno = dispatch::act(&mut self.procs, self.pages, self.nonce, have_ksm, self.mthp, fds, a)?;
                    if let (Action::KsmMerge { .. }, Some(want)) = (a, &ksm) {
                        let (missing, ms, scans) = self.ksmd.wait(&self.files, &self.procs, want)?;
                        reply.unsettled = missing;
                        reply.ksm_wait = Some((ms, scans));
                    }
                    reply.snap = Some(self.snapshot()?);
                }
                Request::Snap => reply.snap = Some(self.snapshot()?),
                Request::Stop => {
                    self.procs.stop();
                    self.named.close_all();
                }
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
            return Err(format!("sched_getaffinity: errno {}", sys::errno()));
        }
        let cpu = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set)).unwrap_or(0);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) != 0 {
            return Err(format!("sched_setaffinity(CPU {cpu}): errno {}", sys::errno()));
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
    let iso = Isolation::setup().unwrap_or_else(|e| fatal(format!("isolation (docs/conformance.md): {e}")));
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
            Ok(req) => ex.handle(req, &iso),
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
    ex.procs.stop();
    ex.named.close_all();
    ex.ksmd.cleanup();
    if let Err(e) = iso.restore() {
        eprintln!("rmapcheck-exec: could not restore the machine: {e}");
        drop(iso);
        std::process::exit(3);
    }
}
