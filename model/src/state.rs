//! The model state: plain data with small integer ids.
//!
//! Every kernel object is a row in a vector and every pointer is an index
//! into one of them. Nothing here allocates ids on its own: the operations in
//! [`crate::rmap`], [`crate::memory`] and [`crate::mmap`] push rows, and
//! [`crate::canon`] renumbers them after every action so that two states that
//! differ only in ids are one state.

use crate::address_space::{CacheEntry, File, FileId};
use crate::inline::Inline;
use serde::{Deserialize, Serialize};

/// Index of an `anon_vma` in [`State::anon_vmas`].
pub type AvId = u8;
/// Index of a folio in [`State::folios`].
pub type FolioId = u8;
/// A process (mm) number, `P0`, `P1`, ...; index in [`State::mms`].
pub type Pid = u8;
/// A virtual page number inside the modelled address window.
pub type Page = u8;
/// A small data value. `0` is what a zero-filled page reads as.
pub type Value = u8;
/// Index of a swap slot in [`State::swap`] (the offset on the one modelled
/// swap device).
pub type SlotId = u8;
/// Index of a KSM stable node in [`State::stable_nodes`].
pub type NodeId = u8;

/// Ghost marker: `Some(v | GHOST_OR_ZERO)` means the page may read `v` or
/// zero (MADV_FREE promised the kernel it may drop `v`); a later write
/// stores a plain value again.
pub const GHOST_OR_ZERO: Value = 0x80;
/// Ghost marker: the page reads the contents of the file it maps (at its
/// `linear_page_index()`), whatever they are when it is read: a shared
/// mapping always, a private file mapping until the process's own first
/// store (or again after MADV_DONTNEED dropped its copy).
pub const GHOST_FILE: Value = 0x40;
/// What [`State::reads`] returns for a swap PTE whose slot holds no data
/// and no swap-cache folio: the write was lost, and no sequential value
/// equals it.
pub const LOST: Value = 0xff;

/// Whether a load returning `read` is what the ghost value `ghost` allows.
pub fn ghost_allows(ghost: Value, read: Value) -> bool {
    if ghost & GHOST_OR_ZERO != 0 {
        read == ghost & !GHOST_OR_ZERO || read == 0
    } else {
        read == ghost
    }
}

/// Most pages in the address window ([`crate::Config::validate`]), hence
/// also most VMAs per mm.
pub const MAX_PAGES: usize = 8;
/// Most anon_vmas on one chain: one per generation of a fork lineage, and
/// a lineage has at most as many processes as the process bound (8).
pub const MAX_CHAIN: usize = 8;

/// Per-page arrays and VMA lists live inline in the state and are `Copy`
/// ([`Inline`]): a whole [`Mm`] is plain bytes, so cloning a state copies
/// its processes with one `memcpy`.
pub type PerPage<T> = Inline<T, MAX_PAGES>;

/// The whole system: every mm, every anon_vma and every folio.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct State {
    /// Processes in creation order (`P0` is the first); an exited process
    /// keeps its slot so that names stay stable, as pids do.
    pub mms: Vec<Mm>,
    /// `struct anon_vma` objects, live or freed. A freed one stays while
    /// anything still points at it, so that a use after free is a state the
    /// invariants can report rather than a crash of the checker.
    pub anon_vmas: Vec<AnonVma>,
    /// Anonymous folios: order 0, or large ones (mTHP, see [`Large`]).
    pub folios: Vec<Folio>,
    /// Slots of the one modelled swap device (zram: `SWP_SYNCHRONOUS_IO`).
    /// A slot is free when no swap PTE names it and no folio caches it.
    pub swap: Vec<SwapSlot>,
    /// KSM stable nodes (`struct ksm_stable_node`), each with the
    /// rmap_items that map its page. Empty unless KSM actions run.
    pub stable_nodes: Vec<StableNode>,
    /// Files and shmem objects with their page caches (see
    /// [`crate::address_space`]). Empty unless file actions run.
    #[serde(default)]
    pub files: Vec<File>,
    /// A kernel assertion (`VM_BUG_ON`, `VM_WARN_ON`) that fired, or a use
    /// of freed memory, during the last action. Nothing runs after it.
    pub oops: Option<Oops>,
    /// Whether hashing folds process symmetry (see [`crate::canon`]). Fixed
    /// for a whole run; it is configuration carried here because stateright
    /// hashes states without access to the model.
    #[serde(skip)]
    pub symmetry: bool,
}

