//! The command line: exit codes and one-line errors.

use std::process::Command;

fn rmapcheck(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rmapcheck")).args(args).output().expect("run rmapcheck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn tmp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("rmapcheck-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn list_names_every_invariant_action_and_variant() {
    let (code, out, _) = rmapcheck(&["list"]);
    assert_eq!(code, 0);
    for word in [
        "rmap_complete",
        "same_anon_vma_same_chain",
        "I15",
        "munmap",
        "fork",
        "v5.19",
        "v6.18",
        "keep-exclusive-on-fork",
        "default",
    ] {
        assert!(out.contains(word), "list lacks {word}");
    }
}

#[test]
fn a_violation_exits_1_and_writes_a_replayable_trace_and_json() {
    let trace = tmp("cx.rmap", "");
    let json = tmp("report.json", "");
    let (code, out, _) = rmapcheck(&[
        "check",
        "-q",
        "--procs",
        "2",
        "--pages",
        "1",
        "--mutant",
        "keep-exclusive-on-fork",
        "--trace-out",
        &trace,
        "--json",
        &json,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Counterexample for exclusive_single_mapping (3 steps)"), "{out}");
    assert!(out.contains("P0 fork -> P1"), "{out}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["outcome"], "violated");
    assert_eq!(report["counterexamples"][0]["invariant"], "exclusive_single_mapping");
    // The configuration echo is complete: the default's 2 swap slots and
    // the memory budget are there.
    assert_eq!(report["config"]["swap_slots"], 2);
    assert!(report["config"]["max_memory_mib"].as_u64().is_some_and(|m| m > 0), "{}", report["config"]);
    // The trace names its mutant and asserts the objects of its last
    // step: it replays to the same violation.
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("mutant: keep-exclusive-on-fork\n") && text.contains("\nassert F0 "), "{text}");
    let (code, out, _) = rmapcheck(&["run", "-q", &trace]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    // Replayed in the correct model it does not violate: `run` says so.
    let correct = tmp("cx-correct.rmap", &text.replace("mutant: keep-exclusive-on-fork\n", ""));
    let (code, out, _) = rmapcheck(&["run", "-q", &correct]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn a_holding_check_exits_0_and_a_bounded_one_says_so() {
    let (code, out, _) = rmapcheck(&["check", "-q", "--procs", "2", "--pages", "1"]);
    assert_eq!(code, 0);
    assert!(out.contains("search complete") && out.contains("result: holds"), "{out}");
    let (code, out, _) = rmapcheck(&["check", "-q", "--procs", "3", "--pages", "2", "--max-depth", "3"]);
    assert_eq!(code, 0);
    assert!(out.contains("search INCOMPLETE: stopped by the depth bound of 3"), "{out}");
    assert!(out.contains("holds within bounds"), "{out}");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let bad_toml = tmp("bad.toml", "procs = \"many\"\n");
    let unknown_key = tmp("unknown.toml", "colour = 3\n");
    let bad_scenario = tmp("bad.rmap", "expect: holds\nP0 mmap 0 1 rw\nP0 fly\n");
    let cases: [(&[&str], &str); 8] = [
        (&["check", "--procs", "0"], "procs must be between 1 and 8"),
        (&["check", "--invariants", "nope"], "unknown invariant 'nope'"),
        (&["check", "--kernel", "v9"], "unknown kernel variant 'v9'"),
        (&["check", "--config", "no-such-config"], "is neither a built-in"),
        (&["check", "--config", &bad_toml], "bad.toml"),
        (&["check", "--config", &unknown_key], "unknown field `colour`"),
        (&["run", &bad_scenario], "bad.rmap:3: unknown action 'fly'"),
        (&["run", "/no/such/file.rmap"], "/no/such/file.rmap"),
    ];
    for (args, want) in cases {
        let (code, _, err) = rmapcheck(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line, got {err}");
    }
    let (code, _, _) = rmapcheck(&["check", "--strategy", "sideways"]);
    assert_eq!(code, 2, "clap usage errors exit 2 too");
}

#[test]
fn a_toml_config_file_is_read() {
    let cfg = tmp(
        "small.toml",
        "procs = 2\npages = 1\nkernel = \"v5.19\"\nactions = [\"mmap\", \"write\", \"fork\", \"exit\"]\n",
    );
    let (code, out, err) = rmapcheck(&["check", "-q", "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kernel v5.19, 2 processes, 1 pages") && out.contains("actions mmap,write,fork,exit"),
        "{out}"
    );
}

#[test]
fn cli_without_work_or_without_root_exits_2() {
    let bin = env!("CARGO_BIN_EXE_rmapcheck");
    let out = std::process::Command::new(bin).arg("conform").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Without root: drop to nobody when we are root and setpriv exists.
    // SAFETY: plain system call.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !root || !setpriv.exists() {
        let out = std::process::Command::new(bin).args(["conform", "--random", "1"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if root {
            println!("setpriv not found: the non-root exit was not exercised");
        } else {
            assert_eq!(out.status.code(), Some(2));
            assert!(err.contains("cannot run: not running as root"), "{err}");
        }
        return;
    }
    let out = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin, "conform", "--random", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.starts_with("setpriv:") {
        // e.g. the build directory is not reachable for nobody.
        println!("the non-root exit was not exercised: {}", err.trim());
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("rmapcheck conform: cannot run: not running as root (euid 65534)"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The inputs of the hardening issue: each is refused with exit 2 and one
/// printable line, before any search runs, or gets the right verdict.
#[test]
fn hostile_input_gets_exit_2_and_one_printable_line() {
    let nul = tmp("nul.rmap", "expect: holds\nP0 mmap 0 1 rw\nP0 \0\x1b[31m 1\n");
    let long = tmp("long.rmap", &format!("expect: holds\nP0 mmap 0 1 rw\nP0 {}\n", "z".repeat(1 << 20)));
    let utf8 = tmp("utf8.rmap", "expect: holds\nP0 mmap 0 1 rw\nP0 write 0 1 # caf\u{e9}\n");
    std::fs::write(&utf8, b"expect: holds\nP0 mmap 0 1 rw\n\xff\n").unwrap();
    let after = tmp("after.rmap", "expect: violates no_kernel_oops at 1\nP0 mmap 0 1 rw\nP0 jump\n");
    let dup = tmp("dup.rmap", "expect: holds\npages: 2\npages: 3\nP0 mmap 0 1 rw\n");
    let window = tmp("window.rmap", "pages: 2\nexpect: holds\nP0 mmap 0 1 rw\nP0 read 5\n");
    let empty_inv = tmp("empty.toml", "invariants = []\n");
    let huge_time = tmp("time.toml", "time_limit = 9223372036854775807\n");
    let mthp = tmp("mthp.rmap", "mthp: 16k\nexpect: holds\nmthp: none\nP0 mmap 0 4 rw\n");
    let sc = format!("{}/../scenarios/fork-cow-child-writes.rmap", env!("CARGO_MANIFEST_DIR"));
    // The file actions' inputs (issue 20): names, offsets and sizes are
    // checked against the named files and the window.
    let nfs = tmp("nfs.rmap", "pages: 2\nexpect: holds\nP0 mmap 0 1 rw private nfs 0\n");
    let pgoff = tmp("pgoff.rmap", "pages: 2\nexpect: holds\nP0 mmap 0 2 rw shared memfd 1\n");
    let size = tmp("size.rmap", "pages: 2\nexpect: holds\nP0 ftruncate reg 9\n");
    let files_header = tmp("files.rmap", "files: 2\nexpect: holds\nP0 mmap 0 1 rw\n");
    let many_files = tmp("files.toml", "files = 9\n");
    let twice_files = tmp("twice.toml", "files = 1\nfiles = 2\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", &nfs], "nfs.rmap:3: 'nfs' is not a file (known: reg, memfd, tmpfs)"),
        (vec!["run", &pgoff], "pgoff.rmap:3: file pages 1..3 are beyond the 2-page file"),
        (vec!["run", &size], "size.rmap:3: size 9 is beyond the 2-page file"),
        (vec!["run", &files_header], "files.rmap:1: unknown header 'files'"),
        (vec!["check", "--files", "4"], "files must be between 0 and 3, got 4"),
        (vec!["check", "--config", &many_files], "files must be between 0 and 3, got 9"),
        (vec!["check", "--config", &twice_files], "twice.toml:2: duplicate key `files`"),
        (vec!["check", "--actions", "mmap,ftruncate"], "the ftruncate action needs files"),
        (vec!["run", &nul], "nul.rmap:3: "),
        (vec!["run", &long], "long.rmap:3: "),
        (vec!["run", &utf8], "utf8.rmap:3: not UTF-8 text"),
        (vec!["run", &after], "after.rmap:3: unknown action 'jump'"),
        (vec!["run", &dup], "dup.rmap:3: header 'pages:' given twice"),
        (vec!["run", &window], "window.rmap:4: pages 5..6 are outside the 2-page window"),
        (vec!["run", "/dev/zero"], "/dev/zero: larger than the limit"),
        (vec!["check", "--config", "/dev/zero"], "/dev/zero: larger than the limit"),
        (vec!["check", "--config", &empty_inv], "the invariant list is empty"),
        (vec!["check", "--config", &huge_time], "time limit must be between 1 and"),
        (vec!["check", "--invariants", ""], "the invariant list is empty"),
        (vec!["check", "--invariants", ","], "the invariant list is empty"),
        (vec!["check", "--time-limit", "18446744073709551615"], "time limit must be between 1 and"),
        (vec!["check", "--strategy", "dfs", "--max-depth", "18446744073709551615"], "max depth must be between 1 and"),
        (vec!["check", "--trace-out", "/nonexistent/x.rmap"], "--trace-out /nonexistent/x.rmap: cannot write there"),
        (vec!["check", "--json", "/nonexistent/x.json"], "--json /nonexistent/x.json: cannot write there"),
        (vec!["check", "--html", "/nonexistent/x.html"], "--html /nonexistent/x.html: cannot write there"),
        (vec!["check", "--itf", "/nonexistent/x.json"], "--itf /nonexistent/x.json: cannot write there"),
        (vec!["check", "--dot", "/tmp"], "--dot /tmp: cannot write there: is a directory"),
        (vec!["check", "--actions", ""], "no action kind is enabled"),
        (vec!["run", "--itf", "/nonexistent/x.json", &sc], "--itf /nonexistent/x.json: cannot write there"),
        (vec!["run", &mthp], "mthp.rmap:3: header 'mthp:' given twice"),
        (vec!["repro", &sc, "-o", "/nonexistent/x.c"], "--output /nonexistent/x.c: cannot write there"),
        (vec!["repro", "/dev/zero"], "/dev/zero: larger than the limit"),
        (vec!["explore", "--scenario", "/dev/zero"], "/dev/zero: larger than the limit"),
    ];
    for (args, want) in cases {
        let start = std::time::Instant::now();
        let (code, _, err) = rmapcheck(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line, got {err}");
        assert!(err.len() < 600 && !err.trim_end().chars().any(char::is_control), "{args:?}: {err:?}");
        // Refused before any search: no run takes long.
        assert!(start.elapsed().as_secs() < 60, "{args:?}");
    }
}

#[test]
fn a_write_error_on_standard_output_is_exit_2_not_a_panic() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let sc = format!("{}/../scenarios/fork-cow-child-writes.rmap", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_rmapcheck")).args(["run", "--full", &sc]).stdout(full).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("rmapcheck: error: cannot write to standard output"), "{err}");
}

#[test]
fn the_readme_mremap_mutant_example_finds_its_violation() {
    let (code, out, _) = rmapcheck(&[
        "check",
        "-q",
        "--procs",
        "1",
        "--pages",
        "3",
        "--actions",
        "mmap,write,mremap,munmap",
        "--mutant",
        "mremap-merge-skips-copied-from",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Counterexample for merge_compatible (5 steps)"), "{out}");
}

/// `merge` (and `bench`, `conform`) print through the same checked writes
/// as `run`: a full standard output is exit 2 with one line, not a panic.
#[test]
fn merge_on_a_full_standard_output_is_exit_2_not_a_panic() {
    let report = std::env::temp_dir().join(format!("rmapcheck-merge-full-{}.json", std::process::id()));
    std::fs::write(&report, r#"{"config": {"shard": "0/1", "procs": 3, "threads": 1}, "states": 1}"#).unwrap();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rmapcheck")).arg("merge").arg(&report).stdout(full).output().unwrap();
    let _ = std::fs::remove_file(&report);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("rmapcheck: error: cannot write to standard output") && err.lines().count() == 1, "{err}");
}
