//! The observable abstraction (docs/conformance.md §2): what one snapshot says
//! about every (process, page) and every process's VMAs, computed the same
//! way from a model [`State`] and from a kernel [`KernelSnap`]. Frames are
//! equivalence-class labels in first-occurrence order, never raw PFNs.

use super::proto::{kpf, KPte, KernelSnap};
use rmapcheck_model::{CacheEntry, Mapping, Pte, State, NAMED_FILES};
use std::collections::HashMap;

/// One snapshot of one side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// The action's result: 0 or an errno (the model only takes actions
    /// that succeed, so its side is always 0).
    pub errno: i32,
    /// A kernel assertion or use after free the model recorded (the live
    /// kernel side never has one: a real oops would end the run).
    pub oops: Option<String>,
    /// Indexed by process number.
    pub procs: Vec<ProcView>,
    /// The named files, in file order.
    pub files: Vec<FileView>,
    /// KSM's global counters `pages_shared`, `pages_sharing`,
    /// `ksm_zero_pages`, from the scenario's start (kernel side: `None`
    /// without KSM).
    pub ksm: Option<[i64; 3]>,
}

/// One named file: its size in pages and, per offset of the window, what
/// its page cache holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileView {
    /// `i_size` in pages.
    pub size: u64,
    /// Per offset: (cached, dirty, swapped). Dirty only for a regular file
    /// (shmem folios carry no dirty tag in the page cache); swapped only for
    /// shmem (a swap entry in the page cache).
    pub pages: Vec<(bool, bool, bool)>,
}

/// One VMA: range, write permission and what backs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmaView {
    /// First page.
    pub start: u8,
    /// End page (exclusive).
    pub end: u8,
    /// VM_WRITE.
    pub write: bool,
    /// VM_SHARED (`s` in /proc/PID/maps).
    pub shared: bool,
    /// `reg`, `memfd`, `tmpfs`, `shm` (shared anonymous memory), or empty
    /// for private anonymous memory.
    pub kind: String,
    /// Object class label over the whole view, 1-based in first-occurrence
    /// order (0 for anonymous memory): VMAs of one file or shmem object
    /// share it.
    pub object: u8,
    /// The file offset in pages (0 for anonymous memory).
    pub pgoff: u8,
}

/// One process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcView {
    /// Not exited.
    pub alive: bool,
    /// MMF_VM_MERGE_ANY (prctl(PR_SET_MEMORY_MERGE)).
    pub merge_any: bool,
    /// `mm->ksm_zero_pages` (`ksm_stat`).
    pub ksm_zero_pages: i64,
    /// `mm->ksm_merging_pages` (`ksm_stat`); `None` where not compared.
    pub ksm_merging_pages: Option<i64>,
    /// VMAs inside the window.
    pub vmas: Vec<VmaView>,
    /// One entry per page (empty for an exited process).
    pub pages: Vec<PageView>,
    /// What each longterm pin the process holds sees, by pinned address:
    /// byte 0 of the pinned page (`None` on the kernel side for content
    /// without this run's nonce).
    pub pins: Vec<(u8, Option<u8>)>,
}

/// `P0 pins [0=3, 1=~]`: what each pin sees.
pub fn render_pins(pins: &[(u8, Option<u8>)]) -> String {
    let p: Vec<String> =
        pins.iter().map(|(page, v)| format!("{page}={}", v.map_or("foreign".to_string(), |v| v.to_string()))).collect();
    format!("[{}]", p.join(", "))
}

/// What a PTE is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// No VMA covers the page.
    #[default]
    Unmapped,
    /// `pte_none()`.
    None,
    /// The shared zero page.
    Zero,
    /// A present PTE of an ordinary frame.
    Present,
    /// A swap entry.
    Swap,
}

/// Whether a present page kept its frame across the step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Frame {
    /// Not decidable: no present frame before, or (model side) the old
    /// frame was freed, so the kernel may hand the same PFN out again.
    #[default]
    Any,
    /// Same frame as before the step.
    Same,
    /// A different frame (the old one is still allocated).
    New,
}

