//! A fixed-layout byte encoding of [`State`]: what the checker's BFS
//! fingerprints and keeps in its frontier (docs/storage.md). Every field is
//! written, in declaration order: a `u8` or an id as one byte, a `bool` as
//! 0 or 1, an `Option` as a tag byte and its value, an enum as its variant's
//! index and its fields, an inline list (`Inline`) as a length byte and
//! its items, a table (`Vec`) as its length (one byte below 255, else
//! 255 and two bytes) and its items. Lengths
//! and tags make it prefix-free, so two states have equal bytes exactly
//! when they are equal: a fingerprint of the bytes is one of the state.
//!
//! Written by hand, not by serde: postcard through serde was most of the
//! fingerprint's time (docs/speed.md). Every struct is taken apart with an
//! exhaustive pattern and rebuilt with a struct literal, so a field added
//! to the model does not compile until it is encoded and decoded here.
//! JSON pictures and ITF traces stay serde's.

use crate::address_space::{CacheEntry, File, FileKind};
use crate::inline::Inline;
use crate::state::{
    AnonVma, Folio, Large, Mapping, Mm, Oops, OopsKind, Pin, Pte, RmapItem, StableNode, State, SubPage, SwapSlot, Vma,
};

/// Appends the encoding of `s` to `out`.
pub fn encode(s: &State, out: &mut Vec<u8>) {
    // `symmetry` is run configuration, restored by the decoder's caller.
    let State { mms, anon_vmas, folios, swap, stable_nodes, files, oops, symmetry: _ } = s;
    out.reserve(256);
    table(out, mms, mm);
    table(out, anon_vmas, anon_vma);
    table(out, folios, folio);
    table(out, swap, swap_slot);
    table(out, stable_nodes, stable_node);
    table(out, files, file);
    match oops {
        None => out.push(0),
        Some(Oops { kind, what }) => {
            let kind = match kind {
                OopsKind::UseAfterFree => 0,
                OopsKind::Bug => 1,
                OopsKind::Warn => 2,
                OopsKind::UnlinkBeforeZap => 3,
                OopsKind::MergeIncompatible => 4,
            };
            out.extend_from_slice(&[1, kind]);
            let len = u16::try_from(what.len()).expect("an oops message under 64 KiB");
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(what.as_bytes());
        }
    }
}

/// Decodes a whole encoding (`None` unless `bytes` are exactly one state's
/// encoding). `symmetry` is run configuration the state carries but the
/// encoding does not.
pub fn decode(bytes: &[u8], symmetry: bool) -> Option<State> {
    let mut r = Reader(bytes);
    let s = State {
        mms: r.table(Reader::mm)?,
        anon_vmas: r.table(Reader::anon_vma)?,
        folios: r.table(Reader::folio)?,
        swap: r.table(Reader::swap_slot)?,
        stable_nodes: r.table(Reader::stable_node)?,
        files: r.table(Reader::file)?,
        oops: r.option(|r| {
            let kind = match r.u8()? {
                0 => OopsKind::UseAfterFree,
                1 => OopsKind::Bug,
                2 => OopsKind::Warn,
                3 => OopsKind::UnlinkBeforeZap,
                4 => OopsKind::MergeIncompatible,
                _ => return None,
            };
            let len = u16::from_le_bytes([r.u8()?, r.u8()?]) as usize;
            let what = r.0.get(..len)?;
            r.0 = &r.0[len..];
            Some(Oops { kind, what: String::from_utf8(what.to_vec()).ok()? })
        })?,
        symmetry,
    };
    r.0.is_empty().then_some(s)
}

fn table<T>(out: &mut Vec<u8>, items: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
    // One byte below 255; 255 and two more bytes past it (ids are 8 bits:
    // a table holds at most 256 rows).
    match u8::try_from(items.len()) {
        Ok(n) if n < u8::MAX => out.push(n),
        _ => {
            let len = u16::try_from(items.len()).expect("ids are 8 bits: tables hold at most 256 rows");
            out.push(u8::MAX);
            out.extend_from_slice(&len.to_le_bytes());
        }
    }
    for i in items {
        f(out, i);
    }
}

