//! Scenario files: a litmus-test-like text format, one action per line.
//!
//! ```text
//! # P1 writes after fork: COW gives it its own copy.
//! kernel: v6.18
//! pages: 2
//! expect: holds
//!
//! P0 mmap 0 2 rw
//! P0 write 0 1
//! P0 fork
//! P1 write 0 2
//! P0 read 0 = 1      # a load may state the value it must return
//! ```
//!
//! Header lines (`key: value`, each at most once) come before the first
//! action: `kernel` (default v6.18), `pages` (the address window, default
//! 4), `procs` (the process bound, default 8), `mthp` (the anonymous mTHP
//! sizes a fault may allocate, e.g. `16k`; default none), `mutant` (a
//! deliberate model mistake, so that a `--mutant` run's trace replays) and
//! `expect` (required): `holds`, or `violates INVARIANT` optionally
//! followed by `at STEP` (1-based). An `assert OBJECT field=value ...`
//! line after an action states what a kernel object must look like after
//! it ([`crate::assert`]). `#` starts a comment anywhere.
//!
//! Every line is parsed, and every action checked against the header's
//! bounds (pages, process numbers, values), before any step runs: a
//! malformed line after the expected violation is an error too.

use crate::action::Action;
use crate::assert::{Assert, Object};
use crate::config::{Config, Kernel, Mthp, Mutant};
use crate::input::printable;
use crate::state::Value;
use std::fmt::Write as _;

/// The verdict a scenario expects.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Expect {
    /// Every invariant holds after every step.
    Holds,
    /// The named invariant is the first to fail, at the given step if any.
    Violates {
        /// Invariant name.
        invariant: String,
        /// 1-based step number.
        at: Option<usize>,
    },
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Holds => f.write_str("holds"),
            Expect::Violates { invariant, at: None } => write!(f, "violates {invariant}"),
            Expect::Violates { invariant, at: Some(n) } => write!(f, "violates {invariant} at {n}"),
        }
    }
}

/// One action line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Step {
    /// 1-based line number in the file.
    pub line: usize,
    /// The action.
    pub action: Action,
    /// For a load, the value the line says it must return.
    pub reads: Option<Value>,
    /// The `assert` lines that follow it.
    pub asserts: Vec<Assert>,
}

impl Step {
    /// The step of `action` at `line`, stating nothing about its result.
    pub fn new(line: usize, action: Action) -> Step {
        Step { line, action, reads: None, asserts: Vec::new() }
    }
}

