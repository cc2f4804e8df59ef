//! KSM's counters (model/src/ksm_counters.rs, docs/kernel/ksm.md §9): the
//! model derives them, conformance compares them with the kernel's (from
//! the scenario's start) and leaves them out where they cannot agree
//! (docs/conformance.md §4). Pure computation, well under 0.1 s.

use rmapcheck_conform::compare::differences;
use rmapcheck_conform::observe::View;
use rmapcheck_conform::proto::{KProc, KernelSnap};
use rmapcheck_model::ksm_counters::{ksm_counters, ksm_merging_pages, KsmCounters};
use rmapcheck_model::{step, Ctx, Scenario, State};

/// The model states after each step of `text` (index 0 = initial).
fn states(text: &str) -> Vec<State> {
    let sc = Scenario::parse(text, "t").unwrap();
    let cfg = sc.config();
    let mut out = vec![State::new(cfg.pages, false)];
    for st in &sc.steps {
        let next = step(out.last().unwrap(), st.action, &mut Ctx::new(&cfg, false)).unwrap();
        out.push(next);
    }
    out
}

fn counters(shared: i64, sharing: i64, zero: i64) -> KsmCounters {
    KsmCounters { pages_shared: shared, pages_sharing: sharing, ksm_zero_pages: zero }
}

const FORK_MERGE: &str = "expect: holds\npages: 2\nprocs: 2\nP0 mmap 0 2 rw\nP0 madv_mergeable 0 2\n\
    P0 write 0 5\nP0 write 1 5\nksmd merge P0 0 P0 1\nP0 fork\nksmd merge P1 0 P0 0\nP1 exit\nksmd drop P1 0\n";

#[test]
fn stable_tree_appends_count_one_shared_and_the_rest_sharing_until_ksmd_drops_them() {
    let st = states(FORK_MERGE);
    // After the merge: one stable node, two rmap_items of P0.
    assert_eq!((ksm_counters(&st[5]), ksm_merging_pages(&st[5], 0)), (counters(1, 1, 0), 2));
    // fork: the child starts at 0 (it has no rmap_items yet).
    assert_eq!((ksm_counters(&st[6]), ksm_merging_pages(&st[6], 1)), (counters(1, 1, 0), 0));
    assert_eq!((ksm_counters(&st[7]), ksm_merging_pages(&st[7], 1)), (counters(1, 2, 0), 1));
    // Exit leaves the child's rmap_item (and its count) to ksmd.
    assert_eq!(ksm_counters(&st[8]), counters(1, 2, 0));
    assert_eq!((ksm_counters(&st[9]), ksm_merging_pages(&st[9], 1)), (counters(1, 1, 0), 0));
}

#[test]
fn the_global_ksm_zero_pages_keeps_what_uffd_move_leaked_after_exit() {
    let text = "expect: holds\nuse_zero_pages: yes\npages: 4\nP0 mmap 0 4 rw\nP0 madv_mergeable 0 4\n\
        P0 write 0 0\nP0 write 1 0\nksmd merge P0 0 zero\nksmd merge P0 1 zero\nP0 uffd_move 0 2\nP0 exit\n";
    let st = states(text);
    assert_eq!(ksm_counters(&st[6]), counters(0, 0, 2));
    assert_eq!(ksm_counters(&st[7]), counters(0, 0, 2), "the moved page stays counted");
    assert_eq!(ksm_counters(&st[8]), counters(0, 0, 1), "exit counts the other out, not the moved one");
}

#[test]
fn conformance_compares_the_counters_unless_told_to_forget_them() {
    let st = states(FORK_MERGE);
    let model = View::of_model(Some(&st[4]), &st[5]);
    assert_eq!(model.ksm, Some([1, 1, 0]));
    // A kernel view that agrees on everything but the counters.
    let mut kernel = model.clone();
    kernel.ksm = Some([2, 2, 0]);
    kernel.procs[0].ksm_merging_pages = Some(3);
    let diffs = differences(&model, &kernel);
    assert!(
        diffs.contains(
            &"KSM counters: model ksm shared 1 sharing 1 zero 0, kernel ksm shared 2 sharing 2 zero 0".into()
        ),
        "{diffs:?}"
    );
    assert!(diffs.contains(&"P0: ksm_merging_pages: model 2, kernel 3".into()), "{diffs:?}");
    assert_eq!(diffs.len(), 2, "{diffs:?}");
    let mut forgot = model.clone();
    forgot.forget_ksm_counts();
    assert!(differences(&forgot, &kernel).is_empty());
    // The executor's snapshot carries both into the kernel's view.
    let snap = KernelSnap {
        procs: vec![KProc { alive: true, ksm_merging_pages: Some(4), ..KProc::default() }],
        ksm: Some([1, 2, 3]),
        ..KernelSnap::default()
    };
    let k = View::of_kernel(None, &snap, 0);
    assert_eq!((k.ksm, k.procs[0].ksm_merging_pages), (Some([1, 2, 3]), Some(4)));
}
