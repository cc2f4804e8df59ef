//! Page-cache faults, file rmap and writeback: mm/filemap.c, the file
//! paths of mm/memory.c (do_read_fault(), do_cow_fault(),
//! do_shared_fault(), wp_page_shared(), fault-around) and the file side
//! of mm/rmap.c (folio_add_file_rmap_ptes(), rmap_walk_file(),
//! folio_mkclean()).
//!
//! Read from linux-mm at 009857a22860 (memory.c) and 0014dde7e945
//! (rmap.c), mm-unstable after v6.18; docs/kernel/file-rmap.md says what
//! the live 6.18 kernel showed where the model needed it.

use crate::address_space::{CacheEntry, File, FileId};
use crate::ctx::{oops, Branch, Ctx};
use crate::rmap::{anon_vma_prepare, folio_add_new_anon_rmap, folio_alloc, folio_remove_rmap_and_put};
use crate::state::{Folio, FolioId, Mapping, OopsKind, Page, Pid, Pte, State, Vma, GHOST_FILE};
use crate::vma::Vmg;

/// Mirrors do_mmap() -> __mmap_region() for a file (`file` is a named
/// file) or for `MAP_SHARED|MAP_ANONYMOUS` (`file` is `None`):
/// shmem_zero_setup() gives the VMA a new shmem object of the mapping's
/// size, with `vm_pgoff = 0` ("Ignore pgoff"). A file VMA first tries
/// vma_merge_new_range(), which needs the same `vm_file` and a contiguous
/// pgoff; a new shmem object merges with nothing. A private writable
/// mapping is VM_ACCOUNT (accountable_mapping()); a shared one never.
#[allow(clippy::too_many_arguments)]
pub fn do_mmap_file(
    s: &mut State,
    ctx: &mut Ctx,
    pid: usize,
    start: Page,
    len: u8,
    write: bool,
    shared: bool,
    file: Option<FileId>,
    pgoff: u8,
) -> Result<(), String> {
    let end = crate::mmap::check_range(s, start, len)?;
    if s.mms[pid].overlaps(start, end) {
        return Err(format!("pages {start}..{end} overlap an existing VMA (MAP_FIXED_NOREPLACE fails with EEXIST)"));
    }
    let (file, pgoff) = match file {
        None if !shared => return Err("a private anonymous mapping is the plain mmap action".into()),
        None => (shmem_zero_setup(s, ctx, len), 0),
        Some(f) => {
            if s.files.get(f as usize).is_none_or(|x| x.freed || x.anon) {
                return Err(format!("file {f} does not exist in this configuration (set files)"));
            }
            if pgoff as u16 + len as u16 > s.pages() as u16 {
                return Err(format!(
                    "file pages {pgoff}..{} lie beyond the modelled file length {}",
                    pgoff + len,
                    s.pages()
                ));
            }
            (f, pgoff)
        }
    };
    let account = write && !shared;
    let vmg = Vmg {
        start,
        end,
        pgoff,
        write,
        account,
        // ksm_vma_flags(): vma_ksm_compatible() refuses VM_SHARED.
        mergeable: s.mms[pid].merge_any && !shared,
        anon_vma: None,
        middle: None,
        copied_from: None,
        file: Some(file),
        shared,
    };
    // A new shmem object merges with nothing.
    if crate::mmap::mmap_region(s, ctx, pid, &vmg, !s.files[file as usize].anon) {
        let name = crate::address_space::file_name(s, file);
        ctx.say(|| format!("mmap_region: new VMA {start}..{end} of {name} pgoff={pgoff}"));
    }
    for p in start..end {
        s.mms[pid].ghost[p as usize] = Some(GHOST_FILE);
    }
    Ok(())
}

/// Mirrors shmem_zero_setup() (shmem_kernel_file_setup("dev/zero")): a new
/// shmem object of `len` pages, all holes, that lives as long as a VMA
/// maps it.
fn shmem_zero_setup(s: &mut State, ctx: &mut Ctx, len: u8) -> FileId {
    let id = s.files.len() as FileId;
    let pages = s.pages();
    s.files.push(File::new(crate::address_space::FileKind::Shmem, true, len, pages));
    ctx.say(|| format!("shmem_zero_setup: new shmem object shm{id} of {len} pages"));
    id
}

