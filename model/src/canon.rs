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

/// The objects of one table that renumbering keeps, as [`reach`] finds
/// them: in the order they are reached ([`Ordered`], canonical ids), or
/// just which ones ([`Marked`], compact ids, which keep allocation order).
/// Ids are `u8`, so a table has at most 256 objects and both live on the
/// stack: renumbering allocates nothing.
trait Reached: Default {
    /// Adds `id` unless it is there already.
    fn push(&mut self, id: u8);
    /// The ids, in order.
    fn ids(&self) -> impl Iterator<Item = u8> + '_;
    /// How many ids there are.
    fn count(&self) -> usize;
    /// Adds `link(id)` for every id, and theirs, until nothing is new.
    fn close(&mut self, link: impl Fn(u8) -> [u8; 2]);
    /// Orders the ids from the `from`-th on by `key` (a no-op without order).
    fn sort_from<K: Ord>(&mut self, from: usize, key: impl FnMut(&u8) -> K);
    /// The map from old id to new id of a table of `len` objects keeping
    /// these (`u8::MAX` for a dropped one), or `None` when every object
    /// stays where it is.
    fn id_map(&self, len: usize) -> Option<[u8; 256]>;
    /// Keeps these objects of `v`, in this order.
    fn permute<T>(&self, v: &mut Vec<T>);
}

/// Ids in the order they are reached, with a bit per id so that "reached
/// already?" is one test, not a search of the list.
#[derive(Default)]
struct Ordered {
    list: ArrayVec<u8, 256>,
    seen: Marked,
}

/// A set of ids, one bit each; its order is ascending id.
#[derive(Default)]
struct Marked([u64; 4]);

impl Marked {
    fn has(&self, id: u8) -> bool {
        self.0[id as usize / 64] & 1 << (id % 64) != 0
    }
    /// Adds `id`; whether it is new.
    fn set(&mut self, id: u8) -> bool {
        let new = !self.has(id);
        self.0[id as usize / 64] |= 1 << (id % 64);
        new
    }
}

impl Reached for Marked {
    fn push(&mut self, id: u8) {
        self.set(id);
    }
    fn ids(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as u8;
                bits &= bits - 1;
                Some((w * 64) as u8 + b)
            })
        })
    }
    fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    fn close(&mut self, link: impl Fn(u8) -> [u8; 2]) {
        let mut grew = true;
        while grew {
            let before = Marked(self.0);
            for l in before.ids().flat_map(&link) {
                self.set(l);
            }
            grew = self.0 != before.0;
        }
    }
    fn sort_from<K: Ord>(&mut self, _: usize, _: impl FnMut(&u8) -> K) {}
    fn id_map(&self, len: usize) -> Option<[u8; 256]> {
        if self.count() == len {
            return None;
        }
        let mut map = [u8::MAX; 256];
        let mut new = 0;
        for (old, m) in map.iter_mut().enumerate().take(len) {
            if self.has(old as u8) {
                *m = new;
                new += 1;
            }
        }
        Some(map)
    }
    fn permute<T>(&self, v: &mut Vec<T>) {
        let mut old = 0;
        v.retain(|_| {
            old += 1;
            self.has(old as u8 - 1)
        });
    }
}

