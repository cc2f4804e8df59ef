//! `rmapcheck conform`: run scenarios step by step in the model and on the
//! live kernel, and compare the observable abstraction after every step.
//!
//! This library is the host side, and changes no machine setting. The
//! kernel side runs in a separate single-threaded executor process, the
//! `rmapcheck-exec` binary of this crate (`src/bin/rmapcheck-exec/`: worker
//! protocol, process lifecycle, system call dispatch, ksmd waits, /proc
//! snapshots, and the machine isolation it sets up and restores); this
//! library starts it ([`exec`]), sends it actions ([`proto`]) and compares
//! what it reports with the model ([`observe`], [`compare`]). Random
//! scenarios and shrinking live in [`random`], the command itself in
//! [`command`]. How and why: `docs/conformance.md`.

#![warn(missing_docs)]

pub mod command;
pub mod compare;
pub mod exec;
pub mod observe;
pub mod proto;
pub mod random;

use compare::{differences, side_by_side};
use exec::Executor;
use observe::View;
use proto::{KernelSnap, KsmWait, Request};
use rmapcheck_model::rng::SplitMix64;
use rmapcheck_model::{
    enabled_actions, step, Action, ActionKind, ActionSet, Config, Ctx, Mapping, Mutant, Pte, Scenario, State,
};
use std::collections::BTreeSet;
use std::time::Instant;

/// Why conformance cannot run on this machine, or `None` when it can:
/// PFNs in pagemap and `/proc/kpage*` need root (CAP_SYS_ADMIN).
pub fn cannot_run() -> Option<String> {
    // SAFETY: plain system call without arguments.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Some(format!(
            "not running as root (euid {euid}): pagemap hides PFNs and /proc/kpageflags is unreadable without CAP_SYS_ADMIN"
        ));
    }
    for f in ["/proc/kpageflags", "/proc/kpagecount"] {
        if let Err(e) = std::fs::File::open(f) {
            return Some(format!("cannot read {f} ({e}): the kernel needs CONFIG_PROC_PAGE_MONITOR"));
        }
    }
    if !std::path::Path::new("/sys/class/zram-control/hot_add").exists()
        && !std::path::Path::new("/sys/block/zram0").exists()
    {
        return Some("no zram device for the executor's swap (CONFIG_ZRAM, or modprobe zram)".into());
    }
    None
}

/// The action kinds the executor performs (MADV_PAGEOUT and MADV_FREE on
/// its own zram swap device; KSM with ksmd paused between
/// steps, see [`ksm_settle`]; the deferred split shrinker through
/// drop_caches). kswapd's `reclaim` of one chosen folio and
/// its `writeback` have no system call that does the same (README, "What
/// the model leaves out"), so scenarios with them are skipped.
pub const EXECUTOR_KINDS: [ActionKind; 22] = [
    ActionKind::Mmap,
    ActionKind::Read,
    ActionKind::Write,
    ActionKind::Fork,
    ActionKind::Munmap,
    ActionKind::Exit,
    ActionKind::Mprotect,
    ActionKind::Mremap,
    ActionKind::MadvPageout,
    ActionKind::MadvFree,
    ActionKind::MadvMergeable,
    ActionKind::MadvUnmergeable,
    ActionKind::KsmMerge,
    ActionKind::KsmDrop,
    ActionKind::MmapShared,
    ActionKind::MmapFile,
    ActionKind::MadvDontneed,
    ActionKind::Ftruncate,
    ActionKind::Fsync,
    ActionKind::SplitDeferred,
    ActionKind::UffdMove,
    ActionKind::PrctlMerge,
];

/// [`EXECUTOR_KINDS`] as a set.
pub fn executor_actions() -> ActionSet {
    let mut set = ActionSet::empty();
    EXECUTOR_KINDS.iter().for_each(|&k| set.insert(k));
    set
}

/// The first action of `sc` the executor cannot perform, if any.
pub fn unsupported(sc: &Scenario) -> Option<Action> {
    sc.steps.iter().map(|s| s.action).find(|a| !EXECUTOR_KINDS.contains(&a.kind()) && !live_pin(*a))
}

/// A pin action the executor performs: an R/W pin (an io_uring fixed
/// buffer) or a release. An R/O longterm pin has no user-space route on
/// this kernel (docs/kernel/gup-pins.md): scenarios with one are model-only.
pub fn live_pin(a: Action) -> bool {
    matches!(a, Action::Pin { write: true, .. } | Action::Unpin { .. })
}

