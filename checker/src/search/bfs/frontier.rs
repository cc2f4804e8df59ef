//! The BFS frontier as bytes: each state encoded field by field
//! (`rmapcheck_model::encode`, which does not compile until a field the
//! model adds is encoded there), behind a two-byte length, in segments of at most [`SEGMENT`] states. Segments
//! stay in memory while the frontier fits its budget; past it they are
//! compressed (LZ4 block format) and appended to one file per level in
//! the spill directory and read back, in order, when that level is
//! expanded; the file is deleted once the level is done.

use super::cand_spill::CandSpill;
use super::spill_file::LevelFile;
use rmapcheck_model::State;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// Most candidate states in one segment (a unit of work of the next level).
pub const SEGMENT: usize = 2048;

/// Appends `s` as one record: its length (u16, little endian), `key` (the
/// order key of a sharded run, empty otherwise), then the state bytes.
pub fn encode(s: &State, key: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(key);
    encode_body(s, out);
    let len = out.len() - at - 2;
    let len = u16::try_from(len).unwrap_or_else(|_| panic!("a state of {len} bytes: records hold at most 65535"));
    out[at..at + 2].copy_from_slice(&len.to_le_bytes());
}

/// Appends one record whose state bytes `body` are already encoded.
pub fn push_record(key: &[u8], body: &[u8], out: &mut Vec<u8>) {
    let len = key.len() + body.len();
    let len = u16::try_from(len).unwrap_or_else(|_| panic!("a state of {len} bytes: records hold at most 65535"));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(body);
}

/// Appends the encoding of `s` (`rmapcheck_model::encode`: every field,
/// fixed layout).
pub fn encode_body(s: &State, out: &mut Vec<u8>) {
    rmapcheck_model::encode::encode(s, out);
}

/// The record at the start of `bytes`: its state bytes and the rest
/// (`None` when its length runs past the end: a corrupt segment).
pub fn split(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]) as usize;
    Some((bytes.get(2..2 + len)?, &bytes[2 + len..]))
}

/// Decodes a record's state bytes (`None` unless they are exactly one
/// state: a corrupt record). `symmetry` is run configuration the state
/// carries but does not encode.
pub fn decode(bytes: &[u8], symmetry: bool) -> Option<State> {
    rmapcheck_model::encode::decode(bytes, symmetry)
}

/// The error of a frontier record that does not decode.
pub fn corrupt_record(id: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("frontier record of state {id} does not decode (a spill file was changed while the search ran?)"),
    )
}

/// Where a segment's records are.
enum Data {
    Mem(Vec<u8>),
    /// `len` bytes at `off` of a level file, the LZ4 block of `raw`
    /// bytes of records, with their XXH3-64 `sum` (checked on every read:
    /// a changed or truncated spill file is an error, never a state
    /// silently read wrong); `won` has a bit per
    /// record (records are spilled before the level's insertion decides
    /// which candidates are new), set for the states of the frontier.
    Disk {
        file: Arc<LevelFile>,
        off: u64,
        len: usize,
        raw: usize,
        sum: u64,
        won: Vec<u64>,
    },
}

/// Consecutive frontier states, with ids `first_id..first_id + states`.
pub struct Segment {
    /// Id of the first state (states are numbered in BFS order).
    pub first_id: u64,
    /// States in the segment.
    pub states: usize,
    data: Data,
}

impl Segment {
    /// Calls `f(id, record)` for every state, in order (ids `stride` apart:
    /// the number of shards). `buf` is scratch space for a spilled segment.
    pub fn for_each(
        &self,
        buf: &mut Vec<u8>,
        stride: u64,
        mut f: impl FnMut(u64, &[u8]) -> bool,
    ) -> std::io::Result<()> {
        let (mut rest, won): (&[u8], &[u64]) = match &self.data {
            Data::Mem(b) => (b, &[]),
            Data::Disk { file, off, len, raw, sum, won } => {
                read_segment(file, buf, *off, *len, *raw, *sum)?;
                (buf, won)
            }
        };
        let mut id = self.first_id;
        let mut k = 0;
        while !rest.is_empty() {
            let Some((rec, tail)) = split(rest) else { return Err(corrupt_record(id)) };
            rest = tail;
            let keep = won.is_empty() || won[k / 64] >> (k % 64) & 1 == 1;
            k += 1;
            if keep {
                if !f(id, rec) {
                    break;
                }
                id += stride;
            }
        }
        Ok(())
    }
}

