//! `--html FILE`, `--itf FILE` and `--dot FILE`: a scenario (a
//! counterexample is one) replayed into the plain trace the viewer crate
//! draws; and the model side of `rmapcheck explore`.

use crate::explore::Explorer;
use crate::output::{check_output_path, print, write_file};
use crate::report::Report;
use crate::trace::replay_until;
use rmapcheck_invariants::{Invariant, INVARIANTS};
use rmapcheck_model::{Action, Config, Scenario, State};
use rmapcheck_view::explore::Walk;
use rmapcheck_view::{html, itf, svg, Step, Trace, Violation};

/// Where to write the views; each is optional.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// The HTML viewer page.
    pub html: Option<String>,
    /// The ITF JSON trace.
    pub itf: Option<String>,
    /// The Graphviz DOT picture of the last state.
    pub dot: Option<String>,
}

impl Outputs {
    /// Whether anything is to be written.
    pub fn any(&self) -> bool {
        self.html.is_some() || self.itf.is_some() || self.dot.is_some()
    }

    /// Fails early, before a long search, when a path cannot be written
    /// or the page cannot be drawn.
    pub fn check(&self) -> Result<(), String> {
        for (flag, path) in [("--html", &self.html), ("--itf", &self.itf), ("--dot", &self.dot)] {
            if let Some(p) = path {
                check_output_path(flag, p)?;
            }
        }
        if self.html.is_some() {
            svg::render("digraph { }")?;
        }
        Ok(())
    }

    /// Writes the requested files for `trace`.
    pub fn write(&self, trace: &Trace) -> Result<(), String> {
        if let Some(path) = &self.html {
            write_file("--html", path, &html::page(trace)?)?;
            print(&format!("trace viewer written to {path} (open it in a browser; keys: Left/Right, Home/End)\n"))?;
        }
        if let Some(path) = &self.dot {
            write_file("--dot", path, &html::picture_dot(trace, trace.steps.len()))?;
            print(&format!("picture of the last state written to {path} (SVG: dot -Tsvg {path} > picture.svg)\n"))?;
        }
        if let Some(path) = &self.itf {
            let doc = itf::to_itf(trace)?;
            write_file("--itf", path, &serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?)?;
            print(&format!("ITF trace written to {path}\n"))?;
        }
        Ok(())
    }
}

/// Replays `sc`, checking `invariants` after every step; the trace stops
/// at the first violation, as `rmapcheck run` does.
pub fn trace_of(sc: &Scenario, title: &str, invariants: &[&'static Invariant]) -> Result<Trace, String> {
    let actions: Vec<_> = sc.steps.iter().map(|s| s.action).collect();
    assemble(&Explorer::new(sc.config(), invariants), &actions, title, true)
}

/// The trace of the first counterexample of a `check` run, if it has one.
pub fn counterexample_trace(report: &Report, config: &str) -> Option<Result<Trace, String>> {
    let cx = report.counterexamples.first()?;
    Some((|| {
        let sc = Scenario::parse(&cx.scenario, "counterexample")?;
        let inv = rmapcheck_invariants::find(cx.invariant).ok_or("internal error: unknown invariant")?;
        let title = format!("rmapcheck check --config {config}: counterexample for {}", cx.invariant);
        trace_of(&sc, &title, &[inv])
    })())
}

/// Replays `actions` through `ex` (stable ids) into a viewer trace. With
/// `stop`, the trace ends at the first state that violates one of the
/// explorer's invariants; without, only the last state is judged.
fn assemble(ex: &Explorer, actions: &[Action], title: &str, stop: bool) -> Result<Trace, String> {
    let t = replay_until(ex, actions, |s| stop && ex.violated(s).is_some())?;
    let n = t.steps.len();
    let mut steps = Vec::new();
    let mut violation = None;
    for (i, (st, state)) in t.steps.into_iter().zip(t.states).enumerate() {
        let v = if stop || i + 1 == n { violated(ex, &state) } else { None };
        steps.push(Step { action: st.action, narration: st.narration, changed: st.changed, state });
        if let Some((inv, objects)) = v {
            violation =
                Some(Violation { invariant: inv.name.to_string(), description: inv.description.to_string(), objects });
            break;
        }
    }
    Ok(Trace { title: title.to_string(), kernel: ex.cfg.kernel, initial: ex.init(), steps, violation })
}

/// The first of the explorer's invariants `s` violates, with the objects
/// that violate it.
fn violated(ex: &Explorer, s: &State) -> Option<(&'static Invariant, String)> {
    let i = ex.violated(s)?;
    Some((&INVARIANTS[i], ex.check(i, s).err()?))
}

/// `rmapcheck explore`'s model (a [`Walk`]): walks paths of enabled actions under one
/// configuration (stable ids, so objects keep their names along a path).
pub struct Walker {
    /// The model under the configuration ([`Config::for_replay`]) and the
    /// invariants judged in the last state of a path.
    pub ex: Explorer,
    /// What the page calls the configuration.
    pub title: String,
    /// A scenario's steps, taken as written: a scenario may read a mapped
    /// page, which the search never does (it changes nothing).
    pub start: Vec<Action>,
}

impl Walker {
    /// An explorer of `cfg` with `invariants` (empty: all).
    pub fn new(cfg: &Config, invariants: &[&'static Invariant], title: String) -> Self {
        Walker { ex: Explorer::new(cfg.for_replay(), invariants), title, start: Vec::new() }
    }

    fn enabled(&self, s: &State) -> Vec<Action> {
        let mut out = Vec::new();
        self.ex.actions(s, &mut out);
        out
    }
}

impl Walk for Walker {
    fn walk(&self, path: &[String]) -> Result<(Trace, Vec<String>), String> {
        let mut actions = Vec::new();
        for (i, text) in path.iter().enumerate() {
            actions.push(Action::parse(text).map_err(|e| format!("step {}: {e}", i + 1))?);
        }
        let trace = assemble(&self.ex, &actions, &self.title, false)?;
        // Only the moves the checker could make: enabled in this
        // configuration, not merely possible for the kernel functions.
        let given = actions.iter().zip(&self.start).take_while(|(a, b)| a == b).count();
        for (i, a) in actions.iter().enumerate().skip(given) {
            if !self.enabled(trace.state(i)).contains(a) {
                return Err(format!("step {}: '{a}' is not enabled in this configuration", i + 1));
            }
        }
        let next = self.enabled(trace.state(actions.len())).iter().map(Action::to_string).collect();
        Ok((trace, next))
    }
}
