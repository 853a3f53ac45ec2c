//! Full installs, end to end: the ISO boots with an empty target disk, the
//! installer is driven over the serial console (or runs from answers), it
//! installs from the test backend, QEMU stops at the reboot; the harness
//! reads the disk with our own readers (partition table, boot partition,
//! handover record), then boots the disk — with the ISO still attached as a
//! CD. For the sample appliance it checks the appliance's console and setup
//! page (fetched through a port forward with the printed certificate
//! fingerprint pinned); for the reference appliance (`reference-*`, an ISO
//! built with `--channel reference`) it boots twice with every check of
//! [`crate::reference_boot`] and records both login-prompt times.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::harness::qemu::{Controller, Firmware, Medium};
pub use crate::install_run::Drive;
use crate::install_run::{install, Install};
use crate::reference_boot::{first_and_second_boot, Expect};
use crate::scenario::{IsoVariant, RunOptions, Scenario, Script, Timings};
use crate::steps::{boot_installed, Installed, Machine};

/// The target disk on IDE (`pc`) or AHCI (`q35`), next to the CD.
const IDE: Controller = Controller::Ide { bus: 1, unit: None };

/// What the test repository serves the ISO's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// `cargo xtask appliance` on `stable`: the appliance's ready line and
    /// page are checked after one boot.
    Sample,
    /// The reference appliance on `reference` (an ISO built with
    /// `--channel reference`): two boots with every check of
    /// [`crate::reference_boot`].
    Reference,
}

/// One full-install scenario.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Scenario name.
    pub name: &'static str,
    /// Firmware.
    pub firmware: Firmware,
    /// NIC model.
    pub nic: &'static str,
    /// Target disk controller.
    pub bus: Controller,
    /// Target disk size.
    pub disk_mib: u64,
    /// How the installer is driven.
    pub drive: Drive,
    /// The keyboard chosen in the installer (typed, or in the answer file).
    pub keyboard: &'static str,
    /// What is installed.
    pub payload: Payload,
    /// Part of the CI set.
    pub representative: bool,
}

/// The cases (the acceptance list).
pub const CASES: &[Case] = &[
    Case {
        name: "install-bios-e1000-dhcp",
        firmware: Firmware::Bios,
        nic: "e1000",
        bus: IDE,
        disk_mib: 2048,
        drive: Drive::InteractiveDhcp,
        keyboard: "de",
        payload: Payload::Sample,
        representative: true,
    },
    Case {
        name: "install-uefi-tulip-manual",
        firmware: Firmware::Uefi,
        nic: "tulip",
        bus: IDE,
        disk_mib: 2048,
        drive: Drive::InteractiveManual,
        keyboard: "de",
        payload: Payload::Sample,
        representative: false,
    },
    Case {
        name: "install-sb-unattended",
        firmware: Firmware::SecureBoot,
        nic: "e1000",
        bus: IDE,
        disk_mib: 2048,
        drive: Drive::Unattended,
        keyboard: "de",
        payload: Payload::Sample,
        representative: true,
    },
    Case {
        name: "install-hyperv-gen1-unattended",
        firmware: Firmware::Bios,
        nic: "tulip",
        bus: IDE,
        disk_mib: 2048,
        drive: Drive::Unattended,
        keyboard: "de",
        payload: Payload::Sample,
        representative: false,
    },
    Case {
        name: "install-vmware-pvscsi",
        firmware: Firmware::Bios,
        nic: "vmxnet3",
        bus: Controller::Pvscsi,
        disk_mib: 2048,
        drive: Drive::InteractiveDhcp,
        keyboard: "de",
        payload: Payload::Sample,
        representative: false,
    },
    // VMware's "LSI Logic SAS" (QEMU mptsas1068) is left out: with QEMU's
    // emulation Debian 6.1's mptsas brings the controller up but reports no
    // disks, even in a plain shell, so it would test QEMU, not us. PVSCSI
    // under UEFI is left out because Debian's OVMF has no PVSCSI driver (it
    // boots the CD instead); VMware's firmware has one.
    Case {
        name: "install-kvm-virtio-uefi",
        firmware: Firmware::Uefi,
        nic: "virtio-net-pci",
        bus: Controller::Virtio,
        disk_mib: 2048,
        drive: Drive::InteractiveDhcp,
        keyboard: "de",
        payload: Payload::Sample,
        representative: false,
    },
    // The reference appliance, on the three firmware paths: BIOS
    // interactive with DHCP (the CI set's), UEFI with a manual network,
    // Secure Boot from the answer file (French keyboard).
    Case {
        name: "reference-bios-dhcp",
        firmware: Firmware::Bios,
        nic: "e1000",
        bus: IDE,
        disk_mib: 2048,
        drive: Drive::InteractiveDhcp,
        keyboard: "de",
        payload: Payload::Reference,
        representative: true,
    },
    Case {
        name: "reference-uefi-manual",
        firmware: Firmware::Uefi,
        nic: "tulip",
        bus: IDE,
        disk_mib: 2048,
        drive: Drive::InteractiveManual,
        keyboard: "de",
        payload: Payload::Reference,
        representative: false,
    },
    Case {
        name: "reference-sb-unattended",
        firmware: Firmware::SecureBoot,
        nic: "e1000",
        bus: IDE,
        disk_mib: 2048,
        drive: Drive::Unattended,
        keyboard: "fr",
        payload: Payload::Reference,
        representative: false,
    },
];

