//! `check --shard I/N` and `merge` (`docs/sharding.md`): four shard
//! processes run at once on this machine, sharing an exchange directory;
//! their merged report equals the unsharded run: the same unique and
//! generated states, the same verdicts, the same counterexamples.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmapcheck"))
}

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rmapcheck-shards-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// `check -q ARGS` unsharded, then as `n` shard processes started at once
/// (each waits for the others at every level), then `merge`. Returns the
/// unsharded and merged reports and the exit codes of the unsharded run,
/// of each shard, and of the merge.
fn both(name: &str, args: &[&str], n: usize) -> (Value, Value, i32, Vec<i32>, i32) {
    let d = dir(name);
    let whole = d.join("whole.json");
    let code = |s: std::process::ExitStatus| s.code().unwrap_or(-1);
    let unsharded = bin().args(["check", "-q"]).args(args).arg("--json").arg(&whole).stdout(Stdio::null()).status();
    let reports: Vec<PathBuf> = (0..n).map(|i| d.join(format!("shard-{i}.json"))).collect();
    let mut children: Vec<_> = (0..n)
        .map(|i| {
            bin()
                .args(["check", "-q", "--threads", "1", "--shard", &format!("{i}/{n}"), "--exchange"])
                .arg(d.join("exchange"))
                .args(args)
                .arg("--json")
                .arg(&reports[i])
                .stdout(Stdio::null())
                .spawn()
                .expect("start a shard")
        })
        .collect();
    let shard_codes = children.iter_mut().map(|c| code(c.wait().expect("a shard ends"))).collect();
    let merged = d.join("merged.json");
    let merge = bin().arg("merge").args(&reports).arg("--json").arg(&merged).stdout(Stdio::null()).status();
    let out = (json(&whole), json(&merged), code(unsharded.unwrap()), shard_codes, code(merge.unwrap()));
    let _ = std::fs::remove_dir_all(&d);
    out
}

/// What must agree between the unsharded run and the merged shards.
fn verdict(r: &Value) -> (Value, Value, Value, Value, Value, Vec<Value>) {
    let cx = r["counterexamples"].as_array().unwrap().iter().map(|c| c["scenario"].clone()).collect();
    (
        r["unique_states"].clone(),
        r["states"].clone(),
        r["max_depth"].clone(),
        r["outcome"].clone(),
        r["invariants"].clone(),
        cx,
    )
}

#[test]
fn four_shards_find_exactly_the_states_of_the_unsharded_run() {
    // 33,102 states with process symmetry: which of two symmetric states a
    // search keeps can change the count, so this also checks that shards
    // keep the unsharded search's states (order keys, docs/sharding.md).
    let (whole, merged, code, shards, merge) = both("holds", &["--procs", "3", "--pages", "1"], 4);
    assert_eq!((code, merge), (0, 0));
    assert!(shards.iter().all(|&c| c == 0), "{shards:?}");
    assert_eq!(whole["unique_states"], 33_102);
    assert_eq!(verdict(&merged), verdict(&whole));
    assert_eq!(merged["complete"], true);
    let per: Vec<u64> =
        merged["shards"].as_array().unwrap().iter().map(|s| s["unique_states"].as_u64().unwrap()).collect();
    assert!(per.iter().all(|&u| u > 33_102 / 8), "the fingerprint split is lopsided: {per:?}");
}

#[test]
fn four_shards_report_the_unsharded_runs_counterexamples() {
    // Without --continue every shard stops after the level of the first
    // violation; with it, one counterexample per invariant. Either way the
    // merged counterexamples are the unsharded run's, step for step.
    for extra in [&[][..], &["--continue"][..]] {
        let args = [&["--config", "anon", "--procs", "2", "--mutant", "fork-skips-root-ref"][..], extra].concat();
        let (whole, merged, code, _, merge) = both(&format!("violated{}", extra.len()), &args, 4);
        assert_eq!((code, merge), (1, 1), "{extra:?}");
        assert_eq!(verdict(&merged), verdict(&whole), "{extra:?}");
        assert!(!merged["counterexamples"].as_array().unwrap().is_empty());
    }
}

#[test]
fn merge_refuses_reports_that_are_not_one_run() {
    let d = dir("refuse");
    let r = |i: usize, n: usize, procs: u8| {
        let p = d.join(format!("r{i}-{n}-{procs}.json"));
        let text = format!(r#"{{"config": {{"shard": "{i}/{n}", "procs": {procs}, "threads": 1}}, "states": 1}}"#);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    for (reports, says) in [
        (vec![r(0, 2, 3)], "shard 1/2 is missing"),
        (vec![r(0, 2, 3), r(0, 2, 3)], "given twice"),
        (vec![r(0, 2, 3), r(1, 2, 4)], "another configuration"),
        (vec![r(0, 2, 3), r(1, 3, 3)], "another report is of"),
    ] {
        let out = bin().arg("merge").args(&reports).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says) && err.lines().count() == 1, "{err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_shard_flags_exit_2_with_one_line() {
    for (args, says) in [
        (&["--shard", "4/4", "--exchange", "/tmp"][..], "0 <= I < N"),
        (&["--shard", "1/2"][..], "needs --exchange"),
        (&["--exchange", "/tmp"][..], "only for a sharded run"),
        (&["--shard", "0/2", "--exchange", "/tmp", "--strategy", "dfs"][..], "only the bfs strategy"),
    ] {
        let out = bin().args(["check", "-q"]).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says) && err.lines().count() == 1, "{args:?}: {err}");
    }
}

#[test]
fn an_exchange_directory_is_used_by_one_run_only() {
    let d = dir("reuse");
    let ex = d.join("exchange");
    let args = ["check", "-q", "--procs", "1", "--pages", "1", "--shard", "0/1", "--exchange", ex.to_str().unwrap()];
    assert_eq!(bin().args(args).stdout(Stdio::null()).status().unwrap().code(), Some(0));
    let out = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("earlier run"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_local_script_runs_four_shards_and_merges() {
    // deploy/local.sh is what docs/sharding.md tells a user to run: four
    // shard processes through deploy/shard.sh, then `rmapcheck merge`.
    let d = dir("script");
    let run = d.join("run");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg("4")
        .arg(&run)
        .args(["--procs", "3", "--pages", "1"])
        .env("RMAPCHECK", env!("CARGO_BIN_EXE_rmapcheck"))
        .output()
        .expect("run deploy/local.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let merged = json(&run.join("merged.json"));
    assert_eq!(merged["unique_states"], 33_102);
    assert_eq!(merged["outcome"], "holds", "{text}");
    assert_eq!(merged["config"]["shard"], "all 4", "{merged}");
    let _ = std::fs::remove_dir_all(&d);
}
