//! `cargo xtask ci` and `cargo xtask check-iso`: what CI runs, and the
//! reference-tool inspection of a built ISO (xorriso, isoinfo, fsck.vfat,
//! mtools, zstd, cpio). A missing tool is an error, never a skip.

use std::fs;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

use crate::assemble::{self, IsoOptions, MAX_ISO_BYTES};
use crate::cmd::Cmd;
use crate::qemu::{self, QemuTestOptions};
use crate::{fuzz, inputs, product, project, testrepo};

fn cargo() -> Cmd {
    Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).cwd(project::root())
}

/// Everything CI runs, in order; stops at the first failure.
pub fn ci() -> Result<()> {
    cargo()
        .args(["fmt", "--all", "--", "--check"])
        .run()
        .context("cargo fmt: run `cargo fmt --all`")?;
    // fuzz/ is a workspace of its own.
    cargo()
        .args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"])
        .run()
        .context("cargo fmt: run `cargo fmt --manifest-path fuzz/Cargo.toml`")?;
    cargo()
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .run()
        .context("cargo clippy")?;
    // Tests that need root, network namespaces or system tools are marked
    // `#[ignore = "needs …"]` so that a plain `cargo test` is hermetic; CI
    // runs them too, and a missing tool fails it.
    cargo()
        .args(["test", "--workspace", "--", "--include-ignored"])
        .run()
        .context("unit and reference-tool tests")?;

    // Fuzz smoke: every target over its seeds plus a fixed number of
    // mutated inputs (a fixed count, not a time, so a slow machine checks
    // as much as a fast one). Long runs are `cargo xtask fuzz`.
    fuzz::run(&fuzz::Options {
        budget: fuzz::Budget::Runs(fuzz::CI_RUNS),
        targets: Vec::new(),
    })?;

    let dir = project::target_dir().join("ci");
    let a = IsoOptions {
        out: dir.join("a.iso"),
        ..IsoOptions::from_env(None, testrepo::iso_vendor()?)?
    };
    let b = IsoOptions {
        out: dir.join("b.iso"),
        ..a.clone()
    };
    assemble::build(&a)?;
    assemble::build(&b)?;
    let (ba, bb) = (fs::read(&a.out)?, fs::read(&b.out)?);
    ensure!(
        ba == bb,
        "two builds with SOURCE_DATE_EPOCH={} differ: {} vs {}",
        a.epoch,
        a.out.display(),
        b.out.display()
    );
    eprintln!(
        "reproducible: two builds are byte-identical ({} bytes, limit {})",
        ba.len(),
        MAX_ISO_BYTES
    );
    check_iso(&a.out)?;
    check_module_closures()?;
    qemu::qemu_test(&QemuTestOptions {
        all: false,
        list: false,
        kvm: false,
        scenarios: Vec::new(),
        jobs: 2,
        iso: Some(a.out.clone()),
        reference: None,
    })?;
    Ok(())
}

/// Our module closures for the pinned kernel against the closures that
/// `modprobe --show-depends` printed on the same package (`kmod::reference`).
pub fn check_module_closures() -> Result<()> {
    let inputs = inputs::ensure()?;
    let (dir, release) = inputs.kernel_modules()?;
    let n = image_builder::kmod::reference::check_appendix_a(&dir)
        .with_context(|| format!("module closures of {release} differ from modprobe's"))?;
    eprintln!("module closures: {n} roots match modprobe --show-depends for {release}");
    Ok(())
}