/// Reads the LZ4 block of the segment at `off` (`len` bytes, summed
/// `sum`) and decompresses it into `buf` (`raw` bytes).
fn read_segment(
    file: &LevelFile,
    buf: &mut Vec<u8>,
    off: u64,
    len: usize,
    raw: usize,
    sum: u64,
) -> std::io::Result<()> {
    let mut packed = Vec::new();
    file.read(&mut packed, off, len, sum)?;
    buf.resize(raw, 0);
    match lz4_flex::block::decompress_into(&packed, buf) {
        Ok(n) if n == raw => Ok(()),
        _ => Err(file.error("is corrupt: a segment does not decompress", off, len)),
    }
}

/// The frontier's memory budget and the spill directory, shared by the
/// threads of a level; keeps the figures the report gives.
pub struct Spill {
    dir: PathBuf,
    budget: usize,
    mem: AtomicUsize,
    /// Most bytes of records held in memory at once.
    pub peak_mem: AtomicUsize,
    disk: AtomicU64,
    /// Most bytes of records on disk at once.
    pub peak_disk: AtomicU64,
    /// Bytes of records written to disk, in all.
    pub written: AtomicU64,
    next: OnceLock<std::io::Result<Arc<LevelFile>>>,
    depth: usize,
    /// Bytes of candidates' records this level wrote to disk (see
    /// [`Spill::keep_candidates`]).
    candidates_on_disk: AtomicU64,
    /// The level's candidates' fingerprints and links, spilled past
    /// their own allowance.
    pub cands: CandSpill,
}

/// How many times the frontier's memory budget a level's candidates may
/// write to disk with their records (256 MiB at the default 32 MiB):
/// within it a record spilled costs a sequential write and read, less
/// than regenerating it from its parent (a step, a canonicalisation and
/// an encoding: 6% of the SPIN configuration's time when every spilled
/// batch was regenerated); past it, candidates drop their records, so a
/// large level puts only its new states on disk (docs/storage.md).
pub const CANDIDATE_DISK: usize = 8;

impl Spill {
    /// Spills past `budget` bytes of records into `dir` (which exists).
    pub fn new(dir: &Path, budget: usize) -> Spill {
        Spill {
            dir: dir.to_path_buf(),
            budget,
            mem: AtomicUsize::new(0),
            peak_mem: AtomicUsize::new(0),
            disk: AtomicU64::new(0),
            peak_disk: AtomicU64::new(0),
            written: AtomicU64::new(0),
            next: OnceLock::new(),
            depth: 0,
            candidates_on_disk: AtomicU64::new(0),
            cands: CandSpill::new(dir, usize::MAX),
        }
    }

    /// Keeps at most `bytes` of each level's candidate arrays in memory
    /// (none given: all of them).
    pub fn with_candidates(mut self, bytes: usize) -> Spill {
        self.cands = CandSpill::new(&self.dir, bytes);
        self
    }

    /// Starts collecting the frontier of `depth` (the candidates of the
    /// level being expanded).
    pub fn level(&mut self, depth: usize) {
        self.next = OnceLock::new();
        self.depth = depth;
        self.candidates_on_disk = AtomicU64::new(0);
        self.cands.level(depth);
    }

    /// Keeps a batch of candidates' records: in memory within the budget,
    /// else on disk while this level's candidates have written less than
    /// [`CANDIDATE_DISK`] times the budget, else not at all (`None`: the
    /// winners among them are regenerated from their parents).
    pub fn keep_candidates(&self, states: usize, bytes: Vec<u8>) -> std::io::Result<Option<Segment>> {
        let bytes = match self.keep_in_memory(0, states, bytes) {
            Ok(seg) => return Ok(Some(seg)),
            Err(bytes) => bytes,
        };
        let n = bytes.len() as u64;
        let allowance = self.budget.saturating_mul(CANDIDATE_DISK) as u64;
        if self.candidates_on_disk.fetch_add(n, Relaxed) + n > allowance {
            self.candidates_on_disk.fetch_sub(n, Relaxed);
            return Ok(None);
        }
        self.write(0, states, bytes).map(Some)
    }

