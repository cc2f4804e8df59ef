//! Depth-first search: stateright's DFS checker over the model adapter (`adapter.rs`).
//! Exhaustive with less memory than BFS; its counterexamples are long.

use super::adapter::{drive, Adapter};
use crate::explore::Explorer;
use crate::strategy::{Limits, Outcome, Progress, Strategy, Traits};

/// stateright's DFS.
pub struct Dfs;

impl Strategy for Dfs {
    fn traits(&self) -> Traits {
        Traits::exhaustive("dfs", "stateright's depth-first search: exhaustive, less memory, long counterexamples")
    }
    fn run(&self, ex: &Explorer, limits: &Limits, progress: Progress) -> Outcome {
        let checker = Adapter(ex.clone()).builder(limits).spawn_dfs();
        drive(ex, checker, limits, true, progress)
    }
}
