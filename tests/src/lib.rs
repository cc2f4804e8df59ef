//! Helpers shared by the workspace tests.

pub mod browser;

use rmapcheck::check::run_check;
use rmapcheck::run::run_text;
use rmapcheck::settings::Settings;
use rmapcheck_model::{step, Action, Config, Ctx, Ids, Kernel, State};

/// A configuration with stable ids (ids are allocation order, never
/// renumbered), so tests can name objects: the first anon_vma is AV0.
pub fn cfg(kernel: Kernel, pages: u8) -> Config {
    Config { kernel, pages, procs: 8, values: 15, ids: Ids::Stable, symmetry: false, ..Config::default() }
}

/// Runs a script of actions (one per line, scenario syntax) from the
/// initial state; panics on an action that cannot run.
pub fn exec(cfg: &Config, script: &str) -> State {
    let mut s = State::new(cfg.pages, cfg.symmetry);
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        s = apply(cfg, &s, line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    s
}

/// Applies one action given in scenario syntax.
pub fn apply(cfg: &Config, s: &State, action: &str) -> Result<State, String> {
    let a = Action::parse(action)?;
    step(s, a, &mut Ctx::new(cfg, false))
}

/// Checks the built-in configuration `config`, overlaid with `over` and
/// `mutant`: the first counterexample violates `inv` in `len` steps; its
/// scenario file names the mutant, so it replays to the same violation,
/// and without that header (on the correct model) it does not.
pub fn mutant_caught(config: &str, over: Settings, mutant: &str, inv: &str, len: usize) {
    let over = Settings { mutant: Some(mutant.into()), ..over };
    let r = run_check(&Settings::load(config).unwrap().overlay(over).resolve().unwrap(), false, None);
    assert_eq!(r.outcome, "violated", "{mutant}");
    let cx = &r.counterexamples[0];
    assert_eq!((cx.invariant, cx.steps.len()), (inv, len), "{mutant}: {:?}", cx.steps);
    let replay = run_text(&cx.scenario, "cx", false).unwrap();
    assert!(replay.passed, "{mutant}: {}", replay.output);
    let correct: String = cx.scenario.lines().filter(|l| !l.starts_with("mutant:")).map(|l| format!("{l}\n")).collect();
    let replay = run_text(&correct, "cx", false).unwrap();
    assert!(!replay.passed, "{mutant}: the correct model must not violate {inv}");
}

/// Asserts that the check took every one of `branches` at least once
/// (`--coverage`'s per-branch counts).
pub fn covered(r: &rmapcheck::report::Report, branches: &[&str]) {
    for b in branches {
        assert!(r.coverage.branches.iter().any(|(n, c)| n == b && *c > 0), "{b} never taken");
    }
}

/// The anon_vma of VMA `vi` of process `pid`.
pub fn av_of(s: &State, pid: usize, vi: usize) -> u8 {
    s.mms[pid].vmas[vi].anon_vma.expect("faulted VMA")
}