/// One (process, page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageView {
    /// PTE kind.
    pub kind: Kind,
    /// Frame (or swap slot) class label, 1-based in first-occurrence order.
    pub class: u8,
    /// Mapcount of the frame (`kpagecount`).
    pub cnt: u64,
    /// KPF_ANON.
    pub anon: bool,
    /// pagemap PM_FILE: a page-cache (or shmem) page.
    pub file: bool,
    /// KPF_KSM.
    pub ksm: bool,
    /// KPF_SWAPBACKED (cleared = lazyfree).
    pub swapbacked: bool,
    /// KPF_SWAPCACHE.
    pub swapcache: bool,
    /// PG_dirty (KPF_DIRTY). Anonymous faults keep the dirty bit in the
    /// PTE and zap does not move it to an anon folio, so with the current
    /// actions it is never set on either side; swap and MADV_FREE will make
    /// it noise (docs/conformance.md §2) and it should then leave the comparison.
    pub dirty: bool,
    /// KPF_THP: the page belongs to a large folio.
    pub thp: bool,
    /// The folio's class label, 1-based in first-occurrence order: the
    /// pages of one large folio share it (the kernel's compound head
    /// frame, the model's folio).
    pub folio: u8,
    /// The page's place in its folio (PFN minus the head's; the model's
    /// `sub`).
    pub sub: u8,
    /// The folio's pages (1 for a small folio).
    pub nr: u32,
    /// Byte 0 of the page, for present and zero pages.
    pub value: Option<u8>,
    /// The content does not carry this run's nonce (kernel side only).
    pub foreign: bool,
    /// Frame persistence across the step.
    pub frame: Frame,
}

/// Assigns class labels in first-occurrence order.
#[derive(Default)]
struct Labels<K: std::hash::Hash + Eq>(HashMap<K, u8>);

impl<K: std::hash::Hash + Eq> Labels<K> {
    fn get(&mut self, k: K) -> u8 {
        let n = self.0.len() as u8 + 1;
        *self.0.entry(k).or_insert(n)
    }
}

impl View {
    /// Leaves the KSM counts (global and per process) out of the
    /// comparison: the model dropped an rmap_item the kernel still has.
    pub fn forget_ksm_counts(&mut self) {
        self.ksm = None;
        self.procs.iter_mut().for_each(|p| p.ksm_merging_pages = None);
    }

    /// The model's view of `cur`; `prev` is the state before the step (for
    /// frame persistence). The model runs with stable ids, so a folio id
    /// names the same folio in both.
    pub fn of_model(prev: Option<&State>, cur: &State) -> View {
        let mut labels = Labels::default();
        let mut folios = Labels::default();
        let mut slots = Labels::default();
        let mut objects = Labels::default();
        let mut procs = Vec::new();
        for (pid, mm) in cur.mms.iter().enumerate() {
            if !mm.alive {
                procs.push(ProcView::default());
                continue;
            }
            let vmas = mm
                .vmas
                .iter()
                .map(|v| {
                    let kind = match v.file {
                        None => String::new(),
                        Some(f) if cur.files[f as usize].anon => "shm".into(),
                        Some(f) => NAMED_FILES[f as usize].0.into(),
                    };
                    let object = v.file.map_or(0, |f| objects.get(f as u64));
                    let pgoff = if v.file.is_some() { v.pgoff } else { 0 };
                    VmaView { start: v.start, end: v.end, write: v.write, shared: v.shared, kind, object, pgoff }
                })
                .collect();
            let mut pages = Vec::new();
            for (p, pte) in mm.ptes.iter().enumerate() {
                let mut pv = PageView::default();
                if mm.vma_index(p as u8).is_none() {
                    pages.push(pv);
                    continue;
                }
                match *pte {
                    Pte::None => pv.kind = Kind::None,
                    Pte::Zero => {
                        pv.kind = Kind::Zero;
                        pv.value = Some(0);
                    }
                    Pte::Swap { slot, .. } => {
                        pv.kind = Kind::Swap;
                        pv.class = slots.get(slot);
                        pv.swapcache = cur.swap[slot as usize].cache.is_some();
                    }
                    Pte::Present { folio, sub, .. } => {
                        let f = &cur.folios[folio as usize];
                        pv.kind = Kind::Present;
                        // A frame is a page: one of a large folio's pages.
                        pv.class = labels.get((folio, sub));
                        pv.folio = folios.get(folio);
                        (pv.sub, pv.nr) = (sub, f.nr_pages() as u32);
                        pv.thp = f.large.is_some();
                        // kpagecount: the page's own mapcount (CONFIG_PAGE_MAPCOUNT).
                        pv.cnt = f.page_mapcount(sub) as u64;
                        pv.anon = f.mapping.is_anon();
                        pv.file = f.mapping.file().is_some();
                        pv.ksm = matches!(f.mapping, Mapping::Ksm(_));
                        pv.swapbacked = f.swapbacked;
                        pv.swapcache = f.swap.is_some();
                        pv.dirty = f.dirty;
                        pv.value = Some(f.page_data(sub));
                        // A step that compacted stable ids (canon::normalize) renamed folios.
                        let renamed = prev.is_some_and(|s| s.folios.len() > cur.folios.len());
                        let before = prev
                            .filter(|_| !renamed)
                            .and_then(|s| s.mms.get(pid))
                            .filter(|m| m.alive)
                            .map(|m| m.ptes[p]);
                        // A split keeps every page's frame, under new folio
                        // ids: not decided here.
                        let split = |old: u8| {
                            prev.is_some_and(|s| s.folios[old as usize].large.is_some())
                                && cur.folios[old as usize].large.is_none()
                        };
                        if let Some(Pte::Present { folio: old, sub: old_sub, .. }) = before {
                            pv.frame = if (old, old_sub) == (folio, sub) {
                                Frame::Same
                            } else if split(old) {
                                Frame::Any
                            } else if cur.folios.get(old as usize).is_some_and(|f| !f.freed) {
                                Frame::New
                            } else {
                                Frame::Any
                            };
                        }
                    }
                }
                pages.push(pv);
            }
            let pins = mm.pins.iter().map(|x| (x.page, Some(cur.folios[x.folio as usize].page_data(x.sub)))).collect();
            procs.push(ProcView {
                alive: true,
                merge_any: mm.merge_any,
                ksm_zero_pages: i64::from(mm.ksm_zero_pages as i8),
                ksm_merging_pages: Some(rmapcheck_model::ksm_counters::ksm_merging_pages(cur, pid)),
                vmas,
                pages,
                pins,
            });
        }
        let files = cur
            .files
            .iter()
            .filter(|f| !f.anon)
            .map(|f| FileView {
                size: f.size as u64,
                pages: f
                    .cache
                    .iter()
                    .map(|e| match *e {
                        CacheEntry::Hole => (false, false, false),
                        CacheEntry::Folio(x) => (true, !f.shmem() && cur.folios[x as usize].dirty, false),
                        CacheEntry::Swap(_) => (false, false, true),
                    })
                    .collect(),
            })
            .collect();
        let c = rmapcheck_model::ksm_counters::ksm_counters(cur);
        let ksm = Some([c.pages_shared, c.pages_sharing, c.ksm_zero_pages]);
        View { errno: 0, oops: cur.oops.as_ref().map(|o| o.what.clone()), procs, files, ksm }
    }

