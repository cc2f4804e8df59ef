//! A level's candidates: per candidate a fingerprint and a parent link
//! (16 bytes), and one winner bit. Within an allowance of memory per
//! level the two arrays of a batch stay in memory; past it they are
//! appended to one file per level (`cands-{depth}.bin`: the batch's
//! fingerprints, then its links, little endian) and read back, in
//! frontier order, where they are used: by every thread of the insertion
//! phase (fingerprints only) and by the numbering of the winners. Each
//! half of a spilled batch has its XXH3-64 sum in memory, checked on
//! every read: a truncated or changed file is an error naming it, never a
//! candidate read wrong. The winner flags stay in memory as a bitmap (one
//! bit per candidate), so a spilled candidate costs an eighth of a byte of
//! memory instead of 17 bytes (`docs/storage.md`).

use super::frontier::{Segment, Spill};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// Candidates being collected: parallel vectors and the encoded states.
#[derive(Default)]
pub struct Cands {
    pub fps: Vec<u64>,
    pub links: Vec<u64>,
    pub bytes: Vec<u8>,
}

/// Where a batch's fingerprints and links are.
enum Arrays {
    Mem {
        fps: Vec<u64>,
        links: Vec<u64>,
    },
    /// `n` fingerprints at `off` of a level file, then `n` links, with
    /// the XXH3-64 sum of each half's bytes.
    Disk {
        file: Arc<CandFile>,
        off: u64,
        fps_sum: u64,
        links_sum: u64,
    },
}

/// Candidates, with a bit per candidate that the insertion phase sets
/// when it is the first of its fingerprint. `seg` holds their records,
/// unless they did not fit the frontier's memory (unsharded): then the
/// winners' records are regenerated from their parents (`regen.rs`).
pub struct Batch {
    n: usize,
    arrays: Arrays,
    won: Vec<AtomicU64>,
    pub seg: Option<Segment>,
}

/// Scratch space for reading a spilled batch's arrays back.
#[derive(Default)]
pub struct Scratch {
    bytes: Vec<u8>,
    words: Vec<u64>,
}

impl Batch {
    /// Keeps `c`'s states through the spill: in memory within its budget,
    /// past it on disk, or, when `regen` (unsharded: the parents stay at
    /// hand) and the level's candidates have used their disk allowance
    /// (`frontier::CANDIDATE_DISK`), not at all. Unsharded, its arrays go
    /// to disk past the level's allowance for them; sharded, they stay in
    /// memory (the exchange between shards reads them).
    pub fn keep(c: Cands, spill: &Spill, regen: bool) -> std::io::Result<Batch> {
        let n = c.fps.len();
        let seg = if regen { spill.keep_candidates(n, c.bytes)? } else { Some(spill.keep(0, n, c.bytes)?) };
        let arrays = if regen { spill.cands.keep(c.fps, c.links)? } else { Arrays::Mem { fps: c.fps, links: c.links } };
        Ok(Batch { n, arrays, won: (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(), seg })
    }

    /// Candidates in the batch.
    pub fn len(&self) -> usize {
        self.n
    }

    /// The candidates' fingerprints, in order (read into `s` if spilled).
    pub fn fps<'a>(&'a self, s: &'a mut Scratch) -> std::io::Result<&'a [u64]> {
        match &self.arrays {
            Arrays::Mem { fps, .. } => Ok(fps),
            Arrays::Disk { file, off, fps_sum, .. } => {
                file.read(*off, self.n, *fps_sum, s)?;
                Ok(&s.words)
            }
        }
    }

    /// The candidates' parent links, in order (read into `s` if spilled).
    pub fn links<'a>(&'a self, s: &'a mut Scratch) -> std::io::Result<&'a [u64]> {
        match &self.arrays {
            Arrays::Mem { links, .. } => Ok(links),
            Arrays::Disk { file, off, links_sum, .. } => {
                file.read(off + 8 * self.n as u64, self.n, *links_sum, s)?;
                Ok(&s.words)
            }
        }
    }

    /// Both arrays, owned, and the records.
    pub fn into_parts(self) -> std::io::Result<(Vec<u64>, Vec<u64>, Option<Segment>)> {
        let Batch { n, arrays, seg, .. } = self;
        match arrays {
            Arrays::Mem { fps, links } => Ok((fps, links, seg)),
            Arrays::Disk { file, off, fps_sum, links_sum } => {
                let mut s = Scratch::default();
                file.read(off, n, fps_sum, &mut s)?;
                let fps = std::mem::take(&mut s.words);
                file.read(off + 8 * n as u64, n, links_sum, &mut s)?;
                Ok((fps, s.words, seg))
            }
        }
    }

    /// Marks candidate `k` the first of its fingerprint.
    pub fn win(&self, k: usize) {
        self.won[k / 64].fetch_or(1 << (k % 64), Relaxed);
    }

    /// Whether each candidate won, in order.
    pub fn won(&self) -> Vec<bool> {
        (0..self.n).map(|k| self.won[k / 64].load(Relaxed) >> (k % 64) & 1 == 1).collect()
    }

    /// Candidates that won.
    pub fn wins(&self) -> u64 {
        self.won.iter().map(|w| u64::from(w.load(Relaxed).count_ones())).sum()
    }
}

/// One level's file of spilled candidate arrays, deleted when the last
/// batch in it is dropped.
pub struct CandFile {
    file: File,
    path: PathBuf,
    len: AtomicU64,
}

impl CandFile {
    /// Reads the `n` words at `off` into `s.words`, checking their sum: a
    /// truncated or changed file is an `InvalidData` error naming it.
    fn read(&self, off: u64, n: usize, sum: u64, s: &mut Scratch) -> std::io::Result<()> {
        let at = |what: &str| {
            let path = self.path.display();
            let e = format!("candidate spill file {path} {what} (array of {n} candidates at byte {off})");
            std::io::Error::new(std::io::ErrorKind::InvalidData, e)
        };
        s.bytes.resize(8 * n, 0);
        match self.file.read_exact_at(&mut s.bytes, off) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(at("is truncated")),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        if xxhash_rust::xxh3::xxh3_64(&s.bytes) != sum {
            return Err(at("is corrupt: an array fails its checksum"));
        }
        s.words.clear();
        s.words.extend(s.bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))));
        Ok(())
    }
}

