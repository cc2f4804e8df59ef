//! Canonical ids and process symmetry.

use rmapcheck_model::canon::{normalize, representative};
use rmapcheck_model::{Ids, Kernel, State};
use rmapcheck_tests::{cfg, exec};
use std::hash::{DefaultHasher, Hash, Hasher};

fn h(s: &State) -> u64 {
    let mut x = DefaultHasher::new();
    s.hash(&mut x);
    x.finish()
}

#[test]
fn states_that_differ_only_in_ids_become_equal() {
    let c = cfg(Kernel::V6_18, 2);
    // Same final shape, objects allocated in a different order.
    let mut a = exec(&c, "P0 mmap 0 1 rw\nP0 mmap 1 1 r\nP0 write 0 1\nP0 munmap 0 1\nP0 mmap 0 1 rw\nP0 write 0 1");
    let mut b = exec(&c, "P0 mmap 0 1 rw\nP0 mmap 1 1 r\nP0 write 0 1");
    assert_ne!(a, b, "stable ids keep the freed anon_vma and folio as tombstones");
    normalize(&mut a, Ids::Canonical);
    normalize(&mut b, Ids::Canonical);
    assert_eq!(a, b);
}

#[test]
fn compact_ids_drop_tombstones_but_keep_allocation_order() {
    let c = cfg(Kernel::V6_18, 2);
    let mut s = exec(&c, "P0 mmap 0 2 rw\nP0 write 1 1\nP0 write 0 1\nP0 munmap 1 1");
    normalize(&mut s, Ids::Compact);
    assert_eq!(s.folios.len(), 1);
    assert_eq!(s.anon_vmas.len(), 1);
}

#[test]
fn symmetric_states_hash_alike_only_with_symmetry_on() {
    let c = cfg(Kernel::V6_18, 1);
    let base = "P0 mmap 0 1 rw\nP0 fork\nP0 fork\n";
    let mut a = exec(&c, &format!("{base}P1 write 0 1"));
    let mut b = exec(&c, &format!("{base}P2 write 0 1"));
    normalize(&mut a, Ids::Canonical);
    normalize(&mut b, Ids::Canonical);
    assert_ne!(a, b);
    assert_ne!(h(&a), h(&b));
    a.symmetry = true;
    b.symmetry = true;
    assert_eq!(h(&a), h(&b));
    assert_eq!(representative(&a), representative(&b));
}