/// A parsed scenario file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Scenario {
    /// Comment lines before the header, without `#`.
    pub title: Vec<String>,
    /// Kernel variant.
    pub kernel: Kernel,
    /// Pages in the address window.
    pub pages: u8,
    /// Process bound.
    pub procs: u8,
    /// A deliberate model mistake the scenario runs under.
    pub mutant: Option<Mutant>,
    /// Anonymous mTHP sizes.
    pub mthp: Mthp,
    /// `use_zero_pages: yes` ([`Config::use_zero_pages`]).
    pub use_zero_pages: bool,
    /// Expected verdict.
    pub expect: Expect,
    /// The actions.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// The model configuration the scenario runs under: its kernel, window,
    /// process bound, mTHP sizes and mutant, the named files if it names
    /// one, any of the 15 values, 32 swap slots, every action kind,
    /// replayed with stable ids ([`Config::for_replay`]).
    pub fn config(&self) -> Config {
        // A scenario that names a file gets all three named files (the
        // ones it does not name stay untouched).
        let names_file = self.steps.iter().any(|st| {
            matches!(
                st.action,
                Action::MmapFile { file: Some(_), .. } | Action::Ftruncate { .. } | Action::Fsync { .. }
            )
        });
        let files = if names_file { crate::NAMED_FILES.len() as u8 } else { 0 };
        Config {
            kernel: self.kernel,
            procs: self.procs,
            pages: self.pages,
            values: 15,
            files,
            mthp: self.mthp,
            use_zero_pages: self.use_zero_pages,
            mutant: self.mutant,
            // As many slots as the model allows: the live runs' zram device
            // has thousands, and a few large folios take four each.
            swap_slots: 32,
            ..Config::default()
        }
        .for_replay()
    }

    /// Parses a scenario; errors read `file:line: what is wrong`, with the
    /// input they repeat made printable ([`printable`]).
    pub fn parse(text: &str, file: &str) -> Result<Scenario, String> {
        let file = printable(file);
        let mut sc = Scenario {
            title: Vec::new(),
            kernel: Kernel::V6_18,
            pages: 4,
            procs: 8,
            mutant: None,
            mthp: Mthp::none(),
            use_zero_pages: false,
            expect: Expect::Holds,
            steps: Vec::new(),
        };
        let mut expect = None;
        let mut seen: Vec<&str> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |m: String| format!("{file}:{line}: {}", printable(&m));
            let (body, comment) = match raw.find('#') {
                Some(p) => (&raw[..p], Some(raw[p + 1..].trim())),
                None => (raw, None),
            };
            let body = body.trim();
            if body.is_empty() {
                if let (Some(c), None, true) = (comment, &expect, sc.steps.is_empty()) {
                    sc.title.push(c.to_string());
                }
                continue;
            }
            if let Some(rest) =
                body.strip_prefix("assert").filter(|r| r.is_empty() || r.starts_with(char::is_whitespace))
            {
                let a = Assert::parse(rest, line).map_err(err)?;
                let (pid, end) = match a.object {
                    Object::Proc(p) => (Some(p), 0),
                    Object::Vma(p, _, b) => (Some(p), b),
                    Object::Page(p, n) => (Some(p), n.saturating_add(1)),
                    _ => (None, 0),
                };
                if let Some(p) = pid.filter(|&p| p >= sc.procs) {
                    return Err(err(format!(
                        "P{p} is beyond the bound of {} processes (procs: {})",
                        sc.procs, sc.procs
                    )));
                }
                if end > sc.pages {
                    return Err(err(format!(
                        "{} is outside the {}-page window (pages: {})",
                        a.object, sc.pages, sc.pages
                    )));
                }
                let step = sc.steps.last_mut().ok_or_else(|| err("an assert line before the first action".into()))?;
                step.asserts.push(a);
                continue;
            }
            if let Some((key, value)) = body.split_once(':') {
                let key = key.trim();
                if !sc.steps.is_empty() {
                    return Err(err(format!("header line '{key}:' after the first action")));
                }
                let value = value.trim();
                let known = ["kernel", "pages", "procs", "mthp", "use_zero_pages", "mutant", "expect"];
                let Some(&key) = known.iter().find(|k| **k == key) else {
                    return Err(err(format!("unknown header '{key}' (known: {})", known.join(", "))));
                };
                if seen.contains(&key) {
                    return Err(err(format!("header '{key}:' given twice")));
                }
                seen.push(key);
                match key {
                    "kernel" => sc.kernel = value.parse().map_err(err)?,
                    "pages" => sc.pages = parse_bound(value, 1, 8).map_err(|m| err(format!("pages: {m}")))?,
                    "procs" => sc.procs = parse_bound(value, 1, 8).map_err(|m| err(format!("procs: {m}")))?,
                    "mthp" => sc.mthp = value.parse().map_err(|m| err(format!("mthp: {m}")))?,
                    "use_zero_pages" => {
                        sc.use_zero_pages = match value {
                            "yes" => true,
                            "no" => false,
                            v => return Err(err(format!("use_zero_pages: '{v}' is not yes or no"))),
                        }
                    }
                    "mutant" => sc.mutant = Some(value.parse().map_err(err)?),
                    _ => expect = Some(parse_expect(value).map_err(err)?),
                }
                continue;
            }
            let (act, reads) = match body.split_once('=') {
                Some((a, v)) => {
                    let v = v.trim();
                    let v: Value = v.parse().map_err(|_| err(format!("'{v}' is not a value")))?;
                    (a.trim(), Some(v))
                }
                None => (body, None),
            };
            let action = Action::parse(act).map_err(err)?;
            if reads.is_some() && !matches!(action, Action::Read { .. }) {
                return Err(err("only a read can state the value it returns ('= N')".into()));
            }
            within_bounds(action, sc.pages, sc.procs).map_err(err)?;
            sc.steps.push(Step { line, action, reads, asserts: Vec::new() });
        }
        sc.expect = expect.ok_or_else(|| format!("{file}:1: missing 'expect:' header (holds | violates INVARIANT)"))?;
        if sc.steps.is_empty() {
            return Err(format!("{file}:1: no actions"));
        }
        Ok(sc)
    }

    /// Writes the scenario in the file format (round-trips through [`Scenario::parse`]).
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        for c in &self.title {
            let _ = writeln!(t, "# {c}");
        }
        let _ = writeln!(t, "kernel: {}\npages: {}\nprocs: {}", self.kernel, self.pages, self.procs);
        if self.mthp.any() {
            let _ = writeln!(t, "mthp: {}", self.mthp);
        }
        if self.use_zero_pages {
            let _ = writeln!(t, "use_zero_pages: yes");
        }
        if let Some(m) = self.mutant {
            let _ = writeln!(t, "mutant: {}", m.name());
        }
        let _ = writeln!(t, "expect: {}\n", self.expect);
        for s in &self.steps {
            match s.reads {
                Some(v) => {
                    let _ = writeln!(t, "{} = {v}", s.action);
                }
                None => {
                    let _ = writeln!(t, "{}", s.action);
                }
            }
            for a in &s.asserts {
                let _ = writeln!(t, "{a}");
            }
        }
        t
    }
}

