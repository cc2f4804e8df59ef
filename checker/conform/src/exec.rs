//! Driving the executor process `rmapcheck-exec` over its stdin/stdout.

use super::proto::{Reply, Request};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

/// The running executor, for the signal handler.
static EXEC_PID: AtomicI32 = AtomicI32::new(0);

/// SIGINT, SIGTERM or SIGHUP in the checker: pass SIGTERM on to the
/// executor, wait until it has restored the machine and exited, then exit.
extern "C" fn on_signal(sig: libc::c_int) {
    let pid = EXEC_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill and waitpid are async-signal-safe; `pid` is our child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    // SAFETY: ends the process without running anything else.
    unsafe { libc::_exit(128 + sig) };
}

fn forward_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler makes only async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigfillset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// A running executor. Dropping it closes its stdin, upon which it kills
/// its workers and exits; then it is waited for.
pub struct Executor {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// Where the executor binary is: `$RMAPCHECK_EXEC`, else `rmapcheck-exec`
/// next to the running binary (or its parent directory, for test binaries
/// in `target/*/deps`).
pub fn default_exec_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RMAPCHECK_EXEC") {
        return PathBuf::from(p);
    }
    let me = std::env::current_exe().unwrap_or_default();
    let dir = me.parent().map(Path::to_path_buf).unwrap_or_default();
    let here = dir.join("rmapcheck-exec");
    if here.exists() {
        return here;
    }
    dir.parent().map(|d| d.join("rmapcheck-exec")).unwrap_or(here)
}

impl Executor {
    /// Starts the executor at `path`. From now on SIGINT, SIGTERM and
    /// SIGHUP of this process wait for the executor to restore the machine
    /// (its swap device and page-cluster) before ending this process.
    pub fn spawn(path: &Path) -> Result<Executor, String> {
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the executor {}: {e}", path.display()))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        EXEC_PID.store(child.id() as i32, Ordering::SeqCst);
        forward_signals();
        Ok(Executor { child, stdin, stdout })
    }

    /// Sends one request and waits for its reply. A reply carrying an
    /// error is returned as `Err`.
    pub fn request(&mut self, req: &Request) -> Result<Reply, String> {
        let line = serde_json::to_string(req).map_err(|e| e.to_string())?;
        let stdin = self.stdin.as_mut().ok_or("executor stdin closed")?;
        writeln!(stdin, "{line}").and_then(|_| stdin.flush()).map_err(|e| format!("executor: {e}"))?;
        let mut answer = String::new();
        let n = self.stdout.read_line(&mut answer).map_err(|e| format!("executor: {e}"))?;
        if n == 0 {
            return Err("the executor exited unexpectedly".into());
        }
        let reply: Reply =
            serde_json::from_str(&answer).map_err(|e| format!("executor sent a bad reply ({e}): {answer}"))?;
        match &reply.error {
            Some(e) => Err(format!("executor: {e}")),
            None => Ok(reply),
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
        let _ = EXEC_PID.compare_exchange(self.child.id() as i32, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}