/// A new page-cache folio of `file` at `index` holding `data`: the page
/// cache's reference, PG_swapbacked for shmem (__folio_set_swapbacked()
/// in shmem_alloc_and_add_folio()), clean.
pub(crate) fn page_cache_add(
    s: &mut State,
    mutant: Option<crate::Mutant>,
    file: FileId,
    index: u8,
    data: u8,
) -> FolioId {
    let id = s.folios.len() as FolioId;
    let shmem = s.files[file as usize].shmem() && mutant != Some(crate::Mutant::ShmemFolioNotSwapbacked);
    s.folios.push(Folio { swapbacked: shmem, ..Folio::small(Mapping::File(file), index, 0, data, false) });
    s.files[file as usize].cache[index as usize] = CacheEntry::Folio(id);
    id
}

/// The VMA at `page` of `pid` with its file and the page's file offset;
/// `Err` (SIGBUS) when the offset lies at or beyond `i_size`.
fn file_index(s: &State, pid: usize, vi: usize, page: Page) -> Result<(FileId, u8), String> {
    let v = &s.mms[pid].vmas[vi];
    let Some(file) = v.file else { return Err("not a file VMA".into()) };
    let index = v.linear_page_index(page);
    if index >= s.files[file as usize].size {
        return Err(format!("page {page} maps file offset {index}, beyond i_size: the access would SIGBUS"));
    }
    Ok((file, index))
}

/// Mirrors `vma->vm_ops->fault` (filemap_fault() or shmem_fault()) up to
/// the point where it returns a locked folio: the page-cache folio at
/// `index`, read in by readahead or allocated or swapped in as needed.
/// `Err` when the folio is locked by reclaim (the fault sleeps).
fn do_fault_folio(s: &mut State, ctx: &mut Ctx, file: FileId, index: u8) -> Result<FolioId, String> {
    if s.files[file as usize].shmem() {
        return crate::shmem::shmem_get_folio(s, ctx, file, index);
    }
    match s.files[file as usize].folio_at(index) {
        None => {
            do_sync_mmap_readahead(s, ctx, file, index);
        }
        Some(f) if s.folios[f as usize].readahead => {
            do_async_mmap_readahead(s, ctx, file, f);
        }
        Some(_) => {}
    }
    let folio = s.files[file as usize].folio_at(index).ok_or("the page cache lost the folio readahead added")?;
    if s.folios[folio as usize].isolated {
        return Err(format!("filemap_fault: the fault sleeps on the lock reclaim holds on F{folio}"));
    }
    Ok(folio)
}

/// Offsets (a bit each) that a fault's readahead read but whose I/O is
/// still in flight when the retried fault runs fault-around:
/// next_uptodate_folio() skips a locked, not yet uptodate folio.
pub type InFlight = u32;

/// Which of the offsets `read` (a bit each) of `file` are still being
/// read when the fault is retried, given that the fault itself waited
/// for the disk (`waited`) or not. A page over a hole (no disk block:
/// `disk` is 0, a written page never holds 0) needs no I/O: ext4's
/// readahead zero-fills it and marks it uptodate while it builds the
/// bio. A page with a block is uptodate only when its bio completes. The
/// fault sleeps only on its own folio (lock_folio_maybe_drop_mmap()), so
/// a retry after a hole, or after async readahead (the faulting folio
/// was cached), comes before any disk read completes; a retry after the
/// faulting folio's own disk read comes after every read this readahead
/// submitted. (The live kernel, 30 runs of each case: a 5-page file with
/// only offset 2 written, offsets 0 and 2 evicted; a read of offset 0
/// maps 0, 1, 3 and 4, offset 2 is cached and unmapped; a read of offset
/// 2 maps all five; with offsets 0 and 2 written, either read maps all
/// five.)
fn in_flight(f: &File, read: u32, waited: bool) -> InFlight {
    if waited {
        return 0;
    }
    (0..f.size).filter(|&i| read & 1 << i != 0 && f.disk[i as usize] != 0).fold(0, |m, i| m | 1 << i)
}

