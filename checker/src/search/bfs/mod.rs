//! Exact level-by-level breadth-first search, with states stored compactly.
//!
//! stateright 0.31's BFS shares work between threads in blocks and keeps
//! the *last* counterexample it meets for a property, so the trace it
//! returns is not always the shortest. This search finishes one depth
//! before starting the next and keeps the first violation of each depth,
//! so every counterexample it reports is a shortest one.
//!
//! Storage (`docs/storage.md`): the seen set holds 64-bit fingerprints
//! only ([`fpset`], at most 16 bytes per state); the frontier is states
//! serialized to bytes, spilled to disk past its budget ([`frontier`]);
//! parent links go to an append-only file read back only for a
//! counterexample ([`links`]); a level's candidates' fingerprints and
//! parent links spill to a file per level past a quarter of the memory
//! budget, their winner flags a bitmap in memory ([`cands`]).
//!
//! A level runs in three parallel phases: every thread expands segments of
//! the frontier ([`expand`]), keeping the successors not seen at an
//! earlier depth as candidates; then each thread inserts the candidates of
//! its own group of seen-set tables, all candidates in frontier order, so
//! that the first candidate of each fingerprint wins whatever the thread
//! count; then the winners are numbered, their links written and their
//! segments kept as the next frontier. The same run therefore gives the
//! same states, counts and traces on any number of threads.
//!
//! With `--shard I/N` ([`shard`]) each process owns the states whose
//! fingerprint maps to it, and hands the successors it does not own to
//! their owners through a shared directory at the end of every level
//! (`docs/sharding.md`).

mod cand_spill;
mod cands;
mod expand;
mod fingerprint;
mod fpset;
mod frontier;
mod links;
mod regen;
pub mod shard;
mod spill_file;

use crate::explore::Explorer;
use crate::report::rss_kib;
use crate::strategy::{Found, Limits, Outcome, Progress, Stop, Storage, Strategy, Traits};
use cands::{Batch, Cands, Scratch};
use expand::{Live, Unit};
pub use fingerprint::fingerprint;
use fpset::FpSet;
use frontier::{Segment, Spill};
use links::{Links, ROOT};
use rayon::prelude::*;
use shard::{Exchange, Marker};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Exact level-by-level BFS: exhaustive, shortest counterexamples.
pub struct Bfs;

impl Strategy for Bfs {
    fn traits(&self) -> Traits {
        Traits::exhaustive("bfs", "exact level-by-level breadth-first search: exhaustive, shortest counterexamples")
    }
    /// Runs the search; `progress` gets a line every two seconds.
    fn run(&self, ex: &Explorer, limits: &Limits, progress: Progress) -> Outcome {
        let live = Live::default();
        let log = Mutex::new(Vec::new());
        std::thread::scope(|sc| {
            if let Some(w) = progress {
                let (live, log) = (&live, &log);
                sc.spawn(move || report(w, live, log));
            }
            // One pool for the whole search: its threads (and their
            // allocator heaps) live across levels.
            let pool = rayon::ThreadPoolBuilder::new().num_threads(limits.threads.max(1)).build();
            let out = match pool.map_err(std::io::Error::other) {
                Ok(pool) => pool.install(|| match Search::new(ex, limits, &live, &log) {
                    Ok(mut s) => s.run(),
                    Err(e) => storage_failure(e),
                }),
                Err(e) => storage_failure(e),
            };
            live.done.store(true, Relaxed);
            out
        })
    }
}

/// Prints a progress line every two seconds until the search is done,
/// and a line per finished level (`log`).
fn report(w: &mut (dyn Write + Send), live: &Live, log: &Mutex<Vec<String>>) {
    let start = Instant::now();
    let mut last = (Instant::now(), 0usize);
    let flush = |w: &mut (dyn Write + Send)| {
        for line in log.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = writeln!(w, "[{:>6.1}s] {line}", start.elapsed().as_secs_f64());
        }
    };
    while !live.done.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        flush(w);
        if last.0.elapsed() < Duration::from_secs(2) {
            continue;
        }
        let generated = live.generated.load(Relaxed);
        let rate = (generated - last.1) as f64 / last.0.elapsed().as_secs_f64();
        let _ = writeln!(
            w,
            "[{:>6.1}s] depth={} states={generated} unique={} (+{} candidates at this depth) states/s={rate:.0} rss={} MiB",
            start.elapsed().as_secs_f64(),
            live.depth.load(Relaxed),
            live.unique.load(Relaxed),
            live.fresh.load(Relaxed),
            rss_kib() / 1024,
        );
        last = (Instant::now(), generated);
    }
    flush(w);
}

