//! The `rmapcheck` command.

use clap::{Args, Parser, Subcommand};
use rmapcheck::check::{refuse_continue, run_check};
use rmapcheck::output::{check_output_path, print, write_file};
use rmapcheck::run::run_text;
use rmapcheck::search::STRATEGIES;
use rmapcheck::settings::{Settings, BUILTINS};
use rmapcheck::summary::render;
use rmapcheck_conform::command::Options;
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::input::{printable, read_text, MAX_SCENARIO_BYTES};
use rmapcheck_model::{ActionKind, Kernel, Mutant};
use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rmapcheck",
    version,
    about = "Bounded model checking of the Linux kernel's anonymous-memory reverse mapping"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Explore the state space and check the invariants.
    Check(Box<CheckArgs>),
    /// List the invariants, actions, kernel variants, mutants and built-in configurations.
    List,
    /// Run scenario files step by step and compare each verdict with its header.
    Run {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<String>,
        /// Print the whole state after each step instead of what changed.
        #[arg(long)]
        full: bool,
        /// Print only the per-file results.
        #[arg(long, short)]
        quiet: bool,
        /// Print each file with an 'assert' line after every step for every object the step changed, as the model computes them (check them by hand before keeping them).
        #[arg(long, conflicts_with_all = ["full", "quiet"])]
        annotate: bool,
    },
    /// Measure exploration speed on fixed configurations (states/s, peak memory).
    Bench,
    /// Run scenarios in the model and on the live kernel and compare after every step (root only).
    Conform {
        /// Scenario files.
        files: Vec<String>,
        /// Also run this many random scenarios.
        #[arg(long)]
        random: Option<u64>,
        /// Seed of the random scenarios.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The executor binary (default: rmapcheck-exec next to this binary).
        #[arg(long)]
        exec: Option<String>,
        /// Directory for the shrunk scenario of a random divergence.
        #[arg(long, default_value = ".")]
        out: String,
        /// Run the model side with a deliberate mistake (see 'rmapcheck list'), to see conformance catch it.
        #[arg(long)]
        mutant: Option<String>,
        /// Print only divergences and the summary.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Args)]
struct CheckArgs {
    /// A built-in configuration name or a TOML file; flags override it.
    #[arg(long, default_value = "default")]
    config: String,
    /// Kernel variant: v6.18 or v5.19.
    #[arg(long)]
    kernel: Option<String>,
    /// Maximum number of processes ever created (P0 plus forks), 1-8.
    #[arg(long)]
    procs: Option<u8>,
    /// Pages in the address window, 1-8.
    #[arg(long)]
    pages: Option<u8>,
    /// Distinct values a write may store, 1-15.
    #[arg(long)]
    values: Option<u8>,
    /// Swap slots in use at once, 0-32 (reclaim keeps a folio it cannot give a slot).
    #[arg(long)]
    swap_slots: Option<u8>,
    /// Comma-separated action kinds to explore (default: all).
    #[arg(long)]
    actions: Option<String>,
    /// Comma-separated invariants to check (names or I-numbers; default: all).
    #[arg(long)]
    invariants: Option<String>,
    /// Search strategy: bfs, dfs, simulate, swarm, guided or novelty (see 'rmapcheck list').
    #[arg(long)]
    strategy: Option<String>,
    /// Seed for the simulate strategy.
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Depth bound: number of actions from the initial state.
    #[arg(long)]
    max_depth: Option<usize>,
    /// Time limit in seconds.
    #[arg(long)]
    time_limit: Option<u64>,
    /// Largest novelty width of the novelty strategy, 1-3 (default 2): keep states showing a new atom, pair, triple.
    #[arg(long)]
    width: Option<usize>,
    /// Memory budget of the BFS in MiB (default: 3/4 of RAM); the search stops and reports when it is reached.
    #[arg(long)]
    max_memory: Option<u64>,
    /// Object ids: canonical (default) or compact (allocation order, to measure canonicalization).
    #[arg(long)]
    ids: Option<String>,
    /// Disable process symmetry reduction.
    #[arg(long)]
    no_symmetry: bool,
    /// Deliberately break the model (see 'rmapcheck list') to test the invariants.
    #[arg(long)]
    mutant: Option<String>,
    /// Keep searching after the first violation, for one counterexample per invariant.
    #[arg(long = "continue")]
    keep_going: bool,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<String>,
    /// Write the first counterexample as a scenario file here.
    #[arg(long)]
    trace_out: Option<String>,
    /// Print per-action and per-branch coverage.
    #[arg(long)]
    coverage: bool,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Check(a) => check(*a),
        Cmd::List => print(&list()).map(|()| 0),
        Cmd::Run { files, annotate: true, .. } => annotate(&files),
        Cmd::Run { files, full, quiet, .. } => run(&files, full, quiet),
        Cmd::Bench => bench(),
        Cmd::Conform { files, random, seed, exec, out, mutant, quiet } => {
            rmapcheck_conform::command::conform(&Options { files, random, seed, exec, out, mutant, quiet })
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rmapcheck: error: {}", printable(&e));
            ExitCode::from(2)
        }
    }
}

