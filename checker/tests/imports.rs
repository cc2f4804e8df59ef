//! The modules of the checker, of the conformance library and of the
//! executor depend on each other without a cycle: a module names (in code or
//! in a doc link) only modules below it. The checker reads bottom up as
//! explore, strategy, the strategies, search, settings, check; the executor
//! as sys, worker, procs, snapshot, dispatch, ksmd, thp, isolate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `module -> modules it names`, from `crate::x`, `crate::search::y` and
/// `super::y` paths, and for a `mod.rs` its child modules.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut g = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().with_extension("").display().to_string();
        if rel == "main" || rel == "lib" || rel.starts_with("bin") {
            continue;
        }
        let me = rel.trim_end_matches("/mod").replace('/', "::");
        let parent = me.rsplit_once("::").map(|(p, _)| p.to_string());
        let text = std::fs::read_to_string(&f).unwrap();
        let mut deps = BTreeSet::new();
        let names = |after: &str| -> Vec<String> {
            let take = |s: &str| s.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect::<String>();
            let first = take(after);
            let second = after.strip_prefix(&format!("{first}::")).map(take).filter(|s| !s.is_empty());
            vec![first].into_iter().chain(second).collect()
        };
        for (i, _) in text.match_indices("crate::") {
            let n = names(&text[i + 7..]);
            let dep = if n[0] == "search" && n.len() > 1 { format!("search::{}", n[1]) } else { n[0].clone() };
            deps.insert(dep);
        }
        for (i, _) in text.match_indices("super::") {
            let n = names(&text[i + 7..]);
            deps.insert(match &parent {
                Some(p) => format!("{p}::{}", n[0]),
                None => n[0].clone(),
            });
        }
        if rel.ends_with("/mod") {
            for line in text.lines() {
                if let Some(c) = line.trim_start_matches("pub ").strip_prefix("mod ") {
                    deps.insert(format!("{me}::{}", c.trim_end_matches(';')));
                }
            }
        }
        // A module's own items (`crate::search::STRATEGIES` seen from search).
        deps.retain(|d| {
            d != &me && !d.is_empty() && !me.starts_with(&format!("{d}::")) || d.starts_with(&format!("{me}::"))
        });
        deps.remove(&me);
        g.insert(me, deps);
    }
    g
}

fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_and_conformance_modules_have_no_import_cycle() {
    for (src, least) in [("src", 15), ("conform/src", 6), ("conform/src/bin/rmapcheck-exec", 7)] {
        let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join(src));
        assert!(g.len() >= least, "{src}: only {} modules read", g.len());
        assert_eq!(cycle(&g), None, "{src}: import cycle; graph {g:#?}");
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycle(&g), Some(vec!["a".to_string(), "b".to_string(), "a".to_string()]));
}