/// The outcome of a search that could not use its spill directory or
/// exchange directory: nothing is claimed.
fn storage_failure(e: std::io::Error) -> Outcome {
    eprintln!("rmapcheck: bfs storage: {e}");
    Outcome { states: 0, unique: 0, stop: Stop::Storage(e.kind()), ..Outcome::initial() }
}

/// A private directory for the spill and link files, removed with
/// everything in it when the search ends.
struct WorkDir(PathBuf);
impl WorkDir {
    fn new() -> std::io::Result<WorkDir> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("rmapcheck-bfs-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| {
            let what = format!("cannot create the spill directory {} (TMPDIR names where): {e}", dir.display());
            std::io::Error::new(e.kind(), what)
        })?;
        Ok(WorkDir(dir))
    }
}
impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The frontier's memory budget when none is given: 32 MiB, or a quarter
/// of a smaller memory budget. The frontier is read once per depth (twice
/// where new states are regenerated from it), in order, so a spilled
/// frontier costs a sequential write and reads, not a search slowed to the
/// disk's latency.
fn frontier_budget(limits: &Limits) -> usize {
    let kib = limits.frontier_kib.unwrap_or_else(|| limits.max_rss_kib.map_or(32 << 10, |m| (m / 4).min(32 << 10)));
    (kib as usize).saturating_mul(1024)
}

/// The memory a level's candidate fingerprints and parent links (16
/// bytes a candidate) may take before the rest spill to disk: a quarter
/// of the memory budget (4.5 GiB, 300 million candidates, under the
/// default budget of three quarters of RAM), so that the seen set, which
/// grows with every level and cannot spill, keeps the larger share; all
/// of them when no budget is given. Within it nothing is written: the
/// default check's and the SPIN configuration's largest levels (a few
/// million candidates) never reach it. Past it, each thread of the
/// insertion phase reads the spilled fingerprints once, in order: a
/// sequential read, not a search slowed to the disk's latency.
fn candidates_budget(limits: &Limits) -> usize {
    let kib = limits.candidates_kib.or(limits.max_rss_kib.map(|m| m / 4));
    kib.map_or(usize::MAX, |k| (k as usize).saturating_mul(1024))
}

/// One search: the seen set, the frontier and the link files.
struct Search<'a> {
    ex: &'a Explorer,
    limits: &'a Limits,
    live: &'a Live,
    /// Finished levels' lines for the progress reporter.
    log: &'a Mutex<Vec<String>>,
    threads: usize,
    seen: FpSet,
    spill: Spill,
    links: Links,
    exchange: Option<Exchange>,
    /// This process's shard and the number of shards (0 and 1 unsharded).
    me: u64,
    shards: u64,
    /// Local index of the next state to number (its id is `index * shards + me`).
    next_index: u64,
    _work: WorkDir,
}

/// Why a search stopped early, as found during a level.
#[derive(Default)]
struct Cut {
    depth_bounded: bool,
    timed_out: bool,
    out_of_memory: bool,
    io: Option<std::io::Error>,
}

