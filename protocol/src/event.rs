//! The events: one JSON object per line, the event's name in `"event"`
//! (kebab-case), its fields next to it. Field order is the declaration order.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

use crate::SERIAL_PREFIX;

/// A module that failed to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleFailure {
    /// Module name.
    pub name: String,
    /// Why, in words.
    pub error: String,
}

/// A disk as the install step saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    /// e.g. `/dev/sda`.
    pub device: String,
    /// Vendor and model.
    pub model: String,
    /// Serial number, may be empty.
    pub serial: String,
    /// Size.
    pub size_bytes: u64,
    /// ata, scsi, virtio, nvme, usb, other.
    pub bus: String,
    /// Why it is not offered; `null` when it is.
    pub refusal: Option<String>,
}

/// How the machine booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// Legacy BIOS.
    Bios,
    /// UEFI.
    Uefi,
}

/// Where the install medium sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediumKind {
    /// An optical drive.
    Cdrom,
    /// A USB mass storage device.
    Usb,
    /// Any other disk.
    Disk,
}

/// What the user chose to do with the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerAction {
    /// Restart.
    Reboot,
    /// Switch off (`poweroff`).
    PowerOff,
}

/// Which partition table the install writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// GUID partition table.
    Gpt,
    /// MS-DOS partition table.
    Mbr,
}

/// An IPv4 address with its prefix length, e.g. `192.0.2.10/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// A static route (DHCP option 121, or later answer files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: Ipv4Cidr,
    pub gateway: Ipv4Addr,
}

/// Where a network configuration came from (`{"kind": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NetSource {
    /// Typed or from an answer file.
    Manual,
    /// A DHCP lease.
    Dhcp {
        server: Ipv4Addr,
        lease_seconds: u32,
    },
}

/// The IPv4 configuration applied to one interface (the installer's own
/// type too: the manual screens, an answer file and a DHCP lease all end in
/// one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetConfig {
    pub interface: String,
    pub address: Ipv4Cidr,
    /// Default gateway; inside the address's subnet.
    pub gateway: Option<Ipv4Addr>,
    /// 1–3 name servers.
    pub dns: Vec<Ipv4Addr>,
    /// RFC 1123 label.
    pub hostname: String,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub mtu: Option<u16>,
    pub routes: Vec<Route>,
    pub source: NetSource,
}

