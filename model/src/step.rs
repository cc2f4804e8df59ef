//! Applying one action to a state, and enumerating the actions the checker
//! explores from a state.

use crate::action::Action;
use crate::action::ActionKind;
use crate::canon::normalize;
use crate::config::Config;
use crate::ctx::Ctx;
use crate::ksm::{ksm_madvise, ksmd_drop, ksmd_merge};
use crate::madvise::{madvise_free, madvise_pageout};
use crate::memory::{read_fault, write_access};
use crate::mmap::{do_mmap, do_munmap, dup_mmap, exit_mmap};
use crate::mprotect::do_mprotect;
use crate::mremap::do_mremap;
use crate::state::{FolioId, Pte, State};
use crate::vmscan::{kswapd_reclaim, kswapd_writeback};

/// Applies `action` to a copy of `s`. `Err` says why the action cannot
/// happen in this state (the process does not exist, the store would
/// SIGSEGV, ...). A kernel assertion that fires is not an error: it is
/// recorded in [`State::oops`] of the returned state.
pub fn step(s: &State, action: Action, ctx: &mut Ctx) -> Result<State, String> {
    if let Some(o) = &s.oops {
        return Err(format!("the kernel already oopsed: {}", o.what));
    }
    if crate::canon::largest_table(s) > crate::canon::MAX_OBJECTS {
        return Err(format!(
            "model limit: more than {} anon_vmas, folios, swap slots or stable nodes live at once (ids are 8 bits)",
            crate::canon::MAX_OBJECTS
        ));
    }
    let pid = action.pid() as usize;
    match s.mms.get(pid) {
        _ if action.process().is_none() => {}
        None => return Err(format!("P{pid} does not exist (next child is P{})", s.mms.len())),
        Some(mm) if !mm.alive => return Err(format!("P{pid} has exited")),
        Some(_) => {}
    }
    let mut n = s.clone();
    match action {
        Action::Mmap { start, len, write, .. } => do_mmap(&mut n, ctx, pid, start, len, write)?,
        Action::Read { page, .. } => {
            check_page(&n, page)?;
            read_fault(&mut n, ctx, pid, page)?
        }
        Action::Write { page, value, .. } => {
            check_page(&n, page)?;
            if value > 15 {
                return Err(format!("value {value} is outside 0..=15"));
            }
            write_access(&mut n, ctx, pid, page, value)?
        }
        Action::Fork { .. } => {
            dup_mmap(&mut n, ctx, pid)?;
        }
        Action::Munmap { start, len, .. } => do_munmap(&mut n, ctx, pid, start, len)?,
        Action::Exit { .. } => exit_mmap(&mut n, ctx, pid)?,
        Action::Mprotect { start, len, write, .. } => do_mprotect(&mut n, ctx, pid, start, len, write)?,
        Action::Mremap { start, len, to, dontunmap, .. } => do_mremap(&mut n, ctx, pid, start, len, to, dontunmap)?,
        Action::MadvPageout { start, len, .. } => madvise_pageout(&mut n, ctx, pid, start, len)?,
        Action::MadvFree { start, len, .. } => madvise_free(&mut n, ctx, pid, start, len)?,
        Action::Reclaim { page, .. } => {
            check_page(&n, page)?;
            kswapd_reclaim(&mut n, ctx, pid, page)?
        }
        Action::Writeback => kswapd_writeback(&mut n, ctx)?,
        Action::SplitDeferred => crate::huge_memory::deferred_split_scan(&mut n, ctx)?,
        Action::MadvMergeable { start, len, .. } => ksm_madvise(&mut n, ctx, pid, start, len, true)?,
        Action::MadvUnmergeable { start, len, .. } => ksm_madvise(&mut n, ctx, pid, start, len, false)?,
        Action::KsmMerge { pid, page, with, with_page } => ksmd_merge(&mut n, ctx, pid, page, with, with_page)?,
        Action::KsmDrop { pid, page } => {
            if pid as usize >= n.mms.len() {
                return Err(format!("P{pid} does not exist"));
            }
            ksmd_drop(&mut n, ctx, pid, page)?
        }
        Action::MmapFile { start, len, write, shared, file, pgoff, .. } => {
            crate::filemap::do_mmap_file(&mut n, ctx, pid, start, len, write, shared, file, pgoff)?
        }
        Action::MadvDontneed { start, len, .. } => crate::madvise::madvise_dontneed(&mut n, ctx, pid, start, len)?,
        Action::Ftruncate { file, size, .. } => crate::truncate::do_ftruncate(&mut n, ctx, file, size)?,
        Action::Fsync { file, .. } => crate::filemap::vfs_fsync(&mut n, ctx, file)?,
        Action::Pin { page, write, .. } => {
            check_page(&n, page)?;
            crate::gup::pin_user_pages(&mut n, ctx, pid, page, write)?
        }
        Action::Unpin { page, .. } => crate::gup::unpin_user_page(&mut n, ctx, pid, page)?,
        Action::UffdMove { src, dst, .. } => crate::userfaultfd::uffd_move(&mut n, ctx, pid, src, dst)?,
        Action::PrctlMerge { on, .. } => crate::ksm_prctl::prctl_set_memory_merge(&mut n, ctx, pid, on),
    }
    if normalize(&mut n, ctx.cfg.ids) {
        ctx.say(|| {
            "stable ids compacted: freed objects nothing points at dropped, the rest renumbered in allocation order"
                .into()
        });
    }
    Ok(n)
}

