//! The seen set: 64-bit state fingerprints in open-addressing tables, one
//! `u64` per slot and nothing else (TLC's `FPSet`, SPIN's hash compaction).
//!
//! The set is cut into [`SHARDS`] tables by the fingerprint's top bits so
//! that the insertion phase of a level runs on every thread, each thread
//! owning a disjoint group of tables (no locks, no atomics). During the
//! expansion phase every thread only reads it.
//!
//! Memory: a table grows by half when it is three quarters full, so its
//! load stays between 1/2 and 3/4 once past its first size: at most 16
//! bytes per fingerprint including the empty slots, 10.7 on average.

/// Tables in the set (a power of two; the top bits pick the table).
pub const SHARDS: usize = 64;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();
/// Slots of a table before its first growth.
const INITIAL: usize = 1 << 12;

/// The slot value that marks an empty slot; no fingerprint is zero.
pub const EMPTY: u64 = 0;

/// A set of nonzero 64-bit fingerprints.
pub struct FpSet {
    tables: Vec<Table>,
}

/// One shard: linear probing over `slots`, indexed by the fingerprint's
/// bits below the shard bits, scaled to the table size (no power-of-two
/// size needed, so the table can grow by half instead of doubling).
pub struct Table {
    slots: Vec<u64>,
    len: usize,
}

impl Default for FpSet {
    fn default() -> Self {
        FpSet { tables: (0..SHARDS).map(|_| Table::new(INITIAL)).collect() }
    }
}

impl FpSet {
    /// The shard a fingerprint belongs to.
    pub fn shard(fp: u64) -> usize {
        (fp >> (64 - SHARD_BITS)) as usize
    }

    /// Whether `fp` is in the set.
    pub fn contains(&self, fp: u64) -> bool {
        self.tables[Self::shard(fp)].contains(fp)
    }

    /// Starts loading the cache line of `fp`'s home slot, so that a
    /// [`FpSet::contains`] a little later finds it in the cache: the tables
    /// are tens of MiB, so a lookup is otherwise a cache and TLB miss.
    #[inline(always)]
    pub fn prefetch(&self, fp: u64) {
        let t = &self.tables[Self::shard(fp)];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is only a hint: it never faults nor changes
        // memory, and the address is inside the table (`home` < len).
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(t.slots.as_ptr().add(t.home(fp)).cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = t;
    }

    /// Inserts `fp` (single-threaded use); whether it was new.
    pub fn insert(&mut self, fp: u64) -> bool {
        self.tables[Self::shard(fp)].insert(fp)
    }

    /// Fingerprints stored.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|t| t.len).sum()
    }

    /// Bytes the tables occupy, empty slots included.
    pub fn bytes(&self) -> usize {
        self.tables.iter().map(|t| t.slots.len() * 8).sum()
    }

    /// The tables split into `groups` disjoint groups (table `i` goes to
    /// group `i % groups`), for one inserting thread each.
    pub fn groups(&mut self, groups: usize) -> Vec<Vec<&mut Table>> {
        let mut out: Vec<Vec<&mut Table>> = (0..groups).map(|_| Vec::new()).collect();
        for (i, t) in self.tables.iter_mut().enumerate() {
            out[i % groups].push(t);
        }
        out
    }
}

impl Table {
    fn new(cap: usize) -> Table {
        Table { slots: vec![EMPTY; cap], len: 0 }
    }

    /// The home slot of `fp`: the bits below the shard bits, scaled to the
    /// table's size (multiply-shift instead of a modulo).
    fn home(&self, fp: u64) -> usize {
        (((fp << SHARD_BITS) as u128 * self.slots.len() as u128) >> 64) as usize
    }

    fn contains(&self, fp: u64) -> bool {
        let mut i = self.home(fp);
        loop {
            match self.slots[i] {
                EMPTY => return false,
                f if f == fp => return true,
                _ => i = if i + 1 == self.slots.len() { 0 } else { i + 1 },
            }
        }
    }

    /// Inserts `fp`; whether it was new.
    pub fn insert(&mut self, fp: u64) -> bool {
        debug_assert_ne!(fp, EMPTY);
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mut i = self.home(fp);
        loop {
            match self.slots[i] {
                EMPTY => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return true;
                }
                f if f == fp => return false,
                _ => i = if i + 1 == self.slots.len() { 0 } else { i + 1 },
            }
        }
    }

    /// Grows by half and reinserts.
    fn grow(&mut self) {
        let bigger = vec![EMPTY; self.slots.len() / 2 * 3];
        let old = std::mem::replace(&mut self.slots, bigger);
        for fp in old.into_iter().filter(|&f| f != EMPTY) {
            let mut i = self.home(fp);
            while self.slots[i] != EMPTY {
                i = if i + 1 == self.slots.len() { 0 } else { i + 1 };
            }
            self.slots[i] = fp;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: distinct, well-spread test fingerprints.
    fn fps(n: u64) -> impl Iterator<Item = u64> {
        (1..=n).map(|i| {
            let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) | 1
        })
    }

    #[test]
    fn inserts_once_finds_all_and_stays_within_16_bytes_per_fingerprint() {
        let mut s = FpSet::default();
        let n = 1_000_000;
        assert!(fps(n).all(|f| s.insert(f)));
        assert!(fps(n).all(|f| !s.insert(f)));
        assert!(fps(n).all(|f| s.contains(f)));
        assert!(!s.contains(2) && !s.contains(u64::MAX - 1));
        assert_eq!(s.len(), n as usize);
        let per = s.bytes() as f64 / n as f64;
        assert!((8.0..=16.0).contains(&per), "{per} bytes per fingerprint");
    }

    #[test]
    fn groups_insert_in_parallel_into_disjoint_tables() {
        let mut s = FpSet::default();
        let all: Vec<u64> = fps(100_000).collect();
        std::thread::scope(|sc| {
            for (g, mut tables) in s.groups(3).into_iter().enumerate() {
                let all = &all;
                sc.spawn(move || {
                    for &f in all {
                        let shard = FpSet::shard(f);
                        if shard % 3 == g {
                            assert!(tables[shard / 3].insert(f));
                        }
                    }
                });
            }
        });
        assert_eq!(s.len(), all.len());
        assert!(all.iter().all(|&f| s.contains(f)));
    }
}
