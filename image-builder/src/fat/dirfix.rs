//! Post-processing of a finished FAT image: remove the long-file-name (LFN) entries
//! that fatfs 0.3.6 writes in front of the `.` and `..` entries of each directory.
//!
//! The image is walked from the root directory; every subdirectory's entries are read
//! along its cluster chain, the LFN entries immediately preceding `.`/`..` are dropped,
//! and the remaining entries are written back compacted, the freed slots zeroed
//! (end-of-directory markers). Works on FAT12, FAT16 and FAT32.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};

/// Byte access to a FAT image: in memory, or on a device through
/// [`DeviceBytes`] (the installer fixes a partition on the target disk).
pub trait Bytes {
    /// Length in bytes.
    fn size(&self) -> usize;
    /// Reads `buf.len()` bytes at `off` (zeros where it cannot read).
    fn get(&mut self, off: usize, buf: &mut [u8]);
    /// Writes `data` at `off`.
    fn put(&mut self, off: usize, data: &[u8]);
}

impl Bytes for Vec<u8> {
    fn size(&self) -> usize {
        self.len()
    }
    fn get(&mut self, off: usize, buf: &mut [u8]) {
        let n = buf.len();
        buf.copy_from_slice(&self[off..off + n]);
    }
    fn put(&mut self, off: usize, data: &[u8]) {
        self[off..off + data.len()].copy_from_slice(data);
    }
}

/// A FAT volume on a seekable device; the first I/O error is kept and
/// returned by [`drop_dot_entry_lfns_on`].
pub struct DeviceBytes<'a, D> {
    dev: &'a mut D,
    len: usize,
    error: Option<std::io::Error>,
}

impl<D: Read + Write + Seek> Bytes for DeviceBytes<'_, D> {
    fn size(&self) -> usize {
        self.len
    }
    fn get(&mut self, off: usize, buf: &mut [u8]) {
        let r = self
            .dev
            .seek(SeekFrom::Start(off as u64))
            .and_then(|_| self.dev.read_exact(buf));
        if let Err(e) = r {
            buf.fill(0);
            self.error.get_or_insert(e);
        }
    }
    fn put(&mut self, off: usize, data: &[u8]) {
        let r = self
            .dev
            .seek(SeekFrom::Start(off as u64))
            .and_then(|_| self.dev.write_all(data));
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }
}

/// [`drop_dot_entry_lfns`] on a volume of `len` bytes that starts at the
/// device's offset 0 (e.g. a partition window).
pub fn drop_dot_entry_lfns_on<D: Read + Write + Seek>(dev: &mut D, len: u64) -> Result<(), String> {
    let mut b = DeviceBytes {
        dev,
        len: usize::try_from(len).map_err(|_| "volume too large".to_string())?,
        error: None,
    };
    drop_dot_entry_lfns(&mut b)?;
    match b.error {
        Some(e) => Err(format!("I/O error while fixing directories: {e}")),
        None => Ok(()),
    }
}

const ENTRY: usize = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_VOLUME_ID: u8 = 0x08;
const DELETED: u8 = 0xE5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FatKind {
    Fat12,
    Fat16,
    Fat32,
}

/// The geometry read from the boot sector.
#[derive(Debug, Clone, Copy)]
struct Layout {
    kind: FatKind,
    cluster_bytes: usize,
    fat_start: usize,
    /// FAT12/16 fixed root directory region: (offset, entry count).
    root_region: Option<(usize, usize)>,
    /// FAT32 root directory cluster.
    root_cluster: u32,
    data_start: usize,
    cluster_count: u32,
}

fn u8_at(img: &mut dyn Bytes, off: usize) -> u8 {
    let mut b = [0u8; 1];
    img.get(off, &mut b);
    b[0]
}

fn u16_at(img: &mut dyn Bytes, off: usize) -> usize {
    let mut b = [0u8; 2];
    img.get(off, &mut b);
    usize::from(u16::from_le_bytes(b))
}

