//! The model's kernel assertions fire when their condition holds. They
//! never do in the correct model (that is what the invariants and the
//! shipped scenarios show), so only a state broken on purpose reaches
//! them: here, one step away from a correct state, as a model mistake
//! would leave it. A mutant that silenced one of them would hide such a
//! mistake from `no_kernel_oops`, I24 and I13.

use rmapcheck_model::rmap::{folio_remove_rmap_and_put, unlink_anon_vmas};
use rmapcheck_model::{step, Action, Config, Ctx, Ids, OopsKind, State};

fn cfg() -> Config {
    Config { pages: 2, procs: 2, values: 15, ids: Ids::Stable, symmetry: false, ..Config::default() }
}

/// P0 with VMA 0..2, its page 0 written: AV0, F0.
fn faulted(cfg: &Config) -> State {
    let mut s = State::new(cfg.pages, false);
    for a in ["P0 mmap 0 2 rw", "P0 write 0 1"] {
        s = step(&s, Action::parse(a).unwrap(), &mut Ctx::new(cfg, false)).unwrap();
    }
    s
}

#[test]
fn folio_remove_rmap_pte_underflow_is_a_bug() {
    let cfg = cfg();
    for (mapcount, refcount) in [(0, 1), (1, 0), (0, 0)] {
        let mut s = faulted(&cfg);
        (s.folios[0].mapcount, s.folios[0].refcount) = (mapcount, refcount);
        folio_remove_rmap_and_put(&mut s, &mut Ctx::new(&cfg, false), 0);
        let oops = s.oops.unwrap_or_else(|| panic!("mapcount {mapcount}, refcount {refcount}: no oops"));
        assert_eq!(oops.kind, OopsKind::Bug);
        assert!(oops.what.contains("underflow in folio_remove_rmap_pte"), "{}", oops.what);
    }
    // The correct case: the last mapping and reference go, the folio is freed.
    let mut s = faulted(&cfg);
    folio_remove_rmap_and_put(&mut s, &mut Ctx::new(&cfg, false), 0);
    assert!(s.oops.is_none() && s.folios[0].freed);
}

#[test]
fn unlinking_a_vma_whose_pages_are_still_mapped_is_i24() {
    let cfg = cfg();
    let mut s = faulted(&cfg);
    // Detached from the mm without zap_pte_range(): F0 is still mapped.
    let mut vma = s.mms[0].vmas.remove(0);
    unlink_anon_vmas(&mut s, &mut Ctx::new(&cfg, false), 0, &mut vma);
    let oops = s.oops.expect("I24 fires");
    assert_eq!(oops.kind, OopsKind::UnlinkBeforeZap);
    assert!(oops.what.contains("leaves the trees while page 0 is mapped"), "{}", oops.what);
}

#[test]
fn an_emptied_anon_vma_still_counted_busy_is_a_warning() {
    let cfg = cfg();
    // num_active_vmas one too high, or num_children one too high: either
    // alone keeps the anon_vma busy after its tree empties.
    for extra_vma in [true, false] {
        let mut s = faulted(&cfg);
        s = step(&s, Action::parse("P0 munmap 0 1").unwrap(), &mut Ctx::new(&cfg, false)).unwrap();
        s = step(&s, Action::parse("P0 write 1 1").unwrap(), &mut Ctx::new(&cfg, false)).unwrap();
        if extra_vma {
            s.anon_vmas[0].num_active_vmas += 1;
        } else {
            s.anon_vmas[0].num_children += 1;
        }
        let mut vma = s.mms[0].vmas.remove(0);
        let (start, end) = (vma.start, vma.end);
        rmapcheck_model::memory::zap_pte_range(&mut s, &mut Ctx::new(&cfg, false), 0, start, end);
        unlink_anon_vmas(&mut s, &mut Ctx::new(&cfg, false), 0, &mut vma);
        let oops = s.oops.unwrap_or_else(|| panic!("extra VMA {extra_vma}: no warning"));
        assert_eq!(oops.kind, OopsKind::Warn);
        assert!(oops.what.contains("VM_WARN_ON(anon_vma->num_children || num_active_vmas)"), "{}", oops.what);
    }
}
