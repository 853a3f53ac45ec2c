//! What the flow needs from the machine for the install step, as a trait so
//! the flow stays pure: a hardware snapshot, the install itself (the real
//! implementation is [`super::system::SystemInstall`], which calls
//! [`super::apply`]), and pointing the next boot at the disk.

use super::plan::Layout;
use super::{Failure, Stage};
use crate::facts::hw::Disk;
use crate::facts::Firmware;
use serde::Serialize;
use vendor_repo::Manifest;

/// What the machine has, read once before the disk step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    /// Every block device that may be a disk.
    pub disks: Vec<Disk>,
    /// `MemTotal` from /proc/meminfo.
    pub mem_total_kib: u64,
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// The install medium's device (e.g. `/dev/sr0`), if found.
    pub medium: Option<String>,
    /// DMI `sys_vendor` and `product_name`, e.g. `Microsoft Corporation
    /// Virtual Machine` (for hints about the platform's disks).
    pub platform: String,
}

/// Everything the install needs, decided before the first write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The target.
    pub disk: Disk,
    /// Where everything goes.
    pub layout: Layout,
    /// The verified manifest.
    pub manifest: Manifest,
    /// The record the appliance reads at first boot (install id filled in).
    pub handover: handover::Handover,
    /// Firmware the boot loader is installed for.
    pub firmware: Firmware,
    /// Installed from the serial console: the target's boot loader and
    /// kernel use it too.
    pub serial_console: bool,
}

/// One progress report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// The stage reporting.
    pub stage: Stage,
    /// The component being written, if any.
    pub component: Option<String>,
    /// Bytes done.
    pub done: u64,
    /// Bytes in total (0 if unknown).
    pub total: u64,
    /// The line the console shows.
    pub line: String,
}

/// A finished install.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Installed {
    /// The install id written to the handover record.
    pub install_id: String,
    /// Seconds the install took.
    pub seconds: f64,
    /// Bytes downloaded.
    pub downloaded: u64,
}

/// The machine, for the install step; a fake in tests.
pub trait InstallOps {
    /// Reads disks, RAM, firmware and the medium.
    fn hardware(&mut self) -> Hardware;
    /// Installs; `progress` gets reports as it goes.
    fn install(
        &mut self,
        job: &Job,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Installed, Failure>;
    /// Makes the next boot use the disk (UEFI `BootNext`); `Ok` says what was done.
    fn boot_next(&mut self, job: &Job) -> Result<String, String>;
}
