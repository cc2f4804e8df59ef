//! `rmapcheck bench`: one configuration checked at 1 and at 2 threads,
//! each run in a child process of its own (VmHWM never goes down within a
//! process, so each peak is that run's own), with the figures storage is
//! judged by: states/s, seen-set bytes per state, resident bytes per state,
//! peak memory, and the 2-thread speed-up of the same bench run.

use crate::output::print;
use std::fmt::Write as _;

/// One measured run.
struct Run {
    threads: usize,
    states: u64,
    unique: u64,
    secs: f64,
    rate: f64,
    peak_kib: u64,
    seen: Option<u64>,
    frontier: Option<(u64, u64)>,
}

/// Runs `rmapcheck check --quiet ARGS` at 1 and 2 threads, `rounds` times
/// interleaved (1, 2, 1, 2, ...), and prints every run, then the medians
/// and the speed-up. A run that finds a violation (exit 1) still counts.
pub fn bench(args: &[String], rounds: usize) -> Result<u8, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let json = std::env::temp_dir().join(format!("rmapcheck-bench-{}.json", std::process::id()));
    let shown = if args.is_empty() { String::new() } else { format!(" {}", args.join(" ")) };
    print(&format!("rmapcheck bench: `rmapcheck check --quiet --threads T{shown}`, T = 1 then 2, {rounds} round(s), each run a process of its own\n"))?;
    print(&format!(
        "{:>7} {:>11} {:>10} {:>8} {:>10} {:>12} {:>12} {:>9} {:>16}\n",
        "threads", "states", "unique", "secs", "states/s", "seen B/st", "RSS B/st", "peak MiB", "frontier MiB m/d"
    ))?;
    let mut runs = Vec::new();
    for _ in 0..rounds.max(1) {
        for threads in [1usize, 2] {
            let status = std::process::Command::new(&exe)
                .args(["check", "--quiet", "--threads", &threads.to_string(), "--json"])
                .arg(&json)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
                .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
            if !matches!(status.code(), Some(0 | 1)) {
                return Err(format!("the benchmark run at {threads} thread(s) failed: {status}"));
            }
            let text = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
            let r: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
            let st = &r["storage"];
            let run = Run {
                threads,
                states: r["states"].as_u64().unwrap_or(0),
                unique: r["unique_states"].as_u64().unwrap_or(0),
                secs: r["elapsed_secs"].as_f64().unwrap_or(0.0),
                rate: r["states_per_sec"].as_f64().unwrap_or(0.0),
                peak_kib: r["peak_rss_kib"].as_u64().unwrap_or(0),
                seen: st["seen_bytes"].as_u64(),
                frontier: st["frontier_peak_memory"].as_u64().zip(st["frontier_peak_disk"].as_u64()),
            };
            print(&format!("{}\n", line(&run)))?;
            runs.push(run);
        }
    }
    let _ = std::fs::remove_file(&json);
    let median = |t: usize| {
        let mut v: Vec<f64> = runs.iter().filter(|r| r.threads == t).map(|r| r.rate).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut o = String::new();
    if rounds > 1 {
        let _ = writeln!(o, "medians: 1 thread {:.0} states/s, 2 threads {:.0} states/s", median(1), median(2));
    }
    let _ = writeln!(
        o,
        "2-thread speed-up: {:.2}x (states/s at 2 threads / at 1 thread, this bench run)",
        median(2) / median(1)
    );
    o.push_str(
        "columns: states = generated (repeats included); seen B/st = seen-set bytes (empty slots included) per unique state;\n\
         RSS B/st = peak resident memory per unique state; frontier m/d = most frontier bytes in memory / on disk at once\n",
    );
    print(&o)?;
    Ok(0)
}

fn line(r: &Run) -> String {
    let per = |b: u64| b as f64 / r.unique.max(1) as f64;
    let mib = |b: u64| b as f64 / 1048576.0;
    format!(
        "{:>7} {:>11} {:>10} {:>8.1} {:>10.0} {:>12} {:>12.1} {:>9.1} {:>16}",
        r.threads,
        r.states,
        r.unique,
        r.secs,
        r.rate,
        r.seen.map_or("-".into(), |b| format!("{:.1}", per(b))),
        per(r.peak_kib * 1024),
        mib(r.peak_kib * 1024),
        r.frontier.map_or("-".into(), |(m, d)| format!("{:.1}/{:.1}", mib(m), mib(d))),
    )
}
