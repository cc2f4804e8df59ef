//! `rmapcheck explore`: a web page on 127.0.0.1 to walk the state space by
//! hand. The page keeps the path (the actions taken so far) in its URL;
//! the server replays it on every request through a [`Walk`] and answers
//! with the steps, the picture of the last state, the actions enabled
//! there and any invariant it violates. The server keeps no session state.

use crate::html::{inline_svg, picture, CSS, LEGEND};
use crate::{esc, Trace};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// What the server needs from the model.
pub trait Walk {
    /// The trace of `path` (actions in scenario syntax) from the initial
    /// state, with the actions enabled in its last state; `Err` names the
    /// first step that cannot be taken.
    fn walk(&self, path: &[String]) -> Result<(Trace, Vec<String>), String>;
}

const JS: &str = include_str!("assets/explore.js");

/// Serves requests on `listener` until it fails; `start` is the path the
/// page opens with (a scenario's steps, or none).
pub fn serve(listener: &TcpListener, walk: &dyn Walk, start: &[String]) -> std::io::Result<()> {
    // One bad connection must not stop the server.
    for mut s in listener.incoming().flatten() {
        let _ = handle(&mut s, walk, start);
    }
    Ok(())
}

fn handle(s: &mut TcpStream, walk: &dyn Walk, start: &[String]) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    // Refuse pages of other sites that resolve their name to 127.0.0.1.
    let host = head.lines().find_map(|l| l.strip_prefix("Host: ").or_else(|| l.strip_prefix("host: "))).unwrap_or("");
    let local = ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| host == *h || host.starts_with(&format!("{h}:")));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, kind, body) = if method != "GET" {
        ("405 Method Not Allowed", "text/plain", "only GET".to_string())
    } else if !local {
        ("403 Forbidden", "text/plain", "this server answers requests for 127.0.0.1 only".to_string())
    } else if path == "/" {
        ("200 OK", "text/html; charset=utf-8", page(start))
    } else if path == "/api/view" {
        let steps: Vec<String> = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("path="))
            .map(|p| percent_decode(p).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        match view(walk, &steps) {
            Ok(v) => ("200 OK", "application/json", v),
            Err(e) => ("400 Bad Request", "application/json", json!({ "error": e }).to_string()),
        }
    } else {
        ("404 Not Found", "text/plain", "not found".to_string())
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(reply.as_bytes())?;
    s.write_all(body.as_bytes())?;
    s.flush()
}

/// The JSON answer for one path.
fn view(walk: &dyn Walk, path: &[String]) -> Result<String, String> {
    let (trace, actions) = walk.walk(path)?;
    let n = trace.steps.len();
    let svg = picture(&trace, n)?;
    Ok(json!({
        "steps": trace.steps,
        "svg": inline_svg(&svg),
        "actions": actions,
        "violation": trace.violation,
        "kernel": trace.kernel.to_string(),
        "title": trace.title,
    })
    .to_string())
}

/// `%XX` escapes and `+` as a space, as browsers encode query strings.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => {
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The explorer page; its script asks `/api/view` for every path.
fn page(start: &[String]) -> String {
    let start = esc(&serde_json::to_string(start).unwrap_or_else(|_| "[]".into()));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rmapcheck explore</title>\
         <style>{CSS}</style></head>\n<body data-start=\"{start}\" data-depth=\"0\" data-loading=\"1\">\n\
         <header><h1>rmapcheck explore</h1><div class=\"kernel\" id=\"kernel\"></div>\
         <div id=\"violations\"></div><div id=\"error\"></div></header>\n\
         <main><nav id=\"steps\"><ol start=\"0\" id=\"path\"></ol></nav>\n\
         <section id=\"view\"><div id=\"bar\"><button id=\"back\" title=\"undo the last action (Backspace)\">&#9664; back</button>\
         <button id=\"restart\" title=\"back to the start\">restart</button><span id=\"pos\"></span>\
         <span class=\"keys\">click an action on the right; Backspace goes back</span></div>\
         <div id=\"narration\"></div>\n{LEGEND}\n<div id=\"picture\"></div></section>\n\
         <aside id=\"actions\"><input id=\"filter\" placeholder=\"filter actions, e.g. P1 or fork\"><div id=\"list\"></div></aside></main>\n\
         <script>{JS}</script>\n</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_what_encode_uri_component_writes() {
        assert_eq!(percent_decode("P0%20mmap%200%202%20rw%0AP0+fork"), "P0 mmap 0 2 rw\nP0 fork");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