impl Drop for CandFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The allowance of memory for a level's candidate arrays, and the file
/// they spill to past it.
pub struct CandSpill {
    dir: PathBuf,
    budget: usize,
    /// Bytes of this level's arrays kept in memory.
    mem: AtomicUsize,
    file: OnceLock<std::io::Result<Arc<CandFile>>>,
    depth: usize,
    /// Bytes of candidate arrays written to disk, in all.
    pub written: AtomicU64,
}

impl CandSpill {
    /// Keeps up to `budget` bytes of each level's arrays in memory, the
    /// rest in `dir`.
    pub fn new(dir: &Path, budget: usize) -> CandSpill {
        CandSpill {
            dir: dir.to_path_buf(),
            budget,
            mem: AtomicUsize::new(0),
            file: OnceLock::new(),
            depth: 0,
            written: AtomicU64::new(0),
        }
    }

    /// Starts the candidates of `depth`: the previous level's arrays are
    /// gone (its batches were consumed by its numbering).
    pub fn level(&mut self, depth: usize) {
        self.file = OnceLock::new();
        self.depth = depth;
        self.mem = AtomicUsize::new(0);
    }

    /// A batch's arrays: in memory within the level's allowance, else
    /// appended to the level's file.
    fn keep(&self, fps: Vec<u64>, links: Vec<u64>) -> std::io::Result<Arrays> {
        let n = 16 * fps.len();
        if self.mem.fetch_add(n, Relaxed) + n <= self.budget {
            return Ok(Arrays::Mem { fps, links });
        }
        self.mem.fetch_sub(n, Relaxed);
        let file = match self.file.get_or_init(|| {
            let path = self.dir.join(format!("cands-{}.bin", self.depth));
            let file = File::options().read(true).write(true).create(true).truncate(true).open(&path)?;
            Ok(Arc::new(CandFile { file, path, len: AtomicU64::new(0) }))
        }) {
            Ok(f) => f.clone(),
            Err(e) => return Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        let bytes: Vec<u8> = fps.iter().chain(&links).flat_map(|w| w.to_le_bytes()).collect();
        let (fps_bytes, links_bytes) = bytes.split_at(8 * fps.len());
        let (fps_sum, links_sum) = (xxhash_rust::xxh3::xxh3_64(fps_bytes), xxhash_rust::xxh3::xxh3_64(links_bytes));
        let off = file.len.fetch_add(n as u64, Relaxed);
        file.file.write_all_at(&bytes, off)?;
        self.written.fetch_add(n as u64, Relaxed);
        Ok(Arrays::Disk { file, off, fps_sum, links_sum })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch whose arrays spilled reads back its fingerprints and links;
    /// after its file is truncated, or one byte of either array is
    /// changed, reading it is one `InvalidData` line naming the file,
    /// never an array read wrong. (A few milliseconds.)
    #[test]
    fn a_truncated_or_changed_candidate_file_is_a_clean_error() {
        let dir = std::env::temp_dir().join(format!("rmapcheck-cands-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fps: Vec<u64> = (0..300u64).map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        let links: Vec<u64> = (0..300u64).map(|k| k << 16 | 3).collect();
        for (damage, says) in [("none", ""), ("fp", "is corrupt"), ("link", "is corrupt"), ("truncate", "is truncated")]
        {
            let mut cs = CandSpill::new(&dir, 16 * 100); // room for one batch of 100
            cs.level(4);
            let kept = cs.keep(fps[..100].to_vec(), links[..100].to_vec()).unwrap();
            assert!(matches!(kept, Arrays::Mem { .. }), "the first batch fits the allowance");
            let spilled = cs.keep(fps[100..].to_vec(), links[100..].to_vec()).unwrap();
            let path = dir.join("cands-4.bin");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 * 200);
            assert_eq!(cs.written.load(Relaxed), 16 * 200);
            let won = (0..200usize.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
            let b = Batch { n: 200, arrays: spilled, won, seg: None };
            let file = File::options().read(true).write(true).open(&path).unwrap();
            let flip = |at: u64| {
                let mut byte = [0u8];
                file.read_exact_at(&mut byte, at).unwrap();
                file.write_all_at(&[byte[0] ^ 0x20], at).unwrap();
            };
            match damage {
                "fp" => flip(8 * 150 + 2),
                "link" => flip(8 * 350 + 1),
                "truncate" => file.set_len(16 * 200 - 5).unwrap(),
                _ => {}
            }
            let mut s = Scratch::default();
            if damage == "none" {
                assert_eq!(b.fps(&mut s).unwrap(), &fps[100..]);
                assert_eq!(b.links(&mut s).unwrap(), &links[100..]);
                b.win(3);
                b.win(130);
                assert_eq!((b.wins(), b.won()[130], b.won()[131]), (2, true, false));
                continue;
            }
            let e = if damage == "fp" { b.fps(&mut s).map(|_| ()) } else { b.links(&mut s).map(|_| ()) };
            let e = e.expect_err(damage);
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()) && msg.contains(says) && !msg.contains('\n'), "{msg}");
            assert!(b.into_parts().is_err(), "{damage}: the arrays were handed on");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
