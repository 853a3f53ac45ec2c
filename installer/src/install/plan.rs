//! The install plan: answers + a hardware snapshot + the verified manifest →
//! which disk, which partition table, where every partition starts. Pure and
//! tested without root; [`super::apply`] is the only code that acts on it.

use crate::facts::hw::{human_size, Disk};
use crate::facts::Firmware;
use serde::{Deserialize, Serialize};
use vendor_repo::manifest::{Filesystem, Manifest, PartitionKind};

/// Sector size the plan is made for.
pub const SECTOR: u64 = 512;
/// Partitions start on 1 MiB boundaries.
pub const ALIGN: u64 = (1 << 20) / SECTOR;
/// Sectors the backup GPT needs at the end (header + 32 sectors of entries).
pub const GPT_BACKUP: u64 = 33;
/// The kernel reserves some RAM: `MemTotal` may be this many percent below
/// the installed amount the manifest names.
pub const RAM_TOLERANCE_PERCENT: u64 = 10;

/// GPT type of an EFI system partition.
pub const GPT_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// GPT type of Linux data.
pub const GPT_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// GPT type of a Linux root file system for x86-64 (the Discoverable
/// Partitions Specification's).
pub const GPT_LINUX_ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// Which partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// GUID partition table (UEFI default).
    Gpt,
    /// MS-DOS partition table (BIOS default).
    Mbr,
}

/// How answers pick a disk; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSelector {
    /// The device, e.g. `/dev/sda` or `sda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The disk's serial number, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// A part of the model, case-insensitive (`QEMU HARDDISK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Among the matches, the largest or smallest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeRule>,
}

/// `largest` or `smallest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeRule {
    /// The largest eligible disk.
    Largest,
    /// The smallest eligible disk.
    Smallest,
}

/// A disk and why it cannot be used (if it cannot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The disk.
    pub disk: Disk,
    /// `None`: eligible.
    pub refusal: Option<String>,
}

/// One line describing a disk for screens: `sda  ATA QEMU HARDDISK  serial QM00001  20.0 GiB  ata`.
pub fn describe(d: &Disk) -> String {
    let model = if d.model.is_empty() {
        "(no model)"
    } else {
        &d.model
    };
    let serial = if d.serial.is_empty() {
        String::from("no serial")
    } else {
        format!("serial {}", d.serial)
    };
    format!(
        "/dev/{}  {model}  {serial}  {}  {}",
        d.name,
        human_size(d.size_bytes),
        d.bus
    )
}

/// Sorts every disk into eligible or refused (with the reason): never the
/// install medium, CD drives, read-only or removable/USB devices (unless
/// `allow_removable`), disks with non-512-byte sectors, or disks too small.
pub fn candidates(
    disks: &[Disk],
    medium: Option<&str>,
    min_disk_mib: u64,
    allow_removable: bool,
) -> Vec<Candidate> {
    disks
        .iter()
        .map(|d| {
            let dev = format!("/dev/{}", d.name);
            let refusal = if medium.is_some_and(|m| m == dev || m.starts_with(&dev)) {
                Some("it holds the installation medium".to_string())
            } else if d.name.starts_with("sr") {
                Some("it is a CD/DVD drive".to_string())
            } else if d.read_only {
                Some("it is read-only".to_string())
            } else if is_removable(d) && !allow_removable {
                Some("it is removable (USB); select it by serial or path in the answer file to use it".to_string())
            } else if d.logical_sector != SECTOR {
                Some(format!(
                    "it has {}-byte sectors; this installer writes 512-byte sector layouts",
                    d.logical_sector
                ))
            } else if d.size_bytes < min_disk_mib << 20 {
                Some(format!(
                    "it is too small: {} but this appliance needs at least {}",
                    human_size(d.size_bytes),
                    human_size(min_disk_mib << 20)
                ))
            } else {
                None
            };
            Candidate {
                disk: d.clone(),
                refusal,
            }
        })
        .collect()
}

/// True for a disk anyone can plug in: removable or on USB.
pub fn is_removable(d: &Disk) -> bool {
    d.removable || d.bus == "usb"
}

