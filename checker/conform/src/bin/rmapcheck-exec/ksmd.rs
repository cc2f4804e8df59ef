//! ksmd waits: the per-step control of ksmd. The isolation (`isolate`)
//! pauses ksmd for the whole run (`run=0`) and restores its knobs at the
//! end; here a `ksmd merge` step lets it run (`run=1`) until the structure
//! the model predicts is visible and ksmd has finished its scans, then
//! pauses it again. See `docs/conformance.md` ("KSM").

use crate::procs::Procs;
use crate::snapshot::{present_pfn, Pagemap, ProcFiles};
use crate::sys::{read_file, write_file};
use rmapcheck_conform::proto::{kpf, KsmWait, KSM_SETTLE_SCANS, KSM_TIMEOUT_MS, KSM_TIMEOUT_SCANS};

/// The KSM sysfs directory.
pub const KSM_DIR: &str = "/sys/kernel/mm/ksm";

/// Whether the kernel has KSM (and so the isolation manages its knobs).
pub fn available() -> bool {
    std::path::Path::new(&format!("{KSM_DIR}/run")).exists()
}

/// ksmd's `full_scans` counter.
fn full_scans() -> Result<u64, String> {
    let v = read_file(&format!("{KSM_DIR}/full_scans"))?;
    v.parse().map_err(|_| format!("{KSM_DIR}/full_scans: '{v}'"))
}

/// Starts (`true`) or pauses ksmd (`run=1` / `run=0`; pausing keeps
/// merged pages). Writing `run` takes ksm_thread_mutex, which ksmd holds
/// for a whole scan batch, so once `run=0` returns ksmd does nothing more.
fn run(on: bool) -> Result<(), String> {
    write_file(&format!("{KSM_DIR}/run"), if on { "1" } else { "0" })
}

/// ksmd as the executor drives it.
pub struct Ksmd {
    /// The kernel has KSM.
    pub available: bool,
    /// ksmd ran at least once (clean up before exit).
    used: bool,
    /// [`item_bytes`] when the executor started, before any worker.
    idle_bytes: Option<i64>,
}

impl Ksmd {
    /// ksmd of this kernel, not yet run.
    pub fn new() -> Ksmd {
        let available = available();
        Ksmd { available, used: false, idle_bytes: if available { item_bytes().ok() } else { None } }
    }

    /// Runs ksmd until `want` is visible and [`KSM_SETTLE_SCANS`] full
    /// scans have passed, polling every millisecond; gives up after
    /// max([`KSM_TIMEOUT_SCANS`] full scans, [`KSM_TIMEOUT_MS`]) (or 5 s,
    /// should ksmd not scan at all). Returns what was missing on a
    /// timeout, the milliseconds waited and the full scans passed.
    pub fn wait(
        &mut self,
        files: &ProcFiles,
        procs: &Procs,
        want: &KsmWait,
    ) -> Result<(Option<String>, f64, u64), String> {
        let start = full_scans()?;
        let t0 = std::time::Instant::now();
        self.used = true;
        run(true)?;
        let r: Result<(Option<String>, f64, u64), String> = (|| loop {
            // SAFETY: plain sleep.
            unsafe { libc::usleep(1000) };
            let scans = full_scans()? - start;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let seen = visible(files, procs, want)?;
            if seen && scans >= KSM_SETTLE_SCANS {
                return Ok((None, ms, scans));
            }
            if (scans >= KSM_TIMEOUT_SCANS && ms >= KSM_TIMEOUT_MS as f64) || ms >= 5000.0 {
                let what = if seen { "ksmd did not complete its scans" } else { "the predicted merge did not appear" };
                return Ok((Some(format!("{what} within {ms:.0} ms and {scans} full scans")), ms, scans));
            }
        })();
        let paused = run(false);
        let r = r?;
        paused?;
        Ok(r)
    }

