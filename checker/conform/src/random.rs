//! Random scenarios over the model's action vocabulary (drawn from
//! [`enabled_actions`], so the model accepts every step), and shrinking of
//! a diverging scenario to a minimal one.

use super::exec::Executor;
use super::{run_actions, Divergence};
use rmapcheck_model::rng::SplitMix64;
use rmapcheck_model::{
    enabled_actions, Action, ActionKind, ActionSet, Config, Expect, Kernel, Mthp, Mutant, Pte, Scenario, State, Step,
};

fn below(x: &mut SplitMix64, n: usize) -> usize {
    x.below(n as u64) as usize
}

/// One random scenario in this many draws from the file vocabulary.
pub const FILE_SHARE: usize = 3;

/// The file vocabulary's kinds, by name.
const FILE_KINDS: [&str; 5] = ["mmap_shared", "mmap_file", "madv_dontneed", "ftruncate", "fsync"];

/// Random scenario number `index` of seed `seed`: a window of 2 to 5
/// pages, up to 4 processes, 1 to 30 steps. Each step first picks an
/// action kind among the enabled ones (exit and munmap less often, so that
/// runs get long), then an action of that kind uniformly (picking among all
/// actions would let the 15 write values drown everything else). Every
/// [`FILE_SHARE`]th scenario (by number) without large folios draws from
/// the file vocabulary too (mmap of the named files and of shared
/// anonymous memory, MADV_DONTNEED, ftruncate, fsync); the others keep the
/// anonymous and KSM vocabulary and are the scenarios the same seed and
/// number gave before the file vocabulary existed.
///
/// With large folios (`mthp`) the window is 4-8 pages, every mmap range
/// is drawn (the model's own exploration maps only whole folio ranges),
/// and MADV_PAGEOUT and MADV_FREE take any range of a VMA.
pub fn random_scenario(seed: u64, index: u64, mthp: Mthp) -> Scenario {
    random_scenario_with(seed, index, mthp, false)
}

