//! /proc snapshots: every /proc reader of the executor, and the snapshot
//! taken after each step. Per live worker: the window's part of
//! `/proc/PID/maps`; per page, its pagemap entry and, for a present page,
//! `/proc/kpagecount` and `/proc/kpageflags` of the frame; last, the
//! worker's own load of each present page and `mincore()` of each swap
//! PTE. Before it, the CPU's per-CPU folio batches are drained, and
//! `pgsteal_anon` and `pgsteal_file` of `/proc/vmstat` say whether
//! background reclaim ran.

use crate::procs::Procs;
use crate::sys::{close, open_ro, pread_u64};
use crate::worker::{encode, OP_MINCORE, OP_PEEK, OP_PIN_PEEK};
use rmapcheck_conform::proto::{
    kpf, page_addr, KBacking, KPage, KPin, KProc, KPte, KernelSnap, PAGE_SIZE, WINDOW_BASE,
};

/// pagemap: the PFN (or swap type and offset) bits.
const PM_PFN_MASK: u64 = (1 << 55) - 1;
/// pagemap: the page is mapped exactly once.
const PM_MMAP_EXCLUSIVE: u32 = 56;
/// pagemap: a present page that is not anon (page cache, shmem).
const PM_FILE: u32 = 61;
/// pagemap: a swap entry.
const PM_SWAP: u32 = 62;
/// pagemap: a present page.
const PM_PRESENT: u32 = 63;

/// The files the snapshots read for every page, opened once, and the
/// untouched VMA that [`ProcFiles::drain`] advises.
pub struct ProcFiles {
    kpagecount: i32,
    kpageflags: i32,
    dummy: *mut libc::c_void,
}

/// `/proc/PID/pagemap` of one worker, open for a few reads.
pub struct Pagemap {
    fd: i32,
    proc: usize,
}

impl Pagemap {
    /// Opens the pagemap of worker `proc` (pid `pid`).
    pub fn open(proc: usize, pid: i32) -> Result<Pagemap, String> {
        Ok(Pagemap { fd: open_ro(&format!("/proc/{pid}/pagemap"))?, proc })
    }

    /// The entry of page `page` of the window.
    pub fn entry(&self, page: u8) -> Result<u64, String> {
        pread_u64(self.fd, page_addr(page) / PAGE_SIZE).map_err(|e| format!("pagemap of P{}: errno {e}", self.proc))
    }
}

impl Drop for Pagemap {
    fn drop(&mut self) {
        close(self.fd);
    }
}

/// The frame of a present pagemap entry.
pub fn present_pfn(e: u64) -> Option<u64> {
    (e >> PM_PRESENT & 1 == 1).then_some(e & PM_PFN_MASK)
}

/// `pgsteal_anon` and `pgsteal_file` from `/proc/vmstat`.
fn pgsteal() -> Result<(u64, u64), String> {
    let text = std::fs::read_to_string("/proc/vmstat").map_err(|e| format!("/proc/vmstat: {e}"))?;
    let get =
        |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    Ok((get("pgsteal_anon "), get("pgsteal_file ")))
}

/// A VMA of the window: (first page, end page, readable, writable) and
/// what backs it.
type MapsVma = ((u8, u8, bool, bool), KBacking);

