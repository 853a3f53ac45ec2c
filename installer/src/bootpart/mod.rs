//! Finding the boot partition and reading the handover record from it;
//! shared by the appliances' initramfs programs (`sample-appliance`,
//! `appliance-init`), which run the installer's library as PID 1.
//! The installer puts the boot partition's FAT volume id on the kernel
//! command line (`appliance.boot_volume=XXXX-XXXX`); with it, only a FAT
//! volume with that id is used, whatever its label, so another device
//! labelled `APPBOOT` (a USB stick) cannot supply the record. Without it
//! (disks made otherwise), `appliance.boot=` chooses, by label or device.

use std::io::Read;
use std::path::{Path, PathBuf};

pub mod early;
pub mod fatlabel;

/// The kernel parameter with the boot partition's FAT volume id.
pub const PARAM_BOOT_VOLUME: &str = handover::BOOT_VOLUME_PARAM;
/// The kernel parameter naming the boot partition by label or device.
pub const PARAM_BOOT: &str = "appliance.boot";

/// Which device holds the boot partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootSpec {
    /// The FAT volume with this volume id (serial number); its label does
    /// not matter.
    Volume(u32),
    /// The FAT volume with this label.
    Label(String),
    /// This device node, e.g. `/dev/sda1`.
    Device(PathBuf),
}

/// Parses a FAT volume id as GRUB and blkid spell it: `7E57-0001`.
pub fn parse_volume_id(v: &str) -> Option<u32> {
    let (hi, lo) = v.split_once('-')?;
    let hex = |s: &str| {
        (s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(s, 16).ok())
            .flatten()
    };
    Some(hex(hi)? << 16 | hex(lo)?)
}

impl BootSpec {
    /// The spec from the kernel command line: `appliance.boot_volume=`
    /// when present (what the installer records), else `appliance.boot=`.
    pub fn from_cmdline(boot: Option<&str>, boot_volume: Option<&str>) -> Result<BootSpec, String> {
        match boot_volume {
            Some(v) => parse_volume_id(v).map(BootSpec::Volume).ok_or_else(|| {
                format!("{PARAM_BOOT_VOLUME}={v}: expected a FAT volume id like 7E57-0001")
            }),
            None => BootSpec::parse(boot),
        }
    }

    /// Parses the value of `appliance.boot=`; `None` means the default.
    pub fn parse(value: Option<&str>) -> Result<BootSpec, String> {
        match value {
            None => Ok(BootSpec::Label(handover::BOOT_LABEL.to_string())),
            Some(v) => {
                if let Some(label) = v.strip_prefix("LABEL=") {
                    if label.is_empty() || label.len() > 11 {
                        return Err(format!(
                            "appliance.boot={v}: a FAT label has 1 to 11 characters"
                        ));
                    }
                    Ok(BootSpec::Label(label.to_string()))
                } else if v.starts_with("/dev/") && !v.contains("..") {
                    Ok(BootSpec::Device(PathBuf::from(v)))
                } else {
                    Err(format!(
                        "appliance.boot={v}: expected LABEL=<label> or /dev/<device>"
                    ))
                }
            }
        }
    }

    /// For messages.
    pub fn describe(&self) -> String {
        match self {
            BootSpec::Volume(id) => format!(
                "the FAT partition with volume id {:04X}-{:04X}",
                id >> 16,
                id & 0xFFFF
            ),
            BootSpec::Label(l) => format!("the FAT partition labelled {l}"),
            BootSpec::Device(d) => d.display().to_string(),
        }
    }
}

