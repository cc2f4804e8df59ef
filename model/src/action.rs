//! The action vocabulary: one action per system call or memory access, in
//! the same words the scenario files and the live-kernel executor use.

use crate::config::ActionKind;
use crate::state::{Page, Pid, Value};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One step of one process.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Action {
    /// `P mmap START LEN rw|r`: a private anonymous mapping of LEN pages at START.
    Mmap {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
        /// `PROT_WRITE` (always `PROT_READ`).
        write: bool,
    },
    /// `P read PAGE`: a load.
    Read {
        /// Process.
        pid: Pid,
        /// Page.
        page: Page,
    },
    /// `P write PAGE VALUE`: a store of VALUE.
    Write {
        /// Process.
        pid: Pid,
        /// Page.
        page: Page,
        /// Value stored (1..=values).
        value: Value,
    },
    /// `P fork`: the child is the next unused process number.
    Fork {
        /// Parent.
        pid: Pid,
    },
    /// `P munmap START LEN`.
    Munmap {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P exit`.
    Exit {
        /// Process.
        pid: Pid,
    },
    /// `P madv_pageout START LEN`: `madvise(MADV_PAGEOUT)`.
    MadvPageout {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P madv_free START LEN`: `madvise(MADV_FREE)`.
    MadvFree {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P reclaim PAGE`: kswapd reclaims the folio that P maps at PAGE, or
    /// that caches the swap slot P's swap PTE at PAGE names. The process
    /// only names the folio; kswapd does the work.
    Reclaim {
        /// Process whose page names the folio.
        pid: Pid,
        /// Page.
        page: Page,
    },
    /// `P mprotect START LEN rw|r`: change the protection of a range.
    Mprotect {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
        /// `PROT_WRITE` (always `PROT_READ`).
        write: bool,
    },
    /// `P mremap START LEN TO [dontunmap]`: move LEN pages at START to TO
    /// (`MREMAP_MAYMOVE|MREMAP_FIXED`, optionally `MREMAP_DONTUNMAP`).
    Mremap {
        /// Process.
        pid: Pid,
        /// First page of the source range.
        start: Page,
        /// Length in pages (old and new length are equal).
        len: u8,
        /// First page of the destination.
        to: Page,
        /// `MREMAP_DONTUNMAP`: the source VMA stays, empty.
        dontunmap: bool,
    },
    /// `kswapd writeback`: kswapd writes out and frees the folio its last
    /// `reclaim` unmapped. No process is involved.
    Writeback,
    /// `P madv_mergeable START LEN`: `madvise(MADV_MERGEABLE)`.
    MadvMergeable {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `P madv_unmergeable START LEN`: `madvise(MADV_UNMERGEABLE)`.
    MadvUnmergeable {
        /// Process.
        pid: Pid,
        /// First page.
        start: Page,
        /// Length in pages.
        len: u8,
    },
    /// `ksmd merge P A Q B`: ksmd scans page A of P and merges it with the
    /// page Q maps at B: into B's stable node if B is a KSM page, else the
    /// two pages become one new KSM page (A's frame survives, B's PTE is
    /// replaced). The processes only name the pages; ksmd does the work.
    KsmMerge {
        /// Process whose page ksmd scans.
        pid: Pid,
        /// Its page.
        page: Page,
        /// Process mapping the partner page.
        with: Pid,
        /// The partner's page.
        with_page: Page,
    },
    /// `ksmd drop P A`: ksmd notices that the rmap_item of P's page A is
    /// stale and removes it (remove_rmap_item_from_tree()).
    KsmDrop {
        /// Process of the rmap_item (it may have exited).
        pid: Pid,
        /// Page of the rmap_item.
        page: Page,
    },
    /// `kswapd split_deferred`: the deferred split shrinker runs over the
    /// whole queue. No process is involved.
    SplitDeferred,
}

/// The name kswapd's own actions carry in place of a process.
pub const KSWAPD: &str = "kswapd";
/// The name ksmd's actions carry in place of a process.
pub const KSMD: &str = "ksmd";

impl Action {
    /// The process performing (or, for `reclaim` and ksmd's actions,
    /// naming) the action; `0` for kswapd's `writeback`, which names none
    /// (see [`Action::process`]).
    pub fn pid(self) -> Pid {
        match self {
            Action::KsmMerge { pid, .. } | Action::KsmDrop { pid, .. } => pid,
            _ => self.process().unwrap_or(0),
        }
    }

    /// Applies `f` to every process the action names (the partner of a
    /// ksmd merge included): renumbering when a trace drops a fork.
    pub fn map_pids(self, f: impl Fn(Pid) -> Pid) -> Action {
        match self {
            Action::KsmMerge { pid, page, with, with_page } => {
                Action::KsmMerge { pid: f(pid), page, with: f(with), with_page }
            }
            Action::KsmDrop { pid, page } => Action::KsmDrop { pid: f(pid), page },
            a => match a.process() {
                Some(p) => a.with_pid(f(p)),
                None => a,
            },
        }
    }

    /// The process performing or naming the action, which must be alive;
    /// `None` for kswapd's `writeback` and ksmd's actions (a ksmd `drop`
    /// may name an exited process).
    pub fn process(self) -> Option<Pid> {
        match self {
            Action::Mmap { pid, .. }
            | Action::Read { pid, .. }
            | Action::Write { pid, .. }
            | Action::Fork { pid }
            | Action::Munmap { pid, .. }
            | Action::Exit { pid }
            | Action::MadvPageout { pid, .. }
            | Action::MadvFree { pid, .. }
            | Action::Reclaim { pid, .. }
            | Action::Mprotect { pid, .. }
            | Action::Mremap { pid, .. }
            | Action::MadvMergeable { pid, .. }
            | Action::MadvUnmergeable { pid, .. } => Some(pid),
            Action::Writeback | Action::SplitDeferred | Action::KsmMerge { .. } | Action::KsmDrop { .. } => None,
        }
    }

    /// The action's kind.
    pub fn kind(self) -> ActionKind {
        match self {
            Action::Mmap { .. } => ActionKind::Mmap,
            Action::Read { .. } => ActionKind::Read,
            Action::Write { .. } => ActionKind::Write,
            Action::Fork { .. } => ActionKind::Fork,
            Action::Munmap { .. } => ActionKind::Munmap,
            Action::Exit { .. } => ActionKind::Exit,
            Action::MadvPageout { .. } => ActionKind::MadvPageout,
            Action::MadvFree { .. } => ActionKind::MadvFree,
            Action::Reclaim { .. } => ActionKind::Reclaim,
            Action::Writeback => ActionKind::Writeback,
            Action::Mprotect { .. } => ActionKind::Mprotect,
            Action::Mremap { .. } => ActionKind::Mremap,
            Action::MadvMergeable { .. } => ActionKind::MadvMergeable,
            Action::MadvUnmergeable { .. } => ActionKind::MadvUnmergeable,
            Action::KsmMerge { .. } => ActionKind::KsmMerge,
            Action::KsmDrop { .. } => ActionKind::KsmDrop,
            Action::SplitDeferred => ActionKind::SplitDeferred,
        }
    }

    /// The same action performed by another process (symmetry, replay).
    pub fn with_pid(self, new: Pid) -> Action {
        let mut a = self;
        match &mut a {
            Action::Mmap { pid, .. }
            | Action::Read { pid, .. }
            | Action::Write { pid, .. }
            | Action::Fork { pid }
            | Action::Munmap { pid, .. }
            | Action::Exit { pid }
            | Action::MadvPageout { pid, .. }
            | Action::MadvFree { pid, .. }
            | Action::Reclaim { pid, .. }
            | Action::Mprotect { pid, .. }
            | Action::Mremap { pid, .. }
            | Action::MadvMergeable { pid, .. }
            | Action::MadvUnmergeable { pid, .. }
            | Action::KsmMerge { pid, .. }
            | Action::KsmDrop { pid, .. } => *pid = new,
            Action::Writeback | Action::SplitDeferred => {}
        }
        a
    }

    /// Parses the text form, e.g. `P0 mmap 0 2 rw` or `P1 write 0 3`.
    pub fn parse(text: &str) -> Result<Action, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            [KSWAPD, "writeback"] => return Ok(Action::Writeback),
            [KSWAPD, "split_deferred"] => return Ok(Action::SplitDeferred),
            [KSWAPD, v, ..] => {
                return Err(format!(
                    "'{v}' is not a kswapd action: expected 'kswapd writeback' or 'kswapd split_deferred'"
                ))
            }
            [KSMD, rest @ ..] => return parse_ksmd(rest),
            _ => {}
        }
        let (who, verb, args) = match words.as_slice() {
            [who, verb, args @ ..] => (*who, *verb, args),
            [] => return Err("empty action".into()),
            [w] => return Err(format!("'{w}' is not an action: expected 'P<n> <verb> ...'")),
        };
        let pid = who
            .strip_prefix('P')
            .and_then(|n| n.parse::<Pid>().ok())
            .ok_or_else(|| format!("'{who}' is not a process: expected P0, P1, ..."))?;
        let num = |i: usize, what: &str| -> Result<u8, String> {
            let w = args.get(i).ok_or_else(|| format!("'{verb}' needs {what}"))?;
            w.parse::<u8>().map_err(|_| format!("'{w}' is not a valid {what}"))
        };
        let arity = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("'{verb}' takes {n} argument(s), got {}", args.len()))
            }
        };
        let prot = |w: &str| match w {
            "rw" => Ok(true),
            "r" => Ok(false),
            p => Err(format!("'{p}' is not a protection: expected rw or r")),
        };
        let action = match verb {
            "mmap" => {
                arity(3)?;
                Action::Mmap { pid, start: num(0, "start page")?, len: num(1, "length")?, write: prot(args[2])? }
            }
            "mprotect" => {
                arity(3)?;
                Action::Mprotect { pid, start: num(0, "start page")?, len: num(1, "length")?, write: prot(args[2])? }
            }
            "mremap" => {
                let dontunmap = match args.get(3) {
                    None => false,
                    Some(&"dontunmap") if args.len() == 4 => true,
                    Some(w) if args.len() == 4 => {
                        return Err(format!("'{w}' is not an mremap flag: expected dontunmap"))
                    }
                    _ => return Err(format!("'mremap' takes 3 or 4 arguments, got {}", args.len())),
                };
                if args.len() < 3 {
                    return Err(format!("'mremap' takes 3 or 4 arguments, got {}", args.len()));
                }
                let (start, len, to) = (num(0, "start page")?, num(1, "length")?, num(2, "destination page")?);
                Action::Mremap { pid, start, len, to, dontunmap }
            }
            "read" => {
                arity(1)?;
                Action::Read { pid, page: num(0, "page")? }
            }
            "write" => {
                arity(2)?;
                let value = num(1, "value")?;
                if value == 0 {
                    return Err("a written value must be at least 1 (0 is what a fresh page reads as)".into());
                }
                Action::Write { pid, page: num(0, "page")?, value }
            }
            "fork" => {
                arity(0)?;
                Action::Fork { pid }
            }
            "munmap" => {
                arity(2)?;
                Action::Munmap { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "exit" => {
                arity(0)?;
                Action::Exit { pid }
            }
            "madv_pageout" => {
                arity(2)?;
                Action::MadvPageout { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "madv_free" => {
                arity(2)?;
                Action::MadvFree { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "madv_mergeable" => {
                arity(2)?;
                Action::MadvMergeable { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "madv_unmergeable" => {
                arity(2)?;
                Action::MadvUnmergeable { pid, start: num(0, "start page")?, len: num(1, "length")? }
            }
            "merge" | "drop" => return Err(format!("{verb} is ksmd's, not {who}'s: write 'ksmd {verb} {who} ...'")),
            "writeback" | "split_deferred" => {
                return Err(format!("{verb} is kswapd's, not {who}'s: write 'kswapd {verb}'"))
            }
            "reclaim" => {
                arity(1)?;
                Action::Reclaim { pid, page: num(0, "page")? }
            }
            v => {
                let names: Vec<_> = ActionKind::ALL.iter().map(|(_, n, _)| *n).collect();
                return Err(format!("unknown action '{v}' (known: {})", names.join(", ")));
            }
        };
        Ok(action)
    }
}

/// Parses what follows `ksmd`: `merge P A Q B` or `drop P A`.
fn parse_ksmd(args: &[&str]) -> Result<Action, String> {
    let proc_ = |w: &str| -> Result<Pid, String> {
        w.strip_prefix('P')
            .and_then(|n| n.parse::<Pid>().ok())
            .ok_or_else(|| format!("'{w}' is not a process: expected P0, P1, ..."))
    };
    let page = |w: &str| w.parse::<Page>().map_err(|_| format!("'{w}' is not a valid page"));
    match args {
        ["merge", p, a, q, b] => {
            Ok(Action::KsmMerge { pid: proc_(p)?, page: page(a)?, with: proc_(q)?, with_page: page(b)? })
        }
        ["merge", ..] => Err(format!("'ksmd merge' takes 4 arguments (P A Q B), got {}", args.len() - 1)),
        ["drop", p, a] => Ok(Action::KsmDrop { pid: proc_(p)?, page: page(a)? }),
        ["drop", ..] => Err(format!("'ksmd drop' takes 2 arguments (P A), got {}", args.len() - 1)),
        [v, ..] => Err(format!("'{v}' is not a ksmd action: expected 'ksmd merge P A Q B' or 'ksmd drop P A'")),
        [] => Err("'ksmd' needs an action: 'ksmd merge P A Q B' or 'ksmd drop P A'".into()),
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Action::Mmap { pid, start, len, write } => {
                write!(f, "P{pid} mmap {start} {len} {}", if write { "rw" } else { "r" })
            }
            Action::Read { pid, page } => write!(f, "P{pid} read {page}"),
            Action::Write { pid, page, value } => write!(f, "P{pid} write {page} {value}"),
            Action::Fork { pid } => write!(f, "P{pid} fork"),
            Action::Munmap { pid, start, len } => write!(f, "P{pid} munmap {start} {len}"),
            Action::Exit { pid } => write!(f, "P{pid} exit"),
            Action::Mprotect { pid, start, len, write } => {
                write!(f, "P{pid} mprotect {start} {len} {}", if write { "rw" } else { "r" })
            }
            Action::Mremap { pid, start, len, to, dontunmap } => {
                write!(f, "P{pid} mremap {start} {len} {to}{}", if dontunmap { " dontunmap" } else { "" })
            }
            Action::MadvPageout { pid, start, len } => write!(f, "P{pid} madv_pageout {start} {len}"),
            Action::MadvFree { pid, start, len } => write!(f, "P{pid} madv_free {start} {len}"),
            Action::Reclaim { pid, page } => write!(f, "P{pid} reclaim {page}"),
            Action::Writeback => write!(f, "{KSWAPD} writeback"),
            Action::SplitDeferred => write!(f, "{KSWAPD} split_deferred"),
            Action::MadvMergeable { pid, start, len } => write!(f, "P{pid} madv_mergeable {start} {len}"),
            Action::MadvUnmergeable { pid, start, len } => write!(f, "P{pid} madv_unmergeable {start} {len}"),
            Action::KsmMerge { pid, page, with, with_page } => {
                write!(f, "{KSMD} merge P{pid} {page} P{with} {with_page}")
            }
            Action::KsmDrop { pid, page } => write!(f, "{KSMD} drop P{pid} {page}"),
        }
    }
}
