//! Canonical object ids and process symmetry.
//!
//! Kernel objects have no names, only addresses, so two states that differ
//! only in which slot holds which anon_vma or folio are the same kernel
//! state. [`normalize`] renumbers anon_vmas and folios in the order they are
//! first reached from the processes (pid order, then VMAs by address, each
//! VMA's `anon_vma` then its chain, then the PTEs, then each folio's
//! mapping, then the anon_vmas KSM rmap_items pin, then `root`/`parent`
//! links), KSM stable nodes in the order their folios are reached (stale
//! ones after, by their rmap_items), swap slots in the order swap PTEs
//! and swap-cache folios reach them, and drops freed objects (and free
//! slots) that nothing points at any more.
//!
//! Processes are symmetric too: nothing in the model depends on a pid
//! except its name (a fork's child is always the next unused number, which
//! a permutation of the existing ones does not change; the one place pid
//! order shows is the rmap walk's order among VMAs with equal keys, see
//! [`crate::vmscan::rmap_walk_anon`]). With symmetry on,
//! a state hashes as its [`representative`]: processes sorted by an
//! id-free key, then canonical ids. The checker stores and prints the real
//! state, so traces keep real pids; only deduplication is folded.

use crate::address_space::{CacheEntry, FileId};
use crate::config::Ids;
use crate::state::{AvId, FolioId, Mapping, NodeId, Pte, SlotId, State};
use arrayvec::ArrayVec;
use std::hash::{Hash, Hasher};

/// Applies the id policy after an action. Stable ids keep allocation
/// order and tombstones, but ids are 8 bits: once a table holds more than
/// [`STABLE_COMPACT_AT`] objects, the tombstones nothing points at are
/// dropped and the rest renumbered in allocation order (as `Compact`
/// does), every reference with them, so a long trace never wraps an id
/// onto another object. Returns whether that happened.
pub fn normalize(s: &mut State, ids: Ids) -> bool {
    match ids {
        Ids::Canonical => renumber(s, true),
        Ids::Compact => renumber(s, false),
        Ids::Stable if largest_table(s) > STABLE_COMPACT_AT => {
            renumber(s, false);
            return true;
        }
        Ids::Stable => {}
    }
    false
}

/// Most objects an action may allocate in one table (a fork of eight
/// VMAs allocates eight anon_vmas; MADV_PAGEOUT of eight pages, eight
/// slots), with room to spare.
pub const MAX_NEW_PER_ACTION: usize = 16;
/// Ids are `u8`: a table may hold this many objects before an action, so
/// that the ids it allocates still fit ([`crate::step`] refuses an action
/// beyond it).
pub const MAX_OBJECTS: usize = u8::MAX as usize + 1 - MAX_NEW_PER_ACTION;
/// Stable ids compact a table that grew past this.
pub const STABLE_COMPACT_AT: usize = MAX_OBJECTS;

/// The length of the largest object table.
pub fn largest_table(s: &State) -> usize {
    s.anon_vmas.len().max(s.folios.len()).max(s.swap.len()).max(s.stable_nodes.len())
}

/// The ids of one object table: at most 256 objects (ids are `u8`), kept on
/// the stack so that renumbering allocates nothing.
type IdList = ArrayVec<u8, 256>;

/// `v` with `id` appended unless it is there already.
fn push_new(v: &mut IdList, id: u8) {
    if !v.contains(&id) {
        v.push(id);
    }
}

/// Whether any table holds a freed object or a free slot: with none, every
/// object is kept and allocation order is the identity (the fast path of
/// `Compact`, which would otherwise walk the whole state to find that out).
fn has_tombstones(s: &State) -> bool {
    s.anon_vmas.iter().any(|a| a.freed)
        || s.folios.iter().any(|f| f.freed)
        || s.swap.iter().any(|sl| sl.free())
        || s.stable_nodes.iter().any(|n| n.freed)
        || s.files.iter().any(|f| f.freed)
}

