//! Helpers shared by the workspace tests.

pub mod browser;

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

/// The anon_vma of VMA `vi` of process `pid`.
pub fn av_of(s: &State, pid: usize, vi: usize) -> u8 {
    s.mms[pid].vmas[vi].anon_vma.expect("faulted VMA")
}
