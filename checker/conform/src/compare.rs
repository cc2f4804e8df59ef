//! Comparing the model's and the kernel's [`View`] of one step, and
//! printing both side by side.

use super::observe::{render_pins, render_vmas, Frame, PageView, ProcView, View};

/// Differences between the two views, one line each, empty when they
/// agree. Frame classes are compared as labels (which encode the
/// equivalence classes); frame persistence only where both sides decide it.
pub fn differences(model: &View, kernel: &View) -> Vec<String> {
    let mut out = Vec::new();
    if model.errno != kernel.errno {
        let result = |e: i32| if e == 0 { "0".to_string() } else { format!("errno {e}") };
        out.push(format!("system call result: model {}, kernel {}", result(model.errno), result(kernel.errno)));
    }
    for i in 0..model.files.len().max(kernel.files.len()) {
        let (m, k) = (model.files.get(i), kernel.files.get(i));
        if m != k {
            let show = |f: Option<&super::observe::FileView>| f.map_or("(absent)".to_string(), |f| f.render());
            out.push(format!("file {i}: model {}, kernel {}", show(m), show(k)));
        }
    }
    if let Some(o) = &model.oops {
        out.push(format!("the model oopsed ({o}); the kernel carried on"));
    }
    if let (Some(m), Some(k)) = (model.ksm, kernel.ksm) {
        if m != k {
            out.push(format!("KSM counters: model {}, kernel {}", render_ksm(m), render_ksm(k)));
        }
    }
    let empty = ProcView::default();
    for i in 0..model.procs.len().max(kernel.procs.len()) {
        let (m, k) = (model.procs.get(i).unwrap_or(&empty), kernel.procs.get(i).unwrap_or(&empty));
        if i >= model.procs.len() || i >= kernel.procs.len() {
            out.push(format!("P{i}: exists on one side only"));
            continue;
        }
        if m.ksm_zero_pages != k.ksm_zero_pages {
            out.push(format!("P{i}: ksm_zero_pages: model {}, kernel {}", m.ksm_zero_pages, k.ksm_zero_pages));
        }
        if let (Some(a), Some(b)) = (m.ksm_merging_pages, k.ksm_merging_pages) {
            if a != b {
                out.push(format!("P{i}: ksm_merging_pages: model {a}, kernel {b}"));
            }
        }
        if m.merge_any != k.merge_any {
            out.push(format!("P{i}: MMF_VM_MERGE_ANY: model {}, kernel {}", m.merge_any, k.merge_any));
        }
        if m.alive != k.alive {
            out.push(format!("P{i}: alive: model {}, kernel {}", m.alive, k.alive));
            continue;
        }
        if m.vmas != k.vmas {
            out.push(format!("P{i}: VMAs: model [{}], kernel [{}]", render_vmas(&m.vmas), render_vmas(&k.vmas)));
        }
        if m.pins != k.pins {
            out.push(format!("P{i}: pins see: model {}, kernel {}", render_pins(&m.pins), render_pins(&k.pins)));
        }
        for p in 0..m.pages.len().max(k.pages.len()) {
            let d = PageView::default();
            let (mp, kp) = (m.pages.get(p).unwrap_or(&d), k.pages.get(p).unwrap_or(&d));
            if !page_matches(mp, kp) {
                out.push(format!("P{i} page {p}: model {}, kernel {}", mp.render(), kp.render()));
            }
        }
    }
    out
}

/// `ksm shared 1 sharing 2 zero 0`: the global KSM counters.
fn render_ksm(c: [i64; 3]) -> String {
    format!("ksm shared {} sharing {} zero {}", c[0], c[1], c[2])
}

/// Whether one (process, page) agrees: every compared field equal, no
/// foreign content, and frame persistence consistent. For a KSM page
/// persistence is not compared: which of the merged frames survives
/// depends on ksmd's scan order (docs/conformance.md §3.m), only the structure
/// (frame classes, ksm flag, mapcount) is.
pub fn page_matches(m: &PageView, k: &PageView) -> bool {
    let ksm = m.ksm || k.ksm;
    let frame_ok = ksm || !matches!((m.frame, k.frame), (Frame::Same, Frame::New) | (Frame::New, Frame::Same));
    let strip = |v: &PageView| PageView { frame: Frame::Any, ..v.clone() };
    frame_ok && !k.foreign && strip(m) == strip(k)
}

/// Both views side by side, `*` marking the lines that differ.
pub fn side_by_side(model: &View, kernel: &View) -> String {
    let mut rows: Vec<(String, String, bool)> = Vec::new();
    rows.push((format!("result: {}", model.errno), format!("result: {}", kernel.errno), model.errno != kernel.errno));
    if let Some(o) = &model.oops {
        rows.push((format!("OOPS: {o}"), String::new(), true));
    }
    let empty = ProcView::default();
    for i in 0..model.procs.len().max(kernel.procs.len()) {
        let present = (i < model.procs.len(), i < kernel.procs.len());
        let (m, k) = (model.procs.get(i).unwrap_or(&empty), kernel.procs.get(i).unwrap_or(&empty));
        let head = |ok: bool, p: &ProcView| match (ok, p.alive) {
            (false, _) => format!("P{i}: (absent)"),
            (true, false) => format!("P{i}: exited"),
            (true, true) => format!("P{i}: vmas {}", render_vmas(&p.vmas)),
        };
        let differ = present.0 != present.1 || m.alive != k.alive || m.vmas != k.vmas;
        rows.push((head(present.0, m), head(present.1, k), differ));
        let d = PageView::default();
        for p in 0..m.pages.len().max(k.pages.len()) {
            let (mp, kp) = (m.pages.get(p), k.pages.get(p));
            let show = |x: Option<&PageView>| x.map(|v| format!("  {p}: {}", v.render())).unwrap_or_default();
            let differ = !page_matches(mp.unwrap_or(&d), kp.unwrap_or(&d));
            rows.push((show(mp), show(kp), differ));
        }
        if !m.pins.is_empty() || !k.pins.is_empty() {
            let show = |p: &ProcView| format!("  pins see {}", render_pins(&p.pins));
            rows.push((show(m), show(k), m.pins != k.pins));
        }
    }
    if let (Some(m), Some(k)) = (model.ksm, kernel.ksm) {
        rows.push((render_ksm(m), render_ksm(k), m != k));
    }
    for i in 0..model.files.len().max(kernel.files.len()) {
        let (m, k) = (model.files.get(i), kernel.files.get(i));
        let show =
            |f: Option<&super::observe::FileView>| format!("file {i}: {}", f.map_or("(absent)".into(), |f| f.render()));
        rows.push((show(m), show(k), m != k));
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(5);
    let mut s = format!("  {:<w$} | kernel\n", "model");
    for (a, b, differ) in rows {
        s.push_str(&format!("{} {a:<w$} | {b}\n", if differ { '*' } else { ' ' }));
    }
    s
}