fn u32_at(img: &mut dyn Bytes, off: usize) -> u32 {
    let mut b = [0u8; 4];
    img.get(off, &mut b);
    u32::from_le_bytes(b)
}

impl Layout {
    fn read(img: &mut dyn Bytes) -> Result<Self, String> {
        if img.size() < 512 {
            return Err("image smaller than one sector".to_owned());
        }
        let bps = u16_at(img, 0x0B);
        let spc = usize::from(u8_at(img, 0x0D));
        let reserved = u16_at(img, 0x0E);
        let fats = usize::from(u8_at(img, 0x10));
        let root_entries = u16_at(img, 0x11);
        let total16 = u16_at(img, 0x13);
        let spf16 = u16_at(img, 0x16);
        let total = if total16 != 0 {
            total16
        } else {
            u32_at(img, 0x20) as usize
        };
        let spf = if spf16 != 0 {
            spf16
        } else {
            u32_at(img, 0x24) as usize
        };
        if bps == 0 || spc == 0 {
            return Err("zero bytes per sector or sectors per cluster".to_owned());
        }
        let root_sectors = (root_entries * ENTRY).div_ceil(bps);
        let first_data_sector = reserved + fats * spf + root_sectors;
        let cluster_count = total.saturating_sub(first_data_sector) / spc;
        let kind = if root_entries == 0 {
            FatKind::Fat32
        } else if cluster_count < 4085 {
            FatKind::Fat12
        } else {
            FatKind::Fat16
        };
        let layout = Self {
            kind,
            cluster_bytes: bps * spc,
            fat_start: reserved * bps,
            root_region: (kind != FatKind::Fat32)
                .then_some(((reserved + fats * spf) * bps, root_entries)),
            root_cluster: u32_at(img, 0x2C),
            data_start: first_data_sector * bps,
            cluster_count: cluster_count as u32,
        };
        if layout.data_start + cluster_count * layout.cluster_bytes > img.size() {
            return Err("boot sector describes more sectors than the image has".to_owned());
        }
        Ok(layout)
    }

    fn is_valid_cluster(&self, c: u32) -> bool {
        c >= 2 && c < self.cluster_count + 2
    }

    /// The next cluster of a chain, or `None` at its end (or on a bad value).
    fn next(&self, img: &mut dyn Bytes, c: u32) -> Option<u32> {
        let c_usize = c as usize;
        let next = match self.kind {
            FatKind::Fat12 => {
                let v = u16_at(img, self.fat_start + c_usize * 3 / 2) as u32;
                if c % 2 == 1 {
                    v >> 4
                } else {
                    v & 0xFFF
                }
            }
            FatKind::Fat16 => u16_at(img, self.fat_start + c_usize * 2) as u32,
            FatKind::Fat32 => u32_at(img, self.fat_start + c_usize * 4) & 0x0FFF_FFFF,
        };
        self.is_valid_cluster(next).then_some(next)
    }

    /// Byte ranges of a cluster chain, stopping on loops.
    fn chain(&self, img: &mut dyn Bytes, first: u32) -> Vec<(usize, usize)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut c = Some(first).filter(|&c| self.is_valid_cluster(c));
        while let Some(cluster) = c {
            if !seen.insert(cluster) {
                break;
            }
            let start = self.data_start + (cluster as usize - 2) * self.cluster_bytes;
            out.push((start, start + self.cluster_bytes));
            c = self.next(img, cluster);
        }
        out
    }
}

