//! `boot-inputs.lock`: one line per Debian package the image is built from.
//!
//! ```text
//! # package  version  sha256  role
//! linux-image-6.1.0-56-amd64 6.1.192-2 0123…cdef kernel
//! ```
//! The role says what the package is for, so a kernel ABI bump (a new package
//! name) is still found by `--update`.

use std::fmt::Write as _;

use anyhow::{bail, Result};

/// What a pinned package is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Kernel,
    Isolinux,
    SyslinuxCommon,
    Shim,
    GrubEfi,
    /// busybox for the rescue shell.
    Busybox,
    /// `ckbcomp`, which compiles XKB layouts into console keymaps (build time only).
    ConsoleSetup,
    /// The XKB layout data `ckbcomp` reads (build time only).
    XkbData,
    /// `loadkeys -b`, which turns a keymap into the binary form the installer loads (build time only).
    Kbd,
    /// `grub-mkimage`, which makes the BIOS GRUB core image for installed disks (build time only).
    GrubCommon,
    /// GRUB i386-pc modules, `boot.img` and `diskboot.img` for installed disks.
    GrubPc,
    /// NIC firmware for the module pack (Debian's `non-free-firmware` component):
    /// Broadcom NetXtreme II (bnx2, cnic).
    FirmwareBnx2,
    /// Broadcom NetXtreme II 10Gb (bnx2x).
    FirmwareBnx2x,
    /// Realtek NICs (r8169, r8152, …).
    FirmwareRealtek,
    /// QLogic NICs and HBAs (qed, qla2xxx, …).
    FirmwareQlogic,
    /// The NIC parts of firmware-misc-nonfree (Intel ice DDP, Mellanox, …).
    FirmwareMisc,
}

impl Role {
    pub const ALL: [Role; 16] = [
        Role::Kernel,
        Role::Isolinux,
        Role::SyslinuxCommon,
        Role::Shim,
        Role::GrubEfi,
        Role::Busybox,
        Role::ConsoleSetup,
        Role::XkbData,
        Role::Kbd,
        Role::GrubCommon,
        Role::GrubPc,
        Role::FirmwareBnx2,
        Role::FirmwareBnx2x,
        Role::FirmwareRealtek,
        Role::FirmwareQlogic,
        Role::FirmwareMisc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Kernel => "kernel",
            Role::Isolinux => "isolinux",
            Role::SyslinuxCommon => "syslinux-common",
            Role::Shim => "shim",
            Role::GrubEfi => "grub-efi",
            Role::Busybox => "busybox",
            Role::ConsoleSetup => "console-setup",
            Role::XkbData => "xkb-data",
            Role::Kbd => "kbd",
            Role::GrubCommon => "grub-common",
            Role::GrubPc => "grub-pc",
            Role::FirmwareBnx2 => "firmware-bnx2",
            Role::FirmwareBnx2x => "firmware-bnx2x",
            Role::FirmwareRealtek => "firmware-realtek",
            Role::FirmwareQlogic => "firmware-qlogic",
            Role::FirmwareMisc => "firmware-misc",
        }
    }

    /// The package `--update` asks apt about for this role. For the kernel it is
    /// the meta package, whose dependency names the real image package.
    pub fn source_package(self) -> &'static str {
        match self {
            Role::Kernel => "linux-image-amd64",
            Role::Isolinux => "isolinux",
            Role::SyslinuxCommon => "syslinux-common",
            Role::Shim => "shim-signed",
            Role::GrubEfi => "grub-efi-amd64-signed",
            Role::Busybox => "busybox-static",
            Role::ConsoleSetup => "console-setup",
            Role::XkbData => "xkb-data",
            Role::Kbd => "kbd",
            Role::GrubCommon => "grub-common",
            Role::GrubPc => "grub-pc-bin",
            Role::FirmwareBnx2 => "firmware-bnx2",
            Role::FirmwareBnx2x => "firmware-bnx2x",
            Role::FirmwareRealtek => "firmware-realtek",
            Role::FirmwareQlogic => "firmware-qlogic",
            Role::FirmwareMisc => "firmware-misc-nonfree",
        }
    }

    /// The firmware roles, whose packages come from `non-free-firmware`.
    pub const FIRMWARE: [Role; 5] = [
        Role::FirmwareBnx2,
        Role::FirmwareBnx2x,
        Role::FirmwareRealtek,
        Role::FirmwareQlogic,
        Role::FirmwareMisc,
    ];

    /// True if the package is in Debian's `non-free-firmware` component,
    /// which apt on the build host need not have enabled
    /// (`inputs::NonFreeApt` adds it for the download only).
    pub fn non_free_firmware(self) -> bool {
        Role::FIRMWARE.contains(&self)
    }

    fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub package: String,
    pub version: String,
    pub sha256: String,
    pub role: Role,
}

