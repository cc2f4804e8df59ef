//! Invariants of swap slots, the swap cache, reclaim and MADV_FREE
//! (I16–I21; docs/kernel/swap-reclaim.md, docs/kernel/madv-free.md).

use crate::report;
use rmapcheck_model::{CacheEntry, Kernel, Mapping, Pte, SlotId, State};

/// Every swap PTE of a live process: (pid, page, slot, exclusive).
fn swap_ptes(s: &State) -> impl Iterator<Item = (usize, u8, SlotId, bool)> + '_ {
    s.mms.iter().enumerate().filter(|(_, m)| m.alive).flat_map(|(pid, mm)| {
        mm.ptes.iter().enumerate().filter_map(move |(p, pte)| match *pte {
            Pte::Swap { slot, exclusive } => Some((pid, p as u8, slot, exclusive)),
            _ => None,
        })
    })
}

/// I16: a swap PTE with the exclusive marker is the only one naming its
/// slot, and a swap-cache folio whose slot any swap PTE names is not
/// PageAnonExclusive.
pub fn exclusive_swap_entry(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, page, slot, exclusive) in swap_ptes(s) {
        let sl = &s.swap[slot as usize];
        if exclusive && sl.count != 1 {
            bad.push(format!("P{pid} page {page}: exclusive swap entry S{slot} but its swap count is {}", sl.count));
        }
        // The slot's page: a large swap-cache folio caches its run.
        if let Some(f) = sl.cache.filter(|&f| {
            let f = &s.folios[f as usize];
            f.page_exclusive(if f.large.is_some() { sl.pos } else { 0 })
        }) {
            bad.push(format!(
                "P{pid} page {page}: swap entry S{slot} names swap-cache folio F{f}, which is PageAnonExclusive"
            ));
        }
    }
    report(bad)
}

/// I17: a slot's swap count is the number of swap PTEs naming it, and a
/// slot is in use exactly while a PTE names it or a folio caches it (no
/// PTE names a free slot).
pub fn swap_count(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    let mut count = vec![0usize; s.swap.len()];
    for (pid, page, slot, _) in swap_ptes(s) {
        match count.get_mut(slot as usize) {
            Some(c) => *c += 1,
            None => bad.push(format!("P{pid} page {page}: swap entry S{slot} names no slot")),
        }
    }
    // shmem keeps its swap entries in the page cache, one reference each.
    for (file, f) in s.files.iter().enumerate().filter(|(_, f)| !f.freed) {
        for (index, e) in f.cache.iter().enumerate() {
            if let CacheEntry::Swap(slot) = *e {
                match count.get_mut(slot as usize) {
                    Some(c) => *c += 1,
                    None => bad.push(format!("file {file} offset {index}: swap entry S{slot} names no slot")),
                }
            }
        }
    }
    for (i, sl) in s.swap.iter().enumerate() {
        if sl.count as usize != count[i] {
            bad.push(format!("S{i}: swap count {} but {} swap PTEs and shmem entries name it", sl.count, count[i]));
        }
    }
    report(bad)
}

/// I18: a swap-cache folio is anon and swap-backed (so a lazyfree folio is
/// never in the swap cache), and the slot's cache entry and the folio's
/// `folio->swap` name each other.
pub fn swapcache_flags(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        let Some(slot) = f.swap else { continue };
        if !f.swapbacked {
            bad.push(format!("F{i}: lazyfree (!PG_swapbacked) but in the swap cache of S{slot}"));
        }
        if f.mapping == Mapping::None && !f.isolated {
            bad.push(format!("F{i}: in the swap cache of S{slot} but not anon"));
        }
        if s.swap.get(slot as usize).and_then(|sl| sl.cache) != Some(i) {
            bad.push(format!("F{i}: folio->swap is S{slot} but that slot does not cache it"));
        }
    }
    for (i, sl) in s.swap.iter().enumerate() {
        if let Some(f) = sl.cache {
            let folio = &s.folios[f as usize];
            let first = if folio.large.is_some() { i as SlotId - sl.pos } else { i as SlotId };
            if folio.freed || folio.swap != Some(first) {
                bad.push(format!("S{i}: caches F{f}, which is freed or not in its swap cache"));
            }
        }
    }
    report(bad)
}