fn list<T>(out: &mut Vec<u8>, items: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(items.len() as u8);
    for i in items {
        f(out, i);
    }
}

fn opt(out: &mut Vec<u8>, v: Option<u8>) {
    match v {
        None => out.push(0),
        Some(v) => out.extend_from_slice(&[1, v]),
    }
}

fn byte(out: &mut Vec<u8>, v: &u8) {
    out.push(*v);
}

fn mm(out: &mut Vec<u8>, m: &Mm) {
    let Mm { alive, vmas, ptes, ghost, pins, has_pinned, merge_any, ksm_zero, ksm_zero_pages } = m;
    out.push(*alive as u8);
    list(out, vmas, vma);
    list(out, ptes, pte);
    list(out, ghost, |o, g| opt(o, *g));
    list(out, pins, pin);
    out.extend_from_slice(&[*has_pinned as u8, *merge_any as u8, *ksm_zero, *ksm_zero_pages]);
}

fn vma(out: &mut Vec<u8>, v: &Vma) {
    let Vma { start, end, pgoff, write, mergeable, account, anon_vma, chain, file, shared } = v;
    out.extend_from_slice(&[*start, *end, *pgoff, *write as u8, *mergeable as u8, *account as u8]);
    opt(out, *anon_vma);
    list(out, chain, byte);
    opt(out, *file);
    out.push(*shared as u8);
}

fn pte(out: &mut Vec<u8>, p: &Pte) {
    match *p {
        Pte::None => out.push(0),
        Pte::Zero => out.push(1),
        Pte::Present { folio, sub, writable, dirty } => {
            out.extend_from_slice(&[2, folio, sub, writable as u8, dirty as u8])
        }
        Pte::Swap { slot, exclusive } => out.extend_from_slice(&[3, slot, exclusive as u8]),
    }
}

fn pin(out: &mut Vec<u8>, p: &Pin) {
    let Pin { page, at, folio, sub, write, attached, ghost } = *p;
    out.extend_from_slice(&[page, at, folio, sub, write as u8, attached as u8, ghost]);
}

fn anon_vma(out: &mut Vec<u8>, a: &AnonVma) {
    let AnonVma { root, parent, refcount, num_children, num_active_vmas, degree, freed } = *a;
    out.extend_from_slice(&[root, parent, refcount, num_children, num_active_vmas, degree, freed as u8]);
}

fn folio(out: &mut Vec<u8>, f: &Folio) {
    let Folio {
        mapping,
        index,
        mapcount,
        refcount,
        swapbacked,
        anon_exclusive,
        dirty,
        data,
        freed,
        swap,
        isolated,
        readahead,
        large,
        split_dirty,
        pincount,
    } = f;
    match *mapping {
        Mapping::None => out.push(0),
        Mapping::Anon(av) => out.extend_from_slice(&[1, av]),
        Mapping::Ksm(n) => out.extend_from_slice(&[2, n]),
        Mapping::File(f) => out.extend_from_slice(&[3, f]),
    }
    out.extend_from_slice(&[
        *index,
        *mapcount,
        *refcount,
        *swapbacked as u8,
        *anon_exclusive as u8,
        *dirty as u8,
        *data,
        *freed as u8,
    ]);
    opt(out, *swap);
    out.extend_from_slice(&[*isolated as u8, *readahead as u8]);
    match large.as_deref() {
        None => out.push(0),
        Some(Large { order, pages, nr_pages_mapped, deferred, mm_id, mm_id_mapcount, maybe_shared }) => {
            out.extend_from_slice(&[1, *order]);
            list(out, pages, |o, &SubPage { mapcount, anon_exclusive, data }| {
                o.extend_from_slice(&[mapcount, anon_exclusive as u8, data])
            });
            out.extend_from_slice(&[*nr_pages_mapped, *deferred as u8]);
            opt(out, mm_id[0]);
            opt(out, mm_id[1]);
            out.extend_from_slice(&[mm_id_mapcount[0], mm_id_mapcount[1], *maybe_shared as u8]);
        }
    }
    out.extend_from_slice(&[*split_dirty as u8, *pincount]);
}

