//! Showing rmapcheck states and traces to people and to other tools.
//!
//! The input is plain data, a [`Trace`]: the initial state, each step's
//! action with what the kernel did and the state after it, and the
//! violated invariant with the objects it names. From it this crate makes
//! - a picture of one state as Graphviz DOT ([`picture::dot`]) and SVG
//!   ([`svg::render`], through Graphviz's `dot`);
//! - one self-contained HTML page that steps through the trace
//!   ([`html::page`]);
//! - an ITF JSON trace, the Apalache/Quint format ([`itf::to_itf`]), and
//!   reads one back ([`itf::from_itf`]);
//! - a local web server to walk the state space by hand ([`explore`]).
//!
//! Nothing here searches or judges: the checker builds the [`Trace`].

#![warn(missing_docs)]

pub mod explore;
pub mod html;
pub mod itf;
pub mod marks;
pub mod picture;
pub mod svg;

use rmapcheck_model::{Kernel, State};
use serde::Serialize;

/// A sequence of states from the initial one, as the viewer shows it.
#[derive(Clone, Debug)]
pub struct Trace {
    /// One line on where the trace comes from (a scenario file, a check).
    pub title: String,
    /// The kernel variant the model followed: it decides which anon_vma
    /// counters exist (`degree` before v6.0).
    pub kernel: Kernel,
    /// The state before the first step.
    pub initial: State,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The invariant the last state violates, if any.
    pub violation: Option<Violation>,
}

/// One step of a [`Trace`].
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// The action in scenario syntax, e.g. `P1 fork`.
    pub action: String,
    /// What the kernel did, in its own words.
    pub narration: Vec<String>,
    /// The objects the step created, changed or freed, one per line.
    pub changed: Vec<String>,
    /// The state after the step.
    #[serde(skip)]
    pub state: State,
}

/// A violated invariant.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// Invariant name, e.g. `same_anon_vma_same_chain`.
    pub invariant: String,
    /// Its one-line description.
    pub description: String,
    /// What the invariant reported: the objects that break it.
    pub objects: String,
}

/// Escapes text for HTML and for Graphviz HTML-like labels.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Trace {
    /// The state after `i` steps (0 is the initial state).
    pub fn state(&self, i: usize) -> &State {
        if i == 0 {
            &self.initial
        } else {
            &self.steps[i - 1].state
        }
    }
}
