//! Finding the install medium: the block device whose ISO 9660 primary volume
//! descriptor (2048-byte block 16) carries our volume id.

use serde::Serialize;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Size of an ISO 9660 logical block.
pub const ISO_BLOCK: usize = 2048;
/// Block number of the primary volume descriptor.
pub const PVD_BLOCK: u64 = 16;

/// Where the medium sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediumKind {
    /// An optical drive (SCSI peripheral type 5, e.g. `sr0`).
    Cdrom,
    /// A USB mass storage device.
    Usb,
    /// Any other disk.
    Disk,
}

/// The install medium that was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Medium {
    /// Device path, e.g. `/dev/sr0`.
    pub device: String,
    /// cdrom, usb or disk.
    pub kind: MediumKind,
}

/// A block device looked at while searching, with what we found there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenDevice {
    /// Device path, e.g. `/dev/sda`.
    pub device: String,
    /// What was found: `volume "X"`, `not ISO 9660`, or the read error.
    pub status: String,
}

/// Result of one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scan {
    /// The medium, if one matched.
    pub found: Option<Medium>,
    /// Every candidate device, sorted by path.
    pub seen: Vec<SeenDevice>,
}

/// The volume id of a primary volume descriptor block, or `None` if the
/// block is not one. Layout (ECMA-119 8.4): 0x00 type = 1, 0x01..0x06
/// `CD001`, 0x06 version = 1, 0x28..0x48 volume identifier (space padded).
pub fn pvd_volume_id(block: &[u8]) -> Option<String> {
    if block.len() < 0x48 || block[0] != 1 || &block[1..6] != b"CD001" || block[6] != 1 {
        return None;
    }
    let id = String::from_utf8_lossy(&block[0x28..0x48]);
    Some(id.trim_end_matches([' ', '\0']).to_string())
}

/// True if `block` is a PVD with exactly this volume id.
pub fn is_our_medium(block: &[u8], volume_id: &str) -> bool {
    pvd_volume_id(block).is_some_and(|id| id == volume_id)
}

/// Whole block devices worth reading, from `<root>/sys/class/block`: every
/// device type (sd, sr, vd, nvme, mmcblk, xvd, …), without partitions (they
/// have a `partition` attribute) and without devices that report a size of 0
/// (an empty drive, an unused loop device). Returns `(sysfs name, /dev name)`:
/// a `!` in the sysfs name is a `/` under /dev (`cciss!c0d0`).
pub fn whole_devices(root: &Path) -> Vec<(String, String)> {
    let class = root.join("sys/class/block");
    crate::facts::hw::sorted_entries(&class)
        .into_iter()
        .filter(|n| {
            let dir = class.join(n);
            !dir.join("partition").exists()
                && crate::facts::hw::read_attr(&dir.join("size")).as_deref() != Some("0")
        })
        .map(|n| {
            let dev = n.replace('!', "/");
            (n, dev)
        })
        .collect()
}

/// Classifies a device: a SCSI peripheral of type 5 (`device/type`, an
/// optical drive) is a cdrom; a sysfs path through `/usb` is usb; anything
/// else is a disk.
pub fn classify(scsi_type: Option<&str>, sysfs_path: &str) -> MediumKind {
    if scsi_type == Some("5") {
        MediumKind::Cdrom
    } else if sysfs_path.contains("/usb") {
        MediumKind::Usb
    } else {
        MediumKind::Disk
    }
}

/// Reads the 2048-byte block 16 of a device or image file.
pub fn read_pvd_block(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(PVD_BLOCK * ISO_BLOCK as u64))?;
    let mut buf = vec![0u8; ISO_BLOCK];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// Scans once for the medium with `volume_id`: every device of