    /// Keeps a new segment of `states` records, numbered from `first_id`:
    /// in memory within the budget, else in this level's file (its `won`
    /// bitmap is filled in by [`Segment::decide`]).
    pub fn keep(&self, first_id: u64, states: usize, bytes: Vec<u8>) -> std::io::Result<Segment> {
        match self.keep_in_memory(first_id, states, bytes) {
            Ok(seg) => Ok(seg),
            Err(bytes) => self.write(first_id, states, bytes),
        }
    }

    /// Appends a segment's records to this level's file, compressed: a
    /// frontier's records are mostly small ids and zero bytes (LZ4 packs
    /// them to about a sixth; docs/storage.md), and a large level's
    /// frontier is the largest thing a run keeps on disk.
    fn write(&self, first_id: u64, states: usize, bytes: Vec<u8>) -> std::io::Result<Segment> {
        let raw = bytes.len();
        let bytes = lz4_flex::block::compress(&bytes);
        let n = bytes.len();
        let path = || self.dir.join(format!("frontier-{}.bin", self.depth));
        let file = LevelFile::open_once(&self.next, path, "frontier", "segment")?;
        let (off, sum) = file.append(&bytes)?;
        self.written.fetch_add(n as u64, Relaxed);
        let now = self.disk.fetch_add(n as u64, Relaxed) + n as u64;
        self.peak_disk.fetch_max(now, Relaxed);
        Ok(Segment { first_id, states, data: Data::Disk { file, off, len: n, raw, sum, won: Vec::new() } })
    }

    /// Keeps a new segment in memory if it fits the budget, else gives
    /// its bytes back.
    pub fn keep_in_memory(&self, first_id: u64, states: usize, mut bytes: Vec<u8>) -> Result<Segment, Vec<u8>> {
        let n = bytes.len();
        if self.mem.load(Relaxed) + n > self.budget {
            return Err(bytes);
        }
        bytes.shrink_to_fit();
        let now = self.mem.fetch_add(n, Relaxed) + n;
        self.peak_mem.fetch_max(now, Relaxed);
        Ok(Segment { first_id, states, data: Data::Mem(bytes) })
    }

    /// A segment's records, all of them (a segment the insertion phase has
    /// not decided yet), its share returned.
    pub fn take(&self, seg: Segment) -> std::io::Result<Vec<u8>> {
        self.release_len(&seg);
        match seg.data {
            Data::Mem(b) => Ok(b),
            Data::Disk { file, off, len, raw, sum, .. } => {
                let mut b = Vec::new();
                read_segment(&file, &mut b, off, len, raw, sum)?;
                Ok(b)
            }
        }
    }

    fn release_len(&self, seg: &Segment) {
        match &seg.data {
            Data::Mem(b) => {
                self.mem.fetch_sub(b.len(), Relaxed);
            }
            Data::Disk { len, .. } => {
                self.disk.fetch_sub(*len as u64, Relaxed);
            }
        }
    }

    /// Bytes of records on disk now.
    pub fn on_disk(&self) -> u64 {
        self.disk.load(Relaxed)
    }

    /// Bytes of records in memory now.
    pub fn in_memory(&self) -> usize {
        self.mem.load(Relaxed)
    }

    /// Returns a consumed segment's memory or disk share.
    pub fn release(&self, seg: Segment) {
        self.release_len(&seg);
    }
}