/// `struct mm_struct` of one process, with its page table and the ghost
/// memory-semantics oracle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Mm {
    /// False once the process has exited (exit_mmap ran).
    pub alive: bool,
    /// The VMA tree, sorted by `start`, never overlapping.
    pub vmas: PerPage<Vma>,
    /// One PTE per page of the address window.
    pub ptes: PerPage<Pte>,
    /// Ghost state, not kernel state: the value this process must read at
    /// each page under sequential semantics, `None` where nothing is mapped.
    /// `fork` copies it, a write sets it, `munmap` forgets it.
    pub ghost: PerPage<Option<Value>>,
    /// The longterm GUP pins this process holds (FOLL_PIN|FOLL_LONGTERM,
    /// through an io_uring fixed buffer), sorted by address, at most one
    /// per page (see [`crate::gup`]). Empty unless the pin actions run.
    #[serde(default, skip_serializing_if = "omit")]
    pub pins: PerPage<Pin>,
    /// `MMF_HAS_PINNED`: set by the first pin (mm_set_has_pinned_flag()),
    /// never cleared, not inherited by fork; folio_needs_cow_for_dma()
    /// looks at it before folio_maybe_dma_pinned().
    #[serde(default, skip_serializing_if = "omit")]
    pub has_pinned: bool,
    /// MMF_VM_MERGE_ANY: prctl(PR_SET_MEMORY_MERGE, 1) made every
    /// KSM-compatible VMA of the mm VM_MERGEABLE, present and future
    /// (see [`crate::ksm_prctl`]); fork keeps it for the child.
    #[serde(default, skip_serializing_if = "omit")]
    pub merge_any: bool,
    /// Bit `p`: the zero-page PTE at page `p` is a KSM zero page (the
    /// kernel's dirty special zero-page PTE, is_ksm_zero_pte()); only
    /// meaningful while that PTE is [`Pte::Zero`]. See [`crate::ksm_zero`].
    #[serde(default, skip_serializing_if = "omit")]
    pub ksm_zero: u8,
    /// `mm->ksm_zero_pages`: what the kernel counted, which I48 compares
    /// with the KSM zero pages the page table holds.
    #[serde(default, skip_serializing_if = "omit")]
    pub ksm_zero_pages: u8,
}

/// One longterm pin held by a process: pin_user_pages(FOLL_LONGTERM) took
/// it on the page the process mapped at `page`, unpin_user_page() drops it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Pin {
    /// The user address pinned (the registered buffer's page, which
    /// `unpin` names; it stays the same when mremap moves the page).
    pub page: Page,
    /// Ghost: where the pinned mapping is now: `page`, or where mremap()
    /// moved the page since (move_ptes() moves the pinned page with its
    /// PTE). Meaningful while `attached`.
    pub at: Page,
    /// The pinned folio.
    pub folio: FolioId,
    /// The pinned page of it (folio_page_idx()).
    pub sub: u8,
    /// `FOLL_WRITE`: an R/W pin (io_uring fixed buffers are always R/W).
    pub write: bool,
    /// Ghost: the pinner's mapping at `page` is still the one pinned (no
    /// munmap, MADV_DONTNEED or exit since; mremap moves it to `at`).
    /// While it is, the pinner's PTE at `at` must map the pinned page (I44).
    pub attached: bool,
    /// Ghost: what the pin must read (I45): the page's contents when it was
    /// pinned, then each store the pinner made through the attached
    /// mapping; frozen once the mapping is gone.
    pub ghost: Value,
}

