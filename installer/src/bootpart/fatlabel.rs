//! Reading the volume label from a FAT boot sector (the first 512 bytes of
//! the partition). Pure: the caller reads the sector.
//!
//! Offsets (Microsoft's FAT specification, "BPB"):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00B | 2 | bytes per sector (512, 1024, 2048 or 4096) |
//! | 0x00D | 1 | sectors per cluster (a power of two) |
//! | 0x00E | 2 | reserved sectors (≥ 1) |
//! | 0x010 | 1 | number of FATs (≥ 1) |
//! | 0x011 | 2 | root directory entries (0 on FAT32) |
//! | 0x016 | 2 | sectors per FAT (0 on FAT32) |
//! | 0x026 | 1 | FAT12/16: extended boot signature 0x29 |
//! | 0x027 | 4 | FAT12/16: volume id |
//! | 0x02B | 11 | FAT12/16: volume label, space padded |
//! | 0x042 | 1 | FAT32: extended boot signature 0x29 |
//! | 0x043 | 4 | FAT32: volume id |
//! | 0x047 | 11 | FAT32: volume label, space padded |
//! | 0x1FE | 2 | signature 0x55 0xAA |

/// Which FAT family the boot sector describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatKind {
    /// FAT12 or FAT16 (the label is at 0x2B).
    Fat12Or16,
    /// FAT32 (the label is at 0x47).
    Fat32,
}

/// What we read from a FAT boot sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSector {
    /// FAT12/16 or FAT32.
    pub kind: FatKind,
    /// Volume serial number.
    pub volume_id: u32,
    /// The label without its space padding; `None` when there is no extended
    /// boot record or the label is empty or `NO NAME`.
    pub label: Option<String>,
}

