//! Every shipped scenario's `assert` lines and stated read values hold in
//! the model, step by step, up to the step of its expected violation. The
//! verdicts themselves (invariants) are `rmapcheck run`'s, tested in
//! `tests/tests/scenarios.rs`; this test needs nothing but the model, so
//! that mutation testing of the model (`cargo mutants -p rmapcheck-model`)
//! rebuilds one crate per mutant.

use rmapcheck_model::{step, Ctx, Expect, Scenario, State};
use std::path::PathBuf;

#[test]
fn every_shipped_scenario_reaches_the_objects_it_asserts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rmap"))
        .collect();
    files.sort();
    let mut asserts = 0;
    for f in &files {
        let name = f.display().to_string();
        let sc = Scenario::parse(&std::fs::read_to_string(f).unwrap(), &name).unwrap_or_else(|e| panic!("{e}"));
        let last = match sc.expect {
            Expect::Violates { at: Some(n), .. } => n,
            _ => sc.steps.len(),
        };
        let cfg = sc.config();
        let mut s = State::initial(&cfg);
        for st in &sc.steps[..last] {
            s = step(&s, st.action, &mut Ctx::new(&cfg, false))
                .unwrap_or_else(|e| panic!("{name}:{}: {}: {e}", st.line, st.action));
            if let (Some(want), rmapcheck_model::Action::Read { pid, page }) = (st.reads, st.action) {
                assert_eq!(s.reads(pid as usize, page), want, "{name}:{}: {}", st.line, st.action);
            }
            for a in &st.asserts {
                a.check(&s).unwrap_or_else(|e| panic!("{name}:{}: {e}", a.line));
                asserts += 1;
            }
        }
    }
    assert!(asserts > 1000, "the shipped scenarios state {asserts} objects");
}

/// I27 checks every merge, not only those after which the trace stops:
/// the mprotect merge that follows CVE-2022-42703's double reuse (step 13
/// of the v5.19 scenario, after the I9 violation the scenario expects at
/// step 12) gives the pages of one VMA to another with the same anon_vma
/// but a different chain, and the model's ordering check fires.
#[test]
fn the_merge_after_the_double_reuse_is_refused_by_the_i27_check() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/cve-2022-42703-mprotect-v5.19.rmap");
    let sc = Scenario::parse(&std::fs::read_to_string(path).unwrap(), "cve").unwrap();
    let cfg = sc.config();
    let mut s = State::new(cfg.pages, cfg.symmetry);
    for st in &sc.steps[..13] {
        s = step(&s, st.action, &mut Ctx::new(&cfg, false)).unwrap();
    }
    assert_eq!(sc.steps[12].action.to_string(), "P5 mprotect 0 1 r");
    let oops = s.oops.expect("the merge is refused");
    assert_eq!(oops.kind, rmapcheck_model::OopsKind::MergeIncompatible);
    assert!(oops.what.contains("(AV2, chain [3, 2, 1, 0]) to VMA 1..2 (AV2, chain [4, 2, 1, 0])"), "{}", oops.what);
}