/// `struct vm_area_struct` of a private anonymous mapping.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Vma {
    /// First page (`vm_start >> PAGE_SHIFT`).
    pub start: Page,
    /// One past the last page (`vm_end >> PAGE_SHIFT`).
    pub end: Page,
    /// `vm_pgoff`: `do_mmap` sets it to `addr >> PAGE_SHIFT` for private
    /// anonymous mappings; `__split_vma` advances the upper half's.
    pub pgoff: u8,
    /// `VM_WRITE` (every modelled mapping has `VM_READ`).
    pub write: bool,
    /// `VM_MERGEABLE`: madvise(MADV_MERGEABLE) registered the range with
    /// KSM. Part of `vm_flags`, so VMAs that differ in it do not merge.
    #[serde(default)]
    pub mergeable: bool,
    /// `VM_ACCOUNT`: charged against overcommit. mmap sets it for a private
    /// writable mapping, mprotect adds it when a VMA first becomes writable
    /// and never removes it, so "ever writable". VMAs whose flags differ in
    /// it do not merge (is_mergeable_vma()).
    pub account: bool,
    /// `vma->anon_vma`: where new private pages of this VMA go. `None` until
    /// the first write fault ("unfaulted").
    pub anon_vma: Option<AvId>,
    /// `vma->anon_vma_chain`, in kernel list order: `anon_vma_chain_link`
    /// uses `list_add`, so the newest link is first and the root is last.
    /// Each entry is one `anon_vma_chain` (AVC); the interval trees are
    /// derived from these lists (see [`State::tree_len`]).
    pub chain: Inline<AvId, MAX_CHAIN>,
    /// `vma->vm_file`: the file or shmem object mapped; `None` for private
    /// anonymous memory. `vm_pgoff` is then an offset in that file.
    #[serde(default)]
    pub file: Option<FileId>,
    /// `VM_SHARED`: stores reach the file; never COW, never an anon_vma.
    #[serde(default)]
    pub shared: bool,
}

impl Vma {
    /// Number of pages (`vma_pages()`).
    pub fn pages(&self) -> u8 {
        self.end - self.start
    }
    /// Whether `page` lies inside the VMA.
    pub fn contains(&self, page: Page) -> bool {
        self.start <= page && page < self.end
    }
    /// `linear_page_index(vma, addr)`: the folio index a page at `page`
    /// must carry for rmap to find it here.
    pub fn linear_page_index(&self, page: Page) -> u8 {
        page - self.start + self.pgoff
    }
    /// `vma_is_anonymous()`: no `vm_ops`, i.e. private anonymous memory.
    /// A shared anonymous mapping has shmem's `vm_ops`.
    pub fn is_anonymous(&self) -> bool {
        self.file.is_none()
    }
}

/// `struct anon_vma`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct AnonVma {
    /// `->root`: the oldest anon_vma of this fork tree (itself for a root).
    pub root: AvId,
    /// `->parent`: the anon_vma this one was forked from (itself for a root).
    /// Not ref-pinned: only the root is.
    pub parent: AvId,
    /// `->refcount`.
    pub refcount: u8,
    /// `->num_children` (v6.0+): anon_vmas whose parent is this one and whose
    /// tree is non-empty, counting itself for a root.
    pub num_children: u8,
    /// `->num_active_vmas` (v6.0+): VMAs whose `->anon_vma` is this one.
    pub num_active_vmas: u8,
    /// `->degree` (v3.19–v5.19 only): child anon_vmas plus VMAs, in one count.
    pub degree: u8,
    /// `anon_vma_free()` has returned the object to the slab.
    pub freed: bool,
}

/// `folio->mapping` of an anonymous folio with its low tag bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Mapping {
    /// No mapping (never happens for a mapped anon folio).
    None,
    /// `anon_vma | PAGE_MAPPING_ANON` (0x1).
    Anon(AvId),
    /// `stable_node | PAGE_MAPPING_KSM` (0x3): a KSM page, see
    /// [`State::stable_nodes`].
    Ksm(NodeId),
    /// `&inode->i_mapping`, tag bits 0: a page-cache folio of a file or
    /// shmem object (see [`State::files`]).
    File(FileId),
}

