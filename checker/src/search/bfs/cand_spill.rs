//! Where a level's candidate arrays (fingerprints and parent links) are
//! kept: in memory within the level's allowance, else appended to the
//! level's file `cands-{depth}.bin`, each half of a batch with its XXH3-64
//! sum kept in memory and checked on every read (`cands.rs` has the
//! batches that use them; `docs/storage.md`).

use super::spill_file::LevelFile;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// Where a batch's fingerprints and links are.
pub(super) enum Arrays {
    Mem {
        fps: Vec<u64>,
        links: Vec<u64>,
    },
    /// `n` fingerprints at `off` of a level file, then `n` links, with
    /// the XXH3-64 sum of each half's bytes.
    Disk {
        file: Arc<LevelFile>,
        off: u64,
        fps_sum: u64,
        links_sum: u64,
    },
}

/// Scratch space for reading a spilled batch's arrays back.
#[derive(Default)]
pub struct Scratch {
    pub(super) bytes: Vec<u8>,
    pub(super) words: Vec<u64>,
}

/// Reads the `n` words at `off` of `file` into `s.words`, checking their
/// sum.
pub(super) fn read_words(file: &LevelFile, off: u64, n: usize, sum: u64, s: &mut Scratch) -> std::io::Result<()> {
    file.read(&mut s.bytes, off, 8 * n, sum)?;
    s.words.clear();
    s.words.extend(s.bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))));
    Ok(())
}

/// The allowance of memory for a level's candidate arrays, and the file
/// they spill to past it.
pub struct CandSpill {
    dir: PathBuf,
    budget: usize,
    /// Bytes of this level's arrays kept in memory.
    mem: AtomicUsize,
    file: OnceLock<std::io::Result<Arc<LevelFile>>>,
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
    pub(super) fn keep(&self, fps: Vec<u64>, links: Vec<u64>) -> std::io::Result<Arrays> {
        let n = 16 * fps.len();
        if self.mem.fetch_add(n, Relaxed) + n <= self.budget {
            return Ok(Arrays::Mem { fps, links });
        }
        self.mem.fetch_sub(n, Relaxed);
        let path = || self.dir.join(format!("cands-{}.bin", self.depth));
        let file = LevelFile::open_once(&self.file, path, "candidate", "array")?;
        let bytes: Vec<u8> = fps.iter().chain(&links).flat_map(|w| w.to_le_bytes()).collect();
        let (fps_bytes, links_bytes) = bytes.split_at(8 * fps.len());
        let (fps_sum, links_sum) = (xxhash_rust::xxh3::xxh3_64(fps_bytes), xxhash_rust::xxh3::xxh3_64(links_bytes));
        let (off, _) = file.append(&bytes)?;
        self.written.fetch_add(n as u64, Relaxed);
        Ok(Arrays::Disk { file, off, fps_sum, links_sum })
    }
}
