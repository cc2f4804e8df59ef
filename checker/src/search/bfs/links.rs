//! Parent links on disk: one 8-byte record per state id, written once
//! when the state is numbered (ids only grow, so the file only grows at its
//! end) and read back only to rebuild a counterexample (TLC's trace file).
//!
//! A record is the parent's id (48 bits) and the index of the action in
//! the parent's enabled actions (16 bits): the action itself is recovered
//! by replaying, so the record does not depend on the model's types. In a
//! sharded run an id also names its shard (`id % N`), and each shard's
//! records are in its own file in the exchange directory.

use crate::explore::Explorer;
use rmapcheck_model::{step, Action, Ctx};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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
    /// Every shard's file, by shard (one entry when not sharded).
    paths: Vec<PathBuf>,
    shards: u64,
}

impl Links {
    /// Creates (truncates) `dir/links-{me}.bin`; the other shards' files
    /// are opened when a trace is rebuilt.
    pub fn create(dir: &Path, me: usize, shards: usize) -> std::io::Result<Links> {
        let paths: Vec<PathBuf> = (0..shards).map(|k| dir.join(format!("links-{k}.bin"))).collect();
        let own = File::options().read(true).write(true).create(true).truncate(true).open(&paths[me])?;
        Ok(Links { own, paths, shards: shards as u64 })
    }

    /// Writes the records of the states numbered `first`, `first + N`, ...
    /// (local index `first / N` on).
    pub fn write(&self, first: u64, records: &[u64]) -> std::io::Result<()> {
        let bytes: Vec<u8> = records.iter().flat_map(|r| r.to_le_bytes()).collect();
        self.own.write_all_at(&bytes, first / self.shards * 8)
    }

    /// Makes the records written so far readable by the other shards.
    pub fn sync(&self) -> std::io::Result<()> {
        self.own.sync_data()
    }

    /// Bytes of records written by this process.
    pub fn bytes(&self) -> u64 {
        self.own.metadata().map_or(0, |m| m.len())
    }

    /// The actions from the initial state to state `id`: the links followed
    /// back, then replayed forward to turn action indices into actions.
    pub fn trace(&self, ex: &Explorer, mut id: u64) -> std::io::Result<Vec<Action>> {
        let mut files: Vec<Option<File>> = (0..self.paths.len()).map(|_| None).collect();
        let mut indices = Vec::new();
        loop {
            let shard = (id % self.shards) as usize;
            if files[shard].is_none() {
                files[shard] = Some(File::open(&self.paths[shard])?);
            }
            let mut rec = [0u8; 8];
            files[shard].as_ref().expect("opened above").read_exact_at(&mut rec, id / self.shards * 8)?;
            let rec = u64::from_le_bytes(rec);
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

fn broken(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("parent links do not replay: {what}"))
}
