//! The baseline of `cargo xtask bench boot`: the ISO of an older revision,
//! built by that revision's own `cargo xtask iso` in a git worktree under
//! `target/bench-boot-baseline/`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};

use crate::cmd::Cmd;
use crate::project;
use crate::vendorcfg::Vendor;

/// The default baseline is the parent of the commit whose subject starts
/// with this: the last revision before the module pack on the medium (and
/// its second coldplug pass) joined the boot path.
pub const PACK_SUBJECT: &str = "Module pack on the medium:";

/// The parent of the commit that put the module pack on the medium, found
/// by its subject in this checkout's history.
pub fn before_module_pack() -> Result<String> {
    let out = git(&project::root(), &["log", "--no-merges", "--format=%H %s"])?;
    let hash = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(_, subject)| subject.starts_with(PACK_SUBJECT))
        .map(|(hash, _)| hash.to_string())
        .with_context(|| {
            format!(
                "no commit whose subject starts with `{PACK_SUBJECT}` in this checkout's history \
                 (a shallow clone?); give --baseline-rev REV or --baseline-iso PATH"
            )
        })?;
    Ok(format!("{hash}^"))
}

/// Builds the ISO of `rev` with that revision's own `cargo xtask iso`, in a
/// git worktree under `target/bench-boot-baseline/` with its own target
/// directory, and the same vendor settings as the current ISO.
pub fn build(rev: &str, vendor: &Vendor) -> Result<(PathBuf, String)> {
    let root = project::root();
    let spec = format!("{rev}^{{commit}}");
    let hash = git(&root, &["rev-parse", "--verify", "--quiet", &spec])
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .with_context(|| {
            format!("--baseline-rev `{rev}` names no commit of this repository (see `git log`)")
        })?;
    let subject = git(&root, &["log", "-1", "--format=%s", &hash])?;
    let base = project::target_dir().join("bench-boot-baseline");
    fs::create_dir_all(&base)?;
    let src = base.join("src");
    if src.join(".git").exists() {
        git(&src, &["checkout", "--quiet", "--force", "--detach", &hash])?;
    } else {
        // A worktree directory deleted by hand leaves a stale registration.
        git(&root, &["worktree", "prune"])?;
        let src_arg = src.to_string_lossy().into_owned();
        git(
            &root,
            &["worktree", "add", "--quiet", "--detach", &src_arg, &hash],
        )?;
    }
    let target = base.join("target");
    if !target.exists() {
        seed_target(&target)?;
    }
    let iso = base.join(format!("{}.iso", &hash[..12.min(hash.len())]));
    eprintln!(
        "bench boot: building the baseline ISO of {} ({}) in {}",
        &hash[..12.min(hash.len())],
        subject.trim(),
        src.display()
    );
    let mut cmd = Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["xtask", "iso", "--out"])
        .arg(&iso)
        .args(["--backend", &vendor.backend_url])
        .args(["--model", &vendor.model])
        .args(["--channel", &vendor.channel])
        .arg("--vendor-ca")
        .arg(&vendor.ca);
    for key in &vendor.trusted_keys {
        cmd = cmd.arg("--trusted-key").arg(key);
    }
    cmd.cwd(&src)
        .env("CARGO_TARGET_DIR", &target)
        // The pinned packages are shared: entries are verified and renamed
        // into place whole, so two revisions can read one cache.
        .env("BOOT_INPUTS_CACHE", project::cache_dir())
        .run()
        .with_context(|| format!("building the baseline ISO of {rev} ({hash})"))?;
    ensure!(
        iso.is_file(),
        "the baseline's `cargo xtask iso` wrote no {}",
        iso.display()
    );
    Ok((
        iso,
        format!("{} `{}`", &hash[..12.min(hash.len())], subject.trim()),
    ))
}

/// Starts the baseline's target directory with hard links to this
/// checkout's compiled dependencies, so only what differs is compiled: an
/// artifact's file name carries the hash of its inputs (version, features,
/// flags; a workspace crate's path too), so a file both directories share
/// is the same build in both.
fn seed_target(target: &Path) -> Result<()> {
    let ours = project::target_dir();
    for profile in ["debug", "x86_64-unknown-linux-gnu/release"] {
        for part in ["deps", "build", ".fingerprint"] {
            let from = ours.join(profile).join(part);
            if !from.is_dir() {
                continue;
            }
            let to = target.join(profile);
            fs::create_dir_all(&to)?;
            Cmd::new("cp").arg("-al").arg(&from).arg(&to).run()?;
        }
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    Ok(Cmd::new("git").args(args).cwd(dir).read()?.stdout)
}
