//! `rmapcheck repro`: a scenario file becomes a standalone C program that
//! performs the scenario's system calls on the live kernel, in the
//! scenario's processes, and checks the reads the scenario states.
//!
//! The program is one file, libc only (`cc -O2 -o repro repro.c`). Its
//! fixed part (`runtime.c`) sets the machine up as `rmapcheck conform`'s
//! executor does (checker/conform/src/bin/rmapcheck-exec/isolate.rs): the
//! same lock and state files in /run, its own zram swap device at priority
//! 200, page-cluster 0, the KSM knobs with ksmd paused between steps, one
//! CPU for every process with the per-CPU folio batches drained after each
//! step, THP off (PR_SET_THP_DISABLE) or, for a scenario with `mthp: 16k`,
//! the executor's THP knobs (checker/conform/src/bin/rmapcheck-exec/thp.rs:
//! 16 kB folios for MADV_HUGEPAGE VMAs only, every mmap given
//! MADV_HUGEPAGE), and everything restored on every way out (normal end,
//! error, SIGINT/TERM/HUP/QUIT/PIPE; a SIGKILLed run is restored by the
//! next run of either tool). The generated part is one function call per
//! scenario step. Exit 0: every stated read returned what the correct
//! kernel returns; 1: the bug is shown; 2: it could not set up or run.
//!
//! Nothing here touches the machine: this crate only writes text.

use rmapcheck_model::{step, Action, Ctx, Scenario, State, GHOST_OR_ZERO};
use std::fmt::Write as _;

/// The fixed part of every reproducer.
const RUNTIME: &str = include_str!("runtime.c");

/// Writes the C reproducer for `sc`, read from `file` (named in the
/// program and in errors). `Err` is one line, `file:line: why`, for a
/// scenario no system call sequence can reproduce.
pub fn generate(sc: &Scenario, file: &str) -> Result<String, String> {
    if !sc.kernel.is_v6() {
        return Err(format!(
            "{file}:1: written for kernel {}; a reproducer runs on the live kernel, whose rules are v6.18's",
            sc.kernel
        ));
    }
    // Order 2 (16 kB) is the one anonymous mTHP size both the model and
    // this kernel have (hugepages-8kB has no `enabled` file).
    let mthp = match sc.mthp.0 {
        0 => false,
        0b100 => true,
        _ => {
            return Err(format!(
                "{file}:1: mthp: {}: the live kernel has no anonymous 8 kB folios; a reproducer takes only 16k",
                sc.mthp
            ))
        }
    };
    let cfg = sc.config();
    let mut s = State::new(cfg.pages, cfg.symmetry);
    let mut body = String::new();
    let (mut procs, mut ksm, mut checks) = (1u8, false, 0usize);
    for (i, st) in sc.steps.iter().enumerate() {
        let here = |why: String| format!("{file}:{}: '{}': {why}", st.line, st.action);
        let call = c_call(st.action).map_err(here)?;
        // The model checks that the step can run (the reproducer expects
        // every call to succeed) and gives the ghost value of each read.
        s = step(&s, st.action, &mut Ctx::new(&cfg, false)).map_err(here)?;
        let call = match (st.action, st.reads) {
            (Action::Read { pid, page }, Some(want)) => {
                let ghost = s.mms[pid as usize].ghost[page as usize].unwrap_or(0);
                if ghost & GHOST_OR_ZERO != 0 {
                    return Err(here(format!(
                        "after MADV_FREE sequential semantics allows {} or 0; a reproducer checks only values the correct kernel must return",
                        ghost & !GHOST_OR_ZERO
                    )));
                }
                if ghost != want {
                    return Err(here(format!("sequential semantics says {ghost}, not {want}")));
                }
                checks += 1;
                format!("do_read({pid}, {page}, {want});")
            }
            _ => call,
        };
        // MADV_PAGEOUT's check covers order-0 folios only (runtime.c's
        // do_pageout()): with large folios the reads must carry the checks.
        checks += usize::from(matches!(st.action, Action::MadvPageout { .. }) && !mthp);
        procs += u8::from(matches!(st.action, Action::Fork { .. }));
        ksm |= matches!(
            st.action,
            Action::MadvMergeable { .. } | Action::MadvUnmergeable { .. } | Action::KsmMerge { .. }
        );
        let _ = writeln!(body, "\tbegin({}, \"{}\"); /* line {} */", i + 1, c_text(&st.action.to_string()), st.line);
        let _ = writeln!(body, "\t{call}");
        let _ = writeln!(body, "\tend_step({});\n", sc.pages);
    }
    if checks == 0 {
        return Err(format!(
            "{file}:1: no read states its value ('P0 read 0 = 7'): the reproducer would check nothing"
        ));
    }
    let mut out = header(sc, file, checks, mthp);
    out.push_str(RUNTIME);
    let _ = write!(
        out,
        "\n/* ---- the scenario: {} ---- */\n\nint main(void)\n{{\n\tprepare({}, {procs}, {}, {});\n\n{body}\tconclude();\n}}\n",
        c_comment(file),
        sc.pages,
        u8::from(ksm),
        u8::from(mthp)
    );
    Ok(out)
}

