//! Seeded uniform random walks: stateright's simulation checker over the
//! [`Adapter`], for depths BFS cannot reach.

use super::adapter::{drive, Adapter};
use crate::explore::Explorer;
use crate::strategy::{Limits, Outcome, Progress, Strategy};
use stateright::UniformChooser;

/// stateright's seeded random simulation.
pub struct Simulate;

impl Strategy for Simulate {
    fn name(&self) -> &'static str {
        "simulate"
    }
    fn about(&self) -> &'static str {
        "stateright's seeded random simulation: uniform random walks, for depths BFS cannot reach"
    }
    fn exhaustive(&self) -> bool {
        false
    }
    fn continues(&self) -> bool {
        true
    }
    fn needs_time_limit(&self) -> bool {
        true
    }
    fn caveat(&self) -> Option<&'static str> {
        Some("in a random search, which never exhausts the state space")
    }
    fn run(&self, ex: &Explorer, limits: &Limits, progress: Progress) -> Outcome {
        let checker = Adapter(ex.clone()).builder(limits).spawn_simulation(limits.seed, UniformChooser);
        drive(ex, checker, limits, false, progress)
    }
}
