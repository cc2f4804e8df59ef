//! State fingerprints: what the seen set stores and the shards are
//! assigned by.

use rmapcheck_model::State;
use std::hash::{Hash, Hasher};

/// A state's 64-bit fingerprint: the bytes the state's `Hash` feeds (with
/// integers written as LEB128, so the stream stays unambiguous and short),
/// hashed with XXH3-64 (specified and stable: every shard of a run, on
/// any machine, computes the same fingerprint). With process symmetry on,
/// [`State`]'s `Hash` folds symmetric states into one fingerprint. Never
/// [`super::fpset::EMPTY`]: zero is mapped to one, merging two of 2^64 values.
pub fn fingerprint(s: &State) -> u64 {
    thread_local!(static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) });
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        s.hash(&mut Collect(&mut b));
        xxhash_rust::xxh3::xxh3_64(&b).max(1)
    })
}

/// A `Hasher` that only collects the bytes it is fed.
struct Collect<'a>(&'a mut Vec<u8>);
impl Collect<'_> {
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push(n as u8 | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }
}
impl Hasher for Collect<'_> {
    fn finish(&self) -> u64 {
        unreachable!("fingerprint() hashes the collected bytes")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn write_u8(&mut self, n: u8) {
        self.0.push(n);
    }
    fn write_u16(&mut self, n: u16) {
        self.varint(n.into());
    }
    fn write_u32(&mut self, n: u32) {
        self.varint(n.into());
    }
    fn write_u64(&mut self, n: u64) {
        self.varint(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.varint(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.varint(n as u64);
    }
}
