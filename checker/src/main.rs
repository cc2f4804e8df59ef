//! The `rmapcheck` command.

use clap::{Args, Parser, Subcommand};
use rmapcheck::check::{refuse_continue, run_check};
use rmapcheck::output::{check_output_path, print, write_file};
use rmapcheck::progress::ProgressSink;
use rmapcheck::run::run_text;
use rmapcheck::search::STRATEGIES;
use rmapcheck::settings::{Plan, Settings, BUILTINS};
use rmapcheck::summary::render;
use rmapcheck::views::{self, Outputs};
use rmapcheck_conform::command::Options;
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::input::{printable, read_text, MAX_SCENARIO_BYTES};
use rmapcheck_model::{ActionKind, Kernel, Mutant, Scenario};
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
        #[arg(long, conflicts_with_all = ["full", "quiet", "html", "itf", "dot"])]
        annotate: bool,
        #[command(flatten)]
        views: ViewArgs,
    },
    /// Walk the state space by hand: serves a page on 127.0.0.1 that shows each state and its enabled actions.
    Explore(ExploreArgs),
    /// Measure a check (default configuration unless flags follow) at 1 and 2 threads: states/s, bytes/state, peak memory.
    Bench {
        /// Runs per thread count, interleaved.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Flags for 'rmapcheck check' (e.g. --config vma, --procs 5 --ids compact).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Combine the JSON reports of the shards of one run (check --shard I/N --json) into one verdict.
    Merge {
        /// The shards' reports, one per shard.
        #[arg(required = true)]
        reports: Vec<String>,
        /// Write the combined report here.
        #[arg(long)]
        json: Option<String>,
    },
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
        /// Random scenarios with large folios: 16k (16 kB mTHP), or none (default).
        #[arg(long)]
        mthp: Option<String>,
        /// Random scenarios also take and drop longterm R/W pins (io_uring fixed buffers).
        #[arg(long)]
        pins: bool,
    },
    /// Write a standalone C reproducer of a scenario for the live kernel (see findings/).
    Repro {
        /// The scenario file.
        file: String,
        /// Write the C program here instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<String>,
    },
}

/// The trace's views: for `check` its first counterexample, for `run` its
/// one scenario file.
#[derive(Args)]
struct ViewArgs {
    /// Write the trace (check: the first counterexample; run: the one scenario) as a self-contained HTML viewer here.
    #[arg(long)]
    html: Option<String>,
    /// Write the trace as an ITF JSON trace (Apalache/Quint format) here.
    #[arg(long)]
    itf: Option<String>,
    /// Write a Graphviz DOT picture of the trace's last state here.
    #[arg(long)]
    dot: Option<String>,
}

impl From<ViewArgs> for Outputs {
    fn from(v: ViewArgs) -> Outputs {
        Outputs { html: v.html, itf: v.itf, dot: v.dot }
    }
}

/// The configuration and its model bounds, as `check` and `explore` take them.
#[derive(Args)]
struct ConfigArgs {
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
}

impl ConfigArgs {
    /// The configuration with the other flags (`over`) and these on top.
    fn plan(&self, over: Settings) -> Result<Plan, String> {
        let flags = Settings { kernel: self.kernel.clone(), procs: self.procs, pages: self.pages, ..over };
        Settings::load(&self.config)?.overlay(flags).resolve()
    }
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    base: ConfigArgs,
    /// Distinct values a write may store, 1-15.
    #[arg(long)]
    values: Option<u8>,
    /// Swap slots in use at once, 0-32 (reclaim keeps a folio it cannot give a slot).
    #[arg(long)]
    swap_slots: Option<u8>,
    /// Named files for the file actions, 0-3 (reg, memfd, tmpfs).
    #[arg(long)]
    files: Option<u8>,
    /// Anonymous mTHP sizes a write fault may allocate: 16k, 8k,16k or none (default).
    #[arg(long)]
    mthp: Option<String>,
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
    #[command(flatten)]
    views: ViewArgs,
    /// Print per-action and per-branch coverage.
    #[arg(long)]
    coverage: bool,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
    /// Run as shard I of N of one BFS (docs/sharding.md); needs --exchange.
    #[arg(long)]
    shard: Option<String>,
    /// The directory the shards of a run share (a shared volume across machines).
    #[arg(long)]
    exchange: Option<String>,
}

#[derive(Args)]
struct ExploreArgs {
    #[command(flatten)]
    base: ConfigArgs,
    /// Comma-separated action kinds to offer (default: the configuration's).
    #[arg(long)]
    actions: Option<String>,
    /// Start at the end of this scenario file (its kernel, processes and pages replace the configuration's; every action kind is offered unless --actions names some, and writes of its values).
    #[arg(long)]
    scenario: Option<String>,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8018)]
    port: u16,
}

