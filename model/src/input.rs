//! Reading untrusted input and echoing it in messages: every file the
//! tools read goes through [`read_text`] (a size limit, `file:line` for
//! invalid UTF-8), and every piece of input an error message repeats goes
//! through [`printable`] (control characters escaped, long words elided),
//! so that an error stays one readable line whatever the input was.

use std::io::Read;

/// Largest scenario file read (`rmapcheck run`, `rmapcheck conform`):
/// 8 MiB, some 500,000 steps.
pub const MAX_SCENARIO_BYTES: u64 = 8 << 20;
/// Largest TOML configuration read (`check --config FILE`): 1 MiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Longest run of non-blank characters an error message repeats whole.
const MAX_WORD: usize = 120;
/// Longest error message printed whole, in characters.
const MAX_MESSAGE: usize = 400;

/// Reads the file at `path` as UTF-8 text of at most `max` bytes. Errors
/// name the file, and for invalid UTF-8 the line: `path:LINE: ...`. A
/// device or pipe that never ends (`/dev/zero`) stops at the limit.
pub fn read_text(path: &str, max: u64) -> Result<String, String> {
    let name = printable(path);
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("{name}: larger than the limit of {max} bytes"));
    }
    text_of(bytes, &name)
}

/// `bytes` as UTF-8 text; an error names `file` and the line of the first
/// invalid byte.
pub fn text_of(bytes: Vec<u8>, file: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        format!("{file}:{line}: not UTF-8 text (invalid byte 0x{:02x})", e.as_bytes()[at])
    })
}

/// `s` made safe to print on one line: control characters (newlines and
/// NUL included) written as escapes, each run of non-blank characters
/// longer than 120 elided in the middle, and the whole cut at 400
/// characters. Printable text is left as it is, so applying it twice
/// changes nothing more.
pub fn printable(s: &str) -> String {
    let mut out = String::new();
    for (i, word) in s.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&elide(word));
        if out.chars().count() > MAX_MESSAGE {
            let cut: String = out.chars().take(MAX_MESSAGE - 20).collect();
            return format!("{cut}... (message cut)");
        }
    }
    out
}

/// One word with its control characters escaped, its middle elided when
/// the escaped word is longer than [`MAX_WORD`] (escapes count at their
/// printed length, and are never cut in two).
fn elide(word: &str) -> String {
    let esc = |c: char| -> String {
        if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        }
    };
    let n = word.chars().count();
    if n <= MAX_WORD {
        let e: String = word.chars().map(esc).collect();
        if e.chars().count() <= MAX_WORD {
            return e;
        }
    }
    let mut head = String::new();
    for c in word.chars() {
        if head.chars().count() >= 20 {
            break;
        }
        head.push_str(&esc(c));
    }
    let (mut tail, mut len) = (Vec::new(), 0);
    for c in word.chars().rev() {
        if len >= 12 {
            break;
        }
        let e = esc(c);
        len += e.chars().count();
        tail.push(e);
    }
    tail.reverse();
    format!("{head}...({n} chars)...{}", tail.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_words_elided() {
        assert_eq!(printable("a\0b\nc\x1b"), "a\\u{0}b\\nc\\u{1b}");
        // Escapes count at their printed length: 37 NULs are 222 characters.
        let nuls = printable(&format!("'P{}0'", "\0".repeat(37)));
        assert!(nuls.len() < 80 && nuls.contains("(41 chars)"), "{nuls}");
        let long = "x".repeat(1 << 20);
        let p = printable(&format!("f:1: unknown action '{long}'"));
        assert!(p.len() < 120 && p.contains("(1048578 chars)"), "{p}");
        assert_eq!(printable(&p), p);
        let many = "word ".repeat(1000);
        assert!(printable(&many).ends_with("... (message cut)"));
        assert!(printable(&many).chars().count() <= MAX_MESSAGE);
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let e = text_of(b"a\nb\n\xffc".to_vec(), "f.rmap").unwrap_err();
        assert_eq!(e, "f.rmap:3: not UTF-8 text (invalid byte 0xff)");
        assert_eq!(text_of(b"ok\n".to_vec(), "f").unwrap(), "ok\n");
    }

    #[test]
    fn reads_stop_at_the_limit() {
        let e = read_text("/dev/zero", 1000).unwrap_err();
        assert_eq!(e, "/dev/zero: larger than the limit of 1000 bytes");
        assert!(read_text("/no/such/file", 10).unwrap_err().starts_with("/no/such/file: "));
    }
}
