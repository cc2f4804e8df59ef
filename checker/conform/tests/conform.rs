//! Conformance with the live kernel (`rmapcheck conform`).
//!
//! The comparison tests run everywhere. The live tests need root and
//! `/proc/kpageflags`; elsewhere they print that they were skipped and pass.

use rmapcheck_conform::compare::{differences, side_by_side};
use rmapcheck_conform::exec::Executor;
use rmapcheck_conform::observe::{Frame, Kind, View};
use rmapcheck_conform::proto::{kpf, KPage, KProc, KPte, KernelSnap};
use rmapcheck_conform::{self as conform, random, Divergence};
use rmapcheck_model::{step, Action, Ctx, Mthp, Scenario, State};
use std::path::Path;
use std::time::Instant;

/// Model states after each step of `text`'s actions (index 0 = initial).
fn model_states(text: &str) -> (Scenario, Vec<State>) {
    let sc = Scenario::parse(text, "t").unwrap();
    let cfg = sc.config();
    let mut states = vec![State::new(cfg.pages, false)];
    for st in &sc.steps {
        let mut ctx = Ctx::new(&cfg, false);
        let next = step(states.last().unwrap(), st.action, &mut ctx).unwrap();
        states.push(next);
    }
    (sc, states)
}

const ANON: u64 = 1 << kpf::ANON | 1 << kpf::SWAPBACKED | 1 << 5 | 1 << 11; // + lru, mmap (ignored)
const ZERO: u64 = 1 << kpf::ZERO_PAGE;

fn present(pfn: u64, count: u64, flags: u64, value: u8) -> KPage {
    KPage {
        pte: KPte::Present,
        pfn,
        excl: count == 1,
        count,
        flags,
        value: Some(value),
        nonce_ok: true,
        swapcache: false,
        file: false,
        head: pfn,
        nr: 1,
    }
}

fn snap(procs: Vec<KProc>) -> KernelSnap {
    KernelSnap { procs, ..KernelSnap::default() }
}

fn proc_with(vmas: Vec<(u8, u8, bool, bool)>, pages: Vec<KPage>) -> KProc {
    KProc { alive: true, vmas, pages, ..KProc::default() }
}

const FORK: &str = "expect: holds\npages: 2\nP0 mmap 0 2 rw\nP0 write 0 1\nP0 read 1\nP0 fork\nP1 write 0 2\n";

/// The kernel snapshot after step 4 (fork) of FORK, with arbitrary PFNs.
fn after_fork(pfn: u64, zero_pfn: u64) -> KernelSnap {
    let pages = || vec![present(pfn, 2, ANON, 1), present(zero_pfn, 0, ZERO, 0)];
    let vmas = vec![(0, 2, true, true)];
    snap(vec![proc_with(vmas.clone(), pages()), proc_with(vmas, pages())])
}

#[test]
fn matching_kernel_view_has_no_differences_whatever_the_pfns() {
    let (_, st) = model_states(FORK);
    let model = View::of_model(Some(&st[3]), &st[4]);
    for (pfn, zero) in [(0x1234, 0x3b34), (0x99999, 0x10)] {
        let kernel = View::of_kernel(None, &after_fork(pfn, zero), 0);
        assert_eq!(differences(&model, &kernel), Vec::<String>::new());
    }
    assert_eq!(model.procs[1].pages[1].kind, Kind::Zero, "fork of a faulted VMA copies the zero PTE");
}

#[test]
fn a_copy_where_the_model_shares_is_reported_with_the_step() {
    let (sc, st) = model_states(FORK);
    // The kernel (hypothetically) gave the child its own frame at fork.
    let mut snap = after_fork(0x1234, 0x3b34);
    snap.procs[1].pages[0] = present(0x5678, 1, ANON, 1);
    snap.procs[0].pages[0].count = 1;
    let model = View::of_model(Some(&st[3]), &st[4]);
    let kernel = View::of_kernel(None, &snap, 0);
    let diffs = differences(&model, &kernel);
    assert!(diffs.iter().any(|d| d.starts_with("P1 page 0:")), "{diffs:?}");
    assert!(diffs.iter().any(|d| d.starts_with("P0 page 0:")), "{diffs:?}");
    let d = Divergence { step: 4, action: sc.steps[3].action, model, kernel, diffs };
    let report = d.report();
    assert!(report.starts_with("divergence at step 4: P0 fork\n"), "{report}");
    assert!(report.contains("| kernel"), "{report}");
    assert!(report.lines().any(|l| l.starts_with('*') && l.contains("present F2 cnt=1")), "{report}");
}