/// VMAs of `pid` that overlap a window of `pages` pages, clipped to it
/// (the file offset follows the clipping), with their backing: shared
/// (`s`), the object's kind from its path (see `files::kind_of_path`),
/// its inode and the offset in pages.
fn maps(pid: i32, pages: u8) -> Result<Vec<MapsVma>, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| format!("/proc/{pid}/maps: {e}"))?;
    let (lo, hi) = (WINDOW_BASE, page_addr(pages));
    let mut out = Vec::new();
    for line in text.lines() {
        // start-end perms offset dev inode, then the path (with spaces).
        let mut rest = line;
        let mut f = [""; 5];
        for x in &mut f {
            rest = rest.trim_start();
            let end = rest.find(' ').unwrap_or(rest.len());
            *x = &rest[..end];
            rest = &rest[end..];
        }
        let [range, perms, off, _dev, inode] = f;
        let path = rest.trim();
        let Some((s, e)) = range.split_once('-') else { continue };
        let (Ok(s), Ok(e)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) else { continue };
        if e <= lo || s >= hi {
            continue;
        }
        let off = u64::from_str_radix(off, 16).unwrap_or(0) / PAGE_SIZE;
        let backing = KBacking {
            shared: perms.as_bytes().get(3) == Some(&b's'),
            kind: crate::files::kind_of_path(path),
            inode: inode.parse().unwrap_or(0),
            pgoff: off + (s.max(lo) - s) / PAGE_SIZE,
        };
        let (s, e) = (s.max(lo), e.min(hi));
        out.push((
            (
                ((s - lo) / PAGE_SIZE) as u8,
                ((e - lo) / PAGE_SIZE) as u8,
                perms.starts_with('r'),
                perms.as_bytes().get(1) == Some(&b'w'),
            ),
            backing,
        ));
    }
    Ok(out)
}

impl ProcFiles {
    /// Opens `/proc/kpagecount` and `/proc/kpageflags` and maps the drain VMA.
    pub fn open() -> Result<ProcFiles, String> {
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
            return Err(format!("mmap of the drain VMA failed: errno {}", crate::sys::errno()));
        }
        Ok(ProcFiles { kpagecount, kpageflags, dummy })
    }

    /// `/proc/kpageflags` of frame `pfn`.
    pub fn flags(&self, pfn: u64) -> Result<u64, String> {
        pread_u64(self.kpageflags, pfn).map_err(|e| format!("kpageflags: errno {e}"))
    }

    /// The head frame and the page count of the folio frame `pfn` belongs
    /// to: back over KPF_COMPOUND_TAIL frames to the KPF_COMPOUND_HEAD one,
    /// then forward over its tails (at most a PMD's 512 pages).
    fn folio_of(&self, pfn: u64, flags: u64) -> Result<(u64, u32), String> {
        let bit = |f: u64, b: u32| f >> b & 1 == 1;
        let mut head = pfn;
        let mut f = flags;
        while bit(f, kpf::COMPOUND_TAIL) && pfn - head < 512 && head > 0 {
            head -= 1;
            f = self.flags(head)?;
        }
        if !bit(f, kpf::COMPOUND_HEAD) {
            return Ok((pfn, 1));
        }
        let mut nr = 1;
        while nr < 512 && bit(self.flags(head + nr as u64)?, kpf::COMPOUND_TAIL) {
            nr += 1;
        }
        Ok((head, nr))
    }

    /// `/proc/kpagecount` of frame `pfn`.
    fn count(&self, pfn: u64) -> Result<u64, String> {
        pread_u64(self.kpagecount, pfn).map_err(|e| format!("kpagecount: errno {e}"))
    }

    /// `lru_add_drain()` on this CPU: MADV_COLD on the untouched dummy VMA.
    fn drain(&self) {
        // SAFETY: the dummy mapping is ours; MADV_COLD does not free it.
        unsafe { libc::madvise(self.dummy, PAGE_SIZE as usize, libc::MADV_COLD) };
    }

    /// The snapshot of every worker after a step: /proc first, then the
    /// workers' own loads ([`peek`]).
    pub fn snapshot(&self, procs: &mut Procs, pages: u8, nonce: u64) -> Result<KernelSnap, String> {
        self.drain();
        let (pgsteal_anon, pgsteal_file) = pgsteal()?;
        let mut snap = KernelSnap { pgsteal_anon, pgsteal_file, ..KernelSnap::default() };
        for i in 0..procs.workers.len() {
            let Some(pid) = procs.live_pid(i) else {
                snap.procs.push(KProc { alive: false, ..KProc::default() });
                continue;
            };
            let (vmas, backing): (Vec<_>, Vec<_>) = maps(pid, pages)?.into_iter().unzip();
            let pm = Pagemap::open(i, pid)?;
            let mut out = Vec::new();
            for p in 0..pages {
                let inside = vmas.iter().any(|&(s, e, _, _)| s <= p && p < e);
                out.push(self.page(inside, pm.entry(p)?)?);
            }
            drop(pm);
            let pins = procs.workers[i].pins.iter().map(|&page| KPin { page, ..KPin::default() }).collect();
            // MMF_VM_MERGE_ANY (prctl(PR_SET_MEMORY_MERGE)), as ksm_stat shows it.
            // and mm->ksm_zero_pages.
            let stat = crate::sys::read_file(&format!("/proc/{pid}/ksm_stat")).unwrap_or_default();
            let merge_any = stat.lines().any(|l| l.trim() == "ksm_merge_any: yes");
            let field =
                |name: &str| stat.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok());
            let (ksm_zero_pages, ksm_merging_pages) =
                (field("ksm_zero_pages ").unwrap_or(0), field("ksm_merging_pages "));
            snap.procs.push(KProc {
                alive: true,
                vmas,
                backing,
                pages: out,
                pins,
                merge_any,
                ksm_zero_pages,
                ksm_merging_pages,
            });
        }
        peek(procs, nonce, &mut snap)?;
        Ok(snap)
    }

    /// One page from its pagemap entry `e` (`inside`: a VMA covers it).
    fn page(&self, inside: bool, e: u64) -> Result<KPage, String> {
        let mut k = KPage::default();
        if !inside {
            return Ok(k);
        }
        k.excl = e >> PM_MMAP_EXCLUSIVE & 1 == 1;
        if let Some(pfn) = present_pfn(e) {
            k.pte = KPte::Present;
            k.file = e >> PM_FILE & 1 == 1;
            k.pfn = pfn;
            k.count = self.count(pfn)?;
            k.flags = self.flags(pfn)?;
            (k.head, k.nr) = self.folio_of(pfn, k.flags)?;
        } else if e >> PM_SWAP & 1 == 1 {
            k.pte = KPte::Swap;
            k.pfn = e & PM_PFN_MASK;
        } else {
            k.pte = KPte::None;
        }
        Ok(k)
    }
}

