//! The human-readable end of a `check` run.

use crate::report::Report;
use crate::trace::render_steps;
use std::fmt::Write as _;

/// Summary, per-invariant verdicts, coverage and counterexamples.
pub fn render(r: &Report, show_coverage: bool) -> String {
    let mut o = String::new();
    let c = &r.config;
    let _ = writeln!(
        o,
        "rmapcheck {}: kernel {}, {} processes, {} pages, {} value(s), actions {}, {} with {} thread(s){}{}",
        r.version,
        c.kernel,
        c.procs,
        c.pages,
        c.values,
        c.actions.join(","),
        c.strategy,
        c.threads,
        if c.symmetry { ", symmetry" } else { "" },
        c.mutant.map(|m| format!(", MUTANT {m}")).unwrap_or_default()
    );
    let unique = match r.walks {
        Some(w) => match r.corpus {
            Some((kept, features)) => format!("{w} walks, {kept} states kept for {features} features"),
            None => format!("{w} walks"),
        },
        None => format!("{} unique", r.unique_states),
    };
    let _ = writeln!(
        o,
        "{} states, {unique}, max depth {}, {:.1} s, {:.0} states/s, peak memory {:.1} MiB",
        r.states,
        r.max_depth,
        r.elapsed_secs,
        r.states_per_sec,
        r.peak_rss_kib as f64 / 1024.0
    );
    if let Some(st) = &r.storage {
        let per = |b: u64| b as f64 / r.unique_states.max(1) as f64;
        let _ = writeln!(
            o,
            "storage: seen set {:.1} B/state, frontier at most {:.1} MiB in memory and {:.1} MiB on disk, parent links {:.1} MiB on disk",
            per(st.seen_bytes),
            st.frontier_peak_memory as f64 / 1048576.0,
            st.frontier_peak_disk as f64 / 1048576.0,
            st.links_bytes as f64 / 1048576.0
        );
    }
    match &r.stopped_by {
        Some(why) => {
            // Only a verdict that says "holds" needs the caveat.
            let holds = r.invariants.iter().any(|v| v.verdict.starts_with("holds"));
            let caveat = if holds { "; 'holds' below means within these bounds only" } else { "" };
            let _ = writeln!(o, "search INCOMPLETE: stopped by the {why}{caveat}");
        }
        None => {
            let _ = writeln!(o, "search complete: every reachable state within the model bounds was checked");
        }
    }
    let width = r.invariants.iter().map(|v| v.name.len()).max().unwrap_or(0);
    for v in &r.invariants {
        let _ = writeln!(o, "  {:<4} {:<width$}  {}", v.id, v.name, v.verdict);
    }
    if show_coverage {
        let _ = writeln!(o, "coverage (transitions):");
        for (name, n) in r.coverage.actions.iter().chain(&r.coverage.branches) {
            let _ = writeln!(o, "  {n:>12}  {name}{}", if *n == 0 { "  (never reached)" } else { "" });
        }
    }
    for cx in &r.counterexamples {
        let unshrunk = cx.unshrunk_len.map(|n| format!(", shrunk from {n}")).unwrap_or_default();
        let _ = writeln!(o, "\nCounterexample for {} ({} steps{unshrunk}):", cx.invariant, cx.steps.len());
        o.push_str(&render_steps(&cx.steps, 1));
        let _ = writeln!(o, "VIOLATED {}: {}", cx.invariant, cx.violation);
    }
    let _ = writeln!(o, "\nresult: {}", r.outcome);
    o
}