/// The answer file of the unattended cases (qemu-tests/data).
pub const UNATTENDED_ANSWERS: &str = "install-unattended.json";
/// The answer file of the unattended reference install (French keyboard).
pub const REFERENCE_ANSWERS: &str = "reference-unattended.json";
/// The host name every case's install ends with.
const HOSTNAME: &str = "appliance";

/// The scenarios.
pub fn scenarios() -> Vec<Scenario> {
    CASES
        .iter()
        .map(|c| {
            let mut s = Scenario::boot(c.name.to_string(), c.firmware, Medium::Cd);
            s.script = Script::Custom(run);
            s.representative = c.representative;
            s.iso = c.iso();
            s.needs.reference = c.payload == Payload::Reference;
            s
        })
        .collect()
}

impl Case {
    /// The answer file, for an unattended case.
    fn answers(&self) -> Option<&'static str> {
        match (self.drive, self.payload) {
            (Drive::Unattended, Payload::Sample) => Some(UNATTENDED_ANSWERS),
            (Drive::Unattended, Payload::Reference) => Some(REFERENCE_ANSWERS),
            _ => None,
        }
    }

    /// The ISO the case boots.
    fn iso(&self) -> IsoVariant {
        match (self.payload, self.answers()) {
            (Payload::Sample, None) => IsoVariant::Default,
            (Payload::Sample, Some(file)) => IsoVariant::Answers(file),
            (Payload::Reference, answers) => IsoVariant::Reference(answers),
        }
    }

    fn machine(&self) -> Machine {
        Machine {
            firmware: self.firmware,
            nic: self.nic,
            bus: self.bus,
        }
    }
}

fn case(name: &str) -> Result<Case> {
    CASES
        .iter()
        .find(|c| c.name == name)
        .copied()
        .with_context(|| format!("no install case {name}"))
}

/// One full install (see the module docs).
fn run(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let c = case(&s.name)?;
    let done = install(
        &Install {
            machine: c.machine(),
            iso: opts.iso_for(s.iso)?,
            drive: c.drive,
            keyboard: c.keyboard,
            disk_mib: c.disk_mib,
        },
        opts,
        dir,
    )?;
    let (id, install_seconds, first_screen) = (
        done.install_id.as_str(),
        done.install_seconds,
        done.first_screen,
    );
    let (target, vars) = (done.target.as_path(), done.vars.clone());
    let installed_at = done.installed_at;
    // UEFI with GPT: the installer set BootNext, so the CD may come first.
    let cd_first = c.firmware == Firmware::Uefi;
    let (booted, logins) = match c.payload {
        Payload::Sample => {
            let ready = boot_installed(&c.machine(), opts, dir, target, vars, HOSTNAME, cd_first)?;
            (ready, None)
        }
        Payload::Reference => {
            let want = Expect {
                hostname: HOSTNAME,
                keyboard: c.keyboard,
                data: "formatted",
                marker: ("written", id),
            };
            let iso = opts.iso_for(s.iso)?;
            let started = std::time::Instant::now();
            let machine = c.machine();
            let installed = Installed {
                machine: &machine,
                opts,
                iso: &iso,
                dir,
                target,
                vars: vars.as_deref(),
            };
            let logins = first_and_second_boot(&installed, cd_first, want)?;
            (started.elapsed(), Some(logins))
        }
    };
    eprintln!(
        "{}: installed after {:.1} s (install {:.1} s), then {:.1} s of appliance boots{}",
        s.name,
        installed_at.as_secs_f64(),
        install_seconds,
        booted.as_secs_f64(),
        logins
            .map(|[a, b]| format!(
                " (login prompt {:.1} s, after the reboot {:.1} s)",
                a.as_secs_f64(),
                b.as_secs_f64()
            ))
            .unwrap_or_default()
    );
    Ok(Timings {
        menu: Duration::ZERO,
        first_screen,
        total: installed_at + booted,
        logins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unattended case's keyboard is the one its answer file chooses.
    #[test]
    fn unattended_keyboards_match_their_answer_files() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        for c in CASES.iter().filter(|c| c.drive == Drive::Unattended) {
            let file = c.answers().unwrap();
            let text = std::fs::read_to_string(data.join(file)).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["keyboard"], c.keyboard, "{} ({file})", c.name);
        }
    }

    #[test]
    fn reference_cases_boot_the_reference_channel() {
        let all = scenarios();
        for c in CASES {
            let s = all.iter().find(|s| s.name == c.name).unwrap();
            let reference = c.payload == Payload::Reference;
            assert_eq!(s.needs.reference, reference, "{}", c.name);
            assert_eq!(
                matches!(s.iso, IsoVariant::Reference(_)),
                reference,
                "{}",
                c.name
            );
        }
        let sb = all
            .iter()
            .find(|s| s.name == "reference-sb-unattended")
            .unwrap();
        assert_eq!(sb.iso, IsoVariant::Reference(Some(REFERENCE_ANSWERS)));
    }
}