/// Moves `v[keep[i]]` to `v[i]` for every `i` and drops the rest, in place
/// (no clone, no allocation): `at[p]` is the original index now at `p`,
/// `pos[o]` where original `o` now is.
fn permute<T>(v: &mut Vec<T>, keep: &[u8]) {
    let (mut at, mut pos) = ([0u8; 256], [0u8; 256]);
    for i in 0..v.len() {
        (at[i], pos[i]) = (i as u8, i as u8);
    }
    for (w, &o) in keep.iter().enumerate() {
        let p = pos[o as usize] as usize;
        if p != w {
            v.swap(w, p);
            let displaced = at[w];
            (at[p], pos[displaced as usize]) = (displaced, p as u8);
            (at[w], pos[o as usize]) = (o, w as u8);
        }
    }
    v.truncate(keep.len());
}

/// The map from old id to new id of a table of `len` objects that keeps
/// `keep` in that order (`u8::MAX` for a dropped object).
fn id_map(keep: &[u8]) -> [u8; 256] {
    let mut map = [u8::MAX; 256];
    for (new, &old) in keep.iter().enumerate() {
        map[old as usize] = new as u8;
    }
    map
}

/// Renumbers (in reach order when `reorder`, else keeping allocation
/// order) and drops freed objects nothing refers to. Live objects are
/// always kept, even unreachable ones: an unreachable live object is a leak
/// the invariants must see.
fn renumber(s: &mut State, reorder: bool) {
    if !reorder && !has_tombstones(s) {
        return;
    }
    let mut file_keep = file_order(s);
    let (mut av_keep, mut folio_keep, mut node_keep) = reach_order(s, &file_keep);
    let mut slot_keep = slot_order(s, &folio_keep, &file_keep);
    if !reorder {
        av_keep.sort_unstable();
        folio_keep.sort_unstable();
        slot_keep.sort_unstable();
        node_keep.sort_unstable();
        file_keep.sort_unstable();
    }
    let identity =
        |keep: &[u8], len: usize| keep.len() == len && keep.iter().enumerate().all(|(i, &k)| i == k as usize);
    if identity(&av_keep, s.anon_vmas.len())
        && identity(&folio_keep, s.folios.len())
        && identity(&slot_keep, s.swap.len())
        && identity(&node_keep, s.stable_nodes.len())
        && identity(&file_keep, s.files.len())
    {
        return;
    }
    let (file_map, node_map, slot_map) = (id_map(&file_keep), id_map(&node_keep), id_map(&slot_keep));
    let (av_map, folio_map) = (id_map(&av_keep), id_map(&folio_keep));
    // Every object a kept object refers to is kept (reach_order closes over
    // all references), so no id maps to the u8::MAX filler.
    let av = |id: AvId| av_map[id as usize];
    permute(&mut s.anon_vmas, &av_keep);
    for a in &mut s.anon_vmas {
        a.root = av(a.root);
        a.parent = av(a.parent);
    }
    permute(&mut s.folios, &folio_keep);
    for f in &mut s.folios {
        match f.mapping {
            Mapping::Anon(a) => f.mapping = Mapping::Anon(av(a)),
            Mapping::Ksm(n) => f.mapping = Mapping::Ksm(node_map[n as usize]),
            Mapping::File(x) => f.mapping = Mapping::File(file_map[x as usize]),
            Mapping::None => {}
        }
        f.swap = f.swap.map(|sl| slot_map[sl as usize]);
    }
    permute(&mut s.stable_nodes, &node_keep);
    for n in &mut s.stable_nodes {
        n.kpfn = n.kpfn.map(|f| folio_map[f as usize]);
        n.items.iter_mut().for_each(|r| r.anon_vma = av(r.anon_vma));
    }
    permute(&mut s.swap, &slot_keep);
    for sl in &mut s.swap {
        sl.cache = sl.cache.map(|f| folio_map[f as usize]);
    }
    permute(&mut s.files, &file_keep);
    for f in &mut s.files {
        for e in &mut f.cache {
            match e {
                CacheEntry::Folio(x) => *x = folio_map[*x as usize],
                CacheEntry::Swap(x) => *x = slot_map[*x as usize],
                CacheEntry::Hole => {}
            }
        }
    }
    for mm in &mut s.mms {
        for v in &mut mm.vmas {
            v.anon_vma = v.anon_vma.map(av);
            v.chain.iter_mut().for_each(|a| *a = av(*a));
            v.file = v.file.map(|x| file_map[x as usize]);
        }
        for pte in &mut mm.ptes {
            match pte {
                Pte::Present { folio, .. } => *folio = folio_map[*folio as usize],
                Pte::Swap { slot, .. } => *slot = slot_map[*slot as usize],
                Pte::None | Pte::Zero => {}
            }
        }
        for p in &mut mm.pins {
            p.folio = folio_map[p.folio as usize];
        }
    }
}

