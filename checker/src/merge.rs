//! `rmapcheck merge`: the JSON reports of the N shards of one sharded BFS
//! (`check --shard I/N --json R`) combined into one verdict. The shards
//! own disjoint sets of states (`docs/sharding.md`), so unique and
//! generated states add up to the unsharded run's.

use crate::trace::{render_steps, TraceStep};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Reads, checks and combines the reports; prints the verdict and writes
/// the combined report to `out`. Exit code 0 holds, 1 violated.
pub fn merge(paths: &[String], out: Option<&str>) -> Result<u8, String> {
    let mut reports = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?;
        let r: Value = serde_json::from_str(&text).map_err(|e| format!("{p}: not a JSON report: {e}"))?;
        reports.push((p.as_str(), r));
    }
    let merged = combine(&reports)?;
    crate::output::print(&render(&merged))?;
    if let Some(path) = out {
        let text = serde_json::to_string_pretty(&merged).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    Ok(u8::from(merged["outcome"] == "violated"))
}

/// `i/N` of a report.
fn shard_of(path: &str, r: &Value) -> Result<(usize, usize), String> {
    let s = r["config"]["shard"].as_str().ok_or_else(|| format!("{path}: not a shard's report (no config.shard)"))?;
    let (i, n) = s.split_once('/').ok_or_else(|| format!("{path}: config.shard '{s}' is not I/N"))?;
    match (i.parse(), n.parse()) {
        (Ok(i), Ok(n)) if i < n => Ok((i, n)),
        _ => Err(format!("{path}: config.shard '{s}' is not I/N")),
    }
}

