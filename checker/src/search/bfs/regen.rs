//! Phase 3 of an unsharded level: the new states' records. A batch of
//! candidates whose records did not fit the frontier's memory budget keeps
//! only their fingerprints and parent links, so a level writes to disk the
//! records of its new states, not of every candidate (repeats across
//! segments included, twice as many in `vma3`); their winners' records
//! are regenerated from their parents. The winners of a frontier segment's
//! candidates are in frontier order, so one sequential read of the segment
//! (kept, in memory or in its spill file, until this phase) decodes each
//! parent that has winners and steps the recorded action again
//! (`docs/storage.md`).

use super::cands::{Batch, Scratch};
use super::fingerprint::fingerprint_into;
use super::frontier::{corrupt_record, decode, encode, push_record, Segment, Spill, SEGMENT};
use crate::explore::Explorer;
use rmapcheck_model::{step, Ctx};

/// The next frontier's segments for the winners among `batches` (the
/// candidates of one frontier segment's states, in order), numbered from
/// `first`, and their parent links in that order. A batch that kept its
/// records drops its losers'; the winners of one that did not are
/// regenerated from `parent`.
pub fn number(
    ex: &Explorer,
    parent: Option<&Segment>,
    batches: &mut [Batch],
    first: u64,
    spill: &Spill,
    buf: &mut Vec<u8>,
) -> std::io::Result<(Vec<Segment>, Vec<u64>)> {
    let (mut segs, mut links, mut again) = (Vec::new(), Vec::new(), Vec::new());
    let mut id = first;
    let (mut fps_buf, mut links_buf) = (Scratch::default(), Scratch::default());
    for b in batches {
        let won = b.won();
        let seg = b.seg.take();
        let (fps, ls) = (b.fps(&mut fps_buf)?, b.links(&mut links_buf)?);
        let winners = fps.iter().zip(ls).zip(&won).filter(|(_, w)| **w).map(|((&fp, &l), _)| (fp, l));
        let start = links.len();
        links.extend(winners.clone().map(|(_, l)| l));
        match seg {
            Some(mut seg) => {
                seg.decide(id, &won, spill);
                segs.push(seg);
            }
            None => again.extend(winners.zip(id..).map(|((fp, l), i)| (fp, l, i))),
        }
        id += (links.len() - start) as u64;
    }
    segs.retain(|s| s.states > 0);
    if !again.is_empty() {
        let parent = parent.ok_or_else(|| internal("new states to regenerate without their parents".into()))?;
        segs.extend(regenerate(ex, parent, &again, spill, buf)?);
        segs.sort_by_key(|s| s.first_id);
    }
    Ok((segs, links))
}

/// The next frontier's segments for `wins` (fingerprint, parent link, id:
/// winners of `seg`'s states' candidates, in order), regenerated from
/// their parents in `seg`. A regenerated state whose fingerprint is not its
/// candidate's is an internal error (`InvalidData`), never a state stored
/// wrong.
fn regenerate(
    ex: &Explorer,
    seg: &Segment,
    wins: &[(u64, u64, u64)],
    spill: &Spill,
    buf: &mut Vec<u8>,
) -> std::io::Result<Vec<Segment>> {
    let mut wins = wins.iter().copied().peekable();
    let mut out = Vec::new();
    let (mut bytes, mut body, mut actions) = (Vec::new(), Vec::new(), Vec::new());
    // The segment being filled: its first id and states.
    let (mut seg_first, mut n) = (0u64, 0usize);
    let mut err = None;
    let symmetry = ex.cfg.symmetry;
    let flush = |first: u64, n: usize, bytes: &mut Vec<u8>, out: &mut Vec<Segment>| -> std::io::Result<()> {
        if n > 0 {
            out.push(spill.keep(first, n, std::mem::take(bytes))?);
        }
        Ok(())
    };
    seg.for_each(buf, 1, |id, rec| {
        let Some(&(_, link, _)) = wins.peek() else { return false };
        if link >> 16 != id {
            return true;
        }
        let Some(s) = decode(rec, symmetry) else {
            err = Some(corrupt_record(id));
            return false;
        };
        actions.clear();
        ex.actions(&s, &mut actions);
        while let Some((fp, link, new_id)) = wins.next_if(|(_, l, _)| l >> 16 == id) {
            let k = (link & 0xffff) as usize;
            // Not `Explorer::step`: the transition was counted as coverage
            // when it was expanded.
            let Some(next) = actions.get(k).and_then(|&a| step(&s, a, &mut Ctx::new(&ex.cfg, false)).ok()) else {
                err = Some(internal(format!("action {k} of state {id} does not step again")));
                return false;
            };
            // fingerprint_into() appends: one state's encoding at a time.
            body.clear();
            let (again, own) = fingerprint_into(&next, &mut body);
            if again != fp {
                err = Some(internal(format!(
                    "state {id}'s action {k} regenerates fingerprint {again:#x}, its candidate had {fp:#x}"
                )));
                return false;
            }
            // A new segment at a gap in the ids (a batch between that kept
            // its records) or when this one is full.
            if n == SEGMENT || (n > 0 && new_id != seg_first + n as u64) {
                if let Err(e) = flush(seg_first, n, &mut bytes, &mut out) {
                    err = Some(e);
                    return false;
                }
                n = 0;
            }
            if n == 0 {
                seg_first = new_id;
            }
            if own {
                push_record(&[], &body, &mut bytes);
            } else {
                encode(&next, &[], &mut bytes);
            }
            n += 1;
        }
        true
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    if let Some((_, link, _)) = wins.next() {
        return Err(internal(format!("a new state's parent {} is not in its frontier segment", link >> 16)));
    }
    flush(seg_first, n, &mut bytes, &mut out)?;
    Ok(out)
}

/// An internal error of the search: one line, exit 2, no verdict.
fn internal(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("internal error regenerating a new state: {what}"))
}
