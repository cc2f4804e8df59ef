//! `--shard I/N`: one of N processes of one BFS, each owning the states
//! whose fingerprint maps to it, trading candidates through a directory
//! every process can read and write (a shared volume on a cluster, a
//! local directory on one machine). Why this partition is sound and
//! complete: `docs/sharding.md`.
//!
//! Per level, process `i` writes `d{depth}-{i}-to-{j}.bin` (the candidates
//! `j` owns, in `i`'s frontier order) for every other `j`, then its marker
//! `d{depth}-{i}.done` (states expanded, a limit it hit, invariants found
//! so far), each written under a temporary name and renamed, so a file
//! that exists is complete. It then waits for every marker of the level,
//! reads the files addressed to it (and deletes them), and inserts all
//! candidates in shard order. Its parent links are `links-{i}.bin` in the
//! same directory, so that any shard can rebuild a trace that crosses
//! shards.

use super::cands::{Batch, Cands};
use super::frontier::Spill;
use super::links::Links;
use crate::strategy::{Shard, Strategy};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `--shard I/N` with `--exchange DIR`, checked: `None` when not sharded.
pub fn parse(shard: Option<&str>, dir: Option<&str>, strategy: &dyn Strategy) -> Result<Option<Shard>, String> {
    let (spec, dir) = match (shard, dir) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err("--shard needs --exchange DIR, a directory every shard can write".into()),
        (None, Some(_)) => return Err("--exchange is only for a sharded run: give --shard I/N".into()),
        (Some(s), Some(d)) => (s, d),
    };
    let bad = || format!("--shard takes I/N with 0 <= I < N <= 4096, got '{spec}'");
    let (i, n) = spec.split_once('/').ok_or_else(bad)?;
    let (index, count): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if count == 0 || count > 4096 || index >= count {
        return Err(bad());
    }
    if strategy.name() != "bfs" {
        return Err(format!("only the bfs strategy can be sharded, not {}", strategy.name()));
    }
    let dir = PathBuf::from(dir);
    if dir.join(format!("run-{index}.txt")).exists() {
        return Err(format!(
            "{} already holds shard {index}'s files from an earlier run: give each run an empty --exchange directory",
            dir.display()
        ));
    }
    Ok(Some(Shard { index, count, dir }))
}

/// A limit that made a shard stop, or a violation that makes all stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerStop {
    /// The time limit.
    Time,
    /// The memory budget.
    Memory,
    /// A storage or exchange error.
    Storage,
}

/// What a shard tells the others at the end of a level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Frontier states it expanded at this level.
    pub expanded: u64,
    /// A limit it hit during the level.
    pub stop: Option<PeerStop>,
    /// The invariants (registry indexes) it found violated for the first
    /// time at this level, each with the order key of its first violating
    /// state.
    pub new: Vec<(usize, Vec<u8>)>,
}

impl Marker {
    fn to_text(&self) -> String {
        let stop = match self.stop {
            None => "none",
            Some(PeerStop::Time) => "time",
            Some(PeerStop::Memory) => "memory",
            Some(PeerStop::Storage) => "storage",
        };
        let hex = |k: &[u8]| k.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let new: Vec<String> = self.new.iter().map(|(i, k)| format!("{i}:{}", hex(k))).collect();
        format!("expanded {}\nstop {stop}\nnew {}\n", self.expanded, new.join(","))
    }

    fn parse(text: &str) -> Option<Marker> {
        let mut lines = text.lines();
        let expanded = lines.next()?.strip_prefix("expanded ")?.parse().ok()?;
        let stop = match lines.next()?.strip_prefix("stop ")? {
            "none" => None,
            "time" => Some(PeerStop::Time),
            "memory" => Some(PeerStop::Memory),
            "storage" => Some(PeerStop::Storage),
            _ => return None,
        };
        let unhex = |h: &str| -> Option<Vec<u8>> {
            (0..h.len()).step_by(2).map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok()).collect()
        };
        let new = lines.next()?.strip_prefix("new ")?;
        let new = new
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (i, k) = s.split_once(':')?;
                Some((i.parse().ok()?, unhex(k)?))
            })
            .collect::<Option<_>>()?;
        Some(Marker { expanded, stop, new })
    }
}