/// Files in the order they are reached: the named files first, where they
/// are (their ids are their names), then shared anonymous objects in the
/// order the processes' VMAs reach them, then live objects nothing maps
/// (a leak the invariants must see). Freed objects nothing names are
/// dropped.
fn file_order(s: &State) -> IdList {
    let mut files: IdList = (0..s.files.len() as FileId).filter(|&f| !s.files[f as usize].anon).collect();
    for mm in &s.mms {
        for v in &mm.vmas {
            if let Some(f) = v.file.filter(|f| !files.contains(f)) {
                files.push(f);
            }
        }
    }
    for (i, f) in s.files.iter().enumerate() {
        if !f.freed && !files.contains(&(i as FileId)) {
            files.push(i as FileId);
        }
    }
    // A freed object is still named by a page-cache folio's mapping only
    // in stable-id mode; keep whatever a kept folio names.
    for f in &s.folios {
        if let Mapping::File(x) = f.mapping {
            if !f.freed && !files.contains(&x) {
                files.push(x);
            }
        }
    }
    files
}

/// Swap slots in the order they are reached: from swap PTEs (pid order),
/// then from shmem swap entries in the page caches of `files`, then from
/// swap-cache folios in `folios` order, then slots still in use that
/// nothing reaches (leaks). Free slots nothing names are dropped. A run of
/// slots a large folio took together is kept whole and in order while any
/// of its slots is in use, so its slots stay consecutive.
fn slot_order(s: &State, folios: &[FolioId], files: &[FileId]) -> IdList {
    let mut slots = IdList::new();
    let mut push = |id: SlotId| {
        let sl = &s.swap[id as usize];
        let first = id - sl.pos;
        for m in first..first + sl.run {
            if !slots.contains(&m) {
                slots.push(m);
            }
        }
    };
    for mm in &s.mms {
        for pte in &mm.ptes {
            if let Pte::Swap { slot, .. } = *pte {
                push(slot);
            }
        }
    }
    for &file in files {
        for e in &s.files[file as usize].cache {
            if let CacheEntry::Swap(slot) = *e {
                push(slot);
            }
        }
    }
    for &f in folios {
        if let Some(sl) = s.folios[f as usize].swap {
            push(sl);
        }
    }
    for (i, sl) in s.swap.iter().enumerate() {
        if !sl.free() {
            push(i as SlotId);
        }
    }
    slots
}