/// States are cloned and dropped by the million: mimalloc's thread-local
/// free lists cost a fraction of glibc malloc's (`docs/storage.md`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Check(a) => check(*a),
        Cmd::List => print(&list()).map(|()| 0),
        Cmd::Run { files, annotate: true, .. } => annotate(&files),
        Cmd::Run { files, full, quiet, views, .. } => run(&files, full, quiet, &views.into()),
        Cmd::Explore(a) => explore(a),
        Cmd::Bench { rounds, args } => rmapcheck::bench::bench(&args, rounds),
        Cmd::Merge { reports, json } => rmapcheck::merge::merge(&reports, json.as_deref()),
        Cmd::Conform { files, random, seed, exec, out, mutant, quiet, mthp, pins } => {
            rmapcheck_conform::command::conform(&Options { files, random, seed, exec, out, mutant, quiet, mthp, pins })
        }
        Cmd::Repro { file, output } => repro(&file, output.as_deref()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rmapcheck: error: {}", printable(&e));
            ExitCode::from(2)
        }
    }
}

/// A comma-separated list flag.
fn split(s: Option<String>) -> Option<Vec<String>> {
    s.map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
}

fn check(a: CheckArgs) -> Result<u8, String> {
    let flags = Settings {
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
        files: a.files,
        shard: a.shard,
        exchange: a.exchange,
        mthp: a.mthp,
        ..Settings::default()
    };
    let plan = a.base.plan(flags)?;
    refuse_continue(&plan, a.keep_going)?;
    // Output paths are checked before the search, so that a bad one is
    // exit 2 at once rather than after the search's verdict.
    for (flag, path) in [("--json", &a.json), ("--trace-out", &a.trace_out)] {
        if let Some(p) = path {
            check_output_path(flag, p)?;
        }
    }
    let outputs = Outputs::from(a.views);
    outputs.check()?;
    let mut sink = ProgressSink::stderr(plan.time_limit);
    let report = run_check(&plan, a.keep_going, if a.quiet { None } else { Some(&mut sink) });
    sink.finish();
    if report.stopped_by.as_deref().is_some_and(|s| s.starts_with(rmapcheck::strategy::STORAGE_ERROR)) {
        return Ok(2);
    }
    print(&render(&report, a.coverage))?;
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        write_file("--json", path, &text)?;
    }
    if let (Some(path), Some(cx)) = (&a.trace_out, report.counterexamples.first()) {
        write_file("--trace-out", path, &cx.scenario)?;
        print(&format!("counterexample written to {path} (replay: rmapcheck run {path})\n"))?;
    }
    if outputs.any() {
        match views::counterexample_trace(&report, &a.base.config) {
            Some(trace) => outputs.write(&trace?)?,
            None => print("no counterexample, so no --html/--itf/--dot file written\n")?,
        }
    }
    Ok(if report.counterexamples.is_empty() { 0 } else { 1 })
}

fn explore(a: ExploreArgs) -> Result<u8, String> {
    let every_kind = a.actions.is_none();
    let plan = a.base.plan(Settings { actions: split(a.actions), ..Settings::default() })?;
    let mut cfg = plan.model.clone();
    let mut start = Vec::new();
    let mut title = format!("configuration {}", a.base.config);
    if let Some(f) = &a.scenario {
        let text = read_text(f, MAX_SCENARIO_BYTES)?;
        let sc = Scenario::parse(&text, f)?;
        (cfg.kernel, cfg.procs, cfg.pages) = (sc.kernel, sc.procs, sc.pages);
        // Writes of the scenario's values must be moves the page offers.
        for st in &sc.steps {
            if let rmapcheck_model::Action::Write { value, .. } = st.action {
                cfg.values = cfg.values.max(value);
            }
        }
        if every_kind {
            // The scenario may use any kind (KSM's too); offer them all.
            cfg.actions = rmapcheck_model::ActionSet::every();
        }
        // As `run` does, the scenario stops at its first violation.
        let all: Vec<_> = INVARIANTS.iter().collect();
        start = views::trace_of(&sc, f, &all)?.steps.into_iter().map(|s| s.action).collect();
        title = format!("{title}, from {f}");
    }
    let mut walker = views::Walker::new(&cfg, &plan.invariants, title);
    walker.start = start.iter().map(|a| rmapcheck_model::Action::parse(a)).collect::<Result<_, _>>()?;
    // A scenario the walker cannot walk is bad input, found now rather than in the page.
    rmapcheck_view::explore::Walk::walk(&walker, &start)?;
    rmapcheck_view::svg::render("digraph { }")?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", a.port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", a.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    print(&format!("rmapcheck explore: serving http://{addr}/ (Ctrl-C stops it)\n"))?;
    rmapcheck_view::explore::serve(&listener, &walker, &start).map_err(|e| format!("explore: {e}"))?;
    Ok(0)
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

fn repro(file: &str, output: Option<&str>) -> Result<u8, String> {
    if let Some(path) = output {
        check_output_path("--output", path)?;
    }
    let text = read_text(file, MAX_SCENARIO_BYTES)?;
    let c = rmapcheck_repro::generate(&Scenario::parse(&text, file)?, file)?;
    match output {
        Some(path) => write_file("--output", path, &c)?,
        None => print(&c)?,
    }
    Ok(0)
}

fn run(files: &[String], full: bool, quiet: bool, outputs: &Outputs) -> Result<u8, String> {
    if outputs.any() && files.len() != 1 {
        return Err("--html, --itf and --dot take exactly one scenario file".into());
    }
    outputs.check()?;
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
        if outputs.any() {
            let sc = Scenario::parse(&text, f)?;
            let all: Vec<_> = INVARIANTS.iter().collect();
            outputs.write(&views::trace_of(&sc, f, &all)?)?;
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
