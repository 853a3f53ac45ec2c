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
    /// An optical drive (`sr*`).
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

/// Whole-disk names worth reading: `sr*`, `sd*`, `vd*`, `nvme*n*`
/// (partitions such as `sda1` or `nvme0n1p1` are skipped).
pub fn is_candidate_name(name: &str) -> bool {
    fn letters(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase())
    }
    fn digits(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    }
    if let Some(rest) = name.strip_prefix("sr") {
        return digits(rest);
    }
    if let Some(rest) = name.strip_prefix("sd").or_else(|| name.strip_prefix("vd")) {
        return letters(rest);
    }
    if let Some(rest) = name.strip_prefix("nvme") {
        return rest
            .split_once('n')
            .is_some_and(|(c, n)| digits(c) && digits(n));
    }
    false
}

/// Classifies a device: `sr*` is a cdrom; a sysfs path through `/usb` is usb;
/// anything else is a disk.
pub fn classify(name: &str, sysfs_path: &str) -> MediumKind {
    if name.starts_with("sr") {
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

/// Scans `<root>/dev` once for the medium with `volume_id`. Block devices are
/// read; regular files are accepted too, so tests and `facts --root` can use
/// image files named like devices. Device paths are reported as `/dev/<name>`.
pub fn scan(root: &Path, volume_id: &str) -> Scan {
    let dev = root.join("dev");
    let mut names: Vec<String> = crate::facts::hw::sorted_entries(&dev);
    names.retain(|n| is_candidate_name(n));
    let mut result = Scan::default();
    for name in names {
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
                        let link = std::fs::read_link(root.join("sys/class/block").join(&name))
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        result.found = Some(Medium {
                            device: device.clone(),
                            kind: classify(&name, &link),
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
    fn candidate_names_are_whole_disks() {
        for yes in ["sr0", "sr12", "sda", "sdab", "vda", "nvme0n1", "nvme10n2"] {
            assert!(is_candidate_name(yes), "{yes}");
        }
        for no in [
            "sda1",
            "sr",
            "nvme0n1p1",
            "nvme0",
            "vd",
            "loop0",
            "tty1",
            "sdA",
        ] {
            assert!(!is_candidate_name(no), "{no}");
        }
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify(
                "sr0",
                "../devices/pci0000:00/0000:00:01.1/ata2/host1/block/sr0"
            ),
            MediumKind::Cdrom
        );
        assert_eq!(
            classify(
                "sdb",
                "../devices/pci0000:00/0000:00:04.0/usb2/2-1/host2/block/sdb"
            ),
            MediumKind::Usb
        );
        assert_eq!(
            classify(
                "sda",
                "../devices/pci0000:00/0000:00:1f.2/ata1/host0/block/sda"
            ),
            MediumKind::Disk
        );
    }

    #[test]
    fn scan_finds_the_medium_in_image_files() {
        let t = TempTree::new("medium");
        let mut image = vec![0u8; 16 * ISO_BLOCK];
        image.extend(pvd("APPLIANCE_INSTALL"));
        t.write("dev/sdb", &image);
        t.write("dev/sda", &vec![0u8; 17 * ISO_BLOCK]);
        t.write("dev/sda1", &image);
        t.write("dev/sr0", b"short");
        t.mkdir("sys/class/block");
        t.symlink(
            "sys/class/block/sdb",
            "../../devices/pci0000:00/0000:00:04.0/usb2/2-1/host2/block/sdb",
        );
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
            "partitions are not candidates"
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
}