/// Why the executor cannot run `a` (see [`unsupported`]).
pub fn unsupported_reason(a: Action) -> &'static str {
    match a {
        Action::Pin { write: false, .. } => {
            "no user-space route to an R/O longterm pin on this kernel (io_uring pins with FOLL_WRITE, CONFIG_GUP_TEST is unset): R/O pins are model-only (docs/kernel/gup-pins.md)"
        }
        _ => "no system call reclaims one chosen folio (README, \"What the model leaves out\")",
    }
}

/// The first step at which the two sides disagree.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// 1-based step number.
    pub step: usize,
    /// The action of that step, in scenario syntax.
    pub action: Action,
    /// The model's view after the step.
    pub model: View,
    /// The kernel's view after the step.
    pub kernel: View,
    /// One line per differing item.
    pub diffs: Vec<String>,
}

impl Divergence {
    /// The report: step, action, differences and both views side by side.
    pub fn report(&self) -> String {
        let mut s = format!("divergence at step {}: {}\n", self.step, self.action);
        for d in &self.diffs {
            s.push_str(&format!("  - {d}\n"));
        }
        s.push_str(&side_by_side(&self.model, &self.kernel));
        s
    }
}

/// What running one scenario on both sides gave.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Steps that matched.
    pub matched: usize,
    /// A ksmd wait that timed out with the views still differing: the run
    /// stopped there, reported as flaky/unsettled (docs/conformance.md §4), not
    /// as a divergence. The step, and what the wait said.
    pub unsettled: Option<(usize, String, Divergence)>,
    /// ksmd waits, their total milliseconds, and the most full scans one took.
    pub ksm_waits: (usize, f64, u64),
    /// The first divergence, if any.
    pub divergence: Option<Divergence>,
    /// Wall-clock seconds for the kernel and model runs together.
    pub secs: f64,
    /// The kernel's view after the last step that matched.
    pub last_kernel: Option<View>,
}

/// A model step the scenario asks for but the model refuses: the scenario
/// is malformed for conformance (not a divergence).
fn model_step(s: &State, a: Action, cfg: &Config, i: usize) -> Result<State, String> {
    let mut ctx = Ctx::new(cfg, false);
    step(s, a, &mut ctx).map_err(|e| format!("step {} ({a}): the model refuses it: {e}", i + 1))
}

/// The system call result the model gives `a` in `s`: an errno for a call
/// it takes without effect (MADV_FREE of a file VMA is EINVAL), else 0.
pub fn model_errno(cfg: &Config, s: &State, a: Action) -> i32 {
    let mut ctx = Ctx::new(cfg, false);
    step(s, a, &mut ctx).map_or(0, |_| ctx.errno)
}

/// States a ksmd settle may branch into before conformance gives up
/// enumerating them.
pub const SETTLE_CAP: usize = 512;

/// What ksmd leaves behind when it runs until nothing more happens, from
/// `s`: every order of the ksmd merges and drops the model enables, until
/// none is enabled (ksmd merges whatever it can, in its own scan order,
/// and passes every stale rmap_item). The live executor keeps ksmd paused
/// except inside a `ksmd merge` step, where it lets ksmd run until one of
/// these states is visible and two full scans have passed; which frame
/// survives a merge depends on the kernel's scan order, so every order is
/// a candidate and the comparison takes the one that matches. The first
/// candidate follows the enumeration order. At most [`SETTLE_CAP`]
/// candidates (then the enumeration stops early).
pub fn ksm_settle(cfg: &Config, s: State) -> Vec<State> {
    let mut done: Vec<State> = Vec::new();
    let mut seen: BTreeSet<State> = BTreeSet::new();
    let mut work = vec![s];
    let mut acts = Vec::new();
    while let Some(cur) = work.pop() {
        if seen.len() > 4 * SETTLE_CAP || done.len() >= SETTLE_CAP {
            if !done.contains(&cur) {
                done.push(cur);
            }
            continue;
        }
        acts.clear();
        enabled_actions(cfg, &cur, &mut acts);
        let mut any = false;
        // Pushed in reverse: the first enabled action is explored first.
        for &a in acts.iter().filter(|a| matches!(a, Action::KsmMerge { .. } | Action::KsmDrop { .. })).rev() {
            let mut ctx = Ctx::new(cfg, false);
            if let Ok(n) = step(&cur, a, &mut ctx) {
                any = true;
                if seen.insert(n.clone()) {
                    work.push(n);
                }
            }
        }
        if !any && !done.contains(&cur) {
            done.push(cur);
        }
    }
    done
}

