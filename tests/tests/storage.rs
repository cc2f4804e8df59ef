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
    bfs_spilling(p, threads, frontier_kib, None, keep_going)
}

/// [`bfs`] with at most `candidates_kib` KiB of a level's candidate
/// fingerprints and parent links in memory.
fn bfs_spilling(
    p: &Plan,
    threads: usize,
    frontier_kib: Option<u64>,
    candidates_kib: Option<u64>,
    keep_going: bool,
) -> Outcome {
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
        candidates_kib,
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
    assert_eq!(st.candidates_written, 0, "no memory budget: every candidate array stays in memory");
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

/// A level's candidate fingerprints and links spilled to disk (all of
/// them, or those past 4 KiB a level), with the frontier in memory or
/// spilled too, on one thread or two: the same states, counts and
/// counterexamples as the search that keeps them in memory. (About a
/// second in all, debug build.)
#[test]
fn spilled_candidate_arrays_give_the_same_search_and_counterexamples() {
    let p = plan(Settings::default());
    let memory = bfs(&p, 1, None, false);
    let mut all = 0;
    for (threads, frontier, cands) in [(1, None, 0), (2, None, 0), (2, Some(1), 0), (1, Some(64), 4), (2, None, 4)] {
        let o = bfs_spilling(&p, threads, frontier, Some(cands), false);
        let what = format!("{threads} threads, frontier {frontier:?} KiB, candidates {cands} KiB");
        assert_eq!(
            (o.unique, o.states, o.max_depth, o.stop),
            (memory.unique, memory.states, memory.max_depth, memory.stop),
            "{what}"
        );
        let st = o.storage.unwrap();
        assert!(st.candidates_written > 0 && st.candidates_written.is_multiple_of(16), "{what}: {st:?}");
        if cands == 0 {
            // Every candidate's 16 bytes, on any thread count.
            assert!(all == 0 || all == st.candidates_written, "{what}: {} bytes, {all} before", st.candidates_written);
            all = st.candidates_written;
        } else {
            assert!(st.candidates_written < all, "{what}: 4 KiB a level kept none in memory");
        }
    }
    let p = plan(Settings { mutant: Some("fork-skips-root-ref".into()), ..Settings::default() });
    let first = bfs(&p, 1, None, true);
    assert!(first.found.len() >= 2, "{:?}", first.found);
    for (threads, frontier) in [(1, None), (2, None), (2, Some(1))] {
        let o = bfs_spilling(&p, threads, frontier, Some(0), true);
        assert_eq!(o.found, first.found, "{threads} threads, frontier budget {frontier:?} KiB");
        assert_eq!((o.unique, o.states), (first.unique, first.states));
        assert!(o.storage.unwrap().candidates_written > 0);
    }
}