/// Checks an action against the scenario's bounds before anything runs:
/// processes below the process bound, pages and ranges inside the window,
/// lengths of at least one page, values 1 to 15.
fn within_bounds(a: Action, pages: u8, procs: u8) -> Result<(), String> {
    let pids = match a {
        Action::KsmMerge { pid, with, .. } => vec![pid, with],
        a => a.process().into_iter().chain(matches!(a, Action::KsmDrop { .. }).then(|| a.pid())).collect(),
    };
    if let Some(p) = pids.into_iter().find(|&p| p >= procs) {
        return Err(format!("P{p} is beyond the bound of {procs} processes (procs: {procs})"));
    }
    let range = |start: u8, len: u8| -> Result<(), String> {
        if len == 0 {
            return Err("a range must be at least one page long".into());
        }
        if u16::from(start) + u16::from(len) > u16::from(pages) {
            return Err(format!(
                "pages {start}..{} are outside the {pages}-page window (pages: {pages})",
                u16::from(start) + u16::from(len)
            ));
        }
        Ok(())
    };
    match a {
        Action::Mmap { start, len, .. }
        | Action::Munmap { start, len, .. }
        | Action::MadvPageout { start, len, .. }
        | Action::MadvFree { start, len, .. }
        | Action::Mprotect { start, len, .. }
        | Action::MadvMergeable { start, len, .. }
        | Action::MadvUnmergeable { start, len, .. }
        | Action::MadvDontneed { start, len, .. } => range(start, len),
        // The modelled file is as long as the window.
        Action::MmapFile { start, len, pgoff, .. } => range(start, len).and_then(|()| {
            if u16::from(pgoff) + u16::from(len) > u16::from(pages) {
                return Err(format!(
                    "file pages {pgoff}..{} are beyond the {pages}-page file (pages: {pages})",
                    u16::from(pgoff) + u16::from(len)
                ));
            }
            Ok(())
        }),
        Action::Ftruncate { size, .. } if size > pages => {
            Err(format!("size {size} is beyond the {pages}-page file (pages: {pages})"))
        }
        Action::Ftruncate { .. } | Action::Fsync { .. } => Ok(()),
        Action::Mremap { start, len, to, .. } => range(start, len).and_then(|()| range(to, len)),
        Action::Read { page, .. }
        | Action::Reclaim { page, .. }
        | Action::KsmDrop { page, .. }
        | Action::Pin { page, .. }
        | Action::Unpin { page, .. } => range(page, 1),
        Action::Write { page, value, .. } if value <= 15 => range(page, 1),
        Action::Write { value, .. } => Err(format!("value {value} is outside 0..=15")),
        Action::KsmMerge { page, with_page: crate::action::KSM_ZERO_PAGE, .. } => range(page, 1),
        Action::KsmMerge { page, with_page, .. } => range(page, 1).and_then(|()| range(with_page, 1)),
        Action::UffdMove { src, dst, .. } => range(src, 1).and_then(|()| range(dst, 1)),
        Action::PrctlMerge { .. } => Ok(()),
        Action::Fork { .. } | Action::Exit { .. } | Action::Writeback | Action::SplitDeferred => Ok(()),
    }
}

fn parse_bound(v: &str, lo: u8, hi: u8) -> Result<u8, String> {
    match v.parse::<u8>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("'{v}' is not a number from {lo} to {hi}")),
    }
}

fn parse_expect(v: &str) -> Result<Expect, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    match words.as_slice() {
        ["holds"] => Ok(Expect::Holds),
        ["violates", inv] => Ok(Expect::Violates { invariant: inv.to_string(), at: None }),
        ["violates", inv, "at", n] => {
            let at = n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| format!("'{n}' is not a step number"))?;
            Ok(Expect::Violates { invariant: inv.to_string(), at: Some(at) })
        }
        _ => Err(format!("bad expect '{v}': expected 'holds' or 'violates INVARIANT [at STEP]'")),
    }
}
