//! Finding the boot partition (FAT, label `APPBOOT`) and reading the
//! handover record from it.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::fatlabel;

/// Which device holds the boot partition (`appliance.boot=` on the kernel
/// command line; default `LABEL=APPBOOT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootSpec {
    /// The FAT volume with this label.
    Label(String),
    /// This device node, e.g. `/dev/sda1`.
    Device(PathBuf),
}

impl BootSpec {
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

/// The FAT label of a device (reads its first 512 bytes), if it has one.
pub fn label_of(dev: &Path) -> Option<String> {
    let mut f = std::fs::File::open(dev).ok()?;
    let mut sector = [0u8; 512];
    f.read_exact(&mut sector).ok()?;
    fatlabel::parse(&sector).ok()?.label
}

/// One scan: the device matching `spec`, if present. Labels compare
/// case-insensitively (FAT labels are upper case by convention).
pub fn find(spec: &BootSpec, sys: &Path, dev: &Path) -> Option<PathBuf> {
    match spec {
        BootSpec::Device(d) => d.exists().then(|| d.clone()),
        BootSpec::Label(want) => block_devices(sys)
            .into_iter()
            .map(|n| dev.join(n))
            .find(|p| label_of(p).is_some_and(|l| l.eq_ignore_ascii_case(want))),
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
    use installer::sys::mount::{self, MountError};
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
        for (n, label) in [("sda1", b"APPBOOT    "), ("sda2", b"APPDATA    ")] {
            let mut img = vec![0u8; 34 << 20];
            fatfs::format_volume(
                std::io::Cursor::new(&mut img[..]),
                fatfs::FormatVolumeOptions::new()
                    .fat_type(fatfs::FatType::Fat32)
                    .bytes_per_cluster(512)
                    .volume_label(*label),
            )
            .unwrap();
            std::fs::write(dev.join(n), &img[..512]).unwrap();
        }
        assert_eq!(block_devices(&sys), ["sda", "sda1", "sda2"]);
        let spec = BootSpec::Label("appboot".into());
        assert_eq!(find(&spec, &sys, &dev), Some(dev.join("sda1")));
        assert_eq!(
            find(&BootSpec::Label("APPDATA".into()), &sys, &dev),
            Some(dev.join("sda2"))
        );
        assert_eq!(find(&BootSpec::Label("OTHER".into()), &sys, &dev), None);
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
