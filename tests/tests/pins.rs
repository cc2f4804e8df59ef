//! Longterm GUP pins (docs/kernel/gup-pins.md): the unshare and COW-break
//! paths of pin_user_pages(), fork's copy of a pinned page, reclaim and
//! KSM leaving it, and the four pin invariants each catching a mutant.

use rmapcheck::check::run_check;
use rmapcheck::settings::Settings;
use rmapcheck_model::Kernel;
use rmapcheck_model::{Pte, State};
use rmapcheck_tests::{apply, cfg, exec, mutant_caught};

fn pte(s: &State, pid: usize, page: usize) -> Pte {
    s.mms[pid].ptes[page]
}

#[test]
fn an_rw_pin_breaks_cow_first_and_an_ro_pin_unshares() {
    let c = cfg(Kernel::V6_18, 1);
    // R/W on a COW-shared page: a write fault first (FOLL_WRITE), a new
    // writable page for the pinner.
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP0 pin 0 rw");
    assert_eq!(pte(&s, 0, 0), Pte::Present { folio: 1, sub: 0, writable: true, dirty: true });
    assert_eq!((s.folios[1].refcount, s.folios[1].pincount, s.folios[1].anon_exclusive), (2, 1, true));
    assert!(s.mms[0].has_pinned && !s.mms[1].has_pinned);
    // R/O on the same shape: an unshare fault, the copy stays read-only.
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP0 pin 0 r");
    assert_eq!(pte(&s, 0, 0), Pte::Present { folio: 1, sub: 0, writable: false, dirty: true });
    // R/O on an exclusive read-only page: nothing to unshare, no copy.
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 mprotect 0 1 r\nP0 pin 0 r");
    assert_eq!(pte(&s, 0, 0), Pte::Present { folio: 0, sub: 0, writable: false, dirty: true });
    // FOLL_WRITE on a read-only VMA fails (check_vma_flags()).
    let s = exec(&c, "P0 mmap 0 1 r");
    assert!(apply(&c, &s, "P0 pin 0 rw").unwrap_err().contains("EFAULT"));
}

#[test]
fn a_pinned_page_is_copied_at_fork_kept_by_reclaim_and_refused_by_ksm() {
    let c = cfg(Kernel::V6_18, 2);
    let s = exec(&c, "P0 mmap 0 2 rw\nP0 write 0 1\nP0 write 1 1\nP0 pin 0 rw\nP0 fork");
    // copy_present_page(): the child has its own copy, the parent's PTE
    // stays writable; the unpinned page 1 is shared as usual.
    assert_eq!(pte(&s, 0, 0), Pte::Present { folio: 0, sub: 0, writable: true, dirty: true });
    assert!(matches!(pte(&s, 1, 0), Pte::Present { folio: 2, writable: true, .. }));
    assert!(matches!(pte(&s, 1, 1), Pte::Present { folio: 1, writable: false, .. }));
    // A fork by a process that never pinned shares the page (MMF_HAS_PINNED).
    let s2 = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 pin 0 rw\nP0 fork\nP1 fork");
    assert!(matches!(pte(&s2, 2, 0), Pte::Present { folio: 1, writable: false, .. }));
    // Reclaim: try_to_unmap_one() gives up on the pinned page.
    let s = exec(&c, "P0 mmap 0 2 rw\nP0 write 0 1\nP0 pin 0 rw\nP0 madv_pageout 0 1");
    assert!(matches!(pte(&s, 0, 0), Pte::Present { folio: 0, .. }));
    // KSM: write_protect_page() sees the extra reference.
    let s = exec(&c, "P0 mmap 0 2 rw\nP0 madv_mergeable 0 2\nP0 write 0 1\nP0 write 1 1\nP0 pin 0 rw");
    assert!(apply(&c, &s, "ksmd merge P0 0 P0 1").unwrap_err().contains("pinned"));
    assert!(apply(&c, &s, "ksmd merge P0 1 P0 0").unwrap_err().contains("pinned"));
    // Exit drops the pins after the mappings: everything is freed.
    let s = exec(&c, "P0 mmap 0 1 rw\nP0 write 0 1\nP0 pin 0 rw\nP0 munmap 0 1\nP0 exit");
    assert!(s.folios.iter().all(|f| f.freed));
}

/// Each pin invariant catches its mutant in the `pins` configuration, with
/// a short counterexample that replays.
#[test]
fn the_pin_invariants_catch_their_mutants() {
    let shallow =
        |inv: &str| Settings { max_depth: Some(6), invariants: Some(vec![inv.to_string()]), ..Settings::default() };
    // Reclaim (MADV_PAGEOUT) unmaps the pinned page: the pinner's PTE is a swap entry.
    mutant_caught("pins", shallow("pin_coherent"), "reclaim-ignores-pin", "pin_coherent", 3);
    // An R/O pin without unshare: the pinner's next write COWs away from
    // the pinned page, which keeps the old data (I45 alone checked: I47
    // sees the unexclusive pinned page one step earlier, so the replay,
    // which checks every invariant, would stop there).
    let over = Settings { mutant: Some("ro-pin-without-unshare".into()), ..shallow("pin_sees_pinner_data") };
    let r = run_check(&Settings::load("pins").unwrap().overlay(over).resolve().unwrap(), false, None);
    let cx = &r.counterexamples[0];
    let steps: Vec<&str> = cx.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(cx.invariant, "pin_sees_pinner_data");
    assert_eq!(steps, ["P0 mmap 0 1 rw", "P0 write 0 1", "P0 fork", "P0 pin 0 r", "P0 write 0 2"]);
    // The pin takes no reference: the refcount no longer covers it.
    mutant_caught("pins", shallow("pin_count"), "pin-takes-no-reference", "pin_count", 2);
    // Fork shares the pinned page: no longer PageAnonExclusive.
    mutant_caught("pins", shallow("pinned_exclusive"), "fork-shares-pinned-page", "pinned_exclusive", 3);
}

/// The `pins` configuration holds to depth 7 with every invariant.
#[test]
fn the_pins_configuration_holds_to_depth_7() {
    let over = Settings { max_depth: Some(7), ..Settings::default() };
    let r = run_check(&Settings::load("pins").unwrap().overlay(over).resolve().unwrap(), false, None);
    assert_eq!(r.outcome, "holds within bounds");
    assert!(r.unique_states > 1000, "{}", r.unique_states);
}
