//! The isohybrid MBR: syslinux `isohdpfx.bin` code plus a DOS partition table
//! laid out as xorriso does for Debian's layout (partition 1, type 0x00,
//! bootable, covering the whole image from sector 0; partition 2, type 0xEF,
//! covering the EFI image inside the ISO tree).
//!
//! The table is a small hand-written struct rather than the `mbrman` crate:
//! mbrman treats type 0x00 as an empty slot and cannot express a partition
//! that starts at sector 0 and so overlaps the MBR itself.

use super::error::IsoError;

/// Length of the boot code taken from `isohdpfx.bin`.
pub const MBR_CODE_LEN: usize = 432;
/// Heads per cylinder of the fake geometry (1 cylinder = 1 MiB).
const HEADS: u32 = 64;
/// Sectors per head of the fake geometry.
const SECTORS: u32 = 32;
/// CHS triple meaning "beyond CHS range, use the LBA fields".
const CHS_BEYOND: [u8; 3] = [0xFE, 0xFF, 0xFF];

/// isohybrid MBR settings: the boot code and the disk signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isohybrid {
    code: [u8; MBR_CODE_LEN],
    disk_signature: u32,
}

impl Isohybrid {
    /// `mbr_code` is the content of syslinux's `isohdpfx.bin` and must be
    /// exactly 432 bytes; `disk_signature` goes to MBR bytes 440..444.
    pub fn new(mbr_code: &[u8], disk_signature: u32) -> Result<Self, IsoError> {
        let code: [u8; MBR_CODE_LEN] = mbr_code.try_into().map_err(|_| IsoError::MbrCodeSize {
            len: mbr_code.len(),
        })?;
        Ok(Isohybrid {
            code,
            disk_signature,
        })
    }

    /// The disk signature written at MBR offset 440.
    pub fn disk_signature(&self) -> u32 {
        self.disk_signature
    }
}

/// One 16-byte partition table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PartitionEntry {
    /// 0x80 = bootable, 0x00 = not.
    pub status: u8,
    /// CHS address of the first sector.
    pub start_chs: [u8; 3],
    /// Partition type byte.
    pub kind: u8,
    /// CHS address of the last sector.
    pub end_chs: [u8; 3],
    /// First sector (512-byte units).
    pub start: u32,
    /// Number of sectors.
    pub sectors: u32,
}

impl PartitionEntry {
    /// Encodes the entry.
    pub(crate) fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[0] = self.status;
        out[1..4].copy_from_slice(&self.start_chs);
        out[4] = self.kind;
        out[5..8].copy_from_slice(&self.end_chs);
        out[8..12].copy_from_slice(&self.start.to_le_bytes());
        out[12..16].copy_from_slice(&self.sectors.to_le_bytes());
        out
    }
}

/// CHS triple (head, sector | cylinder bits 8-9 << 6, cylinder low byte) of
/// a 512-byte LBA with 64 heads × 32 sectors; `fe ff ff` beyond cylinder 1023.
pub(crate) fn chs(lba: u32) -> [u8; 3] {
    let cylinder = lba / (HEADS * SECTORS);
    if cylinder > 1023 {
        return CHS_BEYOND;
    }
    let head = (lba / SECTORS) % HEADS;
    let sector = lba % SECTORS + 1;
    [
        head as u8,
        (sector as u8) | (((cylinder >> 8) as u8) << 6),
        cylinder as u8,
    ]
}

/// Where things are, in 512-byte sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MbrLayout {
    /// Sector of the BIOS boot image (isolinux.bin), i.e. its LBA × 4.
    pub bios_image_sector: u32,
    /// Whole image size in sectors.
    pub total_sectors: u32,
    /// EFI image start sector and size in sectors, if any.
    pub efi: Option<(u32, u32)>,
}

/// The two partition entries of the layout.
pub(crate) fn partitions(layout: &MbrLayout) -> Vec<PartitionEntry> {
    let mut parts = vec![PartitionEntry {
        status: 0x80,
        start_chs: chs(0),
        kind: 0x00,
        end_chs: chs(layout.total_sectors.saturating_sub(1)),
        start: 0,
        sectors: layout.total_sectors,
    }];
    if let Some((start, sectors)) = layout.efi {
        // xorriso (like syslinux isohybrid -u) always writes fe ff ff here.
        parts.push(PartitionEntry {
            status: 0x00,
            start_chs: CHS_BEYOND,
            kind: 0xEF,
            end_chs: CHS_BEYOND,
            start,
            sectors,
        });
    }
    parts
}

