//! Invariants of the anon_vma forest (I1–I9; docs/kernel/anon-vma.md).

use crate::report;
use rmapcheck_model::{AvId, Kernel, State};

fn live(s: &State, av: AvId) -> bool {
    s.anon_vmas.get(av as usize).is_some_and(|a| !a.freed)
}

fn live_ids(s: &State) -> impl Iterator<Item = AvId> + '_ {
    (0..s.anon_vmas.len() as AvId).filter(move |&a| live(s, a))
}

/// I1: every live anon_vma has a live root that is its own root and
/// parent, and its parent (when live) has the same root.
pub fn single_root(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for x in live_ids(s) {
        let a = &s.anon_vmas[x as usize];
        if !live(s, a.root) {
            bad.push(format!("AV{x}: root AV{} is freed", a.root));
            continue;
        }
        let r = &s.anon_vmas[a.root as usize];
        if r.root != a.root || r.parent != a.root {
            bad.push(format!("AV{x}: root AV{} is not its own root and parent", a.root));
        }
        if live(s, a.parent) && s.anon_vmas[a.parent as usize].root != a.root {
            bad.push(format!("AV{x}: parent AV{} has a different root", a.parent));
        }
    }
    report(bad)
}

/// I2: the chain of one VMA lives under one root, that of `vma->anon_vma`.
pub fn chain_one_root(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, v) in s.all_vmas() {
        let Some(own) = v.anon_vma else { continue };
        let root = s.anon_vmas[own as usize].root;
        for &x in &v.chain {
            if s.anon_vmas[x as usize].root != root {
                bad.push(format!(
                    "P{pid} VMA {}..{}: AV{x} on the chain has root AV{}, anon_vma AV{own} has root AV{root}",
                    v.start, v.end, s.anon_vmas[x as usize].root
                ));
            }
        }
    }
    report(bad)
}

/// I3: `vma->anon_vma` set implies an AVC to it; unset implies no AVC.
pub fn own_link(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, v) in s.all_vmas() {
        match v.anon_vma {
            Some(a) if !v.chain.contains(&a) => {
                bad.push(format!("P{pid} VMA {}..{}: anon_vma AV{a} is not on its chain", v.start, v.end))
            }
            None if !v.chain.is_empty() => {
                bad.push(format!("P{pid} VMA {}..{}: unfaulted but its chain is not empty", v.start, v.end))
            }
            _ => {}
        }
    }
    report(bad)
}

/// I4: the chain is closed under `parent`.
pub fn ancestor_closure(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, v) in s.all_vmas() {
        for &x in &v.chain {
            let p = s.anon_vmas[x as usize].parent;
            if p != x && !v.chain.contains(&p) {
                bad.push(format!("P{pid} VMA {}..{}: linked to AV{x} but not to its parent AV{p}", v.start, v.end));
            }
        }
    }
    report(bad)
}

/// Per anon_vma id, whether its interval tree is non-empty (some live
/// VMA's chain links it: `State::tree_len() > 0`), computed for every
/// anon_vma in one walk of the VMAs.
fn tree_nonempty(s: &State) -> [bool; 256] {
    let mut t = [false; 256];
    for (_, v) in s.all_vmas() {
        v.chain.iter().for_each(|&a| t[a as usize] = true);
    }
    t
}

/// Per anon_vma id, the anon_vmas with a non-empty tree whose parent it is.
fn live_children(s: &State, nonempty: &[bool; 256]) -> [u16; 256] {
    let mut c = [0u16; 256];
    for (y, a) in s.anon_vmas.iter().enumerate() {
        c[a.parent as usize] += u16::from(nonempty[y]);
    }
    c
}