/// [`whole_devices`] is read at `<root>/dev/<name>`. Block devices are read;
/// regular files are accepted too, so tests and `facts --root` can use image
/// files named like devices. Device paths are reported as `/dev/<name>`.
pub fn scan(root: &Path, volume_id: &str) -> Scan {
    let dev = root.join("dev");
    let mut result = Scan::default();
    for (sysfs_name, name) in whole_devices(root) {
        let path: PathBuf = dev.join(&name);
        let device = format!("/dev/{name}");
        let is_dev =
            std::fs::metadata(&path).map(|m| m.file_type().is_block_device() || m.is_file());
        if !matches!(is_dev, Ok(true)) {
            continue;
        }
        let status = match read_pvd_block(&path) {
            Ok(block) => match pvd_volume_id(&block) {
                Some(id) => {
                    if id == volume_id && result.found.is_none() {
                        let class = root.join("sys/class/block").join(&sysfs_name);
                        let link = std::fs::read_link(&class)
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let scsi_type = crate::facts::hw::read_attr(&class.join("device/type"));
                        result.found = Some(Medium {
                            device: device.clone(),
                            kind: classify(scsi_type.as_deref(), &link),
                        });
                    }
                    format!("ISO 9660 volume {id:?}")
                }
                None => "not ISO 9660".to_string(),
            },
            Err(e) => format!("unreadable: {e}"),
        };
        result.seen.push(SeenDevice { device, status });
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;

    fn pvd(volume_id: &str) -> Vec<u8> {
        let mut b = vec![0u8; ISO_BLOCK];
        b[0] = 1; // 0x00: volume descriptor type 1 (primary)
        b[1..6].copy_from_slice(b"CD001"); // 0x01: standard identifier
        b[6] = 1; // 0x06: version
        b[0x28..0x48].fill(b' '); // 0x28: volume identifier, space padded
        b[0x28..0x28 + volume_id.len()].copy_from_slice(volume_id.as_bytes());
        b
    }

    #[test]
    fn volume_id_is_read_from_offset_0x28() {
        let b = pvd("APPLIANCE_INSTALL");
        assert_eq!(pvd_volume_id(&b).as_deref(), Some("APPLIANCE_INSTALL"));
        assert!(is_our_medium(&b, "APPLIANCE_INSTALL"));
        assert!(!is_our_medium(&b, "APPLIANCE"));
        assert!(!is_our_medium(&pvd("OTHER"), "APPLIANCE_INSTALL"));
    }

    #[test]
    fn non_pvd_blocks_are_rejected() {
        let mut b = pvd("X");
        b[0] = 2; // 0x00: supplementary descriptor, not primary
        assert_eq!(pvd_volume_id(&b), None);
        let mut b = pvd("X");
        b[3] = b'X'; // 0x03: corrupt "CD001"
        assert_eq!(pvd_volume_id(&b), None);
        assert_eq!(pvd_volume_id(&[1, b'C', b'D']), None);
        assert_eq!(pvd_volume_id(&[0u8; ISO_BLOCK]), None);
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify(
                Some("5"),
                "../devices/pci0000:00/0000:00:01.1/ata2/host1/target1:0:0/1:0:0:0/block/sr0"
            ),
            MediumKind::Cdrom
        );
        assert_eq!(
            classify(
                Some("0"),
                "../devices/pci0000:00/0000:00:04.0/usb2/2-1/host2/block/sdb"
            ),
            MediumKind::Usb
        );
        assert_eq!(
            classify(
                None,
                "../devices/pci0000:00/0000:00:1f.2/ata1/host0/block/sda"
            ),
            MediumKind::Disk
        );
        assert_eq!(
            classify(
                None,
                "../devices/platform/soc/fe340000.mmc/mmc_host/mmc0/mmc0:0001/block/mmcblk0"
            ),
            MediumKind::Disk
        );
    }

    /// A sysfs class entry for `name` (a symlink into a device directory
    /// named by `devpath`, as the kernel makes it) with `size` sectors and
    /// optional attributes.
    fn block(t: &TempTree, devpath: &str, name: &str, size: &str, attrs: &[(&str, &str)]) {
        let dir = format!("sys/devices/{devpath}/block/{name}");
        t.write(&format!("{dir}/size"), size.as_bytes());
        for (attr, value) in attrs {
            t.write(&format!("{dir}/{attr}"), value.as_bytes());
        }
        t.mkdir("sys/class/block");
        t.symlink(
            &format!("sys/class/block/{name}"),
            &format!("../../devices/{devpath}/block/{name}"),
        );
    }

    fn image(volume_id: &str) -> Vec<u8> {
        let mut image = vec![0u8; 16 * ISO_BLOCK];
        image.extend(pvd(volume_id));
        image
    }

    #[test]
    fn scan_finds_the_medium_in_image_files() {
        let t = TempTree::new("medium");
        t.write("dev/sdb", &image("APPLIANCE_INSTALL"));
        t.write("dev/sda", &vec![0u8; 17 * ISO_BLOCK]);
        t.write("dev/sda1", &image("APPLIANCE_INSTALL"));
        t.write("dev/sr0", b"short");
        t.write("dev/loop0", &image("APPLIANCE_INSTALL"));
        let ata = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0";
        block(&t, ata, "sda", "68", &[]);
        block(
            &t,
            &format!("{ata}/block/sda"),
            "sda1",
            "34",
            &[("partition", "1")],
        );
        block(
            &t,
            "pci0000:00/0000:00:04.0/usb2/2-1/host2",
            "sdb",
            "68",
            &[],
        );
        block(
            &t,
            "pci0000:00/0000:00:01.1/ata2/host1",
            "sr0",
            "4",
            &[("device/type", "5")],
        );
        block(&t, "virtual", "loop0", "0", &[]);
        let s = scan(t.path(), "APPLIANCE_INSTALL");
        assert_eq!(
            s.found,
            Some(Medium {
                device: "/dev/sdb".into(),
                kind: MediumKind::Usb
            })
        );
        let seen: Vec<&str> = s.seen.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(
            seen,
            vec!["/dev/sda", "/dev/sdb", "/dev/sr0"],
            "partitions and empty devices are not candidates"
        );
        assert_eq!(s.seen[0].status, "not ISO 9660");
        assert!(
            s.seen[2].status.starts_with("unreadable"),
            "{}",
            s.seen[2].status
        );

        let none = scan(t.path(), "SOMETHING_ELSE");
        assert_eq!(none.found, None);
        assert_eq!(none.seen[1].status, "ISO 9660 volume \"APPLIANCE_INSTALL\"");
    }

    #[test]
    fn every_block_device_type_can_be_the_medium() {
        for (devpath, name, dev, kind) in [
            (
                "platform/soc/fe340000.mmc/mmc_host/mmc0/mmc0:0001",
                "mmcblk0",
                "mmcblk0",
                MediumKind::Disk,
            ),
            ("vbd-51712", "xvda", "xvda", MediumKind::Disk),
            (
                "pci0000:00/0000:00:05.0/virtio2",
                "vdb",
                "vdb",
                MediumKind::Disk,
            ),
            (
                "pci0000:00/0000:00:08.0/cciss0/c0d0",
                "cciss!c0d0",
                "cciss/c0d0",
                MediumKind::Disk,
            ),
            (
                "pci0000:00/0000:00:01.1/ata2/host1/target1:0:0/1:0:0:0",
                "sr1",
                "sr1",
                MediumKind::Cdrom,
            ),
        ] {
            let t = TempTree::new("medium-types");
            t.write(&format!("dev/{dev}"), &image("APPLIANCE_INSTALL"));
            let attrs: &[(&str, &str)] = if kind == MediumKind::Cdrom {
                &[("device/type", "5")]
            } else {
                &[]
            };
            block(&t, devpath, name, "68", attrs);
            let s = scan(t.path(), "APPLIANCE_INSTALL");
            assert_eq!(
                s.found,
                Some(Medium {
                    device: format!("/dev/{dev}"),
                    kind
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn a_cd_drive_with_another_name_is_a_cdrom() {
        let t = TempTree::new("medium-cd");
        t.write("dev/scd0", &image("APPLIANCE_INSTALL"));
        block(
            &t,
            "pci0000:00/0000:00:01.1/ata2/host1/target1:0:0/1:0:0:0",
            "scd0",
            "68",
            &[("device/type", "5\n")],
        );
        assert_eq!(
            scan(t.path(), "APPLIANCE_INSTALL").found.map(|m| m.kind),
            Some(MediumKind::Cdrom)
        );
    }
}