/// Whether erasing `disk` needs the user's "y" at the agreement prompt.
/// `answers_consent`: the answer file says `erase_disk: true` and its source
/// may give that consent (see `answers::Origin::may_consent`). A removable
/// disk, which [`candidates`] offers only when the answers name it by path or
/// serial, also needs the "y" unless the run is explicitly unattended
/// (`installer.unattended`).
pub fn must_confirm(disk: &Disk, answers_consent: bool, unattended: bool) -> bool {
    !answers_consent || (is_removable(disk) && !unattended)
}

/// Why no disk could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Nothing qualifies.
    #[error("no disk can take the installation:{}", list(.0))]
    NoDisk(Vec<String>),
    /// The selector matched nothing eligible.
    #[error("no eligible disk matches {selector}:{}", list(.candidates))]
    NoMatch {
        /// The selector as text.
        selector: String,
        /// Every disk with its state.
        candidates: Vec<String>,
    },
    /// The selector matched several and has no size rule.
    #[error("{count} disks match {selector}; add \"serial\" or \"size\": \"largest\"/\"smallest\" to choose one:{}", list(.matches))]
    Ambiguous {
        /// The selector as text.
        selector: String,
        /// How many.
        count: usize,
        /// The matches.
        matches: Vec<String>,
    },
}

fn list(lines: &[String]) -> String {
    lines.iter().map(|l| format!("\n  {l}")).collect()
}

fn state(c: &Candidate) -> String {
    match &c.refusal {
        None => format!("{} — eligible", describe(&c.disk)),
        Some(r) => format!("{} — not used: {r}", describe(&c.disk)),
    }
}

/// Picks by selector: all given fields must match an eligible disk; `size`
/// breaks ties. Without a selector (`None`), exactly one eligible disk is
/// picked; several return `Ambiguous` (an interactive run asks instead).
pub fn select(cands: &[Candidate], selector: Option<&DiskSelector>) -> Result<Disk, SelectError> {
    let eligible: Vec<&Candidate> = cands.iter().filter(|c| c.refusal.is_none()).collect();
    if eligible.is_empty() {
        return Err(SelectError::NoDisk(cands.iter().map(state).collect()));
    }
    let sel = selector.cloned().unwrap_or_default();
    let text = serde_json::to_string(&sel).unwrap_or_default();
    let mut matches: Vec<&Disk> = eligible
        .iter()
        .map(|c| &c.disk)
        .filter(|d| {
            sel.path
                .as_ref()
                .is_none_or(|p| p.trim_start_matches("/dev/") == d.name)
                && sel.serial.as_ref().is_none_or(|s| *s == d.serial)
                && sel
                    .model
                    .as_ref()
                    .is_none_or(|m| d.model.to_lowercase().contains(&m.to_lowercase()))
        })
        .collect();
    match sel.size {
        Some(SizeRule::Largest) => matches.sort_by_key(|d| std::cmp::Reverse(d.size_bytes)),
        Some(SizeRule::Smallest) => matches.sort_by_key(|d| d.size_bytes),
        None => {}
    }
    match (matches.len(), sel.size) {
        (0, _) => Err(SelectError::NoMatch {
            selector: text,
            candidates: cands.iter().map(state).collect(),
        }),
        (1, _) | (_, Some(_)) => Ok(matches[0].clone()),
        (n, None) => Err(SelectError::Ambiguous {
            selector: text,
            count: n,
            matches: matches.iter().map(|d| describe(d)).collect(),
        }),
    }
}

/// What to add when no disk was found at all, by platform (DMI vendor and
/// product): on Hyper-V, disks come through VMBus, not the emulated IDE.
pub fn no_disk_hint(platform: &str) -> Option<&'static str> {
    let p = platform.to_ascii_lowercase();
    if p.contains("microsoft") && p.contains("virtual machine") {
        Some("this is a Hyper-V virtual machine: its disks are reached through Hyper-V's storage driver (hv_storvsc over VMBus), not the emulated IDE controller; check that the VM has a virtual hard disk attached (Settings > IDE or SCSI controller > Hard Drive) and that it is not the DVD drive")
    } else if p.contains("vmware") {
        Some("this is a VMware virtual machine: check that it has a virtual disk (Edit Settings > Add New Device > Hard Disk) on a SCSI (PVSCSI or LSI Logic) or SATA controller")
    } else {
        None
    }
}