/// Inspects a built ISO with the reference tools.
pub fn check_iso(iso: &Path) -> Result<()> {
    let size = fs::metadata(iso)
        .with_context(|| format!("reading {}", iso.display()))?
        .len();
    ensure!(
        size <= MAX_ISO_BYTES,
        "{} is {size} bytes, over {MAX_ISO_BYTES}",
        iso.display()
    );
    let iso_s = iso.to_string_lossy().into_owned();

    // `-return_with FAILURE 32`: xorriso rates "cannot make a proposal to mark a
    // data file as MBR partition without being in GPT" (our MBR-only layout;
    // the proposal line is all it cannot produce) as SORRY, which would make it
    // exit 32 after a complete report.
    let report = Cmd::new("xorriso")
        .args([
            "-return_with",
            "FAILURE",
            "32",
            "-indev",
            &iso_s,
            "-report_el_torito",
            "plain",
            "-report_el_torito",
            "as_mkisofs",
            "-report_system_area",
            "plain",
        ])
        .read()?;
    let r = format!("{}\n{}", report.stdout, report.stderr);
    check_xorriso_report(&r, size)?;

    let info = Cmd::new("isoinfo")
        .args(["-d", "-i", &iso_s])
        .read()?
        .stdout;
    ensure!(
        info.contains(&format!("Volume id: {}", product::VOLUME_ID)),
        "isoinfo: wrong volume id:\n{info}"
    );
    ensure!(
        info.contains("El Torito VD version 1 found"),
        "isoinfo finds no El Torito record:\n{info}"
    );
    ensure!(
        info.contains("Rock Ridge signatures version 1 found"),
        "isoinfo finds no Rock Ridge:\n{info}"
    );

    let dir = project::target_dir().join("check-iso");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let dir_s = dir.to_string_lossy().into_owned();
    Cmd::new("osirrox")
        .args([
            "-indev",
            &iso_s,
            "-extract",
            "/boot/grub/efi.img",
            &format!("{dir_s}/efi.img"),
        ])
        .args([
            "-extract",
            "/boot/initrd.img",
            &format!("{dir_s}/initrd.img"),
        ])
        .args(["-extract", "/.disk/info", &format!("{dir_s}/info")])
        .read()?;
    Cmd::new("fsck.vfat")
        .args(["-n", &format!("{dir_s}/efi.img")])
        .read()
        .context("fsck.vfat on the ESP image")?;
    let listing = Cmd::new("mdir")
        .args(["-b", "-i", &format!("{dir_s}/efi.img"), "::/EFI/BOOT"])
        .read()?
        .stdout;
    for name in ["BOOTX64.EFI", "grubx64.efi"] {
        ensure!(
            listing.lines().any(|l| l
                .trim_end()
                .eq_ignore_ascii_case(&format!("::/EFI/BOOT/{name}"))),
            "the ESP lacks EFI/BOOT/{name}:\n{listing}"
        );
    }
    // The zstd tool checks the frame (and its checksum) as the kernel will.
    Cmd::new("zstd")
        .args(["-d", "-q", "-f", &format!("{dir_s}/initrd.img")])
        .args(["-o", &format!("{dir_s}/initrd.cpio")])
        .read()
        .context("the initramfs is not a valid zstd frame")?;
    let list = Cmd::new("cpio")
        .args(["-t", "--quiet", "-F", &format!("{dir_s}/initrd.cpio")])
        .read()?
        .stdout;
    for want in [
        "init",
        "dev/console",
        "etc/installer/build.json",
        "bin/busybox",
        "bin/sh",
        "etc/installer/vendor.json",
        "etc/installer/trust.json",
        "etc/installer/backend-ca.pem",
        "usr/share/installer/boot/i386-pc/boot.img",
        "usr/share/installer/boot/i386-pc/core.img",
        "usr/share/installer/boot/efi/shimx64.efi",
        "usr/share/installer/boot/efi/grubx64.efi",
    ] {
        ensure!(
            list.lines().any(|l| l == want),
            "the initramfs lacks {want}"
        );
    }
    for suffix in [
        "/modules.dep",
        "/modules.alias",
        "/sd_mod.ko",
        "/sr_mod.ko",
        "/usb-storage.ko",
        "/tulip.ko",
    ] {
        ensure!(
            list.lines()
                .any(|l| l.starts_with("lib/modules/") && l.ends_with(suffix)),
            "the initramfs lacks *{suffix}"
        );
    }
    eprintln!(
        "check-iso: {} ok ({} bytes; El Torito BIOS+UEFI, isohybrid MBR with 0xEF partition, Rock Ridge, ESP fsck clean, initramfs {} entries)",
        iso.display(),
        size,
        list.lines().count()
    );
    Ok(())
}

