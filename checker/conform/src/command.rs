//! The `rmapcheck conform` command: the corpus, then random scenarios
//! (shrinking the first divergence), and the summary line.

use crate::exec::{default_exec_path, Executor};
use crate::{cannot_run, nonce, random, run_scenario, unsupported, unsupported_reason, Outcome};
use rmapcheck_model::input::{read_text, MAX_SCENARIO_BYTES};
use rmapcheck_model::{Kernel, Mutant, Scenario};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes one line to standard output and flushes it: a write error (a
/// closed pipe, `> /dev/full`) is an error message (exit 2), not the panic
/// of `println!`.
fn say(line: &str) -> Result<(), String> {
    say_to(&mut std::io::stdout().lock(), line)
}

fn say_to(out: &mut impl Write, line: &str) -> Result<(), String> {
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| format!("cannot write to standard output: {e}"))
}

/// What `rmapcheck conform` was asked to do.
pub struct Options {
    /// Scenario files.
    pub files: Vec<String>,
    /// Random scenarios to run after the files.
    pub random: Option<u64>,
    /// Seed of the random scenarios.
    pub seed: u64,
    /// The executor binary (default: [`default_exec_path`]).
    pub exec: Option<String>,
    /// Directory for the shrunk scenario of a random divergence.
    pub out: String,
    /// A deliberate model mistake (a [`Mutant`] name).
    pub mutant: Option<String>,
    /// Print only divergences and the summary.
    pub quiet: bool,
    /// Random scenarios with large folios (`16k`), or none (`None`).
    pub mthp: Option<String>,
    /// Random scenarios also take and drop longterm R/W pins.
    pub pins: bool,
}

/// Runs the command; the exit code (0 all match, 1 a divergence, 2 cannot
/// run) or a one-line error (exit 2).
pub fn conform(o: &Options) -> Result<u8, String> {
    if o.files.is_empty() && o.random.is_none() {
        return Err("conform needs scenario files, --random N, or both".into());
    }
    let mutant = o.mutant.as_deref().map(str::parse::<Mutant>).transpose()?;
    let mthp = o.mthp.as_deref().map(str::parse::<rmapcheck_model::Mthp>).transpose()?.unwrap_or_default();
    if mthp.allows(1) {
        return Err("--mthp: 8 kB (order 1) is not an anonymous mTHP size of v6.18; use 16k".into());
    }
    if let Some(why) = cannot_run() {
        eprintln!("rmapcheck conform: cannot run: {why}");
        return Ok(2);
    }
    if o.random.is_some() && !Path::new(&o.out).is_dir() {
        // Checked before anything runs: a divergence found after many
        // scenarios must have somewhere to go.
        return Err(format!("--out {}: not a directory", rmapcheck_model::input::printable(&o.out)));
    }
    let mut scenarios = Vec::new();
    for f in &o.files {
        let text = read_text(f, MAX_SCENARIO_BYTES)?;
        scenarios.push((f.clone(), Scenario::parse(&text, f)?));
    }
    let path = o.exec.as_ref().map(PathBuf::from).unwrap_or_else(default_exec_path);
    if !path.exists() {
        return Err(format!(
            "no executor at {}: build it with 'cargo build --release -p rmapcheck-conform', or name it with --exec PATH",
            path.display()
        ));
    }
    let mut ex = Executor::spawn(&path)?;
    let mut t = Tally::default();
    for (i, (f, sc)) in scenarios.iter().enumerate() {
        if let Some(a) = unsupported(sc) {
            say(&format!("skip {f}: the executor does not run '{a}': {}", unsupported_reason(a)))?;
            continue;
        }
        if let Some(m) = sc.mutant {
            // A scenario about a deliberately broken model says nothing about the kernel.
            say(&format!(
                "skip {f}: runs the {} mutant; the live kernel is compared with the model as it is",
                m.name()
            ))?;
            continue;
        }
        if sc.mthp.allows(1) {
            say(&format!("skip {f}: 8 kB (order 1) is not an anonymous mTHP size of v6.18 (THP_ORDERS_ALL_ANON)"))?;
            continue;
        }
        if sc.kernel != Kernel::V6_18 {
            // The running kernel is compared with the current model only; a
            // scenario about another kernel's rules says nothing about it.
            say(&format!("skip {f}: written for kernel {}, the live kernel is compared with v6.18", sc.kernel))?;
            continue;
        }
        let out = run_scenario(&mut ex, sc, mutant, nonce(i as u64)).map_err(|e| format!("{f}: {e}"))?;
        t.add(f, &out)?;
        if let Some(d) = &out.divergence {
            say(&format!("DIVERGES {f}\n{}", d.report()))?;
            return Ok(1);
        }
        if !o.quiet && out.unsettled.is_none() {
            let ksm = match out.ksm_waits {
                (0, ..) => String::new(),
                (n, ms, _) => format!(", {n} ksmd waits {ms:.0} ms"),
            };
            say(&format!("ok   {f} ({} steps, {:.1} ms{ksm})", out.matched, out.secs * 1e3))?;
        }
    }
    let seed = o.seed;
    for i in 0..o.random.unwrap_or(0) {
        let sc = random::random_scenario_with(seed, i, mthp, o.pins);
        let name = format!("random #{i} (seed {seed})");
        let out = run_scenario(&mut ex, &sc, mutant, nonce(i)).map_err(|e| format!("{name}: {e}"))?;
        t.add(&name, &out)?;
        if let Some(d) = out.divergence {
            let again = run_scenario(&mut ex, &sc, mutant, nonce(i + 1))?;
            let flaky = again.divergence.is_none();
            let (min, md) = random::shrink(&mut ex, &sc, mutant, d, || nonce(i))?;
            let file = Path::new(&o.out).join(format!("conform-divergence-seed{seed}-{i}.rmap"));
            std::fs::write(&file, min.to_text()).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            say(&format!(
                "DIVERGES {name}{}: shrunk from {} to {} steps, written to {}\n{}",
                if flaky { " (did NOT reproduce on a rerun: flaky)" } else { "" },
                sc.steps.len(),
                min.steps.len(),
                file.display(),
                md.report()
            ))?;
            return Ok(1);
        }
        if !o.quiet && (i + 1) % 100 == 0 {
            say(&format!("random: {} scenarios match", i + 1))?;
        }
    }
    say(&t.summary())?;
    Ok(0)
}