/// The C statement for one step, or why none exists.
fn c_call(a: Action) -> Result<String, String> {
    use Action::*;
    Ok(match a {
        Mmap { pid, start, len, write } => format!("do_mmap({pid}, {start}, {len}, {});", u8::from(write)),
        Munmap { pid, start, len } => format!("do_munmap({pid}, {start}, {len});"),
        Mprotect { pid, start, len, write } => format!("do_mprotect({pid}, {start}, {len}, {});", u8::from(write)),
        Mremap { pid, start, len, to, dontunmap } => {
            format!("do_mremap({pid}, {start}, {len}, {to}, {});", u8::from(dontunmap))
        }
        Read { pid, page } => format!("do_read({pid}, {page}, -1);"),
        Write { pid, page, value } => format!("do_write({pid}, {page}, {value});"),
        Fork { pid } => format!("do_fork({pid});"),
        Exit { pid } => format!("do_exit({pid});"),
        MadvPageout { pid, start, len } => format!("do_pageout({pid}, {start}, {len});"),
        MadvFree { pid, start, len } => format!("do_madvise({pid}, {start}, {len}, MADV_FREE, \"MADV_FREE\");"),
        MadvMergeable { pid, start, len } => {
            format!("do_madvise({pid}, {start}, {len}, MADV_MERGEABLE, \"MADV_MERGEABLE\");")
        }
        MadvUnmergeable { pid, start, len } => {
            format!("do_madvise({pid}, {start}, {len}, MADV_UNMERGEABLE, \"MADV_UNMERGEABLE\");")
        }
        KsmMerge { with_page: rmapcheck_model::action::KSM_ZERO_PAGE, .. } => {
            return Err(format!(
                "the reproducer runtime keeps use_zero_pages off: '{a}'; run the scenario with 'rmapcheck conform' instead"
            ))
        }
        KsmMerge { pid, page, with, with_page } => format!("ksmd_merge({pid}, {page}, {with}, {with_page});"),
        MadvDontneed { pid, start, len } => {
            format!("do_madvise({pid}, {start}, {len}, MADV_DONTNEED, \"MADV_DONTNEED\");")
        }
        MmapFile { .. } | Ftruncate { .. } | Fsync { .. } => {
            return Err(format!(
                "the reproducer runtime maps private anonymous memory only: '{a}' needs a file or shmem; \
                 run the scenario with 'rmapcheck conform' instead"
            ))
        }
        SplitDeferred => "split_deferred();".into(),
        Reclaim { .. } | Writeback => {
            return Err(
                "no system call makes kswapd reclaim one chosen folio; use madv_pageout (a folio mapped once), \
                 as scenarios/madv-free-loses-clean-shared-page-pageout-v6.18.rmap does"
                    .into(),
            )
        }
        KsmDrop { .. } => {
            return Err(
                "no system call makes ksmd drop one rmap_item, and user space cannot see it; leave the step out".into(),
            )
        }
        Pin { .. } | Unpin { .. } => {
            return Err(
                "the reproducer runtime has no io_uring: run a scenario with pins with 'rmapcheck conform' instead"
                    .into(),
            )
        }
        UffdMove { .. } | PrctlMerge { .. } => {
            return Err(format!(
                "the reproducer runtime has no userfaultfd and no prctl step: '{a}'; run the scenario with 'rmapcheck conform' instead"
            ))
        }
    })
}