impl Reached for Ordered {
    fn push(&mut self, id: u8) {
        if self.seen.set(id) {
            self.list.push(id);
        }
    }
    fn ids(&self) -> impl Iterator<Item = u8> + '_ {
        self.list.iter().copied()
    }
    fn count(&self) -> usize {
        self.list.len()
    }
    fn close(&mut self, link: impl Fn(u8) -> [u8; 2]) {
        let mut i = 0;
        while i < self.list.len() {
            for l in link(self.list[i]) {
                self.push(l);
            }
            i += 1;
        }
    }
    fn sort_from<K: Ord>(&mut self, from: usize, key: impl FnMut(&u8) -> K) {
        self.list[from..].sort_by_key(key);
    }
    fn id_map(&self, len: usize) -> Option<[u8; 256]> {
        if self.list.len() == len && self.list.iter().enumerate().all(|(i, &k)| i == k as usize) {
            return None;
        }
        let mut map = [u8::MAX; 256];
        for (new, &old) in self.list.iter().enumerate() {
            map[old as usize] = new as u8;
        }
        Some(map)
    }
    /// Moves `v[list[i]]` to `v[i]` for every `i` and drops the rest, in
    /// place (no clone, no allocation): `at[p]` is the original index now
    /// at `p`, `pos[o]` where original `o` now is.
    fn permute<T>(&self, v: &mut Vec<T>) {
        let (mut at, mut pos) = ([0u8; 256], [0u8; 256]);
        for i in 0..v.len() {
            (at[i], pos[i]) = (i as u8, i as u8);
        }
        for (w, &o) in self.list.iter().enumerate() {
            let p = pos[o as usize] as usize;
            if p != w {
                v.swap(w, p);
                let displaced = at[w];
                (at[p], pos[displaced as usize]) = (displaced, p as u8);
                (at[w], pos[o as usize]) = (o, w as u8);
            }
        }
        v.truncate(self.list.len());
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

/// `id` through `map` (`None`: unchanged).
fn remap(map: &Option<[u8; 256]>, id: u8) -> u8 {
    map.as_ref().map_or(id, |m| m[id as usize])
}

/// Renumbers (in reach order when `reorder`, else keeping allocation
/// order) and drops freed objects nothing refers to. Live objects are
/// always kept, even unreachable ones: an unreachable live object is a leak
/// the invariants must see.
fn renumber(s: &mut State, reorder: bool) {
    if reorder {
        renumber_as::<Ordered>(s);
    } else if has_tombstones(s) {
        renumber_as::<Marked>(s);
    }
}

/// [`renumber`] keeping what [`reach`] finds, in the order `R` keeps.
fn renumber_as<R: Reached>(s: &mut State) {
    let mut r = Reach::<R>::default();
    reach(s, &mut r);
    let Reach { avs, folios, slots, nodes, files } = r;
    let av_map = avs.id_map(s.anon_vmas.len());
    let folio_map = folios.id_map(s.folios.len());
    let slot_map = slots.id_map(s.swap.len());
    let node_map = nodes.id_map(s.stable_nodes.len());
    let file_map = files.id_map(s.files.len());
    // Only the tables that change, and the references into them, are
    // rewritten. Every object a kept object refers to is kept (reach()
    // closes over all references), so no id maps to the u8::MAX filler.
    if av_map.is_some() {
        avs.permute(&mut s.anon_vmas);
        for a in &mut s.anon_vmas {
            a.root = remap(&av_map, a.root);
            a.parent = remap(&av_map, a.parent);
        }
    }
    if folio_map.is_some() {
        folios.permute(&mut s.folios);
    }
    if av_map.is_some() || node_map.is_some() || file_map.is_some() || slot_map.is_some() {
        for f in &mut s.folios {
            match f.mapping {
                Mapping::Anon(a) => f.mapping = Mapping::Anon(remap(&av_map, a)),
                Mapping::Ksm(n) => f.mapping = Mapping::Ksm(remap(&node_map, n)),
                Mapping::File(x) => f.mapping = Mapping::File(remap(&file_map, x)),
                Mapping::None => {}
            }
            f.swap = f.swap.map(|sl| remap(&slot_map, sl));
        }
    }
    if node_map.is_some() {
        nodes.permute(&mut s.stable_nodes);
    }
    if folio_map.is_some() || av_map.is_some() {
        for n in &mut s.stable_nodes {
            n.kpfn = n.kpfn.map(|f| remap(&folio_map, f));
            n.items.iter_mut().for_each(|r| r.anon_vma = remap(&av_map, r.anon_vma));
        }
    }
    if slot_map.is_some() {
        slots.permute(&mut s.swap);
    }
    if folio_map.is_some() {
        for sl in &mut s.swap {
            sl.cache = sl.cache.map(|f| remap(&folio_map, f));
        }
    }
    if file_map.is_some() {
        files.permute(&mut s.files);
    }
    if folio_map.is_some() || slot_map.is_some() {
        for f in &mut s.files {
            for e in &mut f.cache {
                match e {
                    CacheEntry::Folio(x) => *x = remap(&folio_map, *x),
                    CacheEntry::Swap(x) => *x = remap(&slot_map, *x),
                    CacheEntry::Hole => {}
                }
            }
        }
    }
    if av_map.is_some() || file_map.is_some() {
        for v in s.mms.iter_mut().flat_map(|mm| mm.vmas.iter_mut()) {
            v.anon_vma = v.anon_vma.map(|a| remap(&av_map, a));
            v.chain.iter_mut().for_each(|a| *a = remap(&av_map, *a));
            v.file = v.file.map(|x| remap(&file_map, x));
        }
    }
    if folio_map.is_some() || slot_map.is_some() {
        for mm in &mut s.mms {
            for pte in &mut mm.ptes {
                match pte {
                    Pte::Present { folio, .. } => *folio = remap(&folio_map, *folio),
                    Pte::Swap { slot, .. } => *slot = remap(&slot_map, *slot),
                    Pte::None | Pte::Zero => {}
                }
            }
            for p in &mut mm.pins {
                p.folio = remap(&folio_map, p.folio);
            }
        }
    }
}

/// What renumbering keeps of each table.
#[derive(Default)]
struct Reach<R> {
    avs: R,
    folios: R,
    slots: R,
    nodes: R,
    files: R,
}

/// Every object renumbering keeps, in the order it is reached.
///
/// Files: the named files first, where they are (their ids are their
/// names), then shared anonymous objects in the order the processes' VMAs
/// reach them, then live objects nothing maps (a leak the invariants must
/// see); a freed object is still named by a page-cache folio's mapping
/// only in stable-id mode, so whatever a kept folio names is kept.
///
/// anon_vmas, folios and stable nodes: in the order they are reached from
/// the processes (then from the page caches of the files), followed by
/// live objects nothing reaches (leaks, and stale stable nodes, ordered by
/// their rmap_items), closed over every reference a kept object holds.
///
/// Swap slots: from swap PTEs (pid order), then from shmem swap entries in
/// the files' page caches, then from swap-cache folios in folio order, then
/// slots still in use that nothing reaches (leaks). A run of slots a large
/// folio took together is kept whole and in order while any of its slots
/// is in use, so its slots stay consecutive.
///
/// Freed objects and free slots nothing names are dropped.
fn reach<R: Reached>(s: &State, r: &mut Reach<R>) {
    let Reach { avs, folios, slots, nodes, files } = r;
    (0..s.files.len() as FileId).filter(|&f| !s.files[f as usize].anon).for_each(|f| files.push(f));
    for v in s.mms.iter().flat_map(|mm| mm.vmas.iter()) {
        if let Some(f) = v.file {
            files.push(f);
        }
    }
    for (i, f) in s.files.iter().enumerate() {
        if !f.freed {
            files.push(i as FileId);
        }
    }
    for f in &s.folios {
        if let Mapping::File(x) = f.mapping {
            if !f.freed {
                files.push(x);
            }
        }
    }

    for mm in &s.mms {
        for v in &mm.vmas {
            if let Some(a) = v.anon_vma {
                avs.push(a);
            }
            for &a in &v.chain {
                avs.push(a);
            }
        }
        for pte in &mm.ptes {
            match *pte {
                Pte::Present { folio, .. } => folios.push(folio),
                Pte::Swap { slot, .. } => {
                    if let Some(folio) = s.swap[slot as usize].cache {
                        folios.push(folio);
                    }
                }
                Pte::None | Pte::Zero => {}
            }
        }
        // A pinned page whose mapping is gone is reached from its pin.
        for p in &mm.pins {
            folios.push(p.folio);
        }
    }
    for sl in &s.swap {
        if let Some(folio) = sl.cache {
            folios.push(folio);
        }
    }
    for file in files.ids() {
        for e in &s.files[file as usize].cache {
            if let CacheEntry::Folio(folio) = *e {
                folios.push(folio);
            }
        }
    }
    for (i, f) in s.folios.iter().enumerate() {
        if !f.freed {
            folios.push(i as FolioId);
        }
    }
    for f in folios.ids() {
        match s.folios[f as usize].mapping {
            Mapping::Anon(a) => avs.push(a),
            Mapping::Ksm(n) => nodes.push(n),
            Mapping::None | Mapping::File(_) => {}
        }
    }
    let reached = nodes.count();
    for (i, n) in s.stable_nodes.iter().enumerate() {
        if !n.freed {
            nodes.push(i as NodeId);
        }
    }
    // Stale nodes (no folio reaches them) in the order of their rmap_items,
    // which name (mm, address) pairs no other node holds.
    nodes.sort_from(reached, |&n| s.stable_nodes[n as usize].items.iter().map(|r| (r.mm, r.address)).min());
    for n in nodes.ids() {
        for r in &s.stable_nodes[n as usize].items {
            avs.push(r.anon_vma);
        }
    }
    for (i, a) in s.anon_vmas.iter().enumerate() {
        if !a.freed {
            avs.push(i as AvId);
        }
    }
    avs.close(|av| {
        let a = &s.anon_vmas[av as usize];
        [a.root, a.parent]
    });

    let mut push_slot = |id: SlotId| {
        let sl = &s.swap[id as usize];
        let first = id - sl.pos;
        for m in first..first + sl.run {
            slots.push(m);
        }
    };
    for mm in &s.mms {
        for pte in &mm.ptes {
            if let Pte::Swap { slot, .. } = *pte {
                push_slot(slot);
            }
        }
    }
    for file in files.ids() {
        for e in &s.files[file as usize].cache {
            if let CacheEntry::Swap(slot) = *e {
                push_slot(slot);
            }
        }
    }
    for f in folios.ids() {
        if let Some(sl) = s.folios[f as usize].swap {
            push_slot(sl);
        }
    }
    for (i, sl) in s.swap.iter().enumerate() {
        if !sl.free() {
            push_slot(i as SlotId);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::{reach, Marked, Ordered, Reach, Reached};
    use crate::config::{ActionSet, Config, Ids, Mthp};
    use crate::rng::SplitMix64;
    use crate::step::{enabled_actions, step};
    use crate::{Ctx, State};

    /// The tables' kept ids, ascending.
    fn kept<R: Reached>(s: &State) -> Vec<Vec<u8>> {
        let mut r = Reach::<R>::default();
        reach(s, &mut r);
        [r.avs, r.folios, r.slots, r.nodes, r.files]
            .iter()
            .map(|t| {
                let mut v: Vec<u8> = t.ids().collect();
                v.sort_unstable();
                v
            })
            .collect()
    }

    /// Compact ids (`Marked`) keep exactly the objects canonical ids
    /// (`Ordered`) keep, on states with tombstones (stable ids keep them)
    /// from random walks over every action kind, files and large folios.
    #[test]
    fn marked_and_ordered_reach_the_same_objects() {
        let mut rng = SplitMix64(7);
        let (mut checked, mut tomb) = (0, 0);
        for (files, mthp) in [(0, Mthp::none()), (3, Mthp::none()), (0, Mthp(0b110))] {
            let cfg = Config {
                procs: 3,
                pages: 4,
                actions: ActionSet::every(),
                ids: Ids::Stable,
                symmetry: false,
                files,
                mthp,
                ..Config::default()
            };
            let mut out = Vec::new();
            for _ in 0..40 {
                let mut s = State::initial(&cfg);
                for _ in 0..25 {
                    out.clear();
                    enabled_actions(&cfg, &s, &mut out);
                    if out.is_empty() {
                        break;
                    }
                    let a = out[rng.below(out.len() as u64) as usize];
                    let Ok(n) = step(&s, a, &mut Ctx::new(&cfg, false)) else { continue };
                    s = n;
                    assert_eq!(kept::<Marked>(&s), kept::<Ordered>(&s), "{s:?}");
                    checked += 1;
                    tomb += usize::from(super::has_tombstones(&s));
                }
            }
        }
        assert!(checked > 2000 && tomb > 500, "{checked} states checked, {tomb} with tombstones");
    }
}
