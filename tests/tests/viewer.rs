//! The pictures and the trace viewer: the DOT of the CVE-2022-42703 state,
//! the HTML page in a real headless Chromium (stepping with the keyboard,
//! clicking, a screenshot), and `rmapcheck explore` clicked through in the
//! browser against 127.0.0.1.

use rmapcheck::views::{trace_of, Walker};
use rmapcheck_invariants::INVARIANTS;
use rmapcheck_model::Scenario;
use rmapcheck_tests::browser::{png_size, step_through_viewer, Browser};
use rmapcheck_view::picture::{dot, Scene};
use rmapcheck_view::{html, marks, Trace};
use std::path::PathBuf;

fn cve_trace() -> Trace {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/cve-2022-42703-double-reuse-v5.19.rmap");
    let sc = Scenario::parse(&std::fs::read_to_string(file).unwrap(), file).unwrap();
    let all: Vec<_> = INVARIANTS.iter().collect();
    trace_of(&sc, "cve-2022-42703-double-reuse-v5.19.rmap", &all).unwrap()
}

fn out(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn the_cve_picture_marks_the_double_reuse() {
    let t = cve_trace();
    assert_eq!(t.steps.len(), 11);
    let v = t.violation.as_ref().expect("violation");
    assert_eq!(v.invariant, "same_anon_vma_same_chain");
    let named = marks::marks(&v.objects);
    let g = dot(&Scene { state: t.state(11), prev: Some(t.state(10)), kernel: t.kernel, marks: &named });
    // The forest: AV1 under the root AV0, AV2..AV4 under AV1.
    for edge in ["AV0 -> AV1 [dir=back", "AV1 -> AV2 [dir=back", "AV1 -> AV3 [dir=back", "AV1 -> AV4 [dir=back"] {
        assert!(g.contains(edge), "missing {edge}");
    }
    // Both of P5's VMAs point at AV2, their chains part at AV3 and AV4
    // (the AVCs drawn for the named VMAs), and only those are drawn.
    assert!(g.contains("AV2 -> P5:v0_1 [dir=back, color=\"#1f5fbf\""));
    assert!(g.contains("AV2 -> P5:v2_3 [dir=back, color=\"#1f5fbf\""));
    assert!(g.contains("AV3 -> P5:v0_1 [dir=back, style=dashed"));
    assert!(g.contains("AV4 -> P5:v2_3 [dir=back, style=dashed"));
    assert_eq!(g.matches("label=\"AVC\"").count(), 2);
    // AV2 and the two VMAs are outlined red; the other anon_vmas are not.
    let av = |i: usize| g.lines().find(|l| l.starts_with(&format!("  AV{i} [label="))).unwrap().to_string();
    assert!(av(2).contains("COLOR=\"#d00000\""));
    assert!(!av(1).contains("COLOR=\"#d00000\""));
    let p5 = g.lines().find(|l| l.starts_with("  P5 [label=")).unwrap();
    assert_eq!(p5.matches("PORT=\"v").count(), 2);
    assert_eq!(p5.matches("BORDER=\"3\" COLOR=\"#d00000\"").count(), 3, "P5 and its two VMAs");
    // v5.19 has the degree counter, not v6.0's pair; the exited processes
    // are drawn as such; the fork changed P5 (new) and F0's counts.
    assert!(av(2).contains("degree=2") && !av(2).contains("num_children"));
    assert!(g.contains("P1 exited") && g.contains("P2 exited") && g.contains("P5 (new)"));
    let f0 = g.lines().find(|l| l.starts_with("  F0 [label=")).unwrap();
    assert!(f0.contains("#fff0a0") && f0.contains("mapcount=4"));
}

#[test]
fn the_trace_viewer_steps_through_the_cve_trace_in_a_browser() {
    let t = cve_trace();
    let file = out("cve-run.html");
    std::fs::write(&file, html::page(&t).unwrap()).unwrap();
    let mut b = Browser::launch();
    step_through_viewer(&mut b, &file, 11, "same_anon_vma_same_chain");
    // The last step is the fork that reuses AV2 twice; its picture has
    // P5's VMAs outlined red.
    assert_eq!(b.text("#action"), "P4 fork -> P5");
    let red = b.eval("document.querySelector('.state:not([hidden]) svg').innerHTML.split('#d00000').length - 1");
    assert!(red.as_u64().unwrap() >= 3, "{red}");
    // A click on a step in the list shows it; the URL remembers it.
    b.click("#steps li[data-step='3']");
    assert_eq!(b.text("#pos"), "step 3 / 11");
    assert_eq!(b.eval("location.hash"), "#step=3");
    // The page offers this step's picture as SVG and as DOT.
    assert_eq!(b.eval("document.getElementById('save-dot').download"), "step-3.dot");
    let dot = b.eval("fetch(document.getElementById('save-dot').href).then(r => r.text())");
    assert!(dot.as_str().unwrap().starts_with("digraph state {"), "{dot}");
    let svg = b.eval("fetch(document.getElementById('save-svg').href).then(r => r.text())");
    assert!(svg.as_str().unwrap().starts_with("<svg") && svg.as_str().unwrap().contains("P1 (new)"), "{svg}");
}

#[test]
fn a_screenshot_of_the_viewer_shows_the_last_step() {
    let t = cve_trace();
    let file = out("cve-shot.html");
    std::fs::write(&file, html::page(&t).unwrap()).unwrap();
    let mut b = Browser::launch();
    b.goto(&format!("file://{}#step=11", file.display()));
    assert_eq!(b.text("#pos"), "step 11 / 11");
    let png = b.screenshot();
    std::fs::write(out("cve-viewer.png"), &png).unwrap();
    assert_eq!(png_size(&png), Some((1400, 1000)));
    // A blank or unstyled page compresses to a few KiB; this one has the
    // step list, the header and the picture.
    assert!(png.len() > 100_000, "{} bytes", png.len());
}

#[test]
fn explore_takes_a_scenario_as_written_then_only_enabled_moves() {
    use rmapcheck_view::explore::Walk;
    let cfg = rmapcheck_model::Config { procs: 2, pages: 1, values: 1, ..Default::default() };
    let mut ex = Walker::new(&cfg, &[], "test".into());
    let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // A read of a mapped page changes nothing, so the search never offers it.
    let scenario = path(&["P0 mmap 0 1 rw", "P0 write 0 1", "P0 read 0"]);
    assert!(ex.walk(&scenario).unwrap_err().contains("step 3: 'P0 read 0' is not enabled"));
    ex.start = scenario.iter().map(|a| rmapcheck_model::Action::parse(a).unwrap()).collect();
    let (trace, next) = ex.walk(&scenario).unwrap();
    assert_eq!(trace.steps.len(), 3);
    assert!(next.contains(&"P0 fork".to_string()) && !next.contains(&"P0 read 0".to_string()), "{next:?}");
    // Past the scenario, the same rule as the search again.
    let mut more = scenario.clone();
    more.push("P0 read 0".into());
    assert!(ex.walk(&more).unwrap_err().contains("step 4: 'P0 read 0' is not enabled"));
    // Bad input names the step.
    assert!(ex.walk(&path(&["P9 fork"])).is_err());
    assert!(ex.walk(&path(&["P0 frobnicate"])).unwrap_err().starts_with("step 1:"));
}

#[test]
fn explore_walks_three_actions_in_a_browser() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let cfg = rmapcheck_model::Config { procs: 3, pages: 2, ..Default::default() };
        let ex = Walker::new(&cfg, &[], "test".into());
        rmapcheck_view::explore::serve(&listener, &ex, &[])
    });
    let mut b = Browser::launch();
    b.goto(&url);
    b.wait_for("document.body.dataset.loading === '0'");
    assert_eq!(b.text("#pos"), "depth 0");
    for (i, action) in ["P0 mmap 0 2 rw", "P0 write 1 1", "P0 fork"].iter().enumerate() {
        b.click(&format!("button[data-action='{action}']"));
        b.wait_for(&format!("document.body.dataset.loading === '0' && document.body.dataset.depth === '{}'", i + 1));
        assert_eq!(b.text("#steps li.current b"), *action);
    }
    // After the fork both processes map the written page read-only, and P1
    // is offered actions of its own.
    let svg = b.eval("document.querySelector('#picture svg').textContent").as_str().unwrap().to_string();
    assert!(svg.contains("P1 (new)") && svg.contains("pte 1: F0 ro"), "{svg}");
    assert!(b.text("#list").contains("P1 write 0"));
    assert!(b.text("#narration").contains("anon_vma_fork"));
    // Backspace undoes the fork; a click on the initial state goes back to it.
    b.key("Backspace");
    b.wait_for("document.body.dataset.depth === '2' && document.body.dataset.loading === '0'");
    b.click("#path li[data-step='0']");
    b.wait_for("document.body.dataset.depth === '0' && document.body.dataset.loading === '0'");
    assert!(b.text("#list").contains("P0 mmap 0 2 rw"));
}