fn check_page(s: &State, page: u8) -> Result<(), String> {
    if page >= s.pages() {
        return Err(format!("page {page} is outside the {}-page address window", s.pages()));
    }
    Ok(())
}

/// The actions the checker explores from `s`, in a fixed order. Loads that
/// hit a present PTE and stores of the value already there change nothing
/// and are left out; so are calls that only fail (SIGSEGV, EEXIST, a
/// munmap of nothing) and calls that would sleep on the lock kswapd holds
/// until its writeback.
pub fn enabled_actions(cfg: &Config, s: &State, out: &mut Vec<Action>) {
    if s.oops.is_some() {
        return;
    }
    let on = |k| cfg.actions.contains(k);
    let pages = s.pages();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, mm)| mm.alive) {
        let pid = pid as u8;
        if on(ActionKind::Mmap) && cfg.mthp.any() {
            mmap_folio_ranges(cfg, mm, pid, out);
        } else if on(ActionKind::Mmap) {
            for start in 0..pages {
                for len in 1..=pages - start {
                    let end = start + len;
                    if mm.overlaps(start, end) {
                        break;
                    }
                    for write in [true, false] {
                        out.push(Action::Mmap { pid, start, len, write });
                    }
                }
            }
        }
        for page in 0..pages {
            let Some(vi) = mm.vma_index(page) else { continue };
            let pte = mm.ptes[page as usize];
            if swapin_would_sleep(s, pte) {
                continue;
            }
            let v = &mm.vmas[vi];
            if v.file.is_some_and(|f| v.linear_page_index(page) >= s.files[f as usize].size) {
                continue; // beyond EOF: the access would SIGBUS
            }
            if on(ActionKind::Read) && matches!(pte, Pte::None | Pte::Swap { .. }) {
                out.push(Action::Read { pid, page });
            }
            if on(ActionKind::Write) && mm.vmas[vi].write {
                // With use_zero_pages a store may also zero-fill the page.
                for value in u8::from(!cfg.use_zero_pages)..=cfg.values {
                    let same = matches!(pte, Pte::Present { folio, sub, writable: true, .. }
                        if s.folios[folio as usize].page_data(sub) == value);
                    if !same {
                        out.push(Action::Write { pid, page, value });
                    }
                }
            }
        }
        if on(ActionKind::Fork) && s.mms.len() < cfg.procs as usize {
            out.push(Action::Fork { pid });
        }
        if on(ActionKind::Munmap) {
            for start in 0..pages {
                for len in 1..=pages - start {
                    let end = start + len;
                    if mm.overlaps(start, end) {
                        out.push(Action::Munmap { pid, start, len });
                    }
                }
            }
        }
        if on(ActionKind::Mprotect) {
            for start in 0..pages {
                for end in start + 1..=pages {
                    // Every page must be mapped (else ENOMEM); a call that
                    // changes no VMA's flags changes nothing.
                    if mm.vma_index(end - 1).is_none() {
                        break;
                    }
                    let flags = mm.vmas.iter().filter(|v| v.start < end && start < v.end).map(|v| v.write);
                    let (mut any_rw, mut any_r) = (false, false);
                    for w in flags {
                        any_rw |= w;
                        any_r |= !w;
                    }
                    if any_r {
                        out.push(Action::Mprotect { pid, start, len: end - start, write: true });
                    }
                    if any_rw {
                        out.push(Action::Mprotect { pid, start, len: end - start, write: false });
                    }
                }
            }
        }
        if on(ActionKind::Mremap) {
            for v in &mm.vmas {
                for start in v.start..v.end {
                    for len in 1..=v.end - start {
                        for to in 0..=pages - len {
                            if start < to + len && to < start + len {
                                continue;
                            }
                            for dontunmap in [false, true] {
                                out.push(Action::Mremap { pid, start, len, to, dontunmap });
                            }
                        }
                    }
                }
            }
        }
        if on(ActionKind::Exit) {
            out.push(Action::Exit { pid });
        }
        reclaim_actions(cfg, s, pid, out);
        if on(ActionKind::PrctlMerge) {
            out.push(Action::PrctlMerge { pid, on: !mm.merge_any });
        }
        for v in &mm.vmas {
            let (start, len) = (v.start, v.pages());
            if on(ActionKind::MadvMergeable) && !v.mergeable {
                out.push(Action::MadvMergeable { pid, start, len });
            }
            if on(ActionKind::MadvUnmergeable) && v.mergeable {
                out.push(Action::MadvUnmergeable { pid, start, len });
            }
        }
    }
    if on(ActionKind::Writeback) && s.folios.iter().any(|f| f.isolated && !f.freed) {
        out.push(Action::Writeback);
    }
    if on(ActionKind::SplitDeferred) && s.live_folios().any(|(_, f)| f.large.as_ref().is_some_and(|l| l.deferred)) {
        out.push(Action::SplitDeferred);
    }
    ksmd_actions(cfg, s, out);
    file_actions(cfg, s, out);
    pin_actions(cfg, s, out);
    uffd_actions(cfg, s, out);
    // While kswapd holds a page-cache or shmem folio locked, a fault on it,
    // fsync or truncation of its file, and the last fput() of a shmem
    // object (munmap, exit) sleep until `kswapd writeback`. Which calls
    // those are is the step's own answer (it refuses them); such states
    // are few, so every action is tried there.
    if s.folios.iter().any(|f| f.isolated && !f.freed && f.mapping.file().is_some()) {
        out.retain(|&a| step(s, a, &mut Ctx::new(cfg, false)).is_ok());
    }
}