/// anon_vmas, folios and stable nodes in the order they are reached from
/// the processes (then from the page caches of `files`), followed by live
/// objects nothing reaches (leaks, and stale stable nodes, ordered by
/// their rmap_items), closed over every reference a kept object holds.
fn reach_order(s: &State, files: &[FileId]) -> (IdList, IdList, IdList) {
    let (mut avs, mut folios) = (IdList::new(), IdList::new());
    let push = push_new;
    for mm in &s.mms {
        for v in &mm.vmas {
            if let Some(a) = v.anon_vma {
                push(&mut avs, a);
            }
            for &a in &v.chain {
                push(&mut avs, a);
            }
        }
        for pte in &mm.ptes {
            match *pte {
                Pte::Present { folio, .. } => push(&mut folios, folio),
                Pte::Swap { slot, .. } => {
                    if let Some(folio) = s.swap[slot as usize].cache {
                        push(&mut folios, folio);
                    }
                }
                Pte::None | Pte::Zero => {}
            }
        }
        // A pinned page whose mapping is gone is reached from its pin.
        for p in &mm.pins {
            push(&mut folios, p.folio);
        }
    }
    for sl in &s.swap {
        if let Some(folio) = sl.cache {
            push(&mut folios, folio);
        }
    }
    for &file in files {
        for e in &s.files[file as usize].cache {
            if let CacheEntry::Folio(folio) = *e {
                push(&mut folios, folio);
            }
        }
    }
    for (i, f) in s.folios.iter().enumerate() {
        if !f.freed {
            push(&mut folios, i as FolioId);
        }
    }
    let mut nodes = IdList::new();
    for &f in &folios {
        match s.folios[f as usize].mapping {
            Mapping::Anon(a) => push(&mut avs, a),
            Mapping::Ksm(n) => push(&mut nodes, n),
            Mapping::None | Mapping::File(_) => {}
        }
    }
    let reached = nodes.len();
    for (i, n) in s.stable_nodes.iter().enumerate() {
        if !n.freed {
            push(&mut nodes, i as NodeId);
        }
    }
    // Stale nodes (no folio reaches them) in the order of their rmap_items,
    // which name (mm, address) pairs no other node holds.
    nodes[reached..].sort_by_key(|&n| s.stable_nodes[n as usize].items.iter().map(|r| (r.mm, r.address)).min());
    for &n in &nodes {
        for r in &s.stable_nodes[n as usize].items {
            push(&mut avs, r.anon_vma);
        }
    }
    for (i, a) in s.anon_vmas.iter().enumerate() {
        if !a.freed {
            push(&mut avs, i as AvId);
        }
    }
    let mut i = 0;
    while i < avs.len() {
        let a = &s.anon_vmas[avs[i] as usize];
        let (root, parent) = (a.root, a.parent);
        push(&mut avs, root);
        push(&mut avs, parent);
        i += 1;
    }
    (avs, folios, nodes)
}

/// The state with processes in a canonical order and canonical ids: one
/// representative for every state that differs only by a renaming of
/// processes and objects.
pub fn representative(s: &State) -> State {
    representative_by(s, &sorted_keys(s))
}

/// [`representative`] given the state's [`sorted_keys`].
fn representative_by(s: &State, keys: &[(u64, usize)]) -> State {
    let mut pid_map = [0u8; 256];
    for (new, (_, old)) in keys.iter().enumerate() {
        pid_map[*old] = new as u8;
    }
    let mut stable_nodes = s.stable_nodes.clone();
    for n in &mut stable_nodes {
        n.items.iter_mut().for_each(|r| r.mm = pid_map[r.mm as usize]);
        n.items.sort_unstable_by_key(|r| (r.mm, r.address));
    }
    let mut folios = s.folios.clone();
    // A large folio's MM-id slots name processes.
    for l in folios.iter_mut().filter_map(|f| f.large.as_mut()) {
        l.mm_id.iter_mut().flatten().for_each(|p| *p = pid_map[*p as usize]);
    }
    let mut r = State {
        mms: keys.iter().map(|(_, i)| s.mms[*i]).collect(),
        anon_vmas: s.anon_vmas.clone(),
        folios,
        swap: s.swap.clone(),
        stable_nodes,
        files: s.files.clone(),
        oops: s.oops.clone(),
        symmetry: false,
    };
    renumber(&mut r, true);
    r
}

/// Process keys in sorted order, each with the pid it came from.
fn sorted_keys(s: &State) -> Vec<(u64, usize)> {
    let mut keys: Vec<(u64, usize)> = (0..s.mms.len()).map(|i| (process_key(s, i), i)).collect();
    keys.sort_unstable();
    keys
}

