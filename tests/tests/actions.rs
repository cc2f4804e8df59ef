//! Each action against outcomes worked out by hand from the kernel source.

use rmapcheck_model::{Kernel, Mapping, OopsKind, Pte};
use rmapcheck_tests::{apply, av_of, cfg, exec};

const V6: Kernel = Kernel::V6_18;
const V5: Kernel = Kernel::V5_19;

#[test]
fn mmap_creates_an_unfaulted_vma_with_pgoff_at_its_address() {
    let s = exec(&cfg(V6, 4), "P0 mmap 1 2 rw");
    let v = &s.mms[0].vmas[0];
    assert_eq!((v.start, v.end, v.pgoff, v.write), (1, 3, 1, true));
    assert_eq!(v.anon_vma, None);
    assert!(v.chain.is_empty());
    assert!(s.anon_vmas.is_empty());
}

#[test]
fn mmap_refuses_overlap_and_leaves_the_window() {
    let c = cfg(V6, 4);
    let s = exec(&c, "P0 mmap 0 2 rw");
    assert!(apply(&c, &s, "P0 mmap 1 2 rw").unwrap_err().contains("EEXIST"));
    assert!(apply(&c, &s, "P0 mmap 3 2 rw").unwrap_err().contains("address window"));
}

#[test]
fn read_fault_maps_the_zero_page_without_an_anon_vma() {
    let s = exec(&cfg(V6, 2), "P0 mmap 0 2 rw\nP0 read 1");
    assert_eq!(s.mms[0].ptes[1], Pte::Zero);
    assert_eq!(s.mms[0].vmas[0].anon_vma, None);
    assert!(s.folios.is_empty());
}

#[test]
fn first_write_prepares_a_root_anon_vma_and_an_exclusive_folio() {
    let s = exec(&cfg(V6, 2), "P0 mmap 0 2 rw\nP0 write 1 7");
    let av = av_of(&s, 0, 0);
    let a = &s.anon_vmas[av as usize];
    // anon_vma_alloc() + "self-parent link for new root" + the VMA.
    assert_eq!((a.root, a.parent, a.refcount, a.num_children, a.num_active_vmas), (av, av, 1, 1, 1));
    assert_eq!(s.mms[0].vmas[0].chain.as_slice(), [av]);
    let f = &s.folios[0];
    assert_eq!(f.mapping, Mapping::Anon(av));
    assert_eq!((f.index, f.mapcount, f.refcount, f.data), (1, 1, 1, 7));
    assert!(f.swapbacked && f.anon_exclusive && !f.dirty);
    assert_eq!(s.mms[0].ptes[1], Pte::Present { folio: 0, sub: 0, writable: true, dirty: true });
}

#[test]
fn v5_19_new_root_has_degree_two() {
    let s = exec(&cfg(V5, 1), "P0 mmap 0 1 rw\nP0 write 0 1");
    // degree = 1 at allocation ("Reference for first vma") + 1 in __anon_vma_prepare.
    assert_eq!(s.anon_vmas[0].degree, 2);
    assert_eq!(s.anon_vmas[0].num_children, 0);
}

#[test]
fn first_fork_gives_the_child_a_new_anon_vma_under_the_parents() {
    let s = exec(&cfg(V6, 1), "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork");
    let (root, child) = (av_of(&s, 0, 0), av_of(&s, 1, 0));
    assert_ne!(root, child);
    let c = &s.anon_vmas[child as usize];
    assert_eq!((c.parent, c.root, c.refcount, c.num_active_vmas, c.num_children), (root, root, 1, 1, 0));
    let r = &s.anon_vmas[root as usize];
    // get_anon_vma(root) and parent->num_children++.
    assert_eq!((r.refcount, r.num_children, r.num_active_vmas), (2, 2, 1));
    assert_eq!(s.mms[1].vmas[0].chain.as_slice(), [child, root], "newest first");
    // copy_present_pte(): shared, read-only in both, no longer exclusive.
    let f = &s.folios[0];
    assert_eq!((f.mapcount, f.refcount, f.anon_exclusive), (2, 2, false));
    for pid in 0..2 {
        assert_eq!(s.mms[pid].ptes[0], Pte::Present { folio: 0, sub: 0, writable: false, dirty: true });
    }
    assert_eq!(f.mapping, Mapping::Anon(root), "the mapping is not touched by fork");
}

