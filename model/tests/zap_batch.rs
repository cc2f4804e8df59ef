//! zap_pte_range() removes the PTEs of one large folio in one batch
//! (zap_present_ptes(): folio_pte_batch() up to `end` and the VMA's end,
//! then one folio_remove_rmap_ptes()), and the batch decides whether the
//! folio is queued for the deferred split: __folio_remove_rmap() queues it
//! only if some page is left mapped after the whole batch. The shipped
//! scenarios cannot show the difference: a folio unmapped whole is freed
//! (and leaves the queue) unless the swap cache holds it, and
//! deferred_split_folio() never queues a swap-cache folio. Another
//! reference shows it: here one taken on purpose, as a pipe buffer's is by
//! vmsplice() (or a GUP pin). The live kernel (6.18, 16 kB mTHP, a
//! vmsplice()d folio): munmap() of the whole folio leaves
//! hugepages-16kB/stats/split_deferred unchanged, munmap() of its first
//! page adds one (docs/hardening.md §6).

use rmapcheck_model::{step, Action, Config, Ctx, Ids, State};

fn cfg() -> Config {
    Config { pages: 4, procs: 1, ids: Ids::Stable, symmetry: false, mthp: "16k".parse().unwrap(), ..Config::default() }
}

/// P0 maps pages 0..4 with one 16 kB folio, F0, which one more reference
/// than its mappings keeps alive.
fn held_folio(cfg: &Config) -> State {
    let mut s = State::initial(cfg);
    for a in ["P0 mmap 0 4 rw", "P0 write 0 1"] {
        s = step(&s, Action::parse(a).unwrap(), &mut Ctx::new(cfg, false)).unwrap();
    }
    let f = &mut s.folios[0];
    assert_eq!((f.order(), f.mapcount, f.refcount), (2, 4, 4), "a 16 kB folio mapped whole");
    f.refcount += 1; // the pipe buffer's reference
    s
}

#[test]
fn a_held_large_folio_unmapped_whole_is_not_queued_for_the_deferred_split() {
    let cfg = cfg();
    for a in ["P0 munmap 0 4", "P0 madv_dontneed 0 4"] {
        let s = step(&held_folio(&cfg), Action::parse(a).unwrap(), &mut Ctx::new(&cfg, false)).unwrap();
        let f = &s.folios[0];
        assert!(s.oops.is_none() && !f.freed, "{a}: the extra reference keeps F0");
        assert_eq!((f.mapcount, f.refcount), (0, 1), "{a}");
        assert!(!f.large.as_ref().unwrap().deferred, "{a}: one batch unmaps every page: not partially mapped");
    }
}

/// unmap_vmas() zaps VMA by VMA, and a batch never crosses a VMA's end:
/// a folio whose pages lie in two VMAs (mprotect() split the VMA, not the
/// folio) is left partially mapped after the first VMA's batch, and
/// queued, even by one munmap() of both.
#[test]
fn a_held_large_folio_across_two_vmas_is_queued_by_one_munmap() {
    let cfg = cfg();
    let mut s = held_folio(&cfg);
    for a in ["P0 mprotect 2 2 r", "P0 munmap 0 4"] {
        s = step(&s, Action::parse(a).unwrap(), &mut Ctx::new(&cfg, false)).unwrap();
        assert!(s.oops.is_none() && !s.folios[0].freed, "{a}");
    }
    let f = &s.folios[0];
    assert_eq!((f.order(), f.mapcount, f.refcount), (2, 0, 1));
    assert!(f.large.as_ref().unwrap().deferred, "the first VMA's batch left pages 2 and 3 mapped");
}

#[test]
fn a_held_large_folio_unmapped_in_part_is_queued() {
    let cfg = cfg();
    for (a, left) in [("P0 munmap 0 1", 3), ("P0 madv_dontneed 1 2", 2), ("P0 munmap 3 1", 3)] {
        let s = step(&held_folio(&cfg), Action::parse(a).unwrap(), &mut Ctx::new(&cfg, false)).unwrap();
        let f = &s.folios[0];
        assert_eq!((f.mapcount, f.refcount), (left, left + 1), "{a}");
        assert!(f.large.as_ref().unwrap().deferred, "{a}: partially mapped, queued");
    }
}