/// Encodes the 512-byte MBR.
pub(crate) fn mbr(hybrid: &Isohybrid, layout: &MbrLayout) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..MBR_CODE_LEN].copy_from_slice(&hybrid.code);
    b[432..436].copy_from_slice(&layout.bios_image_sector.to_le_bytes());
    // 436..440 stay zero.
    b[440..444].copy_from_slice(&hybrid.disk_signature.to_le_bytes());
    // 444..446 stay zero.
    for (i, p) in partitions(layout).iter().enumerate() {
        let off = 446 + 16 * i;
        b[off..off + 16].copy_from_slice(&p.to_bytes());
    }
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refa() -> [u8; 512] {
        let hybrid = Isohybrid::new(&[0x33; 432], 0x624e_3853).unwrap();
        mbr(
            &hybrid,
            &MbrLayout {
                bios_image_sector: 2554 * 4,
                total_sectors: 40960,
                efi: Some((164, 10050)),
            },
        )
    }

    #[test]
    fn mbr_golden_matches_refa() {
        let b = refa();
        assert!(b[..432].iter().all(|&c| c == 0x33)); // 0x000: isohdpfx code
        assert_eq!(&b[432..436], &[0xe8, 0x27, 0, 0]); // 0x1B0: LBA(isolinux.bin)×4 = 10216
        assert_eq!(&b[436..440], &[0; 4]); // 0x1B4: zero
        assert_eq!(&b[440..444], &[0x53, 0x38, 0x4e, 0x62]); // 0x1B8: disk signature
        assert_eq!(&b[444..446], &[0; 2]); // 0x1BC: zero
                                           // 0x1BE: entry 1 = 80 | 00 01 00 | 00 | 3f 20 13 | 0 | 40960
        assert_eq!(
            &b[446..462],
            &[0x80, 0x00, 0x01, 0x00, 0x00, 0x3f, 0x20, 0x13, 0, 0, 0, 0, 0x00, 0xa0, 0, 0]
        );
        // 0x1CE: entry 2 = 00 | fe ff ff | ef | fe ff ff | 164 | 10050
        assert_eq!(
            &b[462..478],
            &[0x00, 0xfe, 0xff, 0xff, 0xef, 0xfe, 0xff, 0xff, 0xa4, 0, 0, 0, 0x42, 0x27, 0, 0]
        );
        assert_eq!(&b[478..510], &[0; 32]); // 0x1DE: entries 3 and 4 empty
        assert_eq!(&b[510..512], &[0x55, 0xAA]); // 0x1FE: boot signature
    }

    #[test]
    fn chs_with_64_heads_32_sectors() {
        assert_eq!(chs(0), [0x00, 0x01, 0x00]);
        assert_eq!(chs(40959), [0x3f, 0x20, 0x13]); // refA end: cyl 19, head 63, sector 32
        assert_eq!(chs(164), [5, 5, 0]); // cyl 0, head 5, sector 5
        assert_eq!(chs(2048 * 1023 + 2047), [0x3f, 0xe0, 0xff]); // last CHS-addressable sector
        assert_eq!(chs(2048 * 1024), [0xfe, 0xff, 0xff]); // beyond cylinder 1023
    }

    #[test]
    fn bios_only_has_one_partition() {
        let p = partitions(&MbrLayout {
            bios_image_sector: 100,
            total_sectors: 4096,
            efi: None,
        });
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].end_chs, [0x3f, 0x20, 0x01]); // 2 cylinders: end cyl 1
    }

    #[test]
    fn mbr_code_must_be_432_bytes() {
        let err = Isohybrid::new(&[0; 433], 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "isohybrid mbr code is 433 bytes, expected exactly 432"
        );
        assert!(Isohybrid::new(&[0; 512], 0).is_err());
        assert!(Isohybrid::new(&[0; 432], 0).is_ok());
    }
}
