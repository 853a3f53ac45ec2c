//! Boot loader files for the disks the installer sets up, prepared at ISO
//! build time and shipped in the installer's initramfs under
//! [`INITRAMFS_DIR`] (the installer's `install::bootloader` names the same
//! paths):
//!
//! - `i386-pc/boot.img` — GRUB's 512-byte MBR code (grub-pc-bin, as shipped);
//! - `i386-pc/core.img` — a GRUB i386-pc core image made here with the pinned
//!   `grub-mkimage` (grub-common) from the pinned modules (grub-pc-bin): the
//!   modules of [`CORE_MODULES`] built in, prefix [`CORE_PREFIX`];
//! - `efi/shimx64.efi`, `efi/grubx64.efi` — Debian's signed shim and the signed
//!   GRUB for installed disks (prefix `/EFI/debian`), byte for byte.
//!
//! `grub-mkimage` output is a pure function of its inputs (no timestamps), and
//! the build checks that by making the image twice.

use std::fs;
use std::path::Path;

use anyhow::{ensure, Context, Result};

use crate::cmd::Cmd;
use crate::inputs::Inputs;
use crate::lockfile::Role;
use crate::project;

/// Where the files go in the initramfs.
pub const INITRAMFS_DIR: &str = "usr/share/installer/boot";

/// Modules built into the BIOS core image (grub-mkimage adds their
/// dependencies from `moddep.lst`). Enough to find the boot partition by
/// FAT volume id on an msdos (or GPT) disk, read `grub.cfg`, and boot a
/// gzip-compressed Linux initrd on the serial or VGA console.
pub const CORE_MODULES: &[&str] = &[
    "biosdisk",
    "part_msdos",
    "part_gpt",
    "fat",
    "normal",
    "linux",
    "configfile",
    "search",
    "search_fs_uuid",
    "search_fs_file",
    "search_label",
    "echo",
    "test",
    "serial",
    "terminal",
    "gzio",
];

/// The core image's prefix: `/boot/grub` on partition 1 of the disk GRUB was
/// loaded from (the empty disk name means "the boot disk").
pub const CORE_PREFIX: &str = "(,msdos1)/boot/grub";

/// GRUB's i386-pc module directory inside grub-pc-bin.
const I386_PC_DIR: &str = "usr/lib/grub/i386-pc";

/// The files, as (path in the initramfs, contents), sorted by path.
pub fn files(inputs: &Inputs) -> Result<Vec<(String, Vec<u8>)>> {
    let boot_img = fs::read(inputs.file(Role::GrubPc, &format!("{I386_PC_DIR}/boot.img"))?)?;
    ensure!(
        boot_img.len() == 512,
        "boot.img is {} bytes, not 512",
        boot_img.len()
    );
    let core = core_image(inputs)?;
    let shim = fs::read(inputs.file(Role::Shim, "usr/lib/shim/shimx64.efi.signed")?)?;
    let grub = fs::read(inputs.file(
        Role::GrubEfi,
        "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
    )?)?;
    let mut out = vec![
        (format!("{INITRAMFS_DIR}/efi/grubx64.efi"), grub),
        (format!("{INITRAMFS_DIR}/efi/shimx64.efi"), shim),
        (format!("{INITRAMFS_DIR}/i386-pc/boot.img"), boot_img),
        (format!("{INITRAMFS_DIR}/i386-pc/core.img"), core),
    ];
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The `grub-mkimage` command line for `out`.
fn mkimage(inputs: &Inputs, out: &Path) -> Result<Cmd> {
    let tool = inputs.file(Role::GrubCommon, "usr/bin/grub-mkimage")?;
    let dir = inputs.root(Role::GrubPc).join(I386_PC_DIR);
    ensure!(
        dir.join("moddep.lst").is_file(),
        "{} has no moddep.lst",
        dir.display()
    );
    Ok(Cmd::new(tool)
        .args([
            "--format",
            "i386-pc",
            "--compression",
            "auto",
            "--directory",
        ])
        .arg(dir)
        .arg("--prefix")
        .arg(CORE_PREFIX)
        .arg("--output")
        .arg(out)
        .args(CORE_MODULES.iter().copied()))
}

/// Makes the core image twice and insists on identical bytes.
fn core_image(inputs: &Inputs) -> Result<Vec<u8>> {
    let tmp = project::target_dir()
        .join("tmp")
        .join(format!("grub-core-{}", crate::inputs::unique()));
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let result = (|| -> Result<Vec<u8>> {
        let mut images = Vec::new();
        for name in ["core-a.img", "core-b.img"] {
            let out = tmp.join(name);
            mkimage(inputs, &out)?
                .read()
                .context("making the BIOS GRUB core image")?;
            images.push(fs::read(&out)?);
        }
        ensure!(
            images[0] == images[1],
            "grub-mkimage made two different core images from the same inputs"
        );
        let core = images.swap_remove(0);
        check_core(&core)?;
        Ok(core)
    })();
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// The checks the installer relies on: whole-sector-able, small enough for
/// the 1 MiB gap, and a diskboot.img first sector (blocklist segment 0x0820).
fn check_core(core: &[u8]) -> Result<()> {
    ensure!(
        core.len() > 512 && core.len() <= 1023 * 512,
        "core.img is {} bytes; it must fit between the MBR and the 1 MiB partition start",
        core.len()
    );
    // diskboot.img: the blocklist's u16 segment at 0x1FE is 0x0820.
    ensure!(
        core[0x1FE..0x200] == [0x20, 0x08],
        "core.img does not start with diskboot.img (no 0x0820 segment at 0x1FE)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_core_shape() {
        let mut core = vec![0u8; 4096];
        assert!(check_core(&core).is_err(), "no 0x0820 segment");
        core[0x1FE] = 0x20;
        core[0x1FF] = 0x08;
        check_core(&core).unwrap();
        let mut big = vec![0u8; 1023 * 512 + 1];
        big[0x1FE] = 0x20;
        big[0x1FF] = 0x08;
        assert!(check_core(&big).is_err(), "larger than the gap");
    }
}

/// The real `grub-mkimage` on the pinned packages (fetched if the cache lacks
/// them; the test fails if that is impossible).
#[cfg(test)]
mod pinned_tests {
    use super::*;

    #[test]
    #[ignore = "needs the pinned Debian packages (apt-get download) and their grub-mkimage"]
    fn pinned_files_are_complete_and_the_core_is_reproducible() {
        let inputs = crate::inputs::ensure()
            .expect("the pinned Debian packages are needed: run `cargo xtask inputs`");
        let files = files(&inputs).unwrap();
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "usr/share/installer/boot/efi/grubx64.efi",
                "usr/share/installer/boot/efi/shimx64.efi",
                "usr/share/installer/boot/i386-pc/boot.img",
                "usr/share/installer/boot/i386-pc/core.img",
            ]
        );
        let core = &files[3].1;
        // grub-mkimage fills in diskboot.img's blocklist length (0x1FC, u16
        // LE): the sectors after the first.
        let sectors = core.len().div_ceil(512);
        assert_eq!(
            u16::from_le_bytes([core[0x1FC], core[0x1FD]]) as usize,
            sectors - 1
        );
        let boot = &files[2].1;
        assert_eq!(&boot[0x1FE..], &[0x55, 0xAA], "boot.img signature");
        // Signed EFI binaries are PE files ("MZ").
        assert_eq!(&files[0].1[..2], b"MZ");
        assert_eq!(&files[1].1[..2], b"MZ");
    }
}