#[test]
fn frame_persistence_is_compared_where_the_model_decides_it() {
    // Child writes (copies), parent writes next: the model reuses in place.
    let text = "expect: holds\npages: 1\nP0 mmap 0 1 rw\nP0 write 0 1\nP0 fork\nP1 write 0 2\nP0 write 0 3\n";
    let (_, st) = model_states(text);
    let model = View::of_model(Some(&st[4]), &st[5]);
    assert_eq!(model.procs[0].pages[0].frame, Frame::Same);
    let vmas = vec![(0, 1, true, true)];
    let before = snap(vec![
        proc_with(vmas.clone(), vec![present(100, 1, ANON, 1)]),
        proc_with(vmas.clone(), vec![present(200, 1, ANON, 2)]),
    ]);
    let reuse = before.clone();
    let mut reuse = reuse;
    reuse.procs[0].pages[0].value = Some(3);
    let mut copy = reuse.clone();
    copy.procs[0].pages[0].pfn = 300;
    assert!(differences(&model, &View::of_kernel(Some(&before), &reuse, 0)).is_empty());
    let diffs = differences(&model, &View::of_kernel(Some(&before), &copy, 0));
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(diffs[0].contains("same-frame") && diffs[0].contains("new-frame"), "{diffs:?}");
}

#[test]
fn foreign_content_vmas_results_and_exits_are_divergences() {
    let (_, st) = model_states(FORK);
    let model = View::of_model(Some(&st[3]), &st[4]);
    let mut snap = after_fork(1, 2);
    snap.procs[0].pages[0].nonce_ok = false;
    assert!(differences(&model, &View::of_kernel(None, &snap, 0))[0].contains("FOREIGN-CONTENT"));
    let mut snap = after_fork(1, 2);
    snap.procs[1].vmas = vec![(0, 1, true, true), (1, 2, true, true)];
    assert!(differences(&model, &View::of_kernel(None, &snap, 0))[0].contains("VMAs"));
    let d = differences(&model, &View::of_kernel(None, &after_fork(1, 2), 12));
    assert_eq!(d, vec!["system call result: model 0, kernel errno 12".to_string()]);
    let mut snap = after_fork(1, 2);
    snap.procs[1] = KProc::default();
    assert!(differences(&model, &View::of_kernel(None, &snap, 0))[0].contains("alive"));
    assert!(side_by_side(&model, &View::of_kernel(None, &snap, 0)).contains("P1: exited"));
}

/// Kernel snapshot of `fork-of-swapped-page` after the fork (step 4): both
/// processes name one slot; page 1 is none.
fn swapped_after_fork(slot0: u64, slot1: u64, swapcache: bool) -> KernelSnap {
    let swap = |slot| KPage { pte: KPte::Swap, pfn: slot, swapcache, ..KPage::default() };
    let none = KPage { pte: KPte::None, ..KPage::default() };
    let vmas = vec![(0, 2, true, true)];
    snap(vec![proc_with(vmas.clone(), vec![swap(slot0), none.clone()]), proc_with(vmas, vec![swap(slot1), none])])
}