/// The (process, page) groups that map one KSM folio in `s`: what the
/// executor waits for after a ksmd step.
pub fn ksm_groups(s: &State) -> Vec<Vec<(u8, u8)>> {
    let mut by_folio: std::collections::BTreeMap<u32, Vec<(u8, u8)>> = Default::default();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, m)| m.alive) {
        for (p, pte) in mm.ptes.iter().enumerate() {
            if let Pte::Present { folio, .. } = *pte {
                if matches!(s.folios[folio as usize].mapping, Mapping::Ksm(_)) && mm.vma_index(p as u8).is_some() {
                    by_folio.entry(folio as u32).or_default().push((pid as u8, p as u8));
                }
            }
        }
    }
    let mut g: Vec<Vec<(u8, u8)>> = by_folio.into_values().collect();
    g.sort();
    g
}

/// Groups of (process, page) that map one KSM frame.
type Groups = Vec<Vec<(u8, u8)>>;

/// The (process, page) that map a page of a large folio in `before` and
/// not in `after`: what a ksmd step split (see [`KsmWait::split`]).
pub fn split_pages(before: &State, after: &State) -> Vec<(u8, u8)> {
    let large = |s: &State, pid: usize, p: usize| {
        s.mms.get(pid).filter(|m| m.alive).is_some_and(
            |m| matches!(m.ptes[p], Pte::Present { folio, .. } if s.folios[folio as usize].large.is_some()),
        )
    };
    let mut out = Vec::new();
    for (pid, mm) in before.mms.iter().enumerate() {
        for p in 0..mm.ptes.len() {
            if large(before, pid, p) && !large(after, pid, p) && after.mms[pid].alive {
                out.push((pid as u8, p as u8));
            }
        }
    }
    out
}

/// The model side of one conformance step: the states the kernel may be
/// in afterwards (more than one only after `ksmd merge`, see
/// [`ksm_settle`]). `settled` says whether a ksmd settle already ran in
/// this run: a later ksmd action the model now refuses was already done by
/// that settle (e.g. a scenario's `ksmd drop` or "ksm page forked"
/// append) and is absorbed as a no-op. A `ksmd drop` on its own does not
/// run ksmd (the live executor's drop is a no-op), so it is applied alone.
pub fn conform_step(cfg: &Config, s: &State, a: Action, i: usize, settled: bool) -> Result<Vec<State>, String> {
    let ksmd = matches!(a, Action::KsmMerge { .. } | Action::KsmDrop { .. });
    let next = match model_step(s, a, cfg, i) {
        Ok(n) => n,
        Err(_) if ksmd && settled => s.clone(),
        Err(e) => return Err(e),
    };
    Ok(match a {
        // The named merge first; then every other order ksmd may take
        // from the state before it (its scan order, not the scenario,
        // decides which page is scanned first and so which frame survives).
        Action::KsmMerge { .. } => {
            let mut out = ksm_settle(cfg, next);
            for n in ksm_settle(cfg, s.clone()) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            out
        }
        _ => vec![next],
    })
}

/// The model configuration a scenario runs under in conformance mode: the
/// scenario's own (stable ids), optionally with a deliberately broken model
/// ([`Mutant`]) to show that conformance catches model mistakes. A
/// scenario's own `mutant:` header is not used: the command skips such
/// scenarios, and `assert` lines are `rmapcheck run`'s (conformance
/// compares the model with the kernel after every step instead).
pub fn config(sc: &Scenario, mutant: Option<Mutant>) -> Config {
    Config { mutant, actions: executor_actions(), ..sc.config() }
}

/// Runs `actions` on both sides under `cfg` (its window and process bound).
/// `Err` is a harness failure or a step the model refuses. A divergence
/// seen while background reclaim took anon or page-cache pages somewhere
/// on the machine (`pgsteal_anon` or `pgsteal_file` moved) is not
/// trusted: the run is repeated, up to [`NOISY_RUNS`] times in all, and
/// the note goes to stderr. (Page cache: a clean, unmapped page of the
/// executor's regular file is the first thing reclaim takes when another
/// process needs memory; seen once in 6,000 random scenarios.)
pub fn run_actions(ex: &mut Executor, cfg: &Config, actions: &[Action], nonce: u64) -> Result<Outcome, String> {
    let mut attempt = 1;
    loop {
        let (out, noisy) = run_once(ex, cfg, actions, nonce ^ (attempt << 1))?;
        match (&out.divergence, noisy) {
            (Some(d), Some((anon, file))) if attempt < NOISY_RUNS => {
                eprintln!(
                    "conform: divergence at step {} while background reclaim took {anon} anon and {file} file pages on the machine: rerun",
                    d.step
                );
                attempt += 1;
            }
            _ => return Ok(out),
        }
    }
}

