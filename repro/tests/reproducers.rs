//! The shipped reproducers (findings/*.c) are what `rmapcheck repro`
//! writes, compile with `cc`, and show the bugs on a live kernel (root,
//! zram, KSM); a control scenario shows the correct behaviour (exit 0). The
//! runtime takes the conformance executor's lock and state file.

use rmapcheck_model::Scenario;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (scenario, shipped reproducer, exit status on this kernel).
const CASES: [(&str, Option<&str>, i32); 6] = [
    ("madv-free-loses-clean-shared-page-pageout-v6.18.rmap", Some("madv-free-clean-shared-folio.c"), 1),
    ("mthp-madv-free-loses-clean-shared-folio-v6.18.rmap", Some("madv-free-clean-shared-folio-mthp.c"), 1),
    ("mthp-madv-free-half-shared-left.rmap", None, 0),
    ("madv-free-ksm-merge-into-lazyfree-page-v6.18.rmap", Some("madv-free-clean-shared-folio-ksm-merge.c"), 1),
    ("ksm-in-place-page-escapes-pageout-v6.18.rmap", Some("ksm-rmap-incomplete.c"), 1),
    ("madv-free-ksm-unshare-copy-keeps-data.rmap", None, 0),
];

fn generate(scenario: &str) -> String {
    let name = format!("scenarios/{scenario}");
    let text = std::fs::read_to_string(root().join(&name)).unwrap();
    rmapcheck_repro::generate(&Scenario::parse(&text, &name).unwrap(), &name).unwrap()
}

#[test]
fn the_shipped_reproducers_are_what_rmapcheck_repro_writes() {
    for (scenario, shipped, _) in CASES {
        let Some(c) = shipped else { continue };
        let on_disk = std::fs::read_to_string(root().join("findings").join(c)).unwrap();
        assert!(
            on_disk == generate(scenario),
            "findings/{c} is stale: rmapcheck repro scenarios/{scenario} -o findings/{c}"
        );
    }
}

/// Compiles each reproducer into `dir`; `None` without a C compiler.
fn compile_all(dir: &Path) -> Option<Vec<(PathBuf, i32)>> {
    if Command::new("cc").arg("--version").output().is_err() {
        println!("SKIPPED compiling reproducers: no `cc`");
        return None;
    }
    let mut out = Vec::new();
    for (scenario, _, want) in CASES {
        let src = dir.join(scenario.replace(".rmap", ".c"));
        let exe = dir.join(scenario.replace(".rmap", ""));
        std::fs::write(&src, generate(scenario)).unwrap();
        let r = Command::new("cc").args(["-O2", "-Wall", "-o"]).arg(&exe).arg(&src).output().unwrap();
        assert!(r.status.success(), "{scenario}: cc failed:\n{}", String::from_utf8_lossy(&r.stderr));
        assert!(r.stderr.is_empty(), "{scenario}: cc warned:\n{}", String::from_utf8_lossy(&r.stderr));
        out.push((exe, want));
    }
    Some(out)
}

/// Why the reproducers cannot run here, if they cannot.
fn cannot_run() -> Option<String> {
    // SAFETY: plain system call.
    if unsafe { libc_geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new("/proc/kpageflags").exists() {
        return Some("no /proc/kpageflags".into());
    }
    if !Path::new("/sys/kernel/mm/ksm/run").exists() {
        return Some("no KSM".into());
    }
    if !Path::new("/sys/class/zram-control").exists() && !Path::new("/sys/block/zram0").exists() {
        return Some("no zram (modprobe zram)".into());
    }
    None
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn the_reproducers_compile_and_show_the_bugs_on_the_live_kernel() {
    let dir = std::env::temp_dir().join(format!("rmapcheck-repro-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some(exes) = compile_all(&dir) else { return };
    if let Some(why) = cannot_run() {
        println!("SKIPPED running the reproducers: {why}");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    for (exe, want) in exes {
        let r = Command::new(&exe).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(want), "{}:\n{err}", exe.display());
        if want == 1 {
            assert!(err.contains("BUG: "), "{err}");
        }
        assert!(err.contains("repro: set up: swap on /dev/zram"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value of `const NAME: T = VALUE;` in a Rust file, or of `#define
/// NAME VALUE` in C, with number suffixes, digit separators and
/// parentheses taken away.
fn constant(text: &str, name: &str) -> Option<String> {
    let v = text.lines().find_map(|l| {
        let l = l.trim_start().trim_start_matches("pub ");
        l.strip_prefix(&format!("const {name}:"))
            .and_then(|r| Some(r.split_once('=')?.1.trim().trim_end_matches(';')))
            .or_else(|| l.strip_prefix(&format!("#define {name} ")))
    })?;
    Some(v.replace(['_', '(', ')'], "").replace("UL", "").replace("u64", "").trim().to_string())
}

#[test]
fn the_runtime_shares_the_conformance_executors_lock_state_and_settings() {
    // A reproducer and `rmapcheck conform` must take the same lock and read
    // each other's state file, or one would not restore what a killed run
    // of the other left behind.
    let c = std::fs::read_to_string(root().join("repro/src/runtime.c")).unwrap();
    let exec = root().join("checker/conform/src");
    let cases = [
        (
            "bin/rmapcheck-exec/isolate.rs",
            ["LOCK_FILE", "STATE_FILE", "PAGE_CLUSTER", "SWAP_PRIORITY", "DISKSIZE"].as_slice(),
        ),
        ("bin/rmapcheck-exec/ksmd.rs", &["KSM_DIR"]),
        ("bin/rmapcheck-exec/thp.rs", &["THP_DIR"]),
        ("proto.rs", &["WINDOW_BASE", "NONCE_OFFSET"]),
    ];
    for (file, names) in cases {
        let rust = std::fs::read_to_string(exec.join(file)).unwrap();
        for name in names {
            let want = constant(&rust, name).unwrap_or_else(|| panic!("{file} has no {name}"));
            assert_eq!(constant(&c, name).as_deref(), Some(want.as_str()), "runtime.c's {name} differs from {file}'s");
        }
    }
    // The KSM knobs, set in the same order with the same values.
    let isolate = std::fs::read_to_string(exec.join("bin/rmapcheck-exec/isolate.rs")).unwrap();
    let start = isolate.find("KSM_KNOBS: [").expect("KSM_KNOBS in isolate.rs");
    let rust_knobs: String = isolate[start..].split_once("];").unwrap().0.split_once("= [").unwrap().1.into();
    let start = c.find("ksm_knobs[][2] = {").expect("ksm_knobs in runtime.c");
    let c_knobs: String = c[start..].split_once("};").unwrap().0.split_once("= {").unwrap().1.into();
    let pairs = |s: &str| s.split('"').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(pairs(&c_knobs), pairs(&rust_knobs), "runtime.c's KSM knobs differ from isolate.rs's");
    assert_eq!(pairs(&c_knobs).len(), 12);
}
