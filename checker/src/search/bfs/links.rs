//! Parent links on disk: one 8-byte record per state id, written once
//! when the state is numbered (ids only grow, so the file only grows at its
//! end) and read back only to rebuild a counterexample (TLC's trace file).
//!
//! A record is the parent's id (48 bits) and the index of the action in
//! the parent's enabled actions (16 bits): the action itself is recovered
//! by replaying, so the record does not depend on the model's types. In a
//! sharded run an id also names its shard (`id % N`), and each shard's
//! records are in its own file in the exchange directory.
//!
//! Every block of [`BLOCK`] records has a checksum in `links-{i}.sum`
//! (16 bytes: the records written to the block so far and the wrapping sum
//! of their XXH3-64 hashes, each seeded with its index, so the threads of
//! a level add their records in any order). A record read back is checked
//! with its block: a links file truncated or changed is an error naming
//! it, never a wrong trace.

use crate::explore::Explorer;
use rmapcheck_model::{step, Action, Ctx};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Records per checksummed block (32 KiB of records per 16-byte sum).
pub const BLOCK: u64 = 4096;

/// The record of the initial state: no parent.
pub const ROOT: u64 = u64::MAX;

/// The record of a state reached from `parent` by its `action`-th enabled
/// action.
pub fn link(parent: u64, action: usize) -> u64 {
    assert!(parent < 1 << 48 && action < 1 << 16, "state id {parent} or action index {action} out of range");
    parent << 16 | action as u64
}

/// The link files: this process's (written) and, in a sharded run, every
/// shard's (read).
pub struct Links {
    own: File,
    own_sums: File,
    /// Every shard's file, by shard (one entry when not sharded).
    paths: Vec<PathBuf>,
    shards: u64,
    /// The sums of the blocks being written, not yet in the sum file.
    open: Mutex<Open>,
}

/// Blocks `base..` being written: per block, (records, sum).
#[derive(Default)]
struct Open {
    base: u64,
    blocks: Vec<(u64, u64)>,
}

/// A record's share of its block's sum.
fn mix(index: u64, record: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&record.to_le_bytes(), index)
}

/// The checksum file beside a links file.
fn sums_path(links: &Path) -> PathBuf {
    links.with_extension("sum")
}

impl Links {
    /// Creates (truncates) `dir/links-{me}.bin`; the other shards' files
    /// are opened when a trace is rebuilt.
    pub fn create(dir: &Path, me: usize, shards: usize) -> std::io::Result<Links> {
        let paths: Vec<PathBuf> = (0..shards).map(|k| dir.join(format!("links-{k}.bin"))).collect();
        let open = |p: &Path| File::options().read(true).write(true).create(true).truncate(true).open(p);
        let (own, own_sums) = (open(&paths[me])?, open(&sums_path(&paths[me]))?);
        Ok(Links { own, own_sums, paths, shards: shards as u64, open: Mutex::default() })
    }

    /// Writes the records of the states numbered `first`, `first + N`, ...
    /// (local index `first / N` on), and adds them to their blocks' sums
    /// ([`Links::seal`] writes those).
    pub fn write(&self, first: u64, records: &[u64]) -> std::io::Result<()> {
        let bytes: Vec<u8> = records.iter().flat_map(|r| r.to_le_bytes()).collect();
        let start = first / self.shards;
        self.own.write_all_at(&bytes, start * 8)?;
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for (i, &r) in (start..).zip(records) {
            let b = (i / BLOCK - open.base) as usize;
            if b >= open.blocks.len() {
                open.blocks.resize(b + 1, (0, 0));
            }
            let (n, sum) = &mut open.blocks[b];
            (*n, *sum) = (*n + 1, sum.wrapping_add(mix(i, r)));
        }
        Ok(())
    }

    /// Writes the sums of the blocks written since the last call (once the
    /// level's records are all written) and keeps the last block's, unless
    /// it is full, for the next level's records.
    pub fn seal(&self) -> std::io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let bytes: Vec<u8> =
            open.blocks.iter().flat_map(|(n, s)| n.to_le_bytes().into_iter().chain(s.to_le_bytes())).collect();
        self.own_sums.write_all_at(&bytes, open.base * 16)?;
        if let Some(&last) = open.blocks.last() {
            let full = last.0 == BLOCK;
            open.base += open.blocks.len() as u64 - u64::from(!full);
            open.blocks = if full { Vec::new() } else { vec![last] };
        }
        Ok(())
    }

    /// Makes the records written so far readable by the other shards.
    pub fn sync(&self) -> std::io::Result<()> {
        self.own.sync_data()?;
        self.own_sums.sync_data()
    }

    /// Bytes of records written by this process.
    pub fn bytes(&self) -> u64 {
        self.own.metadata().map_or(0, |m| m.len())
    }

    /// The actions from the initial state to state `id`: the links followed
    /// back, then replayed forward to turn action indices into actions.
    pub fn trace(&self, ex: &Explorer, mut id: u64) -> std::io::Result<Vec<Action>> {
        let mut files: Vec<Option<(File, File)>> = (0..self.paths.len()).map(|_| None).collect();
        let mut indices = Vec::new();
        loop {
            let shard = (id % self.shards) as usize;
            let path = &self.paths[shard];
            if files[shard].is_none() {
                files[shard] = Some((File::open(path)?, File::open(sums_path(path))?));
            }
            let (recs, sums) = files[shard].as_ref().expect("opened above");
            let rec = read_checked(path, recs, sums, id / self.shards)?;
            if rec == ROOT {
                break;
            }
            indices.push((rec & 0xffff) as usize);
            id = rec >> 16;
            if indices.len() > 1 << 16 {
                return Err(broken(format!("no initial state within {} links", indices.len())));
            }
        }
        let mut s = ex.init();
        let mut actions = Vec::new();
        let mut trace = Vec::with_capacity(indices.len());
        for &k in indices.iter().rev() {
            actions.clear();
            ex.actions(&s, &mut actions);
            let a = *actions.get(k).ok_or_else(|| broken(format!("action index {k} of {}", actions.len())))?;
            s = step(&s, a, &mut Ctx::new(&ex.cfg, false)).map_err(|e| broken(format!("{a} refused: {e}")))?;
            trace.push(a);
        }
        Ok(trace)
    }
}