#[test]
fn fork_reuses_an_anon_vma_exactly_when_it_has_no_vma_and_one_child() {
    let c = cfg(V6, 1);
    // P1's anon_vma A has one child (P2's) and, once P1 exits, no VMA.
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP1 fork");
    let a = av_of(&s, 1, 0);
    let before = s.anon_vmas.len();
    // While P1 lives, num_active_vmas(A) = 1: P2's fork allocates.
    let t = apply(&c, &s, "P2 fork").unwrap();
    assert_eq!(t.anon_vmas.len(), before + 1);
    // After P1 exits, A is reused for P3 and nothing is allocated.
    let s = apply(&c, &s, "P1 exit").unwrap();
    let s = apply(&c, &s, "P2 fork").unwrap();
    assert_eq!(s.anon_vmas.len(), before);
    assert_eq!(av_of(&s, 3, 0), a);
    assert_eq!(s.anon_vmas[a as usize].num_active_vmas, 1);
    // The reused anon_vma is now in use: a sibling fork may not reuse it.
    let s = apply(&c, &s, "P2 fork").unwrap();
    assert_ne!(av_of(&s, 4, 0), a);
}

#[test]
fn v5_19_reuse_test_never_picks_src_anon_vma_but_picks_a_leaf() {
    let c = cfg(V5, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP1 fork\nP1 exit\nP2 fork");
    let (a, b) = (av_of(&s, 3, 0), av_of(&s, 2, 0));
    // P3 reuses P1's A (degree 1 < 2, A != src->anon_vma B), chain keeps the leaf B.
    assert_eq!(s.anon_vmas[b as usize].parent, a);
    assert!(s.mms[3].vmas[0].chain.contains(&b));
    assert_eq!(s.anon_vmas[a as usize].degree, 2, "B as child + P3's VMA");
}

#[test]
fn child_write_copies_and_parent_write_after_child_exit_reuses() {
    let c = cfg(V6, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP1 write 0 2");
    // wp_page_copy(): the child's new folio is exclusive on the child's own anon_vma.
    let Pte::Present { folio, sub: 0, writable: true, .. } = s.mms[1].ptes[0] else { panic!("child PTE") };
    assert_eq!(s.folios[folio as usize].mapping, Mapping::Anon(av_of(&s, 1, 0)));
    assert_eq!((s.folios[0].mapcount, s.folios[0].refcount), (1, 1));
    // The old folio is mapped once but not exclusive: the parent's write goes
    // through wp_can_reuse_anon_folio() and reuses it in place.
    assert!(!s.folios[0].anon_exclusive);
    let s = apply(&c, &s, "P0 write 0 3").unwrap();
    assert_eq!(s.mms[0].ptes[0], Pte::Present { folio: 0, sub: 0, writable: true, dirty: true });
    assert!(s.folios[0].anon_exclusive);
    assert_eq!(s.folios[0].data, 3);
}

#[test]
fn reuse_moves_the_mapping_to_the_writers_own_anon_vma() {
    let c = cfg(V6, 1);
    // The child writes after the parent exited: the folio (mapping = root) is
    // reused and folio_move_anon_rmap() points it at the child's anon_vma.
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP0 exit\nP1 write 0 2");
    assert_eq!(s.folios[0].mapping, Mapping::Anon(av_of(&s, 1, 0)));
    assert_eq!(s.folios.iter().filter(|f| !f.freed).count(), 1, "no copy");
}

#[test]
fn write_to_the_zero_page_copies_into_a_new_folio() {
    let s = exec(&cfg(V6, 1), "P0 mmap 0 1 rw\nP0 read 0\nP0 write 0 4");
    assert!(matches!(s.mms[0].ptes[0], Pte::Present { writable: true, .. }));
    assert_eq!(s.folios.len(), 1);
    assert_eq!(s.folios[0].data, 4);
}

#[test]
fn writes_to_read_only_or_unmapped_pages_are_refused() {
    let c = cfg(V6, 2);
    let s = exec(&c, "P0 mmap 0 1 r");
    assert!(apply(&c, &s, "P0 write 0 1").unwrap_err().contains("read-only"));
    assert!(apply(&c, &s, "P0 write 1 1").unwrap_err().contains("SIGSEGV"));
    assert!(apply(&c, &s, "P1 write 0 1").unwrap_err().contains("does not exist"));
}

#[test]
fn munmap_of_the_middle_splits_into_halves_sharing_anon_vma_and_chain() {
    let s = exec(&cfg(V6, 3), "P0 mmap 0 3 rw\nP0 write 0 1\nP0 write 2 2\nP0 munmap 1 1");
    let vmas = &s.mms[0].vmas;
    assert_eq!(vmas.len(), 2);
    assert_eq!((vmas[0].start, vmas[0].end, vmas[0].pgoff), (0, 1, 0));
    assert_eq!((vmas[1].start, vmas[1].end, vmas[1].pgoff), (2, 3, 2));
    assert_eq!(vmas[0].anon_vma, vmas[1].anon_vma);
    assert_eq!(vmas[0].chain, vmas[1].chain);
    let av = av_of(&s, 0, 0);
    // Two __split_vma() calls each cloned once; one of the three pieces went away.
    assert_eq!(s.anon_vmas[av as usize].num_active_vmas, 2);
    assert_eq!(s.mms[0].ghost.as_slice(), [Some(1), None, Some(2)]);
}

#[test]
fn munmap_frees_folios_then_the_anon_vma() {
    let s = exec(&cfg(V6, 2), "P0 mmap 0 2 rw\nP0 write 0 1\nP0 write 1 1\nP0 munmap 0 2");
    assert!(s.mms[0].vmas.is_empty());
    assert!(s.folios.iter().all(|f| f.freed));
    assert!(s.anon_vmas.iter().all(|a| a.freed && a.refcount == 0));
    assert_eq!(s.oops, None);
}

#[test]
fn exit_frees_the_root_last() {
    let c = cfg(V6, 1);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP0 exit");
    let root = s.anon_vmas.iter().position(|a| a.root as usize == 0).unwrap();
    // P0 gone, but P1's VMA is still in the root's tree (its chain is
    // [child, root]) and P1's anon_vma pins the root.
    let r = &s.anon_vmas[root];
    assert!(!r.freed);
    assert_eq!((r.refcount, r.num_children, r.num_active_vmas), (2, 2, 0));
    let s = apply(&c, &s, "P1 exit").unwrap();
    assert!(s.anon_vmas.iter().all(|a| a.freed));
    assert!(s.folios.iter().all(|f| f.freed));
}

#[test]
fn the_unfaulted_vmas_zero_pte_is_not_copied_at_fork() {
    let s = exec(&cfg(V6, 1), "P0 mmap 0 1 rw\nP0 read 0\nP0 fork");
    assert_eq!(s.mms[0].ptes[0], Pte::Zero);
    assert_eq!(s.mms[1].ptes[0], Pte::None, "vma_needs_copy() is false");
    let s = exec(&cfg(V6, 2), "P0 mmap 0 2 rw\nP0 write 0 1\nP0 read 1\nP0 fork");
    assert_eq!(s.mms[1].ptes[1], Pte::Zero, "copied in a faulted VMA");
}

#[test]
fn a_use_after_free_is_an_oops_not_a_crash() {
    use rmapcheck_model::{Config, Mutant};
    let c = Config { mutant: Some(Mutant::ForkSkipsRootRef), ..cfg(V6, 1) };
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP1 exit");
    assert!(s.anon_vmas[0].freed, "the root lost the reference the child never took");
    let s = apply(&c, &s, "P0 fork").unwrap();
    let oops = s.oops.clone().expect("oops");
    assert_eq!(oops.kind, OopsKind::UseAfterFree);
    assert!(oops.what.contains("anon_vma_clone"));
    assert!(apply(&c, &s, "P0 exit").is_err(), "nothing runs after an oops");
}
