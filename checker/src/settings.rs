//! What a `rmapcheck check` run checks and how: built-in named
//! configurations, TOML files, and command-line overrides, merged in that
//! order.

use crate::strategy::Strategy;
use rmapcheck_model::input::{printable, read_text, MAX_CONFIG_BYTES};
use rmapcheck_model::{ActionSet, Config, Ids, Kernel, Mutant};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Everything a check run needs; each field may come from a built-in
/// configuration, a TOML file, or a flag.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Kernel variant (`v6.18`, `v5.19`).
    pub kernel: Option<String>,
    /// Maximum processes ever created.
    pub procs: Option<u8>,
    /// Pages in the address window.
    pub pages: Option<u8>,
    /// Distinct values a write may store.
    pub values: Option<u8>,
    /// Action kinds to explore.
    pub actions: Option<Vec<String>>,
    /// Invariants to check (all when absent).
    pub invariants: Option<Vec<String>>,
    /// Search strategy (a name in [`crate::search::STRATEGIES`]).
    pub strategy: Option<String>,
    /// Worker threads.
    pub threads: Option<usize>,
    /// Depth bound (actions from the initial state).
    pub max_depth: Option<usize>,
    /// Time limit in seconds.
    pub time_limit: Option<u64>,
    /// Largest novelty width of the `novelty` strategy (1-3, default 2).
    pub width: Option<usize>,
    /// Memory budget of the BFS in MiB (default: 3/4 of RAM).
    pub max_memory: Option<u64>,
    /// Seed for `simulate`.
    pub seed: Option<u64>,
    /// Canonical object ids (`canonical`) or allocation order (`compact`).
    pub ids: Option<String>,
    /// Process symmetry reduction.
    pub symmetry: Option<bool>,
    /// A deliberate model mistake.
    pub mutant: Option<String>,
    /// Swap slots in use at once.
    pub swap_slots: Option<u8>,
    /// Named files (0-3: reg, memfd, tmpfs) for the file actions.
    pub files: Option<u8>,
    /// This process's share of a sharded BFS, `I/N` (`docs/sharding.md`).
    pub shard: Option<String>,
    /// The directory the shards of a run share.
    pub exchange: Option<String>,
    /// Anonymous mTHP sizes a fault may allocate (`16k`, `8k,16k`, `none`).
    pub mthp: Option<String>,
    /// `/sys/kernel/mm/ksm/use_zero_pages`: ksmd maps zero-filled pages
    /// to the zero page (KSM zero pages).
    pub use_zero_pages: Option<bool>,
}

/// Built-in configurations: `(name, description, settings)`.
pub fn builtin(name: &str) -> Option<Settings> {
    BUILTINS.iter().find(|(n, _, _)| *n == name).map(|(_, _, f)| f())
}

/// A built-in configuration: name, description, settings.
pub type Builtin = (&'static str, &'static str, fn() -> Settings);

/// The action kinds a built-in explores, by name.
fn kinds(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|n| n.to_string()).collect())
}

/// Every action kind but MADV_FREE, which v6.18 gets wrong (README,
/// "Found in the kernel"): the default checks the kernel as it is. The
/// VMA operations (mprotect, mremap) need two pages and have their own
/// configuration, `vma`: with them the one-page default takes over 5 minutes.
fn all_but_madv_free() -> Option<Vec<String>> {
    let names = rmapcheck_model::ActionSet::all().names();
    Some(names.into_iter().filter(|n| !["madv_free", "mprotect", "mremap"].contains(n)).map(String::from).collect())
}

/// Every invariant but I12 (`ksm_rmap_complete`), which the kernel breaks
/// as soon as a page shared after fork is merged (README, "KSM"); the
/// weaker I34 (`ksm_rmap_item_reaches`) is checked instead.
fn all_but_ksm_rmap_complete() -> Vec<String> {
    rmapcheck_invariants::INVARIANTS
        .iter()
        .filter(|i| i.name != "ksm_rmap_complete")
        .map(|i| i.name.to_string())
        .collect()
}