    /// The kernel's view of `cur`; `prev` is the snapshot before the step.
    pub fn of_kernel(prev: Option<&KernelSnap>, cur: &KernelSnap, errno: i32) -> View {
        let mut frames = Labels::default();
        let mut folios = Labels::default();
        let mut slots = Labels::default();
        let mut objects = Labels::default();
        let bit = |flags: u64, b: u32| flags >> b & 1 == 1;
        let is_zero = |k: &super::proto::KPage| k.pte == KPte::Present && bit(k.flags, kpf::ZERO_PAGE);
        let mut procs = Vec::new();
        for (i, kp) in cur.procs.iter().enumerate() {
            if !kp.alive {
                procs.push(ProcView::default());
                continue;
            }
            let vmas = kp
                .vmas
                .iter()
                .enumerate()
                .map(|(j, &(start, end, _, write))| {
                    let b = kp.backing.get(j).cloned().unwrap_or_default();
                    let object = if b.kind.is_empty() { 0 } else { objects.get(b.inode) };
                    VmaView { start, end, write, shared: b.shared, kind: b.kind, object, pgoff: b.pgoff as u8 }
                })
                .collect();
            let mut pages = Vec::new();
            for (p, k) in kp.pages.iter().enumerate() {
                let mut pv = PageView { foreign: k.pte == KPte::Present && !k.nonce_ok, ..PageView::default() };
                match k.pte {
                    KPte::Unmapped => {}
                    KPte::None => pv.kind = Kind::None,
                    KPte::Swap => {
                        pv.kind = Kind::Swap;
                        pv.class = slots.get(k.pfn);
                        pv.swapcache = k.swapcache;
                    }
                    KPte::Present if is_zero(k) => {
                        pv.kind = Kind::Zero;
                        pv.cnt = k.count;
                        pv.value = k.value;
                    }
                    KPte::Present => {
                        pv.kind = Kind::Present;
                        pv.class = frames.get(k.pfn);
                        pv.folio = folios.get(k.head);
                        (pv.sub, pv.nr) = ((k.pfn - k.head) as u8, k.nr);
                        pv.cnt = k.count;
                        pv.anon = bit(k.flags, kpf::ANON);
                        pv.file = k.file;
                        pv.ksm = bit(k.flags, kpf::KSM);
                        pv.swapbacked = bit(k.flags, kpf::SWAPBACKED);
                        pv.swapcache = bit(k.flags, kpf::SWAPCACHE);
                        pv.thp = bit(k.flags, kpf::THP);
                        pv.dirty = bit(k.flags, kpf::DIRTY);
                        pv.value = k.value;
                        let before = prev.and_then(|s| s.procs.get(i)).filter(|q| q.alive).and_then(|q| q.pages.get(p));
                        if let Some(b) = before.filter(|b| b.pte == KPte::Present && !is_zero(b)) {
                            pv.frame = if b.pfn == k.pfn { Frame::Same } else { Frame::New };
                        }
                    }
                }
                pages.push(pv);
            }
            let mut pins: Vec<(u8, Option<u8>)> =
                kp.pins.iter().map(|x| (x.page, x.nonce_ok.then_some(x.value))).collect();
            pins.sort_unstable();
            procs.push(ProcView {
                alive: true,
                merge_any: kp.merge_any,
                ksm_zero_pages: kp.ksm_zero_pages,
                ksm_merging_pages: kp.ksm_merging_pages,
                vmas,
                pages,
                pins,
            });
        }
        let files = cur.files.iter().map(|f| FileView { size: f.size, pages: f.pages.clone() }).collect();
        View { errno, oops: None, procs, files, ksm: cur.ksm }
    }
}