/// Mirrors filemap_fault()'s cache miss: do_sync_mmap_readahead() reads
/// around the faulting offset, `ra_pages / 2` on each side (16 pages by
/// default, 1024 with the 8 MiB `read_ahead_kb` of the test machine's
/// disk), so for the files here every page below `i_size` that is not
/// cached yet is read from disk, clean; the fault then drops the mmap
/// lock for the I/O and is retried (VM_FAULT_RETRY), and the retry's
/// fault-around maps what is uptodate by then (the live kernel: one read
/// of a cold 4-page file maps all four pages of a 4-page VMA). Returns
/// the offsets still in flight at the retry ([`in_flight`]).
fn do_sync_mmap_readahead(s: &mut State, ctx: &mut Ctx, file: FileId, index: u8) -> InFlight {
    let size = s.files[file as usize].size;
    let mut read = 0u32;
    for i in 0..size {
        if s.files[file as usize].cache[i as usize] == CacheEntry::Hole {
            let data = s.files[file as usize].disk[i as usize];
            page_cache_add(s, ctx.cfg.mutant, file, i, data);
            read |= 1 << i;
        }
    }
    let f = &s.files[file as usize];
    let busy = in_flight(f, read & !(1 << index), f.disk[index as usize] != 0);
    ctx.took(Branch::FilemapReadahead);
    ctx.say(|| format!("filemap_fault: do_sync_mmap_readahead read offsets 0..{size} in, VM_FAULT_RETRY"));
    if busy != 0 {
        ctx.say(|| format!("offsets {busy:#b} still being read from disk at the retry"));
    }
    busy
}

/// Mirrors filemap_fault() finding a PG_readahead folio (fault-around
/// skipped it): do_async_mmap_readahead() -> page_cache_async_ra() clears
/// the mark and, with no readahead state that expects this index ("Hit a
/// marked folio without valid readahead state"), reads from the first
/// missing page after it to the end of the file (the window is larger than
/// these files), marking the window's first page for the next async
/// readahead; then the fault is retried (the live kernel: after
/// MADV_PAGEOUT kept dirty page 0 of a 3-page file, a read of page 0 maps
/// pages 0 and 2, and caches page 1 unmapped).
fn do_async_mmap_readahead(s: &mut State, ctx: &mut Ctx, file: FileId, folio: FolioId) -> InFlight {
    s.folios[folio as usize].readahead = false;
    let (index, size) = (s.folios[folio as usize].index, s.files[file as usize].size);
    let Some(first) = (index + 1..size).find(|&i| s.files[file as usize].cache[i as usize] == CacheEntry::Hole) else {
        return 0;
    };
    let mut read = 0u32;
    for i in first..size {
        if s.files[file as usize].cache[i as usize] == CacheEntry::Hole {
            let data = s.files[file as usize].disk[i as usize];
            let f = page_cache_add(s, ctx.cfg.mutant, file, i, data);
            s.folios[f as usize].readahead = i == first;
            read |= 1 << i;
        }
    }
    let busy = in_flight(&s.files[file as usize], read, false);
    ctx.took(Branch::FilemapReadahead);
    ctx.say(|| format!("do_async_mmap_readahead: F{folio} was marked: offsets {first}..{size} read, {first} marked"));
    if busy != 0 {
        ctx.say(|| format!("offsets {busy:#b} still being read from disk at the retry"));
    }
    busy
}

/// Whether a PTE set_pte_range() makes for a load in `v` is writable:
/// `mk_pte(page, vma->vm_page_prot)`, and vm_page_prot is writable only
/// for a shared writable mapping without write-notify: shmem (no
/// writeback accounting). A regular file's shared mapping write-notifies
/// (page_mkwrite), so its PTEs start read-only; a private mapping is COW.
fn read_pte_writable(s: &State, v: &Vma) -> bool {
    v.shared && v.write && v.file.is_some_and(|f| s.files[f as usize].shmem())
}

/// Mirrors set_pte_range() + folio_add_file_rmap_ptes() for one PTE of a
/// page-cache folio: the folio's reference and mapping count, and a PTE
/// that is writable as vm_page_prot says (or for a write fault
/// `maybe_mkwrite(pte_mkdirty())`), dirty when written or when writable
/// over a dirty folio. folio_add_file_rmap_ptes() warns on an anon folio.
fn set_pte_file(s: &mut State, pid: usize, vi: usize, page: Page, folio: FolioId, write: bool) {
    if s.folios[folio as usize].mapping.is_anon() {
        oops(s, OopsKind::Warn, format!("VM_WARN_ON_FOLIO(folio_test_anon) in __folio_add_file_rmap: F{folio}"));
        return;
    }
    let v = &s.mms[pid].vmas[vi];
    let writable = write || read_pte_writable(s, v);
    let dirty = write || (writable && s.folios[folio as usize].dirty);
    let f = &mut s.folios[folio as usize];
    f.mapcount += 1;
    f.refcount += 1;
    s.mms[pid].ptes[page as usize] = Pte::Present { folio, sub: 0, writable, dirty };
}