/// Every built-in configuration.
pub const BUILTINS: [Builtin; 13] = [
    (
        "default",
        "v6.18, 4 processes, 1 page, 1 value, 2 swap slots, every action but madv_free, mprotect and mremap (reclaim and swap-in included), exhaustive BFS (about a minute on 2 cores)",
        || Settings {
            kernel: Some("v6.18".into()),
            procs: Some(4),
            pages: Some(1),
            values: Some(1),
            swap_slots: Some(2),
            actions: all_but_madv_free(),
            strategy: Some("bfs".into()),
            ..Settings::default()
        },
    ),
    (
        "vma",
        "v6.18, 2 processes, 2 pages, 1 value, no reclaim: mmap, read, write, fork, munmap, exit, mprotect, mremap (splits, merges, moves), exhaustive BFS (about 15 s)",
        || Settings {
            kernel: Some("v6.18".into()),
            procs: Some(2),
            pages: Some(2),
            values: Some(1),
            actions: kinds(&["mmap", "read", "write", "fork", "munmap", "exit", "mprotect", "mremap"]),
            strategy: Some("bfs".into()),
            ..Settings::default()
        },
    ),
    (
        "vma3",
        "v6.18, 2 processes, 3 pages, 1 value, no reclaim, no read faults: mmap, write, fork, munmap, exit, mprotect, mremap (merges of prev, range and next), every sequence of up to 10 actions (BFS, 96,219,528 states, about 13 minutes and 4.6 GiB on 2 idle cores; without the depth bound it does not finish on a 2-core, 24 GiB machine: README, State storage)",
        || Settings {
            kernel: Some("v6.18".into()),
            procs: Some(2),
            pages: Some(3),
            values: Some(1),
            actions: kinds(&["mmap", "write", "fork", "munmap", "exit", "mprotect", "mremap"]),
            strategy: Some("bfs".into()),
            max_depth: Some(10),
            ..Settings::default()
        },
    ),
    ("anon", "3 processes, 2 pages, 1 value, no reclaim: mmap, read, write, fork, munmap, exit, exhaustive BFS (about 15 s)", || {
        Settings {
            kernel: Some("v6.18".into()),
            procs: Some(3),
            pages: Some(2),
            values: Some(1),
            actions: kinds(&["mmap", "read", "write", "fork", "munmap", "exit"]),
            strategy: Some("bfs".into()),
            ..Settings::default()
        }
    }),
    (
        "lazyfree",
        "v6.18-madvfree-skips-shared (the root-cause fix of the MADV_FREE data loss), 3 processes, 1 page, every action including madv_free, exhaustive BFS (about two minutes)",
        || Settings {
            kernel: Some("v6.18-madvfree-skips-shared".into()),
            procs: Some(3),
            pages: Some(1),
            values: Some(1),
            strategy: Some("bfs".into()),
            ..Settings::default()
        },
    ),
    (
        "cve-2022-42703",
        "v5.19 (override with --kernel), 6 processes, 2 pages, 1 value, the VMA vocabulary (mmap, read, write, fork, munmap, exit, mprotect, mremap), novelty search up to width 2 and depth 14, 10-minute limit: the bounds in which CVE-2022-42703 lives",
        || Settings {
            kernel: Some("v5.19".into()),
            procs: Some(6),
            pages: Some(2),
            values: Some(1),
            actions: kinds(&["mmap", "read", "write", "fork", "munmap", "exit", "mprotect", "mremap"]),
            strategy: Some("novelty".into()),
            width: Some(2),
            max_depth: Some(14),
            time_limit: Some(600),
            ..Settings::default()
        },
    ),
    (
        "ksm",
        "v6.18, 2 processes, 2 pages, 1 value, 1 swap slot: mmap, write, fork, exit, madv_mergeable, ksmd merge and drop, kswapd reclaim and writeback (rmap_walk_ksm); every invariant but I12, exhaustive BFS (about 20 s)",
        || Settings {
            kernel: Some("v6.18".into()),
            procs: Some(2),
            pages: Some(2),
            values: Some(1),
            swap_slots: Some(1),
            actions: kinds(&[
                "mmap", "write", "fork", "exit", "madv_mergeable", "merge", "drop", "reclaim", "writeback",
            ]),
            invariants: Some(all_but_ksm_rmap_complete()),
            strategy: Some("bfs".into()),
            ..Settings::default()
        },
    ),
    (
        "deep",
        "v6.18-madvfree-skips-shared, 3 processes, 2 pages, every action, BFS for up to 10 minutes or the memory budget",
        || Settings {
            kernel: Some("v6.18-madvfree-skips-shared".into()),
            procs: Some(3),
            pages: Some(2),
            values: Some(1),
            strategy: Some("bfs".into()),
            time_limit: Some(600),
            ..Settings::default()
        },
    ),
    (
        "file",
        "v6.18, 2 processes, 1 page, 1 value, 1 swap slot, a regular file and a memfd: mmap of private anonymous memory, of shared anonymous memory and of both files (private, shared), read, write, fork, munmap, exit, mprotect, MADV_PAGEOUT, MADV_DONTNEED, ftruncate, fsync, kswapd reclaim and writeback, exhaustive BFS (about 15 seconds on 2 idle cores)",
        || Settings {
            kernel: Some("v6.18".into()),
            procs: Some(2),
            pages: Some(1),
            values: Some(1),
            swap_slots: Some(1),
            files: Some(2),
            actions: kinds(&[
                "mmap", "mmap_shared", "mmap_file", "read", "write", "fork", "munmap", "exit", "mprotect",
                "madv_pageout", "madv_dontneed", "ftruncate", "fsync", "reclaim", "writeback",
            ]),
            strategy: Some("bfs".into()),
            ..Settings::default()
        },
    ),
    // Large anonymous folios (16 kB mTHP) checked exhaustively up to a
    // depth. Two processes and a 4-page window (the smallest that holds a
    // 16 kB folio) are already too many states for a complete search in
    // minutes: the fault/fork/munmap/exit/split vocabulary alone reaches 5.4
    // million states, and swap and madvise multiply them. So the bound is
    // the depth: every sequence of up to 8 actions, which holds a fault, a
    // fork, a COW, a partial unmap and the deferred split, or a whole
    // swap-out and swap-in, with room to spare.
    (
        "mthp",
        "v6.18-madvfree-skips-shared (the root-cause fix of the MADV_FREE data loss), 16 kB mTHP, 2 processes, 4 pages, 1 value, 4 swap slots: mmap, read, write, fork, munmap, exit, madv_pageout, madv_free, split_deferred; every sequence of up to 8 actions (BFS, about 20 seconds on 2 idle cores)",
        || Settings {
            kernel: Some("v6.18-madvfree-skips-shared".into()),
            mthp: Some("16k".into()),
            procs: Some(2),
            pages: Some(4),
            values: Some(1),
            swap_slots: Some(4),
            actions: kinds(&[
                "mmap", "read", "write", "fork", "munmap", "exit", "madv_pageout", "madv_free", "split_deferred",
            ]),
            strategy: Some("bfs".into()),
            max_depth: Some(8),
            ..Settings::default()
        },
    ),
    // Longterm GUP pins (docs/kernel/gup-pins.md): R/W and R/O pins and
    // their release beside fork, COW, munmap, MADV_DONTNEED, exit and
    // kswapd's reclaim, exhaustively.
    (
        "pins",
        "v6.18, 2 processes, 1 page, 2 values, 1 swap slot: mmap, read, write, fork, munmap, exit, mprotect, MADV_DONTNEED, MADV_PAGEOUT and longterm GUP pins (R/W and R/O) and their release, exhaustive BFS (about 35 seconds on 2 shared cores)",
        || Settings {
            kernel: Some("v6.18".into()),
            procs: Some(2),
            pages: Some(1),
            values: Some(2),
            swap_slots: Some(1),
            actions: kinds(&[
                "mmap", "read", "write", "fork", "munmap", "exit", "mprotect", "madv_dontneed", "madv_pageout", "pin",
                "unpin",
            ]),
            strategy: Some("bfs".into()),
            ..Settings::default()
        },
    ),
    // UFFDIO_MOVE (docs/kernel/uffd-move.md) with what makes a page
    // movable or not: fork (shared pages: EBUSY), COW reuse (exclusive
    // again), MADV_PAGEOUT (exclusive swap entries), reads (the zero page).
    (
        "uffd",
        "v6.18, 2 processes, 3 pages, 1 value, 2 swap slots: mmap, read, write, fork, munmap, exit, madv_pageout, uffd_move; every sequence of up to 9 actions (BFS, 1,245,503 states, about 40 seconds on 2 shared cores)",
        || Settings {
            kernel: Some("v6.18".into()),
            procs: Some(2),
            pages: Some(3),
            values: Some(1),
            swap_slots: Some(2),
            actions: kinds(&["mmap", "read", "write", "fork", "munmap", "exit", "madv_pageout", "uffd_move"]),
            strategy: Some("bfs".into()),
            // Exhaustive, it does not end in 10 minutes (6.6 million
            // states at depth 11 and growing).
            max_depth: Some(9),
            ..Settings::default()
        },
    ),
    // KSM zero pages (use_zero_pages) with what creates and removes them:
    // zero-filled writes are explored only here (value 0 is a write of a
    // zero-filled page).
    (
        "ksm-zero",
        "v6.18, use_zero_pages, 2 processes, 2 pages, 1 value (and zero-filled writes), 1 swap slot: mmap, write, fork, munmap, exit, madv_mergeable, madv_unmergeable, ksmd merge and drop; every invariant but I12; every sequence of up to 10 actions (BFS, 325,196 states, about 9 seconds on 2 shared cores; add uffd_move and I48 finds the UFFDIO_MOVE count leak in 5 steps)",
        || Settings {
            kernel: Some("v6.18".into()),
            procs: Some(2),
            pages: Some(2),
            values: Some(1),
            swap_slots: Some(1),
            use_zero_pages: Some(true),
            actions: kinds(&[
                "mmap", "write", "fork", "munmap", "exit", "madv_mergeable", "madv_unmergeable", "merge", "drop",
            ]),
            invariants: Some(all_but_ksm_rmap_complete()),
            strategy: Some("bfs".into()),
            // Exhaustive, it has 4.3 million states at depth 13 after 2 minutes.
            max_depth: Some(10),
            ..Settings::default()
        },
    ),
];

