//! UFFDIO_MOVE (model/src/userfaultfd.rs, docs/kernel/uffd-move.md): the
//! move keeps the rmap complete, the refusals change no page, and the
//! existing rmap invariants catch a move that skips folio_move_anon_rmap(),
//! the index update or the PageAnonExclusive check.

use rmapcheck::check::run_check;
use rmapcheck::settings::Settings;
use rmapcheck_model::{step, Action, Ctx, Kernel, Mapping, Pte};
use rmapcheck_tests::{cfg, exec};

/// The errno the model gives `action` after `script`.
fn errno(script: &str, action: &str) -> i32 {
    let c = cfg(Kernel::V6_18, 5);
    let s = exec(&c, script);
    let mut ctx = Ctx::new(&c, false);
    step(&s, Action::parse(action).unwrap(), &mut ctx).unwrap();
    ctx.errno
}

#[test]
fn a_moved_page_points_at_the_destination_anon_vma_and_index() {
    let c = cfg(Kernel::V6_18, 3);
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 mmap 2 1 rw\nP0 write 0 3\nP0 uffd_move 0 2");
    let mm = &s.mms[0];
    assert_eq!(mm.ptes[0], Pte::None);
    let Pte::Present { folio, writable: true, dirty: true, .. } = mm.ptes[2] else { panic!("{:?}", mm.ptes[2]) };
    let dst = &mm.vmas[mm.vma_index(2).unwrap()];
    let f = &s.folios[folio as usize];
    // The frame is the same one (no copy): F0, on the destination's own,
    // new anon_vma AV1, at the destination's linear index.
    assert_eq!((folio, f.mapping, f.index, f.mapcount, f.anon_exclusive), (0, Mapping::Anon(1), 2, 1, true));
    assert_eq!(dst.anon_vma, Some(1));
    assert_eq!(s.reads(0, 2), 3);
}

#[test]
fn refusals_give_the_kernels_errno() {
    let two = "P0 mmap 0 4 rw\nP0 mmap 4 1 r\nP0 write 0 1\nP0 write 1 2";
    assert_eq!(errno(two, "P0 uffd_move 0 1"), libc::EEXIST);
    assert_eq!(errno(two, "P0 uffd_move 2 3"), libc::ENOENT);
    assert_eq!(errno(two, "P0 uffd_move 0 4"), libc::EINVAL);
    assert_eq!(errno(two, "P0 uffd_move 0 3"), 0);
    let forked = "P0 mmap 0 1 rw\nP0 mmap 2 1 rw\nP0 write 0 1\nP0 fork";
    assert_eq!(errno(forked, "P0 uffd_move 0 2"), libc::EBUSY);
    assert_eq!(errno(&format!("{forked}\nP1 exit"), "P0 uffd_move 0 2"), libc::EBUSY);
    assert_eq!(errno(&format!("{forked}\nP1 exit\nP0 write 0 2"), "P0 uffd_move 0 2"), 0);
    let swapped = "P0 mmap 0 1 rw\nP0 mmap 2 1 rw\nP0 write 0 1\nP0 madv_pageout 0 1";
    assert_eq!(errno(swapped, "P0 uffd_move 0 2"), 0);
    assert_eq!(errno(&format!("{swapped}\nP0 fork"), "P0 uffd_move 0 2"), libc::EBUSY);
}

#[test]
fn uffd_move_is_not_in_the_default_vocabulary() {
    assert!(!rmapcheck_model::ActionSet::all().contains(rmapcheck_model::ActionKind::UffdMove));
}

/// About 2 s: the built-in `uffd` to depth 6 takes every move branch and
/// holds.
#[test]
fn the_uffd_configuration_holds_to_depth_6_through_every_move_branch() {
    let over = Settings { max_depth: Some(6), ..Settings::default() };
    let r = run_check(&Settings::load("uffd").unwrap().overlay(over).resolve().unwrap(), false, None);
    assert_eq!(r.outcome, "holds within bounds");
    rmapcheck_tests::covered(
        &r,
        &[
            "move_present_ptes: exclusive page moved",
            "move_swap_pte: exclusive swap entry moved",
            "move_zeropage_pte: zero page moved",
            "move_pages: refused (EEXIST, ENOENT, EBUSY, EINVAL)",
        ],
    );
}

/// About 1 s: each mutant is caught by an invariant that existed before
/// UFFDIO_MOVE (I28, I11), with a shortest counterexample that replays.
#[test]
fn uffd_move_mutants_are_caught_by_the_rmap_invariants() {
    let shallow = || Settings { max_depth: Some(5), ..Settings::default() };
    rmapcheck_tests::mutant_caught("uffd", shallow(), "uffd-move-skips-index", "index_linear", 3);
    rmapcheck_tests::mutant_caught("uffd", shallow(), "uffd-move-skips-anon-rmap", "rmap_complete", 4);
    rmapcheck_tests::mutant_caught("uffd", shallow(), "uffd-move-ignores-exclusive", "rmap_complete", 4);
}