#[test]
fn the_picture_shows_a_large_folio_page_by_page() {
    // A 16 kB folio shared by fork; the child unmaps half of it, the parent
    // exits, and the child's write reuses page 0 (one mm maps the folio now):
    // partially mapped, on the deferred split queue, page 0 exclusive.
    let text = "kernel: v6.18\npages: 4\nmthp: 16k\nexpect: holds\n\nP0 mmap 0 4 rw\nP0 write 0 7\nP0 fork\n\
                P1 munmap 2 2\nP0 exit\nP1 write 0 5\n";
    let sc = Scenario::parse(text, "large.rmap").unwrap();
    let all: Vec<_> = INVARIANTS.iter().collect();
    let t = trace_of(&sc, "large.rmap", &all).unwrap();
    let n = t.steps.len();
    let g = dot(&Scene { state: t.state(n), prev: Some(t.state(n - 1)), kernel: t.kernel, marks: &Default::default() });
    let f0 = g.lines().find(|l| l.starts_with("  F0 [label=")).unwrap();
    assert!(f0.contains("F0 order 2 (16 kB)"), "{f0}");
    assert!(f0.contains("large mapcount=2, nr_pages_mapped=2"), "{f0}");
    assert!(f0.contains("partially mapped, on the deferred split queue"), "{f0}");
    // One row per page, each a port; only page 0 is PageAnonExclusive.
    assert!(
        f0.contains("PORT=\"pg0\"><FONT COLOR=\"#000000\">page 0 (index 0): mapcount 1, data 5, PageAnonExclusive<")
    );
    assert!(f0.contains("PORT=\"pg1\"><FONT COLOR=\"#000000\">page 1 (index 1): mapcount 1, data 0<"));
    assert!(f0.contains("page 2 (index 2): mapcount 0, data 0<") && f0.contains("PORT=\"pg3\""));
    // Which PTE maps which page: P1's two PTEs end at pages 0 and 1.
    assert!(g.contains("  P1:p0:s -> F0:pg0 [color=\"#2a7a2a\"];"), "{g}");
    assert!(g.contains("  P1:p1:s -> F0:pg1 [color=\"#2a7a2a\"];"));
    assert!(g.contains("F0.0 w d") && g.contains("F0.1 ro"), "the PTE cells name the page");
}
