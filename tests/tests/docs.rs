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
    for (_, name) in Mutant::ALL {
        assert!(text.contains(name), "README does not mention mutant {name}");
    }
}
