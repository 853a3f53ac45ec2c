//! One whole install driven over the serial console or from the ISO's
//! answers, as the `install-*`/`reference-*` suites and `wizard-bios` run
//! it: the ISO boots with an empty target disk, "Install on serial
//! console", the installer's screens answered, the install to its end and
//! the reboot, then the disk read back with our readers.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use protocol::{ids, Event};

use crate::harness::disk::empty_disk;
use crate::harness::session::{check, Session, STEP_TIMEOUT};
use crate::scenario::{choose_serial_entry, RunOptions};
use crate::steps::{
    disks_event, expect_installed, inspect_disk, serial_verified, start, type_manual, Machine,
    TARGET_SERIAL,
};

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

/// What one install is.
#[derive(Debug, Clone)]
pub struct Install<'a> {
    pub machine: Machine,
    /// The ISO booted.
    pub iso: PathBuf,
    pub drive: Drive,
    /// The keyboard chosen in the installer (typed, or in the answer file).
    pub keyboard: &'a str,
    /// The target disk's size.
    pub disk_mib: u64,
}

/// What an install left.
#[derive(Debug, Clone)]
pub struct Done {
    /// The `installed` event's install id.
    pub install_id: String,
    /// The seconds the installer reported.
    pub install_seconds: f64,
    /// QEMU start → first screen.
    pub first_screen: std::time::Duration,
    /// QEMU start → QEMU exit at the reboot.
    pub installed_at: std::time::Duration,
    /// The target disk image.
    pub target: PathBuf,
    /// The UEFI variable store, if any.
    pub vars: Option<PathBuf>,
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

/// Runs `i` with its disk `target.img` under `dir` (see the module docs).
pub fn install(i: &Install, opts: &RunOptions, dir: &Path) -> Result<Done> {
    let m = &i.machine;
    let target = dir.join("target.img");
    empty_disk(&target, i.disk_mib)?;
    let vars = opts.vars_for(m.firmware, dir)?;
    let cfg = m.install_vm(
        opts,
        i.iso.clone(),
        opts.memory_mib,
        vars.clone(),
        &target,
        dir,
    );
    let mut session = start(&cfg, dir, "install")?;
    choose_serial_entry(&mut session.vm)?;
    match i.drive {
        Drive::InteractiveDhcp => interactive(&mut session, false, i.keyboard)?,
        Drive::InteractiveManual => interactive(&mut session, true, i.keyboard)?,
        Drive::Unattended => {}
    }
    let (install_id, install_seconds) = expect_installed(&mut session, "the install failed")?;
    if i.drive == Drive::Unattended {
        let prompted = session.saw(|e| matches!(e, Event::Prompt { .. }))?;
        ensure!(!prompted, "an unattended install asked for input");
    }
    inspect_disk(&target, m.firmware, &install_id)?;
    Ok(Done {
        install_id,
        install_seconds,
        first_screen: session.first_screen_at.unwrap_or_default(),
        installed_at: session.vm.elapsed(),
        target,
        vars,
    })
}
