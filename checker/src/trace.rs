//! Replaying an action sequence with stable ids and narration: how
//! counterexamples and scenarios are shown.

use rmapcheck_model::display::diff;
use rmapcheck_model::{step, Action, Config, Ctx, State};
use serde::Serialize;

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
}

/// Replays `actions` from the initial state. `Err` names the step that
/// could not be taken.
pub fn replay(cfg: &Config, actions: &[Action]) -> Result<Trace, String> {
    let cfg = cfg.for_replay();
    let mut s = State::new(cfg.pages, false);
    let mut steps = Vec::new();
    for (i, a) in actions.iter().enumerate() {
        let mut ctx = Ctx::new(&cfg, true);
        let next = step(&s, *a, &mut ctx).map_err(|e| format!("step {} ({a}): {e}", i + 1))?;
        steps.push(TraceStep {
            action: a.to_string(),
            narration: ctx.log.unwrap_or_default(),
            changed: diff(&s, &next, cfg.kernel),
        });
        s = next;
    }
    Ok(Trace { steps, last: s })
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