impl Mapping {
    /// `PAGE_MAPPING_ANON`.
    pub const ANON: u8 = 0x1;
    /// `PAGE_MAPPING_KSM` (`ANON | ANON_KSM`).
    pub const KSM: u8 = 0x3;
    /// The low bits `folio->mapping & PAGE_MAPPING_FLAGS`.
    pub fn tag_bits(self) -> u8 {
        match self {
            Mapping::None | Mapping::File(_) => 0,
            Mapping::Anon(_) => Self::ANON,
            Mapping::Ksm(_) => Self::KSM,
        }
    }
    /// `folio_stable_node()`: the stable node of a KSM folio.
    pub fn stable_node(self) -> Option<NodeId> {
        match self {
            Mapping::Ksm(n) => Some(n),
            _ => None,
        }
    }
    /// `folio_test_anon()`: bit 0 of the tag (anon and KSM folios).
    pub fn is_anon(self) -> bool {
        self.tag_bits() & Self::ANON != 0
    }
    /// `folio_mapping()` of a page-cache folio: its file.
    pub fn file(self) -> Option<FileId> {
        match self {
            Mapping::File(f) => Some(f),
            _ => None,
        }
    }
    /// `folio_anon_vma()`: the anon_vma only when the tag is exactly ANON.
    pub fn anon_vma(self) -> Option<AvId> {
        match self {
            Mapping::Anon(av) => Some(av),
            _ => None,
        }
    }
}

/// An order-0 anonymous folio.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Folio {
    /// `folio->mapping`; not cleared on unmap, only when the folio is freed.
    pub mapping: Mapping,
    /// `folio->index` = `linear_page_index()` at first map.
    pub index: u8,
    /// Number of PTEs mapping it (`_mapcount + 1`).
    pub mapcount: u8,
    /// `_refcount`: one per PTE, the swap cache's, reclaim's isolation,
    /// and one per longterm pin (see [`Folio::pincount`]).
    pub refcount: u8,
    /// `PG_swapbacked`.
    pub swapbacked: bool,
    /// `PG_anon_exclusive`.
    pub anon_exclusive: bool,
    /// `PG_dirty`.
    pub dirty: bool,
    /// The page's contents.
    pub data: Value,
    /// Returned to the page allocator (kept only in stable-id mode, for
    /// readable traces).
    pub freed: bool,
    /// `PG_swapcache` with `folio->swap`: the swap slot whose swap cache
    /// holds this folio (one reference).
    pub swap: Option<SlotId>,
    /// Isolated from the LRU by reclaim and locked (`PG_locked`, one
    /// reference): try_to_unmap() is done and pageout() has not run yet.
    pub isolated: bool,
    /// `PG_readahead`, which is `PG_reclaim`'s bit: a page-cache folio
    /// reclaim kept dirty (folio_set_reclaim()) or the first page of an
    /// async readahead window. fault-around skips it, and a fault on it
    /// starts async readahead (see [`crate::filemap`]).
    #[serde(default)]
    pub readahead: bool,
    /// What a large folio (order 1 or 2, see [`Large`]) keeps beyond an
    /// order-0 folio; `None` for order 0. For a large folio `mapcount` is
    /// folio_mapcount() (`_large_mapcount + 1`), and `data` and
    /// `anon_exclusive` are unused (0 and false): per-page state lives in
    /// [`Large::pages`]. Use [`Folio::page_data`] and friends.
    #[serde(default, skip_serializing_if = "omit")]
    pub large: Option<Box<Large>>,
    /// Ghost, not kernel state: made by splitting a lazyfree large folio
    /// that a dirty PTE had marked PG_dirty (try_to_migrate_one() in
    /// unmap_folio() sets PG_dirty, __folio_split() copies it without
    /// PG_swapbacked), so it is lazyfree and PG_dirty, which nothing else
    /// makes (I20).
    #[serde(default, skip_serializing_if = "omit")]
    pub split_dirty: bool,
    /// FOLL_PIN pins on the folio. The kernel keeps them in `_pincount`
    /// for a large folio (plus one `_refcount` each) and as
    /// GUP_PIN_COUNTING_BIAS (1024) added to `_refcount` for an order-0
    /// one; the model counts one reference per pin in [`Folio::refcount`]
    /// for both (so every "unexpected references" test of reclaim, COW
    /// reuse and KSM sees the pin, as the bias makes the kernel's see it)
    /// and the pins here: folio_maybe_dma_pinned() is `pincount > 0`.
    #[serde(default, skip_serializing_if = "omit")]
    pub pincount: u8,
}

/// The most pages a modelled large folio has (order 2, 16 kB).
pub const MAX_FOLIO_PAGES: usize = 4;

