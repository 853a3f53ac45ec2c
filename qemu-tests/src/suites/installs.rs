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

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use protocol::{ids, Event};

use crate::harness::disk::empty_disk;
use crate::harness::qemu::{Controller, Firmware, Medium, Network, Nic, VmConfig};
use crate::harness::session::{check, Session, STEP_TIMEOUT};
use crate::reference_boot::{first_and_second_boot, Expect};
use crate::scenario::{choose_serial_entry, IsoVariant, RunOptions, Scenario, Script, Timings};
use crate::steps::{
    boot_installed, disks_event, expect_installed, inspect_disk, serial_verified, start,
    target_drive, type_manual, Installed, Machine, TARGET_SERIAL,
};

/// The target disk on IDE (`pc`) or AHCI (`q35`), next to the CD.
const IDE: Controller = Controller::Ide { bus: 1, unit: None };

/// How the installer is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// Over the serial console: DHCP.
    InteractiveDhcp,
    /// Over the serial console: manual network for QEMU's user network.
    InteractiveManual,
    /// From the ISO's embedded answer file (`installer.unattended`).
    Unattended,
}

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

/// The ISO (or answers ISO) boots with the empty target disk; menu →
/// "Install on serial console".
fn start_installer(
    s: &Scenario,
    c: &Case,
    opts: &RunOptions,
    dir: &Path,
    target: &Path,
    vars: Option<PathBuf>,
) -> Result<Session> {
    let cfg = VmConfig {
        firmware: c.firmware,
        medium: Medium::Cd,
        image: opts.iso_for(s.iso)?,
        memory_mib: opts.memory_mib,
        kvm: opts.kvm,
        vars,
        events: dir.join("events.log"),
        paths: opts.firmware.clone(),
        nic: Some(Nic {
            model: c.nic.into(),
            network: Network::User,
        }),
        drives: vec![target_drive(c.bus, target, None)],
        ..VmConfig::default()
    };
    let mut session = start(&cfg, dir, "install")?;
    choose_serial_entry(&mut session.vm)?;
    Ok(session)
}

/// Types the interactive part up to the start of the install.
fn interactive(s: &mut Session, manual: bool, keyboard: &str) -> Result<()> {
    if manual {
        s.answer(ids::MENU, "m")?;
        type_manual(s)?;
    } else {
        s.answer(ids::MENU, "d")?;
    }
    serial_verified(s)?;
    s.answer(ids::KEYBOARD_LAYOUT, keyboard)?;
    let disks = disks_event(s, STEP_TIMEOUT)?;
    let found = disks
        .iter()
        .any(|d| d.serial == TARGET_SERIAL && d.refusal.is_none());
    check(
        s,
        found,
        &format!("the target disk is not offered: {disks:?}"),
    )?;
    s.answer(ids::INSTALL_AGREE, "y")?;
    s.answer(ids::INSTALL_START, "")
}

/// One full install (see the module docs).
fn run(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let c = case(&s.name)?;
    let target = dir.join("target.img");
    empty_disk(&target, c.disk_mib)?;
    let vars = opts.vars_for(c.firmware, dir)?;
    let mut session = start_installer(s, &c, opts, dir, &target, vars.clone())?;
    match c.drive {
        Drive::InteractiveDhcp => interactive(&mut session, false, c.keyboard)?,
        Drive::InteractiveManual => interactive(&mut session, true, c.keyboard)?,
        Drive::Unattended => {}
    }
    let (id, install_seconds) = expect_installed(&mut session, "the install failed")?;
    let first_screen = session.first_screen_at.unwrap_or_default();
    if c.drive == Drive::Unattended {
        let prompted = session.saw(|e| matches!(e, Event::Prompt { .. }))?;
        ensure!(!prompted, "an unattended install asked for input");
    }
    inspect_disk(&target, c.firmware, &id)?;
    let installed_at = session.vm.elapsed();
    // UEFI with GPT: the installer set BootNext, so the CD may come first.
    let cd_first = c.firmware == Firmware::Uefi;
    let (booted, logins) = match c.payload {
        Payload::Sample => {
            let ready = boot_installed(&c.machine(), opts, dir, &target, vars, HOSTNAME, cd_first)?;
            (ready, None)
        }
        Payload::Reference => {
            let want = Expect {
                hostname: HOSTNAME,
                keyboard: c.keyboard,
                data: "formatted",
                marker: ("written", &id),
            };
            let iso = opts.iso_for(s.iso)?;
            let started = std::time::Instant::now();
            let machine = c.machine();
            let installed = Installed {
                machine: &machine,
                opts,
                iso: &iso,
                dir,
                target: &target,
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