impl Settings {
    /// Reads a configuration: a built-in name or a TOML file.
    pub fn load(name_or_path: &str) -> Result<Settings, String> {
        if let Some(s) = builtin(name_or_path) {
            return Ok(s);
        }
        if !std::path::Path::new(name_or_path).exists() {
            let names: Vec<_> = BUILTINS.iter().map(|(n, _, _)| *n).collect();
            return Err(format!(
                "config '{}' is neither a built-in ({}) nor a readable file",
                printable(name_or_path),
                names.join(", ")
            ));
        }
        Settings::from_toml(&read_text(name_or_path, MAX_CONFIG_BYTES)?, name_or_path)
    }

    /// Parses a TOML configuration; errors read `file:line: what is wrong`.
    pub fn from_toml(text: &str, file: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |r| 1 + text[..r.start.min(text.len())].matches('\n').count());
            format!("{}:{line}: {}", printable(file), printable(e.message()))
        })
    }

    /// `self` with every field `other` sets replaced.
    pub fn overlay(self, other: Settings) -> Settings {
        Settings {
            kernel: other.kernel.or(self.kernel),
            procs: other.procs.or(self.procs),
            pages: other.pages.or(self.pages),
            values: other.values.or(self.values),
            actions: other.actions.or(self.actions),
            invariants: other.invariants.or(self.invariants),
            strategy: other.strategy.or(self.strategy),
            threads: other.threads.or(self.threads),
            max_depth: other.max_depth.or(self.max_depth),
            time_limit: other.time_limit.or(self.time_limit),
            width: other.width.or(self.width),
            max_memory: other.max_memory.or(self.max_memory),
            seed: other.seed.or(self.seed),
            ids: other.ids.or(self.ids),
            symmetry: other.symmetry.or(self.symmetry),
            mutant: other.mutant.or(self.mutant),
            swap_slots: other.swap_slots.or(self.swap_slots),
            files: other.files.or(self.files),
            shard: other.shard.or(self.shard),
            exchange: other.exchange.or(self.exchange),
            mthp: other.mthp.or(self.mthp),
            use_zero_pages: other.use_zero_pages.or(self.use_zero_pages),
        }
    }

    /// Validates and resolves into a model configuration and search plan.
    pub fn resolve(&self) -> Result<Plan, String> {
        let d = Config::default();
        let mut actions = ActionSet::empty();
        match &self.actions {
            Some(list) => {
                for a in list {
                    actions.insert(a.parse()?);
                }
            }
            None => actions = ActionSet::all(),
        }
        let ids = match self.ids.as_deref() {
            None | Some("canonical") => Ids::Canonical,
            Some("compact") => Ids::Compact,
            Some(other) => return Err(format!("unknown ids mode '{other}' (known: canonical, compact)")),
        };
        let model = Config {
            kernel: match &self.kernel {
                Some(k) => k.parse::<Kernel>()?,
                None => d.kernel,
            },
            procs: self.procs.unwrap_or(d.procs),
            pages: self.pages.unwrap_or(d.pages),
            values: self.values.unwrap_or(d.values),
            actions,
            ids,
            symmetry: self.symmetry.unwrap_or(true),
            mutant: self.mutant.as_deref().map(str::parse::<Mutant>).transpose()?,
            swap_slots: self.swap_slots.unwrap_or(d.swap_slots),
            files: self.files.unwrap_or(d.files),
            mthp: self.mthp.as_deref().map(str::parse).transpose()?.unwrap_or(d.mthp),
            use_zero_pages: self.use_zero_pages.unwrap_or(false),
        };
        model.validate()?;
        let invariants = match &self.invariants {
            Some(list) => {
                let named = rmapcheck_invariants::parse_list(&list.join(","))?;
                if named.is_empty() {
                    // An empty list would check nothing and say "holds".
                    return Err(
                        "the invariant list is empty: name at least one invariant, or leave it out to check all".into(),
                    );
                }
                named
            }
            None => Vec::new(),
        };
        let strategy = crate::search::find(self.strategy.as_deref().unwrap_or("bfs"))?;
        let time_limit = self.time_limit.map(Duration::from_secs);
        if let Some(t) = self.time_limit.filter(|t| !(1..=MAX_TIME_LIMIT_SECS).contains(t)) {
            return Err(format!("time limit must be between 1 and {MAX_TIME_LIMIT_SECS} seconds (a year), got {t}"));
        }
        if let Some(m) = self.max_memory.filter(|m| !(1..=MAX_MEMORY_MIB).contains(m)) {
            return Err(format!("max memory must be between 1 and {MAX_MEMORY_MIB} MiB, got {m}"));
        }
        if let Some(d) = self.max_depth.filter(|d| !(1..=MAX_DEPTH).contains(d)) {
            return Err(format!("max depth must be between 1 and {MAX_DEPTH}, got {d}"));
        }
        if strategy.needs_time_limit() && time_limit.is_none() {
            return Err(format!("the {} strategy never finishes on its own: give --time-limit", strategy.name()));
        }
        let width = self.width.unwrap_or(2);
        if !(1..=3).contains(&width) {
            return Err(format!("width must be between 1 and 3, got {width}"));
        }
        let threads = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 || threads > 256 {
            return Err(format!("threads must be between 1 and 256, got {threads}"));
        }
        Ok(Plan {
            model,
            invariants,
            strategy,
            threads,
            max_depth: self.max_depth,
            time_limit,
            width,
            max_rss_kib: self.max_memory.map(|m| m * 1024).or_else(crate::report::memory_budget_kib),
            seed: self.seed.unwrap_or(0),
            shard: crate::search::bfs::shard::parse(self.shard.as_deref(), self.exchange.as_deref(), strategy)?,
        })
    }
}