fn check(a: CheckArgs) -> Result<u8, String> {
    let split =
        |s: Option<String>| s.map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect());
    let flags = Settings {
        kernel: a.kernel,
        procs: a.procs,
        pages: a.pages,
        values: a.values,
        actions: split(a.actions),
        invariants: split(a.invariants),
        strategy: a.strategy,
        threads: a.threads,
        max_depth: a.max_depth,
        time_limit: a.time_limit,
        width: a.width,
        max_memory: a.max_memory,
        seed: a.seed,
        ids: a.ids,
        symmetry: a.no_symmetry.then_some(false),
        mutant: a.mutant,
        swap_slots: a.swap_slots,
    };
    let plan = Settings::load(&a.config)?.overlay(flags).resolve()?;
    refuse_continue(&plan, a.keep_going)?;
    // Output paths are checked before the search, so that a bad one is
    // exit 2 at once rather than after the search's verdict.
    for (flag, path) in [("--json", &a.json), ("--trace-out", &a.trace_out)] {
        if let Some(p) = path {
            check_output_path(flag, p)?;
        }
    }
    let mut stderr = std::io::stderr();
    let report = run_check(&plan, a.keep_going, if a.quiet { None } else { Some(&mut stderr) });
    print(&render(&report, a.coverage))?;
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        write_file("--json", path, &text)?;
    }
    if let (Some(path), Some(cx)) = (&a.trace_out, report.counterexamples.first()) {
        write_file("--trace-out", path, &cx.scenario)?;
        print(&format!("counterexample written to {path} (replay: rmapcheck run {path})\n"))?;
    }
    Ok(if report.counterexamples.is_empty() { 0 } else { 1 })
}

fn list() -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Invariants:");
    for i in INVARIANTS {
        let _ = writeln!(o, "  {:<4} {:<26} {}\n  {:<31} mirrors: {}", i.id, i.name, i.description, "", i.mirrors);
    }
    let _ = writeln!(o, "\nActions:");
    for (_, name, what) in ActionKind::ALL {
        let _ = writeln!(o, "  {name:<12} {what}");
    }
    let _ = writeln!(o, "\nKernel variants:");
    for k in Kernel::ALL {
        let _ = writeln!(o, "  {:<8} {}", k.to_string(), k.description());
    }
    let _ = writeln!(o, "\nMutants (deliberate model mistakes, for testing invariants):");
    for (_, name, what) in Mutant::ALL {
        let _ = writeln!(o, "  {name:<32} {what}");
    }
    let _ = writeln!(o, "\nSearch strategies:");
    for s in STRATEGIES {
        let _ = writeln!(o, "  {:<12} {}", s.name(), s.about());
    }
    let _ = writeln!(o, "\nBuilt-in configurations:");
    for (name, what, _) in BUILTINS {
        let _ = writeln!(o, "  {name:<12} {what}");
    }
    o
}

fn run(files: &[String], full: bool, quiet: bool) -> Result<u8, String> {
    let mut failed = 0;
    for f in files {
        let text = read_text(f, MAX_SCENARIO_BYTES)?;
        let r = run_text(&text, f, full)?;
        if quiet {
            print(&format!("{} {}: {}\n", if r.passed { "ok  " } else { "FAIL" }, printable(f), r.verdict))?;
        } else {
            print(&r.output)?;
        }
        if !r.passed {
            failed += 1;
        }
    }
    print(&format!("{} passed, {} failed\n", files.len() - failed, failed))?;
    Ok(u8::from(failed > 0))
}

fn annotate(files: &[String]) -> Result<u8, String> {
    for f in files {
        print(&rmapcheck::run::annotate(&read_text(f, MAX_SCENARIO_BYTES)?, f)?)?;
    }
    Ok(0)
}

/// Runs each case in a child process, so that the peak memory reported is
/// that run's own (VmHWM never goes down within a process).
fn bench() -> Result<u8, String> {
    print(&format!(
        "{:<44} {:>8} {:>10} {:>10} {:>8} {:>12} {:>10}\n",
        "configuration", "threads", "states", "unique", "secs", "states/s", "peak MiB"
    ))?;
    let cases: [(&str, &[&str]); 3] = [
        ("default (3 procs, 2 pages)", &[]),
        ("default, canonical ids, no symmetry", &["--no-symmetry"]),
        ("default, compact ids, no symmetry", &["--no-symmetry", "--ids", "compact"]),
    ];
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let json = std::env::temp_dir().join(format!("rmapcheck-bench-{}.json", std::process::id()));
    for (name, extra) in cases {
        for threads in [1, 2] {
            let status = std::process::Command::new(&exe)
                .args(["check", "--quiet", "--threads", &threads.to_string(), "--json"])
                .arg(&json)
                .args(extra)
                .stdout(std::process::Stdio::null())
                .status()
                .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
            if !status.success() {
                return Err(format!("benchmark run '{name}' failed: {status}"));
            }
            let text = read_text(&json.display().to_string(), 1 << 20)?;
            let r: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
            print(&format!(
                "{:<44} {:>8} {:>10} {:>10} {:>8.1} {:>12.0} {:>10.1}\n",
                name,
                threads,
                r["states"].as_u64().unwrap_or(0),
                r["unique_states"].as_u64().unwrap_or(0),
                r["elapsed_secs"].as_f64().unwrap_or(0.0),
                r["states_per_sec"].as_f64().unwrap_or(0.0),
                r["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
            ))?;
        }
    }
    let _ = std::fs::remove_file(&json);
    Ok(0)
}