/// Figures over every scenario run.
#[derive(Default)]
struct Tally {
    runs: u64,
    steps: usize,
    secs: f64,
    worst: (f64, String),
    flaky: usize,
    waits: usize,
    wait_ms: f64,
    wait_scans: u64,
}

impl Tally {
    /// Counts one run; an unsettled ksmd wait is printed as `FLAKY`.
    fn add(&mut self, name: &str, o: &Outcome) -> Result<(), String> {
        self.runs += 1;
        self.steps += o.matched;
        self.secs += o.secs;
        if o.secs > self.worst.0 {
            self.worst = (o.secs, name.to_string());
        }
        self.waits += o.ksm_waits.0;
        self.wait_ms += o.ksm_waits.1;
        self.wait_scans = self.wait_scans.max(o.ksm_waits.2);
        if let Some((step, why, d)) = &o.unsettled {
            self.flaky += 1;
            say(&format!(
                "FLAKY {name}: ksmd wait at step {step} unsettled ({why}); not a divergence\n{}",
                d.report()
            ))?;
        }
        Ok(())
    }

    fn summary(&self) -> String {
        format!(
            "conform: {} scenarios, {} steps, all match{}; {:.2} s total, {:.1} ms per scenario, {:.2} ms per step; slowest {} ({:.1} ms); {} ksmd waits, {:.1} ms each on average, at most {} full scans",
            self.runs,
            self.steps,
            if self.flaky > 0 { format!(" but {} flaky (ksmd unsettled)", self.flaky) } else { String::new() },
            self.secs,
            self.secs * 1e3 / self.runs.max(1) as f64,
            self.secs * 1e3 / self.steps.max(1) as f64,
            self.worst.1,
            self.worst.0 * 1e3,
            self.waits,
            self.wait_ms / self.waits.max(1) as f64,
            self.wait_scans
        )
    }
}

#[cfg(test)]
mod tests {
    use super::say_to;

    #[test]
    fn a_write_error_on_standard_output_is_an_error_not_a_panic() {
        let mut full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let e = say_to(&mut full, "ok   scenarios/x.rmap").unwrap_err();
        assert!(e.starts_with("cannot write to standard output: "), "{e}");
        let mut buf = Vec::new();
        say_to(&mut buf, "ok").unwrap();
        assert_eq!(buf, b"ok\n");
    }
}