/// RAM check: `Err` with both figures when too little.
pub fn check_ram(mem_total_kib: u64, min_ram_mib: u64) -> Result<(), String> {
    let needed_kib = min_ram_mib * 1024 * (100 - RAM_TOLERANCE_PERCENT) / 100;
    if mem_total_kib >= needed_kib {
        Ok(())
    } else {
        Err(format!(
            "this machine has {} of RAM; the appliance needs {} MiB",
            human_size(mem_total_kib * 1024),
            min_ram_mib
        ))
    }
}

/// One partition, placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placed {
    /// 1-based partition number.
    pub number: u32,
    /// The manifest's name (`boot`, `data`).
    pub name: String,
    /// Partition and filesystem label.
    pub label: String,
    /// What it is for.
    pub kind: PartitionKind,
    /// What the installer puts in it.
    pub filesystem: Filesystem,
    /// First sector.
    pub first_lba: u64,
    /// Length in sectors.
    pub sectors: u64,
    /// MBR type byte.
    pub mbr_type: u8,
    /// GPT type GUID.
    pub gpt_type: &'static str,
    /// MBR active flag (the boot partition).
    pub bootable: bool,
}

impl Placed {
    /// Byte offset on the disk.
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR
    }
    /// Length in bytes.
    pub fn bytes(&self) -> u64 {
        self.sectors * SECTOR
    }
}

/// Where everything goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// The partition table.
    pub table: TableKind,
    /// The disk's size in sectors.
    pub disk_sectors: u64,
    /// In disk order.
    pub partitions: Vec<Placed>,
}

impl Layout {
    /// The FAT partition boot files go to (the first `vfat` one).
    pub fn boot(&self) -> Option<&Placed> {
        self.partitions
            .iter()
            .find(|p| p.filesystem == Filesystem::Vfat)
    }
    /// The partition named `name`.
    pub fn named(&self, name: &str) -> Option<&Placed> {
        self.partitions.iter().find(|p| p.name == name)
    }
}

/// Why the layout does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The disk is smaller than the layout.
    #[error("the disk holds {} but the partitions need {}", human_size(*.disk_bytes), human_size(*.needed_bytes))]
    TooSmall {
        /// Disk size.
        disk_bytes: u64,
        /// What the layout needs.
        needed_bytes: u64,
    },
    /// GPT on BIOS is not offered.
    #[error("a GPT disk cannot be booted by this installer's BIOS boot loader; use \"partition_table\": \"mbr\" (the default on BIOS)")]
    GptOnBios,
    /// MBR cannot address the disk.
    #[error("the disk is larger than 2 TiB, which an MBR table cannot address; use \"partition_table\": \"gpt\" on a UEFI machine")]
    MbrTooLarge,
    /// More partitions than an MBR holds without extended partitions.
    #[error("the manifest asks for {0} partitions; an MBR table holds 4")]
    TooManyForMbr(usize),
}

/// The table for this firmware: GPT on UEFI, MBR on BIOS, unless overridden.
pub fn table_for(
    firmware: Firmware,
    requested: Option<TableKind>,
) -> Result<TableKind, LayoutError> {
    match (firmware, requested) {
        (Firmware::Bios, Some(TableKind::Gpt)) => Err(LayoutError::GptOnBios),
        (_, Some(t)) => Ok(t),
        (Firmware::Uefi, None) => Ok(TableKind::Gpt),
        (Firmware::Bios, None) => Ok(TableKind::Mbr),
    }
}