impl<'a> Search<'a> {
    fn new(
        ex: &'a Explorer,
        limits: &'a Limits,
        live: &'a Live,
        log: &'a Mutex<Vec<String>>,
    ) -> std::io::Result<Search<'a>> {
        let work = WorkDir::new()?;
        let (exchange, me, shards) = match &limits.shard {
            Some(sh) => (Some(Exchange::open(sh, &identity(ex, limits))?), sh.index as u64, sh.count as u64),
            None => (None, 0, 1),
        };
        let links_dir: &Path = exchange.as_ref().map_or(&work.0, |x| x.dir());
        let links = Links::create(links_dir, me as usize, shards as usize)?;
        Ok(Search {
            ex,
            limits,
            live,
            log,
            threads: limits.threads.max(1),
            seen: FpSet::default(),
            spill: Spill::new(&work.0, frontier_budget(limits)).with_candidates(candidates_budget(limits)),
            links,
            exchange,
            me,
            shards,
            next_index: 0,
            _work: work,
        })
    }

    fn owner(&self, fp: u64) -> u64 {
        self.exchange.as_ref().map_or(0, |x| x.owner(fp) as u64)
    }

    fn run(&mut self) -> Outcome {
        let init = self.ex.init();
        let init_fp = fingerprint(&init);
        let mut out = Outcome::initial();
        let mut frontier = Vec::new();
        if self.owner(init_fp) == self.me {
            self.seen.insert(init_fp);
            if let Err(e) = self.links.write(self.me, &[ROOT]).and_then(|()| self.links.seal()) {
                return storage_failure(e);
            }
            self.next_index = 1;
            let mut bytes = Vec::new();
            frontier::encode(&init, &[], &mut bytes);
            match self.spill.keep(self.me, 1, bytes) {
                Ok(seg) => frontier.push(seg),
                Err(e) => return storage_failure(e),
            }
        } else {
            (out.states, out.unique) = (0, 0);
        }
        let mut cut = Cut::default();
        // Every invariant found violated by any shard, with the id of the
        // state when this process holds the counterexample.
        let mut found: Vec<(usize, Option<u64>)> = Vec::new();
        let mut depth = 0usize;
        self.live.unique.store(self.seen.len(), Relaxed);
        loop {
            let expanded: usize = frontier.iter().map(|s: &Segment| s.states).sum();
            if expanded > 0 {
                out.max_depth = depth;
            }
            self.live.depth.store(depth, Relaxed);
            self.live.fresh.store(0, Relaxed);
            let expand = self.limits.max_depth.is_none_or(|d| depth < d);
            self.spill.level(depth + 1);
            let written = (self.spill.written.load(Relaxed), self.spill.cands.written.load(Relaxed));
            let units = self.expand(&frontier, expand, depth);
            if self.exchange.is_some() {
                // Sharded, the candidates carry their records: the
                // expanded frontier is not needed again.
                frontier.drain(..).for_each(|f| self.spill.release(f));
            }
            // Per frontier segment (one group when sharded, after the
            // merge), its candidates.
            let mut groups: Vec<Vec<Batch>> = Vec::with_capacity(units.len());
            let mut own = Vec::new();
            let mut outboxes: Vec<Vec<Cands>> = Vec::new();
            // This level's first violation of each invariant not found before.
            let mut new: Vec<(usize, u64, Vec<u8>)> = Vec::new();
            for u in units {
                let Unit { batches, outbox, violations, generated, cut_off, timed_out, out_of_memory, io } = u;
                out.states += generated;
                cut.depth_bounded |= cut_off;
                cut.timed_out |= timed_out;
                cut.out_of_memory |= out_of_memory;
                if cut.io.is_none() {
                    cut.io = io;
                }
                for (inv, id, key) in violations {
                    if !found.iter().any(|(i, _)| *i == inv) && !new.iter().any(|(i, _, _)| *i == inv) {
                        new.push((inv, id, key));
                    }
                }
                if self.exchange.is_some() {
                    own.extend(batches);
                } else {
                    groups.push(batches);
                }
                if outboxes.is_empty() {
                    outboxes = outbox;
                } else {
                    for (to, c) in outboxes.iter_mut().zip(outbox) {
                        to.extend(c);
                    }
                }
            }
            cut.out_of_memory |= self.limits.max_rss_kib.is_some_and(|m| rss_kib() > m);
            // The other shards' candidates for this process, their new
            // violations, and whether any shard hit a limit.
            let mut peers_stop = None;
            let mut all_idle = expanded == 0;
            let mut theirs: Vec<(usize, Vec<u8>)> = Vec::new();
            if let Some(x) = &self.exchange {
                let marker = Marker {
                    expanded: expanded as u64,
                    stop: stop_reason(&cut),
                    new: new.iter().map(|(i, _, k)| (*i, k.clone())).collect(),
                };
                let exchanged = x
                    .send(depth, &outboxes)
                    .and_then(|()| x.barrier(depth, &marker, &self.links, self.limits.deadline()))
                    .and_then(|markers| Ok((markers, x.receive(depth, &self.spill)?)));
                match exchanged {
                    Ok((markers, inbound)) => {
                        all_idle = markers.iter().all(|m| m.expanded == 0);
                        peers_stop = markers.iter().find_map(|m| m.stop);
                        theirs = markers.into_iter().flat_map(|m| m.new).collect();
                        let mut streams = inbound;
                        streams[self.me as usize] = own;
                        match shard::merge_by_key(streams, 2 * (depth + 1), &self.spill) {
                            Ok(merged) => groups = vec![merged],
                            Err(e) => {
                                cut.io.get_or_insert(e);
                            }
                        }
                    }
                    Err(e) => {
                        cut.io.get_or_insert(e);
                    }
                }
            }
            // Of the states violating an invariant for the first time at
            // this depth, the first in BFS order (the smallest order key
            // over all shards) gives the counterexample.
            for (inv, id, key) in new {
                let first = theirs.iter().filter(|(i, _)| *i == inv).all(|(_, k)| *k >= key);
                found.push((inv, first.then_some(id)));
            }
            for (inv, _) in theirs {
                if !found.iter().any(|(i, _)| *i == inv) {
                    found.push((inv, None));
                }
            }
            let candidates: usize = groups.iter().flatten().map(Batch::len).sum();
            // A segment whose candidates all kept their records is not
            // needed again.
            let parents: Vec<Option<Segment>> = if self.exchange.is_some() {
                Vec::new()
            } else {
                let groups = groups.iter();
                frontier.drain(..).zip(groups).map(|(f, g)| self.parent_needed(f, g)).collect()
            };
            let before = self.seen.len();
            let next = self.insert_and_number(&parents, &mut groups);
            parents.into_iter().flatten().for_each(|f| self.spill.release(f));
            match next {
                Ok(next) => frontier = next,
                Err(e) => {
                    cut.io.get_or_insert(e);
                }
            }
            self.log_level(depth, candidates, self.seen.len() - before, written);
            out.unique = self.seen.len();
            self.live.unique.store(out.unique, Relaxed);
            let all_found = self.ex.invariants.iter().all(|i| found.iter().any(|(f, _)| f == i));
            let stop_here = cut.timed_out
                || cut.out_of_memory
                || cut.io.is_some()
                || peers_stop.is_some()
                || (!found.is_empty() && (!self.limits.keep_going || all_found));
            let finished = if self.exchange.is_some() { all_idle || !expand } else { frontier.is_empty() };
            if stop_here || finished {
                if let Some(p) = peers_stop {
                    apply_peer_stop(&mut cut, p);
                }
                break;
            }
            depth += 1;
        }
        for f in frontier {
            self.spill.release(f);
        }
        self.finish(out, found, cut)
    }

    /// Phase 1: expands the frontier's segments on every thread.
    fn expand(&self, frontier: &[Segment], expand: bool, depth: usize) -> Vec<Unit> {
        let stop = AtomicBool::new(false);
        let ctx = expand::Ctx {
            ex: self.ex,
            limits: self.limits,
            live: self.live,
            seen: &self.seen,
            spill: &self.spill,
            exchange: self.exchange.as_ref(),
            me: self.me,
            expand,
            key_len: if self.exchange.is_some() { 2 * depth } else { 0 },
            stop: &stop,
        };
        // One segment per task; `collect` keeps the frontier order.
        frontier.par_iter().with_max_len(1).map_init(expand::Worker::default, |w, seg| w.unit(&ctx, seg)).collect()
    }

    /// Phases 2 and 3: inserts the candidates into the seen set (each
    /// thread its own tables, every thread all candidates in order), then
    /// numbers the winners in order, writes their parent links and gives
    /// the next frontier: unsharded, `groups[i]` holds the candidates of
    /// the expanded frontier's segment i, kept in `parents[i]` when some
    /// of them dropped their records (their winners' are regenerated from
    /// it); sharded, one group whose candidates carry their records.
    fn insert_and_number(
        &mut self,
        parents: &[Option<Segment>],
        groups: &mut [Vec<Batch>],
    ) -> std::io::Result<Vec<Segment>> {
        let threads = self.threads;
        let all = &*groups;
        self.seen.groups(threads).into_par_iter().enumerate().try_for_each(|(g, mut tables)| {
            let mut s = Scratch::default();
            for b in all.iter().flatten() {
                for (k, &fp) in b.fps(&mut s)?.iter().enumerate() {
                    let shard = FpSet::shard(fp);
                    if shard % threads == g && tables[shard / threads].insert(fp) {
                        b.win(k);
                    }
                }
            }
            Ok::<(), std::io::Error>(())
        })?;
        let wins = |b: &Batch| b.wins();
        let (spill, links, ex) = (&self.spill, &self.links, self.ex);
        if self.exchange.is_none() {
            let mut firsts = Vec::with_capacity(groups.len());
            for g in groups.iter() {
                firsts.push(self.next_index);
                self.next_index += g.iter().map(wins).sum::<u64>();
            }
            let next: Vec<Vec<Segment>> = parents
                .par_iter()
                .zip(groups)
                .zip(firsts)
                .with_max_len(1)
                .map_init(Vec::new, |buf, ((parent, batches), first)| {
                    let (segs, recs) = regen::number(ex, parent.as_ref(), batches, first, spill, buf)?;
                    links.write(first, &recs)?;
                    Ok(segs)
                })
                .collect::<std::io::Result<_>>()?;
            links.seal()?;
            return Ok(next.into_iter().flatten().collect());
        }
        let mut firsts = Vec::new();
        for b in groups.iter().flatten() {
            firsts.push(self.next_index * self.shards + self.me);
            self.next_index += wins(b);
        }
        let batches: Vec<&mut Batch> = groups.iter_mut().flatten().collect();
        batches
            .into_par_iter()
            .zip(firsts)
            .map(|(b, first)| {
                let won = b.won();
                let seg =
                    b.seg.as_mut().ok_or_else(|| std::io::Error::other("a sharded candidate batch without records"))?;
                seg.decide(first, &won, spill);
                let mut s = Scratch::default();
                let recs: Vec<u64> = b.links(&mut s)?.iter().zip(&won).filter(|(_, w)| **w).map(|(l, _)| *l).collect();
                links.write(first, &recs)
            })
            .collect::<std::io::Result<()>>()?;
        links.seal()?;
        Ok(groups.iter_mut().flatten().filter_map(|b| b.seg.take().filter(|s| s.states > 0)).collect())
    }

    /// `f` if its candidates `g` need it again (some dropped their
    /// records, to be regenerated from it), else `None`, its share
    /// returned.
    fn parent_needed(&self, f: Segment, g: &[Batch]) -> Option<Segment> {
        if g.iter().all(|b| b.seg.is_some()) {
            self.spill.release(f);
            return None;
        }
        Some(f)
    }

    /// Logs a finished level: its candidates, new states and what its
    /// frontier and candidate arrays took (`written`: the bytes of records
    /// and of arrays written before it).
    fn log_level(&self, depth: usize, candidates: usize, new: usize, written: (u64, u64)) {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let line = format!(
            "level {depth}: {candidates} candidates ({:.1} MiB of their fingerprints and links spilled), {new} new states; frontier of depth {}: {:.1} MiB in memory, {:.1} MiB on disk ({:.1} MiB written by this level)",
            mib(self.spill.cands.written.load(Relaxed) - written.1),
            depth + 1,
            mib(self.spill.in_memory() as u64),
            mib(self.spill.on_disk()),
            mib(self.spill.written.load(Relaxed) - written.0),
        );
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    /// The outcome: why the search stopped, and a trace per violation.
    fn finish(&mut self, mut out: Outcome, found: Vec<(usize, Option<u64>)>, mut cut: Cut) -> Outcome {
        for &(inv, id) in &found {
            let Some(id) = id else { continue };
            match self.links.trace(self.ex, id) {
                Ok(trace) => out.found.push(Found { invariant: inv, trace, unshrunk: None }),
                Err(e) => {
                    cut.io.get_or_insert(e);
                }
            }
        }
        let ex = self.ex;
        out.found.sort_by_key(|f| ex.invariants.iter().position(|&i| i == f.invariant));
        let limits = self.limits;
        let all_found = ex.invariants.iter().all(|i| found.iter().any(|(f, _)| f == i));
        out.stop = if let Some(e) = &cut.io {
            eprintln!("rmapcheck: bfs storage: {e}");
            Stop::Storage(e.kind())
        } else if !found.is_empty() && !limits.keep_going {
            Stop::FirstViolation
        } else if limits.keep_going && all_found {
            Stop::AllViolated
        } else if cut.out_of_memory {
            Stop::MemoryBudget(limits.max_rss_kib.unwrap_or(0) / 1024)
        } else if cut.timed_out {
            Stop::TimeLimit(limits.time_limit.unwrap_or_default())
        } else if cut.depth_bounded {
            Stop::DepthBound(limits.max_depth.unwrap_or(0))
        } else {
            Stop::Exhausted
        };
        out.storage = Some(Storage {
            seen_bytes: self.seen.bytes() as u64,
            frontier_peak_memory: self.spill.peak_mem.load(Relaxed) as u64,
            frontier_peak_disk: self.spill.peak_disk.load(Relaxed),
            links_bytes: self.links.bytes(),
            candidates_written: self.spill.cands.written.load(Relaxed),
        });
        out
    }
}