/// The comment block that opens the program.
fn header(sc: &Scenario, file: &str, checks: usize, mthp: bool) -> String {
    let mut h = String::from("/*\n");
    let _ = writeln!(
        h,
        " * Reproducer generated by `rmapcheck repro {}` (rmapcheck {}).",
        c_comment(file),
        env!("CARGO_PKG_VERSION")
    );
    h.push_str(" *\n");
    for line in &sc.title {
        let _ = writeln!(h, " * {}", c_comment(line));
    }
    h.push_str(" *\n * The scenario, one system call or memory access per step, each in its own\n");
    h.push_str(" * process (P0 is the first worker; each fork's child is the next number):\n *\n");
    for st in &sc.steps {
        let want = st.reads.map(|v| format!(" = {v}")).unwrap_or_default();
        let _ = writeln!(h, " *   {}{want}", st.action);
    }
    let _ = write!(
        h,
        " *\n * The model (kernel {}) expects: {}.\n * Checks ({checks}): each read stating a value returns it (it is what\n \
         * sequential semantics gives, the model's memory_semantics oracle, so what a\n \
         * correct kernel returns); each MADV_PAGEOUT reclaims every page that maps an\n \
         * anon, swap-backed folio mapped once when it starts (no present page is left).\n *\n",
        sc.kernel, sc.expect
    );
    let thp = if mthp {
        " * It pins itself and its workers to one CPU. For the 16 kB folios it sets the\n\
         * THP knobs under /sys/kernel/mm/transparent_hugepage: enabled, defrag and\n\
         * hugepages-16kB/enabled to madvise, every other hugepages-*kB/enabled to\n\
         * never (so only VMAs with MADV_HUGEPAGE, which every mmap here gets, have\n\
         * large folios), and restores them with the rest. MADV_PAGEOUT is checked\n\
         * on order-0 folios only; `kswapd split_deferred` is drop_caches=2 (the\n\
         * deferred split shrinker runs with every other). It takes\n"
    } else {
        " * It pins itself and its workers to one CPU and turns THP off for them. It takes\n"
    };
    h.push_str(
        " * Build: cc -O2 -o repro repro.c     Run as root: ./repro\n\
         * Exit status: 0 the kernel behaved as the correct kernel does, 1 the bug is\n\
         * shown (a checked read returned something else), 2 could not set up or run\n\
         * (not root, no zram, no KSM, ksmd busy, the lock held by another run).\n\
         * Each step, and what pagemap and /proc/kpageflags show after it, is printed\n\
         * on stderr.\n *\n\
         * While it runs it changes, and on every way out (end, error, SIGINT, SIGTERM,\n\
         * SIGHUP, SIGQUIT, SIGPIPE) restores: a zram swap device of its own at\n\
         * priority 200 (hot_add, removed again), vm.page-cluster 0, and the KSM knobs\n\
         * run=0 (ksmd runs only inside a `ksmd merge` step), advisor_mode=none,\n\
         * sleep_millisecs=10, pages_to_scan=1000, smart_scan=0, use_zero_pages=0.\n",
    );
    h.push_str(thp);
    h.push_str(
        " * the lock /run/rmapcheck-exec.lock of `rmapcheck conform` and writes what it\n\
         * changes to /run/rmapcheck-exec.state first, so a SIGKILLed run is undone by\n\
         * the next run of either tool.\n */\n",
    );
    h
}

/// Text safe inside a C comment.
fn c_comment(s: &str) -> String {
    s.replace("*/", "* /")
}