/// Checks xorriso's report of our ISO (`-report_el_torito plain` and
/// `-report_system_area plain` lines).
pub fn check_xorriso_report(r: &str, size: u64) -> Result<()> {
    let line = |prefix: &str| -> Result<Vec<String>> {
        let l = r
            .lines()
            .find(|l| l.starts_with(prefix))
            .with_context(|| format!("xorriso report has no `{prefix}` line:\n{r}"))?;
        Ok(l[prefix.len()..]
            .split_whitespace()
            .map(str::to_string)
            .collect())
    };
    let bios = line("El Torito boot img :   1")?;
    ensure!(
        bios[..5] == ["BIOS", "y", "none", "0x0000", "0x00"] && bios[5] == "4",
        "BIOS boot entry: {bios:?}"
    );
    let uefi = line("El Torito boot img :   2")?;
    ensure!(
        uefi[..5] == ["UEFI", "y", "none", "0x0000", "0x00"],
        "UEFI boot entry: {uefi:?}"
    );
    let opts = line("El Torito img opts :   1")?;
    ensure!(
        opts.iter().any(|o| o == "boot-info-table"),
        "no boot info table: {opts:?}"
    );
    ensure!(
        opts.iter().any(|o| o == "isohybrid-suitable"),
        "isolinux.bin not seen as isohybrid-suitable: {opts:?}"
    );
    ensure!(
        line("El Torito img path :   1")? == ["/isolinux/isolinux.bin"],
        "BIOS image path"
    );
    ensure!(
        line("El Torito img path :   2")? == ["/boot/grub/efi.img"],
        "UEFI image path"
    );
    let summary = line("System area summary:")?;
    ensure!(
        summary.starts_with(&["MBR".into(), "isohybrid".into()]),
        "system area: {summary:?}"
    );
    let p1 = line("MBR partition      :   1")?;
    ensure!(
        p1 == ["0x80", "0x00", "0", &(size / 512).to_string()],
        "MBR partition 1: {p1:?} (image has {} sectors)",
        size / 512
    );
    let p2 = line("MBR partition      :   2")?;
    ensure!(p2[..2] == ["0x00", "0xef"], "MBR partition 2: {p2:?}");
    ensure!(
        line("MBR partition path :   2")? == ["/boot/grub/efi.img"],
        "MBR partition 2 is not efi.img"
    );
    if r.lines().any(|l| l.starts_with("GPT")) {
        bail!("unexpected GPT in the system area (layout A is MBR only)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Our expected shape, on the lines xorriso printed for a reference image,
    // with the GPT lines removed.
    const REPORT: &str = "\
El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4        2554
El Torito boot img :   2  UEFI  y   none  0x0000  0x00  10052          41
El Torito img path :   1  /isolinux/isolinux.bin
El Torito img opts :   1  boot-info-table isohybrid-suitable
El Torito img path :   2  /boot/grub/efi.img
System area summary: MBR isohybrid cyl-align-on
MBR partition      :   1   0x80  0x00            0        40960
MBR partition      :   2   0x00  0xef          164        10050
MBR partition path :   2  /boot/grub/efi.img
";

    #[test]
    fn accepts_the_reference_layout() {
        check_xorriso_report(REPORT, 40960 * 512).unwrap();
    }

    #[test]
    fn names_what_is_wrong() {
        let err = check_xorriso_report(REPORT, 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MBR partition 1") && err.contains("2048 sectors"),
            "{err}"
        );
        let no_hybrid = REPORT.replace(" isohybrid-suitable", "");
        assert!(check_xorriso_report(&no_hybrid, 40960 * 512)
            .unwrap_err()
            .to_string()
            .contains("isohybrid-suitable"));
        let gpt = format!("{REPORT}GPT disk GUID      :      3230\n");
        assert!(check_xorriso_report(&gpt, 40960 * 512)
            .unwrap_err()
            .to_string()
            .contains("unexpected GPT"));
        let no_efi = REPORT
            .lines()
            .filter(|l| !l.contains("0xef"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(check_xorriso_report(&no_efi, 40960 * 512)
            .unwrap_err()
            .to_string()
            .contains("MBR partition      :   2"));
    }
}
