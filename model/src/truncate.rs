//! Truncation (mm/truncate.c, and the unmap_mapping_range() it uses from
//! mm/memory.c): ftruncate() of a named file.

use crate::address_space::{CacheEntry, FileId};
use crate::ctx::{Branch, Ctx};
use crate::filemap::page_cache_delete;
use crate::state::{Pte, State, GHOST_FILE};
use crate::swapfile::{folio_put, swap_free};

/// Mirrors do_sys_ftruncate() -> notify_change() -> ext4_setattr() /
/// shmem_setattr(): truncate_setsize() writes the new `i_size`, and when
/// the file shrinks truncate_pagecache() runs (shmem_truncate_range() for
/// shmem does the same to the page cache and also frees swap entries).
/// Growing only moves `i_size`: the new pages are holes. `Err` when reclaim
/// holds a folio of the truncated range locked (truncation waits for it).
pub fn do_ftruncate(s: &mut State, ctx: &mut Ctx, file: FileId, size: u8) -> Result<(), String> {
    if s.files.get(file as usize).is_none_or(|f| f.freed || f.anon) {
        return Err(format!("file {file} does not exist in this configuration"));
    }
    if size > s.pages() {
        return Err(format!("size {size} is beyond the modelled file length {}", s.pages()));
    }
    let f = &s.files[file as usize];
    let locked = f.cache.iter().skip(size as usize).find_map(|e| match *e {
        CacheEntry::Folio(x) if s.folios[x as usize].isolated => Some(x),
        _ => None,
    });
    if let Some(x) = locked {
        return Err(format!("truncation waits on the lock reclaim holds on F{x}"));
    }
    let old = f.size;
    s.files[file as usize].size = size;
    ctx.say(|| format!("truncate_setsize: file {file} i_size {old} -> {size} pages"));
    if size < old {
        truncate_pagecache(s, ctx, file, size);
    }
    Ok(())
}

/// Mirrors truncate_pagecache(): unmap_mapping_range(holebegin, 0,
/// even_cows = 1) first, then truncate_inode_pages(), then the second
/// unmap_mapping_range() "for correctness" (private pages COWed in
/// between); nothing can fault in between here, so the second finds
/// nothing. The ghost: the file's contents beyond EOF are gone.
fn truncate_pagecache(s: &mut State, ctx: &mut Ctx, file: FileId, size: u8) {
    if ctx.cfg.mutant != Some(crate::Mutant::TruncateSkipsUnmap) {
        unmap_mapping_range(s, ctx, file, size, true);
    }
    truncate_inode_pages(s, ctx, file, size);
    let f = &mut s.files[file as usize];
    for i in size as usize..f.content.len() {
        f.content[i] = 0;
        f.disk[i] = 0; // the blocks are freed: a file grown again reads zeroes
    }
}

/// Mirrors unmap_mapping_range() -> unmap_mapping_pages() ->
/// unmap_mapping_range_tree(): for every VMA of the file's i_mmap tree,
/// zap its pages at file offsets `from` and beyond. With `even_cows`
/// (truncation) zap_details has no `skip_cows`, so a private mapping's
/// anon COW copies and their swap entries go too: their data is lost by
/// design, and the process reads SIGBUS there, not its old copy.
pub fn unmap_mapping_range(s: &mut State, ctx: &mut Ctx, file: FileId, from: u8, even_cows: bool) {
    let vmas: Vec<(usize, u8, u8, u8)> =
        crate::address_space::i_mmap(s, file).map(|(pid, v)| (pid as usize, v.start, v.end, v.pgoff)).collect();
    for (pid, start, end, pgoff) in vmas {
        for page in start..end {
            if page - start + pgoff < from {
                continue;
            }
            let cow = match s.mms[pid].ptes[page as usize] {
                Pte::Present { folio, .. } => s.folios[folio as usize].mapping.is_anon(),
                Pte::Swap { .. } => true,
                Pte::None | Pte::Zero => false,
            };
            if cow && !even_cows {
                continue; // should_zap_folio(): skip_cows keeps private data
            }
            if cow {
                ctx.took(Branch::TruncateEvenCows);
            }
            crate::memory::zap_pte_range(s, ctx, pid, page, page + 1);
            s.mms[pid].ghost[page as usize] = Some(GHOST_FILE);
        }
    }
}

/// Mirrors truncate_inode_pages_range() (shmem: shmem_undo_range()) from
/// offset `from` to the end: every page-cache folio there leaves the page
/// cache (dirty data is thrown away) and loses the cache's reference;
/// every shmem swap entry there is freed (shmem_free_swap()).
pub fn truncate_inode_pages(s: &mut State, ctx: &mut Ctx, file: FileId, from: u8) {
    for index in from..s.files[file as usize].cache.len() as u8 {
        match s.files[file as usize].cache[index as usize] {
            CacheEntry::Hole => {}
            CacheEntry::Folio(folio) => {
                page_cache_delete(s, folio);
                folio_put(s, ctx, folio);
                ctx.say(|| format!("truncate_inode_folio: F{folio} at offset {index} removed"));
            }
            CacheEntry::Swap(slot) => {
                s.files[file as usize].cache[index as usize] = CacheEntry::Hole;
                swap_free(s, slot);
                ctx.say(|| format!("shmem_free_swap: S{slot} at offset {index} freed"));
            }
        }
    }
}
