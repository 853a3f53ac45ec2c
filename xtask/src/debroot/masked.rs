//! Units and generators of Debian's packages that the appliance never
//! needs, masked in the root image as `systemctl mask` would (a link to
//! `/dev/null` under `/etc/systemd/`). Under emulation on one CPU every
//! process systemd starts before the login prompt delays it, so what the
//! appliance does not use is not started at all. Each entry says why.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// Units of Debian's packages the appliance never wants, masked (a link to
/// `/dev/null` in `/etc/systemd/system/`), each with its reason. All but
/// the two timers started before the login prompt; under emulation every
/// process start costs a tenth of a second or more of the one CPU.
pub const MASKED: &[(&str, &str)] = &[
    (
        "modprobe@configfs.service",
        "configfs is not in the image's modules, and nothing of the appliance uses it",
    ),
    (
        "modprobe@dm_mod.service",
        "device mapper: the appliance has no LVM, crypt or verity volumes",
    ),
    (
        "modprobe@drm.service",
        "no graphics drivers: the VGA console is the kernel's text mode",
    ),
    ("modprobe@efi_pstore.service", "no pstore archive is kept"),
    ("modprobe@fuse.service", "no FUSE file systems"),
    ("modprobe@loop.service", "no loop devices"),
    (
        "dev-hugepages.mount",
        "no program of the appliance uses huge pages",
    ),
    (
        "sys-kernel-debug.mount",
        "debugfs is for kernel debugging, not an appliance",
    ),
    (
        "sys-kernel-tracing.mount",
        "tracefs is for kernel tracing, not an appliance",
    ),
    ("systemd-pstore.service", "no pstore archive is kept"),
    (
        "proc-sys-fs-binfmt_misc.automount",
        "no foreign binary formats; the kernel has no autofs, so it only printed `[UNSUPP]` on the console",
    ),
    (
        "dpkg-db-backup.timer",
        "the root image is read-only; its dpkg database never changes",
    ),
    (
        "fstrim.timer",
        "the data partition is small and the root image read-only",
    ),
];

/// Generators the appliance does not need, masked (a link to `/dev/null` in
/// `/etc/systemd/system-generators/`): systemd runs every generator at
/// start and again at every reload, and under emulation each costs about a
/// tenth of a second. The fstab, getty and debug (`systemd.mask=` on the
/// kernel command line) generators stay.
pub const MASKED_GENERATORS: &[(&str, &str)] = &[
    ("systemd-cryptsetup-generator", "no encrypted volumes"),
    (
        "systemd-integritysetup-generator",
        "no dm-integrity volumes",
    ),
    ("systemd-veritysetup-generator", "no dm-verity volumes"),
    (
        "systemd-gpt-auto-generator",
        "stage 1 mounts root and data; nothing is discovered",
    ),
    ("systemd-hibernate-resume-generator", "no hibernation"),
    ("systemd-rc-local-generator", "no /etc/rc.local"),
    (
        "systemd-system-update-generator",
        "no offline updates: the root image is replaced whole",
    ),
    (
        "systemd-run-generator",
        "no units from the kernel command line",
    ),
    (
        "systemd-sysv-generator",
        "every init script of the image has a native unit",
    ),
];

/// Masks [`MASKED`] and [`MASKED_GENERATORS`] in `rootfs`.
pub fn apply(rootfs: &Path) -> Result<()> {
    for (unit, why) in MASKED {
        mask(rootfs, &unit_link(unit))?;
        eprintln!("masked {unit}: {why}");
    }
    for (generator, why) in MASKED_GENERATORS {
        mask(rootfs, &generator_link(generator))?;
        eprintln!("masked the generator {generator}: {why}");
    }
    Ok(())
}

/// Where a masked unit's link goes, relative to the root.
pub fn unit_link(unit: &str) -> String {
    format!("etc/systemd/system/{unit}")
}

/// Where a masked generator's link goes, relative to the root.
pub fn generator_link(generator: &str) -> String {
    format!("etc/systemd/system-generators/{generator}")
}

/// Makes `link` (relative to `rootfs`) a link to `/dev/null`, as
/// `systemctl mask` does.
fn mask(rootfs: &Path, link: &str) -> Result<()> {
    let p = rootfs.join(link);
    if let Some(dir) = p.parent() {
        fs::create_dir_all(dir)?;
    }
    let _ = fs::remove_file(&p);
    std::os::unix::fs::symlink("/dev/null", &p).with_context(|| format!("masking /{link}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_links_to_dev_null_and_the_needed_generators_stay() {
        let dir = std::env::temp_dir().join(format!("xtask-masked-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc/systemd/system")).unwrap();
        // An existing file of the same name is replaced.
        fs::write(dir.join(unit_link("fstrim.timer")), "x").unwrap();
        apply(&dir).unwrap();
        for (unit, _) in MASKED {
            let l = fs::read_link(dir.join(unit_link(unit))).unwrap();
            assert_eq!(l, Path::new("/dev/null"), "{unit}");
        }
        for (g, _) in MASKED_GENERATORS {
            let l = fs::read_link(dir.join(generator_link(g))).unwrap();
            assert_eq!(l, Path::new("/dev/null"), "{g}");
        }
        for needed in [
            "systemd-fstab-generator",
            "systemd-getty-generator",
            "systemd-debug-generator",
        ] {
            assert!(
                !MASKED_GENERATORS.iter().any(|(g, _)| *g == needed),
                "{needed}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