impl PageView {
    /// One-line rendering, e.g. `present F1 cnt=2 anon,swapbacked val=3 same`.
    pub fn render(&self) -> String {
        let mut s = match self.kind {
            Kind::Unmapped => return "unmapped".into(),
            Kind::None => return "none".into(),
            Kind::Zero => format!("zero cnt={}", self.cnt),
            Kind::Present => format!("present F{} cnt={}", self.class, self.cnt),
            Kind::Swap if self.swapcache => return format!("swap S{} swapcache", self.class),
            Kind::Swap => return format!("swap S{}", self.class),
        };
        let flags: Vec<&str> = [
            (self.anon, "anon"),
            (self.file, "file"),
            (self.ksm, "ksm"),
            (self.swapbacked, "swapbacked"),
            (self.swapcache, "swapcache"),
            (self.thp, "thp"),
            (self.dirty, "dirty"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        if !flags.is_empty() {
            s.push(' ');
            s.push_str(&flags.join(","));
        }
        if self.nr > 1 {
            s.push_str(&format!(" folio{}[{}/{}]", self.folio, self.sub, self.nr));
        }
        if let Some(v) = self.value {
            s.push_str(&format!(" val={v}"));
        }
        if self.foreign {
            s.push_str(" FOREIGN-CONTENT");
        }
        match self.frame {
            Frame::Any => {}
            Frame::Same => s.push_str(" same-frame"),
            Frame::New => s.push_str(" new-frame"),
        }
        s
    }
}

/// Renders a VMA list as `0-2 rw, 3-4 r shared reg#1@0` (end exclusive;
/// a file VMA adds its kind, object class and file offset).
pub fn render_vmas(vmas: &[VmaView]) -> String {
    if vmas.is_empty() {
        return "(none)".into();
    }
    vmas.iter()
        .map(|v| {
            let mut s = format!("{}-{} {}", v.start, v.end, if v.write { "rw" } else { "r" });
            if v.shared {
                s.push_str(" shared");
            }
            if !v.kind.is_empty() {
                s.push_str(&format!(" {}#{}@{}", v.kind, v.object, v.pgoff));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl FileView {
    /// One-line rendering: `size 2 [c d, -]` (`c` cached, `d` dirty, `s`
    /// a shmem swap entry, `-` nothing), offsets below the window only.
    pub fn render(&self) -> String {
        let pages: Vec<String> = self
            .pages
            .iter()
            .map(|&(c, d, s)| {
                let v: Vec<&str> = [(c, "c"), (d, "d"), (s, "s")].iter().filter(|x| x.0).map(|x| x.1).collect();
                if v.is_empty() {
                    "-".into()
                } else {
                    v.join(" ")
                }
            })
            .collect();
        format!("size {} [{}]", self.size, pages.join(", "))
    }
}