/// Longest time limit accepted, in seconds (365 days): every deadline is
/// then an `Instant` the clock can represent.
pub const MAX_TIME_LIMIT_SECS: u64 = 365 * 24 * 3600;
/// Deepest depth bound accepted. A walk of this many steps still ends;
/// no search of this model gets near it (the deepest known bug is 11
/// steps deep).
pub const MAX_DEPTH: usize = 1_000_000;
/// Largest memory budget accepted, in MiB (1 PiB).
pub const MAX_MEMORY_MIB: u64 = 1 << 30;

/// A resolved, validated run.
#[derive(Clone)]
pub struct Plan {
    /// Model parameters.
    pub model: Config,
    /// Invariants to check (empty: all).
    pub invariants: Vec<&'static rmapcheck_invariants::Invariant>,
    /// Strategy.
    pub strategy: &'static dyn Strategy,
    /// Worker threads.
    pub threads: usize,
    /// Depth bound.
    pub max_depth: Option<usize>,
    /// Time limit.
    pub time_limit: Option<Duration>,
    /// Largest novelty width (`novelty` strategy).
    pub width: usize,
    /// Memory budget of the BFS in KiB.
    pub max_rss_kib: Option<u64>,
    /// Simulation seed.
    pub seed: u64,
    /// This process's share of a sharded BFS.
    pub shard: Option<crate::strategy::Shard>,
}