/// The combined report (same fields as one run's; `config.shard` is "all N").
pub fn combine(reports: &[(&str, Value)]) -> Result<Value, String> {
    let mut by_shard: Vec<Option<&Value>> = Vec::new();
    let mut count = None;
    for (path, r) in reports {
        let (i, n) = shard_of(path, r)?;
        if *count.get_or_insert(n) != n {
            return Err(format!("{path}: shard {i}/{n}, but another report is of {} shards", count.unwrap_or(0)));
        }
        by_shard.resize(n, None);
        if by_shard[i].replace(r).is_some() {
            return Err(format!("{path}: shard {i}/{n} given twice"));
        }
    }
    let n = count.ok_or("no report given")?;
    if let Some(missing) = by_shard.iter().position(Option::is_none) {
        return Err(format!("shard {missing}/{n} is missing: give one report per shard"));
    }
    let shards: Vec<&Value> = by_shard.into_iter().map(|r| r.expect("checked above")).collect();
    let same = |r: &Value| {
        let mut c = r["config"].clone();
        c["threads"] = Value::Null;
        c["shard"] = Value::Null;
        c
    };
    if let Some(k) = shards.iter().position(|r| same(r) != same(shards[0])) {
        return Err(format!("shard {k}/{n} checked another configuration than shard 0/{n}"));
    }
    let sum = |f: &str| shards.iter().map(|r| r[f].as_u64().unwrap_or(0)).sum::<u64>();
    let max_f = |f: &str| shards.iter().map(|r| r[f].as_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    let complete = shards.iter().all(|r| r["complete"] == true);
    let mut m = shards[0].clone();
    m["config"]["shard"] = json!(format!("all {n}"));
    m["states"] = json!(sum("states"));
    m["unique_states"] = json!(sum("unique_states"));
    m["max_depth"] = json!(shards.iter().map(|r| r["max_depth"].as_u64().unwrap_or(0)).max());
    m["elapsed_secs"] = json!(max_f("elapsed_secs"));
    m["states_per_sec"] = json!(sum("states") as f64 / max_f("elapsed_secs").max(1e-9));
    m["peak_rss_kib"] = json!(shards.iter().map(|r| r["peak_rss_kib"].as_u64().unwrap_or(0)).max());
    m["complete"] = json!(complete);
    m["stopped_by"] = shards.iter().map(|r| &r["stopped_by"]).find(|s| !s.is_null()).cloned().unwrap_or(Value::Null);
    if m["storage"].is_object() {
        for f in ["seen_bytes", "frontier_peak_memory", "frontier_peak_disk", "links_bytes", "candidates_written"] {
            m["storage"][f] = json!(shards.iter().map(|r| r["storage"][f].as_u64().unwrap_or(0)).sum::<u64>());
        }
    }
    // Per invariant: violated if any shard has a counterexample (the
    // shortest, then the lowest shard), else what the shards agree on.
    let mut counterexamples = Vec::new();
    let mut verdicts = m["invariants"].as_array().cloned().unwrap_or_default();
    for v in &mut verdicts {
        let name = v["name"].clone();
        let cx = shards
            .iter()
            .flat_map(|r| r["counterexamples"].as_array().into_iter().flatten())
            .filter(|c| c["invariant"] == name)
            .min_by_key(|c| c["steps"].as_array().map_or(usize::MAX, Vec::len));
        let theirs: Vec<&str> = shards
            .iter()
            .filter_map(|r| r["invariants"].as_array()?.iter().find(|w| w["name"] == name)?["verdict"].as_str())
            .collect();
        v["verdict"] = json!(if let Some(c) = cx {
            counterexamples.push(c.clone());
            "violated"
        } else if let Some(ne) = theirs.iter().find(|t| t.starts_with("not established")) {
            ne
        } else if complete {
            "holds"
        } else {
            "holds within bounds"
        });
    }
    m["outcome"] = json!(if !counterexamples.is_empty() {
        "violated"
    } else if complete {
        "holds"
    } else {
        "holds within bounds"
    });
    m["invariants"] = json!(verdicts);
    m["counterexamples"] = json!(counterexamples);
    for kind in ["actions", "branches"] {
        if let Some(list) = m["coverage"][kind].as_array_mut() {
            for (k, entry) in list.iter_mut().enumerate() {
                entry[1] = json!(shards.iter().map(|r| r["coverage"][kind][k][1].as_u64().unwrap_or(0)).sum::<u64>());
            }
        }
    }
    m["shards"] = json!(shards
        .iter()
        .enumerate()
        .map(|(i, r)| json!({
            "shard": i,
            "states": r["states"],
            "unique_states": r["unique_states"],
            "elapsed_secs": r["elapsed_secs"],
            "peak_rss_kib": r["peak_rss_kib"],
            "stopped_by": r["stopped_by"],
        }))
        .collect::<Vec<_>>());
    Ok(m)
}

/// The combined verdict as text.
fn render(m: &Value) -> String {
    let mut o = String::new();
    let shards = m["shards"].as_array().map_or(0, Vec::len);
    let c = &m["config"];
    let _ = writeln!(
        o,
        "rmapcheck merge: {shards} shards of one run: kernel {}, {} processes, {} pages, {} value(s)",
        c["kernel"].as_str().unwrap_or("?"),
        c["procs"],
        c["pages"],
        c["values"]
    );
    for s in m["shards"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  shard {}: {} states, {} unique, {:.1} s, peak memory {:.1} MiB",
            s["shard"],
            s["states"],
            s["unique_states"],
            s["elapsed_secs"].as_f64().unwrap_or(0.0),
            s["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
        );
    }
    let _ = writeln!(
        o,
        "{} states, {} unique, max depth {}, slowest shard {:.1} s",
        m["states"],
        m["unique_states"],
        m["max_depth"],
        m["elapsed_secs"].as_f64().unwrap_or(0.0)
    );
    match m["stopped_by"].as_str() {
        Some(why) => {
            let _ = writeln!(o, "search INCOMPLETE: stopped by the {why}");
        }
        None => {
            let _ = writeln!(o, "search complete: every reachable state within the model bounds was checked");
        }
    }
    for v in m["invariants"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  {:<4} {:<28}  {}",
            v["id"].as_str().unwrap_or(""),
            v["name"].as_str().unwrap_or(""),
            v["verdict"].as_str().unwrap_or("")
        );
    }
    for cx in m["counterexamples"].as_array().into_iter().flatten() {
        let steps = cx["steps"].as_array().map_or(0, Vec::len);
        let _ = writeln!(o, "\nCounterexample for {} ({steps} steps):", cx["invariant"].as_str().unwrap_or("?"));
        o.push_str(&render_steps(&steps_of(&cx["steps"]), 1));
        let _ = writeln!(
            o,
            "VIOLATED {}: {}",
            cx["invariant"].as_str().unwrap_or("?"),
            cx["violation"].as_str().unwrap_or("")
        );
    }
    let _ = writeln!(o, "\nresult: {}", m["outcome"].as_str().unwrap_or("?"));
    o
}

/// A report's steps back as [`TraceStep`]s, for printing.
fn steps_of(v: &Value) -> Vec<TraceStep> {
    let strings = |x: &Value| -> Vec<String> {
        x.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
    };
    v.as_array()
        .into_iter()
        .flatten()
        .map(|st| TraceStep {
            action: st["action"].as_str().unwrap_or("?").to_string(),
            narration: strings(&st["narration"]),
            changed: strings(&st["changed"]),
        })
        .collect()
}