fn swap_slot(out: &mut Vec<u8>, s: &SwapSlot) {
    let SwapSlot { count, cache, data, run, pos } = *s;
    out.push(count);
    opt(out, cache);
    opt(out, data);
    out.extend_from_slice(&[run, pos]);
}

fn stable_node(out: &mut Vec<u8>, n: &StableNode) {
    let StableNode { kpfn, items, freed } = n;
    opt(out, *kpfn);
    table(out, items, |o, &RmapItem { mm, address, anon_vma, unmapped }| {
        o.extend_from_slice(&[mm, address, anon_vma, unmapped as u8])
    });
    out.push(*freed as u8);
}

fn file(out: &mut Vec<u8>, f: &File) {
    let File { kind, anon, size, cache, disk, content, freed } = f;
    let kind = match kind {
        FileKind::Regular => 0,
        FileKind::Shmem => 1,
    };
    out.extend_from_slice(&[kind, *anon as u8, *size]);
    list(out, cache, |o, c| match *c {
        CacheEntry::Hole => o.push(0),
        CacheEntry::Folio(f) => o.extend_from_slice(&[1, f]),
        CacheEntry::Swap(s) => o.extend_from_slice(&[2, s]),
    });
    list(out, disk, byte);
    list(out, content, byte);
    out.push(*freed as u8);
}

