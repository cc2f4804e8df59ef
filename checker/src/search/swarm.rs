//! Swarm random testing: many seeded random walks, each with its own random
//! mix of action kinds (some switched off, the rest weighted), in the
//! manner of Groce et al., "Swarm Testing" (ISSTA 2012). A uniform walk
//! almost never strings together the long, specific histories that deep
//! rmap bugs need; a walk that happens to favour, say, fork and exit and
//! never mmaps again gets much further along one such history. A violation
//! is then shrunk by dropping actions while the same invariant still fails.

use crate::explore::Explorer;
use crate::strategy::{Findings, Limits, Outcome, Progress, Stop, Strategy, Traits};
use rmapcheck_model::rng::SplitMix64;
use rmapcheck_model::ActionKind;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Swarm testing.
pub struct Swarm;

impl Strategy for Swarm {
    fn traits(&self) -> Traits {
        Traits::sampling(
            "swarm",
            "swarm testing: seeded random walks, each with its own random mix of action kinds; violations shrunk",
        )
    }
    fn run(&self, ex: &Explorer, limits: &Limits, _: Progress) -> Outcome {
        search(ex, limits)
    }
}

/// Runs walks on every thread until the time limit, the first violation,
/// or with `--continue` a violation of every invariant. Walk `i` of thread
/// `t` is fully determined by (seed, t, i).
fn search(ex: &Explorer, limits: &Limits) -> Outcome {
    let states = AtomicUsize::new(0);
    let walks = AtomicUsize::new(0);
    let depth = AtomicUsize::new(0);
    let findings = Findings::new(ex, limits);
    std::thread::scope(|sc| {
        for t in 0..limits.threads.max(1) {
            let (states, walks, depth, findings) = (&states, &walks, &depth, &findings);
            sc.spawn(move || {
                let mut i = 0u64;
                while !findings.done() && !limits.past_deadline() {
                    let mut rng = SplitMix64(limits.seed ^ (t as u64) << 48 ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
                    i += 1;
                    let n = walk(ex, &mut rng, limits, findings);
                    states.fetch_add(n, Relaxed);
                    walks.fetch_add(1, Relaxed);
                    depth.fetch_max(n, Relaxed);
                }
            });
        }
    });
    Outcome {
        states: states.into_inner(),
        unique: 0,
        max_depth: depth.into_inner(),
        stop: findings.stop().unwrap_or(Stop::TimeLimit(limits.time_limit.unwrap_or_default())),
        found: findings.into_found(ex),
        walks: Some(walks.into_inner()),
        corpus: None,
        storage: None,
    }
}

/// One walk with its own action-kind weights. A violation is recorded in
/// `findings` and ends the walk (with `--continue`, only once the findings
/// are complete). Returns the number of steps.
fn walk(ex: &Explorer, rng: &mut SplitMix64, limits: &Limits, findings: &Findings) -> usize {
    // Each enabled kind is kept with probability 3/4 and weighted 1..=8;
    // mmap is always kept so that something can happen.
    let mut weight = [0u64; ActionKind::ALL.len()];
    for &(k, _, _) in ActionKind::ALL {
        if ex.cfg.actions.contains(k) && (k == ActionKind::Mmap || rng.below(4) != 0) {
            weight[k as usize] = 1 + rng.below(8);
        }
    }
    let mut s = ex.init();
    let mut trace = Vec::new();
    let mut actions = Vec::new();
    for _ in 0..limits.walk_depth() {
        actions.clear();
        ex.actions(&s, &mut actions);
        let total: u64 = actions.iter().map(|a| weight[a.kind() as usize]).sum();
        if total == 0 {
            break;
        }
        let mut pick = rng.below(total);
        let a = *actions
            .iter()
            .find(|a| {
                let w = weight[a.kind() as usize];
                if pick < w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .expect("a pick below the total weight lands on an action");
        let Some((next, _)) = ex.step(&s, a) else { break };
        s = next;
        trace.push(a);
        if let Some(inv) = ex.violated(&s) {
            findings.record(ex, &trace, &s, inv, true);
            if findings.done() || !limits.keep_going {
                break;
            }
        }
    }
    trace.len()
}
