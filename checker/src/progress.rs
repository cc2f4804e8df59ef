//! Where a search's progress lines go: a live progress bar when stderr is
//! a terminal, the plain lines otherwise (logs, CI, pipes).
//!
//! The searches write one line per report as before; this sink turns each
//! line into the bar's message on a terminal. The bar runs against the time
//! limit when there is one, and is a spinner with the elapsed time when
//! there is none.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// A `Write` for progress lines.
pub struct ProgressSink {
    bar: Option<ProgressBar>,
    plain: Box<dyn Write + Send>,
    pending: Vec<u8>,
}

impl ProgressSink {
    /// The sink for the command line: a bar when stderr is a terminal.
    pub fn stderr(time_limit: Option<Duration>) -> Self {
        let target = std::io::stderr().is_terminal().then(ProgressDrawTarget::stderr);
        Self::new(target, Box::new(std::io::stderr()), time_limit)
    }

    /// A bar drawn to `target`, or plain lines to `plain` without one.
    pub fn new(target: Option<ProgressDrawTarget>, plain: Box<dyn Write + Send>, time_limit: Option<Duration>) -> Self {
        let bar = target.map(|t| {
            let (bar, template) = match time_limit {
                Some(l) => (
                    ProgressBar::with_draw_target(Some(l.as_secs().max(1)), t),
                    "{spinner} {elapsed:>4} [{bar:24}] {pos}/{len} s  {wide_msg}",
                ),
                None => (ProgressBar::with_draw_target(None, t), "{spinner} {elapsed:>4}  {wide_msg}"),
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
            bar.enable_steady_tick(Duration::from_millis(120));
            if let Some(l) = time_limit {
                // Move the bar with the clock, not only when a line comes.
                let (b, start) = (bar.clone(), Instant::now());
                std::thread::spawn(move || {
                    while !b.is_finished() {
                        b.set_position(start.elapsed().min(l).as_secs());
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
            }
            bar
        });
        ProgressSink { bar, plain, pending: Vec::new() }
    }

    /// Removes the bar, so the report prints on a clean line.
    pub fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The bar's current message (what the last line said), if drawing one.
    pub fn message(&self) -> Option<String> {
        self.bar.as_ref().map(ProgressBar::message)
    }

    fn line(&mut self, line: &str) -> std::io::Result<()> {
        let Some(bar) = &self.bar else { return writeln!(self.plain, "{line}") };
        // The bar shows the elapsed time itself: drop the line's `[  2.0s]`.
        let msg = match line.trim_start().strip_prefix('[').and_then(|r| r.split_once("s] ")) {
            Some((_, rest)) => rest,
            None => line.trim(),
        };
        bar.set_message(msg.to_string());
        Ok(())
    }
}

impl Write for ProgressSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            self.line(String::from_utf8_lossy(&line[..i]).trim_end())?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.plain.flush()
    }
}

impl Drop for ProgressSink {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn without_a_terminal_lines_pass_through_whole() {
        let buf = Buf::default();
        let mut s = ProgressSink::new(None, Box::new(buf.clone()), None);
        write!(s, "[   2.0s] depth=3 ").unwrap();
        writeln!(s, "states=10\n  width 1 depth 2: kept=4").unwrap();
        assert_eq!(
            String::from_utf8(buf.0.lock().unwrap().clone()).unwrap(),
            "[   2.0s] depth=3 states=10\n  width 1 depth 2: kept=4\n"
        );
        assert_eq!(s.message(), None);
    }

    #[test]
    fn on_a_terminal_each_line_becomes_the_bar_message() {
        let buf = Buf::default();
        let mut s = ProgressSink::new(
            Some(ProgressDrawTarget::hidden()),
            Box::new(buf.clone()),
            Some(Duration::from_secs(600)),
        );
        writeln!(s, "[   2.0s] depth=3 states=10 unique=7").unwrap();
        assert_eq!(s.message().as_deref(), Some("depth=3 states=10 unique=7"));
        write!(s, "  width 2 depth 5: frontier=1349").unwrap();
        assert_eq!(s.message().as_deref(), Some("depth=3 states=10 unique=7"), "a partial line waits for its end");
        writeln!(s).unwrap();
        assert_eq!(s.message().as_deref(), Some("width 2 depth 5: frontier=1349"));
        assert!(buf.0.lock().unwrap().is_empty(), "nothing printed as plain lines");
    }
}
