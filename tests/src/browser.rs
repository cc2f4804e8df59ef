//! A headless Chromium (Debian package `chromium`) driven through the
//! DevTools protocol over a pipe (`--remote-debugging-pipe`: JSON messages
//! ending in NUL on file descriptors 3 and 4), so the tests need no driver
//! binary, no WebSocket and no debugging port.

use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// How long one protocol call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One browser with one page.
pub struct Browser {
    child: Child,
    to: File,
    from: Receiver<Value>,
    next: u64,
    session: String,
    profile: std::path::PathBuf,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints; O_CLOEXEC keeps these ends
    // out of the browser (it gets its own copies as fds 3 and 4).
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    (fds[0], fds[1])
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and opens one page.
    /// Panics with the install command when Chromium is missing.
    pub fn launch() -> Browser {
        let (to_read, to_write) = pipe();
        let (from_read, from_write) = pipe();
        static LAUNCHED: AtomicU64 = AtomicU64::new(0);
        let n = LAUNCHED.fetch_add(1, Ordering::Relaxed);
        let profile = std::env::temp_dir().join(format!("rmapcheck-chromium-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--remote-debugging-pipe",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork
        // and exec. Copy both ends above 10 first so that the dup2 onto 3
        // cannot close the other one.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::fcntl(to_read, libc::F_DUPFD, 10);
                let w = libc::fcntl(from_write, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start chromium (apt-get install -y chromium): {e}"));
        // SAFETY: these descriptors came from pipe2 above and are owned here.
        let (to, from) = unsafe {
            libc::close(to_read);
            libc::close(from_write);
            (File::from_raw_fd(to_write), File::from_raw_fd(from_read))
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(from);
            let mut buf = Vec::new();
            while r.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
                buf.clear();
            }
        });
        let mut b = Browser { child, to, from: rx, next: 0, session: String::new(), profile };
        let target = b.call("Target.createTarget", json!({ "url": "about:blank" }));
        let id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = b.call("Target.attachToTarget", json!({ "targetId": id, "flatten": true }));
        b.session = attached["sessionId"].as_str().expect("sessionId").to_string();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        // The window size includes what headless keeps for browser chrome;
        // fix the page's own size.
        let size = json!({ "width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false });
        b.call("Emulation.setDeviceMetricsOverride", size);
        b
    }

    /// Sends one command (to the page once attached) and returns its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self.from.recv_timeout(left).unwrap_or_else(|e| panic!("chromium did not answer {method}: {e}"));
            if m["id"].as_u64() == Some(id) {
                assert!(m.get("error").is_none(), "{method} failed: {}", m["error"]);
                return m["result"].clone();
            }
        }
    }

    /// Opens `url` and waits until the document has loaded.
    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_for("document.readyState === 'complete'");
    }

    /// The value of a JavaScript expression in the page.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r =
            self.call("Runtime.evaluate", json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }));
        assert!(r.get("exceptionDetails").is_none(), "{expr} threw: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }

    /// The text of the first element matching `selector`.
    pub fn text(&mut self, selector: &str) -> String {
        let q = serde_json::to_string(selector).expect("json");
        self.eval(&format!("(document.querySelector({q}) || {{}}).textContent || ''"))
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits until `expr` is true in the page.
    pub fn wait_for(&mut self, expr: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while self.eval(&format!("!!({expr})")) != json!(true) {
            assert!(Instant::now() < deadline, "timed out waiting for {expr}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Presses and releases a key, as the keyboard does (`ArrowRight`,
    /// `Home`, `End`, ...).
    pub fn key(&mut self, key: &str) {
        let code = match key {
            "ArrowLeft" => 37,
            "ArrowUp" => 38,
            "ArrowRight" => 39,
            "ArrowDown" => 40,
            "Home" => 36,
            "End" => 35,
            "Backspace" => 8,
            _ => 0,
        };
        for kind in ["rawKeyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code }),
            );
        }
    }

    /// Clicks the middle of the first element matching `selector` with the
    /// mouse.
    pub fn click(&mut self, selector: &str) {
        let q = serde_json::to_string(selector).expect("json");
        let r = self.eval(&format!(
            "(() => {{ const e = document.querySelector({q}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = match r.as_array() {
            Some(xy) => (xy[0].as_f64().unwrap_or(0.0), xy[1].as_f64().unwrap_or(0.0)),
            None => panic!("no element matches {selector}"),
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64_decode(r["data"].as_str().expect("screenshot data"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Opens the trace viewer page at `file` and steps through its `steps`
/// steps with the keyboard, checking at each one that the page shows that
/// step's picture and action; ends on the last step, whose violation of
/// `invariant` the header names.
pub fn step_through_viewer(b: &mut Browser, file: &std::path::Path, steps: usize, invariant: &str) {
    b.goto(&format!("file://{}", file.display()));
    assert_eq!(b.text("#pos"), format!("step 0 / {steps}"));
    assert!(b.text("#verdict").contains(invariant), "{}", b.text("#verdict"));
    for i in 1..=steps {
        b.key("ArrowRight");
        assert_eq!(b.text("#pos"), format!("step {i} / {steps}"));
        let shown = b.eval(
            "[...document.querySelectorAll('#pictures .state')].filter(s => !s.hidden).map(s => +s.dataset.step)",
        );
        assert_eq!(shown, json!([i]), "exactly the picture of step {i} is shown");
        let listed = b.text("#steps li.current b");
        assert!(listed.starts_with(&b.text("#action")), "step {i}: list says {listed}");
    }
    // Past the end nothing moves; Left goes back; Home and End jump.
    b.key("ArrowRight");
    assert_eq!(b.text("#pos"), format!("step {steps} / {steps}"));
    b.key("ArrowLeft");
    assert_eq!(b.text("#pos"), format!("step {} / {steps}", steps - 1));
    b.key("Home");
    assert_eq!(b.text("#pos"), format!("step 0 / {steps}"));
    b.key("End");
    assert_eq!(b.text("#pos"), format!("step {steps} / {steps}"));
}

/// Standard base64 (the protocol's encoding of binary data).
pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {}", c as char),
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).map(val).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, v)| acc | (u32::from(*v) << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The width and height of a PNG, from its IHDR chunk.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&png[16..20]), be(&png[20..24])))
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_padded_and_unpadded() {
        assert_eq!(super::base64_decode("aGVsbG8="), b"hello");
        assert_eq!(super::base64_decode("aGVsbG8h"), b"hello!");
        assert_eq!(super::base64_decode("aA=="), b"h");
    }
}
