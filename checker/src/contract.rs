//! The input contract, as checks a fuzzer can call on any bytes: the
//! scenario parser and runner and the TOML configuration either refuse an
//! input with one printable line naming the file and line (what the CLI
//! prints before exiting 2), or accept it and then never panic and never
//! give a wrong verdict. `Err` is a broken contract: a fuzzer's finding.
//! The cargo-fuzz targets in `fuzz/` and the property test
//! `tests/tests/fuzz_contract.rs` call these.
//!
//! "Wrong verdict" is checked differentially: a scenario replays to the
//! same first violation, at the same step, under stable ids (how `run`
//! replays, with tombstones and compaction) and under canonical ids (how
//! the searches explore); invariants are id-free, so the two must agree.

use crate::explore::Explorer;
use crate::run::run_scenario;
use crate::settings::{Settings, MAX_DEPTH, MAX_TIME_LIMIT_SECS};
use rmapcheck_model::input::{printable, text_of};
use rmapcheck_model::{Action, Ids, Scenario};
use std::ops::ControlFlow;

/// The name inputs are given in messages.
pub const SCENARIO_FILE: &str = "fuzz.rmap";
/// The name TOML inputs are given in messages.
pub const CONFIG_FILE: &str = "fuzz.toml";

/// Checks an error message: one printable line of bounded length that,
/// when `file` is given, starts with `file:LINE: ` for a line of the input.
fn one_line(msg: &str, file: Option<&str>, lines: usize) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{why}: {msg:?}"));
    if msg.is_empty() || msg.chars().any(char::is_control) {
        return bad("an error message that is not one printable line");
    }
    if msg.split(' ').any(|w| w.chars().count() > 160) {
        return bad("an error message repeating a long word whole");
    }
    if msg.chars().count() > 500 {
        return bad("an error message longer than 500 characters");
    }
    if let Some(f) = file {
        let Some(rest) = msg.strip_prefix(&format!("{f}:")) else { return bad("an error that does not name the file") };
        let line = rest.split_once(": ").and_then(|(n, _)| n.parse::<usize>().ok());
        if !line.is_some_and(|n| n >= 1 && n <= lines.max(1)) {
            return bad("an error that does not name a line of the input");
        }
    }
    Ok(())
}

/// The scenario contract on `bytes`.
pub fn scenario(bytes: &[u8]) -> Result<(), String> {
    let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
    let text = match text_of(bytes.to_vec(), SCENARIO_FILE) {
        Ok(t) => t,
        Err(e) => return one_line(&e, Some(SCENARIO_FILE), lines),
    };
    let sc = match Scenario::parse(&text, SCENARIO_FILE) {
        Ok(sc) => sc,
        Err(e) => return one_line(&e, Some(SCENARIO_FILE), lines),
    };
    // The text form round-trips.
    let again = Scenario::parse(&sc.to_text(), SCENARIO_FILE).map_err(|e| format!("to_text does not parse: {e}"))?;
    let shape = |s: &Scenario| {
        let steps: Vec<_> = s.steps.iter().map(|st| (st.action, st.reads, st.asserts.len())).collect();
        (s.kernel, s.pages, s.procs, s.mutant, s.expect.clone(), steps)
    };
    if shape(&again) != shape(&sc) {
        return Err("a scenario and its to_text differ".into());
    }
    let r = match run_scenario(&sc, SCENARIO_FILE, false) {
        Ok(r) => r,
        Err(e) => return one_line(&e, Some(SCENARIO_FILE), lines),
    };
    // Where the stable-id run stopped: a violation, a mismatch, or the end.
    let stable = match &r.verdict {
        rmapcheck_model::Expect::Violates { invariant, at } => Some((invariant.clone(), at.unwrap_or(0))),
        rmapcheck_model::Expect::Holds => None,
    };
    let ran = stable.as_ref().map_or(
        if r.read_mismatch.is_some() || r.assert_mismatch.is_some() { None } else { Some(sc.steps.len()) },
        |(_, at)| Some(*at),
    );
    let Some(ran) = ran else { return Ok(()) };
    let canonical = Explorer::new(rmapcheck_model::Config { ids: Ids::Canonical, ..sc.config() }, &[]);
    let actions: Vec<Action> = sc.steps[..ran].iter().map(|st| st.action).collect();
    let mut found = None;
    canonical
        .replay(&actions, false, false, |st| match canonical.violated(st.after) {
            Some(i) => {
                found = Some((rmapcheck_invariants::INVARIANTS[i].name.to_string(), st.index + 1));
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        })
        .map_err(|(i, e)| format!("step {} ran with stable ids but not with canonical ones: {e}", i + 1))?;
    if found != stable {
        return Err(format!("verdicts differ: stable ids {stable:?}, canonical ids {found:?}"));
    }
    Ok(())
}

/// The configuration contract on `bytes` (a TOML file's contents).
pub fn config(bytes: &[u8]) -> Result<(), String> {
    let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
    let text = match text_of(bytes.to_vec(), CONFIG_FILE) {
        Ok(t) => t,
        Err(e) => return one_line(&e, Some(CONFIG_FILE), lines),
    };
    let settings = match Settings::from_toml(&text, CONFIG_FILE) {
        Ok(s) => s,
        Err(e) => return one_line(&e, Some(CONFIG_FILE), lines),
    };
    let plan = match Settings::load("default").expect("built-in").overlay(settings).resolve() {
        Ok(p) => p,
        // Semantic errors name no line; the CLI prints them through
        // `printable`, as here.
        Err(e) => return one_line(&printable(&e), None, lines),
    };
    // An accepted plan has bounds every strategy can use without overflow.
    if plan.time_limit.is_some_and(|t| t.as_secs() > MAX_TIME_LIMIT_SECS)
        || plan.time_limit.is_some_and(|t| std::time::Instant::now().checked_add(t).is_none())
        || plan.max_depth.is_some_and(|d| d > MAX_DEPTH)
        || !(1..=256).contains(&plan.threads)
        || plan.model.validate().is_err()
    {
        return Err("a configuration accepted with bounds out of range".into());
    }
    Ok(())
}
