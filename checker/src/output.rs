//! Where a run writes: output files named by flags, checked before the
//! search starts so that a bad path cannot turn a finished search's exit
//! code into 2, and standard output, whose write errors (a full disk, a
//! closed pipe) are errors rather than panics.

use rmapcheck_model::input::printable;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Checks, before anything runs, that the file `path` given to `flag`
/// (`--json`, `--trace-out`, ...) can be written: an existing file must
/// open for writing (it is not truncated here), a new one must be
/// creatable (it is created and removed again). Errors name the flag and
/// the path.
pub fn check_output_path(flag: &str, path: &str) -> Result<(), String> {
    let fail = |e: String| format!("{flag} {}: cannot write there: {e}", printable(path));
    if path.is_empty() {
        return Err(fail("empty path".into()));
    }
    let p = Path::new(path);
    if p.is_dir() {
        return Err(fail("is a directory".into()));
    }
    if p.exists() {
        return OpenOptions::new().write(true).open(p).map(drop).map_err(|e| fail(e.to_string()));
    }
    OpenOptions::new().write(true).create_new(true).open(p).map_err(|e| fail(e.to_string()))?;
    std::fs::remove_file(p).map_err(|e| fail(e.to_string()))
}

/// Writes `text` to the file `path` given to `flag`.
pub fn write_file(flag: &str, path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{flag} {}: cannot write: {e}", printable(path)))
}

/// Writes `text` to standard output and flushes it; a write error is an
/// error message, not a panic.
pub fn print(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_output_paths_are_refused_and_good_ones_left_as_they_were() {
        let e = check_output_path("--trace-out", "/nonexistent/x.rmap").unwrap_err();
        assert!(e.starts_with("--trace-out /nonexistent/x.rmap: cannot write there: "), "{e}");
        let e = check_output_path("--json", "/tmp").unwrap_err();
        assert_eq!(e, "--json /tmp: cannot write there: is a directory");
        let dir = std::env::temp_dir().join(format!("rmapcheck-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let new = dir.join("new.json");
        check_output_path("--json", new.to_str().unwrap()).unwrap();
        assert!(!new.exists(), "the check leaves no file behind");
        let old = dir.join("old.json");
        std::fs::write(&old, "kept").unwrap();
        check_output_path("--json", old.to_str().unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "kept", "the check truncates nothing");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
