//! Where a level's candidate arrays (fingerprints and parent links) are
//! kept: in memory within the level's allowance, else appended to the
//! level's file `cands-{depth}.bin`, each half of a batch with its XXH3-64
//! sum kept in memory and checked on every read (`cands.rs` has the
//! batches that use them; `docs/storage.md`).

use std::fs::File;
use std::os::unix::fs::FileExt;
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
        file: Arc<CandFile>,
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
    pub(super) fn read(&self, off: u64, n: usize, sum: u64, s: &mut Scratch) -> std::io::Result<()> {
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
    pub(super) fn keep(&self, fps: Vec<u64>, links: Vec<u64>) -> std::io::Result<Arrays> {
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
