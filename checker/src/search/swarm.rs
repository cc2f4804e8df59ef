//! Swarm random testing: many seeded random walks, each with its own random
//! mix of action kinds (some switched off, the rest weighted), in the
//! manner of Groce et al., "Swarm Testing" (ISSTA 2012). A uniform walk
//! almost never strings together the long, specific histories that deep
//! rmap bugs need; a walk that happens to favour, say, fork and exit and
//! never mmaps again gets much further along one such history. A violation
//! is then shrunk by dropping actions while the same invariant still fails.

use super::walks::{search, walk, walk_rng};
use crate::explore::Explorer;
use crate::strategy::{Limits, Outcome, Progress, Strategy, Traits};
use rmapcheck_model::ActionKind;

/// Swarm testing.
pub struct Swarm;

impl Strategy for Swarm {
    fn traits(&self) -> Traits {
        Traits::sampling(
            "swarm",
            "swarm testing: seeded random walks, each with its own random mix of action kinds; violations shrunk",
        )
    }
    /// Walk `i` is determined by the seed and `i` (`walks.rs`).
    fn run(&self, ex: &Explorer, limits: &Limits, _: Progress) -> Outcome {
        search(ex, limits, |i, stop| {
            let mut rng = walk_rng(limits.seed, i);
            // Each enabled kind is kept with probability 3/4 and weighted
            // 1..=8; mmap is always kept so that something can happen.
            let mut weight = [0u64; ActionKind::ALL.len()];
            for &(k, _, _) in ActionKind::ALL {
                if ex.cfg.actions.contains(k) && (k == ActionKind::Mmap || rng.below(4) != 0) {
                    weight[k as usize] = 1 + rng.below(8);
                }
            }
            let pick = |actions: &[rmapcheck_model::Action]| {
                let total: u64 = actions.iter().map(|a| weight[a.kind() as usize]).sum();
                if total == 0 {
                    return None;
                }
                let mut pick = rng.below(total);
                actions.iter().copied().find(|a| {
                    let w = weight[a.kind() as usize];
                    if pick < w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
            };
            walk(ex, limits, pick, stop)
        })
    }
}
