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
//! Header lines (`key: value`) come before the first action: `kernel`
//! (default v6.18), `pages` (the address window, default 4), `procs` (the
//! process bound, default 8), `mthp` (the anonymous mTHP sizes a fault
//! may allocate, e.g. `16k`; default none) and `expect` (required):
//! `holds`, or `violates INVARIANT` optionally followed by `at STEP`
//! (1-based).
//! `#` starts a comment anywhere.

use crate::action::Action;
use crate::config::{Config, Kernel, Mthp};
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
    /// Anonymous mTHP sizes.
    pub mthp: Mthp,
    /// Expected verdict.
    pub expect: Expect,
    /// The actions.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// The model configuration the scenario runs under: its kernel, window,
    /// process bound and mTHP sizes, any of the 15 values, 32 swap slots,
    /// every action kind,
    /// replayed with stable ids ([`Config::for_replay`]).
    pub fn config(&self) -> Config {
        Config {
            kernel: self.kernel,
            procs: self.procs,
            pages: self.pages,
            values: 15,
            mthp: self.mthp,
            // As many slots as the model allows: the live runs' zram device
            // has thousands, and a few large folios take four each.
            swap_slots: 32,
            ..Config::default()
        }
        .for_replay()
    }

    /// Parses a scenario; errors read `file:line: what is wrong`.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, String> {
        let mut sc = Scenario {
            title: Vec::new(),
            kernel: Kernel::V6_18,
            pages: 4,
            procs: 8,
            mthp: Mthp::none(),
            expect: Expect::Holds,
            steps: Vec::new(),
        };
        let mut expect = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |m: String| format!("{file}:{line}: {m}");
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
            if let Some((key, value)) = body.split_once(':') {
                if !sc.steps.is_empty() {
                    return Err(err(format!("header line '{key}:' after the first action")));
                }
                let value = value.trim();
                match key.trim() {
                    "kernel" => sc.kernel = value.parse().map_err(err)?,
                    "pages" => sc.pages = parse_bound(value, 1, 8).map_err(|m| err(format!("pages: {m}")))?,
                    "procs" => sc.procs = parse_bound(value, 1, 8).map_err(|m| err(format!("procs: {m}")))?,
                    "mthp" => sc.mthp = value.parse().map_err(|m| err(format!("mthp: {m}")))?,
                    "expect" => expect = Some(parse_expect(value).map_err(err)?),
                    k => return Err(err(format!("unknown header '{k}' (known: kernel, pages, procs, mthp, expect)"))),
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
            sc.steps.push(Step { line, action, reads });
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
        }
        t
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
