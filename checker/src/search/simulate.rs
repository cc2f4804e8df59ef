//! Seeded uniform random walks, for depths BFS cannot reach: each step
//! picks one of the enabled actions with equal probability. Walk `i` is
//! determined by the seed and `i`, and walks are committed in order
//! (`walks.rs`), so a seed gives the same counts and the same
//! counterexample whatever the thread count.

use super::walks::{search, walk, walk_rng};
use crate::explore::Explorer;
use crate::strategy::{Limits, Outcome, Progress, Strategy, Traits};

/// Seeded uniform random simulation.
pub struct Simulate;

impl Strategy for Simulate {
    fn traits(&self) -> Traits {
        Traits::sampling(
            "simulate",
            "seeded uniform random walks, for depths BFS cannot reach; the seed determines the run whatever the threads",
        )
    }
    fn run(&self, ex: &Explorer, limits: &Limits, _: Progress) -> Outcome {
        search(ex, limits, |i, stop| {
            let mut rng = walk_rng(limits.seed, i);
            walk(
                ex,
                limits,
                |actions| (!actions.is_empty()).then(|| actions[rng.below(actions.len() as u64) as usize]),
                stop,
            )
        })
    }
}
