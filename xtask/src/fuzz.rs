//! `cargo xtask fuzz`: builds the fuzz targets of `fuzz/` with libFuzzer's
//! coverage instrumentation and runs them one after the other.
//!
//! The build is what `cargo fuzz build --sanitizer none` does, without
//! needing cargo-fuzz: the stable compiler's SanitizerCoverage pass
//! (`-Cpasses=sancov-module` and its `-Cllvm-args`), `--cfg fuzzing`, release
//! with debug assertions and overflow checks (the `fuzz/` profile), and an
//! explicit `--target`, so build scripts and proc macros stay uninstrumented.
//! No `-Zsanitizer`: the parsers are safe Rust, where what fuzzing finds is a
//! panic, an overflow or a runaway allocation, and those abort without
//! AddressSanitizer.
//!
//! Each target starts from its committed seeds (`fuzz/corpus/TARGET`) plus
//! what earlier runs found (`target/fuzz/corpus/TARGET`, which libFuzzer
//! grows); a crash leaves its input in `target/fuzz/artifacts/TARGET/` and
//! fails the command.

use std::fmt;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::cmd::Cmd;
use crate::project;

/// The fuzz targets, in the order they run (`fuzz/fuzz_targets/NAME.rs`).
pub const TARGETS: [&str; 11] = [
    "answers",
    "repo_verify",
    "handover",
    "dhcp",
    "netlink",
    "iso_read",
    "kmod_index",
    "fat_label",
    "http_range",
    "backup_manifest",
    "backup_tar_filter",
];

/// Executions per target in `cargo xtask ci` (a smoke test: the seeds and
/// what a few seconds of mutation reach).
pub const CI_RUNS: u64 = 20_000;

/// The coverage instrumentation libFuzzer needs (cargo-fuzz's flags for
/// `--sanitizer none`).
pub const RUSTFLAGS: &str = "-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing -Cforce-frame-pointers";

/// How long each target runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Seconds(u64),
    Runs(u64),
}

/// What `cargo xtask fuzz` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub budget: Budget,
    /// Empty: every target.
    pub targets: Vec<String>,
}

/// libFuzzer's figures at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// Inputs executed.
    pub execs: u64,
    /// Coverage: edges (`cov`) and features (`ft`) of the final line.
    pub cov: u64,
    pub ft: u64,
    /// Inputs in the corpus at the end.
    pub corpus: u64,
    /// Wall time reported by libFuzzer.
    pub seconds: u64,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} executions in {} s, cov {} ft {}, corpus {}",
            self.execs, self.seconds, self.cov, self.ft, self.corpus
        )
    }
}

fn fuzz_dir() -> PathBuf {
    project::root().join("fuzz")
}

fn out_dir() -> PathBuf {
    project::target_dir().join("fuzz")
}

/// The host's target triple (`rustc -vV`).
fn host_triple() -> Result<String> {
    let out = Cmd::new("rustc").arg("-vV").read()?;
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("`rustc -vV` printed no host line")
}

/// Builds every target; returns the directory holding the binaries. The
/// build directory is the fuzz crate's own (`fuzz/target`, where
/// cargo-fuzz builds too), or `CARGO_TARGET_DIR`.
pub fn build() -> Result<PathBuf> {
    let triple = host_triple()?;
    Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .cwd(fuzz_dir())
        .env("RUSTFLAGS", RUSTFLAGS)
        .args(["build", "--release", "--bins", "--locked", "--target"])
        .arg(&triple)
        .run()
        .context("building the fuzz targets")?;
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fuzz_dir().join("target"));
    Ok(dir.join(triple).join("release"))
}

/// Checks the names; empty means all, in [`TARGETS`] order.
pub fn select(wanted: &[String]) -> Result<Vec<&'static str>> {
    if wanted.is_empty() {
        return Ok(TARGETS.to_vec());
    }
    wanted
        .iter()
        .map(|w| match TARGETS.iter().find(|t| **t == w.as_str()) {
            Some(t) => Ok(*t),
            None => bail!("no fuzz target `{w}`; available: {}", TARGETS.join(", ")),
        })
        .collect()
}

