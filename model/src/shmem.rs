//! shmem/tmpfs (mm/shmem.c): folios allocated for holes on a fault,
//! swap-out that leaves the swap entry in the page cache (not in a PTE),
//! swap-in through the page cache, and the end of a shared anonymous
//! object with its last mapping.
//!
//! Read from linux-mm at ebc076130132 (newer than v6.18: the swap-table
//! rework renamed the swap-cache helpers, the steps are the same); the
//! live 6.18 kernel confirmed what docs/kernel/file-rmap.md lists.

use crate::address_space::{CacheEntry, FileId};
use crate::ctx::{oops, Branch, Ctx};
use crate::filemap::page_cache_add;
use crate::state::{FolioId, Mapping, OopsKind, State};
use crate::swapfile::{delete_from_swap_cache, folio_alloc_swap, folio_put, swap_free};

/// Mirrors shmem_get_folio_gfp() for a fault (SGP_CACHE): the cached
/// folio; for a hole shmem_alloc_and_add_folio() (a new, zeroed, clean,
/// PG_swapbacked folio in the page cache; a read fault allocates too, it
/// does not map the zero page); for a swap entry shmem_swapin_folio().
/// `Err` when reclaim holds the folio locked.
pub fn shmem_get_folio(s: &mut State, ctx: &mut Ctx, file: FileId, index: u8) -> Result<FolioId, String> {
    match s.files[file as usize].cache[index as usize] {
        CacheEntry::Folio(f) if s.folios[f as usize].isolated => {
            Err(format!("shmem_get_folio_gfp: the fault sleeps on the lock reclaim holds on F{f}"))
        }
        CacheEntry::Folio(f) => Ok(f),
        CacheEntry::Hole => {
            let f = page_cache_add(s, ctx.cfg.mutant, file, index, 0);
            ctx.took(Branch::ShmemAllocFolio);
            ctx.say(|| format!("shmem_alloc_and_add_folio: new F{f} at offset {index} of file {file}"));
            Ok(f)
        }
        CacheEntry::Swap(slot) => Ok(shmem_swapin_folio(s, ctx, file, index, slot)),
    }
}

/// Mirrors shmem_swapin_folio() on a `SWP_SYNCHRONOUS_IO` device (zram):
/// a swap-cache hit, or a direct read of the slot into a new folio that
/// skips the swap cache; then shmem_add_to_page_cache() replaces the swap
/// entry by the folio, which is marked dirty (memory now holds the only
/// copy) and leaves the swap cache, and swap_free() drops the mapping's
/// reference on the slot.
fn shmem_swapin_folio(s: &mut State, ctx: &mut Ctx, file: FileId, index: u8, slot: u8) -> FolioId {
    let folio = match s.swap[slot as usize].cache {
        Some(f) => {
            // swap_cache_get_folio()'s reference becomes the page cache's
            // once the swap cache drops its own.
            s.folios[f as usize].refcount += 1;
            delete_from_swap_cache(s, ctx, f);
            f
        }
        None => {
            let data = s.slot_data(slot);
            page_cache_add(s, ctx.cfg.mutant, file, index, data)
        }
    };
    let f = &mut s.folios[folio as usize];
    f.mapping = Mapping::File(file);
    f.index = index;
    f.swapbacked = true;
    f.dirty = true;
    s.files[file as usize].cache[index as usize] = CacheEntry::Folio(folio);
    swap_free(s, slot);
    ctx.took(Branch::ShmemSwapin);
    ctx.say(|| format!("shmem_swapin_folio: S{slot} read back into F{folio} at offset {index}, dirty"));
    folio
}

/// Mirrors pageout() -> shmem_writeout() and the rest of
/// shrink_folio_list() for a dirty shmem folio reclaim has unmapped and
/// isolated: folio_alloc_swap() (on failure: redirty and keep it,
/// AOP_WRITEPAGE_ACTIVATE), shmem_delete_from_page_cache() puts the swap
/// entry where the folio was (the swap count belongs to the mapping),
/// swap_writeout() writes it synchronously, and __remove_mapping() takes
/// the clean folio out of the swap cache and frees it.
pub fn shmem_pageout(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    s.folios[folio as usize].isolated = false;
    let (Some(file), index) = (s.folios[folio as usize].mapping.file(), s.folios[folio as usize].index) else {
        oops(s, OopsKind::Bug, format!("shmem_writeout: F{folio} has no mapping"));
        return;
    };
    if s.folios[folio as usize].refcount != 2 {
        crate::vmscan::putback(s, ctx, folio, "pageout: extra references: keep");
        return;
    }
    let Some(slot) = folio_alloc_swap(s, ctx, folio) else {
        crate::vmscan::putback(s, ctx, folio, "shmem_writeout: no swap slot: redirty, activate");
        return;
    };
    // shmem_delete_from_page_cache(folio, swp_to_radix_entry(swap)).
    let f = &mut s.folios[folio as usize];
    f.mapping = Mapping::None;
    f.refcount -= 1;
    s.files[file as usize].cache[index as usize] = CacheEntry::Swap(slot);
    s.swap[slot as usize].count += 1; // the page cache's swap reference
                                      // swap_writeout() on zram: written at once.
    let data = s.folios[folio as usize].data;
    s.folios[folio as usize].dirty = false;
    s.swap[slot as usize].data = Some(data);
    ctx.took(Branch::ShmemWriteout);
    ctx.say(|| format!("shmem_writeout: F{folio} written to S{slot}, swap entry at offset {index} of file {file}"));
    // __remove_mapping() of the swap cache.
    delete_from_swap_cache(s, ctx, folio);
    folio_put(s, ctx, folio);
}

/// Mirrors fput() of the last reference to a shared anonymous object
/// (every VMA mapping it is gone) -> shmem_evict_inode() ->
/// shmem_truncate_range() over the whole object: its folios leave the
/// page cache and its swap entries are freed. The named files stay: the
/// executor holds them open. `Err` when reclaim holds one of the folios
/// locked: the final fput() (task work on the way back to user space)
/// waits for kswapd's writeback, so the call cannot complete yet.
pub fn release_unmapped_objects(s: &mut State, ctx: &mut Ctx) -> Result<(), String> {
    for file in 0..s.files.len() as FileId {
        let f = &s.files[file as usize];
        if !f.anon || f.freed || crate::address_space::i_mmap(s, file).next().is_some() {
            continue;
        }
        let locked = f.cache.iter().find_map(|e| match *e {
            CacheEntry::Folio(x) if s.folios[x as usize].isolated => Some(x),
            _ => None,
        });
        if let Some(x) = locked {
            return Err(format!("the last fput() of shm{file} waits on the lock reclaim holds on F{x}"));
        }
        crate::truncate::truncate_inode_pages(s, ctx, file, 0);
        s.files[file as usize].freed = true;
        ctx.say(|| format!("shmem_evict_inode: shm{file} freed with its last mapping"));
    }
    Ok(())
}
