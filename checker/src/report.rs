//! The machine-readable report of a run (`--json FILE`).

use crate::trace::TraceStep;
use serde::Serialize;

/// A whole `rmapcheck check` run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// rmapcheck version.
    pub version: &'static str,
    /// What was checked and how.
    pub config: ConfigEcho,
    /// `holds`, `holds within bounds`, or `violated`.
    pub outcome: String,
    /// Whether every reachable state was visited.
    pub complete: bool,
    /// Why the search stopped before exhausting the space, if it did.
    pub stopped_by: Option<String>,
    /// States generated, repeats included.
    pub states: usize,
    /// Distinct states (not tracked by `swarm`, which reports walks).
    pub unique_states: usize,
    /// Random walks run (`swarm` and `guided` only).
    pub walks: Option<usize>,
    /// `guided` only: states kept in the corpus and distinct structural
    /// features seen.
    pub corpus: Option<(usize, usize)>,
    /// Length of the first violating trace before it was shrunk (`swarm`
    /// and `guided`; BFS traces are already shortest).
    pub unshrunk_len: Option<usize>,
    /// Deepest level reached.
    pub max_depth: usize,
    /// Wall-clock seconds.
    pub elapsed_secs: f64,
    /// States generated per second.
    pub states_per_sec: f64,
    /// Peak resident memory of the process in KiB (VmHWM).
    pub peak_rss_kib: u64,
    /// What the stored states took (`bfs`).
    pub storage: Option<crate::strategy::Storage>,
    /// One verdict per checked invariant.
    pub invariants: Vec<Verdict>,
    /// One counterexample per violated invariant.
    pub counterexamples: Vec<Counterexample>,
    /// Transitions per action kind and kernel branch.
    pub coverage: CoverageReport,
}

/// The resolved settings of the run.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigEcho {
    /// Kernel variant.
    pub kernel: String,
    /// Process bound.
    pub procs: u8,
    /// Address window.
    pub pages: u8,
    /// Values.
    pub values: u8,
    /// Swap slots in use at once.
    pub swap_slots: u8,
    /// Memory budget of the BFS in MiB (given, or 3/4 of RAM).
    pub max_memory_mib: Option<u64>,
    /// Action kinds.
    pub actions: Vec<&'static str>,
    /// Strategy.
    pub strategy: String,
    /// Threads.
    pub threads: usize,
    /// Depth bound.
    pub max_depth: Option<usize>,
    /// Time limit in seconds.
    pub time_limit_secs: Option<u64>,
    /// Largest novelty width (`novelty` strategy only).
    pub width: Option<usize>,
    /// Seed (simulate).
    pub seed: u64,
    /// Id mode.
    pub ids: String,
    /// Symmetry reduction.
    pub symmetry: bool,
    /// Mutant, if any.
    pub mutant: Option<&'static str>,
    /// This process's share of a sharded run, `I/N`.
    pub shard: Option<String>,
}

/// The verdict for one invariant.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// Invariant name.
    pub name: &'static str,
    /// Its I-number.
    pub id: &'static str,
    /// `holds`, `holds within bounds`, `violated`, or `not established (search stopped at the first violation)`.
    pub verdict: String,
}

/// A counterexample.
#[derive(Clone, Debug, Serialize)]
pub struct Counterexample {
    /// The violated invariant.
    pub invariant: &'static str,
    /// The objects that violate it in the last state.
    pub violation: String,
    /// The steps from the initial state.
    pub steps: Vec<TraceStep>,
    /// The same trace as a scenario file.
    pub scenario: String,
    /// The trace's length before it was shrunk (strategies whose traces
    /// are not shortest).
    pub unshrunk_len: Option<usize>,
}

/// Coverage counters.
#[derive(Clone, Debug, Serialize)]
pub struct CoverageReport {
    /// Transitions per action kind.
    pub actions: Vec<(String, u64)>,
    /// Transitions per kernel branch.
    pub branches: Vec<(String, u64)>,
}

/// Peak resident set size of this process in KiB, from /proc/self/status.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Current resident set size of this process in KiB (/proc/self/statm).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4)
}

/// The memory a search may use before it stops: three quarters of the
/// machine's RAM (MemTotal), so that a too-large bound ends with a report
/// instead of the kernel's OOM killer.
pub fn memory_budget_kib() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total: u64 = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(total / 4 * 3)
}
