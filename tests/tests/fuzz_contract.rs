//! The input contract (`rmapcheck::contract`) on generated inputs, on the
//! stable toolchain: mutated shipped scenarios and hostile TOML
//! configurations, each refused with one line naming file and line, or
//! accepted and run without a panic or a wrong verdict. The same checks as
//! the cargo-fuzz targets in `fuzz/`, with a generator instead of
//! libFuzzer's coverage feedback, for a bounded time in `cargo test`
//! (20 s by default). A longer run:
//!
//! ```sh
//! RMAPCHECK_FUZZ_SECS=1800 RMAPCHECK_FUZZ_SEED=7 cargo test --release -p rmapcheck-tests --test fuzz_contract -- --nocapture
//! ```

use rmapcheck::contract;
use rmapcheck_model::rng::SplitMix64;
use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().filter(|p| p.extension().is_some_and(|x| x == "rmap")).map(|p| std::fs::read(p).unwrap()).collect()
}

/// Bytes and words that break parsers: controls, invalid UTF-8, the
/// format's own separators, extreme numbers.
const NASTY: &[&str] = &[
    "\0",
    "\r",
    "\x1b[31m",
    "\u{85}",
    "\u{202e}",
    ":",
    "=",
    "#",
    "..",
    ",",
    "[",
    "]",
    " ",
    "\t",
    "\n",
    "0",
    "255",
    "256",
    "65535",
    "18446744073709551615",
    "-1",
    "P255",
    "P8",
    "AV255",
    "F256",
    "S99",
    "stable_node7",
    "file reg",
    "shm9",
    "assert",
    "expect: holds",
    "expect: violates I11 at 0",
    "mutant: ksm-reuse-in-place",
    "pages: 8",
    "procs: 1",
    "kernel: v5.19",
    "P0 fork",
    "P0 exit",
    "P0 munmap 0 8",
    "P0 mremap 0 1 7",
    "ksmd merge P0 0 P0 0",
    "kswapd writeback",
    "assert P0 VMA 0..1 chain=[AV0]",
    "assert F0 mapcount=255",
];

fn mutate(rng: &mut SplitMix64, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() as u64 + 1) as usize;
        match rng.below(9) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            1 => b.insert(at, rng.below(256) as u8),
            2 => {
                let w = NASTY[rng.below(NASTY.len() as u64) as usize];
                drop(b.splice(at..at, w.bytes()));
            }
            3 if !b.is_empty() => {
                let end = (at + rng.below(40) as usize).min(b.len());
                b.drain(at.min(end)..end);
            }
            4 => {
                // A line of another scenario, somewhere.
                let other = &seeds[rng.below(seeds.len() as u64) as usize];
                let lines: Vec<&[u8]> = other.split(|&c| c == b'\n').collect();
                let l = lines[rng.below(lines.len() as u64) as usize];
                let at =
                    b.iter().enumerate().filter(|(_, &c)| c == b'\n').map(|(i, _)| i + 1).nth(rng.below(64) as usize);
                let at = at.unwrap_or(b.len());
                drop(b.splice(at..at, l.iter().copied().chain([b'\n'])));
            }
            5 => {
                // A long run of one byte: a letter, or a control character
                // whose escape is six times longer than itself.
                let byte = [b'A', 0, 0x1b, b'\r', 0x7f][rng.below(5) as usize];
                drop(b.splice(at..at, std::iter::repeat_n(byte, 1 + rng.below(3000) as usize)));
            }
            6 => {
                // Many cycles that allocate and free: ids wrap at 256 if nothing compacts them.
                let n = 1 + rng.below(400);
                let mut s = String::new();
                for _ in 0..n {
                    s.push_str("P0 mmap 0 1 rw\nP0 write 0 1\nP0 madv_pageout 0 1\nP0 munmap 0 1\n");
                }
                b.extend_from_slice(s.as_bytes());
            }
            7 => {
                let lines: Vec<Vec<u8>> = b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
                let i = rng.below(lines.len() as u64) as usize;
                let mut out = lines.clone();
                out.insert(i, lines[i].clone());
                b = out.join(&b'\n');
            }
            _ => b.truncate(at),
        }
    }
    b
}

