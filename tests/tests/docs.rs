//! The README stays true to the code.

use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::{ActionKind, Kernel, Mutant};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

#[test]
fn every_invariant_has_a_row_in_the_readme_table() {
    let text = readme();
    for inv in INVARIANTS {
        let row = format!("| {} | `{}` |", inv.id, inv.name);
        assert!(text.contains(&row), "README lacks the row for {} ({row})", inv.name);
    }
}

#[test]
fn every_action_variant_and_mutant_is_named_in_the_readme() {
    let text = readme();
    for (_, name, _) in ActionKind::ALL {
        assert!(text.contains(name), "README does not mention action {name}");
    }
    for k in Kernel::ALL {
        assert!(text.contains(&format!("`{k}`")), "README does not mention variant {k}");
    }
    for (_, name, _) in Mutant::ALL {
        assert!(text.contains(name), "README does not mention mutant {name}");
    }
}

/// Every tracked text file of the repository (no build output, no .git).
fn repository_texts() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                if !name.starts_with('.') && name != "target" || name == ".ci" {
                    dirs.push(p);
                }
            } else if ["rs", "md", "rmap", "toml", "sh", "py"].iter().any(|x| name.ends_with(&format!(".{x}")))
                || name == "run"
            {
                let rel = p.strip_prefix(&root).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out
}

/// Citations of markdown files under the docs folder, with the `§N` anchor
/// that follows if any.
fn citations(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("docs/") {
        let tail = &rest[i..];
        let len = tail.find(|c: char| !(c.is_ascii_alphanumeric() || "/_-.".contains(c))).unwrap_or(tail.len());
        let path = tail[..len].trim_end_matches('.');
        rest = &tail[len..];
        if !path.ends_with(".md") {
            continue;
        }
        let after = rest.trim_start_matches('`');
        let anchor = after.strip_prefix(" §").map(|a| {
            let n = a.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.')).unwrap_or(a.len());
            a[..n].trim_end_matches('.').to_string()
        });
        out.push((path.to_string(), anchor));
    }
    out
}

#[test]
fn every_docs_citation_resolves_to_a_file_and_section() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut n = 0;
    for (file, text) in repository_texts() {
        for (path, anchor) in citations(&text) {
            n += 1;
            let target = root.join(&path);
            let Ok(doc) = std::fs::read_to_string(&target) else { panic!("{file} cites {path}, which does not exist") };
            if let Some(a) = anchor {
                let found = doc.lines().any(|l| {
                    let h = l.trim_start_matches('#');
                    h.len() < l.len() && (h.starts_with(&format!(" {a} ")) || h.starts_with(&format!(" {a}. ")))
                });
                assert!(found, "{file} cites {path} §{a}, which has no such section");
            }
        }
    }
    assert!(n >= 50, "only {n} docs citations found: is the scan broken?");
}

#[test]
fn nothing_cites_the_notes_outside_the_repository() {
    let notes = [
        ["KERNEL-", "SEMANTICS"].concat(),
        ["CONFORMANCE", ".md"].concat(),
        ["LOOM-", "NOTES"].concat(),
        ["PEERS", ".md"].concat(),
    ];
    for (file, text) in repository_texts() {
        for n in &notes {
            assert!(!text.contains(n.as_str()), "{file} cites {n}, which is not in the repository: cite docs/ instead");
        }
    }
}

#[test]
fn the_docs_citation_scanner_finds_paths_and_anchors() {
    let c = citations("see `docs/kernel/ksm.md` §4 and docs/conformance.md §3.l. or docs/loom.md, docs/x/");
    assert_eq!(
        c,
        vec![
            ("docs/kernel/ksm.md".to_string(), Some("4".to_string())),
            ("docs/conformance.md".to_string(), Some("3.l".to_string())),
            ("docs/loom.md".to_string(), None),
        ]
    );
}
