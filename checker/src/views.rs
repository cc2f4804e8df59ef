//! `--html FILE` and `--itf FILE`: a scenario (a counterexample is one)
//! replayed into the plain trace the viewer crate draws.

use crate::run::scenario_config;
use crate::trace::replay;
use rmapcheck_invariants::{first_violation, Invariant};
use rmapcheck_model::{Scenario, State};
use rmapcheck_view::{html, itf, svg, Step, Trace, Violation};

/// Where to write the views; both optional.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// The HTML viewer page.
    pub html: Option<String>,
    /// The ITF JSON trace.
    pub itf: Option<String>,
}

impl Outputs {
    /// Whether anything is to be written.
    pub fn any(&self) -> bool {
        self.html.is_some() || self.itf.is_some()
    }

    /// Fails early, before a long search, when the page cannot be drawn.
    pub fn check_tools(&self) -> Result<(), String> {
        if self.html.is_some() {
            svg::render("digraph { }")?;
        }
        Ok(())
    }

    /// Writes the requested files for `trace`.
    pub fn write(&self, trace: &Trace) -> Result<(), String> {
        if let Some(path) = &self.html {
            let page = html::page(trace)?;
            std::fs::write(path, page).map_err(|e| format!("cannot write {path}: {e}"))?;
            println!("trace viewer written to {path} (open it in a browser; keys: Left/Right, Home/End)");
        }
        if let Some(path) = &self.itf {
            let doc = itf::to_itf(trace)?;
            let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
            std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?;
            println!("ITF trace written to {path}");
        }
        Ok(())
    }
}

/// Replays `sc`, checking `invariants` after every step; the trace stops
/// at the first violation, as `rmapcheck run` does.
pub fn trace_of(sc: &Scenario, title: &str, invariants: &[&'static Invariant]) -> Result<Trace, String> {
    let cfg = scenario_config(sc);
    let actions: Vec<_> = sc.steps.iter().map(|s| s.action).collect();
    let t = replay(&cfg, &actions)?;
    let mut steps = Vec::new();
    let mut violation = None;
    for (st, state) in t.steps.into_iter().zip(t.states) {
        let v = first_violation(invariants, &state, cfg.kernel);
        steps.push(Step { action: st.action, narration: st.narration, changed: st.changed, state });
        if let Some((inv, objects)) = v {
            violation =
                Some(Violation { invariant: inv.name.to_string(), description: inv.description.to_string(), objects });
            break;
        }
    }
    Ok(Trace { title: title.to_string(), kernel: cfg.kernel, initial: State::new(cfg.pages, false), steps, violation })
}
