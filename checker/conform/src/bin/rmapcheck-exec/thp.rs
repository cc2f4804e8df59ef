//! The transparent hugepage knobs a large-folio (mTHP) scenario needs:
//! anonymous 16 kB folios for VMAs with MADV_HUGEPAGE only, every other
//! size off, so that other processes on the machine are unaffected (they
//! would have to ask with MADV_HUGEPAGE too) and a fault in a test VMA has
//! one large size to try. The isolate module (isolate.rs, which uses this
//! one) saves the knobs before the run, records them in its state file and
//! restores them on every exit path; [`enable`] sets them at the first
//! scenario that asks.

use crate::sys::{read_file, write_file};

/// The THP sysfs directory.
pub const THP_DIR: &str = "/sys/kernel/mm/transparent_hugepage";

/// The knobs, relative to [`THP_DIR`], this kernel has: `enabled`,
/// `defrag` and every `hugepages-<size>kB/enabled` (sizes without an
/// anonymous `enabled` file, like 8 kB, are file-only and left out).
pub fn knobs() -> Vec<String> {
    let mut out: Vec<String> = ["enabled", "defrag"].iter().filter(|k| exists(k)).map(|k| k.to_string()).collect();
    let Ok(dir) = std::fs::read_dir(THP_DIR) else { return Vec::new() };
    let mut sizes: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("hugepages-"))
        .map(|n| format!("{n}/enabled"))
        .filter(|k| exists(k))
        .collect();
    sizes.sort();
    out.extend(sizes);
    out
}

fn exists(knob: &str) -> bool {
    std::path::Path::new(&format!("{THP_DIR}/{knob}")).exists()
}

/// Whether `knob` is one [`knobs`] can return (state-file input is checked).
pub fn valid(knob: &str) -> bool {
    knob == "enabled"
        || knob == "defrag"
        || knob
            .strip_prefix("hugepages-")
            .and_then(|r| r.strip_suffix("kB/enabled"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The current value: the choice in brackets (`always [madvise] never`).
pub fn read(knob: &str) -> Result<String, String> {
    let v = read_file(&format!("{THP_DIR}/{knob}"))?;
    Ok(match (v.find('['), v.find(']')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
        _ => v,
    })
}

/// What a run with large folios sets: 16 kB for MADV_HUGEPAGE VMAs,
/// every other size `never`, the top-level `enabled` and `defrag` at
/// `madvise` (direct compaction for MADV_HUGEPAGE VMAs, so that the 16 kB
/// allocation does not fall back to order 0 on a fragmented machine).
pub fn wanted(knob: &str) -> &'static str {
    match knob {
        "enabled" | "defrag" | "hugepages-16kB/enabled" => "madvise",
        _ => "never",
    }
}

/// Sets every knob to [`wanted`]; the executor calls it before the first
/// scenario with large folios.
pub fn enable(knobs: &[(String, String)]) -> Result<(), String> {
    if !knobs.iter().any(|(k, _)| k == "hugepages-16kB/enabled") {
        return Err(format!("this kernel has no {THP_DIR}/hugepages-16kB/enabled: no anonymous 16 kB mTHP"));
    }
    for (k, _) in knobs {
        write_file(&format!("{THP_DIR}/{k}"), wanted(k))?;
    }
    Ok(())
}