/// Builds, then runs each selected target; prints and returns the figures.
pub fn run(opts: &Options) -> Result<Vec<(&'static str, Figures)>> {
    let targets = select(&opts.targets)?;
    let bin = build()?;
    let mut all = Vec::new();
    for t in targets {
        let work = out_dir().join("corpus").join(t);
        let artifacts = out_dir().join("artifacts").join(t);
        fs::create_dir_all(&work)?;
        fs::create_dir_all(&artifacts)?;
        let budget = match opts.budget {
            Budget::Seconds(s) => format!("-max_total_time={s}"),
            Budget::Runs(n) => format!("-runs={n}"),
        };
        // Niced: a long run must not slow down builds sharing the machine.
        let out = Cmd::new("nice")
            .args(["-n", "19"])
            .arg(bin.join(t))
            .arg(&work)
            .arg(fuzz_dir().join("corpus").join(t))
            .arg(budget)
            .args(["-timeout=25", "-print_final_stats=1"])
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .read()
            .with_context(|| {
                format!(
                    "fuzz target {t} failed; the input is in {}",
                    artifacts.display()
                )
            })?;
        fs::write(out_dir().join(format!("{t}.log")), &out.stderr)?;
        let figures = final_figures(&out.stderr)
            .with_context(|| format!("no final figures in the output of fuzz target {t}"))?;
        println!("{t}: {figures}");
        all.push((t, figures));
    }
    Ok(all)
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The figures of libFuzzer's last status line (`#N DONE cov: C ft: F
/// corp: K/…`) and `Done N runs in S second(s)`.
pub fn final_figures(log: &str) -> Option<Figures> {
    let done = log
        .lines()
        .rev()
        .find(|l| l.split_whitespace().nth(1) == Some("DONE"))?;
    let finish = log.lines().rev().find(|l| l.starts_with("Done "))?;
    Some(Figures {
        execs: number_after(finish, "Done ")?,
        cov: number_after(done, "cov:")?,
        ft: number_after(done, "ft:")?,
        corpus: number_after(done, "corp:")?,
        seconds: number_after(finish, " in ")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end of a real run's output (`http_range -runs=3000
    /// -print_final_stats=1`), dictionary lines left out.
    const TAIL: &str = "\
#2048\tpulse  cov: 71 ft: 110 corp: 41/655b lim: 28 exec/s: 0 rss: 27Mb
#3000\tDONE   cov: 73 ft: 115 corp: 44/702b lim: 28 exec/s: 0 rss: 27Mb
###### Recommended dictionary. ######
\"\\001\\011\" # Uses: 82
###### End of recommended dictionary. ######
Done 3000 runs in 0 second(s)
stat::number_of_executed_units: 3000
stat::average_exec_per_sec:     0
stat::new_units_added:          48
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              27
";

    #[test]
    fn final_figures_come_from_the_done_lines() {
        assert_eq!(
            final_figures(TAIL),
            Some(Figures {
                execs: 3000,
                cov: 73,
                ft: 115,
                corpus: 44,
                seconds: 0,
            })
        );
        assert_eq!(final_figures("#2 INITED cov: 3 ft: 3"), None);
    }

    #[test]
    fn every_target_has_a_source_a_bin_entry_and_seeds() {
        let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        let bins = manifest.matches("[[bin]]").count();
        assert_eq!(bins, TARGETS.len(), "fuzz/Cargo.toml and TARGETS differ");
        for t in TARGETS {
            let src = format!("fuzz_targets/{t}.rs");
            assert!(
                manifest.contains(&format!("path = \"{src}\"")),
                "{t}: no [[bin]]"
            );
            assert!(fuzz_dir().join(&src).is_file(), "{src} missing");
            let seeds = fs::read_dir(fuzz_dir().join("corpus").join(t))
                .map(|d| d.count())
                .unwrap_or(0);
            assert!(seeds > 0, "fuzz/corpus/{t} has no seeds");
        }
    }

    #[test]
    fn unknown_targets_are_named_with_the_list() {
        assert_eq!(select(&[]).unwrap(), TARGETS);
        assert_eq!(select(&["dhcp".into()]).unwrap(), ["dhcp"]);
        let err = select(&["dhpc".into()]).unwrap_err().to_string();
        assert!(
            err.contains("no fuzz target `dhpc`; available: answers,"),
            "{err}"
        );
    }
}