#[test]
fn swap_entries_are_compared_as_slot_classes_with_their_swap_cache_state() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/fork-of-swapped-page.rmap"),
    )
    .unwrap();
    let (_, st) = model_states(&text);
    let model = View::of_model(Some(&st[3]), &st[4]);
    assert_eq!(model.procs[1].pages[0].kind, Kind::Swap);
    // Any slot number, as long as both name the same one, not in the swap cache.
    for slot in [0x40, 0x12345] {
        assert!(differences(&model, &View::of_kernel(None, &swapped_after_fork(slot, slot, false), 0)).is_empty());
    }
    let split = differences(&model, &View::of_kernel(None, &swapped_after_fork(0x40, 0x41, false), 0));
    assert_eq!(split, vec!["P1 page 0: model swap S1, kernel swap S2".to_string()]);
    let cached = differences(&model, &View::of_kernel(None, &swapped_after_fork(0x40, 0x40, true), 0));
    assert_eq!(cached.len(), 2, "{cached:?}");
    assert!(cached[0].ends_with("model swap S1, kernel swap S1 swapcache"), "{cached:?}");
    // After the parent's swap-in (step 5) the child's entry is in the swap cache.
    let after = View::of_model(Some(&st[4]), &st[5]);
    assert!(after.procs[1].pages[0].swapcache && after.procs[0].pages[0].swapcache);
}

#[test]
fn large_folios_are_compared_by_head_frame_page_index_and_size() {
    let text = "expect: holds\npages: 4\nmthp: 16k\nP0 mmap 0 4 rw\nP0 write 1 3\n";
    let (_, st) = model_states(text);
    let model = View::of_model(Some(&st[1]), &st[2]);
    let vmas = vec![(0, 4, true, true)];
    let thp = ANON | 1 << kpf::THP;
    let page = |pfn: u64, head: u64, nr: u32, flags: u64, v: u8| KPage { head, nr, ..present(pfn, 1, flags, v) };
    let large: Vec<KPage> = (0..4).map(|i| page(40 + i, 40, 4, thp, if i == 1 { 3 } else { 0 })).collect();
    let d = differences(&model, &View::of_kernel(None, &snap(vec![proc_with(vmas.clone(), large.clone())]), 0));
    assert!(d.is_empty(), "{d:?}");
    assert!(side_by_side(&model, &model).contains("folio1[1/4]"));
    // Four small folios on the kernel side: every page differs.
    let small: Vec<KPage> = (0..4).map(|i| page(40 + i, 40 + i, 1, ANON, if i == 1 { 3 } else { 0 })).collect();
    let d = differences(&model, &View::of_kernel(None, &snap(vec![proc_with(vmas.clone(), small)]), 0));
    assert_eq!(d.len(), 4, "{d:?}");
    // The right folio but the pages in another order: pages 0 and 1 differ.
    let mut swapped = large;
    swapped.swap(0, 1);
    let d = differences(&model, &View::of_kernel(None, &snap(vec![proc_with(vmas, swapped)]), 0));
    assert_eq!(d.len(), 2, "{d:?}");
}

#[test]
fn lazyfree_is_compared_through_swapbacked() {
    let text = "expect: holds\npages: 1\nP0 mmap 0 1 rw\nP0 write 0 1\nP0 madv_free 0 1\n";
    let (_, st) = model_states(text);
    let model = View::of_model(Some(&st[2]), &st[3]);
    let vmas = vec![(0, 1, true, true)];
    let lazy = snap(vec![proc_with(vmas.clone(), vec![present(7, 1, 1 << kpf::ANON, 1)])]);
    assert!(differences(&model, &View::of_kernel(None, &lazy, 0)).is_empty());
    let kept = snap(vec![proc_with(vmas, vec![present(7, 1, ANON, 1)])]);
    assert_eq!(differences(&model, &View::of_kernel(None, &kept, 0)).len(), 1);
}

#[test]
fn random_vocabulary_includes_pageout_and_free_but_not_kswapd() {
    let mut kinds = std::collections::BTreeMap::new();
    for i in 0..LIVE_RANDOM {
        for st in random::random_scenario(LIVE_SEED, i, Mthp::none()).steps {
            *kinds.entry(st.action.to_string().split(' ').nth(1).unwrap().to_string()).or_insert(0) += 1;
        }
    }
    assert!(kinds.get("madv_pageout").copied().unwrap_or(0) >= 100, "{kinds:?}");
    assert!(kinds.get("madv_free").copied().unwrap_or(0) >= 100, "{kinds:?}");
    assert!(!kinds.contains_key("reclaim") && !kinds.contains_key("writeback"), "{kinds:?}");
    // KSM: ksmd's steps are written `ksmd merge ...`, so their second word
    // is the ksmd action.
    for (k, min) in [("madv_mergeable", 100), ("madv_unmergeable", 20), ("merge", 20)] {
        assert!(kinds.get(k).copied().unwrap_or(0) >= min, "{k}: {kinds:?}");
    }
}

