//! The installer's initramfs: our static installer as `/init`, `/dev/console`,
//! Debian's signed kernel modules (byte for byte) with an index we compute, the
//! build facts the installer reads, and `overlay/initramfs`.

use std::path::Path;

use anyhow::{Context, Result};
use image_builder::cpio::Archive;

use crate::cmd::Cmd;
use crate::inputs::Inputs;
use crate::kmodset;
use crate::lockfile::Role;
use crate::product;
use crate::project;
use crate::tree::{overlay_files, TreeSource};
use crate::{bootfiles, keymaps};

/// Returns the zstd-compressed newc archive.
pub fn build(
    inputs: &Inputs,
    installer: &Path,
    answers: Option<Vec<u8>>,
    vendor: &[(String, Vec<u8>)],
    epoch: u64,
) -> Result<Vec<u8>> {
    let (modules_dir, release) = inputs.kernel_modules()?;
    let mut a = Archive::new(epoch)?;
    for dir in [
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "etc",
        "etc/installer",
        "root",
    ] {
        a.add_dir(dir, 0o755)?;
    }
    a.add_char_device("dev/console", 0o600, 5, 1)?;
    a.add_file_from_path("init", 0o755, installer.to_path_buf())?;
    let facts = serde_json::json!({
        "product": product::PRODUCT,
        "version": product::VERSION,
        "volume_id": product::VOLUME_ID,
        "build_epoch": epoch,
        "kernel_release": release,
    });
    a.add_file(
        "etc/installer/build.json",
        0o644,
        format!("{facts:#}\n").into_bytes(),
    )?;
    for f in overlay_files(&project::overlay_dir().join("initramfs"))? {
        match f.source {
            TreeSource::Path(p) => a.add_file_from_path(&f.path, f.mode, p)?,
            TreeSource::Bytes(b) => a.add_file(&f.path, f.mode, b)?,
        }
    }
    keymaps::add_to_archive(&mut a, inputs)?;
    for (path, bytes) in bootfiles::files(inputs)? {
        a.add_file(&path, 0o644, bytes)?;
    }
    for (path, bytes) in vendor {
        a.add_file(path, 0o644, bytes.clone())?;
    }

    if let Some(answers) = answers {
        // Later answer files carry secrets (passwords, tokens): root-only.
        a.add_file("etc/installer/answers.json", 0o600, answers)?;
    }
    add_busybox(&mut a, inputs)?;

    kmodset::add_modules(&mut a, &modules_dir, &release, product::ROOT_MODULES)?;

    let mut out = Vec::new();
    a.write_zstd_to(&mut out, image_builder::cpio::DEFAULT_ZSTD_LEVEL)
        .context("writing the initramfs")?;
    Ok(out)
}

/// Applets left out of the rescue shell: PID 1 is ours, and power actions go
/// through the installer's menu (busybox's versions would signal PID 1 with
/// busybox-init's conventions).
const SKIPPED_APPLETS: &[&str] = &["init", "linuxrc", "halt", "poweroff", "reboot"];

/// Debian's static busybox as `/bin/busybox`, with a `/bin/<applet>` link for
/// each applet it lists, for the rescue shell.
fn add_busybox(a: &mut Archive, inputs: &Inputs) -> Result<()> {
    let busybox = inputs.file(Role::Busybox, "bin/busybox")?;
    let list = Cmd::new(&busybox)
        .arg("--list")
        .read()
        .context("listing busybox applets")?;
    a.add_file_from_path("bin/busybox", 0o755, busybox.clone())?;
    let mut applets: Vec<&str> = list
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && *l != "busybox" && !l.contains('/') && !SKIPPED_APPLETS.contains(l)
        })
        .collect();
    applets.sort_unstable();
    applets.dedup();
    for applet in applets {
        a.add_symlink(&format!("bin/{applet}"), "busybox")?;
    }
    Ok(())
}
