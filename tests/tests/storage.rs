//! The BFS's compact storage (`docs/storage.md`): a frontier spilled to
//! disk and one kept in memory, one thread and two, give the same states,
//! the same counts and the same counterexamples (the seen set's 16 bytes
//! per state are checked on the pinned configurations, `checker.rs`).

use rmapcheck::explore::Explorer;
use rmapcheck::search::bfs::Bfs;
use rmapcheck::settings::{Plan, Settings};
use rmapcheck::strategy::{Limits, Outcome, Stop, Strategy};
use std::time::Instant;

fn plan(over: Settings) -> Plan {
    Settings::load("anon").unwrap().overlay(Settings { procs: Some(2), ..over }).resolve().unwrap()
}

/// The plan's BFS with `threads` threads and at most `frontier_kib` KiB of
/// frontier in memory.
fn bfs(p: &Plan, threads: usize, frontier_kib: Option<u64>, keep_going: bool) -> Outcome {
    let ex = Explorer::new(p.model.clone(), &p.invariants);
    let limits = Limits {
        threads,
        max_depth: p.max_depth,
        time_limit: None,
        start: Instant::now(),
        max_rss_kib: None,
        seed: 0,
        width: 2,
        keep_going,
        frontier_kib,
        candidates_kib: None,
        shard: None,
    };
    Bfs.run(&ex, &limits, None)
}

#[test]
fn a_spilled_frontier_and_any_thread_count_give_the_same_search() {
    // 7,849 states of about 60 bytes: a 1 KiB budget spills nearly every
    // segment of every level.
    let p = plan(Settings::default());
    let memory = bfs(&p, 1, None, false);
    assert_eq!((memory.unique, memory.states, memory.stop), (7_849, 91_041, Stop::Exhausted));
    let st = memory.storage.unwrap();
    assert_eq!(st.frontier_peak_disk, 0);
    assert!(st.frontier_peak_memory > 0);
    assert_eq!(st.links_bytes, 8 * 7_849, "one 8-byte parent link per state");
    // 64 KiB: some candidates keep their records in memory, the others'
    // new states are regenerated from their parents.
    for (threads, kib) in [(2, None), (1, Some(1)), (2, Some(1)), (1, Some(64)), (2, Some(64))] {
        let o = bfs(&p, threads, kib, false);
        assert_eq!((o.unique, o.states, o.max_depth), (memory.unique, memory.states, memory.max_depth));
        let st = o.storage.unwrap();
        if let Some(kib) = kib {
            assert!(st.frontier_peak_disk > 0, "nothing spilled");
            assert!(st.frontier_peak_memory <= 1024 * (kib + 64), "{} bytes in memory", st.frontier_peak_memory);
        }
    }
}

#[test]
fn counterexamples_are_the_same_spilled_or_not_on_one_thread_or_two() {
    let p = plan(Settings { mutant: Some("fork-skips-root-ref".into()), ..Settings::default() });
    let first = bfs(&p, 1, None, true);
    assert_eq!(first.stop, Stop::Exhausted, "not every invariant breaks");
    assert!(first.found.len() >= 2, "{:?}", first.found);
    for (threads, kib) in [(2, None), (1, Some(1)), (2, Some(1)), (2, Some(64))] {
        let o = bfs(&p, threads, kib, true);
        assert_eq!(o.found, first.found, "{threads} threads, frontier budget {kib:?} KiB");
        assert_eq!((o.unique, o.states), (first.unique, first.states));
    }
}
