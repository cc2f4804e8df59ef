//! Seeded uniform random walks: stateright's simulation checker over the
//! model adapter (`adapter.rs`), for depths BFS cannot reach.

use super::adapter::{drive, Adapter};
use crate::explore::Explorer;
use crate::strategy::{Limits, Outcome, Progress, Strategy, Traits};
use stateright::UniformChooser;

/// stateright's seeded random simulation.
pub struct Simulate;

impl Strategy for Simulate {
    fn traits(&self) -> Traits {
        Traits::sampling(
            "simulate",
            "stateright's seeded random simulation: uniform random walks, for depths BFS cannot reach",
        )
    }
    fn run(&self, ex: &Explorer, limits: &Limits, progress: Progress) -> Outcome {
        let checker = Adapter(ex.clone()).builder(limits).spawn_simulation(limits.seed, UniformChooser);
        drive(ex, checker, limits, false, progress)
    }
}
