//! Files and their page cache: `struct address_space` as plain data.
//!
//! A file is one row of [`State::files`](crate::State::files). The first
//! rows are the *named* files a configuration asks for ([`NAMED_FILES`]:
//! a regular file on a disk-backed filesystem, a memfd and a tmpfs file,
//! the two last shmem), which the executor creates and keeps open for the
//! whole run, so they live as long as the state does. After them come the
//! shmem objects `shmem_zero_setup()` creates for each
//! `mmap(MAP_SHARED|MAP_ANONYMOUS)`, which die with the last VMA mapping
//! them (`fput()` of the last `vma->vm_file` reference).
//!
//! The page cache (`mapping->i_pages`) is one entry per file offset: a
//! hole, a folio whose `mapping` is this file and whose `index` is the
//! offset, or (shmem only) the swap entry `shmem_writeout()` left in place
//! of a folio it swapped out. The i_mmap interval tree is not stored: like
//! the anon_vma trees it is derived from the VMAs ([`i_mmap`]).

use crate::inline::Inline;
use crate::state::{FolioId, Page, Pid, SlotId, State, Value, Vma, MAX_PAGES};
use serde::{Deserialize, Serialize};

/// Index of a file in [`State::files`](crate::State::files).
pub type FileId = u8;

/// What kind of object backs a file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum FileKind {
    /// A regular file on a disk-backed filesystem (ext4 here): its page
    /// cache folios are not swap-backed, dirty ones are written back to
    /// the disk, clean ones are dropped.
    Regular,
    /// shmem/tmpfs (memfd, a tmpfs file, shared anonymous memory): its
    /// folios are PG_swapbacked and go to swap; the swap entry stays in
    /// the page cache.
    Shmem,
}

/// One entry of `mapping->i_pages`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub enum CacheEntry {
    /// Nothing cached: a regular file reads its disk block, shmem reads zeroes.
    #[default]
    Hole,
    /// A page-cache folio.
    Folio(FolioId),
    /// shmem only: the swap entry `shmem_writeout()` stored in place of the folio.
    Swap(SlotId),
}

/// `struct inode` + `struct address_space` of one file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct File {
    /// Regular or shmem.
    pub kind: FileKind,
    /// A `MAP_SHARED|MAP_ANONYMOUS` object (`shmem_zero_setup()`): no name,
    /// freed with the last VMA that maps it.
    pub anon: bool,
    /// `i_size` in pages.
    pub size: u8,
    /// `mapping->i_pages`, by file offset.
    pub cache: Inline<CacheEntry, MAX_PAGES>,
    /// Regular files: what the disk holds at each offset (0 for a hole).
    pub disk: Inline<Value, MAX_PAGES>,
    /// Ghost state, not kernel state: the file's contents under sequential
    /// semantics (every store through a shared mapping, truncation), the
    /// oracle of `memory_semantics`.
    pub content: Inline<Value, MAX_PAGES>,
    /// The object was freed (`shmem_evict_inode()`); kept only while
    /// something still names it in stable-id mode.
    pub freed: bool,
}

/// The named files, in [`FileId`] order: scenario name, kind, and what the
/// live-kernel executor creates for it.
pub const NAMED_FILES: [(&str, FileKind, &str); 3] = [
    ("reg", FileKind::Regular, "a regular file on a disk-backed filesystem"),
    ("memfd", FileKind::Shmem, "memfd_create()"),
    ("tmpfs", FileKind::Shmem, "a file on a tmpfs mount"),
];

impl File {
    /// A file of `pages` pages, nothing cached, all zeroes.
    pub fn new(kind: FileKind, anon: bool, size: u8, pages: u8) -> File {
        let zero = || (0..pages).map(|_| 0).collect();
        let cache = (0..pages).map(|_| CacheEntry::Hole).collect();
        File { kind, anon, size, cache, disk: zero(), content: zero(), freed: false }
    }

    /// `shmem_mapping()`.
    pub fn shmem(&self) -> bool {
        self.kind == FileKind::Shmem
    }

    /// The folio cached at `index`, if any.
    pub fn folio_at(&self, index: u8) -> Option<FolioId> {
        match self.cache.get(index as usize) {
            Some(CacheEntry::Folio(f)) => Some(*f),
            _ => None,
        }
    }
}

/// The name of file `id` in scenarios and traces: `reg`, `memfd`, `tmpfs`,
/// or `shm3` for a shared anonymous object.
pub fn file_name(s: &State, id: FileId) -> String {
    match NAMED_FILES.get(id as usize) {
        Some((n, _, _)) if !s.files.get(id as usize).is_some_and(|f| f.anon) => n.to_string(),
        _ => format!("shm{id}"),
    }
}

/// Parses a named file (`reg`, `memfd`, `tmpfs`).
pub fn parse_file_name(w: &str) -> Result<FileId, String> {
    NAMED_FILES.iter().position(|(n, _, _)| *n == w).map(|i| i as FileId).ok_or_else(|| {
        let names: Vec<_> = NAMED_FILES.iter().map(|(n, _, _)| *n).collect();
        format!("'{w}' is not a file (known: {})", names.join(", "))
    })
}

/// The i_mmap interval tree of `file`, derived from the VMAs: every VMA of
/// a live process whose `vm_file` is the file, with its pid.
pub fn i_mmap(s: &State, file: FileId) -> impl Iterator<Item = (Pid, &Vma)> {
    s.all_vmas().filter(move |(_, v)| v.file == Some(file))
}

/// `vma_interval_tree_foreach()` over `[index, index]`: the VMAs of the
/// i_mmap tree whose pgoff range holds `index`, each with the address
/// `vma_address()` computes for it.
pub fn i_mmap_at(s: &State, file: FileId, index: u8) -> Vec<(Pid, Page)> {
    i_mmap(s, file)
        .filter(|(_, v)| v.pgoff <= index && index < v.pgoff + v.pages())
        .map(|(pid, v)| (pid, v.start + (index - v.pgoff)))
        .collect()
}