/// Pins of every page of a private anonymous VMA the process holds no pin
/// at (R/W where the VMA is writable, R/O everywhere), on order-0 pages
/// (the model's limit), and the release of every pin it holds.
fn pin_actions(cfg: &Config, s: &State, out: &mut Vec<Action>) {
    let on = |k| cfg.actions.contains(k);
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, mm)| mm.alive) {
        let pid = pid as u8;
        if on(ActionKind::Pin) {
            for page in 0..s.pages() {
                let Some(vi) = mm.vma_index(page) else { continue };
                let v = &mm.vmas[vi];
                let large = matches!(mm.ptes[page as usize], Pte::Present { folio, .. } if s.folios[folio as usize].large.is_some());
                if !v.is_anonymous()
                    || v.shared
                    || large
                    || mm.pin_at(page).is_some()
                    || swapin_would_sleep(s, mm.ptes[page as usize])
                {
                    continue;
                }
                for write in [true, false] {
                    if !write || v.write {
                        out.push(Action::Pin { pid, page, write });
                    }
                }
            }
        }
        if on(ActionKind::Unpin) {
            for p in &mm.pins {
                out.push(Action::Unpin { pid, page: p.page });
            }
        }
    }
}

/// The file vocabulary: mmap of shared anonymous memory and of each named
/// file (MAP_PRIVATE and MAP_SHARED, every file offset that fits),
/// MADV_DONTNEED of single pages, and ftruncate() to every other size and
/// fsync() when something is dirty, named once (by the first live
/// process: every process holds the same file descriptors).
fn file_actions(cfg: &Config, s: &State, out: &mut Vec<Action>) {
    let on = |k| cfg.actions.contains(k);
    let pages = s.pages();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, mm)| mm.alive) {
        let pid = pid as u8;
        for start in 0..pages {
            for len in 1..=pages - start {
                if mm.overlaps(start, start + len) {
                    break;
                }
                for write in [true, false] {
                    if on(ActionKind::MmapShared) {
                        out.push(Action::MmapFile { pid, start, len, write, shared: true, file: None, pgoff: 0 });
                    }
                    if !on(ActionKind::MmapFile) {
                        continue;
                    }
                    for file in 0..cfg.files.min(s.files.len() as u8) {
                        for pgoff in 0..=pages - len {
                            for shared in [false, true] {
                                out.push(Action::MmapFile { pid, start, len, write, shared, file: Some(file), pgoff });
                            }
                        }
                    }
                }
            }
        }
        if on(ActionKind::MadvDontneed) {
            for page in 0..pages {
                if mm.vma_index(page).is_some() && !matches!(mm.ptes[page as usize], Pte::None) {
                    out.push(Action::MadvDontneed { pid, start: page, len: 1 });
                }
            }
        }
    }
    let Some(first) = s.mms.iter().position(|m| m.alive) else { return };
    let pid = first as u8;
    for (file, f) in s.files.iter().enumerate().take(cfg.files as usize) {
        let file = file as u8;
        if on(ActionKind::Ftruncate) {
            // Shrinking only: growing a file back adds holes and nothing
            // the rmap has to find (scenarios may grow a file).
            for size in 0..f.size {
                out.push(Action::Ftruncate { pid, file, size });
            }
        }
        let dirty = f.cache.iter().any(|e| matches!(e, crate::CacheEntry::Folio(x) if s.folios[*x as usize].dirty));
        if on(ActionKind::Fsync) && !f.shmem() && dirty {
            out.push(Action::Fsync { pid, file });
        }
    }
}