/// The record at local index `i` of the links file `path` (`recs`),
/// checked with its block's sum (`sums`): a truncated or changed file is an
/// `InvalidData` error naming it.
fn read_checked(path: &Path, recs: &File, sums: &File, i: u64) -> std::io::Result<u64> {
    let bad = |what: String| {
        let e = format!("parent-links file {} {what} (block {} of {BLOCK} records)", path.display(), i / BLOCK);
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    };
    let eof = |e: std::io::Error, what: &str| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad(format!("is truncated: {what}"))
        } else {
            e
        }
    };
    let mut entry = [0u8; 16];
    sums.read_exact_at(&mut entry, i / BLOCK * 16).map_err(|e| eof(e, "its block has no checksum"))?;
    let n = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
    let sum = u64::from_le_bytes(entry[8..].try_into().expect("8 bytes"));
    if n > BLOCK || i % BLOCK >= n {
        return Err(bad(format!("is corrupt: its checksum file counts {n} records in the block")));
    }
    let base = i / BLOCK * BLOCK;
    let mut block = vec![0u8; n as usize * 8];
    recs.read_exact_at(&mut block, base * 8).map_err(|e| eof(e, "records missing"))?;
    let records: Vec<u64> = block.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
    let got = (base..).zip(&records).fold(0u64, |acc, (k, &r)| acc.wrapping_add(mix(k, r)));
    if got != sum {
        return Err(bad("is corrupt: a block fails its checksum".into()));
    }
    Ok(records[(i - base) as usize])
}

fn broken(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("parent links do not replay: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmapcheck_model::Config;

    /// A trace rebuilt through three blocks of links, written in two
    /// levels and out of order, is the path written; after one byte of the
    /// links file or of its sum file is changed, or the links file is cut
    /// short, rebuilding it is one `InvalidData` line naming the file,
    /// never a trace. (A few milliseconds.)
    #[test]
    fn a_changed_or_truncated_links_file_is_an_error_not_a_trace() {
        let dir = std::env::temp_dir().join(format!("rmapcheck-links-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ex = Explorer::new(Config::default(), &[]);
        // A path of six actions; state j of it gets id 1,500 j.
        let (mut s, mut actions, mut path) = (ex.init(), Vec::new(), Vec::new());
        let mut records = vec![link(0, 0); 9_001];
        records[0] = ROOT;
        for j in 1..=6u64 {
            actions.clear();
            ex.actions(&s, &mut actions);
            let k = j as usize % actions.len();
            path.push(actions[k]);
            s = ex.step(&s, actions[k]).expect("an enabled action steps").0;
            records[j as usize * 1_500] = link((j - 1) * 1_500, k);
        }
        let fresh = || {
            let links = Links::create(&dir, 0, 1).unwrap();
            for (from, to) in [(3_000, 5_000), (0, 3_000)] {
                links.write(from, &records[from as usize..to as usize]).unwrap();
            }
            links.seal().unwrap();
            links.write(5_000, &records[5_000..]).unwrap();
            links.seal().unwrap();
            links
        };
        let file = dir.join("links-0.bin");
        let sums = dir.join("links-0.sum");
        assert_eq!(fresh().trace(&ex, 9_000).unwrap(), path);
        for (damage, says) in [("record", "is corrupt"), ("sum", "is corrupt"), ("truncate", "is truncated")] {
            let links = fresh();
            match damage {
                "record" => {
                    let mut b = std::fs::read(&file).unwrap();
                    b[4_600 * 8 + 3] ^= 1; // a record of block 1 that is not on the path
                    std::fs::write(&file, b).unwrap();
                }
                "sum" => {
                    let mut b = std::fs::read(&sums).unwrap();
                    b[2 * 16 + 9] ^= 0x40; // block 2's sum
                    std::fs::write(&sums, b).unwrap();
                }
                _ => File::options().write(true).open(&file).unwrap().set_len(8_000 * 8).unwrap(),
            }
            let e = links.trace(&ex, 9_000).expect_err(damage);
            let msg = e.to_string();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{damage}: {msg}");
            assert!(msg.contains(&file.display().to_string()) && msg.contains(says) && !msg.contains('\n'), "{msg}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