#[test]
fn random_vocabulary_includes_the_file_actions() {
    let mut kinds = std::collections::BTreeMap::new();
    for i in 0..LIVE_RANDOM {
        for st in random::random_scenario(LIVE_SEED, i, Mthp::none()).steps {
            *kinds.entry(st.action.kind().name()).or_insert(0) += 1;
        }
    }
    for (k, min) in [("mmap_file", 150), ("mmap_shared", 50), ("madv_dontneed", 50), ("ftruncate", 20), ("fsync", 5)] {
        assert!(kinds.get(k).copied().unwrap_or(0) >= min, "{k}: {kinds:?}");
    }
}

#[test]
fn random_vocabulary_includes_uffd_move() {
    let mut moves = 0;
    for i in 0..LIVE_RANDOM {
        moves += random::random_scenario(LIVE_SEED, i, Mthp::none())
            .steps
            .iter()
            .filter(|st| st.action.kind() == rmapcheck_model::ActionKind::UffdMove)
            .count();
    }
    assert!(moves >= 50, "{moves} uffd_move steps");
}

#[test]
fn ksm_pages_are_compared_as_structure_not_frame_identity() {
    // After a merge the model keeps the scanned page's folio; the kernel
    // may keep the other frame (docs/conformance.md §3.m): both are KSM, same
    // class, cnt 2, so no difference, whichever PFN survived.
    let (_, states) = model_states(
        "pages: 2\nexpect: holds\nP0 mmap 0 2 rw\nP0 madv_mergeable 0 2\nP0 write 0 5\nP0 write 1 5\nksmd merge P0 0 P0 1\n",
    );
    let n = states.len();
    let model = View::of_model(Some(&states[n - 2]), &states[n - 1]);
    let before =
        snap(vec![proc_with(vec![(0, 2, true, true)], vec![present(10, 1, ANON, 5), present(11, 1, ANON, 5)])]);
    let ksm = ANON | 1 << kpf::KSM | 1 << kpf::DIRTY;
    for survivor in [10, 11] {
        let after = snap(vec![proc_with(
            vec![(0, 2, true, true)],
            vec![present(survivor, 2, ksm, 5), present(survivor, 2, ksm, 5)],
        )]);
        let d = differences(&model, &View::of_kernel(Some(&before), &after, 0));
        assert!(d.is_empty(), "survivor {survivor}: {d:?}");
    }
    // Not merged on the kernel: two classes, no ksm flag.
    let d = differences(&model, &View::of_kernel(Some(&before), &before, 0));
    assert_eq!(d.len(), 2, "{d:?}");
}

#[test]
fn a_ksmd_merge_settles_over_every_scan_order() {
    // Two equal pages of the child, both still shared with the parent:
    // the model offers both survivors (the parent's page 0 or page 1 maps
    // the KSM page); the named merge's order comes first.
    let text = "pages: 2\nexpect: holds\nP0 mmap 0 2 rw\nP0 write 0 1\nP0 write 1 1\nP0 fork\nP1 madv_mergeable 0 2\nksmd merge P1 0 P1 1\n";
    let sc = Scenario::parse(text, "t").unwrap();
    let cfg = conform::config(&sc, None);
    let mut s = State::new(cfg.pages, false);
    for (i, st) in sc.steps.iter().enumerate().take(5) {
        s = conform::conform_step(&cfg, &s, st.action, i, false).unwrap().remove(0);
    }
    let cands = conform::conform_step(&cfg, &s, sc.steps[5].action, 5, false).unwrap();
    let groups: Vec<_> = cands.iter().map(conform::ksm_groups).collect();
    assert_eq!(groups[0], vec![vec![(0, 0), (1, 0), (1, 1)]], "{groups:?}");
    assert!(groups.contains(&vec![vec![(0, 1), (1, 0), (1, 1)]]), "{groups:?}");
}