/// This process's side of the exchange directory.
pub struct Exchange {
    dir: PathBuf,
    me: usize,
    n: usize,
    identity: String,
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

impl Exchange {
    /// Joins the run in `sh.dir` (created if missing). `identity` is what
    /// every shard must agree on (model, invariants, bounds); a directory
    /// still holding this shard's files from an earlier run is refused.
    pub fn open(sh: &Shard, identity: &str) -> std::io::Result<Exchange> {
        std::fs::create_dir_all(&sh.dir)?;
        let x = Exchange { dir: sh.dir.clone(), me: sh.index, n: sh.count, identity: identity.to_string() };
        let mine = x.dir.join(format!("run-{}.txt", x.me));
        if mine.exists() || x.dir.join(format!("d0-{}.done", x.me)).exists() {
            return Err(invalid(format!(
                "{} already holds shard {}'s files from an earlier run: give each run an empty directory",
                x.dir.display(),
                x.me
            )));
        }
        x.publish(&mine, identity.as_bytes())?;
        Ok(x)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.n
    }

    /// The shard that owns a fingerprint: its low 32 bits scaled to N
    /// (the seen set's tables use the top bits, so every shard uses all
    /// its tables).
    pub fn owner(&self, fp: u64) -> usize {
        (((fp & 0xffff_ffff) * self.n as u64) >> 32) as usize
    }

    /// Writes `path` under a temporary name, flushed, then renames it.
    fn publish(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// Sends every other shard the candidates it owns (`outboxes[j]`).
    pub fn send(&self, depth: usize, outboxes: &[Vec<Cands>]) -> std::io::Result<()> {
        for j in (0..self.n).filter(|&j| j != self.me) {
            let mut bytes = Vec::new();
            for c in outboxes.get(j).map_or(&[][..], |v| v) {
                bytes.extend_from_slice(&(c.fps.len() as u64).to_le_bytes());
                bytes.extend_from_slice(&(c.bytes.len() as u64).to_le_bytes());
                c.fps.iter().chain(&c.links).for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
                bytes.extend_from_slice(&c.bytes);
            }
            self.publish(&self.dir.join(format!("d{depth}-{}-to-{j}.bin", self.me)), &bytes)?;
        }
        Ok(())
    }

    /// Publishes this shard's marker for `depth` and waits for everyone's
    /// (until `deadline`, if any). At depth 0 it also checks that every
    /// shard runs the same configuration.
    /// The marker is published after `links` is flushed, so that a shard
    /// that saw it can read every link numbered before this level.
    pub fn barrier(
        &self,
        depth: usize,
        m: &Marker,
        links: &Links,
        deadline: Option<Instant>,
    ) -> std::io::Result<Vec<Marker>> {
        links.sync()?;
        self.publish(&self.dir.join(format!("d{depth}-{}.done", self.me)), m.to_text().as_bytes())?;
        let mut markers = vec![None; self.n];
        let mut wait = Duration::from_millis(1);
        while markers.iter().any(Option::is_none) {
            for (k, slot) in markers.iter_mut().enumerate().filter(|(_, s)| s.is_none()) {
                match std::fs::read_to_string(self.dir.join(format!("d{depth}-{k}.done"))) {
                    Ok(t) => {
                        let parsed =
                            Marker::parse(&t).ok_or_else(|| invalid(format!("shard {k}'s marker is malformed")))?;
                        *slot = Some(parsed);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            if markers.iter().any(Option::is_none) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the time limit passed while waiting for the other shards at depth {depth}"),
                    ));
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(200));
            }
        }
        if depth == 0 {
            for k in 0..self.n {
                let theirs = std::fs::read_to_string(self.dir.join(format!("run-{k}.txt")))?;
                if theirs != self.identity {
                    return Err(invalid(format!("shard {k} runs another configuration than shard {}", self.me)));
                }
            }
        }
        Ok(markers.into_iter().map(|m| m.expect("every marker read")).collect())
    }

