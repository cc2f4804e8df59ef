//! Phase 1 of a level: one thread expands one frontier segment at a time.
//! Each state is decoded, checked, and its successors are fingerprinted;
//! a successor owned by this process and not in the seen set (read only
//! during this phase), nor already a candidate of this segment, becomes a
//! candidate: fingerprint, parent link, encoded state (unsharded, a batch
//! of candidates whose states do not fit the frontier's memory budget
//! drops them: its new states are regenerated from their parents after the
//! insertion, `regen.rs`, so only new states reach the disk). Successors
//! another shard owns go to that shard's outbox unchecked, with their
//! encoded state (only the owner knows whether they are new, and it does
//! not hold their parent).

use super::cands::{Batch, Cands};
use super::fingerprint::fingerprint_into;
use super::fpset::FpSet;
use super::frontier::{corrupt_record, decode, encode, push_record, Segment, Spill, SEGMENT};
use super::links::link;
use super::shard::Exchange;
use crate::explore::Explorer;
use crate::report::rss_kib;
use crate::strategy::Limits;
use rmapcheck_model::{Action, State};
use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// What every worker of a level shares.
pub struct Ctx<'a> {
    pub ex: &'a Explorer,
    pub limits: &'a Limits,
    pub live: &'a Live,
    pub seen: &'a FpSet,
    pub spill: &'a Spill,
    pub exchange: Option<&'a Exchange>,
    /// This process's shard.
    pub me: u64,
    /// Whether states of this level are expanded (false at the depth bound).
    pub expand: bool,
    /// Bytes of order key before each record's state (sharded runs: two
    /// per action from the initial state; 0 otherwise).
    pub key_len: usize,
    /// Set by the first worker that hits the time limit or memory budget.
    pub stop: &'a AtomicBool,
}

/// Counters the level workers bump and the progress reporter reads.
#[derive(Default)]
pub struct Live {
    pub generated: AtomicUsize,
    /// Distinct states as of the last completed level.
    pub unique: AtomicUsize,
    /// New states found so far in this level, before deduplication
    /// across segments.
    pub fresh: AtomicUsize,
    pub depth: AtomicUsize,
    pub done: AtomicBool,
}

/// What expanding one segment gave.
#[derive(Default)]
pub struct Unit {
    pub batches: Vec<Batch>,
    /// Per shard, the candidates it owns (empty unless sharded).
    pub outbox: Vec<Vec<Cands>>,
    /// The first state of the segment violating each invariant: its id
    /// and its order key (empty unless sharded).
    pub violations: Vec<(usize, u64, Vec<u8>)>,
    /// Successors generated, repeats included.
    pub generated: usize,
    /// A state at the depth bound had actions left.
    pub cut_off: bool,
    pub timed_out: bool,
    pub out_of_memory: bool,
    pub io: Option<std::io::Error>,
}

/// A fingerprint is already a hash: use it as is.
#[derive(Default)]
struct Identity(u64);
impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A worker's scratch space, reused across segments.
#[derive(Default)]
pub struct Worker {
    local: HashSet<u64, BuildHasherDefault<Identity>>,
    actions: Vec<Action>,
    buf: Vec<u8>,
    key: Vec<u8>,
    /// The successors of the state being expanded, and the encodings
    /// their fingerprints hashed.
    succ: Vec<Succ>,
    bodies: Vec<u8>,
}

/// A successor stepped and fingerprinted, not yet looked up.
struct Succ {
    /// Its action's index among the parent's enabled actions.
    k: usize,
    fp: u64,
    /// Its encoding: `bodies[at..end]`.
    at: usize,
    end: usize,
    /// The state itself when that encoding is its representative's (the
    /// frontier keeps the state, so it is encoded again if new).
    other: Option<State>,
}

