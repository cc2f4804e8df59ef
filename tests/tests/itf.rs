//! ITF export (`--itf`): every shipped scenario's trace goes to ITF JSON
//! text and back to the same states, and the `itf` crate (the reference
//! Rust reader of Apalache/Quint traces) decodes it into its own types.

use rmapcheck::views::trace_of;
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::{Mapping, Scenario};
use rmapcheck_view::itf::{from_itf, to_itf, ACTION_VAR};
use rmapcheck_view::Trace;
use serde::Deserialize;

fn scenario_trace(path: &std::path::Path) -> Trace {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.display().to_string();
    let sc = Scenario::parse(&text, &name).unwrap();
    let all: Vec<_> = INVARIANTS.iter().collect();
    trace_of(&sc, &name, &all).unwrap()
}

fn scenarios() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn every_scenario_round_trips_through_itf_text() {
    let mut text_of_all = String::new();
    let mut states = 0;
    for file in scenarios() {
        let t = scenario_trace(&file);
        let text = serde_json::to_string(&to_itf(&t).unwrap()).unwrap();
        let back =
            from_itf(&serde_json::from_str(&text).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(back.len(), t.steps.len() + 1, "{}", file.display());
        for (i, (action, state)) in back.iter().enumerate() {
            let want = if i == 0 { "init" } else { t.steps[i - 1].action.as_str() };
            assert_eq!(action, want, "{} state {i}", file.display());
            assert_eq!(state, t.state(i), "{} state {i}", file.display());
        }
        states += back.len();
        text_of_all.push_str(&text);
    }
    assert!(states > 500, "{states} states");
    // The scenarios exercise every encoding: options both ways, each
    // variant kind, records and lists.
    for form in [
        r#"{"tag":"None","value":{}}"#,
        r#"{"tag":"Some","value":"#,
        r#"{"tag":"Anon","value":"#,
        r#"{"tag":"Ksm","value":"#,
        r#"{"tag":"Present","value":{"folio":"#,
        r#"{"tag":"Swap","value":{"slot":"#,
        r#""stable_nodes":[{"kpfn":"#,
        r##""#meta":{"index":0}"##,
    ] {
        assert!(text_of_all.contains(form), "no {form} in any trace");
    }
}

#[test]
fn a_damaged_itf_trace_is_refused_with_the_reason() {
    let t = scenario_trace(&scenarios()[0]);
    let mut doc = to_itf(&t).unwrap();
    doc["states"][1]["#meta"]["index"] = 7.into();
    assert!(from_itf(&doc).unwrap_err().contains("state 1 has #meta.index Some(7)"));
    let mut doc = to_itf(&t).unwrap();
    doc["states"][0]["mms"] = serde_json::json!({"#set": [1]});
    assert!(from_itf(&doc).unwrap_err().starts_with("ITF: state 0:"));
}

/// A reader's own view of part of the state, as an ITF user would write it.
#[derive(Deserialize)]
struct Av {
    root: u8,
    parent: u8,
    refcount: u8,
    degree: u8,
    freed: bool,
}

#[derive(Deserialize, PartialEq, Debug)]
#[serde(tag = "tag", content = "value")]
enum ItfMapping {
    None,
    Anon(u8),
    Ksm(u8),
    File(u8),
}

#[derive(Deserialize)]
struct ItfFolio {
    mapping: ItfMapping,
    mapcount: u8,
    #[serde(with = "itf::de::As::<itf::de::Option::<_>>")]
    swap: Option<u8>,
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "mbt::actionTaken")]
    action: String,
    anon_vmas: Vec<Av>,
    folios: Vec<ItfFolio>,
}

#[test]
fn the_itf_crate_reads_the_cve_trace() {
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/cve-2022-42703-double-reuse-v5.19.rmap");
    let t = scenario_trace(&file);
    let text = serde_json::to_string_pretty(&to_itf(&t).unwrap()).unwrap();
    let read: itf::Trace<Part> = itf::trace_from_str(&text).unwrap();
    assert_eq!(read.meta.format.as_deref(), Some("ITF"));
    assert_eq!(read.meta.other.get("kernel").map(String::as_str), Some("v5.19"));
    assert_eq!(read.meta.other.get("invariant").map(String::as_str), Some("same_anon_vma_same_chain"));
    assert_eq!(read.vars[0], ACTION_VAR);
    assert!(read.vars.iter().any(|v| v == "anon_vmas") && read.vars.iter().any(|v| v == "mms"));
    assert_eq!(read.states.len(), 12);
    for (i, s) in read.states.iter().enumerate() {
        assert_eq!(s.meta.index, Some(i as u64));
        let model = t.state(i);
        assert_eq!(s.value.anon_vmas.len(), model.anon_vmas.len());
        for (a, m) in s.value.anon_vmas.iter().zip(&model.anon_vmas) {
            assert_eq!(
                (a.root, a.parent, a.refcount, a.degree, a.freed),
                (m.root, m.parent, m.refcount, m.degree, m.freed)
            );
        }
        for (f, m) in s.value.folios.iter().zip(&model.folios) {
            let want = match m.mapping {
                Mapping::Anon(a) => ItfMapping::Anon(a),
                Mapping::Ksm(n) => ItfMapping::Ksm(n),
                Mapping::File(f) => ItfMapping::File(f),
                Mapping::None => ItfMapping::None,
            };
            assert_eq!((&f.mapping, f.mapcount, f.swap), (&want, m.mapcount, m.swap));
        }
    }
    assert_eq!(read.states[11].value.action, "P4 fork");
    // The double reuse: AV2's degree is 2 after the last fork.
    assert_eq!(read.states[11].value.anon_vmas[2].degree, 2);
}
