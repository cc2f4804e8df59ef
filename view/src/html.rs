//! One self-contained HTML page for a trace: the steps in kernel
//! vocabulary, a picture of the state after each step, keyboard navigation,
//! the violated invariant with its objects. Everything is inline (SVG, CSS,
//! JS): the file opens from disk with no network.

use crate::marks::marks;
use crate::picture::{dot, Scene};
use crate::{esc, svg, Trace};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The style sheet the viewer and the explorer share.
pub const CSS: &str = include_str!("assets/viewer.css");
const JS: &str = include_str!("assets/viewer.js");

/// What the colours of the pictures mean.
pub const LEGEND: &str = "<div class=\"legend\">\
<span><i style=\"background:#fff0a0\"></i>changed by this step</span>\
<span><i style=\"background:#ffd9d9;border:2px solid #d00000\"></i>named by the violated invariant</span>\
<span><i style=\"background:#eeeeee;border:1px dashed #999\"></i>freed / exited</span>\
<span><b style=\"color:#1f5fbf\">&#8594;</b> vma-&gt;anon_vma</span>\
<span><b>&#8594;</b> anon_vma-&gt;parent</span>\
<span><b style=\"color:#7a3fa0\">&#8594;</b> folio-&gt;mapping</span>\
<span><b style=\"color:#2a7a2a\">&#8594;</b> PTE maps folio</span>\
<span><b style=\"color:#a05a00\">&#8594;</b> swap PTE</span>\
<span><b style=\"color:#d00000\">&#8674;</b> AVC (chain link) of a named VMA</span></div>";

/// The SVG picture of the state after `i` steps of `trace`.
pub fn picture(trace: &Trace, i: usize) -> Result<String, String> {
    svg::render(&picture_dot(trace, i)).map(|s| inline_svg(&s))
}

/// The Graphviz DOT picture of the state after `i` steps of `trace`. Only
/// the last state carries the violation's marks: it is the one that
/// violates.
pub fn picture_dot(trace: &Trace, i: usize) -> String {
    let none = BTreeSet::new();
    let named = match &trace.violation {
        Some(v) if i == trace.steps.len() => marks(&v.objects),
        _ => none,
    };
    let scene = Scene {
        state: trace.state(i),
        prev: i.checked_sub(1).map(|p| trace.state(p)),
        kernel: trace.kernel,
        marks: &named,
    };
    dot(&scene)
}

/// Graphviz numbers its elements `node1`, `edge1`, ... in every picture;
/// several pictures in one page must not repeat ids.
pub fn inline_svg(svg: &str) -> String {
    svg.replace(" id=\"", " data-id=\"")
}

/// The whole page.
pub fn page(trace: &Trace) -> Result<String, String> {
    let n = trace.steps.len();
    let mut steps = String::from("<li data-step=\"0\"><b>initial state</b></li>\n");
    for (i, st) in trace.steps.iter().enumerate() {
        // A fork's first line names the child: `P2 fork -> P3`.
        let (head, rest) = match st.narration.split_first() {
            Some((h, rest)) if h.starts_with("->") => (format!("{} {h}", st.action), rest),
            _ => (st.action.clone(), &st.narration[..]),
        };
        let _ = write!(steps, "<li data-step=\"{}\"><b>{}</b>", i + 1, esc(&head));
        for line in rest {
            let _ = write!(steps, "<div class=\"narr\">{}</div>", esc(line));
        }
        if !st.changed.is_empty() {
            let _ = write!(
                steps,
                "<details><summary>{} object{} changed</summary><pre>{}</pre></details>",
                st.changed.len(),
                if st.changed.len() == 1 { "" } else { "s" },
                esc(&st.changed.join("\n"))
            );
        }
        steps.push_str("</li>\n");
    }
    let mut pictures = String::new();
    for i in 0..=n {
        let _ = writeln!(
            pictures,
            "<div class=\"state\" data-step=\"{i}\" hidden>{}<pre class=\"dot\" hidden>{}</pre></div>",
            picture(trace, i)?,
            esc(&picture_dot(trace, i))
        );
    }
    let verdict = match &trace.violation {
        Some(v) => format!(
            "<div id=\"verdict\" class=\"violated\">VIOLATED <b>{}</b> after step {n}: {}<div class=\"desc\">{}: {}</div></div>",
            esc(&v.invariant),
            esc(&v.objects),
            esc(&v.invariant),
            esc(&v.description)
        ),
        None => format!("<div id=\"verdict\" class=\"holds\">every invariant holds after step {n}</div>"),
    };
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{CSS}</style></head>\n<body data-steps=\"{n}\">\n\
         <header><h1>{title}</h1><div class=\"kernel\">kernel {kernel}</div>{verdict}</header>\n\
         <main><nav id=\"steps\"><ol start=\"0\">\n{steps}</ol></nav>\n\
         <section id=\"view\"><div id=\"bar\"><button id=\"prev\" title=\"previous step (Left, k)\">&#9664;</button>\
         <span id=\"pos\"></span><button id=\"next\" title=\"next step (Right, j, space)\">&#9654;</button>\
         <span id=\"action\"></span><span class=\"keys\">save this picture: <a id=\"save-svg\">SVG</a> \
         <a id=\"save-dot\">DOT</a> &middot; keys: &#8592; &#8594; j k Home End</span></div>\
         <div id=\"narration\"></div>\n{LEGEND}\n<div id=\"pictures\">\n{pictures}</div></section></main>\n\
         <script>{JS}</script>\n</body></html>\n",
        title = esc(&trace.title),
        kernel = trace.kernel,
    ))
}
