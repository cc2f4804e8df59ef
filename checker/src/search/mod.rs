//! The search strategies, one file each, all driving the model through the
//! [`crate::explore::Explorer`] and implementing
//! [`crate::strategy::Strategy`]. Adding a strategy is one file here and
//! one line in [`STRATEGIES`].

mod adapter;
pub mod bfs;
pub mod dfs;
pub mod guided;
pub mod novelty;
pub mod simulate;
pub mod swarm;
pub mod walks;

use crate::strategy::Strategy;

/// Every strategy, in the order `rmapcheck list` shows them.
pub static STRATEGIES: &[&dyn Strategy] =
    &[&bfs::Bfs, &dfs::Dfs, &simulate::Simulate, &swarm::Swarm, &guided::Guided, &novelty::Novelty];

/// The strategy named `name`.
pub fn find(name: &str) -> Result<&'static dyn Strategy, String> {
    STRATEGIES.iter().copied().find(|s| s.name() == name).ok_or_else(|| {
        let names: Vec<_> = STRATEGIES.iter().map(|s| s.name()).collect();
        format!("unknown strategy '{name}' (known: {})", names.join(", "))
    })
}
