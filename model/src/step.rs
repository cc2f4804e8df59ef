//! Applying one action to a state, and enumerating the actions the checker
//! explores from a state.

use crate::action::Action;
use crate::canon::normalize;
use crate::config::{ActionKind, Config};
use crate::ctx::Ctx;
use crate::memory::{read_fault, write_access};
use crate::mmap::{do_mmap, do_munmap, dup_mmap, exit_mmap};
use crate::mprotect::do_mprotect;
use crate::mremap::do_mremap;
use crate::state::{Pte, State};

/// Applies `action` to a copy of `s`. `Err` says why the action cannot
/// happen in this state (the process does not exist, the store would
/// SIGSEGV, ...). A kernel assertion that fires is not an error: it is
/// recorded in [`State::oops`] of the returned state.
pub fn step(s: &State, action: Action, ctx: &mut Ctx) -> Result<State, String> {
    if let Some(o) = &s.oops {
        return Err(format!("the kernel already oopsed: {}", o.what));
    }
    let pid = action.pid() as usize;
    match s.mms.get(pid) {
        None => return Err(format!("P{pid} does not exist (next child is P{})", s.mms.len())),
        Some(mm) if !mm.alive => return Err(format!("P{pid} has exited")),
        Some(_) => {}
    }
    let mut n = s.clone();
    match action {
        Action::Mmap { start, len, write, .. } => do_mmap(&mut n, ctx, pid, start, len, write)?,
        Action::Read { page, .. } => {
            check_page(&n, page)?;
            read_fault(&mut n, ctx, pid, page)?
        }
        Action::Write { page, value, .. } => {
            check_page(&n, page)?;
            if value == 0 || value > 15 {
                return Err(format!("value {value} is outside 1..=15"));
            }
            write_access(&mut n, ctx, pid, page, value)?
        }
        Action::Fork { .. } => {
            dup_mmap(&mut n, ctx, pid)?;
        }
        Action::Munmap { start, len, .. } => do_munmap(&mut n, ctx, pid, start, len)?,
        Action::Exit { .. } => exit_mmap(&mut n, ctx, pid),
        Action::Mprotect { start, len, write, .. } => do_mprotect(&mut n, ctx, pid, start, len, write)?,
        Action::Mremap { start, len, to, dontunmap, .. } => do_mremap(&mut n, ctx, pid, start, len, to, dontunmap)?,
    }
    normalize(&mut n, ctx.cfg.ids);
    Ok(n)
}

fn check_page(s: &State, page: u8) -> Result<(), String> {
    if page >= s.pages() {
        return Err(format!("page {page} is outside the {}-page address window", s.pages()));
    }
    Ok(())
}

/// The actions the checker explores from `s`, in a fixed order. Loads that
/// hit a present PTE and stores of the value already there change nothing
/// and are left out; so are calls that only fail (SIGSEGV, EEXIST, a
/// munmap of nothing).
pub fn enabled_actions(cfg: &Config, s: &State, out: &mut Vec<Action>) {
    if s.oops.is_some() {
        return;
    }
    let on = |k| cfg.actions.contains(k);
    let pages = s.pages();
    for (pid, mm) in s.mms.iter().enumerate().filter(|(_, mm)| mm.alive) {
        let pid = pid as u8;
        if on(ActionKind::Mmap) {
            for start in 0..pages {
                for len in 1..=pages - start {
                    let end = start + len;
                    if mm.overlaps(start, end) {
                        break;
                    }
                    for write in [true, false] {
                        out.push(Action::Mmap { pid, start, len, write });
                    }
                }
            }
        }
        for page in 0..pages {
            let Some(vi) = mm.vma_index(page) else { continue };
            let pte = mm.ptes[page as usize];
            if on(ActionKind::Read) && pte == Pte::None {
                out.push(Action::Read { pid, page });
            }
            if on(ActionKind::Write) && mm.vmas[vi].write {
                for value in 1..=cfg.values {
                    let same = matches!(pte, Pte::Present { folio, writable: true, .. }
                        if s.folios[folio as usize].data == value);
                    if !same {
                        out.push(Action::Write { pid, page, value });
                    }
                }
            }
        }
        if on(ActionKind::Fork) && s.mms.len() < cfg.procs as usize {
            out.push(Action::Fork { pid });
        }
        if on(ActionKind::Munmap) {
            for start in 0..pages {
                for len in 1..=pages - start {
                    let end = start + len;
                    if mm.overlaps(start, end) {
                        out.push(Action::Munmap { pid, start, len });
                    }
                }
            }
        }
        if on(ActionKind::Mprotect) {
            for start in 0..pages {
                for end in start + 1..=pages {
                    // Every page must be mapped (else ENOMEM); a call that
                    // changes no VMA's flags changes nothing.
                    if mm.vma_index(end - 1).is_none() {
                        break;
                    }
                    let flags = mm.vmas.iter().filter(|v| v.start < end && start < v.end).map(|v| v.write);
                    let (mut any_rw, mut any_r) = (false, false);
                    for w in flags {
                        any_rw |= w;
                        any_r |= !w;
                    }
                    if any_r {
                        out.push(Action::Mprotect { pid, start, len: end - start, write: true });
                    }
                    if any_rw {
                        out.push(Action::Mprotect { pid, start, len: end - start, write: false });
                    }
                }
            }
        }
        if on(ActionKind::Mremap) {
            for v in &mm.vmas {
                for start in v.start..v.end {
                    for len in 1..=v.end - start {
                        for to in 0..=pages - len {
                            if start < to + len && to < start + len {
                                continue;
                            }
                            for dontunmap in [false, true] {
                                out.push(Action::Mremap { pid, start, len, to, dontunmap });
                            }
                        }
                    }
                }
            }
        }
        if on(ActionKind::Exit) {
            out.push(Action::Exit { pid });
        }
    }
}