/// Why a sector is not a FAT boot sector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FatLabelError {
    /// Fewer than 512 bytes.
    #[error("a boot sector has 512 bytes, got {0}")]
    TooShort(usize),
    /// No 0x55 0xAA at 0x1FE.
    #[error("no boot sector signature (55 AA at 0x1FE)")]
    NoSignature,
    /// The BIOS parameter block is not FAT's.
    #[error("not a FAT file system: {0}")]
    NotFat(&'static str),
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Parses the boot sector in `sector` (at least 512 bytes).
pub fn parse(sector: &[u8]) -> Result<BootSector, FatLabelError> {
    if sector.len() < 512 {
        return Err(FatLabelError::TooShort(sector.len()));
    }
    if sector[0x1FE] != 0x55 || sector[0x1FF] != 0xAA {
        return Err(FatLabelError::NoSignature);
    }
    if !matches!(u16_at(sector, 0x0B), 512 | 1024 | 2048 | 4096) {
        return Err(FatLabelError::NotFat("bytes per sector is not 512–4096"));
    }
    let spc = sector[0x0D];
    if spc == 0 || !spc.is_power_of_two() {
        return Err(FatLabelError::NotFat(
            "sectors per cluster is not a power of two",
        ));
    }
    if u16_at(sector, 0x0E) == 0 || sector[0x10] == 0 {
        return Err(FatLabelError::NotFat("no reserved sectors or no FATs"));
    }
    let fat32 = u16_at(sector, 0x16) == 0 && u16_at(sector, 0x11) == 0;
    let (kind, sig, id, label) = if fat32 {
        (FatKind::Fat32, 0x42, 0x43, 0x47)
    } else {
        (FatKind::Fat12Or16, 0x26, 0x27, 0x2B)
    };
    if sector[sig] != 0x29 {
        return Ok(BootSector {
            kind,
            volume_id: 0,
            label: None,
        });
    }
    let text: String = sector[label..label + 11]
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    let text = text.trim_end().to_string();
    Ok(BootSector {
        kind,
        volume_id: u32_at(sector, id),
        label: (!text.is_empty() && text != "NO NAME").then_some(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FAT32 boot sector as mkfs.fat writes it, byte by byte where it matters.
    fn fat32_golden() -> Vec<u8> {
        let mut s = vec![0u8; 512];
        s[0x00..0x03].copy_from_slice(&[0xEB, 0x58, 0x90]); // jump
        s[0x03..0x0B].copy_from_slice(b"mkfs.fat"); // OEM name
        s[0x0B..0x0D].copy_from_slice(&512u16.to_le_bytes()); // bytes per sector
        s[0x0D] = 1; // sectors per cluster
        s[0x0E..0x10].copy_from_slice(&32u16.to_le_bytes()); // reserved sectors
        s[0x10] = 2; // FATs
                     // 0x11 root entries = 0, 0x13 total sectors (16) = 0, 0x16 FAT size (16) = 0: FAT32
        s[0x15] = 0xF8; // media
        s[0x20..0x24].copy_from_slice(&131_072u32.to_le_bytes()); // total sectors (32)
        s[0x24..0x28].copy_from_slice(&1_009u32.to_le_bytes()); // sectors per FAT (32)
        s[0x2C..0x30].copy_from_slice(&2u32.to_le_bytes()); // root cluster
        s[0x42] = 0x29; // extended boot signature
        s[0x43..0x47].copy_from_slice(&0x1234_ABCDu32.to_le_bytes()); // volume id
        s[0x47..0x52].copy_from_slice(b"APPBOOT    "); // label
        s[0x52..0x5A].copy_from_slice(b"FAT32   "); // fs type
        s[0x1FE] = 0x55;
        s[0x1FF] = 0xAA;
        s
    }

    #[test]
    fn fat32_label_at_0x47() {
        let b = parse(&fat32_golden()).unwrap();
        assert_eq!(
            b,
            BootSector {
                kind: FatKind::Fat32,
                volume_id: 0x1234_ABCD,
                label: Some("APPBOOT".into())
            }
        );
    }

    #[test]
    fn fat16_label_at_0x2b() {
        let mut s = fat32_golden();
        s[0x11..0x13].copy_from_slice(&512u16.to_le_bytes()); // root entries
        s[0x16..0x18].copy_from_slice(&64u16.to_le_bytes()); // sectors per FAT
        s[0x26] = 0x29;
        s[0x27..0x2B].copy_from_slice(&7u32.to_le_bytes());
        s[0x2B..0x36].copy_from_slice(b"ESP DATA   ");
        let b = parse(&s).unwrap();
        assert_eq!(b.kind, FatKind::Fat12Or16);
        assert_eq!(b.volume_id, 7);
        assert_eq!(b.label.as_deref(), Some("ESP DATA"));
    }

    #[test]
    fn no_name_and_missing_extended_record_mean_no_label() {
        let mut s = fat32_golden();
        s[0x47..0x52].copy_from_slice(b"NO NAME    ");
        assert_eq!(parse(&s).unwrap().label, None);
        s[0x42] = 0;
        assert_eq!(parse(&s).unwrap().label, None);
    }

    #[test]
    fn rejects_what_is_not_fat() {
        assert_eq!(parse(&[0u8; 100]), Err(FatLabelError::TooShort(100)));
        assert_eq!(parse(&[0u8; 512]), Err(FatLabelError::NoSignature));
        let mut s = fat32_golden();
        s[0x0B..0x0D].copy_from_slice(&0u16.to_le_bytes());
        assert!(matches!(parse(&s), Err(FatLabelError::NotFat(_))));
        let mut s = fat32_golden();
        s[0x0D] = 3;
        assert!(matches!(parse(&s), Err(FatLabelError::NotFat(_))));
        // An MBR (partition table, signature, but no BPB).
        let mut mbr = vec![0u8; 512];
        mbr[0x1FE] = 0x55;
        mbr[0x1FF] = 0xAA;
        assert!(matches!(parse(&mbr), Err(FatLabelError::NotFat(_))));
    }

    #[test]
    fn reads_what_fatfs_formats() {
        let mut img = vec![0u8; 40 << 20];
        fatfs::format_volume(
            std::io::Cursor::new(&mut img[..]),
            fatfs::FormatVolumeOptions::new()
                .fat_type(fatfs::FatType::Fat32)
                .bytes_per_cluster(512)
                .volume_id(0xC0FFEE)
                .volume_label(*b"APPBOOT    "),
        )
        .unwrap();
        let b = parse(&img[..512]).unwrap();
        assert_eq!(b.kind, FatKind::Fat32);
        assert_eq!(b.volume_id, 0xC0FFEE);
        assert_eq!(b.label.as_deref(), Some("APPBOOT"));
    }
}