/// Mirrors do_read_fault() for a load from a file or shmem VMA whose PTE
/// is none: do_fault_around() first (filemap_map_pages() maps every
/// cached, unlocked folio of the window: `fault_around_bytes` is 64 KiB,
/// so the whole of a VMA in the modelled window, clipped at `i_size`),
/// then `->fault` for the page itself if that did not map it, and
/// finish_fault().
pub fn do_read_fault(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page) -> Result<(), String> {
    let (file, index) = file_index(s, pid, vi, page)?;
    if let Some(f) = s.files[file as usize].folio_at(index).filter(|&f| s.folios[f as usize].isolated) {
        return Err(format!("the fault sleeps on the lock reclaim holds on F{f}"));
    }
    let mut busy = 0;
    if !s.files[file as usize].shmem() {
        busy = match s.files[file as usize].folio_at(index) {
            // filemap_fault() reads the file in and retries the fault.
            None => do_sync_mmap_readahead(s, ctx, file, index),
            // fault-around skipped it; filemap_fault() starts async
            // readahead and retries, and the retry maps it.
            Some(f) if s.folios[f as usize].readahead => do_async_mmap_readahead(s, ctx, file, f),
            Some(_) => 0,
        };
    }
    do_fault_around(s, ctx, pid, vi, page, busy);
    if matches!(s.mms[pid].ptes[page as usize], Pte::Present { .. }) {
        return Ok(());
    }
    let folio = do_fault_folio(s, ctx, file, index)?;
    set_pte_file(s, pid, vi, page, folio, false);
    ctx.say(|| format!("do_read_fault: F{folio} (offset {index}) mapped at page {page}"));
    Ok(())
}

/// Mirrors do_fault_around() -> filemap_map_pages() (shmem uses it too):
/// for every page of the VMA in the fault-around window whose PTE is
/// none and whose file offset is below `i_size`, map the cached folio if
/// there is one and folio_trylock() succeeds (reclaim holds none, and its
/// read is not in flight: `busy`, see [`in_flight`]).
fn do_fault_around(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page, busy: InFlight) {
    let v = s.mms[pid].vmas[vi];
    let Some(file) = v.file else { return };
    for p in v.start..v.end {
        let index = v.linear_page_index(p);
        if s.mms[pid].ptes[p as usize] != Pte::None || index >= s.files[file as usize].size {
            continue;
        }
        let Some(folio) = s.files[file as usize].folio_at(index) else { continue };
        // next_uptodate_folio(): skip a locked folio (reclaim's, or a read
        // in flight) and a PG_readahead one.
        if s.folios[folio as usize].isolated || s.folios[folio as usize].readahead || busy & 1 << index != 0 {
            continue;
        }
        set_pte_file(s, pid, vi, p, folio, false);
        if p != page {
            ctx.took(Branch::FaultAround);
        }
        ctx.say(|| format!("filemap_map_pages: F{folio} (offset {index}) mapped at page {p}"));
    }
}

/// A store to a file or shmem VMA whose PTE is none: do_cow_fault() for a
/// private mapping (vmf_anon_prepare(), the page-cache folio copied into
/// a new exclusive anon folio whose index is the file offset, since
/// vm_pgoff is one), do_shared_fault() for a shared one (the page-cache
/// folio mapped writable and dirty, then fault_dirty_shared_page()).
pub fn do_fault_write(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize, page: Page) -> Result<(), String> {
    let (file, index) = file_index(s, pid, vi, page)?;
    if let Some(f) = s.files[file as usize].folio_at(index).filter(|&f| s.folios[f as usize].isolated) {
        return Err(format!("the fault sleeps on the lock reclaim holds on F{f}"));
    }
    if s.mms[pid].vmas[vi].shared {
        let folio = do_fault_folio(s, ctx, file, index)?;
        set_pte_file(s, pid, vi, page, folio, true);
        fault_dirty_shared_page(s, ctx, folio);
        ctx.say(|| format!("do_shared_fault: F{folio} (offset {index}) mapped writable at page {page}"));
        return Ok(());
    }
    anon_vma_prepare(s, ctx, pid, vi);
    let folio = do_fault_folio(s, ctx, file, index)?;
    let data = s.folios[folio as usize].data;
    let new = folio_alloc(s, data);
    folio_add_new_anon_rmap(s, new, pid, vi, page, true);
    s.mms[pid].ptes[page as usize] = Pte::Present { folio: new, sub: 0, writable: true, dirty: true };
    ctx.took(Branch::CowFromPageCache);
    ctx.say(|| format!("do_cow_fault: F{folio} (offset {index}) copied to new anon F{new} at page {page}"));
    Ok(())
}