/// I19: a folio reclaim holds between try_to_unmap() and pageout() has
/// `PG_swapbacked == PG_swapcache` (here: both set), the precondition
/// try_to_unmap_one() WARNs on, and is fully unmapped, dirty and off the
/// LRU with the isolation reference counted.
pub fn unmap_precondition(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios().filter(|(_, f)| f.isolated) {
        // The WARN is on the anon path: a shmem folio waits for pageout in
        // the page cache, not yet in the swap cache.
        if f.mapping.is_anon() && f.swapbacked != f.swap.is_some() {
            bad.push(format!("F{i}: isolated by reclaim with PG_swapbacked {} != PG_swapcache", f.swapbacked));
        }
        if !f.dirty {
            bad.push(format!("F{i}: isolated for pageout but clean"));
        }
        let cached = u8::from(f.mapping.file().is_some());
        if f.refcount < 1 + if f.swap.is_some() { f.nr_pages() } else { 0 } + f.mapcount + cached {
            bad.push(format!("F{i}: isolated with refcount {} below isolation + swap cache", f.refcount));
        }
    }
    report(bad)
}

/// try_to_unmap() leaves no PTE mapping a folio it reported unmapped: the
/// folio reclaim holds for pageout has mapcount 0 and no present PTE maps
/// it.
pub fn unmapped_after_try_to_unmap(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios().filter(|(_, f)| f.isolated) {
        if f.mapcount > 0 {
            bad.push(format!("F{i}: reclaim holds it for pageout but its mapcount is {}", f.mapcount));
        }
        for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
            for (page, pte) in mm.ptes.iter().enumerate() {
                if matches!(*pte, Pte::Present { folio, .. } if folio == i) {
                    bad.push(format!("P{pid} page {page} still maps F{i}, which try_to_unmap() reported unmapped"));
                }
            }
        }
    }
    report(bad)
}

/// I20: a lazyfree folio is clean (PG_dirty clear): MADV_FREE cleared it,
/// and whatever sets it again (a dirty PTE found by try_to_unmap_one(),
/// add_to_swap(), folio_free_swap()) makes or finds the folio swap-backed,
/// so reclaim discards only what nobody wrote after MADV_FREE. A write
/// through a still-writable PTE dirties only the PTE, which reclaim checks
/// before it discards. The one exception is a folio split from a lazyfree
/// large folio with a dirty PTE: unmap_folio() marks it PG_dirty and the
/// split copies PG_dirty without PG_swapbacked (harmless: reclaim finds it
/// dirty and keeps it).
pub fn lazyfree_clean(s: &State, _: Kernel) -> Result<(), String> {
    let bad = s
        .live_folios()
        .filter(|(_, f)| f.lazyfree() && f.dirty && !f.split_dirty)
        .map(|(i, _)| format!("F{i}: lazyfree but PG_dirty"));
    report(bad.collect())
}

/// I21: no swapped-out data is lost: every slot a swap PTE (or a shmem
/// page-cache entry) names holds its data in a swap-cache folio or in
/// what pageout() wrote; a folio freed by reclaim was written first.
pub fn no_lost_swap_data(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (file, f) in s.files.iter().enumerate().filter(|(_, f)| !f.freed) {
        for (index, e) in f.cache.iter().enumerate() {
            let CacheEntry::Swap(slot) = *e else { continue };
            let Some(sl) = s.swap.get(slot as usize) else { continue };
            if sl.cache.is_none() && sl.data.is_none() {
                bad.push(format!(
                    "file {file} offset {index}: S{slot} has neither a swap-cache folio nor written data"
                ));
            }
        }
    }
    for (pid, page, slot, _) in swap_ptes(s) {
        let Some(sl) = s.swap.get(slot as usize) else { continue };
        if sl.cache.is_none() && sl.data.is_none() {
            bad.push(format!("P{pid} page {page}: S{slot} has neither a swap-cache folio nor written data"));
        }
        if let Some(f) = sl.cache.filter(|&f| s.folios[f as usize].freed) {
            bad.push(format!("P{pid} page {page}: S{slot} caches F{f}, which was freed"));
        }
    }
    report(bad)
}