/// Block devices worth looking at: every entry of `<sys>/class/block`
/// except RAM disks, loop devices and CD drives, sorted (partitions follow
/// their disk).
pub fn block_devices(sys: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sys.join("class/block")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            !["ram", "loop", "sr", "zram"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort();
    names
}

/// The FAT boot sector of a device (reads its first 512 bytes), if it is one.
pub fn boot_sector_of(dev: &Path) -> Option<fatlabel::BootSector> {
    let mut f = std::fs::File::open(dev).ok()?;
    let mut sector = [0u8; 512];
    f.read_exact(&mut sector).ok()?;
    fatlabel::parse(&sector).ok()
}

/// Does a FAT volume match a [`BootSpec::Volume`] or [`BootSpec::Label`]?
/// Labels compare case-insensitively (upper case by convention); with a
/// volume id, only the id counts.
pub fn matches(spec: &BootSpec, fat: &fatlabel::BootSector) -> bool {
    match spec {
        BootSpec::Volume(id) => fat.volume_id == *id,
        BootSpec::Label(want) => fat
            .label
            .as_ref()
            .is_some_and(|l| l.eq_ignore_ascii_case(want)),
        BootSpec::Device(_) => false,
    }
}

/// Picks the device among `devices` (name and FAT boot sector, if any):
/// `Ok(None)` when none matches yet; an error when a volume id matches more
/// than one device (a copy of the boot partition is present, and which one
/// is real cannot be told).
pub fn choose<'a>(
    spec: &BootSpec,
    devices: &'a [(String, Option<fatlabel::BootSector>)],
) -> Result<Option<&'a str>, String> {
    let mut hits = devices
        .iter()
        .filter(|(_, fat)| fat.as_ref().is_some_and(|f| matches(spec, f)))
        .map(|(n, _)| n.as_str());
    let first = hits.next();
    if let (BootSpec::Volume(_), Some(a), Some(b)) = (spec, first, hits.next()) {
        return Err(format!(
            "{} is on more than one device ({a}, {b}): remove the copy",
            spec.describe()
        ));
    }
    Ok(first)
}

/// One scan: the device matching `spec`, if present (see [`choose`]).
pub fn find(spec: &BootSpec, sys: &Path, dev: &Path) -> Result<Option<PathBuf>, String> {
    if let BootSpec::Device(d) = spec {
        return Ok(d.exists().then(|| d.clone()));
    }
    let devices: Vec<(String, Option<fatlabel::BootSector>)> = block_devices(sys)
        .into_iter()
        .map(|n| {
            let fat = boot_sector_of(&dev.join(&n));
            (n, fat)
        })
        .collect();
    Ok(choose(spec, &devices)?.map(|n| dev.join(n)))
}

/// The device name of partition `number` on the disk that holds the
/// partition `part` (a name under `<sys>/class/block`, e.g. `sda1` → with
/// 3, `sda3`; `nvme0n1p1` → `nvme0n1p3`). Sysfs puts a disk's partitions
/// below the disk's directory, each with a `partition` file holding its
/// number, so no naming rule is guessed.
pub fn partition_on_same_disk(sys: &Path, part: &str, number: u32) -> Result<String, String> {
    let link = sys.join("class/block").join(part);
    let real = std::fs::canonicalize(&link).map_err(|e| format!("{}: {e}", link.display()))?;
    let disk_dir = real
        .parent()
        .filter(|d| !d.join("partition").exists() && real.join("partition").exists())
        .ok_or_else(|| format!("{part} is not a partition of a disk"))?;
    let disk = disk_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entries =
        std::fs::read_dir(disk_dir).map_err(|e| format!("{}: {e}", disk_dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("partition"))
                .is_ok_and(|n| n.trim() == number.to_string())
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "the disk {disk} (which holds the boot partition {part}) has no partition {number}"
        )),
        _ => Err(format!(
            "the disk {disk} lists partition {number} more than once ({})",
            names.join(", ")
        )),
    }
}

/// Why there is no usable handover record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The boot partition was not found.
    #[error("{0} was not found (seen: {1})")]
    NoPartition(String, String),
    /// Mounting failed.
    #[error("cannot mount {dev} (vfat) on {target}: {source}")]
    Mount {
        /// Device.
        dev: String,
        /// Mount point.
        target: String,
        /// errno.
        source: nix::Error,
    },
    /// The file is missing or unreadable.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The record is invalid.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong (names the JSON path).
        source: handover::HandoverError,
    },
}

/// Mounts `dev` read-only as vfat on `target` (created if missing; an
/// existing mount counts as success).
pub fn mount_ro(dev: &Path, target: &'static str) -> Result<(), RecordError> {
    use crate::sys::mount::{self, MountError};
    match mount::mount_device(dev, target, "vfat", mount::read_only_data()) {
        Ok(())
        | Err(MountError::Mount {
            source: nix::errno::Errno::EBUSY,
            ..
        }) => Ok(()),
        Err(MountError::Mount { source, .. }) | Err(MountError::Unmount { source, .. }) => {
            Err(RecordError::Mount {
                dev: dev.display().to_string(),
                target: target.to_string(),
                source,
            })
        }
    }
}