const KEYS: &[&str] = &[
    "kernel",
    "procs",
    "pages",
    "values",
    "swap_slots",
    "files",
    "actions",
    "invariants",
    "strategy",
    "threads",
    "max_depth",
    "time_limit",
    "width",
    "max_memory",
    "seed",
    "ids",
    "symmetry",
    "mutant",
    "colour",
];
const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "8",
    "9",
    "255",
    "256",
    "-1",
    "9223372036854775807",
    "18446744073709551615",
    "1e3",
    "true",
    "\"v6.18\"",
    "\"v5.19\"",
    "\"bfs\"",
    "\"simulate\"",
    "\"novelty\"",
    "\"canonical\"",
    "\"compact\"",
    "\"stable\"",
    "\"\"",
    "\"\\u0000\"",
    "[]",
    "[\"\"]",
    "[\",\"]",
    "[\"mmap\"]",
    "[\"mmap\", \"write\", \"fork\"]",
    "[\"I11\", \"nope\"]",
    "[\"reclaim\"]",
    "\"keep-exclusive-on-fork\"",
    "{}",
    "[[1]]",
];

fn config(rng: &mut SplitMix64) -> Vec<u8> {
    let mut t = String::new();
    for _ in 0..rng.below(6) {
        let k = KEYS[rng.below(KEYS.len() as u64) as usize];
        let v = VALUES[rng.below(VALUES.len() as u64) as usize];
        t.push_str(&format!("{k} = {v}\n"));
    }
    let b = t.into_bytes();
    if rng.below(3) == 0 {
        mutate(rng, &b, std::slice::from_ref(&b))
    } else {
        b
    }
}

#[test]
fn the_input_contract_holds_on_generated_inputs() {
    let secs = env("RMAPCHECK_FUZZ_SECS", 20);
    let seed = env("RMAPCHECK_FUZZ_SEED", 1);
    let seeds = seeds();
    let end = Instant::now() + Duration::from_secs(secs);
    let (mut scenarios, mut configs, mut refused) = (0u64, 0u64, 0u64);
    let mut i = 0u64;
    while Instant::now() < end {
        let mut rng = SplitMix64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.next();
        i += 1;
        let (what, input) = if i.is_multiple_of(4) {
            configs += 1;
            ("config", config(&mut rng))
        } else {
            scenarios += 1;
            let base = &seeds[rng.below(seeds.len() as u64) as usize];
            ("scenario", mutate(&mut rng, base, &seeds))
        };
        let r = if what == "config" { contract::config(&input) } else { contract::scenario(&input) };
        if let Err(e) = r {
            panic!(
                "contract broken by {what} input {i} (RMAPCHECK_FUZZ_SEED={seed}): {e}\ninput: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
        refused += u64::from(std::str::from_utf8(&input).is_err());
    }
    println!("{scenarios} scenarios and {configs} configurations in {secs} s (seed {seed}), {refused} not UTF-8");
    assert!(scenarios > 20 && configs > 5, "too few inputs: {scenarios} scenarios, {configs} configurations");
}

/// The inputs the hardening issue found, kept as regression cases.
#[test]
fn the_issue_s_inputs_keep_the_contract() {
    let mut long = String::from("expect: holds\n");
    for _ in 0..257 {
        long.push_str("P0 mmap 0 1 rw\nP0 write 0 1\nP0 munmap 0 1\n");
    }
    for input in [
        long.as_str(),
        "expect: holds\nexpect: holds\nP0 fork\n",
        "expect: holds\npages: 1\npages: 2\nP0 fork\n",
        "expect: holds\nP0 mmap 0 1 rw\nP0 \0\x1b 1\n",
        "expect: violates I11 at 2\nP0 mmap 0 1 rw\nP0 fork\nP0 teleport\n",
    ] {
        contract::scenario(input.as_bytes()).unwrap();
    }
    contract::scenario(b"expect: holds\n\xff\xfe\n").unwrap();
    for cfg in [
        "invariants = []\n",
        "time_limit = 9223372036854775807\n",
        "max_depth = 9223372036854775807\n",
        "max_memory = 9223372036854775807\n",
    ] {
        contract::config(cfg.as_bytes()).unwrap();
    }
}
