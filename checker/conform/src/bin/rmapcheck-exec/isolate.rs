//! Machine-wide isolation for the executor: a zram swap device of our own
//! at priority 200, `vm.page-cluster = 0` and the KSM knobs, set up when
//! the executor starts and restored when it ends, also on error, on a
//! panic and on SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGPIPE. This is the
//! only code of the project that changes machine settings; per-step
//! control (ksmd's `run` inside a merge wait) is in `ksmd`.
//!
//! * zram (`SWP_SYNCHRONOUS_IO`) writes and frees at pageout time and skips
//!   the swap cache on a swap-in of a slot only one PTE names: deterministic,
//!   unlike a file swap (§5).
//! * The device is a fresh one from `/sys/class/zram-control/hot_add`
//!   (removed again with `hot_remove`), or `/dev/zram0` when hot_add is not
//!   there and zram0 is unused (disksize 0); it is then only reset.
//! * The swap header is written here (no mkswap needed).
//! * `page-cluster = 0` turns swap readahead off on the swap-cache path
//!   (count-2 slots still take it on zram).
//! * KSM (docs/conformance.md §4, §6.3), when `/sys/kernel/mm/ksm` exists: the
//!   knobs [`KSM_KNOBS`] are saved and set to `run=0` (ksmd paused: the
//!   executor sets `run=1` only while it waits for a merge the model
//!   predicts; `run=0` keeps merged pages, only `run=2` unmerges),
//!   `sleep_millisecs=10`, `pages_to_scan=1000`, `smart_scan=0`,
//!   `use_zero_pages=0` and `advisor_mode=none` (the advisor would retune
//!   pages_to_scan). `merge_across_nodes` and `max_page_sharing` are left
//!   alone: the kernel refuses changes while KSM pages exist, and the
//!   scenarios share a page at most a few times on one node.
//! * One executor at a time: an exclusive `flock` on [`LOCK_FILE`], so two
//!   runs cannot save each other's settings as the originals.
//! * What was changed is written to [`STATE_FILE`] before the change. A run
//!   killed with SIGKILL (no handler can run) leaves that file behind, and
//!   the next executor restores from it before doing anything else.
//!
//! Restoring uses raw system calls on paths prepared in advance, so the
//! same code runs from the signal handler.

use crate::ksmd::KSM_DIR;
use crate::sys::{close, cstr, errno, raw_write, read_file, write_file};
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Lock held for the executor's lifetime.
pub const LOCK_FILE: &str = "/run/rmapcheck-exec.lock";
/// What the running (or a killed) executor changed.
pub const STATE_FILE: &str = "/run/rmapcheck-exec.state";
/// The swap readahead sysctl.
pub const PAGE_CLUSTER: &str = "/proc/sys/vm/page-cluster";
/// Swap priority of the zram device: above any other swap of the machine.
pub const SWAP_PRIORITY: i32 = 200;
/// Size of the zram device. Scenarios use at most a few dozen slots.
pub const DISKSIZE: u64 = 16 << 20;
/// KSM knobs the executor sets, with its values, in the order they are
/// set (restored in reverse order, `run` last).
pub const KSM_KNOBS: [(&str, &str); 6] = [
    ("run", "0"),
    ("advisor_mode", "none"),
    ("sleep_millisecs", "10"),
    ("pages_to_scan", "1000"),
    ("smart_scan", "0"),
    ("use_zero_pages", "0"),
];

const PAGE: usize = 4096;
const SWAP_FLAG_PREFER: i32 = 0x8000;
const SWAP_FLAG_PRIO_MASK: i32 = 0x7fff;

static PLAN: OnceLock<Plan> = OnceLock::new();
static RESTORED: AtomicBool = AtomicBool::new(false);

/// Everything the restore needs, prepared before anything is changed.
struct Plan {
    dev: CString,
    reset: CString,
    hot_remove: Option<(CString, Vec<u8>)>,
    page_cluster: CString,
    page_cluster_old: Vec<u8>,
    /// KSM knob paths and their old values, in restore order.
    ksm: Vec<(CString, Vec<u8>)>,
    /// THP knob paths and their old values (`crate::thp`).
    thp: Vec<(CString, Vec<u8>)>,
    state_file: CString,
    lock_file: CString,
}

/// The isolation in force. Dropping it restores the machine.
pub struct Isolation {
    /// The zram device number.
    pub zram: u32,
    /// The KSM knobs before the run (empty without KSM).
    pub ksm_old: Vec<(String, String)>,
    /// The THP knobs before the run (`crate::thp::knobs()`); they change
    /// only when a scenario asks for large folios ([`Isolation::enable_mthp`]).
    pub thp_old: Vec<(String, String)>,
    thp_on: std::cell::Cell<bool>,
    lock_fd: i32,
}