/// One check of the network doctor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `link`, `address`, `gateway`, `dns`, `clock`, `https`.
    pub name: String,
    pub ok: bool,
    /// What was found (pass) or the cause (fail).
    pub detail: String,
    /// A way forward when it failed.
    pub hint: Option<String>,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The UI child started and knows its surroundings.
    Started {
        /// Product version from build.json (the crate version without one).
        version: String,
        /// Console the installer runs on, e.g. `ttyS0`.
        console: String,
        /// bios or uefi.
        firmware: Firmware,
        /// Secure Boot known to be enabled.
        secure_boot: bool,
        /// `grub`, `isolinux` or null, from `installer.loader=`.
        loader: Option<String>,
        /// The kernel command line.
        cmdline: String,
    },
    /// Coldplug finished.
    Modules {
        /// Modules loaded (or found already loaded).
        loaded: usize,
        /// Modules that failed.
        failed: Vec<ModuleFailure>,
        /// Time spent, in seconds.
        seconds: f64,
    },
    /// The install medium was found.
    Medium {
        /// Device path, e.g. `/dev/sr0`.
        device: String,
        /// cdrom, usb or disk.
        kind: MediumKind,
    },
    /// No install medium within the timeout.
    MediumMissing {
        /// The block devices looked at.
        seen: Vec<String>,
    },
    /// The first screen is shown and waits for input.
    FirstScreen,
    /// The user chose to reboot or power off.
    Power {
        /// reboot or poweroff.
        action: PowerAction,
    },
    /// The installer waits for a line of input (emitted every time, also
    /// when the same prompt is shown again after invalid input).
    Prompt {
        /// Which prompt: one of [`crate::ids`].
        id: String,
    },
    /// A line typed at a prompt was refused.
    Invalid {
        /// The prompt.
        id: String,
        /// What was typed (trimmed).
        input: String,
        /// The message shown, exactly.
        message: String,
    },
    /// DHCP got no lease.
    DhcpFailed {
        /// The interface DHCP ran on.
        interface: String,
        /// What was tried.
        tried: String,
        /// A way forward.
        hint: String,
    },
    /// A network configuration was applied.
    Network {
        /// The configuration, as applied.
        config: NetConfig,
    },
    /// The network doctor ran after applying a configuration.
    Doctor {
        /// Every check, in order.
        checks: Vec<Check>,
    },
    /// A keyboard layout was chosen (hotkey K, the keyboard step or the answers).
    Keyboard {
        /// Layout code, e.g. `de`.
        layout: String,
        /// True if applying it to the console keyboard succeeded (a serial
        /// console has nothing to apply and reports true).
        applied: bool,
    },
    /// An answer file was read and is used.
    Answers {
        /// Where it came from, e.g. `installer.answers=http://...`.
        source: String,
    },
    /// An answer file (or its source) is unusable; nothing was changed.
    AnswersError {
        /// The key path, e.g. `network.gateway`, or the kernel parameter.
        key: String,
        /// Why, exactly as shown on the screen.
        message: String,
    },
    /// The backend's verdict on a serial number (docs/events.md).
    Serial {
        /// `verified`, `unknown`, `no-support`, `ended`, or the problem kind
        /// (`clock`, `unreachable`, `tls`, `untrusted`, `not-configured`, `backend`).
        outcome: String,
        /// Only the last group: `XXXX-XXXX-XXXX-HV5B`.
        serial: String,
        /// The verdict as shown.
        message: String,
    },
    /// The disks the install step considered.
    Disks {
        /// Each with the reason it is not offered, if it is not.
        disks: Vec<DiskInfo>,
    },
    /// The install starts (after the agreement and the last look).
    Install {
        /// The target, e.g. `/dev/sda`.
        device: String,
        /// `gpt` or `mbr`.
        table: TableKind,
        /// The release installed.
        release: String,
    },
    /// Progress of the install (a few per second at most).
    InstallProgress {
        /// The stage by its kebab-case name: `wipe`, `download`, `copy`,
        /// `bootloader`, `partition-table`, …
        stage: crate::stage::Stage,
        /// The component, if any.
        component: Option<String>,
        /// Bytes done.
        done: u64,
        /// Bytes in total (0: unknown).
        total: u64,
    },
    /// The install finished; the disk is bootable.
    Installed {
        /// The handover record's install id.
        install_id: String,
        /// Seconds it took.
        seconds: f64,
        /// Bytes downloaded.
        downloaded: u64,
    },
    /// The install failed; the disk was left without a partition table.
    InstallFailed {
        /// What was being done, in words with the component
        /// (`downloading rootfs`).
        stage: crate::stage::StageAt,
        /// What happened.
        message: String,
        /// What to do.
        hint: String,
        /// Where the support bundle went, if one was written.
        bundle: Option<String>,
    },
}

impl Event {
    /// The event as one line of JSON (no newline).
    pub fn to_json(&self) -> String {
        // Serialising these plain types cannot fail; keep a fallback anyway.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"event\":\"error\",\"error\":\"{e}\"}}"))
    }

    /// The line written to the serial port, with prefix and newline.
    pub fn serial_line(&self) -> String {
        format!("{SERIAL_PREFIX}{}\n", self.to_json())
    }

    /// Parses one JSON object (a line of the events file).
    pub fn from_json(json: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The event on a line read from the serial port: `None` when the line
    /// carries no [`SERIAL_PREFIX`]. The prefix need not start the line
    /// (firmware may have written to the same port before the kernel).
    pub fn from_serial_line(line: &str) -> Option<Result<Event, serde_json::Error>> {
        let at = line.find(SERIAL_PREFIX)?;
        let json = line[at + SERIAL_PREFIX.len()..].trim_end_matches(['\r', '\n']);
        Some(Event::from_json(json))
    }

    /// The event's name on the wire (`"event"`), for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::Modules { .. } => "modules",
            Event::Medium { .. } => "medium",
            Event::MediumMissing { .. } => "medium-missing",
            Event::FirstScreen => "first-screen",
            Event::Power { .. } => "power",
            Event::Prompt { .. } => "prompt",
            Event::Invalid { .. } => "invalid",
            Event::DhcpFailed { .. } => "dhcp-failed",
            Event::Network { .. } => "network",
            Event::Doctor { .. } => "doctor",
            Event::Keyboard { .. } => "keyboard",
            Event::Answers { .. } => "answers",
            Event::AnswersError { .. } => "answers-error",
            Event::Serial { .. } => "serial",
            Event::Disks { .. } => "disks",
            Event::Install { .. } => "install",
            Event::InstallProgress { .. } => "install-progress",
            Event::Installed { .. } => "installed",
            Event::InstallFailed { .. } => "install-failed",
        }
    }
}

#[cfg(test)]
mod tests;