/// Places the manifest's partitions on a disk of `disk_bytes`.
pub fn layout(
    manifest: &Manifest,
    disk_bytes: u64,
    table: TableKind,
) -> Result<Layout, LayoutError> {
    let disk_sectors = disk_bytes / SECTOR;
    let parts = &manifest.layout.partitions;
    if table == TableKind::Mbr {
        if parts.len() > 4 {
            return Err(LayoutError::TooManyForMbr(parts.len()));
        }
        if disk_sectors > u64::from(u32::MAX) {
            return Err(LayoutError::MbrTooLarge);
        }
    }
    let usable_end = match table {
        TableKind::Gpt => disk_sectors.saturating_sub(GPT_BACKUP),
        TableKind::Mbr => disk_sectors,
    } / ALIGN
        * ALIGN;
    let needed = ALIGN + parts.iter().map(|p| p.size_mib * ALIGN).sum::<u64>();
    let too_small = || LayoutError::TooSmall {
        disk_bytes,
        needed_bytes: needed.max(manifest.layout.min_disk_mib * ALIGN) * SECTOR,
    };
    if needed > usable_end || disk_bytes < manifest.layout.min_disk_mib << 20 {
        return Err(too_small());
    }
    let mut next = ALIGN;
    let mut placed = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let sectors = if p.grow {
            usable_end - next
        } else {
            p.size_mib * ALIGN
        };
        let (mbr_type, gpt_type) = match (p.kind, table) {
            (PartitionKind::Esp | PartitionKind::Boot, TableKind::Gpt) => (0xEF, GPT_ESP),
            // 0xEF is the ESP on MBR too (UEFI boots it); BIOS GRUB reads FAT
            // whatever the type byte says, but 0x0C keeps other OSes calm.
            (PartitionKind::Esp, TableKind::Mbr) => (0xEF, GPT_ESP),
            (PartitionKind::Boot, TableKind::Mbr) => (0x0C, GPT_ESP),
            (PartitionKind::Linux, _) => (0x83, GPT_LINUX),
            (PartitionKind::Root, _) => (0x83, GPT_LINUX_ROOT_X86_64),
        };
        placed.push(Placed {
            number: (i + 1) as u32,
            name: p.name.clone(),
            label: p.label.clone(),
            kind: p.kind,
            filesystem: p.filesystem,
            first_lba: next,
            sectors,
            mbr_type,
            gpt_type,
            bootable: p.filesystem == Filesystem::Vfat && i == 0,
        });
        next += sectors;
    }
    Ok(Layout {
        table,
        disk_sectors,
        partitions: placed,
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

#[cfg(test)]
mod consent_tests {
    use super::*;

    fn disk(removable: bool, bus: &'static str) -> Disk {
        Disk {
            name: "sdb".into(),
            size_bytes: 8 << 30,
            model: "QEMU".into(),
            removable,
            bus,
            serial: "USB1".into(),
            read_only: false,
            logical_sector: SECTOR,
        }
    }

    #[test]
    fn removable_disks_are_confirmed_unless_the_run_is_unattended() {
        let fixed = disk(false, "ata");
        let stick = disk(true, "usb");
        let usb = disk(false, "usb");
        let card = disk(true, "mmc");
        // (disk, answers may consent, unattended, must confirm)
        let table = [
            (&fixed, false, false, true),
            (&fixed, false, true, true),
            (&fixed, true, false, false),
            (&fixed, true, true, false),
            (&stick, false, false, true),
            (&stick, false, true, true),
            (&stick, true, false, true),
            (&stick, true, true, false),
            (&usb, true, false, true),
            (&usb, true, true, false),
            (&card, true, false, true),
            (&card, true, true, false),
        ];
        for (d, consent, unattended, want) in table {
            assert_eq!(
                must_confirm(d, consent, unattended),
                want,
                "{} removable={} consent={consent} unattended={unattended}",
                d.bus,
                d.removable
            );
        }
    }

    #[test]
    fn removable_disks_are_offered_only_when_named() {
        let disks = [disk(true, "usb")];
        assert!(candidates(&disks, None, 1, false)[0].refusal.is_some());
        assert_eq!(candidates(&disks, None, 1, true)[0].refusal, None);
    }
}