/// [`random_scenario`], with longterm R/W pins and their release drawn
/// too when `pins` (`rmapcheck conform --random N --pins`): a pin as often
/// as a write, a release half as often. Without `pins` the scenarios are
/// those [`random_scenario`] always gave.
pub fn random_scenario_with(seed: u64, index: u64, mthp: Mthp, pins: bool) -> Scenario {
    let mut x = SplitMix64(seed ^ index.wrapping_mul(0xd134_2543_de82_ef95));
    x.next();
    let files = !mthp.any() && index % FILE_SHARE as u64 == FILE_SHARE as u64 - 1;
    let pages = if mthp.any() { 4 + below(&mut x, 5) as u8 } else { 2 + below(&mut x, 4) as u8 };
    let len = 1 + below(&mut x, 30);
    let mut sc = Scenario {
        title: vec![format!("random conformance scenario: --seed {seed}, number {index}")],
        kernel: Kernel::V6_18,
        pages,
        procs: 4,
        mutant: None,
        mthp,
        use_zero_pages: false,
        expect: Expect::Holds,
        steps: Vec::new(),
    };
    // Every named file exists while drawing (a scenario that names none
    // runs without them: nothing it does can tell).
    let mut actions = super::executor_actions();
    if mthp.any() {
        // The large-folio scenarios keep the vocabulary they had before
        // UFFDIO_MOVE and PR_SET_MEMORY_MERGE, so that the large-folio
        // paths stay as frequent.
        let newer = ["uffd_move", "prctl_merge"];
        actions = ActionSet::parse_list(
            &actions.names().into_iter().filter(|n| !newer.contains(n)).collect::<Vec<_>>().join(","),
        )
        .expect("kind names");
    }
    if !files {
        actions = ActionSet::parse_list(
            &actions.names().into_iter().filter(|n| !FILE_KINDS.contains(n)).collect::<Vec<_>>().join(","),
        )
        .expect("kind names");
    }
    if pins {
        actions.insert(ActionKind::Pin);
        actions.insert(ActionKind::Unpin);
    }
    let cfg = Config { actions, files: 3, ..sc.config() };
    let mut s = State::initial(&cfg);
    let mut acts = Vec::new();
    for _ in 0..len {
        acts.clear();
        enabled_actions(&cfg, &s, &mut acts);
        // The executor pins through io_uring: R/W only.
        acts.retain(|a| !matches!(a, Action::Pin { write: false, .. }));
        if mthp.any() {
            more_ranges(&s, &mut acts);
        }
        if acts.is_empty() {
            break;
        }
        if lazyfree_mergeable(&s) || pinned_mergeable(&s) {
            // The kernel merges lazyfree pages, the model does not (README,
            // "What the model leaves out (found by conformance)").
            acts.retain(|a| !matches!(a, Action::KsmMerge { .. }));
            if acts.is_empty() {
                break;
            }
        }
        let mut kinds: Vec<_> = acts.iter().map(|a| a.kind()).collect();
        kinds.sort();
        kinds.dedup();
        // Weighted so that runs get long: exit 1, munmap 2, the rest 4;
        // madv_mergeable 8 and a ksmd merge, enabled only when equal pages
        // sit in mergeable VMAs, 16 (ksmd would merge them soon on a live
        // kernel), and writes 12 while a VMA is mergeable, so that KSM is a
        // good part of the random runs.
        let ksm = s.mms.iter().any(|m| m.alive && m.vmas.iter().any(|v| v.mergeable));
        // With large folios the weights favour what makes and cuts them
        // instead: writes (the faults that allocate them), fork, MADV_PAGEOUT
        // and MADV_FREE, and the deferred split.
        let weight = |k: ActionKind| match k {
            _ if mthp.any() => match k {
                ActionKind::Write => 10,
                ActionKind::MadvPageout | ActionKind::SplitDeferred => 6,
                ActionKind::Exit | ActionKind::MadvMergeable | ActionKind::MadvUnmergeable => 1,
                ActionKind::Munmap | ActionKind::Mprotect | ActionKind::Mremap | ActionKind::Read => 2,
                _ => 4,
            },
            ActionKind::Exit => 1,
            ActionKind::Munmap => 2,
            ActionKind::KsmMerge => 16,
            ActionKind::MadvMergeable => 8,
            ActionKind::Write if ksm => 12,
            // The file vocabulary: file mappings twice as often as
            // anonymous ones, so that file VMAs are common.
            ActionKind::MmapFile => 8,
            ActionKind::Ftruncate => 2,
            // Enabled only while a regular file has a dirty page.
            ActionKind::Fsync => 16,
            ActionKind::Unpin => 2,
            _ => 4,
        };
        let mut pick = below(&mut x, kinds.iter().map(|&k| weight(k)).sum());
        let mut kind = kinds[0];
        for &k in &kinds {
            if pick < weight(k) {
                kind = k;
                break;
            }
            pick -= weight(k);
        }
        let mut of_kind: Vec<Action> = acts.iter().copied().filter(|a| a.kind() == kind).collect();
        // 3 of 4 mmaps, and MADV_PAGEOUT/MADV_FREE calls, cover whole
        // aligned 16 kB ranges, where a fault can allocate a large folio
        // and which a large folio can be paged out or freed whole in.
        if mthp.any() && below(&mut x, 4) != 0 {
            let aligned: Vec<Action> = of_kind
                .iter()
                .copied()
                .filter(|a| match *a {
                    Action::Mmap { start, len, write, .. } => write && start % 4 == 0 && len % 4 == 0,
                    Action::MadvPageout { start, len, .. } | Action::MadvFree { start, len, .. } => {
                        start % 4 == 0 && len % 4 == 0
                    }
                    _ => false,
                })
                .collect();
            if !aligned.is_empty() {
                of_kind = aligned;
            }
        }
        // 3 of 4 writes store a value some page already holds, so
        // that equal pages (what KSM merges) are common; uniform values
        // out of 15 would rarely give ksmd anything to do.
        if kind == ActionKind::Write && below(&mut x, 4) != 0 {
            let held: Vec<u8> = s.folios.iter().filter(|f| !f.freed && f.mapcount > 0).map(|f| f.data).collect();
            let equal: Vec<Action> = of_kind
                .iter()
                .copied()
                .filter(|a| matches!(a, Action::Write { value, .. } if held.contains(value)))
                .collect();
            if !equal.is_empty() {
                of_kind = equal;
            }
        }
        // In a file scenario half the file mappings are shared and
        // writable, and half the writes go through a shared mapping when
        // there is one, so that dirty page cache (and fsync) is common.
        if kind == ActionKind::MmapFile && below(&mut x, 2) == 0 {
            of_kind.retain(|a| matches!(a, Action::MmapFile { shared: true, write: true, .. }));
        }
        if files && kind == ActionKind::Write && below(&mut x, 2) == 0 {
            let shared: Vec<Action> = of_kind
                .iter()
                .copied()
                .filter(|a| match *a {
                    Action::Write { pid, page, .. } => {
                        let m = &s.mms[pid as usize];
                        m.vma_index(page).is_some_and(|vi| m.vmas[vi].shared)
                    }
                    _ => false,
                })
                .collect();
            if !shared.is_empty() {
                of_kind = shared;
            }
        }
        let a = of_kind[below(&mut x, of_kind.len())];
        // As conformance runs it: a ksmd merge settles (super::ksm_settle).
        match super::conform_step(&cfg, &s, a, sc.steps.len(), false) {
            Ok(mut n) => s = n.swap_remove(0),
            Err(_) => break,
        }
        sc.steps.push(Step::new(sc.steps.len() + 1, a));
    }
    sc
}