/// Reads the content of every present page, after pagemap and the kpage
/// files were read (a load of a present page changes nothing), and asks
/// `mincore()` about every swap PTE.
fn peek(procs: &mut Procs, nonce: u64, snap: &mut KernelSnap) -> Result<(), String> {
    for (i, proc) in snap.procs.iter_mut().enumerate() {
        // What each pin sees, through its fixed buffer.
        for k in &mut proc.pins {
            let (e, v, w) = procs.call(i, encode(OP_PIN_PEEK, k.page, 0, 0, 0))?;
            if e != 0 {
                return Err(format!("P{i}: reading pin at page {} through io_uring: errno {e}", k.page));
            }
            k.value = v as u8;
            k.nonce_ok = w == nonce || (w == 0 && v == 0);
        }
        for (p, k) in proc.pages.iter_mut().enumerate() {
            if k.pte == KPte::Present {
                let (_, v, w) = procs.call(i, encode(OP_PEEK, p as u8, 0, 0, 0))?;
                k.value = Some(v as u8);
                k.nonce_ok = w == nonce || (w == 0 && v == 0);
            } else if k.pte == KPte::Swap {
                // mincore() of a swap PTE: the slot has an uptodate
                // folio in the swap cache (mincore_swap()).
                let (e, incore, _) = procs.call(i, encode(OP_MINCORE, p as u8, 0, 0, 0))?;
                if e != 0 {
                    return Err(format!("P{i}: mincore of page {p}: errno {e}"));
                }
                k.swapcache = incore != 0;
            }
        }
    }
    Ok(())
}