/// A large anonymous folio (mTHP mapped by PTEs) as v6.18 keeps it with
/// CONFIG_PAGE_MAPCOUNT and CONFIG_MM_ID (the live kernel's
/// configuration): per-page `_mapcount` and PG_anon_exclusive, the folio's
/// `_large_mapcount` (kept in [`Folio::mapcount`]), `_nr_pages_mapped`,
/// PG_partially_mapped with membership of the deferred split queue, and
/// the two MM-id slots behind folio_maybe_mapped_shared().
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Large {
    /// folio_order(): 1 or 2.
    pub order: u8,
    /// `folio_page(folio, i)` for each page.
    pub pages: Inline<SubPage, MAX_FOLIO_PAGES>,
    /// `_nr_pages_mapped` (no ENTIRELY_MAPPED: nothing maps it by PMD): the
    /// pages whose `_mapcount` is not -1.
    pub nr_pages_mapped: u8,
    /// PG_partially_mapped, and the folio on the deferred split queue
    /// (`_deferred_list`): deferred_split_folio() sets both together and a
    /// split or the free clears both.
    pub deferred: bool,
    /// `_mm_id[2]`: the processes owning the two MM-id slots (`None` is
    /// MM_ID_DUMMY).
    pub mm_id: [Option<Pid>; 2],
    /// `_mm_id_mapcount[2]` + 1 (so 0 is the kernel's -1 of a free slot).
    pub mm_id_mapcount: [u8; 2],
    /// FOLIO_MM_IDS_SHARED_BIT of `_mm_ids`: folio_maybe_mapped_shared().
    pub maybe_shared: bool,
}

/// The per-page state of one page of a large folio.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub struct SubPage {
    /// `page->_mapcount + 1`: PTEs mapping this page.
    pub mapcount: u8,
    /// PG_anon_exclusive of this page.
    pub anon_exclusive: bool,
    /// The page's contents.
    pub data: Value,
}

impl Folio {
    /// A new order-0, swap-backed folio with the allocation's reference
    /// (`mapcount` 0 for one not mapped yet, 1 for one mapped at once).
    pub fn small(mapping: Mapping, index: u8, mapcount: u8, data: Value, exclusive: bool) -> Folio {
        Folio {
            mapping,
            index,
            mapcount,
            refcount: 1,
            swapbacked: true,
            anon_exclusive: exclusive,
            dirty: false,
            data,
            freed: false,
            swap: None,
            isolated: false,
            readahead: false,
            large: None,
            split_dirty: false,
            pincount: 0,
        }
    }

    /// folio_maybe_dma_pinned(): `_pincount` of a large folio, the
    /// GUP_PIN_COUNTING_BIAS in `_refcount` of a small one.
    pub fn maybe_dma_pinned(&self) -> bool {
        self.pincount > 0
    }

    /// `folio_test_lazyfree()`: anon and not `PG_swapbacked` (MADV_FREE).
    pub fn lazyfree(&self) -> bool {
        !self.swapbacked && self.mapping.is_anon()
    }
    /// folio_order().
    pub fn order(&self) -> u8 {
        self.large.as_ref().map_or(0, |l| l.order)
    }
    /// folio_nr_pages().
    pub fn nr_pages(&self) -> u8 {
        1 << self.order()
    }
    /// The contents of page `sub` of the folio.
    pub fn page_data(&self, sub: u8) -> Value {
        match &self.large {
            Some(l) => l.pages[sub as usize].data,
            None => self.data,
        }
    }
    /// Stores into page `sub`.
    pub fn set_page_data(&mut self, sub: u8, v: Value) {
        match &mut self.large {
            Some(l) => l.pages[sub as usize].data = v,
            None => self.data = v,
        }
    }
    /// PageAnonExclusive(folio_page(folio, sub)).
    pub fn page_exclusive(&self, sub: u8) -> bool {
        match &self.large {
            Some(l) => l.pages[sub as usize].anon_exclusive,
            None => self.anon_exclusive,
        }
    }
    /// SetPageAnonExclusive() / ClearPageAnonExclusive() on page `sub`.
    pub fn set_page_exclusive(&mut self, sub: u8, b: bool) {
        match &mut self.large {
            Some(l) => l.pages[sub as usize].anon_exclusive = b,
            None => self.anon_exclusive = b,
        }
    }
    /// Whether any page of the folio is PageAnonExclusive.
    pub fn any_exclusive(&self) -> bool {
        match &self.large {
            Some(l) => l.pages.iter().any(|p| p.anon_exclusive),
            None => self.anon_exclusive,
        }
    }
    /// The PTEs mapping page `sub` (`_mapcount + 1`; the folio's for order 0).
    pub fn page_mapcount(&self, sub: u8) -> u8 {
        match &self.large {
            Some(l) => l.pages[sub as usize].mapcount,
            None => self.mapcount,
        }
    }
    /// folio_maybe_mapped_shared(): mapped more than once for a small
    /// folio; for a large one, a single mapping is exclusive, else the
    /// MM-id shared bit decides (CONFIG_MM_ID).
    pub fn maybe_mapped_shared(&self) -> bool {
        match &self.large {
            None => self.mapcount > 1,
            Some(_) if self.mapcount <= 1 => false,
            Some(l) => l.maybe_shared,
        }
    }
}