/// I6: the refcount is the tree's own reference plus, for a root, one per
/// live descendant, plus one per KSM rmap_item pinning it
/// (try_to_merge_with_ksm_page(): get_anon_vma()); an anon_vma is freed
/// exactly when it reaches zero, so one that KSM pins outlives its tree.
pub fn refcount(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    let nonempty = tree_nonempty(s);
    // Live descendants per root, and KSM pins per anon_vma, counted once.
    let (mut descendants, mut pins) = ([0u16; 256], [0u16; 256]);
    for y in live_ids(s) {
        let root = s.anon_vmas[y as usize].root;
        descendants[root as usize] += u16::from(root != y);
    }
    for r in s.stable_nodes.iter().filter(|n| !n.freed).flat_map(|n| n.items.iter()) {
        pins[r.anon_vma as usize] += 1;
    }
    for (i, a) in s.anon_vmas.iter().enumerate() {
        let x = i as AvId;
        if a.freed {
            if a.refcount != 0 {
                bad.push(format!("AV{x} is freed with refcount {}", a.refcount));
            }
            continue;
        }
        let own = usize::from(nonempty[i]);
        let descendants = if a.root == x { descendants[i] as usize } else { 0 };
        let pins = pins[i] as usize;
        if a.refcount as usize != own + descendants + pins {
            bad.push(format!(
                "AV{x}: refcount {} but tree reference {own} + live descendants {descendants} + KSM rmap_items {pins}",
                a.refcount
            ));
        }
    }
    report(bad)
}

/// I7: `num_active_vmas` (v6.18), or `degree` (v5.19), matches the VMAs
/// (and for `degree`, the non-empty children) that use the anon_vma.
pub fn num_active_vmas(s: &State, k: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    let mut using = [0u16; 256];
    for (_, v) in s.all_vmas() {
        if let Some(a) = v.anon_vma {
            using[a as usize] += 1;
        }
    }
    let children = if k == Kernel::V5_19 { live_children(s, &tree_nonempty(s)) } else { [0; 256] };
    for x in live_ids(s) {
        let a = &s.anon_vmas[x as usize];
        let vmas = using[x as usize] as usize;
        let c = children[x as usize] as usize;
        match k {
            k if k.is_v6() && a.num_active_vmas as usize != vmas => {
                bad.push(format!("AV{x}: num_active_vmas {} but {vmas} VMAs use it", a.num_active_vmas))
            }
            Kernel::V5_19 if a.degree as usize != vmas + c => {
                bad.push(format!("AV{x}: degree {} but {vmas} VMAs + {c} non-empty children", a.degree))
            }
            _ => {}
        }
    }
    report(bad)
}

/// I8: `num_children` counts the anon_vmas with non-empty trees whose
/// parent it is (a root with a non-empty tree counts itself). v5.19 has no
/// such counter; its `degree` is checked by I7.
pub fn num_children(s: &State, k: Kernel) -> Result<(), String> {
    if k == Kernel::V5_19 {
        return Ok(());
    }
    let mut bad = Vec::new();
    let children = live_children(s, &tree_nonempty(s));
    for x in live_ids(s) {
        let a = &s.anon_vmas[x as usize];
        let c = children[x as usize] as usize;
        if a.num_children as usize != c {
            bad.push(format!("AV{x}: num_children {} but {c} non-empty children", a.num_children));
        }
    }
    report(bad)
}

fn names(chain: &[AvId]) -> String {
    chain.iter().map(|a| format!("AV{a}")).collect::<Vec<_>>().join(", ")
}

/// I9: within one mm, the same `anon_vma` implies the same chain (as a set).
pub fn same_anon_vma_same_chain(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for (i, v) in mm.vmas.iter().enumerate() {
            for w in &mm.vmas[i + 1..] {
                if v.anon_vma.is_some() && v.anon_vma == w.anon_vma {
                    let (mut a, mut b) = (v.chain, w.chain);
                    a.sort_unstable();
                    b.sort_unstable();
                    if a != b {
                        bad.push(format!(
                            "P{pid}: VMAs {}..{} and {}..{} share anon_vma AV{} but their chains differ ([{}] vs [{}])",
                            v.start,
                            v.end,
                            w.start,
                            w.end,
                            v.anon_vma.unwrap_or(0),
                            names(&v.chain),
                            names(&w.chain)
                        ));
                    }
                }
            }
        }
    }
    report(bad)
}

/// I30: the parent of an anon_vma with a non-empty tree is live, so the
/// `anon_vma->parent->num_children--` in unlink_anon_vmas() is safe.
pub fn parent_live(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    let nonempty = tree_nonempty(s);
    for (i, a) in s.anon_vmas.iter().enumerate() {
        if a.freed || !nonempty[i] {
            continue;
        }
        if s.anon_vmas.get(a.parent as usize).is_none_or(|p| p.freed) {
            bad.push(format!("AV{i} has VMAs in its tree but its parent AV{} is freed", a.parent));
        }
    }
    report(bad)
}