impl Worker {
    /// Expands `seg`.
    pub fn unit(&mut self, cx: &Ctx, seg: &Segment) -> Unit {
        let shards = cx.exchange.map_or(1, |x| x.shards());
        let mut u =
            Unit { outbox: (0..if shards > 1 { shards } else { 0 }).map(|_| Vec::new()).collect(), ..Unit::default() };
        let mut own = Cands::default();
        let mut out: Vec<Cands> = (0..u.outbox.len()).map(|_| Cands::default()).collect();
        self.local.clear();
        let mut n = 0usize;
        let symmetry = cx.ex.cfg.symmetry;
        let (local, actions, key_buf) = (&mut self.local, &mut self.actions, &mut self.key);
        let (succ, bodies) = (&mut self.succ, &mut self.bodies);
        let read = seg.for_each(&mut self.buf, shards as u64, |id, rec| {
            if n.is_multiple_of(1024) {
                u.timed_out = cx.limits.past_deadline();
                u.out_of_memory = cx.limits.max_rss_kib.is_some_and(|m| rss_kib() > m);
                if u.timed_out || u.out_of_memory {
                    cx.stop.store(true, Relaxed);
                }
                if cx.stop.load(Relaxed) {
                    return false;
                }
            }
            n += 1;
            let (key, rec) = rec.split_at(cx.key_len);
            let Some(s) = decode(rec, symmetry) else {
                u.io.get_or_insert(corrupt_record(id));
                cx.stop.store(true, Relaxed);
                return false;
            };
            for i in cx.ex.violations(&s) {
                if !u.violations.iter().any(|(v, _, _)| *v == i) {
                    u.violations.push((i, id, key.to_vec()));
                }
            }
            actions.clear();
            cx.ex.actions(&s, actions);
            if !cx.expand {
                u.cut_off |= !actions.is_empty();
                return true;
            }
            // Every successor is stepped and fingerprinted before any is
            // looked up, its seen-set slot prefetched meanwhile: the lookups
            // then find their slots in the cache instead of waiting on
            // memory one at a time (docs/speed.md).
            succ.clear();
            bodies.clear();
            for (k, &a) in actions.iter().enumerate() {
                let Some((next, _)) = cx.ex.step(&s, a) else { continue };
                u.generated += 1;
                let at = bodies.len();
                let (fp, own_bytes) = fingerprint_into(&next, bodies);
                cx.seen.prefetch(fp);
                succ.push(Succ { k, fp, at, end: bodies.len(), other: (!own_bytes).then_some(next) });
            }
            for Succ { k, fp, at, end, other } in succ.drain(..) {
                let to = cx.exchange.map_or(cx.me, |x| x.owner(fp) as u64);
                if (to == cx.me && cx.seen.contains(fp)) || !local.insert(fp) {
                    continue;
                }
                let c = if to == cx.me { &mut own } else { &mut out[to as usize] };
                c.fps.push(fp);
                c.links.push(link(id, k));
                key_buf.clear();
                if cx.exchange.is_some() {
                    key_buf.extend_from_slice(key);
                    key_buf.extend_from_slice(&(k as u16).to_be_bytes());
                }
                match &other {
                    None => push_record(key_buf, &bodies[at..end], &mut c.bytes),
                    Some(next) => encode(next, key_buf, &mut c.bytes),
                }
                if c.fps.len() == SEGMENT {
                    let full = std::mem::take(c);
                    if to == cx.me {
                        match Batch::keep(full, cx.spill, cx.exchange.is_none()) {
                            Ok(b) => u.batches.push(b),
                            Err(e) => {
                                u.io.get_or_insert(e);
                                cx.stop.store(true, Relaxed);
                                return false;
                            }
                        }
                    } else {
                        u.outbox[to as usize].push(full);
                    }
                }
            }
            cx.live.generated.fetch_add(actions.len(), Relaxed);
            true
        });
        if let Err(e) = read {
            u.io.get_or_insert(e);
            cx.stop.store(true, Relaxed);
        }
        cx.live.fresh.fetch_add(local.len(), Relaxed);
        if !own.fps.is_empty() {
            match Batch::keep(own, cx.spill, cx.exchange.is_none()) {
                Ok(b) => u.batches.push(b),
                Err(e) => {
                    u.io.get_or_insert(e);
                }
            }
        }
        for (to, c) in out.into_iter().enumerate() {
            if !c.fps.is_empty() {
                u.outbox[to].push(c);
            }
        }
        u
    }
}