/// One swap slot: `si->swap_map[offset]` and the swap cache entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct SwapSlot {
    /// Swap PTEs naming the slot (`swap_count()`, without `SWAP_HAS_CACHE`).
    pub count: u8,
    /// The swap-cache folio (`SWAP_HAS_CACHE`), if any.
    pub cache: Option<FolioId>,
    /// What pageout() wrote to the slot; `None` until the first write.
    pub data: Option<Value>,
    /// Slots folio_alloc_swap() took together for one folio: 1, or the
    /// folio's pages for a large folio (THP_SWAP: an aligned run of
    /// contiguous offsets in one cluster). The run's slots have
    /// consecutive ids, `pos` 0, 1, ...; renumbering keeps them so.
    #[serde(default = "one", skip_serializing_if = "omit_one")]
    pub run: u8,
    /// This slot's place in its run: its offset modulo `run`.
    #[serde(default, skip_serializing_if = "omit")]
    pub pos: u8,
}

fn one() -> u8 {
    1
}

std::thread_local! {
    /// Set while [`with_every_field`] runs on this thread.
    static EVERY_FIELD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every field of the state serialized, defaults included.
/// Self-describing formats (JSON pictures, ITF traces) leave out the
/// large-folio fields while they hold their order-0 defaults, so order-0
/// output stays as it was; a format that is not self-describing (postcard,
/// the checker's BFS frontier) must have every field, or the fields after
/// a left-out one would be read in its place.
pub fn with_every_field<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EVERY_FIELD.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(EVERY_FIELD.with(|c| c.replace(true)));
    f()
}

/// A field left out of self-describing output while it holds its default.
fn omit<T: Default + PartialEq>(v: &T) -> bool {
    !EVERY_FIELD.with(std::cell::Cell::get) && *v == T::default()
}
fn omit_one(v: &u8) -> bool {
    !EVERY_FIELD.with(std::cell::Cell::get) && *v == 1
}

impl SwapSlot {
    /// Free: no swap PTE and no swap-cache folio hold it.
    pub fn free(&self) -> bool {
        self.count == 0 && self.cache.is_none()
    }
}

/// `struct ksm_stable_node`: one KSM page in the stable tree.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct StableNode {
    /// `kpfn`: the KSM folio. The node holds no reference on it (ksm.c's
    /// "keyhole reference": ksm_get_folio() checks that the page's
    /// `mapping` still points back here); the model writes `None` when
    /// the folio is freed, which is what the keyhole would then see. A
    /// node with `None` is stale until ksmd notices.
    pub kpfn: Option<FolioId>,
    /// `hlist` of stable rmap_items, kept sorted by (mm, address): the
    /// order of the kernel's hlist changes nothing a walk finds.
    pub items: Vec<RmapItem>,
    /// free_stable_node() ran (kept only in stable-id mode).
    pub freed: bool,
}