/// The bytes not decoded yet.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn option<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.u8()? {
            0 => Some(None),
            1 => f(self).map(Some),
            _ => None,
        }
    }

    fn opt(&mut self) -> Option<Option<u8>> {
        self.option(Self::u8)
    }

    fn table<T>(&mut self, mut f: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let len = match self.u8()? {
            u8::MAX => u16::from_le_bytes([self.u8()?, self.u8()?]) as usize,
            n => n as usize,
        };
        // A corrupt length must not reserve gigabytes: a row is at least a byte.
        let mut v = Vec::with_capacity(len.min(self.0.len()));
        for _ in 0..len {
            v.push(f(self)?);
        }
        Some(v)
    }

    fn list<T: Copy + Default, const N: usize>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Inline<T, N>> {
        let len = self.u8()? as usize;
        let mut v = Inline::new();
        for _ in 0..len {
            if v.is_full() {
                return None;
            }
            v.push(f(self)?);
        }
        Some(v)
    }

    fn mm(&mut self) -> Option<Mm> {
        Some(Mm {
            alive: self.bool()?,
            vmas: self.list(Self::vma)?,
            ptes: self.list(Self::pte)?,
            ghost: self.list(Self::opt)?,
            pins: self.list(Self::pin)?,
            has_pinned: self.bool()?,
            merge_any: self.bool()?,
            ksm_zero: self.u8()?,
            ksm_zero_pages: self.u8()?,
        })
    }

    fn vma(&mut self) -> Option<Vma> {
        Some(Vma {
            start: self.u8()?,
            end: self.u8()?,
            pgoff: self.u8()?,
            write: self.bool()?,
            mergeable: self.bool()?,
            account: self.bool()?,
            anon_vma: self.opt()?,
            chain: self.list(Self::u8)?,
            file: self.opt()?,
            shared: self.bool()?,
        })
    }

    fn pte(&mut self) -> Option<Pte> {
        Some(match self.u8()? {
            0 => Pte::None,
            1 => Pte::Zero,
            2 => Pte::Present { folio: self.u8()?, sub: self.u8()?, writable: self.bool()?, dirty: self.bool()? },
            3 => Pte::Swap { slot: self.u8()?, exclusive: self.bool()? },
            _ => return None,
        })
    }

    fn pin(&mut self) -> Option<Pin> {
        Some(Pin {
            page: self.u8()?,
            at: self.u8()?,
            folio: self.u8()?,
            sub: self.u8()?,
            write: self.bool()?,
            attached: self.bool()?,
            ghost: self.u8()?,
        })
    }

    fn anon_vma(&mut self) -> Option<AnonVma> {
        Some(AnonVma {
            root: self.u8()?,
            parent: self.u8()?,
            refcount: self.u8()?,
            num_children: self.u8()?,
            num_active_vmas: self.u8()?,
            degree: self.u8()?,
            freed: self.bool()?,
        })
    }

    fn folio(&mut self) -> Option<Folio> {
        Some(Folio {
            mapping: match self.u8()? {
                0 => Mapping::None,
                1 => Mapping::Anon(self.u8()?),
                2 => Mapping::Ksm(self.u8()?),
                3 => Mapping::File(self.u8()?),
                _ => return None,
            },
            index: self.u8()?,
            mapcount: self.u8()?,
            refcount: self.u8()?,
            swapbacked: self.bool()?,
            anon_exclusive: self.bool()?,
            dirty: self.bool()?,
            data: self.u8()?,
            freed: self.bool()?,
            swap: self.opt()?,
            isolated: self.bool()?,
            readahead: self.bool()?,
            large: self.option(|r| {
                Some(Box::new(Large {
                    order: r.u8()?,
                    pages: r.list(|r| Some(SubPage { mapcount: r.u8()?, anon_exclusive: r.bool()?, data: r.u8()? }))?,
                    nr_pages_mapped: r.u8()?,
                    deferred: r.bool()?,
                    mm_id: [r.opt()?, r.opt()?],
                    mm_id_mapcount: [r.u8()?, r.u8()?],
                    maybe_shared: r.bool()?,
                }))
            })?,
            split_dirty: self.bool()?,
            pincount: self.u8()?,
        })
    }

    fn swap_slot(&mut self) -> Option<SwapSlot> {
        Some(SwapSlot { count: self.u8()?, cache: self.opt()?, data: self.opt()?, run: self.u8()?, pos: self.u8()? })
    }

    fn stable_node(&mut self) -> Option<StableNode> {
        Some(StableNode {
            kpfn: self.opt()?,
            items: self
                .table(|r| Some(RmapItem { mm: r.u8()?, address: r.u8()?, anon_vma: r.u8()?, unmapped: r.bool()? }))?,
            freed: self.bool()?,
        })
    }

    fn file(&mut self) -> Option<File> {
        Some(File {
            kind: match self.u8()? {
                0 => FileKind::Regular,
                1 => FileKind::Shmem,
                _ => return None,
            },
            anon: self.bool()?,
            size: self.u8()?,
            cache: self.list(|r| match r.u8()? {
                0 => Some(CacheEntry::Hole),
                1 => Some(CacheEntry::Folio(r.u8()?)),
                2 => Some(CacheEntry::Swap(r.u8()?)),
                _ => None,
            })?,
            disk: self.list(Self::u8)?,
            content: self.list(Self::u8)?,
            freed: self.bool()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables of 254, 255 and 256 rows (one length byte, then the long
    /// form) decode to themselves; a truncated or extended encoding does
    /// not decode. (Microseconds.)
    #[test]
    fn long_tables_round_trip_and_damage_is_refused() {
        for rows in [0, 1, 254, 255, 256] {
            let mut s = State::new(1, false);
            let av = AnonVma {
                root: 0,
                parent: 0,
                refcount: 1,
                num_children: 1,
                num_active_vmas: 1,
                degree: 1,
                freed: false,
            };
            s.anon_vmas = vec![av; rows];
            let mut bytes = Vec::new();
            encode(&s, &mut bytes);
            assert_eq!(decode(&bytes, false).as_ref(), Some(&s), "{rows} rows");
            assert_eq!(decode(&bytes[..bytes.len() - 1], false), None, "{rows} rows, truncated");
            bytes.push(0);
            assert_eq!(decode(&bytes, false), None, "{rows} rows, a byte too many");
        }
    }
}
