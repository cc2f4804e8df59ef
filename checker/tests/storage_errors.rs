//! A BFS that cannot use its files says so in one line and exits 2: no
//! verdict is printed from a search that lost its storage (the damaged
//! spill file itself is tested in `checker/src/search/bfs/frontier.rs`).

use std::process::Command;

#[test]
fn an_unusable_spill_directory_is_exit_2_and_one_line() {
    // Well under a second: the search stops before its first state.
    let out = Command::new(env!("CARGO_BIN_EXE_rmapcheck"))
        .args(["check", "--procs", "2", "--pages", "1", "-q"])
        .env("TMPDIR", "/dev/null/spill") // not a directory, even for root
        .output()
        .expect("run rmapcheck");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("rmapcheck: bfs storage:")
            && err.contains("cannot create the spill directory /dev/null/spill/"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "a verdict was printed: {}", String::from_utf8_lossy(&out.stdout));
}
