//! One level's append-only spill file, shared by the frontier's records
//! (`frontier.rs`) and the candidates' arrays (`cand_spill.rs`): created on
//! the level's first spill, written at offsets the threads reserve, read
//! back with the XXH3-64 of each piece checked (a truncated or changed
//! file is one `InvalidData` line naming it, never bytes read wrong), and
//! deleted when the last piece in it is dropped.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// A level's spill file of `kind` ("frontier", "candidate"), written in
/// pieces called `unit` ("segment", "array") in its error lines.
pub struct LevelFile {
    file: File,
    path: PathBuf,
    len: AtomicU64,
    kind: &'static str,
    unit: &'static str,
}

impl LevelFile {
    /// The level's file in `once`, created at `path` on the first call.
    pub fn open_once(
        once: &OnceLock<std::io::Result<Arc<LevelFile>>>,
        path: impl FnOnce() -> PathBuf,
        kind: &'static str,
        unit: &'static str,
    ) -> std::io::Result<Arc<LevelFile>> {
        match once.get_or_init(|| {
            let path = path();
            let file = File::options().read(true).write(true).create(true).truncate(true).open(&path)?;
            Ok(Arc::new(LevelFile { file, path, len: AtomicU64::new(0), kind, unit }))
        }) {
            Ok(f) => Ok(f.clone()),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Appends `bytes` at an offset of their own: the offset and their sum.
    pub fn append(&self, bytes: &[u8]) -> std::io::Result<(u64, u64)> {
        let off = self.len.fetch_add(bytes.len() as u64, Relaxed);
        self.file.write_all_at(bytes, off)?;
        Ok((off, xxhash_rust::xxh3::xxh3_64(bytes)))
    }

    /// Reads the `len` bytes at `off` into `buf` and checks their `sum`.
    pub fn read(&self, buf: &mut Vec<u8>, off: u64, len: usize, sum: u64) -> std::io::Result<()> {
        buf.resize(len, 0);
        match self.file.read_exact_at(buf, off) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(self.error("is truncated", off, len))
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        if xxhash_rust::xxh3::xxh3_64(buf) != sum {
            let what = format!("is corrupt: {} {} fails its checksum", article(self.unit), self.unit);
            return Err(self.error(&what, off, len));
        }
        Ok(())
    }

    /// The one-line error for the piece of `len` bytes at `off`.
    pub fn error(&self, what: &str, off: u64, len: usize) -> std::io::Error {
        let (kind, path, unit) = (self.kind, self.path.display(), self.unit);
        let e = format!("{kind} spill file {path} {what} ({unit} of {len} bytes at byte {off})");
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

fn article(unit: &str) -> &'static str {
    if unit.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl Drop for LevelFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