/// A stable `struct ksm_rmap_item`: one scanned virtual page merged into a
/// stable node. Unstable-tree rmap_items hold no reference and are not
/// modelled (the merge step names both pages directly).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct RmapItem {
    /// `rmap_item->mm`: the process (it may have exited since).
    pub mm: Pid,
    /// `rmap_item->address >> PAGE_SHIFT`.
    pub address: Page,
    /// `rmap_item->anon_vma`: `vma->anon_vma` at merge time, pinned with
    /// get_anon_vma() until remove_rmap_item_from_tree() puts it.
    pub anon_vma: AvId,
    /// Ghost (the kernel keeps no such bit): the VMA this rmap_item was
    /// made for has since been unmapped at `address` (munmap, or mremap's
    /// unmap of its source or destination). munmap and mremap leave
    /// rmap_items to ksmd's next pass, so another VMA with another anon_vma
    /// can come to map a KSM page at the same address (mremap moves a KSM
    /// page out of a VMA without VM_MERGEABLE unbroken): I34 is not about
    /// such an rmap_item. See [`crate::ksm::rmap_items_unmapped`].
    pub unmapped: bool,
}

/// A page-table entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub enum Pte {
    /// `pte_none()`.
    #[default]
    None,
    /// The shared zero page, read-only, no rmap, no refcount.
    Zero,
    /// A present PTE mapping a folio.
    Present {
        /// The folio it maps.
        folio: FolioId,
        /// Which page of the folio (folio_page_idx()); 0 for order 0.
        sub: u8,
        /// `pte_write()`.
        writable: bool,
        /// `pte_dirty()`: set by every store; fork keeps it in both copies
        /// (private mappings are not cleaned).
        dirty: bool,
    },
    /// A swap entry: `swp_entry(type, offset)` with its software bits.
    Swap {
        /// The slot it names.
        slot: SlotId,
        /// `pte_swp_exclusive()`: the page was PageAnonExclusive when
        /// try_to_unmap_one() replaced the PTE.
        exclusive: bool,
    },
}

/// What went wrong inside the kernel during an action.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Oops {
    /// The kind of failure.
    pub kind: OopsKind,
    /// Kernel-vocabulary description, e.g. the assertion text and its function.
    pub what: String,
}

/// Kinds of kernel failure the model detects while executing an action.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum OopsKind {
    /// A field of an object that was already freed was read or written.
    UseAfterFree,
    /// A `BUG_ON`/`VM_BUG_ON` fired.
    Bug,
    /// A `WARN_ON`/`VM_WARN_ON` fired.
    Warn,
    /// Not a kernel assertion but a model-level ordering check (I24): a
    /// VMA left the anon_vma trees while a PTE in its range, not covered by
    /// another VMA, still mapped a page. An rmap walk in between would miss
    /// that PTE.
    UnlinkBeforeZap,
    /// Not a kernel assertion but a model-level check (I27): a merge gave a
    /// faulted range to a VMA whose anon_vma or chain differs from the
    /// range's own, so rmap can no longer find its pages.
    MergeIncompatible,
}

impl State {
    /// The initial state: one process `P0` with an empty address space.
    pub fn new(pages: u8, symmetry: bool) -> Self {
        State {
            mms: vec![Mm::new(pages)],
            anon_vmas: Vec::new(),
            folios: Vec::new(),
            swap: Vec::new(),
            stable_nodes: Vec::new(),
            files: Vec::new(),
            oops: None,
            symmetry,
        }
    }

    /// The initial state of a configuration: [`State::new`] plus the named
    /// files `cfg.files` asks for, each `cfg.pages` pages long, sparse
    /// (all zeroes) and with nothing cached, as the executor creates them.
    pub fn initial(cfg: &crate::Config) -> Self {
        let mut s = State::new(cfg.pages, cfg.symmetry);
        for (_, kind, _) in crate::address_space::NAMED_FILES.iter().take(cfg.files as usize) {
            s.files.push(File::new(*kind, false, cfg.pages, cfg.pages));
        }
        s
    }

    /// Number of pages in the address window.
    pub fn pages(&self) -> u8 {
        self.mms[0].ptes.len() as u8
    }

    /// All VMAs of all live processes, with their pid.
    pub fn all_vmas(&self) -> impl Iterator<Item = (Pid, &Vma)> {
        self.mms
            .iter()
            .enumerate()
            .filter(|(_, mm)| mm.alive)
            .flat_map(|(pid, mm)| mm.vmas.iter().map(move |v| (pid as Pid, v)))
    }

    /// Number of AVCs in `av`'s interval tree (`anon_vma->rb_root`): the
    /// VMAs, over every mm, whose chain links `av`.
    pub fn tree_len(&self, av: AvId) -> usize {
        self.all_vmas().filter(|(_, v)| v.chain.contains(&av)).count()
    }