/// swapoff with retries on EINTR/EBUSY; 0 or the errno.
fn raw_swapoff(dev: &CString) -> i32 {
    let mut e = 0;
    for _ in 0..50 {
        // SAFETY: a valid path.
        if unsafe { libc::swapoff(dev.as_ptr()) } == 0 {
            return 0;
        }
        e = errno();
        if e != libc::EINTR && e != libc::EBUSY {
            return e;
        }
        // SAFETY: plain sleep.
        unsafe { libc::usleep(20_000) };
    }
    e
}

/// Runs `f` until it returns something other than EBUSY/EINTR, for up to
/// about 5 s; 0 or the last errno.
fn retry_busy(f: impl Fn() -> i32) -> i32 {
    let mut e = 0;
    for _ in 0..250 {
        e = f();
        if e != libc::EBUSY && e != libc::EINTR {
            return e;
        }
        // SAFETY: plain sleep (nanosleep), async-signal-safe.
        unsafe { libc::usleep(20_000) };
    }
    e
}

/// Undoes the plan: swapoff, zram reset, hot_remove, page-cluster, state
/// file. Only raw system calls, so that a signal handler may run it. Runs
/// once; later calls return at once. Returns the first failure.
fn restore_raw(plan: &Plan) -> Result<(), (&'static str, i32)> {
    if RESTORED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let e = raw_swapoff(&plan.dev);
    // EINVAL: not an active swap device (swapon never happened).
    if e != 0 && e != libc::EINVAL && e != libc::ENOENT {
        return Err(("swapoff", e));
    }
    // The device can stay open for a moment after swapoff (the last fput,
    // or udev probing it on the close event): reset says EBUSY meanwhile.
    let e = retry_busy(|| raw_write(&plan.reset, b"1"));
    if e != 0 {
        return Err(("zram reset", e));
    }
    if let Some((path, id)) = &plan.hot_remove {
        let e = retry_busy(|| raw_write(path, id));
        if e != 0 {
            return Err(("zram hot_remove", e));
        }
    }
    let e = raw_write(&plan.page_cluster, &plan.page_cluster_old);
    if e != 0 {
        return Err(("page-cluster", e));
    }
    for (path, old) in &plan.ksm {
        let e = raw_write(path, old);
        if e != 0 {
            return Err(("ksm knob", e));
        }
    }
    for (path, old) in &plan.thp {
        let e = raw_write(path, old);
        if e != 0 {
            return Err(("thp knob", e));
        }
    }
    // SAFETY: valid paths. The lock file goes while we still hold the
    // lock; a waiter notices that its file was unlinked (see `lock()`).
    unsafe {
        libc::unlink(plan.state_file.as_ptr());
        libc::unlink(plan.lock_file.as_ptr());
    }
    Ok(())
}

extern "C" fn on_signal(sig: libc::c_int) {
    // The workers go first: swapoff waits for every page of the device.
    for p in &crate::procs::PIDS {
        let pid = p.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill is async-signal-safe; the pid is one of our workers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    if let Some(plan) = PLAN.get() {
        if let Err((what, e)) = restore_raw(plan) {
            let msg = b"rmapcheck-exec: restoring the machine failed in the signal handler: ";
            let num =
                [b' ', b'e', b'r', b'r', b'n', b'o', b' ', b'0' + (e / 10 % 10) as u8, b'0' + (e % 10) as u8, b'\n'];
            // SAFETY: write to stderr is async-signal-safe.
            unsafe {
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::write(2, what.as_ptr().cast(), what.len());
                libc::write(2, num.as_ptr().cast(), num.len());
            }
        }
    }
    // SAFETY: ends the process without running anything else.
    unsafe { libc::_exit(128 + sig) };
}

fn install_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGPIPE] {
        // SAFETY: a plain handler that only makes async-signal-safe calls;
        // every other signal is blocked while it runs.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigfillset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(plan) = PLAN.get() {
            let _ = restore_raw(plan);
        }
        prev(info);
    }));
}