/// Mirrors wp_page_shared() for a store to a read-only PTE of a shared
/// mapping: page_mkwrite() (regular files) or wp_page_reuse(), the PTE
/// writable and dirty, then fault_dirty_shared_page(). Never a copy.
pub fn wp_page_shared(s: &mut State, ctx: &mut Ctx, pid: usize, page: Page) {
    let Pte::Present { folio, .. } = s.mms[pid].ptes[page as usize] else {
        oops(s, OopsKind::Bug, format!("wp_page_shared: page {page} has no present PTE"));
        return;
    };
    s.mms[pid].ptes[page as usize] = Pte::Present { folio, sub: 0, writable: true, dirty: true };
    fault_dirty_shared_page(s, ctx, folio);
    ctx.say(|| format!("wp_page_shared: F{folio} made writable at page {page}"));
}

/// Mirrors fault_dirty_shared_page(): folio_mark_dirty() on the
/// page-cache folio a shared write fault mapped.
fn fault_dirty_shared_page(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    s.folios[folio as usize].dirty = true;
    ctx.took(Branch::SharedDirty);
}

/// Mirrors rmap_walk_file() with folio_lock() held: `folio->mapping` (a
/// folio truncated out of its file has none, and the walk finds nothing),
/// then every VMA of that file's i_mmap tree whose pgoff range holds
/// `folio->index`, at vma_address() (VM_BUG_ON_VMA when that is outside
/// the VMA); page_vma_mapped_walk() keeps the PTEs that map this folio.
pub fn rmap_walk_file(s: &State, folio: FolioId) -> Vec<(Pid, Page)> {
    let f = &s.folios[folio as usize];
    let Some(file) = f.mapping.file() else { return Vec::new() };
    crate::address_space::i_mmap_at(s, file, f.index)
        .into_iter()
        .filter(|&(pid, page)| matches!(s.mms[pid as usize].ptes[page as usize], Pte::Present { folio: x, .. } if x == folio))
        .collect()
}

/// Mirrors try_to_unmap_one() for a page-cache folio: clear the PTE,
/// transfer its dirty bit to the folio (folio_mark_dirty()), drop the
/// mapping and the reference. No swap entry: the file is the backing
/// store and a later fault finds the folio (or the swap entry shmem
/// keeps) through the page cache.
pub fn try_to_unmap_one_file(s: &mut State, ctx: &mut Ctx, folio: FolioId, pid: Pid, page: Page) {
    let Pte::Present { dirty, .. } = s.mms[pid as usize].ptes[page as usize] else { return };
    s.mms[pid as usize].ptes[page as usize] = Pte::None;
    if dirty {
        s.folios[folio as usize].dirty = true;
    }
    folio_remove_rmap_and_put(s, ctx, folio);
    ctx.say(|| format!("try_to_unmap_one: P{pid} page {page} unmapped from F{folio}"));
}

/// Mirrors shrink_folio_list() for an isolated page-cache folio, from
/// try_to_unmap() on (the caller took the isolation reference): unmap it
/// through rmap_walk_file() and keep it if anything still maps it; a dirty
/// regular-file folio is kept for the flusher ("Only kswapd can writeback
/// filesystem folios" became: reclaim never writes them, it sets
/// PG_reclaim and activates); a dirty shmem folio needs pageout(); a clean
/// one leaves the page cache (__remove_mapping()) and is freed.
pub fn shrink_file_folio(s: &mut State, ctx: &mut Ctx, folio: FolioId) -> crate::vmscan::Shrunk {
    use crate::vmscan::Shrunk;
    crate::vmscan::try_to_unmap(s, ctx, folio);
    let f = &s.folios[folio as usize];
    if f.mapcount > 0 {
        ctx.took(Branch::ReclaimKeep);
        return crate::vmscan::putback(s, ctx, folio, "still mapped after try_to_unmap: activate");
    }
    if f.dirty {
        if f.swapbacked {
            return Shrunk::NeedsPageout;
        }
        if ctx.cfg.mutant != Some(crate::Mutant::ReclaimDropsDirtyFile) {
            // folio_set_reclaim(): "Immediately reclaim when written back".
            // The bit is PG_readahead's too.
            s.folios[folio as usize].readahead = true;
            return crate::vmscan::putback(s, ctx, folio, "dirty file folio: PG_reclaim, activate for the flusher");
        }
        s.folios[folio as usize].dirty = false; // the mutant: dropped unwritten
    }
    remove_mapping_file(s, ctx, folio)
}

