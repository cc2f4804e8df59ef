//! KSM's counters as `/sys/kernel/mm/ksm` and `/proc/PID/ksm_stat` show
//! them, derived from the state rather than kept in it (mm/ksm.c of
//! linux-mm 019e71aec8a8, after v6.18; docs/kernel/ksm.md §9).
//!
//! * `pages_shared` (`ksm_pages_shared`) and `pages_sharing`
//!   (`ksm_pages_sharing`): stable_tree_append() adds one to
//!   `pages_shared` for the first rmap_item of a stable node's hlist and
//!   one to `pages_sharing` for each further one;
//!   remove_rmap_item_from_tree() and remove_node_from_stable_tree() take
//!   them away the same way. So a stable node with `n > 0` rmap_items
//!   counts 1 shared and `n - 1` sharing, stale or not, until ksmd removes
//!   its rmap_items.
//! * `mm->ksm_merging_pages` goes up and down with the same calls: the
//!   process's rmap_items in the stable tree.
//! * the global `ksm_zero_pages` moves with every `mm->ksm_zero_pages`
//!   change (ksm_map_zero_page(), ksm_might_unmap_zero_page()), and
//!   ksm_fork() adds the child's inherited count to it. An exited mm's
//!   count is never taken back, so the global count is the sum over every
//!   process, exited ones included (what UFFDIO_MOVE leaked stays there:
//!   findings/uffd-move-ksm-zero-pages-count.md).

use crate::state::State;

/// The global KSM counters of one state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KsmCounters {
    /// `ksm_pages_shared`: stable nodes with at least one rmap_item.
    pub pages_shared: i64,
    /// `ksm_pages_sharing`: the rmap_items of each node beyond its first.
    pub pages_sharing: i64,
    /// The global `ksm_zero_pages`.
    pub ksm_zero_pages: i64,
}

/// The global counters of `s` (see the module comment).
pub fn ksm_counters(s: &State) -> KsmCounters {
    let mut c = KsmCounters::default();
    for n in s.stable_nodes.iter().filter(|n| !n.freed && !n.items.is_empty()) {
        c.pages_shared += 1;
        c.pages_sharing += n.items.len() as i64 - 1;
    }
    // `mm->ksm_zero_pages` is an atomic_long_t: the model's u8 read as signed.
    c.ksm_zero_pages = s.mms.iter().map(|m| i64::from(m.ksm_zero_pages as i8)).sum();
    c
}

/// `mm->ksm_merging_pages` of process `pid`: its rmap_items in the stable
/// tree (stable_tree_append() counts them in, remove_rmap_item_from_tree()
/// and remove_node_from_stable_tree() out; ksm_fork() starts a child at 0,
/// as the child has no rmap_items).
pub fn ksm_merging_pages(s: &State, pid: usize) -> i64 {
    let nodes = s.stable_nodes.iter().filter(|n| !n.freed);
    nodes.flat_map(|n| &n.items).filter(|r| r.mm as usize == pid).count() as i64
}
