//! `rmapcheck conform`: run scenarios step by step in the model and on the
//! live kernel, and compare the observable abstraction after every step.
//!
//! The kernel side runs in a separate single-threaded executor process
//! (`rmapcheck-exec`, see [`exec`] and [`proto`]); this module only sends it
//! actions and compares what it reports ([`observe`], [`compare`]). Random
//! scenarios and shrinking live in [`random`].

pub mod compare;
pub mod exec;
pub mod isolate;
pub mod observe;
pub mod proto;
pub mod random;

use crate::run::scenario_config;
use compare::{differences, side_by_side};
use exec::Executor;
use observe::View;
use proto::{KernelSnap, Request};
use rmapcheck_model::{step, Action, ActionKind, ActionSet, Config, Ctx, Mutant, Scenario, State};
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
/// its own zram swap device, see [`isolate`]). kswapd's `reclaim` of one
/// chosen folio and its `writeback` have no system call that does the same
/// (README, "What the model leaves out"), so scenarios with them are skipped.
pub const EXECUTOR_KINDS: [ActionKind; 10] = [
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
];

/// [`EXECUTOR_KINDS`] as a set.
pub fn executor_actions() -> ActionSet {
    let mut set = ActionSet::empty();
    EXECUTOR_KINDS.iter().for_each(|&k| set.insert(k));
    set
}

/// The first action of `sc` the executor cannot perform, if any.
pub fn unsupported(sc: &Scenario) -> Option<Action> {
    sc.steps.iter().map(|s| s.action).find(|a| !EXECUTOR_KINDS.contains(&a.kind()))
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
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Steps that matched.
    pub matched: usize,
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

/// The model configuration a scenario runs under in conformance mode: the
/// scenario's own (stable ids), optionally with a deliberately broken model
/// ([`Mutant`]) to show that conformance catches model mistakes.
pub fn config(sc: &Scenario, mutant: Option<Mutant>) -> Config {
    Config { mutant, actions: executor_actions(), ..scenario_config(sc) }
}

/// Runs `actions` on both sides under `cfg` (its window and process bound).
/// `Err` is a harness failure or a step the model refuses. A divergence
/// seen while background reclaim took anon pages somewhere on the machine
/// (`pgsteal_anon` moved) is not trusted: the run is repeated, up to
/// [`NOISY_RUNS`] times in all, and the note goes to stderr.
pub fn run_actions(ex: &mut Executor, cfg: &Config, actions: &[Action], nonce: u64) -> Result<Outcome, String> {
    let mut attempt = 1;
    loop {
        let (out, noisy) = run_once(ex, cfg, actions, nonce ^ (attempt << 1))?;
        match (&out.divergence, noisy) {
            (Some(d), Some(n)) if attempt < NOISY_RUNS => {
                eprintln!(
                    "conform: divergence at step {} while background reclaim took {n} anon pages on the machine: rerun",
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

/// One run; also how many anon pages background reclaim took meanwhile
/// (`None` when none).
fn run_once(ex: &mut Executor, cfg: &Config, actions: &[Action], nonce: u64) -> Result<(Outcome, Option<u64>), String> {
    let t0 = Instant::now();
    ex.request(&Request::Start { pages: cfg.pages, procs: cfg.procs, nonce })?;
    let base = ex.request(&Request::Snap)?.snap.map_or(0, |s| s.pgsteal_anon);
    let mut last = base;
    let mut s = State::new(cfg.pages, false);
    let mut prev_k: Option<KernelSnap> = None;
    let mut out = Outcome { matched: 0, divergence: None, secs: 0.0, last_kernel: None };
    for (i, &a) in actions.iter().enumerate() {
        let next = model_step(&s, a, cfg, i)?;
        let reply = ex.request(&Request::Act { action: a.to_string() })?;
        let snap = reply.snap.ok_or("executor sent no snapshot")?;
        last = snap.pgsteal_anon;
        let model = View::of_model(Some(&s), &next);
        let kernel = View::of_kernel(prev_k.as_ref(), &snap, reply.errno);
        let diffs = differences(&model, &kernel);
        if !diffs.is_empty() {
            out.divergence = Some(Divergence { step: i + 1, action: a, model, kernel, diffs });
            break;
        }
        out.matched += 1;
        out.last_kernel = Some(kernel);
        s = next;
        prev_k = Some(snap);
    }
    ex.request(&Request::Stop)?;
    out.secs = t0.elapsed().as_secs_f64();
    Ok((out, (last != base).then(|| last.wrapping_sub(base))))
}

/// Runs a parsed scenario on both sides (`mutant`: see [`config`]).
pub fn run_scenario(ex: &mut Executor, sc: &Scenario, mutant: Option<Mutant>, nonce: u64) -> Result<Outcome, String> {
    let actions: Vec<Action> = sc.steps.iter().map(|s| s.action).collect();
    run_actions(ex, &config(sc, mutant), &actions, nonce)
}

/// A fresh content nonce: never zero, differs between runs.
pub fn nonce(salt: u64) -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    random::splitmix(&mut (t as u64 ^ salt.rotate_left(17) ^ std::process::id() as u64)) | 1
}