/// Mirrors __remove_mapping() for a clean page-cache folio: only the
/// isolation and page-cache references may be left (folio_ref_freeze()),
/// then __filemap_remove_folio() empties its slot and clears
/// `folio->mapping`, and the folio is freed. A regular file reads the
/// disk there again, shmem a hole (a clean shmem folio holds zeroes).
pub(crate) fn remove_mapping_file(s: &mut State, ctx: &mut Ctx, folio: FolioId) -> crate::vmscan::Shrunk {
    let f = &s.folios[folio as usize];
    if f.refcount != 2 || f.dirty {
        return crate::vmscan::putback(s, ctx, folio, "__remove_mapping: references or dirty: keep");
    }
    page_cache_delete(s, folio);
    ctx.took(Branch::PageCacheDropped);
    ctx.say(|| format!("__remove_mapping: F{folio} leaves the page cache"));
    crate::swapfile::folio_put(s, ctx, folio); // the page cache's
    crate::swapfile::folio_put(s, ctx, folio); // the isolation's
    crate::vmscan::Shrunk::Freed
}

/// Mirrors page_cache_delete(): the folio's slot in `mapping->i_pages`
/// becomes a hole and `folio->mapping` is cleared; the caller drops the
/// page cache's reference (folio_put()).
pub(crate) fn page_cache_delete(s: &mut State, folio: FolioId) {
    let f = &mut s.folios[folio as usize];
    let (Some(file), index) = (f.mapping.file(), f.index) else { return };
    f.mapping = Mapping::None;
    s.files[file as usize].cache[index as usize] = CacheEntry::Hole;
}

/// Mirrors vfs_fsync() -> file_write_and_wait_range() for a regular file
/// (shmem's noop_fsync() does nothing): for every dirty page-cache folio,
/// folio_clear_dirty_for_io() -> folio_mkclean(), which walks the file
/// rmap and write-protects and cleans every PTE mapping it
/// (page_mkclean_one(): the next store faults and dirties the folio
/// again through page_mkwrite), then the write to disk. `Err` when a
/// folio is locked by reclaim (writeback waits for it).
pub fn vfs_fsync(s: &mut State, ctx: &mut Ctx, file: FileId) -> Result<(), String> {
    if s.files.get(file as usize).is_none_or(|f| f.freed || f.anon) {
        return Err(format!("file {file} does not exist in this configuration"));
    }
    if s.files[file as usize].shmem() {
        ctx.say(|| "noop_fsync: shmem has no writeback".to_string());
        return Ok(());
    }
    let folios: Vec<FolioId> = s.files[file as usize]
        .cache
        .iter()
        .filter_map(|e| match *e {
            CacheEntry::Folio(f) => Some(f),
            _ => None,
        })
        .collect();
    if let Some(&f) = folios.iter().find(|&&f| s.folios[f as usize].isolated) {
        return Err(format!("fsync waits on the lock reclaim holds on F{f}"));
    }
    for folio in folios {
        if !s.folios[folio as usize].dirty {
            continue;
        }
        folio_mkclean(s, ctx, folio);
        let f = &mut s.folios[folio as usize];
        f.dirty = false;
        f.readahead = false; // folio_end_writeback(): folio_clear_reclaim()
        let (index, data) = (f.index, f.data);
        s.files[file as usize].disk[index as usize] = data;
        ctx.say(|| format!("writeback: F{folio} written to disk at offset {index} (data {data})"));
    }
    Ok(())
}

/// Mirrors folio_mkclean() -> rmap_walk_file() with page_mkclean_one():
/// every PTE mapping the folio that is writable or dirty becomes
/// read-only and clean; a dirty one re-dirties the folio first (which
/// writeback then cleans).
fn folio_mkclean(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    for (pid, page) in rmap_walk_file(s, folio) {
        if let Pte::Present { writable, dirty, .. } = s.mms[pid as usize].ptes[page as usize] {
            if writable || dirty {
                s.mms[pid as usize].ptes[page as usize] = Pte::Present { folio, sub: 0, writable: false, dirty: false };
                ctx.took(Branch::FolioMkclean);
                ctx.say(|| format!("page_mkclean_one: P{pid} page {page} write-protected"));
            }
        }
    }
}