fn plan_for(zram: u32, hot_added: bool, page_cluster_old: &str, ksm_old: &[(String, String)], thp_old: &Knobs) -> Plan {
    Plan {
        ksm: ksm_old.iter().rev().map(|(k, v)| (cstr(&format!("{KSM_DIR}/{k}")), v.as_bytes().to_vec())).collect(),
        thp: thp_old
            .iter()
            .map(|(k, v)| (cstr(&format!("{}/{k}", crate::thp::THP_DIR)), v.as_bytes().to_vec()))
            .collect(),
        dev: cstr(&format!("/dev/zram{zram}")),
        reset: cstr(&format!("/sys/block/zram{zram}/reset")),
        hot_remove: hot_added.then(|| (cstr("/sys/class/zram-control/hot_remove"), zram.to_string().into_bytes())),
        page_cluster: cstr(PAGE_CLUSTER),
        page_cluster_old: page_cluster_old.as_bytes().to_vec(),
        state_file: cstr(STATE_FILE),
        lock_file: cstr(LOCK_FILE),
    }
}

/// Takes the executor lock (waiting for another executor to finish). The
/// holder unlinks the file when it is done, so that nothing is left in
/// /run; a waiter that then gets the lock on the unlinked file retries on
/// a fresh one.
fn lock() -> Result<i32, String> {
    let path = cstr(LOCK_FILE);
    let mut said = false;
    loop {
        // SAFETY: a valid path.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC, 0o600) };
        if fd < 0 {
            return Err(format!("cannot open {LOCK_FILE}: errno {}", errno()));
        }
        // SAFETY: a descriptor we own.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            if !said {
                eprintln!("rmapcheck-exec: another executor holds {LOCK_FILE}; waiting for it");
                said = true;
            }
            // SAFETY: as above, blocking.
            while unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
                if errno() != libc::EINTR {
                    return Err(format!("flock {LOCK_FILE}: errno {}", errno()));
                }
            }
        }
        // SAFETY: stat buffers are plain data filled by the calls.
        let same = unsafe {
            let (mut a, mut b): (libc::stat, libc::stat) = (std::mem::zeroed(), std::mem::zeroed());
            libc::fstat(fd, &mut a) == 0 && libc::stat(path.as_ptr(), &mut b) == 0 && a.st_ino == b.st_ino
        };
        if same {
            return Ok(fd);
        }
        close(fd);
    }
}

/// KSM knob names and values.
type Knobs = Vec<(String, String)>;

/// What [`STATE_FILE`] records: zram device, hot_added, page-cluster,
/// the old KSM knobs and the old THP knobs.
type Saved = (u32, bool, String, Knobs, Knobs);

/// Parses [`STATE_FILE`]: `zram=N hot_added=0|1 page_cluster=V` and
/// `ksm.KNOB=V` for each saved KSM knob (a file without them, from an
/// executor that did not touch KSM, restores none).
fn parse_state(text: &str) -> Option<Saved> {
    let mut zram = None;
    let mut hot = None;
    let mut pc = None;
    let mut ksm = Vec::new();
    let mut thp = Vec::new();
    for w in text.split_whitespace() {
        match w.split_once('=') {
            Some(("zram", v)) => zram = v.parse().ok(),
            Some(("hot_added", v)) => hot = Some(v == "1"),
            Some(("page_cluster", v)) => pc = Some(v.to_string()),
            Some((k, v)) if k.starts_with("ksm.") => {
                let knob = &k[4..];
                if KSM_KNOBS.iter().any(|(n, _)| *n == knob) {
                    ksm.push((knob.to_string(), v.to_string()));
                }
            }
            Some((k, v)) if k.starts_with("thp.") && crate::thp::valid(&k[4..]) => {
                thp.push((k[4..].to_string(), v.to_string()));
            }
            _ => {}
        }
    }
    Some((zram?, hot?, pc?, ksm, thp))
}

/// The current value of a KSM knob; `advisor_mode` shows all choices with
/// the current one in brackets (`[none] scan-time`).
fn read_knob(name: &str) -> Result<String, String> {
    let v = read_file(&format!("{KSM_DIR}/{name}"))?;
    Ok(match (v.find('['), v.find(']')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
        _ => v,
    })
}

/// The KSM knobs as they are now (empty when the kernel has no KSM). A
/// knob this kernel lacks (advisor_mode, smart_scan are 6.7+) is skipped.
fn save_ksm() -> Result<Vec<(String, String)>, String> {
    if !crate::ksmd::available() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (k, _) in KSM_KNOBS {
        if std::path::Path::new(&format!("{KSM_DIR}/{k}")).exists() {
            out.push((k.to_string(), read_knob(k)?));
        }
    }
    Ok(out)
}

