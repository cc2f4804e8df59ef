//! `rmapcheck run`: execute scenario files step by step in the model.

use crate::explore::Explorer;
use crate::trace::{render_steps, TraceStep};
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::assert::{changed, objects, Assert};
use rmapcheck_model::display::{diff, render};
use rmapcheck_model::input::printable;
use rmapcheck_model::{Action, Expect, Scenario, State};
use std::ops::ControlFlow;

/// What running one scenario gave.
#[derive(Debug)]
pub struct RunResult {
    /// The verdict reached.
    pub verdict: Expect,
    /// Whether it matches the header (and every stated read value).
    pub passed: bool,
    /// A stated read value that did not match, as `file:line: ...`.
    pub read_mismatch: Option<String>,
    /// An `assert` line that did not hold, as `file:line: ...`.
    pub assert_mismatch: Option<String>,
    /// The printed run: every step with its changes, the verdict.
    pub output: String,
    /// The state after the last executed step.
    pub last: State,
}

/// Parses and runs a scenario file's text. `Err` is a malformed or
/// impossible scenario, as `file:line: what is wrong`.
pub fn run_text(text: &str, file: &str, full_states: bool) -> Result<RunResult, String> {
    let sc = Scenario::parse(text, file)?;
    run_scenario(&sc, file, full_states)
}

/// Runs a parsed scenario, checking every invariant after every step.
pub fn run_scenario(sc: &Scenario, file: &str, full_states: bool) -> Result<RunResult, String> {
    if let Expect::Violates { invariant, .. } = &sc.expect {
        if rmapcheck_invariants::find(invariant).is_none() {
            return Err(format!(
                "{file}:1: expect names unknown invariant '{}' (see 'rmapcheck list')",
                printable(invariant)
            ));
        }
    }
    let ex = Explorer::new(sc.config(), &[]);
    let kernel = ex.cfg.kernel;
    let mutant = sc.mutant.map_or(String::new(), |m| format!(", mutant {}", m.name()));
    let mut out = format!("== {file} (kernel {}{mutant}, expect {})\n", sc.kernel, sc.expect);
    let mut verdict = Expect::Holds;
    let mut read_mismatch = None;
    let mut assert_mismatch = None;
    let actions: Vec<Action> = sc.steps.iter().map(|st| st.action).collect();
    let last = ex
        .replay(&actions, true, false, |r| {
            let st = &sc.steps[r.index];
            let shown = TraceStep {
                action: st.action.to_string(),
                narration: r.log,
                changed: if full_states { Vec::new() } else { diff(r.before, r.after, kernel) },
            };
            out.push_str(&render_steps(std::slice::from_ref(&shown), r.index + 1));
            if full_states {
                for line in render(r.after, kernel).lines() {
                    out.push_str(&format!("       {line}\n"));
                }
            }
            if let (Some(want), Action::Read { pid, page }) = (st.reads, st.action) {
                let got = r.after.reads(pid as usize, page);
                if got != want {
                    let m = format!("{file}:{}: {} returned {got}, the scenario says {want}", st.line, st.action);
                    out.push_str(&format!("  read mismatch: {m}\n"));
                    read_mismatch = Some(m);
                    return ControlFlow::Break(());
                }
            }
            for a in &st.asserts {
                if let Err(why) = a.check(r.after) {
                    let m = format!("{file}:{}: after step {}: {why}", a.line, r.index + 1);
                    out.push_str(&format!("  assert failed: {m}\n"));
                    assert_mismatch = Some(m);
                    return ControlFlow::Break(());
                }
            }
            if let Some(i) = ex.violated(r.after) {
                let why = ex.check(i, r.after).err().unwrap_or_default();
                let name = INVARIANTS[i].name;
                out.push_str(&format!("  VIOLATION of {name} after step {}: {why}\n", r.index + 1));
                verdict = Expect::Violates { invariant: name.to_string(), at: Some(r.index + 1) };
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
        .map_err(|(i, e)| format!("{file}:{}: {}: {e}", sc.steps[i].line, sc.steps[i].action))?;
    let passed = read_mismatch.is_none()
        && assert_mismatch.is_none()
        && match (&sc.expect, &verdict) {
            (Expect::Holds, Expect::Holds) => true,
            (Expect::Violates { invariant: want, at: want_at }, Expect::Violates { invariant: got, at: got_at }) => {
                rmapcheck_invariants::find(want).map(|i| i.name) == Some(got.as_str())
                    && (want_at.is_none() || want_at == got_at)
            }
            _ => false,
        };
    out.push_str(&format!("  result: {verdict} -- {}\n", if passed { "as expected" } else { "NOT as expected" }));
    Ok(RunResult { verdict, passed, read_mismatch, assert_mismatch, output: out, last })
}

/// The scenario text with an `assert` line after every step for each
/// object the step created or changed, and after the last step (or the
/// expected violation) for every object, every field named, as the model
/// computes them (`rmapcheck run --annotate`): a starting point for
/// stating the expected kernel state, to be checked by hand against the
/// kernel's rules before it is kept. Every other line (comments included)
/// stays; existing `assert` lines are replaced. `Err` is a malformed
/// scenario or a step the model refuses.
pub fn annotate(text: &str, file: &str) -> Result<String, String> {
    let sc = Scenario::parse(text, file)?;
    let ex = Explorer::new(sc.config(), &[]);
    let mut after_line: Vec<Vec<String>> = vec![Vec::new(); text.lines().count() + 1];
    let actions: Vec<Action> = sc.steps.iter().map(|st| st.action).collect();
    ex.replay(&actions, false, false, |r| {
        // `run` stops at the first violation; so does the annotation. Its
        // last step states the whole state, like herd7's final condition,
        // so that an object a step should have left alone is checked too.
        let last = ex.violated(r.after).is_some() || r.index + 1 == actions.len();
        let objs = if last { objects(r.after) } else { changed(r.before, r.after) };
        let asserts = objs.into_iter().filter_map(|o| Assert::all(r.after, o));
        after_line[sc.steps[r.index].line] = asserts.map(|a| a.to_string()).collect();
        if last {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .map_err(|(i, e)| format!("{file}:{}: {}: {e}", sc.steps[i].line, sc.steps[i].action))?;
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("assert ") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        for a in &after_line[i + 1] {
            out.push_str(a);
            out.push('\n');
        }
    }
    Ok(out)
}