#[test]
fn random_scenarios_are_accepted_by_the_model_and_reproducible() {
    for i in 0..200 {
        let m = if i % 2 == 0 { Mthp::none() } else { sixteen() };
        let a = random::random_scenario(7, i, m);
        assert_eq!(a, random::random_scenario(7, i, m));
        let acts: Vec<Action> = a.steps.iter().map(|s| s.action).collect();
        assert!(!acts.is_empty() && random::model_accepts(&a.config(), &acts), "{}", a.to_text());
        let back = Scenario::parse(&a.to_text(), "r").unwrap();
        assert_eq!(back.steps.len(), a.steps.len());
    }
}

/// Why the live tests cannot run here, printed when they skip.
fn skip_reason() -> Option<String> {
    conform::cannot_run()
}

fn corpus() -> Vec<(String, Scenario)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rmap"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            let sc = Scenario::parse(&std::fs::read_to_string(&p).unwrap(), &name).unwrap();
            (name, sc)
        })
        .collect()
}

#[test]
fn corpus_covers_every_action_and_has_25_scenarios() {
    let c = corpus();
    assert!(c.len() >= 25, "only {} scenarios", c.len());
    for &(_, name, _) in rmapcheck_model::ActionKind::ALL {
        assert!(
            c.iter().any(|(_, sc)| sc.steps.iter().any(|s| s.action.kind().name() == name)),
            "no scenario uses '{name}'"
        );
    }
}

/// Random scenarios in the live run, and their seed.
const LIVE_RANDOM: u64 = 400;
/// Random scenarios with 16 kB large folios in the live run.
const LIVE_RANDOM_MTHP: u64 = 300;

fn sixteen() -> Mthp {
    "16k".parse().unwrap()
}
const LIVE_SEED: u64 = 20261122;

/// Model branches the live scenarios cannot reach.
/// * swap_writepage()'s folio_free_swap() needs the swap PTEs zapped
///   between try_to_unmap() and pageout(), which only kswapd's split
///   `reclaim`/`writeback` allows (MADV_PAGEOUT does both in one call).
///
/// With KSM in the executor's vocabulary, two that were listed here became
/// reachable: do_wp_page() reusing a PageAnonExclusive page behind a
/// read-only PTE (break_ksm()'s unshare copy), and the root anon_vma freed
/// on a child's last put (an exited child's rmap_item pins its anon_vma).
/// * __folio_split() refusing a split needs a reference the model does not
///   have (a GUP pin, a per-CPU batch) or an rmap that misses a mapping of
///   a large folio (the model's never does: I11, I28).
const UNREACHABLE_LIVE: &[rmapcheck_model::Branch] =
    &[rmapcheck_model::Branch::WritebackFreeSwap, rmapcheck_model::Branch::SplitFailed];

