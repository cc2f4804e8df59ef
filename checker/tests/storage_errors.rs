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

/// A parent-links file changed while the search runs (its first record,
/// the initial state's, which every trace ends at) makes rebuilding the
/// counterexamples fail its block checksum: one line naming the file and
/// exit 2, no verdict and no trace. About half a second: a mutant whose
/// violations the search keeps collecting (`--continue`) to depth 14.
#[test]
fn a_links_file_changed_during_the_search_is_exit_2_not_a_trace() {
    use std::os::unix::fs::FileExt;
    let tmp = std::env::temp_dir().join(format!("rmapcheck-links-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rmapcheck"))
        .args(["check", "--config", "anon", "--procs", "2", "--pages", "2", "--mutant", "fork-skips-root-ref"])
        .args(["--continue", "--max-memory", "64", "-q"])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rmapcheck");
    let start = std::time::Instant::now();
    let links = loop {
        let found = std::fs::read_dir(&tmp).unwrap().flatten().map(|d| d.path().join("links-0.bin")).find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.len() >= 8) // the initial state's record is written
        });
        if let Some(p) = found {
            break p;
        }
        assert!(child.try_wait().unwrap().is_none(), "the search ended before its links file was seen");
        assert!(start.elapsed().as_secs() < 60, "no links file");
        std::thread::sleep(std::time::Duration::from_micros(200));
    };
    std::fs::File::options().write(true).open(&links).unwrap().write_all_at(&[0; 8], 0).unwrap();
    let changed_at = start.elapsed();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "changed after {changed_at:?}; stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("rmapcheck: bfs storage: parent-links file ") && err.contains("links-0.bin is corrupt"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "a verdict was printed: {}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::remove_dir_all(&tmp);
}