/// Every mmap of a free range and every MADV_PAGEOUT and MADV_FREE of a
/// range inside one VMA, beside what enabled_actions() explores.
fn more_ranges(s: &State, acts: &mut Vec<Action>) {
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        let pid = pid as u8;
        let pages = mm.ptes.len() as u8;
        for start in 0..pages {
            for len in 1..=pages - start {
                let extra = if !mm.overlaps(start, start + len) {
                    vec![Action::Mmap { pid, start, len, write: true }, Action::Mmap { pid, start, len, write: false }]
                } else if mm.vma_index(start).is_some() && mm.vma_index(start) == mm.vma_index(start + len - 1) {
                    vec![Action::MadvPageout { pid, start, len }, Action::MadvFree { pid, start, len }]
                } else {
                    continue;
                };
                for a in extra {
                    if !acts.contains(&a) {
                        acts.push(a);
                    }
                }
            }
        }
    }
}

/// Whether some live process maps a lazyfree (MADV_FREE'd, not yet
/// redirtied) anon page in a VM_MERGEABLE VMA: ksmd on the live kernel
/// would merge it (the KSM page then stays !swapbacked), which the model
/// leaves out, so random scenarios draw no ksmd merge then.
pub fn lazyfree_mergeable(s: &State) -> bool {
    s.mms.iter().filter(|m| m.alive).any(|m| {
        m.ptes.iter().enumerate().any(|(p, pte)| match *pte {
            Pte::Present { folio, .. } => {
                let f = &s.folios[folio as usize];
                !f.swapbacked && f.mapping.is_anon() && m.vma_index(p as u8).is_some_and(|vi| m.vmas[vi].mergeable)
            }
            _ => false,
        })
    })
}

/// Whether some live process maps a pinned page in a VM_MERGEABLE VMA.
/// ksmd on the live kernel may then pair an equal page with it in
/// try_to_merge_two_pages(): the first page becomes a KSM page, the
/// pinned one refuses (write_protect_page()), and break_cow() gives the
/// first a new frame. The model leaves failed merges out (README, "What
/// the model leaves out"), so random scenarios draw no ksmd merge then.
/// (Seen once the workers' own memory stopped being mergeable, which had
/// paired with the pinned page first: docs/conformance.md §4, "Counters".)
pub fn pinned_mergeable(s: &State) -> bool {
    s.mms.iter().filter(|m| m.alive).any(|m| {
        m.ptes.iter().enumerate().any(|(p, pte)| match *pte {
            Pte::Present { folio, .. } => {
                s.folios[folio as usize].pincount > 0 && m.vma_index(p as u8).is_some_and(|vi| m.vmas[vi].mergeable)
            }
            _ => false,
        })
    })
}

/// Whether the model accepts every action in order, as conformance runs
/// them (a ksmd merge settles, see [`super::ksm_settle`]).
pub fn model_accepts(cfg: &Config, actions: &[Action]) -> bool {
    let mut s = State::initial(cfg);
    let mut settled = false;
    for (i, &a) in actions.iter().enumerate() {
        match super::conform_step(cfg, &s, a, i, settled) {
            Ok(mut n) => s = n.swap_remove(0),
            Err(_) => return false,
        }
        settled |= matches!(a, Action::KsmMerge { .. });
    }
    true
}

/// Shrinks a diverging scenario: cut everything after the diverging step,
/// then drop single actions (last first) while the model still accepts the
/// rest and the kernel still diverges, until nothing more can go. Returns
/// the minimal scenario and its divergence.
pub fn shrink(
    ex: &mut Executor,
    sc: &Scenario,
    mutant: Option<Mutant>,
    first: Divergence,
    mut nonce: impl FnMut() -> u64,
) -> Result<(Scenario, Divergence), String> {
    let cfg = super::config(sc, mutant);
    let mut acts: Vec<Action> = sc.steps.iter().map(|s| s.action).take(first.step).collect();
    let mut best = first;
    loop {
        let mut changed = false;
        for i in (0..acts.len()).rev() {
            let mut cand = acts.clone();
            cand.remove(i);
            if cand.is_empty() || !model_accepts(&cfg, &cand) {
                continue;
            }
            if let Some(d) = run_actions(ex, &cfg, &cand, nonce())?.divergence {
                cand.truncate(d.step);
                acts = cand;
                best = d;
                changed = true;
                break;
            }
        }
        if !changed {
            break;
        }
    }
    let mut out = sc.clone();
    if let Some(m) = mutant {
        out.title.push(format!("found with the model deliberately broken: --mutant {}", m.name()));
    }
    out.title.push(format!("shrunk to {} steps; diverges at step {}: {}", acts.len(), best.step, best.action));
    for d in &best.diffs {
        out.title.push(format!("  {d}"));
    }
    out.steps = acts.iter().enumerate().map(|(i, &a)| Step::new(i + 1, a)).collect();
    Ok((out, best))
}