/// The live run: the whole corpus, then 400 random scenarios, on the
/// kernel. One test, so that only one executor is pinned at a time.
#[test]
fn live_kernel_conforms_on_corpus_and_random_scenarios() {
    if let Some(why) = skip_reason() {
        println!("SKIPPED live-kernel conformance: {why}");
        eprintln!("SKIPPED live-kernel conformance: {why}");
        return;
    }
    let mut ex = Executor::spawn(Path::new(env!("CARGO_BIN_EXE_rmapcheck-exec"))).unwrap();
    let t0 = Instant::now();
    let live = |sc: &Scenario| {
        conform::unsupported(sc).is_none() && sc.kernel == rmapcheck_model::Kernel::V6_18 && sc.mutant.is_none()
    };
    let mut n = 0;
    let (mut flaky, mut ksm_runs) = (0, 0);
    for (i, (name, sc)) in corpus().iter().enumerate().filter(|(_, (_, sc))| live(sc)) {
        n += 1;
        let o = conform::run_scenario(&mut ex, sc, None, conform::nonce(i as u64))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(d) = o.divergence {
            panic!("{name} diverges:\n{}", d.report());
        }
        ksm_runs += usize::from(o.ksm_waits.0 > 0);
        if let Some((step, why, d)) = &o.unsettled {
            // Unsettled ksmd waits are flaky, not divergences (issue 7).
            flaky += 1;
            println!("FLAKY {name}: ksmd unsettled at step {step} ({why})\n{}", d.report());
            continue;
        }
        assert_eq!(o.matched, sc.steps.len());
    }
    assert!(n >= 50, "only {n} scenarios run on the live kernel");
    assert!(ksm_runs >= 10, "only {ksm_runs} corpus scenarios waited for ksmd");
    // I12's first window on the live kernel: the KSM page the parent maps
    // alone (the child exited) survives MADV_PAGEOUT, because
    // rmap_walk_ksm() does not reach the parent's PTE.
    let (name, escape) = corpus()
        .into_iter()
        .find(|(n, _)| n.ends_with("ksm-in-place-page-escapes-pageout-v6.18.rmap"))
        .expect("the KSM pageout scenario");
    let o = conform::run_scenario(&mut ex, &escape, None, conform::nonce(98)).unwrap();
    assert!(o.divergence.is_none() && o.unsettled.is_none(), "{name}");
    let after = &o.last_kernel.expect("a kernel view").procs[0];
    let ksm: Vec<_> = after.pages.iter().filter(|p| p.ksm && p.kind == Kind::Present && p.cnt == 1).collect();
    assert_eq!(ksm.len(), 1, "{name}: one of the parent's pages still maps the KSM frame: {:?}", after.pages);
    let shown: Vec<String> = after.pages.iter().map(|p| p.render()).collect();
    println!("I12 window 1 on the live kernel, P0 after MADV_PAGEOUT: {shown:?}");
    // The MADV_FREE data loss (README, "Found in the kernel") happens on
    // the live kernel too: the child, which never called MADV_FREE, reads
    // the zero page after its own MADV_PAGEOUT.
    // The large-folio one (README, "Large folios") too: the child's 16 kB
    // folio is discarded by its own MADV_PAGEOUT.
    for (file, nonce) in [
        ("madv-free-loses-clean-shared-page-pageout-v6.18.rmap", 99),
        ("mthp-madv-free-loses-clean-shared-folio-v6.18.rmap", 97),
    ] {
        let (name, lost) = corpus().into_iter().find(|(n, _)| n.ends_with(file)).expect("the data-loss scenario");
        let o = conform::run_scenario(&mut ex, &lost, None, conform::nonce(nonce)).unwrap();
        assert!(o.divergence.is_none(), "{name}");
        let child = &o.last_kernel.expect("a kernel view").procs[1].pages[0];
        assert_eq!((child.kind, child.value), (Kind::Zero, Some(0)), "{name}: the child's page on the live kernel");
    }
    let corpus_secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut waits = 0;
    // Then random scenarios, without and with large folios (16 kB mTHP, the
    // THP knobs set).
    for (n, mthp) in [(LIVE_RANDOM, Mthp::none()), (LIVE_RANDOM_MTHP, sixteen())] {
        for i in 0..n {
            let sc = random::random_scenario(LIVE_SEED, i, mthp);
            let o = conform::run_scenario(&mut ex, &sc, None, conform::nonce(i)).unwrap();
            if let Some(d) = o.divergence {
                panic!("random scenario {i} (mthp {mthp}) diverges:\n{}\n{}", sc.to_text(), d.report());
            }
            waits += o.ksm_waits.0;
            if let Some((step, why, d)) = &o.unsettled {
                flaky += 1;
                println!(
                    "FLAKY random scenario {i} (mthp {mthp}): ksmd unsettled at step {step} ({why})\n{}",
                    d.report()
                );
            }
        }
    }
    assert!(waits >= 20, "only {waits} ksmd waits in the random scenarios");
    assert!(flaky <= 3, "{flaky} unsettled ksmd waits");
    println!(
        "live conformance: {n} corpus scenarios {corpus_secs:.2} s, {LIVE_RANDOM} + {LIVE_RANDOM_MTHP} mTHP random (seed {LIVE_SEED}) {:.2} s",
        t1.elapsed().as_secs_f64()
    );
}

