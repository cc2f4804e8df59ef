//! Replaying an action sequence with stable ids and narration: how
//! counterexamples and scenarios are shown.

use crate::explore::Explorer;
use rmapcheck_model::display::diff;
use rmapcheck_model::{Action, State};
use serde::Serialize;
use std::ops::ControlFlow;

/// One replayed step.
#[derive(Clone, Debug, Serialize)]
pub struct TraceStep {
    /// The action, in scenario syntax.
    pub action: String,
    /// What the kernel did, in its own words.
    pub narration: Vec<String>,
    /// The objects the step created, changed or freed.
    pub changed: Vec<String>,
}

/// A replayed sequence.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    /// The steps.
    pub steps: Vec<TraceStep>,
    /// The state after the last step.
    #[serde(skip)]
    pub last: State,
    /// The state after each step, for pictures (`--html`, `--itf`).
    #[serde(skip)]
    pub states: Vec<State>,
}

/// Replays `actions` with narration through `ex`, whose configuration
/// should keep ids stable ([`rmapcheck_model::Config::for_replay`]). `Err`
/// names the step that could not be taken.
pub fn replay(ex: &Explorer, actions: &[Action]) -> Result<Trace, String> {
    replay_until(ex, actions, |_| false)
}

/// [`replay`], stopping after the first step whose state satisfies `stop`
/// (a violation: nothing runs after it).
pub fn replay_until(ex: &Explorer, actions: &[Action], stop: impl Fn(&State) -> bool) -> Result<Trace, String> {
    let mut steps = Vec::new();
    let mut states = Vec::new();
    let last = ex
        .replay(actions, true, false, |r| {
            steps.push(TraceStep {
                action: r.action.to_string(),
                narration: r.log,
                changed: diff(r.before, r.after, ex.cfg.kernel),
            });
            states.push(r.after.clone());
            if stop(r.after) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .map_err(|(i, e)| format!("step {} ({}): {e}", i + 1, actions[i]))?;
    Ok(Trace { steps, last, states })
}

/// Prints a trace the way `check` and `run` show it.
pub fn render_steps(steps: &[TraceStep], first: usize) -> String {
    let mut out = String::new();
    for (i, st) in steps.iter().enumerate() {
        // A fork's first line names the child: `P2 fork -> P3: ...`.
        let (head, rest) = match st.narration.split_first() {
            Some((h, rest)) if h.starts_with("->") => (format!("{} {h}", st.action), rest),
            _ => (st.action.clone(), &st.narration[..]),
        };
        if rest.is_empty() {
            out.push_str(&format!("{:>3}. {head}\n", first + i));
        } else {
            out.push_str(&format!("{:>3}. {head}: {}\n", first + i, rest.join("; ")));
        }
        for c in &st.changed {
            out.push_str(&format!("       {c}\n"));
        }
    }
    out
}