/// What makes every process stop after this level, as a marker says it.
fn stop_reason(cut: &Cut) -> Option<shard::PeerStop> {
    if cut.io.is_some() {
        Some(shard::PeerStop::Storage)
    } else if cut.out_of_memory {
        Some(shard::PeerStop::Memory)
    } else if cut.timed_out {
        Some(shard::PeerStop::Time)
    } else {
        None
    }
}

/// A peer's reason to stop as this process's own.
fn apply_peer_stop(cut: &mut Cut, p: shard::PeerStop) {
    match p {
        shard::PeerStop::Time => cut.timed_out = true,
        shard::PeerStop::Memory => cut.out_of_memory = true,
        shard::PeerStop::Storage => {
            cut.io.get_or_insert_with(|| std::io::Error::other("another shard stopped on a storage error"));
        }
    }
}

/// What must be equal in every shard of one run: the model, the invariants
/// and the bounds.
fn identity(ex: &Explorer, limits: &Limits) -> String {
    let cfg = serde_json::to_string(&ex.cfg).unwrap_or_default();
    format!(
        "model {cfg}\ninvariants {:?}\nmax_depth {:?}\ncontinue {}\nrmapcheck {}\n",
        ex.invariants,
        limits.max_depth,
        limits.keep_going,
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmapcheck_model::Config;
    use std::os::unix::fs::FileExt;

    /// A level whose candidate arrays all spilled (an allowance of 0),
    /// with one byte of its candidate file changed between the expansion
    /// and the insertion: the insertion is an `InvalidData` error naming
    /// the file (which the search turns into one line and exit 2), never
    /// a winner decided from a wrong fingerprint. (A few milliseconds.)
    #[test]
    fn a_changed_candidate_file_stops_the_insertion() {
        let ex = Explorer::new(Config::default(), &[]);
        let limits = Limits {
            threads: 2,
            max_depth: None,
            time_limit: None,
            start: Instant::now(),
            max_rss_kib: None,
            seed: 0,
            width: 2,
            keep_going: false,
            frontier_kib: None,
            candidates_kib: Some(0),
            shard: None,
        };
        let (live, log) = (Live::default(), Mutex::new(Vec::new()));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            let mut s = Search::new(&ex, &limits, &live, &log).unwrap();
            let init = ex.init();
            s.seen.insert(fingerprint(&init));
            let mut bytes = Vec::new();
            frontier::encode(&init, &[], &mut bytes);
            let root = s.spill.keep(0, 1, bytes).unwrap();
            s.next_index = 1;
            s.spill.level(1);
            let mut groups: Vec<Vec<Batch>> = s.expand(&[root], true, 0).into_iter().map(|u| u.batches).collect();
            let n: usize = groups.iter().flatten().map(Batch::len).sum();
            assert!(n > 1, "{n} candidates");
            let path = s._work.0.join("cands-1.bin");
            let file = std::fs::File::options().read(true).write(true).open(&path).unwrap();
            assert_eq!(file.metadata().unwrap().len(), 16 * n as u64, "every candidate's arrays spilled");
            let mut byte = [0u8];
            file.read_exact_at(&mut byte, 8).unwrap(); // the second fingerprint
            file.write_all_at(&[byte[0] ^ 1], 8).unwrap();
            let Err(e) = s.insert_and_number(&[None], &mut groups) else { panic!("a changed fingerprint was read") };
            let msg = e.to_string();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{msg}");
            assert!(
                msg.contains(&path.display().to_string()) && msg.contains("is corrupt") && !msg.contains('\n'),
                "{msg}"
            );
            assert_eq!(s.seen.len(), 1, "a fingerprint of the changed batch was inserted");
        });
    }
}
