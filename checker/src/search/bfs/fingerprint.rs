//! State fingerprints: what the seen set stores and the shards are
//! assigned by.

use super::frontier::encode_body;
use rmapcheck_model::canon::folded;
use rmapcheck_model::State;

/// A state's 64-bit fingerprint: XXH3-64 (specified and stable: every
/// shard of a run, on any machine, computes the same fingerprint) of its
/// frontier encoding (postcard, every field: one byte string per state,
/// since the encoding decodes back to the state), or of its
/// representative's when process symmetry folds it onto another
/// ([`folded`]). Never [`super::fpset::EMPTY`]: zero is mapped to one,
/// merging two of 2^64 values.
pub fn fingerprint(s: &State) -> u64 {
    thread_local!(static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) });
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        fingerprint_into(s, &mut b).0
    })
}

/// [`fingerprint`], with the encoding it hashed appended to `buf`; the
/// flag says whether that is `s`'s own encoding (what the frontier stores)
/// or its representative's. Hashing the encoding lets a new state's record
/// reuse the bytes: one walk over the state instead of two.
pub fn fingerprint_into(s: &State, buf: &mut Vec<u8>) -> (u64, bool) {
    let at = buf.len();
    let rep = folded(s);
    encode_body(rep.as_ref().unwrap_or(s), buf);
    (xxhash_rust::xxh3::xxh3_64(&buf[at..]).max(1), rep.is_none())
}