    /// Whether `av`'s interval tree is empty (`RB_EMPTY_ROOT(&anon_vma->rb_root.rb_root)`):
    /// [`State::tree_len`] is 0, found without counting.
    pub fn tree_empty(&self, av: AvId) -> bool {
        !self.all_vmas().any(|(_, v)| v.chain.contains(&av))
    }

    /// Whether every process has exited.
    pub fn all_exited(&self) -> bool {
        self.mms.iter().all(|mm| !mm.alive)
    }

    /// What a load by `pid` at `page` returns: the folio's data, or zero for
    /// the zero page and for a `pte_none()` page (the fault maps zeroes).
    /// A swap PTE reads what do_swap_page() would map: the swap-cache
    /// folio's data, else what pageout() wrote to the slot, else [`LOST`].
    pub fn reads(&self, pid: usize, page: Page) -> Value {
        match self.mms[pid].ptes[page as usize] {
            Pte::None => {
                // A fault on a file VMA maps the file's page.
                let mm = &self.mms[pid];
                match mm.vma_index(page).map(|vi| &mm.vmas[vi]) {
                    Some(v) if v.file.is_some() => self.file_data(v.file.unwrap_or(0), v.linear_page_index(page)),
                    _ => 0,
                }
            }
            Pte::Zero => 0,
            Pte::Present { folio, sub, .. } => self.folios[folio as usize].page_data(sub),
            Pte::Swap { slot, .. } => self.slot_data(slot),
        }
    }

    /// What the file holds at `index` now (kernel state, not the ghost): the
    /// page-cache folio, else the swap slot shmem left there, else the disk
    /// block (regular) or zeroes (a shmem hole).
    pub fn file_data(&self, file: FileId, index: u8) -> Value {
        let f = &self.files[file as usize];
        match f.cache.get(index as usize) {
            Some(CacheEntry::Folio(folio)) => self.folios[*folio as usize].data,
            Some(CacheEntry::Swap(slot)) => self.slot_data(*slot),
            Some(CacheEntry::Hole) if !f.shmem() => f.disk[index as usize],
            _ => 0,
        }
    }

    /// What a swap-in of `slot` would read: the swap-cache folio's data,
    /// else the data pageout() wrote, else [`LOST`].
    pub fn slot_data(&self, slot: SlotId) -> Value {
        let sl = &self.swap[slot as usize];
        match (sl.cache, sl.data) {
            (Some(f), _) => {
                let f = &self.folios[f as usize];
                // A large swap-cache folio caches a run: page i holds the
                // slot at run position i (`folio->swap` + i).
                f.page_data(if f.large.is_some() { sl.pos } else { 0 })
            }
            (None, Some(d)) => d,
            (None, None) => LOST,
        }
    }

    /// Live (not freed) folios with their ids.
    pub fn live_folios(&self) -> impl Iterator<Item = (FolioId, &Folio)> {
        self.folios.iter().enumerate().filter(|(_, f)| !f.freed).map(|(i, f)| (i as FolioId, f))
    }
}

impl Mm {
    /// An empty address space of `pages` pages.
    pub fn new(pages: u8) -> Self {
        Mm {
            alive: true,
            vmas: Inline::new(),
            ptes: (0..pages).map(|_| Pte::None).collect(),
            ghost: (0..pages).map(|_| None).collect(),
            pins: Inline::new(),
            has_pinned: false,
            merge_any: false,
            ksm_zero: 0,
            ksm_zero_pages: 0,
        }
    }

    /// The pin this process holds at `page`, if any.
    pub fn pin_at(&self, page: Page) -> Option<&Pin> {
        self.pins.iter().find(|p| p.page == page)
    }

    /// Whether any VMA intersects pages `start..end`.
    pub fn overlaps(&self, start: Page, end: Page) -> bool {
        self.vmas.iter().any(|v| v.start < end && start < v.end)
    }

    /// `find_vma()` restricted to VMAs containing `page`: the index of the
    /// VMA that contains it.
    pub fn vma_index(&self, page: Page) -> Option<usize> {
        self.vmas.iter().position(|v| v.contains(page))
    }
}
