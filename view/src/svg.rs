//! DOT to SVG through Graphviz's `dot` (Debian package `graphviz`).
//!
//! Graphviz lays out clusters (one per process), HTML-like tables (the page
//! table with one port per PTE) and a forest ranked by parent edges, which is
//! what makes an anon_vma forest readable; the pure-Rust layout crates do not
//! do clusters or ports.

use std::io::Write;
use std::process::{Command, Stdio};

/// What to do when `dot` is missing.
pub const INSTALL_HINT: &str = "Graphviz's 'dot' is needed for pictures: apt-get install -y graphviz";

/// Lays out `dot` and returns the SVG document (without the XML prolog, so
/// it can be inlined in HTML). `Err` is one line naming the problem.
pub fn render(dot: &str) -> Result<String, String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{INSTALL_HINT} ({e})"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = dot.to_string();
    // Write from another thread: dot may fill its stdout pipe before it has
    // read all of its input.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("dot: {e}"))?;
    writer.join().map_err(|_| "dot: writer thread panicked".to_string())?.map_err(|e| format!("dot: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("dot failed ({}): {}", out.status, err.lines().next().unwrap_or("")));
    }
    let svg = String::from_utf8(out.stdout).map_err(|e| format!("dot wrote invalid UTF-8: {e}"))?;
    Ok(match svg.find("<svg") {
        Some(i) => svg[i..].to_string(),
        None => svg,
    })
}