/// Runs in all for a divergence under background reclaim.
pub const NOISY_RUNS: u64 = 3;

/// One run; also how many anon and file pages background reclaim took
/// meanwhile (`None` when none).
fn run_once(
    ex: &mut Executor,
    cfg: &Config,
    actions: &[Action],
    nonce: u64,
) -> Result<(Outcome, Option<(u64, u64)>), String> {
    let t0 = Instant::now();
    ex.request(&Request::Start {
        pages: cfg.pages,
        procs: cfg.procs,
        nonce,
        files: cfg.files,
        mthp: cfg.mthp.0,
        use_zero_pages: cfg.use_zero_pages,
    })?;
    let base = ex.request(&Request::Snap)?.snap.map_or((0, 0), |s| (s.pgsteal_anon, s.pgsteal_file));
    let mut last = base;
    let mut s = State::initial(cfg);
    let mut prev_k: Option<KernelSnap> = None;
    let mut out = Outcome::default();
    let mut settled = false;
    // A `ksmd drop` the model took alone (the executor's is a no-op): the
    // kernel keeps that rmap_item, and so its KSM counts, until ksmd next
    // runs, in the next `ksmd merge` step (docs/conformance.md §4).
    let mut drop_pending = false;
    // A worker with MMF_VM_MERGE_ANY (prctl(PR_SET_MEMORY_MERGE)) clears
    // VM_MERGEABLE outside the window again at once (the worker's
    // unmerge_outside_window()), so its own pages do not count.
    for (i, &a) in actions.iter().enumerate() {
        match a {
            Action::KsmDrop { .. } => drop_pending = true,
            Action::KsmMerge { .. } => drop_pending = false,
            _ => {}
        }
        let cands = conform_step(cfg, &s, a, i, settled)?;
        let errno = model_errno(cfg, &s, a);
        let ksm = matches!(a, Action::KsmMerge { .. }).then(|| {
            settled = true;
            let mut alternatives: Vec<(Groups, Vec<(u8, u8)>)> =
                cands.iter().map(|n| (ksm_groups(n), split_pages(&s, n))).collect();
            alternatives.sort();
            alternatives.dedup();
            let (alternatives, split) = alternatives.into_iter().unzip();
            KsmWait { alternatives, split }
        });
        let reply = ex.request(&Request::Act { action: a.to_string(), ksm })?;
        let snap = reply.snap.ok_or("executor sent no snapshot")?;
        last = (snap.pgsteal_anon, snap.pgsteal_file);
        if let Some((ms, scans)) = reply.ksm_wait {
            out.ksm_waits.0 += 1;
            out.ksm_waits.1 += ms;
            out.ksm_waits.2 = out.ksm_waits.2.max(scans);
        }
        let kernel = View::of_kernel(prev_k.as_ref(), &snap, reply.errno);
        // The candidate that matches, else the first one.
        let mut pick = None;
        for n in &cands {
            let mut model = View { errno, ..View::of_model(Some(&s), n) };
            if drop_pending {
                model.forget_ksm_counts();
            }
            let diffs = differences(&model, &kernel);
            if diffs.is_empty() {
                pick = Some((n.clone(), model, diffs));
                break;
            }
            if pick.is_none() {
                pick = Some((n.clone(), model, diffs));
            }
        }
        let (next, model, diffs) = pick.expect("at least one candidate");
        if !diffs.is_empty() {
            let d = Divergence { step: i + 1, action: a, model, kernel, diffs };
            match reply.unsettled {
                Some(why) => out.unsettled = Some((i + 1, why, d)),
                None => out.divergence = Some(d),
            }
            break;
        }
        out.matched += 1;
        out.last_kernel = Some(kernel);
        s = next;
        prev_k = Some(snap);
    }
    ex.request(&Request::Stop)?;
    out.secs = t0.elapsed().as_secs_f64();
    Ok((out, (last != base).then(|| (last.0.wrapping_sub(base.0), last.1.wrapping_sub(base.1)))))
}

/// Runs a parsed scenario on both sides (`mutant`: see [`config`]).
pub fn run_scenario(ex: &mut Executor, sc: &Scenario, mutant: Option<Mutant>, nonce: u64) -> Result<Outcome, String> {
    let actions: Vec<Action> = sc.steps.iter().map(|s| s.action).collect();
    run_actions(ex, &config(sc, mutant), &actions, nonce)
}

/// A fresh content nonce: never zero, differs between runs.
pub fn nonce(salt: u64) -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    SplitMix64(t as u64 ^ salt.rotate_left(17) ^ std::process::id() as u64).next() | 1
}