    /// The candidates every other shard sent this one at `depth`, by
    /// sending shard (empty for this one), kept through the spill.
    pub fn receive(&self, depth: usize, spill: &Spill) -> std::io::Result<Vec<Vec<Batch>>> {
        let mut all = Vec::with_capacity(self.n);
        for k in 0..self.n {
            let mut batches = Vec::new();
            if k != self.me {
                let path = self.dir.join(format!("d{depth}-{k}-to-{}.bin", self.me));
                let bytes = std::fs::read(&path)?;
                let mut rest = &bytes[..];
                let word = |b: &[u8], i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
                while !rest.is_empty() {
                    let (n, len) = (word(rest, 0) as usize, word(rest, 1) as usize);
                    let fps = (0..n).map(|i| word(rest, 2 + i)).collect();
                    let links = (0..n).map(|i| word(rest, 2 + n + i)).collect();
                    let start = (2 + 2 * n) * 8;
                    let c = Cands { fps, links, bytes: rest[start..start + len].to_vec() };
                    batches.push(Batch::keep(c, spill, false)?);
                    rest = &rest[start + len..];
                }
                std::fs::remove_file(&path)?;
            }
            all.push(batches);
        }
        Ok(all)
    }
}

/// One sender's candidates, read in order.
struct Stream {
    batches: std::vec::IntoIter<Batch>,
    fps: Vec<u64>,
    links: Vec<u64>,
    bytes: Vec<u8>,
    k: usize,
    pos: usize,
}

impl Stream {
    /// The next candidate: fingerprint, link, whole record (length included).
    fn next(&mut self, spill: &Spill) -> std::io::Result<Option<(u64, u64, std::ops::Range<usize>)>> {
        while self.k == self.fps.len() {
            let Some(b) = self.batches.next() else { return Ok(None) };
            let (fps, links, seg) = b.into_parts()?;
            (self.fps, self.links, self.k, self.pos) = (fps, links, 0, 0);
            let seg = seg.ok_or_else(|| std::io::Error::other("internal error: sharded candidates without records"))?;
            self.bytes = spill.take(seg)?;
        }
        let len = 2 + u16::from_le_bytes([self.bytes[self.pos], self.bytes[self.pos + 1]]) as usize;
        let r = (self.fps[self.k], self.links[self.k], self.pos..self.pos + len);
        (self.k, self.pos) = (self.k + 1, self.pos + len);
        Ok(Some(r))
    }
}

/// Every sender's candidates (each stream in its sender's frontier order)
/// merged into one sequence by order key: the key of a state is the action
/// indices of its path, so this is the order of the unsharded search, and
/// the first candidate of each fingerprint is the one the unsharded search
/// keeps (`docs/sharding.md`). `key_len` is the key's length at this depth.
pub fn merge_by_key(streams: Vec<Vec<Batch>>, key_len: usize, spill: &Spill) -> std::io::Result<Vec<Batch>> {
    use std::cmp::Reverse;
    let mut streams: Vec<Stream> = streams
        .into_iter()
        .map(|b| Stream { batches: b.into_iter(), fps: Vec::new(), links: Vec::new(), bytes: Vec::new(), k: 0, pos: 0 })
        .collect();
    let mut heap = std::collections::BinaryHeap::new();
    let mut heads = Vec::with_capacity(streams.len());
    for (i, s) in streams.iter_mut().enumerate() {
        let head = s.next(spill)?;
        if let Some((_, _, r)) = &head {
            heap.push(Reverse((s.bytes[r.start + 2..r.start + 2 + key_len].to_vec(), i)));
        }
        heads.push(head);
    }
    let mut out = Vec::new();
    let mut c = Cands::default();
    while let Some(Reverse((_, i))) = heap.pop() {
        let (fp, link, r) = heads[i].take().expect("a stream in the heap has a head");
        c.fps.push(fp);
        c.links.push(link);
        c.bytes.extend_from_slice(&streams[i].bytes[r]);
        if c.fps.len() == super::frontier::SEGMENT {
            out.push(Batch::keep(std::mem::take(&mut c), spill, false)?);
        }
        heads[i] = streams[i].next(spill)?;
        if let Some((_, _, r)) = &heads[i] {
            heap.push(Reverse((streams[i].bytes[r.start + 2..r.start + 2 + key_len].to_vec(), i)));
        }
    }
    if !c.fps.is_empty() {
        out.push(Batch::keep(c, spill, false)?);
    }
    Ok(out)
}
