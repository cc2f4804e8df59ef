//! The observable abstraction (docs/conformance.md §2): what one snapshot says
//! about every (process, page) and every process's VMAs, computed the same
//! way from a model [`State`] and from a kernel [`KernelSnap`]. Frames are
//! equivalence-class labels in first-occurrence order, never raw PFNs.

use super::proto::{kpf, KPte, KernelSnap};
use rmapcheck_model::{Mapping, Pte, State};
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
}

/// One process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcView {
    /// Not exited.
    pub alive: bool,
    /// VMAs inside the window: (first page, end page, writable).
    pub vmas: Vec<(u8, u8, bool)>,
    /// One entry per page (empty for an exited process).
    pub pages: Vec<PageView>,
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
    /// The model's view of `cur`; `prev` is the state before the step (for
    /// frame persistence). The model runs with stable ids, so a folio id
    /// names the same folio in both.
    pub fn of_model(prev: Option<&State>, cur: &State) -> View {
        let mut labels = Labels::default();
        let mut folios = Labels::default();
        let mut slots = Labels::default();
        let mut procs = Vec::new();
        for (pid, mm) in cur.mms.iter().enumerate() {
            if !mm.alive {
                procs.push(ProcView::default());
                continue;
            }
            let vmas = mm.vmas.iter().map(|v| (v.start, v.end, v.write)).collect();
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
                        pv.anon = !matches!(f.mapping, Mapping::None);
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
            procs.push(ProcView { alive: true, vmas, pages });
        }
        View { errno: 0, oops: cur.oops.as_ref().map(|o| o.what.clone()), procs }
    }

    /// The kernel's view of `cur`; `prev` is the snapshot before the step.
    pub fn of_kernel(prev: Option<&KernelSnap>, cur: &KernelSnap, errno: i32) -> View {
        let mut frames = Labels::default();
        let mut folios = Labels::default();
        let mut slots = Labels::default();
        let bit = |flags: u64, b: u32| flags >> b & 1 == 1;
        let is_zero = |k: &super::proto::KPage| k.pte == KPte::Present && bit(k.flags, kpf::ZERO_PAGE);
        let mut procs = Vec::new();
        for (i, kp) in cur.procs.iter().enumerate() {
            if !kp.alive {
                procs.push(ProcView::default());
                continue;
            }
            let vmas = kp.vmas.iter().map(|&(s, e, _, w)| (s, e, w)).collect();
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
            procs.push(ProcView { alive: true, vmas, pages });
        }
        View { errno, oops: None, procs }
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

/// Renders a VMA list as `0-2 rw, 3-4 r` (end exclusive).
pub fn render_vmas(vmas: &[(u8, u8, bool)]) -> String {
    if vmas.is_empty() {
        return "(none)".into();
    }
    vmas.iter().map(|&(s, e, w)| format!("{s}-{e} {}", if w { "rw" } else { "r" })).collect::<Vec<_>>().join(", ")
}