    /// Lets ksmd pass everything once more (two full scans, at most 2 s), so
    /// that the rmap_items and mm slots of exited workers are freed before
    /// the KSM knobs are restored, or before a scenario reads its counter
    /// baseline ([`counters`]). Done early once the rmap_items are back to
    /// what they were when the executor started: ksmd stops scanning (and
    /// `full_scans` stops) once no mm is registered with it.
    pub fn cleanup(&mut self) {
        if !self.used {
            return;
        }
        let Ok(start) = full_scans() else { return };
        if run(true).is_err() {
            return;
        }
        let t0 = std::time::Instant::now();
        let idle = || self.idle_bytes.is_some_and(|b| item_bytes().is_ok_and(|now| now <= b));
        while t0.elapsed().as_millis() < 2000 && full_scans().map_or(true, |n| n < start + 2) && !idle() {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = run(false);
        self.used = false;
    }
}

/// The bytes of all KSM rmap_items (`ksm_rmap_items * sizeof(struct
/// ksm_rmap_item)`), from `general_profit`, which is `(pages_sharing +
/// ksm_zero_pages) * PAGE_SIZE` less that (mm/ksm.c, general_profit_show()).
fn item_bytes() -> Result<i64, String> {
    let profit = read_file(&format!("{KSM_DIR}/general_profit"))?;
    let profit: i64 = profit.trim().parse().map_err(|_| format!("{KSM_DIR}/general_profit: '{profit}'"))?;
    let c = counters()?;
    Ok((c[1] + c[2]) * 4096 - profit)
}

/// The global counters `pages_shared`, `pages_sharing` and
/// `ksm_zero_pages` of `/sys/kernel/mm/ksm`.
pub fn counters() -> Result<[i64; 3], String> {
    let mut out = [0; 3];
    for (o, name) in out.iter_mut().zip(["pages_shared", "pages_sharing", "ksm_zero_pages"]) {
        let v = read_file(&format!("{KSM_DIR}/{name}"))?;
        *o = v.trim().parse().map_err(|_| format!("{KSM_DIR}/{name}: '{v}'"))?;
    }
    Ok(out)
}

/// Whether, for some alternative of `want`, every group maps one frame
/// with KPF_KSM set.
fn visible(files: &ProcFiles, procs: &Procs, want: &KsmWait) -> Result<bool, String> {
    for (i, alt) in want.alternatives.iter().enumerate() {
        let split = want.split.get(i).map_or(&[][..], |v| &v[..]);
        if groups_visible(files, procs, alt)? && split_visible(files, procs, split)? {
            return Ok(true);
        }
    }
    Ok(want.alternatives.is_empty())
}

/// Whether none of `pages` maps a frame of a large folio any more.
fn split_visible(files: &ProcFiles, procs: &Procs, pages: &[(u8, u8)]) -> Result<bool, String> {
    for &(p, page) in pages {
        let Some(pid) = procs.live_pid(p as usize) else { continue };
        let e = Pagemap::open(p as usize, pid)?.entry(page)?;
        if let Some(f) = present_pfn(e) {
            let flags = files.flags(f)?;
            if flags >> kpf::COMPOUND_HEAD & 1 == 1 || flags >> kpf::COMPOUND_TAIL & 1 == 1 {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether every group maps one frame with KPF_KSM set.
fn groups_visible(files: &ProcFiles, procs: &Procs, groups: &[Vec<(u8, u8)>]) -> Result<bool, String> {
    for g in groups {
        let mut pfn = None;
        for &(p, page) in g {
            let Some(pid) = procs.live_pid(p as usize) else { return Ok(false) };
            let e = Pagemap::open(p as usize, pid)?.entry(page)?;
            let Some(f) = present_pfn(e) else { return Ok(false) };
            if pfn.is_some_and(|x| x != f) {
                return Ok(false);
            }
            pfn = Some(f);
            if files.flags(f)? >> kpf::KSM & 1 == 0 {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