/// What a process looks like without any object id, folded into 64 bits
/// (FNV-1a). Used only to order processes: equal keys (or a collision)
/// merely cost some reduction, never soundness.
fn process_key(s: &State, pid: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut put = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    let mm = &s.mms[pid];
    put(u8::from(mm.alive));
    for v in &mm.vmas {
        for b in [
            v.start,
            v.end,
            v.pgoff,
            u8::from(v.write) | u8::from(v.account) << 1 | u8::from(v.mergeable) << 2,
            u8::from(v.anon_vma.is_some()),
            v.chain.len() as u8,
        ] {
            put(b);
        }
        // Only file VMAs add bytes, so anonymous states keep their keys.
        if v.file.is_some() || v.shared {
            let named = v.file.filter(|&f| !s.files[f as usize].anon);
            put(0xfe);
            put(named.map_or(0x80, |f| f) | u8::from(v.shared) << 4);
        }
    }
    // Only MMF_VM_MERGE_ANY adds a byte, so other states keep their keys.
    if mm.merge_any {
        put(0xfd);
    }
    // Likewise only KSM zero pages add bytes.
    if mm.ksm_zero != 0 || mm.ksm_zero_pages != 0 {
        put(0xfc);
        put(mm.ksm_zero);
        put(mm.ksm_zero_pages);
    }
    put(0xff);
    for (pte, g) in mm.ptes.iter().zip(&mm.ghost) {
        match *pte {
            Pte::None => put(0),
            Pte::Zero => put(1),
            Pte::Present { folio, sub, writable, dirty } => {
                let f = &s.folios[folio as usize];
                let page = [sub, f.page_mapcount(sub), f.page_data(sub), u8::from(f.page_exclusive(sub))];
                for b in [2 + u8::from(writable) + 2 * u8::from(dirty), f.mapcount, f.order()].into_iter().chain(page) {
                    put(b);
                }
            }
            Pte::Swap { slot, exclusive } => {
                let sl = &s.swap[slot as usize];
                for b in [6 + u8::from(exclusive), sl.count, u8::from(sl.cache.is_some()), s.slot_data(slot)] {
                    put(b);
                }
            }
        }
        put(g.map_or(0xff, |v| v));
    }
    // Only pins add bytes, so pin-free states keep their keys.
    if mm.has_pinned {
        put(0xfd);
        for p in &mm.pins {
            let f = &s.folios[p.folio as usize];
            for b in [
                p.page,
                p.at,
                p.sub,
                u8::from(p.write) | u8::from(p.attached) << 1,
                p.ghost,
                f.page_data(p.sub),
                f.mapcount,
            ] {
                put(b);
            }
        }
    }
    // Dead processes first, so live ones keep their relative order.
    if mm.alive {
        h | 1 << 63
    } else {
        0
    }
}

/// What deduplication sees of `s`: `None` when `s` stands for itself
/// (symmetry off, or its processes already in key order: symmetry is only
/// used with canonical ids, `Config::validate`, so such a state is its own
/// representative), else its [`representative`].
pub fn folded(s: &State) -> Option<State> {
    if !s.symmetry {
        return None;
    }
    let keys = sorted_keys(s);
    keys.iter().enumerate().any(|(i, (_, pid))| i != *pid).then(|| representative_by(s, &keys))
}

impl Hash for State {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // Files are hashed only when there are any: an anonymous
        // configuration hashes what it hashed before files existed.
        if let Some(r) = folded(self) {
            (&r.mms, &r.anon_vmas, &r.folios, &r.swap, &r.stable_nodes, &r.oops).hash(h);
            if !r.files.is_empty() {
                r.files.hash(h);
            }
        } else {
            (&self.mms, &self.anon_vmas, &self.folios, &self.swap, &self.stable_nodes, &self.oops).hash(h);
            if !self.files.is_empty() {
                self.files.hash(h);
            }
        }
    }
}
