//! The Informal Trace Format (ITF, Apalache ADR-015, as Quint writes it):
//! a trace as JSON that ITF viewers and scripts read.
//!
//! Each state's variables are the [`State`]'s fields, encoded through serde
//! so that a field added to the model is exported without a change here:
//!
//! | Rust | ITF |
//! |---|---|
//! | struct | record `{ "field": ... }` |
//! | `Vec`, `ArrayVec` (the object tables, indexed by id from 0 as Quint's lists are; VMA lists; chains in kernel list order) | list `[ ... ]` |
//! | map | `{ "#map": [[key, value], ...] }` |
//! | tuple | `{ "#tup": [ ... ] }` |
//! | `Option` | Quint's option: `{ "tag": "Some", "value": v }`, `{ "tag": "None", "value": {} }` |
//! | enum | Quint's sum type: `{ "tag": "Present", "value": { "folio": 0, ... } }` |
//! | integers | JSON numbers (all are small) |
//!
//! Each state's `#meta` has its `index`; a variable `mbt::actionTaken`
//! (the name Quint's `--mbt` traces use) holds the step's action. The
//! trace's `#meta` names the kernel, the source and the violated invariant.
//! [`from_itf`] reads such a trace back into the states.

mod de;
mod ser;

use crate::Trace;
use rmapcheck_model::State;
use serde_json::{json, Map, Value as Json};

pub use de::from_itf_value;
pub use ser::to_itf_value;

/// The variable that holds the action that led to each state.
pub const ACTION_VAR: &str = "mbt::actionTaken";

/// The trace as an ITF JSON document.
pub fn to_itf(trace: &Trace) -> Result<Json, String> {
    let mut meta = Map::new();
    meta.insert("format".into(), json!("ITF"));
    meta.insert("format-description".into(), json!("https://apalache-mc.org/docs/adr/015adr-trace.html"));
    meta.insert("source".into(), json!(trace.title));
    meta.insert("description".into(), json!(format!("rmapcheck trace, kernel {}", trace.kernel)));
    meta.insert("kernel".into(), json!(trace.kernel.to_string()));
    if let Some(v) = &trace.violation {
        meta.insert("invariant".into(), json!(v.invariant));
        meta.insert("violation".into(), json!(v.objects));
    }
    let mut vars = vec![ACTION_VAR.to_string()];
    let mut states = Vec::new();
    for i in 0..=trace.steps.len() {
        let Json::Object(fields) = to_itf_value(trace.state(i)).map_err(|e| format!("ITF export: {e}"))? else {
            return Err("ITF export: a state is not a record".into());
        };
        if i == 0 {
            vars.extend(fields.keys().cloned());
        }
        let mut s = Map::new();
        s.insert("#meta".into(), json!({ "index": i }));
        let action = if i == 0 { "init".to_string() } else { trace.steps[i - 1].action.clone() };
        s.insert(ACTION_VAR.into(), json!(action));
        s.extend(fields);
        states.push(Json::Object(s));
    }
    Ok(json!({ "#meta": meta, "vars": vars, "states": states }))
}

/// The states and the actions taken of an ITF trace written by [`to_itf`]
/// (the first action is `init`). `Err` names what does not fit.
pub fn from_itf(doc: &Json) -> Result<Vec<(String, State)>, String> {
    let states = doc.get("states").and_then(Json::as_array).ok_or("ITF: no 'states' list")?;
    let mut out = Vec::new();
    for (i, s) in states.iter().enumerate() {
        let Some(fields) = s.as_object() else { return Err(format!("ITF: state {i} is not an object")) };
        let index = fields.get("#meta").and_then(|m| m.get("index")).and_then(Json::as_u64);
        if index != Some(i as u64) {
            return Err(format!("ITF: state {i} has #meta.index {index:?}"));
        }
        let action =
            fields.get(ACTION_VAR).and_then(Json::as_str).ok_or(format!("ITF: state {i} has no {ACTION_VAR}"))?;
        let vars: Map<String, Json> = fields
            .iter()
            .filter(|(k, _)| !k.starts_with('#') && *k != ACTION_VAR)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let state: State = from_itf_value(Json::Object(vars)).map_err(|e| format!("ITF: state {i}: {e}"))?;
        out.push((action.to_string(), state));
    }
    Ok(out)
}