impl Segment {
    /// Keeps the records whose `won` flag is set and numbers them from
    /// `first_id`: in memory by dropping the others, on disk by a bitmap.
    pub fn decide(&mut self, first_id: u64, won: &[bool], spill: &Spill) {
        self.first_id = first_id;
        self.states = won.iter().filter(|&&w| w).count();
        match &mut self.data {
            Data::Mem(b) => {
                let before = b.len();
                let records = || {
                    let mut rest: &[u8] = b;
                    won.iter().map(move |&w| {
                        let len = 2 + u16::from_le_bytes([rest[0], rest[1]]) as usize;
                        let rec = &rest[..len];
                        rest = &rest[len..];
                        (w, rec)
                    })
                };
                let mut kept = Vec::with_capacity(records().filter(|r| r.0).map(|r| r.1.len()).sum());
                records().filter(|r| r.0).for_each(|r| kept.extend_from_slice(r.1));
                spill.mem.fetch_sub(before - kept.len(), Relaxed);
                *b = kept;
            }
            Data::Disk { won: bits, .. } => {
                *bits = vec![0u64; won.len().div_ceil(64).max(1)];
                for (k, &w) in won.iter().enumerate() {
                    bits[k / 64] |= u64::from(w) << (k % 64);
                }
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::explore::Explorer;
    use rmapcheck_model::{ActionSet, Config, Ids};

    /// A spilled segment read back from its file after the file was
    /// truncated, or had one byte flipped, is an `InvalidData` error
    /// naming the file: never a panic, never a state read wrong. (A few
    /// milliseconds.)
    #[test]
    fn a_truncated_or_changed_spill_file_is_a_clean_error() {
        let dir = std::env::temp_dir().join(format!("rmapcheck-frontier-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ex = Explorer::new(Config::default(), &[]);
        let mut bytes = Vec::new();
        let (s, mut actions) = (ex.init(), Vec::new());
        ex.actions(&s, &mut actions);
        let next = ex.step(&s, actions[0]).expect("the first action is enabled").0;
        encode(&s, &[], &mut bytes);
        encode(&next, &[], &mut bytes);
        for (damage, says) in [("none", ""), ("flip", "is corrupt"), ("truncate", "is truncated")] {
            let mut spill = Spill::new(&dir, 0); // a budget of 0: every segment spills
            spill.level(7);
            let seg = spill.keep(0, 2, bytes.clone()).unwrap();
            let path = dir.join("frontier-7.bin");
            let mut disk = std::fs::read(&path).unwrap();
            assert_eq!(
                lz4_flex::block::decompress(&disk, bytes.len()).unwrap(),
                bytes,
                "the segment went to its level file"
            );
            match damage {
                "flip" => {
                    disk[5] ^= 0x10;
                    std::fs::write(&path, &disk).unwrap(); // same inode: truncates and rewrites
                }
                "truncate" => {
                    std::fs::File::options().write(true).open(&path).unwrap().set_len(disk.len() as u64 - 3).unwrap()
                }
                _ => {}
            }
            let mut seen = Vec::new();
            let read = seg.for_each(&mut Vec::new(), 1, |id, rec| {
                seen.push((id, decode(rec, s.symmetry).expect("an intact record decodes")));
                true
            });
            if damage == "none" {
                read.unwrap();
                assert_eq!(seen, [(0, s.clone()), (1, next.clone())]);
                continue;
            }
            let e = read.expect_err(damage);
            assert!(seen.is_empty(), "{damage}: a record was handed on");
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()) && msg.contains(says) && !msg.contains('\n'), "{msg}");
            assert_eq!(spill.take(seg).expect_err(damage).kind(), std::io::ErrorKind::InvalidData);
        }
        assert!(decode(&bytes[2..6], false).is_none() && split(&bytes[..5]).is_none(), "short records refused");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A full segment of real frontier states (the default configuration's
    /// first 2,048 in BFS order) spills to less than a third of its bytes
    /// and reads back record for record. (A few milliseconds.)
    #[test]
    fn a_spilled_segment_is_compressed() {
        let dir = std::env::temp_dir().join(format!("rmapcheck-frontier-lz4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ex = Explorer::new(Config::default(), &[]);
        let (mut states, mut actions) = (vec![ex.init()], Vec::new());
        let mut k = 0;
        while states.len() < SEGMENT {
            ex.actions(&states[k], &mut actions);
            for &a in &actions {
                if let Some((next, _)) = ex.step(&states[k], a) {
                    if !states.contains(&next) && states.len() < SEGMENT {
                        states.push(next);
                    }
                }
            }
            actions.clear();
            k += 1;
        }
        let mut bytes = Vec::new();
        states.iter().for_each(|s| encode(s, &[], &mut bytes));
        let mut spill = Spill::new(&dir, 0);
        spill.level(3);
        let seg = spill.keep(0, SEGMENT, bytes.clone()).unwrap();
        let on_disk = std::fs::metadata(dir.join("frontier-3.bin")).unwrap().len() as usize;
        assert!(on_disk * 3 < bytes.len(), "{} record bytes took {on_disk} on disk", bytes.len());
        assert_eq!(spill.on_disk() as usize, on_disk);
        let mut back = Vec::new();
        seg.for_each(&mut Vec::new(), 1, |_, rec| {
            back.push(decode(rec, states[0].symmetry).expect("an intact record decodes"));
            true
        })
        .unwrap();
        assert_eq!(back, states);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every state within 5 actions of the initial one, under every action
    /// kind, 3 processes and 2 pages, with stable ids (freed objects kept)
    /// and canonical ones, and with 16 kB large folios (2 processes, 4
    /// pages), decodes to itself: the encoding loses no field.
    /// The configurations the encoding tests walk: 3 processes and 2
    /// pages under every order-0 action kind, with stable ids (freed
    /// objects kept) and canonical ones, and 16 kB large folios (2
    /// processes, 4 pages, 4 swap slots).
    pub(in crate::search::bfs) fn encoding_configs() -> [Config; 3] {
        let order0 = |ids| Config { procs: 3, pages: 2, actions: ActionSet::all(), ids, ..Config::default() };
        let large = Config {
            procs: 2,
            pages: 4,
            swap_slots: 4,
            actions: ActionSet::every(),
            mthp: "16k".parse().expect("16k is an mTHP size"),
            ..Config::default()
        };
        [order0(Ids::Stable), order0(Ids::Canonical), large]
    }

    #[test]
    fn every_state_within_five_actions_round_trips() {
        let mut with_large = 0;
        for cfg in encoding_configs() {
            let ex = Explorer::new(Config { symmetry: false, ..cfg }, &[]);
            let mut level = vec![ex.init()];
            let (mut checked, mut actions, mut bytes) = (0, Vec::new(), Vec::new());
            for _ in 0..5 {
                let mut next = Vec::new();
                for s in &level {
                    bytes.clear();
                    encode(s, b"key", &mut bytes);
                    let (rec, rest) = split(&bytes).expect("one whole record");
                    assert!(rest.is_empty() && rec.starts_with(b"key"));
                    assert_eq!(&decode(&rec[3..], s.symmetry).expect("the record decodes"), s);
                    checked += 1;
                    with_large += usize::from(s.folios.iter().any(|f| f.large.is_some()));
                    actions.clear();
                    ex.actions(s, &mut actions);
                    next.extend(actions.iter().filter_map(|&a| ex.step(s, a).map(|(n, _)| n)).take(6));
                }
                level = next;
            }
            assert!(checked > 300, "only {checked} states");
        }
        assert!(with_large > 50, "only {with_large} states with a large folio");
    }

    /// The per-mm KSM fields (MMF_VM_MERGE_ANY, KSM zero pages and their
    /// count) are encoded too, set or not.
    #[test]
    fn ksm_mm_fields_round_trip() {
        let mut s = State::new(2, false);
        for (merge_any, ksm_zero, count) in [(true, 3, 2), (false, 0, 1), (false, 2, 0)] {
            (s.mms[0].merge_any, s.mms[0].ksm_zero, s.mms[0].ksm_zero_pages) = (merge_any, ksm_zero, count);
            let mut bytes = Vec::new();
            encode(&s, b"", &mut bytes);
            let (rec, _) = split(&bytes).expect("one whole record");
            assert_eq!(decode(rec, false), Some(s.clone()));
        }
    }
}
