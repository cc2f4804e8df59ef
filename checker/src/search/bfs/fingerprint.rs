//! State fingerprints: what the seen set stores and the shards are
//! assigned by.

use super::frontier::encode_body;
use rmapcheck_model::canon::folded;
use rmapcheck_model::State;

/// A state's 64-bit fingerprint: XXH3-64 (specified and stable: every
/// shard of a run, on any machine, computes the same fingerprint) of its
/// frontier encoding (`rmapcheck_model::encode`, every field: one byte string per state,
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

#[cfg(test)]
mod tests {
    use super::super::frontier::tests::encoding_configs;
    use crate::explore::Explorer;
    use rmapcheck_model::Config;
    use std::collections::HashMap;

    /// The hand-written encoding the fingerprint hashes
    /// (`rmapcheck_model::encode`) tells states apart exactly as serde's
    /// walk over every field does (postcard inside `with_every_field`):
    /// over every state within 5 actions (breadth first, each distinct state
    /// expanded once) under every action kind, order 0 with stable and
    /// canonical ids, and within 4 actions with 16 kB large folios, two
    /// states have equal encodings exactly when they have equal serde
    /// bytes. (About a second in a debug build.)
    #[test]
    fn the_encoding_tells_states_apart_as_a_walk_over_every_field_does() {
        for (cfg, depth) in encoding_configs().into_iter().zip([5, 5, 4]) {
            let ex = Explorer::new(Config { symmetry: false, ..cfg }, &[]);
            let (mut by_ours, mut by_serde) = (HashMap::new(), HashMap::new());
            let (mut level, mut actions) = (vec![ex.init()], Vec::new());
            for _ in 0..depth {
                let mut next = Vec::new();
                for s in &level {
                    let mut ours = Vec::new();
                    rmapcheck_model::encode::encode(s, &mut ours);
                    let serde = rmapcheck_model::state::with_every_field(|| postcard::to_allocvec(s)).unwrap();
                    assert_eq!(by_ours.entry(ours.clone()).or_insert_with(|| serde.clone()), &serde, "{s:?}");
                    let new = !by_serde.contains_key(&serde);
                    assert_eq!(by_serde.entry(serde).or_insert_with(|| ours.clone()), &ours, "{s:?}");
                    if !new {
                        continue;
                    }
                    actions.clear();
                    ex.actions(s, &mut actions);
                    next.extend(actions.iter().filter_map(|&a| ex.step(s, a).map(|(n, _)| n)));
                }
                level = next;
            }
            assert!(by_ours.len() > 1000, "only {} distinct states", by_ours.len());
        }
    }
}