impl Pin {
    /// `package_version` with the characters apt would escape made file-name safe.
    pub fn stem(&self) -> String {
        format!("{}_{}", self.package, self.version.replace(':', "%3a"))
    }
}

/// The parsed lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub pins: Vec<Pin>,
}

impl Lock {
    pub fn parse(text: &str) -> Result<Lock> {
        let mut pins = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [package, version, sha256, role] = fields[..] else {
                bail!(
                    "boot-inputs.lock line {}: expected `package version sha256 role`, found {} fields",
                    i + 1,
                    fields.len()
                );
            };
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "boot-inputs.lock line {}: `{sha256}` is not a sha256 hex digest",
                    i + 1
                );
            }
            let Some(role) = Role::parse(role) else {
                bail!(
                    "boot-inputs.lock line {}: unknown role `{role}` (expected one of {})",
                    i + 1,
                    Role::ALL.map(Role::name).join(", ")
                );
            };
            pins.push(Pin {
                package: package.to_string(),
                version: version.to_string(),
                sha256: sha256.to_ascii_lowercase(),
                role,
            });
        }
        for role in Role::ALL {
            match pins.iter().filter(|p| p.role == role).count() {
                1 => {}
                0 => bail!(
                    "boot-inputs.lock has no `{}` package; run `cargo xtask inputs --update`",
                    role.name()
                ),
                _ => bail!(
                    "boot-inputs.lock names more than one `{}` package",
                    role.name()
                ),
            }
        }
        pins.sort_by_key(|p| p.role);
        Ok(Lock { pins })
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Debian 12 packages the ISO is built from: package version sha256 role.\n\
             # `cargo xtask inputs --update` re-pins every line to apt's current version.\n\
             # A line may be added by hand: version from `apt-cache policy`, sha256 of the\n\
             # `apt-get download`ed .deb (`sha256sum`); the build verifies it on every fetch.\n",
        );
        for p in &self.pins {
            let _ = writeln!(
                out,
                "{} {} {} {}",
                p.package,
                p.version,
                p.sha256,
                p.role.name()
            );
        }
        out
    }

    pub fn get(&self, role: Role) -> &Pin {
        // `parse` guarantees exactly one pin per role.
        self.pins
            .iter()
            .find(|p| p.role == role)
            .unwrap_or(&self.pins[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn full() -> String {
        Role::ALL
            .iter()
            .map(|r| format!("pkg-{} 1:2.0~x {SHA} {}\n", r.name(), r.name()))
            .collect()
    }

    #[test]
    fn round_trips() {
        let lock = Lock::parse(&full()).unwrap();
        assert_eq!(lock.pins.len(), Role::ALL.len());
        assert_eq!(lock.get(Role::Shim).package, "pkg-shim");
        assert_eq!(lock.get(Role::Kernel).stem(), "pkg-kernel_1%3a2.0~x");
        assert_eq!(Lock::parse(&lock.render()).unwrap(), lock);
    }

    #[test]
    fn names_the_bad_line() {
        let text = format!("{}oops 1.0 {SHA}\n", full());
        let err = Lock::parse(&text).unwrap_err().to_string();
        assert!(
            err.contains(&format!("line {}", Role::ALL.len() + 1))
                && err.contains("found 3 fields"),
            "{err}"
        );
        let err = Lock::parse(&format!("{}x 1 abc kernel", full()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`abc` is not a sha256"), "{err}");
        let err = Lock::parse(&format!("x 1 {SHA} bootloader"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown role `bootloader`"), "{err}");
    }

    #[test]
    fn every_role_exactly_once() {
        let missing: String = full().lines().skip(1).map(|l| format!("{l}\n")).collect();
        let err = Lock::parse(&missing).unwrap_err().to_string();
        assert!(err.contains("no `kernel` package"), "{err}");
        let twice = format!("{}{}", full(), full().lines().next().unwrap());
        assert!(Lock::parse(&twice)
            .unwrap_err()
            .to_string()
            .contains("more than one `kernel`"));
    }
}