/// UFFDIO_MOVE from every page that holds something (a present page, the
/// zero page, a swap entry) to every empty page of a private anonymous
/// VMA: the moves that can succeed, and the refusals a shared, KSM or
/// non-exclusive page gets. Moves into a present page (EEXIST) or from an
/// empty one (ENOENT) change nothing but the destination's anon_vma and
/// are left to scenarios.
fn uffd_actions(cfg: &Config, s: &State, out: &mut Vec<Action>) {
    if !cfg.actions.contains(ActionKind::UffdMove) {
        return;
    }
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, mm)| mm.alive) {
        let anon = |p: u8| mm.vma_index(p).is_some_and(|vi| mm.vmas[vi].is_anonymous() && !mm.vmas[vi].shared);
        for src in (0..s.pages()).filter(|&p| anon(p) && mm.ptes[p as usize] != Pte::None) {
            if crate::userfaultfd::would_sleep(s, pid, src) {
                continue;
            }
            for dst in (0..s.pages()).filter(|&p| p != src && anon(p) && mm.ptes[p as usize] == Pte::None) {
                out.push(Action::UffdMove { pid: pid as u8, src, dst });
            }
        }
    }
}

/// ksmd's merges (every scanned page with every partner page that
/// merge_allowed() accepts; a KSM partner is named once, by its first
/// mapping) and drops of stale rmap_items (a stale stable node once, by
/// its first rmap_item: all of them go together).
fn ksmd_actions(cfg: &Config, s: &State, out: &mut Vec<Action>) {
    if cfg.actions.contains(ActionKind::KsmMerge) {
        let pages: Vec<(u8, u8)> = s
            .mms
            .iter()
            .enumerate()
            .filter(|(_, m)| m.alive)
            .flat_map(|(pid, m)| {
                m.ptes
                    .iter()
                    .enumerate()
                    .filter_map(move |(p, pte)| matches!(pte, Pte::Present { .. }).then_some((pid as u8, p as u8)))
            })
            .collect();
        let mut ksm_named: Vec<FolioId> = Vec::new();
        for &(pid, page) in &pages {
            if crate::ksm_zero::zero_merge_allowed(cfg, s, pid, page).is_ok() {
                out.push(Action::KsmMerge { pid, page, with: pid, with_page: crate::action::KSM_ZERO_PAGE });
            }
            if crate::ksm::find_mergeable_vma(s, pid as usize, page).is_none() {
                continue;
            }
            ksm_named.clear();
            for &(with, with_page) in &pages {
                let Pte::Present { folio, .. } = s.mms[with as usize].ptes[with_page as usize] else { continue };
                if s.folios[folio as usize].mapping.stable_node().is_some() {
                    if ksm_named.contains(&folio) {
                        continue;
                    }
                    ksm_named.push(folio);
                }
                let zero_filled = cfg.use_zero_pages && s.reads(pid as usize, page) == 0;
                if !zero_filled && crate::ksm::merge_allowed(s, pid, page, with, with_page).is_ok() {
                    out.push(Action::KsmMerge { pid, page, with, with_page });
                }
            }
        }
    }
    if cfg.actions.contains(ActionKind::KsmDrop) {
        for n in s.stable_nodes.iter().filter(|n| !n.freed) {
            for r in &n.items {
                if crate::ksm::item_stale(s, r.mm, r.address) {
                    out.push(Action::KsmDrop { pid: r.mm, page: r.address });
                    if n.kpfn.is_none() {
                        break;
                    }
                }
            }
        }
    }
}