/// The random scenarios with 16 kB folios go through the large-folio
/// paths often, not once: per branch, the scenarios that take it.
#[test]
fn random_mthp_scenarios_exercise_large_folios() {
    use rmapcheck_model::Branch::*;
    let want = [
        (AnonymousLargeFolio, 120),
        (DeferredSplitQueue, 30),
        (SplitFolio, 50),
        (SplitRemapZeroPage, 40),
        (SwapoutLargeFolio, 30),
        (SwapinLargeFolio, 10),
        (WpReuseLargeFolio, 2),
        (MadviseSplitLarge, 30),
        (MadviseSkipSharedLarge, 10),
        (LazyfreeDiscardBatch, 3),
    ];
    let mut hits = [0u32; 11];
    for i in 0..LIVE_RANDOM_MTHP {
        let sc = random::random_scenario(LIVE_SEED, i, sixteen());
        let cfg = conform::config(&sc, None);
        let (mut s, mut seen) = (State::new(cfg.pages, false), 0u128);
        for (k, st) in sc.steps.iter().enumerate() {
            let mut ctx = Ctx::new(&cfg, false);
            if step(&s, st.action, &mut ctx).is_ok() {
                seen |= ctx.branches;
            }
            s = conform::conform_step(&cfg, &s, st.action, k, true).unwrap().remove(0);
        }
        for (j, (b, _)) in want.iter().enumerate() {
            hits[j] += u32::from(seen & (1 << *b as u32) != 0);
        }
    }
    let report: Vec<String> = want.iter().zip(hits).map(|((b, _), n)| format!("{b:?}={n}")).collect();
    println!("random mTHP scenarios per branch: {}", report.join(" "));
    for ((b, min), n) in want.iter().zip(hits) {
        assert!(n >= *min, "{b:?} in only {n} scenarios: {report:?}");
    }
}

/// The live test's scenarios (the corpus and 300 random ones) drive the
/// model through every kernel branch the executor's vocabulary can reach,
/// so the kernel is compared on each of them. The branches left out need
/// kswapd's `reclaim`/`writeback` (no system call reclaims one chosen
/// folio: README, "What the model leaves out") or an action that is not
/// modelled yet.
#[test]
fn live_scenarios_cover_every_reachable_model_branch() {
    use rmapcheck_model::Branch;
    let mut seen = 0u128;
    let mut run = |sc: &Scenario| {
        // As conformance runs it: a ksmd merge settles (conform_step).
        let cfg = conform::config(sc, None);
        let mut s = State::initial(&cfg);
        let mut settled = false;
        for (i, st) in sc.steps.iter().enumerate() {
            let mut ctx = Ctx::new(&cfg, false);
            if step(&s, st.action, &mut ctx).is_ok() {
                seen |= ctx.branches;
            }
            s = conform::conform_step(&cfg, &s, st.action, i, settled).unwrap().remove(0);
            settled |= matches!(st.action, Action::KsmMerge { .. });
        }
    };
    corpus()
        .iter()
        .filter(|(_, sc)| {
            conform::unsupported(sc).is_none() && sc.kernel == rmapcheck_model::Kernel::V6_18 && sc.mutant.is_none()
        })
        .for_each(|(_, sc)| run(sc));
    (0..LIVE_RANDOM).for_each(|i| run(&random::random_scenario(LIVE_SEED, i, Mthp::none())));
    (0..LIVE_RANDOM_MTHP).for_each(|i| run(&random::random_scenario(LIVE_SEED, i, sixteen())));
    let unreachable = UNREACHABLE_LIVE;
    let missed: Vec<&str> = Branch::ALL.iter().filter(|(b, _)| seen & (1 << *b as u32) == 0).map(|(_, n)| *n).collect();
    for &(b, name) in Branch::ALL {
        let hit = seen & (1 << b as u32) != 0;
        assert_eq!(hit, !unreachable.contains(&b), "branch '{name}': covered = {hit}; not covered: {missed:?}");
    }
}
