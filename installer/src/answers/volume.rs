//! The `ANSWERS` volume: a FAT or ISO 9660 file system (a USB stick, a second
//! CD) with `/answers.json` at its root. Recognising the label is pure (any
//! `Read + Seek`); [`find`] scans the block devices and [`read_answers`]
//! mounts one read-only under `/run`, reads the file and unmounts.

use crate::medium::{pvd_volume_id, ISO_BLOCK, PVD_BLOCK};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The volume label that marks an answers volume (compared ignoring case).
pub const LABEL: &str = "ANSWERS";
/// The file read from the volume's root.
pub const FILE_NAME: &str = "answers.json";
/// Where the volume is mounted while it is read.
pub const MOUNT_POINT: &str = "/run/installer/answers-volume";
/// Block device name prefixes never probed.
const SKIPPED: [&str; 5] = ["loop", "ram", "zram", "fd", "nbd"];
/// The largest answer file read.
pub const MAX_SIZE: u64 = 1 << 20;

/// File system of a recognised volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// FAT12/16/32.
    Fat,
    /// ISO 9660.
    Iso9660,
}

impl FsKind {
    /// The type name for mount(2).
    pub fn fstype(self) -> &'static str {
        match self {
            FsKind::Fat => "vfat",
            FsKind::Iso9660 => "iso9660",
        }
    }
}

/// What [`probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The file system.
    pub kind: FsKind,
    /// The label, trimmed (empty if none).
    pub label: String,
}

fn u16_at(b: &[u8], off: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[off], b[off + 1]]))
}

fn u32_at(b: &[u8], off: usize) -> u64 {
    u64::from(u32::from_le_bytes([
        b[off],
        b[off + 1],
        b[off + 2],
        b[off + 3],
    ]))
}

fn label_text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .trim_end_matches([' ', '\0'])
        .to_string()
}

/// The FAT geometry of a boot sector, if it is one.
struct Fat {
    root_offset: u64,
    root_len: u64,
    boot_label: Option<String>,
}

/// Reads the BIOS parameter block (offsets in the comments).
fn fat_geometry(bs: &[u8]) -> Option<Fat> {
    if bs.len() < 512 || bs[0x1FE] != 0x55 || bs[0x1FF] != 0xAA {
        return None; // 0x1FE: boot signature
    }
    let bps = u16_at(bs, 0x0B); // 0x0B: bytes per sector
    let spc = u64::from(bs[0x0D]); // 0x0D: sectors per cluster
    let reserved = u16_at(bs, 0x0E); // 0x0E: reserved sectors
    let fats = u64::from(bs[0x10]); // 0x10: number of FATs
    let root_entries = u16_at(bs, 0x11); // 0x11: root entries (0 on FAT32)
    let fat16_size = u16_at(bs, 0x16); // 0x16: sectors per FAT (FAT12/16)
    if !(512..=4096).contains(&bps)
        || !bps.is_power_of_two()
        || spc == 0
        || !spc.is_power_of_two()
        || reserved == 0
        || !(1..=2).contains(&fats)
    {
        return None;
    }
    let (fat_size, label_off, sig_off) = if fat16_size == 0 {
        (u32_at(bs, 0x24), 0x47, 0x42) // 0x24: sectors per FAT (FAT32)
    } else {
        (fat16_size, 0x2B, 0x26)
    };
    let first_after_fats = reserved + fats * fat_size;
    let (root_offset, root_len) = if fat16_size == 0 {
        let root_cluster = u32_at(bs, 0x2C); // 0x2C: root directory cluster
        let sector = first_after_fats + root_cluster.saturating_sub(2) * spc;
        (sector * bps, spc * bps)
    } else {
        (first_after_fats * bps, root_entries * 32)
    };
    // 0x26 / 0x42: extended boot signature 0x29 means the label field is valid.
    let boot_label = (bs[sig_off] == 0x29)
        .then(|| label_text(&bs[label_off..label_off + 11]))
        .filter(|l| !l.is_empty() && l != "NO NAME");
    Some(Fat {
        root_offset,
        root_len: root_len.min(64 * 1024),
        boot_label,
    })
}