/// Text safe inside a C string literal.
fn c_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(text: &str) -> Result<String, String> {
        generate(&Scenario::parse(text, "t.rmap").unwrap(), "t.rmap")
    }

    #[test]
    fn each_step_becomes_one_call_and_stated_reads_become_checks() {
        let c = gen("expect: holds\nP0 mmap 0 1 rw\nP0 write 0 7\nP0 fork\nP1 read 0 = 7\nP0 read 0\n").unwrap();
        assert!(c.contains("\tdo_mmap(0, 0, 1, 1);\n"));
        assert!(c.contains("\tdo_write(0, 0, 7);\n"));
        assert!(c.contains("\tdo_fork(0);\n"));
        assert!(c.contains("\tdo_read(1, 0, 7);\n"), "a stated read is checked");
        assert!(c.contains("\tdo_read(0, 0, -1);\n"), "an unstated one is only printed");
        assert!(c.contains("prepare(4, 2, 0, 0);"), "4 pages (the default), two processes, no KSM, no mTHP");
        assert!(c.contains("int main(void)") && c.contains("static int restore_raw(void)"));
    }

    #[test]
    fn steps_without_a_system_call_are_refused_naming_the_line() {
        let e = gen("expect: holds\nP0 mmap 0 1 rw\nP0 write 0 1\nP0 reclaim 0\nP0 read 0 = 1\n").unwrap_err();
        assert!(e.starts_with("t.rmap:4: 'P0 reclaim 0': no system call makes kswapd reclaim"), "{e}");
        let e = gen("expect: holds\nP0 mmap 0 1 rw\nksmd drop P0 0\n").unwrap_err();
        assert!(e.starts_with("t.rmap:3: 'ksmd drop P0 0': no system call makes ksmd drop"), "{e}");
    }

    #[test]
    fn reads_must_state_what_the_correct_kernel_returns() {
        let e = gen("expect: holds\nP0 mmap 0 1 rw\nP0 write 0 7\nP0 read 0 = 3\n").unwrap_err();
        assert!(e.contains("sequential semantics says 7, not 3"), "{e}");
        let e = gen("expect: holds\nP0 mmap 0 1 rw\nP0 write 0 7\nP0 madv_free 0 1\nP0 read 0 = 7\n").unwrap_err();
        assert!(e.contains("allows 7 or 0"), "{e}");
        let e = gen("expect: holds\nP0 mmap 0 1 rw\nP0 write 0 7\n").unwrap_err();
        assert!(e.contains("would check nothing"), "{e}");
        let c = gen("expect: holds\nP0 mmap 0 1 rw\nP0 write 0 7\nP0 madv_pageout 0 1\n").unwrap();
        assert!(c.contains("\tdo_pageout(0, 0, 1);\n"), "a pageout is a check of its own");
        let e = gen("kernel: v5.19\nexpect: holds\nP0 mmap 0 1 rw\nP0 read 0 = 0\n").unwrap_err();
        assert!(e.starts_with("t.rmap:1: written for kernel v5.19"), "{e}");
    }

    #[test]
    fn a_step_the_model_refuses_is_refused() {
        let e = gen("expect: holds\nP0 mmap 0 1 r\nP0 write 0 1\n").unwrap_err();
        assert!(e.starts_with("t.rmap:3: 'P0 write 0 1': the VMA at page 0 is read-only"), "{e}");
    }

    #[test]
    fn ksm_steps_ask_for_ksm() {
        let c = gen("pages: 2\nexpect: holds\nP0 mmap 0 2 rw\nP0 write 0 1\nP0 write 1 1\nP0 madv_mergeable 0 2\n\
                     ksmd merge P0 1 P0 0\nP0 read 0 = 1\n")
        .unwrap();
        assert!(c.contains("ksmd_merge(0, 1, 0, 0);") && c.contains("prepare(2, 1, 1, 0);"));
    }

    #[test]
    fn large_folio_scenarios_ask_for_16k_and_split_deferred_drops_caches() {
        let c = gen("pages: 4\nmthp: 16k\nexpect: holds\nP0 mmap 0 4 rw\nP0 write 0 7\nP0 munmap 2 2\n\
                     kswapd split_deferred\nP0 read 0 = 7\n")
        .unwrap();
        assert!(c.contains("prepare(4, 1, 0, 1);"), "16 kB large folios");
        assert!(c.contains("\tsplit_deferred();\n"));
        assert!(c.contains("hugepages-16kB/enabled to madvise"), "the header says what it changes");
        let e = gen("pages: 4\nmthp: 8k\nexpect: holds\nP0 mmap 0 4 rw\nP0 write 0 7\nP0 read 0 = 7\n").unwrap_err();
        assert!(e.starts_with("t.rmap:1: mthp: 8k: the live kernel has no anonymous 8 kB folios"), "{e}");
        // With large folios MADV_PAGEOUT is no check of its own.
        let e =
            gen("pages: 4\nmthp: 16k\nexpect: holds\nP0 mmap 0 4 rw\nP0 write 0 7\nP0 madv_pageout 0 4\n").unwrap_err();
        assert!(e.contains("would check nothing"), "{e}");
    }
}
