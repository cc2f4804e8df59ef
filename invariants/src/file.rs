//! Invariants of files, shmem and their page cache beside anon memory
//! (I39–I43): what `folio->mapping` and PG_swapbacked may be, how the
//! file rmap finds a page-cache folio, and that no write to a file is lost.

use crate::report;
use rmapcheck_model::{CacheEntry, FileKind, Kernel, Pte, State};

/// I39, the table of PageAnon and PageSwapBacked: every live folio is a
/// private anon folio (both), a shmem folio (!PageAnon, PageSwapBacked,
/// in a shmem page cache), a lazyfree folio (PageAnon, !PageSwapBacked)
/// or a regular file's page cache (neither, in a regular file's page
/// cache); no other combination exists.
pub fn page_anon_swapbacked(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        let kind = f.mapping.file().and_then(|x| s.files.get(x as usize)).map(|x| x.kind);
        let ok = match (f.mapping.is_anon(), f.swapbacked) {
            (true, _) => true, // anon, or lazyfree after MADV_FREE
            (false, true) => kind == Some(FileKind::Shmem),
            (false, false) => kind == Some(FileKind::Regular),
        };
        if !ok {
            let what = match kind {
                Some(FileKind::Shmem) => "a shmem folio",
                Some(FileKind::Regular) => "a regular file's folio",
                None => "not in any page cache",
            };
            bad.push(format!(
                "F{i}: PageAnon {} PageSwapBacked {} but {what}: no such kind of page",
                u8::from(f.mapping.is_anon()),
                u8::from(f.swapbacked)
            ));
        }
    }
    report(bad)
}

/// I40, mapping-tag correctness for files: a page-cache folio's `mapping`
/// is its own file's address_space and its `index` the offset at which
/// that page cache holds it, below `i_size`; a mapped folio that is not
/// anon is such a folio (a truncated folio has no mapping and must be
/// unmapped); an anon folio in a file VMA (a private COW copy) points at
/// an anon_vma on that VMA's chain.
pub fn file_mapping(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        let Some(x) = f.mapping.file() else { continue };
        let Some(file) = s.files.get(x as usize).filter(|file| !file.freed) else {
            bad.push(format!("F{i}: mapping is file {x}, which is freed"));
            continue;
        };
        if file.folio_at(f.index) != Some(i) {
            bad.push(format!("F{i}: mapping says file {x} offset {}, but that page cache does not hold it", f.index));
        } else if f.index >= file.size {
            bad.push(format!("F{i}: cached at offset {} of file {x}, beyond i_size {}", f.index, file.size));
        }
    }
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for (page, pte) in mm.ptes.iter().enumerate() {
            let Pte::Present { folio, .. } = *pte else { continue };
            let f = &s.folios[folio as usize];
            if f.mapping.is_anon() {
                let Some(v) = mm.vma_index(page as u8).map(|vi| &mm.vmas[vi]).filter(|v| v.file.is_some()) else {
                    continue;
                };
                if let Some(av) = f.mapping.anon_vma().filter(|av| !v.chain.contains(av)) {
                    bad.push(format!(
                        "P{pid} page {page}: anon F{folio} in a file VMA points at AV{av}, not on its chain"
                    ));
                }
            } else if f.mapping.file().is_none() {
                bad.push(format!("P{pid} page {page} maps F{folio}, which has no mapping (truncated but mapped)"));
            }
        }
    }
    report(bad)
}

/// I41, rmap completeness for files: every present PTE mapping a
/// page-cache folio is found by rmap_walk_file(): its VMA maps the folio's
/// file (so it is in that i_mmap tree) and vma_address() of the folio's
/// index is this page.
pub fn file_rmap_complete(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for (page, pte) in mm.ptes.iter().enumerate() {
            let Pte::Present { folio, .. } = *pte else { continue };
            let f = &s.folios[folio as usize];
            let Some(x) = f.mapping.file() else { continue };
            let Some(v) = mm.vma_index(page as u8).map(|vi| &mm.vmas[vi]) else { continue };
            if v.file != Some(x) {
                bad.push(format!("P{pid} page {page}: F{folio} of file {x} in a VMA not in that file's i_mmap"));
            } else if v.linear_page_index(page as u8) != f.index {
                bad.push(format!(
                    "P{pid} page {page}: F{folio} has index {} but the VMA maps file offset {} here: rmap_walk_file() misses it",
                    f.index,
                    v.linear_page_index(page as u8)
                ));
            }
        }
    }
    report(bad)
}

/// I42: a shared mapping (VM_SHARED) never has an anon_vma, never maps an
/// anon folio and never holds a swap entry: every store reaches the page
/// cache, and nothing is copied on write.
pub fn shared_maps_no_anon(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for v in mm.vmas.iter().filter(|v| v.shared) {
            if v.anon_vma.is_some() || !v.chain.is_empty() {
                bad.push(format!("P{pid} VMA {}..{}: shared but has an anon_vma", v.start, v.end));
            }
            for page in v.start..v.end {
                match mm.ptes[page as usize] {
                    Pte::Present { folio, .. } if s.folios[folio as usize].mapping.is_anon() => {
                        bad.push(format!("P{pid} page {page}: a shared mapping maps anon F{folio}"))
                    }
                    Pte::Swap { slot, .. } => {
                        bad.push(format!("P{pid} page {page}: a shared mapping holds swap entry S{slot}"))
                    }
                    _ => {}
                }
            }
        }
    }
    report(bad)
}

/// I43: no write to a file is lost: at every offset below `i_size` the
/// file holds (in its page-cache folio, in the swap slot shmem left
/// there, or on disk) what sequential semantics says was last stored
/// there through a shared mapping, or zero.
pub fn file_content(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (x, f) in s.files.iter().enumerate().filter(|(_, f)| !f.freed) {
        for index in 0..f.size {
            let (have, want) = (s.file_data(x as u8, index), f.content[index as usize]);
            if have != want {
                let place = match f.cache[index as usize] {
                    CacheEntry::Folio(folio) => format!("F{folio}"),
                    CacheEntry::Swap(slot) => format!("S{slot}"),
                    CacheEntry::Hole if f.kind == FileKind::Shmem => "a hole".to_string(),
                    CacheEntry::Hole => "disk".to_string(),
                };
                bad.push(format!("file {x} offset {index} holds {have} ({place}), but {want} was written there"));
            }
        }
    }
    report(bad)
}
