//! The words of the install step (pure rendering, ≤ 80 columns).

use crate::facts::hw::{human_size, Disk};
use crate::install::plan::{describe, Candidate, Layout, TableKind};
use crate::install::{Failure, Installed};
use std::fmt::Write as _;

/// The agreement question.
pub const AGREE_PROMPT: &str = "Start the installation? [y/n]: ";
/// After "n".
pub const NOT_AGREED: &str = "Nothing was changed. Back to the main menu.\n";
/// The last look before the install.
pub const START_PROMPT: &str = "Check the data above one last time. Press Enter to start: ";
/// Picking a disk.
pub const DISK_PROMPT: &str = "Disk to install on (number or name, e.g. sda): ";
/// After a failure.
pub const FAILED_PROMPT: &str =
    "(R)etry, rescue (S)hell, re(B)oot or (P)ower off? Type r, s, b or p: ";

/// The agreement: everything on the disk will be lost.
pub fn agreement(disk: &Disk, release: &str) -> String {
    format!(
        "\nAgreement\n=========\nRelease {release} will be installed on\n  {}\nALL DATA ON THIS DISK WILL BE LOST.\n",
        describe(disk)
    )
}

/// Why the answers' `erase_disk: true` is not taken as the agreement:
/// `answers_consent` false means their source may not consent on its own;
/// true means the disk is removable.
pub fn consent_notice(disk: &Disk, source: &str, answers_consent: bool) -> String {
    if answers_consent {
        format!(
            "\n/dev/{} is removable: erasing it needs your agreement unless installer.unattended is on the kernel command line.\n",
            disk.name
        )
    } else {
        format!(
            "\nThe answer file from {source} says erase_disk, but answers from there need installer.unattended on the kernel command line to install without asking.\n"
        )
    }
}

/// The disk lines of the final summary.
pub fn disk_summary(disk: &Disk, layout: &Layout) -> String {
    let mut s = format!(
        "Disk:          /dev/{} ({}, {}), {} partition table\n",
        disk.name,
        if disk.model.is_empty() {
            "no model"
        } else {
            &disk.model
        },
        human_size(disk.size_bytes),
        match layout.table {
            TableKind::Gpt => "GPT",
            TableKind::Mbr => "MBR",
        }
    );
    for p in &layout.partitions {
        let _ = writeln!(
            s,
            "  partition {}: {:<8} {:<8} {}",
            p.number,
            p.name,
            p.label,
            human_size(p.bytes())
        );
    }
    s
}

/// The numbered list of disks (refused ones with their reason).
pub fn disk_list(cands: &[Candidate]) -> String {
    let mut s = String::from("\nDisks:\n");
    let mut n = 0;
    for c in cands {
        match &c.refusal {
            None => {
                n += 1;
                let _ = writeln!(s, "  {n:>2}) {}", describe(&c.disk));
            }
            Some(r) => {
                let _ = writeln!(s, "   -) {}\n      not offered: {r}", describe(&c.disk));
            }
        }
    }
    s
}

/// After a successful install.
pub fn success(disk: &Disk, done: &Installed) -> String {
    format!(
        "\nThe installation on /dev/{} is complete ({:.0} s, install id {}).\n\
         The machine now restarts from the hard disk. If the installer starts again,\n\
         remove the installation medium or choose the hard disk in the boot menu.\n",
        disk.name, done.seconds, done.install_id
    )
}

/// After a failed install.
pub fn failure(f: &Failure) -> String {
    let mut s = format!(
        "\n  ! The installation failed while {}:\n    {}\n    {}\n    {}\n",
        f.stage(),
        f.message(),
        f.hint(),
        f.disk_state()
    );
    if let Some(b) = &f.bundle {
        let _ = writeln!(s, "    A support bundle was written to {b}.");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk() -> Disk {
        Disk {
            name: "sda".into(),
            size_bytes: 20 << 30,
            model: "ATA QEMU HARDDISK".into(),
            removable: false,
            bus: "ata",
            serial: "QM00001".into(),
            read_only: false,
            logical_sector: 512,
        }
    }

    #[test]
    fn agreement_names_the_disk_and_fits_80_columns() {
        let a = agreement(&disk(), "1.0.0");
        assert!(a.contains("/dev/sda  ATA QEMU HARDDISK  serial QM00001  20.0 GiB  ata"));
        assert!(a.contains("ALL DATA ON THIS DISK WILL BE LOST."));
        for text in [a.as_str(), FAILED_PROMPT, START_PROMPT] {
            assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        }
    }

    #[test]
    fn failure_says_what_the_disk_looks_like_now() {
        use crate::install::{verify_io::VerifyError, DiskState, InstallError};
        let hash = VerifyError::HashMismatch {
            expected: "aa".into(),
            actual: "bb".into(),
        };
        let f = Failure {
            error: InstallError::fetch("rootfs", hash.into()),
            disk: DiskState::NoPartitionTable,
            wipe_error: None,
            bundle: Some("/dev/sdb1:/support-bundle.tar".into()),
        };
        let s = failure(&f);
        assert!(s.contains("failed while downloading rootfs:\n"), "{s}");
        assert!(
            s.contains("\n    SHA-256 mismatch: expected aa, got bb\n"),
            "{s}"
        );
        assert!(s.contains("\n    the component is not the one"), "{s}");
        assert!(s.contains("it will not boot"));
        assert!(s.contains("support bundle was written to /dev/sdb1"));
    }
}
