//! Phase 3 of an unsharded level: the new states' records, regenerated
//! from their parents. A candidate keeps only its fingerprint and parent
//! link, so a level writes to disk the records of its new states, not of
//! every candidate (repeats across segments included, about seven times as
//! many in `vma3`). The winners of a frontier segment's candidates are in
//! frontier order, so one sequential read of the segment (kept, in memory
//! or in its spill file, until this phase) decodes each parent that has
//! winners and steps the recorded action again (`docs/storage.md`).

use super::fingerprint::fingerprint_into;
use super::frontier::{corrupt_record, decode, encode, push_record, Batch, Segment, Spill, SEGMENT};
use crate::explore::Explorer;
use rmapcheck_model::{step, Ctx};
use std::sync::atomic::Ordering::Relaxed;

/// The next frontier's segments for the winners among `batches` (the
/// candidates of `seg`'s states, in order), numbered from `first`, and
/// their parent links in that order. A regenerated state whose fingerprint
/// is not its candidate's is an internal error (`InvalidData`), never a
/// state stored wrong.
pub fn regenerate(
    ex: &Explorer,
    seg: &Segment,
    batches: &[Batch],
    first: u64,
    spill: &Spill,
    buf: &mut Vec<u8>,
) -> std::io::Result<(Vec<Segment>, Vec<u64>)> {
    let mut wins = batches
        .iter()
        .flat_map(|b| b.fps.iter().zip(&b.links).zip(&b.won))
        .filter(|(_, w)| w.load(Relaxed))
        .map(|((&fp, &link), _)| (fp, link))
        .peekable();
    let (mut out, mut links) = (Vec::new(), Vec::new());
    let (mut bytes, mut body, mut actions) = (Vec::new(), Vec::new(), Vec::new());
    let (mut n, mut next_id) = (0usize, first);
    let mut err = None;
    let symmetry = ex.cfg.symmetry;
    seg.for_each(buf, 1, |id, rec| {
        let Some(&(_, link)) = wins.peek() else { return false };
        if link >> 16 != id {
            return true;
        }
        let Some(s) = decode(rec, symmetry) else {
            err = Some(corrupt_record(id));
            return false;
        };
        actions.clear();
        ex.actions(&s, &mut actions);
        while let Some((fp, link)) = wins.next_if(|(_, l)| l >> 16 == id) {
            let k = (link & 0xffff) as usize;
            // Not `Explorer::step`: the transition was counted as coverage
            // when it was expanded.
            let Some(next) = actions.get(k).and_then(|&a| step(&s, a, &mut Ctx::new(&ex.cfg, false)).ok()) else {
                err = Some(internal(format!("action {k} of state {id} does not step again")));
                return false;
            };
            let (again, own) = fingerprint_into(&next, &mut body);
            if again != fp {
                err = Some(internal(format!(
                    "state {id}'s action {k} regenerates fingerprint {again:#x}, its candidate had {fp:#x}"
                )));
                return false;
            }
            if own {
                push_record(&[], &body, &mut bytes);
            } else {
                encode(&next, &[], &mut bytes);
            }
            links.push(link);
            n += 1;
            if n == SEGMENT {
                match spill.keep(next_id, n, std::mem::take(&mut bytes)) {
                    Ok(s) => out.push(s),
                    Err(e) => {
                        err = Some(e);
                        return false;
                    }
                }
                (next_id, n) = (next_id + n as u64, 0);
            }
        }
        true
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    if let Some((_, link)) = wins.next() {
        return Err(internal(format!("a new state's parent {} is not in its frontier segment", link >> 16)));
    }
    if n > 0 {
        out.push(spill.keep(next_id, n, bytes)?);
    }
    Ok((out, links))
}

/// An internal error of the search: one line, exit 2, no verdict.
fn internal(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("internal error regenerating a new state: {what}"))
}