/// The volume-label entry of a FAT root directory (attribute 0x08, not a
/// long-name entry 0x0F, not deleted 0xE5), if any.
fn root_dir_label(dir: &[u8]) -> Option<String> {
    for e in dir.chunks_exact(32) {
        match e[0] {
            0x00 => return None, // end of directory
            0xE5 => continue,    // deleted entry
            _ => {}
        }
        let attr = e[11]; // 0x0B: attributes
        if attr & 0x0F != 0x0F && attr & 0x08 != 0 {
            return Some(label_text(&e[..11]));
        }
    }
    None
}

/// Recognises a FAT or ISO 9660 file system and reads its label. FAT labels
/// are taken from the root directory (what most tools change), else from
/// the boot sector.
pub fn probe<R: Read + Seek>(r: &mut R) -> Option<Probe> {
    let mut bs = [0u8; 512];
    r.seek(SeekFrom::Start(0)).ok()?;
    if r.read_exact(&mut bs).is_ok() {
        if let Some(fat) = fat_geometry(&bs) {
            let mut dir = vec![0u8; usize::try_from(fat.root_len).ok()?];
            let from_dir = r
                .seek(SeekFrom::Start(fat.root_offset))
                .ok()
                .and_then(|_| r.read_exact(&mut dir).ok())
                .and_then(|_| root_dir_label(&dir));
            let label = from_dir.or(fat.boot_label).unwrap_or_default();
            return Some(Probe {
                kind: FsKind::Fat,
                label,
            });
        }
    }
    let mut pvd = vec![0u8; ISO_BLOCK];
    r.seek(SeekFrom::Start(PVD_BLOCK * ISO_BLOCK as u64)).ok()?;
    r.read_exact(&mut pvd).ok()?;
    pvd_volume_id(&pvd).map(|label| Probe {
        kind: FsKind::Iso9660,
        label,
    })
}

/// A block device carrying the answers label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// e.g. `/dev/sdb1`.
    pub device: PathBuf,
    /// Its file system.
    pub kind: FsKind,
}

/// Scans `<root>/sys/class/block` (disks and partitions, sorted by name) for
/// a volume labelled [`LABEL`]; devices are read from `<root>/dev`.
pub fn find(root: &Path) -> Option<Found> {
    find_label(root, LABEL)
}

