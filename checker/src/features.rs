//! Structural atoms of a model state, for the novelty-pruned search
//! (`search/novelty.rs`) and the coverage-guided one (`search/guided.rs`).
//! They play the part edge coverage plays in a greybox fuzzer, or the
//! state atoms in a width-based planner: a state showing an atom (or a
//! pair of atoms) no earlier state showed is kept for further search.
//!
//! An atom describes one heap object by its own fields and its place in
//! the anon_vma forest: an anon_vma by its counters, its depth in the fork
//! tree and how many VMAs, AVCs and folios point at it; a VMA by its
//! flags, its chain length, the depth of its anon_vma and where that
//! anon_vma sits in its chain, and its PTEs; a folio by its flags and
//! counts; a swap slot by its counts; a KSM stable node by its folio's
//! mapcount and its rmap_items. Atoms never name an object id or a
//! process, so renamed ids and permuted processes give the same atoms.
//! Every kernel branch the last action took is an atom too.
//!
//! Nothing here names an invariant or a bug: every kind of object the
//! model has is described the same way.

use rmapcheck_model::{Action, AvId, Mapping, Pte, State};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// FxHash (rustc's): atoms are hashed millions of times a second, and
/// need no defence against adversarial keys.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn finish(&self) -> u64 {
        // A final avalanche, so that atoms also spread well as set keys.
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z ^ (z >> 33)
    }
}

/// A set of atoms or tuples (already hashes).
pub type AtomSet = std::collections::HashSet<u64, BuildHasherDefault<FxHasher>>;

fn hash<T: Hash>(t: &T) -> u64 {
    let mut h = FxHasher::default();
    t.hash(&mut h);
    h.finish()
}

/// Distance of `av` from the root of its fork tree (0 for a root),
/// bounded so that a corrupted parent cycle cannot hang it.
fn depth(s: &State, av: AvId) -> usize {
    let mut d = 0;
    let mut a = av;
    while d < 16 {
        let p = s.anon_vmas[a as usize].parent;
        if p == a {
            break;
        }
        a = p;
        d += 1;
    }
    d
}

/// The atoms of `s`, reached by `action` that took the kernel branches
/// `branches` (a [`rmapcheck_model::Ctx`] bit set): sorted, no repeats.
pub fn atoms(s: &State, action: Option<Action>, branches: u128) -> Vec<u64> {
    let mut out = Vec::new();
    let mut vmas = [0u8; 256];
    let mut folios = [0u8; 256];
    for (_, v) in s.all_vmas() {
        if let Some(av) = v.anon_vma {
            vmas[av as usize] += 1;
        }
    }
    for (_, f) in s.live_folios() {
        if let Mapping::Anon(av) = f.mapping {
            folios[av as usize] = (folios[av as usize] + 1).min(3);
        }
    }
    for (i, av) in s.anon_vmas.iter().enumerate() {
        let id = i as AvId;
        out.push(hash(&(
            1u8,
            av.freed,
            depth(s, id),
            av.refcount,
            av.num_children,
            av.num_active_vmas,
            av.degree,
            s.tree_len(id),
            vmas[i],
            folios[i],
        )));
    }
    for mm in s.mms.iter().filter(|m| m.alive) {
        for v in mm.vmas.iter() {
            // Where the VMA's anon_vma sits in its chain: 1 is the newest
            // link, the one made for this VMA; further down, one it reused.
            let (av_depth, own) = match v.anon_vma {
                Some(av) => (1 + depth(s, av), 1 + v.chain.iter().position(|&c| c == av).unwrap_or(15)),
                None => (0, 0),
            };
            let ptes = (v.start..v.end).fold(0u64, |acc, p| {
                acc * 8
                    + match mm.ptes[p as usize] {
                        Pte::None => 1,
                        Pte::Zero => 2,
                        Pte::Present { writable, .. } => 3 + u64::from(writable),
                        Pte::Swap { exclusive, .. } => 5 + u64::from(exclusive),
                    }
            });
            out.push(hash(&(2u8, mm.vmas.len(), v.write, v.account, v.mergeable, v.chain.len(), av_depth, own, ptes)));
        }
    }
    for (_, f) in s.live_folios() {
        let av_depth = f.mapping.anon_vma().map_or(0, |av| 1 + depth(s, av));
        out.push(hash(&(
            3u8,
            f.mapping.tag_bits(),
            av_depth,
            f.mapcount,
            f.refcount,
            f.anon_exclusive,
            f.swapbacked,
            f.dirty,
            f.swap.is_some(),
            f.isolated,
        )));
    }
    for node in s.stable_nodes.iter().filter(|n| !n.freed) {
        let mapcount = node.kpfn.map_or(0, |f| s.folios[f as usize].mapcount);
        let pins_live = node.items.iter().filter(|i| s.mms.get(i.mm as usize).is_some_and(|m| m.alive)).count();
        out.push(hash(&(7u8, node.kpfn.is_some(), mapcount, node.items.len(), pins_live)));
    }
    for slot in s.swap.iter().filter(|x| !x.free()) {
        out.push(hash(&(4u8, slot.count, slot.cache.is_some(), slot.data.is_some())));
    }
    out.push(hash(&(5u8, s.mms.iter().filter(|m| m.alive).count(), s.anon_vmas.iter().filter(|a| !a.freed).count())));
    if let Some(a) = action {
        let mut b = branches;
        while b != 0 {
            out.push(hash(&(6u8, a.kind() as usize, b.trailing_zeros())));
            b &= b - 1;
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// IW(k)'s novelty features at `width`: every atom, plus every pair of
/// atoms from width 2, plus every triple from width 3.
pub fn tuples(atoms: &[u64], width: usize) -> Vec<u64> {
    let mix = |a: u64, b: u64| (a ^ b.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (a >> 7);
    let mut v = atoms.to_vec();
    if width >= 2 {
        for (i, &a) in atoms.iter().enumerate() {
            for (j, &b) in atoms[i + 1..].iter().enumerate() {
                let ab = mix(a, b);
                v.push(ab);
                if width >= 3 {
                    v.extend(atoms[i + j + 2..].iter().map(|&c| mix(ab, c)));
                }
            }
        }
    }
    v
}