/// MADV_PAGEOUT and MADV_FREE of single pages (a longer range is the same
/// as its pages one after the other: each page's folio is handled on its
/// own), and kswapd's reclaim of each folio the process names, once per
/// folio.
fn reclaim_actions(cfg: &Config, s: &State, pid: u8, out: &mut Vec<Action>) {
    let on = |k| cfg.actions.contains(k);
    let mm = &s.mms[pid as usize];
    let busy = s.folios.iter().any(|f| f.isolated && !f.freed);
    let mut named: Vec<FolioId> = Vec::new();
    for page in 0..s.pages() {
        if mm.vma_index(page).is_none() {
            continue;
        }
        let pte = mm.ptes[page as usize];
        let folio = match pte {
            Pte::Present { folio, .. } => Some(folio),
            Pte::Swap { slot, .. } => s.swap[slot as usize].cache,
            Pte::None | Pte::Zero => None,
        };
        if on(ActionKind::MadvPageout) && matches!(pte, Pte::Present { .. }) {
            out.push(Action::MadvPageout { pid, start: page, len: 1 });
        }
        let anon_vma_ok = mm.vma_index(page).is_some_and(|vi| mm.vmas[vi].is_anonymous());
        if on(ActionKind::MadvFree) && anon_vma_ok && matches!(pte, Pte::Present { .. } | Pte::Swap { .. }) {
            out.push(Action::MadvFree { pid, start: page, len: 1 });
        }
        if cfg.mthp.any() {
            madvise_ranges(cfg, s, pid, page, out);
        }
        if let Some(f) = folio.filter(|f| on(ActionKind::Reclaim) && !busy && !named.contains(f)) {
            named.push(f);
            if !s.mms[..pid as usize].iter().any(|m| names(s, m, f)) {
                out.push(Action::Reclaim { pid, page });
            }
        }
    }
}

/// With mTHP on, exploration maps only writable ranges a large folio of
/// the largest enabled order can fill: naturally aligned, that many pages
/// (mmap's merging and every smaller shape stay with the order-0
/// configurations; munmap, mprotect and mremap still cut these ranges in
/// every way).
fn mmap_folio_ranges(cfg: &Config, mm: &crate::state::Mm, pid: u8, out: &mut Vec<Action>) {
    let Some(order) = cfg.mthp.orders_desc().next() else { return };
    let nr = 1u8 << order;
    let pages = mm.ptes.len() as u8;
    let mut start = 0;
    while start + nr <= pages {
        if !mm.overlaps(start, start + nr) {
            out.push(Action::Mmap { pid, start, len: nr, write: true });
        }
        start += nr;
    }
}

/// With large folios a range is no longer its pages in turn: a folio
/// mapped whole in the range is paged out or freed whole, while a range
/// that cuts it splits it first and then treats its pages one by one,
/// which single pages in turn already do. So beside single pages the
/// ranges explored are the large folios mapped whole from `start`.
fn madvise_ranges(cfg: &Config, s: &State, pid: u8, start: u8, out: &mut Vec<Action>) {
    let mm = &s.mms[pid as usize];
    let Pte::Present { folio, sub: 0, .. } = mm.ptes[start as usize] else { return };
    let nr = s.folios[folio as usize].nr_pages();
    if nr == 1 || start + nr > s.pages() {
        return;
    }
    let vi = mm.vma_index(start);
    let whole = (0..nr).all(|k| {
        mm.vma_index(start + k) == vi
            && matches!(mm.ptes[(start + k) as usize], Pte::Present { folio: f, sub, .. } if f == folio && sub == k)
    });
    if !whole {
        return;
    }
    if cfg.actions.contains(ActionKind::MadvPageout) {
        out.push(Action::MadvPageout { pid, start, len: nr });
    }
    if cfg.actions.contains(ActionKind::MadvFree) {
        out.push(Action::MadvFree { pid, start, len: nr });
    }
}

/// A swap-in of this PTE sleeps on the folio lock kswapd holds until its
/// writeback: no load or store there can complete now.
fn swapin_would_sleep(s: &State, pte: Pte) -> bool {
    match pte {
        Pte::Swap { slot, .. } => s.swap[slot as usize].cache.is_some_and(|f| s.folios[f as usize].isolated),
        _ => false,
    }
}

/// Whether a page of `mm` names `folio` (maps it or swap-caches it).
fn names(s: &State, mm: &crate::state::Mm, folio: FolioId) -> bool {
    mm.alive
        && mm.ptes.iter().any(|pte| match *pte {
            Pte::Present { folio: f, .. } => f == folio,
            Pte::Swap { slot, .. } => s.swap[slot as usize].cache == Some(folio),
            _ => false,
        })
}