/// Restores what a killed executor left behind, if anything. Returns a
/// description of what was restored.
pub fn recover_stale() -> Result<Option<String>, String> {
    let Ok(text) = std::fs::read_to_string(STATE_FILE) else { return Ok(None) };
    let Some((zram, hot, pc, ksm, thp)) = parse_state(&text) else {
        let _ = std::fs::remove_file(STATE_FILE);
        return Ok(Some(format!("ignored an unreadable {STATE_FILE}")));
    };
    let plan = plan_for(zram, hot, &pc, &ksm, &thp);
    let e = raw_swapoff(&plan.dev);
    if e != 0 && e != libc::EINVAL && e != libc::ENOENT {
        return Err(format!("stale zram{zram}: swapoff: {}", std::io::Error::from_raw_os_error(e)));
    }
    if std::path::Path::new(&format!("/sys/block/zram{zram}")).exists() {
        let e = retry_busy(|| raw_write(&plan.reset, b"1"));
        if e != 0 {
            return Err(format!("stale zram{zram}: reset: {}", std::io::Error::from_raw_os_error(e)));
        }
        if let Some((path, id)) = &plan.hot_remove {
            let e = retry_busy(|| raw_write(path, id));
            if e != 0 {
                return Err(format!("stale zram{zram}: hot_remove: {}", std::io::Error::from_raw_os_error(e)));
            }
        }
    }
    write_file(PAGE_CLUSTER, &pc)?;
    for (k, v) in ksm.iter().rev() {
        write_file(&format!("{KSM_DIR}/{k}"), v)?;
    }
    for (k, v) in &thp {
        write_file(&format!("{}/{k}", crate::thp::THP_DIR), v)?;
    }
    let _ = std::fs::remove_file(STATE_FILE);
    let knobs: Vec<String> = ksm.iter().chain(&thp).map(|(k, v)| format!("{k}={v}")).collect();
    Ok(Some(format!(
        "zram{zram} (hot_added={hot}) swapped off and reset, page-cluster back to {pc}, ksm and thp back to [{}]",
        knobs.join(" ")
    )))
}

/// Whether `/proc/swaps` lists `dev`.
pub fn swap_active(dev: &str) -> bool {
    std::fs::read_to_string("/proc/swaps")
        .is_ok_and(|t| t.lines().skip(1).any(|l| l.split_whitespace().next() == Some(dev)))
}

/// A zram device for us: hot_add, or zram0 when unused.
fn pick_device() -> Result<(u32, bool), String> {
    if let Ok(id) = read_file("/sys/class/zram-control/hot_add") {
        let id: u32 = id.parse().map_err(|_| format!("hot_add returned '{id}'"))?;
        return Ok((id, true));
    }
    let size = read_file("/sys/block/zram0/disksize")
        .map_err(|e| format!("no zram device (CONFIG_ZRAM, or modprobe zram): {e}"))?;
    if size != "0" || swap_active("/dev/zram0") {
        return Err("zram0 is in use and /sys/class/zram-control/hot_add is missing".into());
    }
    Ok((0, false))
}