/// Reads and parses `<mountpoint>/handover/handover.json`.
pub fn read_record(mountpoint: &Path) -> Result<handover::Handover, RecordError> {
    let path = mountpoint.join(handover::HANDOVER_PATH.trim_start_matches('/'));
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| RecordError::Read {
        path: shown.clone(),
        source,
    })?;
    handover::Handover::parse(&text).map_err(|source| RecordError::Invalid {
        path: shown,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_spec_from_the_command_line() {
        assert_eq!(
            BootSpec::parse(None).unwrap(),
            BootSpec::Label("APPBOOT".into())
        );
        assert_eq!(
            BootSpec::parse(Some("LABEL=APPBOOT")).unwrap(),
            BootSpec::Label("APPBOOT".into())
        );
        assert_eq!(
            BootSpec::parse(Some("/dev/vda1")).unwrap(),
            BootSpec::Device("/dev/vda1".into())
        );
        assert!(BootSpec::parse(Some("LABEL=")).is_err());
        assert!(BootSpec::parse(Some("LABEL=TWELVECHARSX")).is_err());
        assert!(BootSpec::parse(Some("sda1")).is_err());
        assert!(BootSpec::parse(Some("/dev/../etc/x")).is_err());
    }

    #[test]
    fn the_recorded_volume_id_wins_over_the_label() {
        assert_eq!(
            BootSpec::from_cmdline(Some("LABEL=APPBOOT"), Some("7E57-0001")).unwrap(),
            BootSpec::Volume(0x7E57_0001)
        );
        assert_eq!(
            BootSpec::from_cmdline(Some("LABEL=APPBOOT"), None).unwrap(),
            BootSpec::Label("APPBOOT".into())
        );
        assert_eq!(parse_volume_id("abcd-0012"), Some(0xABCD_0012));
        for bad in ["7E570001", "7E57-001", "7E57-00012", "XE57-0001", "", "-"] {
            assert_eq!(parse_volume_id(bad), None, "{bad}");
            assert!(BootSpec::from_cmdline(None, Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            BootSpec::Volume(0x7E57_0001).describe(),
            "the FAT partition with volume id 7E57-0001"
        );
    }

    fn fat(volume_id: u32, label: &str) -> Option<fatlabel::BootSector> {
        Some(fatlabel::BootSector {
            kind: fatlabel::FatKind::Fat32,
            volume_id,
            label: Some(label.into()),
        })
    }

    #[test]
    fn a_stick_labelled_appboot_with_another_volume_id_is_not_used() {
        let devices = vec![
            ("sda".to_string(), None),
            ("sda1".to_string(), fat(0x1234_5678, "APPBOOT")),
            ("sdb".to_string(), None),
            ("sdb1".to_string(), fat(0x0BAD_0BAD, "APPBOOT")),
        ];
        let spec = BootSpec::Volume(0x1234_5678);
        assert_eq!(choose(&spec, &devices), Ok(Some("sda1")));
        // The installed disk not there (yet): the stick alone is no match.
        let stick_only = vec![devices[3].clone()];
        assert_eq!(choose(&spec, &stick_only), Ok(None));
        // By label alone (no recorded id), the first labelled one wins.
        assert_eq!(
            choose(&BootSpec::Label("APPBOOT".into()), &stick_only),
            Ok(Some("sdb1"))
        );
        // The id matches whatever the label says.
        let relabelled = vec![("vda1".to_string(), fat(0x1234_5678, "OTHER"))];
        assert_eq!(choose(&spec, &relabelled), Ok(Some("vda1")));
    }

    #[test]
    fn a_copied_volume_id_is_refused() {
        let devices = vec![
            ("sda1".to_string(), fat(0x1234_5678, "APPBOOT")),
            ("sdb1".to_string(), fat(0x1234_5678, "APPBOOT")),
        ];
        let e = choose(&BootSpec::Volume(0x1234_5678), &devices).unwrap_err();
        assert_eq!(
            e,
            "the FAT partition with volume id 1234-5678 is on more than one device \
             (sda1, sdb1): remove the copy"
        );
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("appl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn finds_the_partition_by_label_in_a_fake_sys_and_dev() {
        let root = temp("find");
        let (sys, dev) = (root.join("sys"), root.join("dev"));
        for n in ["sda", "sda1", "sda2", "loop0", "sr0"] {
            std::fs::create_dir_all(sys.join("class/block").join(n)).unwrap();
        }
        std::fs::create_dir_all(&dev).unwrap();
        // sda: an MBR, sda1: FAT32 "APPBOOT", sda2: FAT32 "APPDATA".
        let mut mbr = vec![0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        std::fs::write(dev.join("sda"), &mbr).unwrap();
        for (n, label, id) in [
            ("sda1", b"APPBOOT    ", 0x1111_2222),
            ("sda2", b"APPDATA    ", 0x3333_4444),
        ] {
            let mut img = vec![0u8; 34 << 20];
            fatfs::format_volume(
                std::io::Cursor::new(&mut img[..]),
                fatfs::FormatVolumeOptions::new()
                    .fat_type(fatfs::FatType::Fat32)
                    .bytes_per_cluster(512)
                    .volume_label(*label)
                    .volume_id(id),
            )
            .unwrap();
            std::fs::write(dev.join(n), &img[..512]).unwrap();
        }
        assert_eq!(block_devices(&sys), ["sda", "sda1", "sda2"]);
        let spec = BootSpec::Label("appboot".into());
        assert_eq!(find(&spec, &sys, &dev), Ok(Some(dev.join("sda1"))));
        assert_eq!(
            find(&BootSpec::Label("APPDATA".into()), &sys, &dev),
            Ok(Some(dev.join("sda2")))
        );
        assert_eq!(find(&BootSpec::Label("OTHER".into()), &sys, &dev), Ok(None));
        assert_eq!(
            find(&BootSpec::Volume(0x3333_4444), &sys, &dev),
            Ok(Some(dev.join("sda2")))
        );
        assert_eq!(find(&BootSpec::Volume(0x1111_2223), &sys, &dev), Ok(None));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn partitions_on_the_boot_partitions_disk_are_found_by_number() {
        let root = temp("siblings");
        let sys = root.join("sys");
        let class = sys.join("class/block");
        std::fs::create_dir_all(&class).unwrap();
        for (disk, parts) in [
            ("sda", &["sda1", "sda2", "sda3"][..]),
            ("nvme0n1", &["nvme0n1p1", "nvme0n1p2"][..]),
        ] {
            let d = sys.join("devices/pci0/block").join(disk);
            std::fs::create_dir_all(d.join("queue")).unwrap();
            std::os::unix::fs::symlink(&d, class.join(disk)).unwrap();
            for (i, p) in parts.iter().enumerate() {
                std::fs::create_dir_all(d.join(p)).unwrap();
                std::fs::write(d.join(p).join("partition"), format!("{}\n", i + 1)).unwrap();
                std::os::unix::fs::symlink(d.join(p), class.join(p)).unwrap();
            }
        }
        assert_eq!(partition_on_same_disk(&sys, "sda1", 3), Ok("sda3".into()));
        assert_eq!(partition_on_same_disk(&sys, "sda1", 2), Ok("sda2".into()));
        assert_eq!(
            partition_on_same_disk(&sys, "nvme0n1p1", 2),
            Ok("nvme0n1p2".into())
        );
        assert_eq!(
            partition_on_same_disk(&sys, "nvme0n1p1", 3),
            Err(
                "the disk nvme0n1 (which holds the boot partition nvme0n1p1) has no partition 3"
                    .into()
            )
        );
        assert_eq!(
            partition_on_same_disk(&sys, "sda", 1),
            Err("sda is not a partition of a disk".into())
        );
        assert!(partition_on_same_disk(&sys, "sdz1", 1)
            .unwrap_err()
            .contains("sdz1"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn record_errors_name_the_file_and_the_json_path() {
        let root = temp("record");
        let e = read_record(&root).unwrap_err().to_string();
        assert!(e.contains("handover/handover.json: cannot read"), "{e}");
        std::fs::create_dir_all(root.join("handover")).unwrap();
        let bad = handover::EXAMPLE_JSON.replace("\"de\"", "\"DE\"");
        std::fs::write(root.join("handover/handover.json"), bad).unwrap();
        let e = read_record(&root).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "handover/handover.json: keyboard.layout: must be a layout name like us or de"
            ),
            "{e}"
        );
        std::fs::write(root.join("handover/handover.json"), handover::EXAMPLE_JSON).unwrap();
        assert_eq!(read_record(&root).unwrap().network.hostname, "appliance");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