/// Removes the LFN entries in front of `.`/`..` in every directory of the image.
pub fn drop_dot_entry_lfns(img: &mut dyn Bytes) -> Result<(), String> {
    let layout = Layout::read(img)?;
    let root: Vec<(usize, usize)> = match layout.root_region {
        Some((off, entries)) => vec![(off, off + entries * ENTRY)],
        None => layout.chain(img, layout.root_cluster),
    };
    let mut todo = vec![root];
    let mut visited = BTreeSet::new();
    while let Some(ranges) = todo.pop() {
        for (start, end) in &ranges {
            for off in (*start..*end).step_by(ENTRY) {
                let mut e = [0u8; ENTRY];
                img.get(off, &mut e);
                if e[0] == 0 {
                    break;
                }
                let attr = e[11];
                let is_subdir = e[0] != DELETED
                    && attr != ATTR_LFN
                    && attr & ATTR_VOLUME_ID == 0
                    && attr & ATTR_DIRECTORY != 0
                    && e[0] != b'.';
                if is_subdir {
                    let hi = if layout.kind == FatKind::Fat32 {
                        (u16_at(img, off + 20) as u32) << 16
                    } else {
                        0
                    };
                    let cluster = hi | u16_at(img, off + 26) as u32;
                    if visited.insert(cluster) {
                        todo.push(layout.chain(img, cluster));
                    }
                }
            }
        }
        compact_dir(img, &ranges);
    }
    if layout.kind == FatKind::Fat32 {
        fix_dotdot_to_root(img, &layout);
    }
    Ok(())
}

/// On FAT32 a `..` entry that points at the root directory must say cluster
/// 0, not the root's cluster number (fatfs writes the number; fsck.vfat
/// reports "Invalid '..' entry"). Walks the root's subdirectories.
fn fix_dotdot_to_root(img: &mut dyn Bytes, layout: &Layout) {
    let root = layout.chain(img, layout.root_cluster);
    let mut subdirs = Vec::new();
    for (start, end) in &root {
        for off in (*start..*end).step_by(ENTRY) {
            let mut e = [0u8; ENTRY];
            img.get(off, &mut e);
            if e[0] == 0 {
                break;
            }
            let attr = e[11];
            if e[0] != DELETED
                && attr != ATTR_LFN
                && attr & ATTR_VOLUME_ID == 0
                && attr & ATTR_DIRECTORY != 0
            {
                let cluster = (u32::from(u16::from_le_bytes([e[20], e[21]])) << 16)
                    | u32::from(u16::from_le_bytes([e[26], e[27]]));
                subdirs.push(cluster);
            }
        }
    }
    for c in subdirs {
        if let Some(&(start, _)) = layout.chain(img, c).first() {
            // `..` is the second entry of a directory.
            let off = start + ENTRY;
            let mut e = [0u8; ENTRY];
            img.get(off, &mut e);
            let cluster = (u32::from(u16::from_le_bytes([e[20], e[21]])) << 16)
                | u32::from(u16::from_le_bytes([e[26], e[27]]));
            if &e[..11] == b"..         " && cluster == layout.root_cluster {
                e[20..22].fill(0);
                e[26..28].fill(0);
                img.put(off, &e);
            }
        }
    }
}

/// Drops the LFN entries directly before a `.` or `..` entry; compacts the rest.
fn compact_dir(img: &mut dyn Bytes, ranges: &[(usize, usize)]) {
    let slots: Vec<usize> = ranges
        .iter()
        .flat_map(|&(s, e)| (s..e).step_by(ENTRY))
        .collect();
    let mut entries: Vec<[u8; ENTRY]> = Vec::new();
    let mut pending_lfn: Vec<[u8; ENTRY]> = Vec::new();
    for &off in &slots {
        let mut e = [0u8; ENTRY];
        img.get(off, &mut e);
        if e[0] == 0 {
            break;
        }
        if e[11] == ATTR_LFN && e[0] != DELETED {
            pending_lfn.push(e);
            continue;
        }
        let is_dot = &e[..11] == b".          " || &e[..11] == b"..         ";
        if !is_dot {
            entries.append(&mut pending_lfn);
        }
        pending_lfn.clear();
        entries.push(e);
    }
    entries.append(&mut pending_lfn);
    for (i, &off) in slots.iter().enumerate() {
        match entries.get(i) {
            Some(e) => img.put(off, e),
            None => img.put(off, &[0u8; ENTRY]),
        }
    }
}