/// Waits for the device node (devtmpfs creates it).
fn wait_for_node(path: &str) -> Result<(), String> {
    for _ in 0..200 {
        if std::path::Path::new(path).exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err(format!("{path} did not appear"))
}

/// The first page of a version-1 swap area (include/linux/swap.h
/// `union swap_header`): `info.version = 1`, `info.last_page`, no bad
/// pages, and the `SWAPSPACE2` magic at the end of the page.
pub fn swap_header(size: u64) -> Vec<u8> {
    let mut h = vec![0u8; PAGE];
    let last_page = (size / PAGE as u64 - 1) as u32;
    h[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    h[1028..1032].copy_from_slice(&last_page.to_le_bytes());
    h[PAGE - 10..].copy_from_slice(b"SWAPSPACE2");
    h
}

fn write_header(dev: &str) -> Result<(), String> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(dev).map_err(|e| format!("open {dev}: {e}"))?;
    f.write_all(&swap_header(DISKSIZE)).and_then(|_| f.sync_all()).map_err(|e| format!("swap header on {dev}: {e}"))
}

impl Isolation {
    /// Sets everything up; on any failure what was already changed is
    /// restored before returning the error.
    pub fn setup() -> Result<Isolation, String> {
        let lock_fd = lock()?;
        let early = || -> Result<(String, Knobs, Knobs, u32, bool), String> {
            if let Some(what) = recover_stale()? {
                eprintln!("rmapcheck-exec: restored what a killed run left behind: {what}");
            }
            let page_cluster_old = read_file(PAGE_CLUSTER)?;
            let ksm_old = save_ksm()?;
            let thp_old = crate::thp::knobs()
                .into_iter()
                .map(|k| crate::thp::read(&k).map(|v| (k, v)))
                .collect::<Result<_, _>>()?;
            let (zram, hot_added) = pick_device()?;
            Ok((page_cluster_old, ksm_old, thp_old, zram, hot_added))
        };
        let (page_cluster_old, ksm_old, thp_old, zram, hot_added) = early().inspect_err(|_| {
            let _ = std::fs::remove_file(LOCK_FILE);
            close(lock_fd);
        })?;
        let mut state = format!("zram={zram} hot_added={} page_cluster={page_cluster_old}", hot_added as u8);
        for (k, v) in &ksm_old {
            state.push_str(&format!(" ksm.{k}={v}"));
        }
        for (k, v) in &thp_old {
            state.push_str(&format!(" thp.{k}={v}"));
        }
        state.push('\n');
        if let Err(e) = std::fs::write(STATE_FILE, state) {
            if hot_added {
                let _ = write_file("/sys/class/zram-control/hot_remove", &zram.to_string());
            }
            let _ = std::fs::remove_file(LOCK_FILE);
            close(lock_fd);
            return Err(format!("cannot write {STATE_FILE}: {e}"));
        }
        let _ = PLAN.set(plan_for(zram, hot_added, &page_cluster_old, &ksm_old, &thp_old));
        install_handlers();
        let iso = Isolation { zram, ksm_old, thp_old, thp_on: std::cell::Cell::new(false), lock_fd };
        iso.apply()?; // on error, `iso` is dropped and restores
        Ok(iso)
    }

    fn apply(&self) -> Result<(), String> {
        let z = self.zram;
        write_file(&format!("/sys/block/zram{z}/disksize"), &DISKSIZE.to_string())?;
        let dev = format!("/dev/zram{z}");
        wait_for_node(&dev)?;
        write_header(&dev)?;
        let c = cstr(&dev);
        let flags = SWAP_FLAG_PREFER | (SWAP_PRIORITY & SWAP_FLAG_PRIO_MASK);
        // SAFETY: a valid path.
        if unsafe { libc::swapon(c.as_ptr(), flags) } != 0 {
            return Err(format!("swapon {dev}: {}", std::io::Error::last_os_error()));
        }
        write_file(PAGE_CLUSTER, "0")?;
        for (k, v) in KSM_KNOBS {
            if self.ksm_old.iter().any(|(n, _)| n == k) {
                write_file(&format!("{KSM_DIR}/{k}"), v)?;
            }
        }
        Ok(())
    }

    /// Sets the THP knobs for large-folio scenarios (once per run; the
    /// old values are in the plan and the state file already).
    pub fn enable_mthp(&self) -> Result<(), String> {
        if !self.thp_on.get() {
            crate::thp::enable(&self.thp_old)?;
            self.thp_on.set(true);
        }
        Ok(())
    }

    /// Restores the machine now (also done on drop).
    pub fn restore(&self) -> Result<(), String> {
        match PLAN.get().map(restore_raw) {
            None | Some(Ok(())) => Ok(()),
            Some(Err((what, e))) => Err(format!("{what}: {}", std::io::Error::from_raw_os_error(e))),
        }
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            eprintln!("rmapcheck-exec: could not restore the machine ({e}); {STATE_FILE} is kept for the next run");
        }
        // SAFETY: our lock descriptor; closing releases the lock.
        unsafe { libc::close(self.lock_fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_version_last_page_and_magic() {
        let h = swap_header(16 << 20);
        assert_eq!(h.len(), 4096);
        assert_eq!(&h[4086..], b"SWAPSPACE2");
        assert_eq!(u32::from_le_bytes(h[1024..1028].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(h[1028..1032].try_into().unwrap()), 4095);
    }

    #[test]
    fn state_file_round_trips() {
        assert_eq!(parse_state("zram=3 hot_added=1 page_cluster=3\n"), Some((3, true, "3".into(), vec![], vec![])));
        let s = parse_state(
            "zram=1 hot_added=1 page_cluster=3 thp.enabled=madvise thp.hugepages-16kB/enabled=never thp.../x=1",
        )
        .unwrap();
        assert_eq!(s.4, vec![("enabled".into(), "madvise".into()), ("hugepages-16kB/enabled".into(), "never".into())]);
        assert_eq!(parse_state("zram=0 hot_added=0"), None);
        let s = parse_state("zram=1 hot_added=1 page_cluster=3 ksm.run=1 ksm.smart_scan=1 ksm.bogus=7\n").unwrap();
        assert_eq!(s.3, vec![("run".into(), "1".into()), ("smart_scan".into(), "1".into())]);
    }
}