/// Like [`find`] for any label (the support bundle looks for `SUPPORT`).
pub fn find_label(root: &Path, label: &str) -> Option<Found> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("sys/class/block"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // Floppy drives without a disk and unconnected nbd devices block for
        // a long time when read; loop and RAM disks are never answer volumes.
        .filter(|n| !SKIPPED.iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    for name in names {
        let device = root.join("dev").join(&name);
        let Ok(mut f) = File::open(&device) else {
            continue;
        };
        if let Some(p) = probe(&mut f) {
            if p.label.eq_ignore_ascii_case(label) {
                return Some(Found {
                    device,
                    kind: p.kind,
                });
            }
        }
    }
    None
}

/// Errors reading the answers volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// mount(2) failed.
    #[error("cannot mount {device} ({fstype}) read-only: {source}")]
    Mount {
        /// The device.
        device: PathBuf,
        /// The file system type.
        fstype: &'static str,
        /// The errno.
        source: nix::Error,
    },
    /// The file is missing or unreadable.
    #[error("cannot read /{FILE_NAME} on {device}: {source}")]
    Read {
        /// The device.
        device: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_SIZE`].
    #[error("/{FILE_NAME} on {device} is larger than 1 MiB")]
    TooLarge {
        /// The device.
        device: PathBuf,
    },
}

/// Mounts `found` read-only at [`MOUNT_POINT`], reads `/answers.json`, and
/// unmounts again (also after a read error).
pub fn read_answers(found: &Found) -> Result<String, VolumeError> {
    use crate::sys::mount::{self, MountError};
    let target = Path::new(MOUNT_POINT);
    mount::mount_device(
        &found.device,
        MOUNT_POINT,
        found.kind.fstype(),
        mount::read_only_data(),
    )
    .map_err(|e| VolumeError::Mount {
        device: found.device.clone(),
        fstype: found.kind.fstype(),
        source: match e {
            MountError::Mount { source, .. } | MountError::Unmount { source, .. } => source,
        },
    })?;
    let result = read_limited(&target.join(FILE_NAME), &found.device);
    if let Err(e) = mount::unmount_or_detach(MOUNT_POINT) {
        crate::log::warn(&format!("{e}; detached it"));
    }
    let _ = std::fs::remove_dir(target);
    result
}

fn read_limited(path: &Path, device: &Path) -> Result<String, VolumeError> {
    let read_err = |source| VolumeError::Read {
        device: device.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(read_err)?;
    let mut text = String::new();
    f.take(MAX_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_SIZE {
        return Err(VolumeError::TooLarge {
            device: device.to_path_buf(),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A FAT16 boot sector plus root directory, built by hand.
    fn fat16(boot_label: &[u8; 11], dir_label: Option<&[u8; 11]>) -> Vec<u8> {
        let mut img = vec![0u8; 64 * 1024];
        img[0x0B..0x0D].copy_from_slice(&512u16.to_le_bytes()); // 0x0B: bytes per sector
        img[0x0D] = 4; // 0x0D: sectors per cluster
        img[0x0E..0x10].copy_from_slice(&1u16.to_le_bytes()); // 0x0E: reserved sectors
        img[0x10] = 2; // 0x10: two FATs
        img[0x11..0x13].copy_from_slice(&512u16.to_le_bytes()); // 0x11: root entries
        img[0x16..0x18].copy_from_slice(&8u16.to_le_bytes()); // 0x16: sectors per FAT
        img[0x26] = 0x29; // 0x26: extended boot signature
        img[0x2B..0x36].copy_from_slice(boot_label); // 0x2B: boot-sector label
        img[0x1FE] = 0x55; // 0x1FE: boot signature
        img[0x1FF] = 0xAA;
        // Root directory at (1 + 2 * 8) * 512 = 0x2200.
        let root = 0x2200;
        // A deleted entry and a long-name entry come first and are skipped.
        img[root] = 0xE5;
        img[root + 11] = 0x08;
        img[root + 32 + 11] = 0x0F;
        img[root + 32] = b'A';
        if let Some(l) = dir_label {
            img[root + 64..root + 75].copy_from_slice(l); // entry name
            img[root + 64 + 11] = 0x08; // 0x0B: attribute volume label
        }
        img
    }

    #[test]
    fn fat_label_from_root_dir_then_boot_sector() {
        let img = fat16(b"NO NAME    ", Some(b"ANSWERS    "));
        assert_eq!(
            probe(&mut Cursor::new(img)),
            Some(Probe {
                kind: FsKind::Fat,
                label: "ANSWERS".into()
            })
        );
        let img = fat16(b"ANSWERS    ", None);
        assert_eq!(probe(&mut Cursor::new(img)).unwrap().label, "ANSWERS");
        let img = fat16(b"NO NAME    ", None);
        assert_eq!(probe(&mut Cursor::new(img)).unwrap().label, "");
    }

    #[test]
    fn iso_volume_id_is_the_label() {
        let mut img = vec![0u8; 17 * 2048];
        let pvd = &mut img[16 * 2048..];
        pvd[0] = 1; // 0x00: primary volume descriptor
        pvd[1..6].copy_from_slice(b"CD001"); // 0x01: standard identifier
        pvd[6] = 1; // 0x06: version
        pvd[0x28..0x48].fill(b' '); // 0x28: volume identifier
        pvd[0x28..0x2F].copy_from_slice(b"ANSWERS");
        assert_eq!(
            probe(&mut Cursor::new(img)),
            Some(Probe {
                kind: FsKind::Iso9660,
                label: "ANSWERS".into()
            })
        );
        assert_eq!(probe(&mut Cursor::new(vec![0u8; 4096])), None);
    }

    #[test]
    fn find_scans_sorted_devices_in_a_fake_root() {
        let t = crate::testutil::TempTree::new("answers-volume");
        t.mkdir("sys/class/block/sda");
        t.mkdir("sys/class/block/sdb");
        t.mkdir("sys/class/block/sdb1");
        t.mkdir("sys/class/block/loop0");
        t.mkdir("sys/class/block/fd0");
        t.write("dev/sda", &vec![0u8; 4096]);
        t.write("dev/sdb", &fat16(b"OTHER      ", None));
        t.write("dev/sdb1", &fat16(b"NO NAME    ", Some(b"answers    ")));
        t.write("dev/loop0", &fat16(b"ANSWERS    ", None));
        t.write("dev/fd0", &fat16(b"ANSWERS    ", None));
        let f = find(t.path()).unwrap();
        assert_eq!(f.device, t.path().join("dev/sdb1"));
        assert_eq!(f.kind, FsKind::Fat);
        assert_eq!(f.kind.fstype(), "vfat");
    }
}
