//! El Torito: the boot record volume descriptor, the boot catalog, and the
//! mkisofs-style boot info table patched into the BIOS boot image.

use std::io::{self, Read};

use super::bytes::{put, put_padded, BLOCK};
use super::volume::STANDARD_ID;

/// El Torito platform id of x86 PC BIOS.
pub(crate) const PLATFORM_X86: u8 = 0x00;
/// El Torito platform id of UEFI.
pub(crate) const PLATFORM_EFI: u8 = 0xEF;
/// Boot indicator of a bootable entry.
const BOOTABLE: u8 = 0x88;
/// Section header indicator: more headers follow.
const HEADER_MORE: u8 = 0x90;
/// Section header indicator: final header.
const HEADER_FINAL: u8 = 0x91;
/// Offset of the boot info table inside the boot image.
pub(crate) const INFO_TABLE_OFFSET: usize = 8;
/// Bytes covered by the table (offsets 8..64); the checksum starts after them.
pub(crate) const INFO_TABLE_END: usize = 64;
/// LBA of the Primary Volume Descriptor, recorded in the boot info table.
pub(crate) const PVD_LBA: u32 = 16;

/// Encodes the Boot Record Volume Descriptor pointing at the catalog.
pub(crate) fn boot_record(catalog_lba: u32) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[0] = 0; // type 0 = boot record
    put(&mut b, 1, STANDARD_ID);
    b[6] = 1;
    put_padded(&mut b, 7, 32, b"EL TORITO SPECIFICATION", 0);
    put(&mut b, 71, &catalog_lba.to_le_bytes());
    b
}

/// One no-emulation boot image in the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BootEntry {
    /// `PLATFORM_X86` or `PLATFORM_EFI`.
    pub platform: u8,
    /// Number of 512-byte virtual sectors to load.
    pub sectors: u16,
    /// LBA of the image.
    pub lba: u32,
}

/// The sector count xorriso writes for an EFI image: its size in 512-byte
/// units rounded up to whole 2048-byte blocks, clamped to 65535.
pub(crate) fn efi_sector_count(len: u64) -> u16 {
    let sectors = len.div_ceil(BLOCK as u64) * 4;
    sectors.min(u64::from(u16::MAX)) as u16
}

fn entry_bytes(e: &BootEntry) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[0] = BOOTABLE;
    out[1] = 0; // no emulation
                // 2..4 load segment 0 (= 0x07C0), 4 system type 0, 5 unused
    out[6..8].copy_from_slice(&e.sectors.to_le_bytes());
    out[8..12].copy_from_slice(&e.lba.to_le_bytes());
    out
}

/// Encodes the catalog. The first entry becomes the default entry (its
/// platform goes into the validation entry); each further entry gets its own
/// section header, the last one marked final. `entries` must not be empty.
pub(crate) fn catalog(entries: &[BootEntry]) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    let Some((first, rest)) = entries.split_first() else {
        return b;
    };
    // Validation entry.
    b[0] = 0x01;
    b[1] = first.platform;
    b[30] = 0x55;
    b[31] = 0xAA;
    let sum = b[..32].chunks_exact(2).fold(0u16, |acc, w| {
        acc.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    b[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    put(&mut b, 32, &entry_bytes(first));
    let mut off = 64;
    for (i, e) in rest.iter().enumerate() {
        b[off] = if i + 1 == rest.len() {
            HEADER_FINAL
        } else {
            HEADER_MORE
        };
        b[off + 1] = e.platform;
        b[off + 2..off + 4].copy_from_slice(&1u16.to_le_bytes());
        put(&mut b, off + 32, &entry_bytes(e));
        off += 64;
    }
    b
}

/// Checksum of the boot info table over in-memory bytes; `rest` starts at
/// image offset 64. See [`info_table_checksum`].
pub(crate) fn info_table_checksum_bytes(rest: &[u8]) -> u32 {
    rest.chunks(4).fold(0u32, |sum, word| {
        let mut w = [0u8; 4];
        w[..word.len()].copy_from_slice(word);
        sum.wrapping_add(u32::from_le_bytes(w))
    })
}

/// Checksum of the boot info table: wrapping sum of the little-endian u32
/// words from byte 64 to the end of the image (a short last word is
/// zero-padded). `rest` must yield the image bytes starting at offset 64.
pub(crate) fn info_table_checksum<R: Read>(mut rest: R) -> io::Result<(u32, u64)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = [0u8; 4];
    let mut carried = 0usize;
    let mut sum = 0u32;
    let mut total = 0u64;
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        for &byte in &buf[..n] {
            carry[carried] = byte;
            carried += 1;
            if carried == 4 {
                sum = sum.wrapping_add(u32::from_le_bytes(carry));
                carried = 0;
            }
        }
    }
    if carried > 0 {
        carry[carried..].fill(0);
        sum = sum.wrapping_add(u32::from_le_bytes(carry));
    }
    Ok((sum, total))
}

/// The 56 bytes that replace offsets 8..64 of the boot image: PVD LBA, image
/// LBA, image length, checksum, then 40 reserved zero bytes.
pub(crate) fn info_table(image_lba: u32, image_len: u32, checksum: u32) -> [u8; 56] {
    let mut t = [0u8; 56];
    t[0..4].copy_from_slice(&PVD_LBA.to_le_bytes());
    t[4..8].copy_from_slice(&image_lba.to_le_bytes());
    t[8..12].copy_from_slice(&image_len.to_le_bytes());
    t[12..16].copy_from_slice(&checksum.to_le_bytes());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brvd_golden() {
        let b = boot_record(40);
        assert_eq!(b[0], 0); // 0x00: type 0 = boot record
        assert_eq!(&b[1..6], b"CD001"); // 0x01: standard identifier
        assert_eq!(b[6], 1); // 0x06: version
        assert_eq!(&b[7..30], b"EL TORITO SPECIFICATION"); // 0x07: boot system id
        assert!(b[30..71].iter().all(|&c| c == 0)); // 0x1E: id padding + boot id
        assert_eq!(&b[71..75], &[0x28, 0, 0, 0]); // 0x47: catalog LBA 40 (refA)
        assert!(b[75..].iter().all(|&c| c == 0)); // 0x4B: unused
    }

    #[test]
    fn catalog_golden_matches_refa() {
        let b = catalog(&[
            BootEntry {
                platform: PLATFORM_X86,
                sectors: 4,
                lba: 2554,
            },
            BootEntry {
                platform: PLATFORM_EFI,
                sectors: efi_sector_count(5_145_600),
                lba: 41,
            },
        ]);
        // Validation entry.
        assert_eq!(b[0], 0x01); // 0x00: header id
        assert_eq!(b[1], 0x00); // 0x01: platform x86
        assert!(b[2..28].iter().all(|&c| c == 0)); // 0x02: reserved + id string
        assert_eq!(&b[28..30], &[0xAA, 0x55]); // 0x1C: checksum of an all-zero id
        assert_eq!(&b[30..32], &[0x55, 0xAA]); // 0x1E: key bytes
                                               // Default entry (refA: 88 00 0000 00 00 0400 fa090000).
        assert_eq!(b[32], 0x88); // 0x20: bootable
        assert_eq!(b[33], 0x00); // 0x21: no emulation
        assert_eq!(&b[34..36], &[0, 0]); // 0x22: load segment 0
        assert_eq!(b[36], 0); // 0x24: system type
        assert_eq!(&b[38..40], &[4, 0]); // 0x26: sector count 4
        assert_eq!(&b[40..44], &[0xfa, 0x09, 0, 0]); // 0x28: LBA 2554
        assert!(b[44..64].iter().all(|&c| c == 0)); // 0x2C: unused
                                                    // Section header.
        assert_eq!(b[64], 0x91); // 0x40: final header
        assert_eq!(b[65], 0xEF); // 0x41: platform EFI
        assert_eq!(&b[66..68], &[1, 0]); // 0x42: one entry
        assert!(b[68..96].iter().all(|&c| c == 0)); // 0x44: id string
                                                    // Section entry.
        assert_eq!(b[96], 0x88); // 0x60: bootable
        assert_eq!(b[97], 0x00); // 0x61: no emulation
        assert_eq!(&b[102..104], &10052u16.to_le_bytes()); // 0x66: sector count 10052
        assert_eq!(&b[104..108], &[41, 0, 0, 0]); // 0x68: LBA 41
        assert!(b[108..].iter().all(|&c| c == 0)); // 0x6C: rest unused
                                                   // Words of the validation entry sum to zero.
        let sum = b[..32].chunks(2).fold(0u16, |a, w| {
            a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
        });
        assert_eq!(sum, 0);
    }

    #[test]
    fn efi_only_catalog_uses_efi_platform_in_validation_entry() {
        let b = catalog(&[BootEntry {
            platform: PLATFORM_EFI,
            sectors: 8,
            lba: 33,
        }]);
        assert_eq!(b[1], 0xEF); // 0x01: platform EFI
        assert_eq!(&b[28..30], &[0xAA, 0x55u8.wrapping_sub(0xEF)]); // 0x1C: checksum
        assert_eq!(b[32], 0x88); // 0x20: default entry
        assert_eq!(b[64], 0); // 0x40: no section header
    }

    #[test]
    fn efi_sector_count_rounds_to_blocks_and_clamps() {
        assert_eq!(efi_sector_count(5_145_600), 10052); // refA efi.img
        assert_eq!(efi_sector_count(2048), 4);
        assert_eq!(efi_sector_count(1), 4);
        assert_eq!(efi_sector_count(64 << 20), 65535);
    }

    /// Yields at most 3 bytes per read, so words straddle reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn streamed_checksum_matches_in_memory_checksum() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 37 % 256) as u8).collect();
        let (sum, len) = info_table_checksum(Trickle(&data)).unwrap();
        assert_eq!(len, 1001);
        assert_eq!(sum, info_table_checksum_bytes(&data));
    }

    #[test]
    fn boot_info_table_on_synthetic_image() {
        // 64 header bytes, then words 1, 2, 0xFFFFFFFF and a short tail 0x05.
        let mut image = vec![0xEEu8; 64];
        image.extend_from_slice(&1u32.to_le_bytes());
        image.extend_from_slice(&2u32.to_le_bytes());
        image.extend_from_slice(&u32::MAX.to_le_bytes());
        image.push(0x05);
        let (sum, len) = info_table_checksum(&image[64..]).unwrap();
        assert_eq!(len, 13);
        assert_eq!(
            sum,
            1u32.wrapping_add(2).wrapping_add(u32::MAX).wrapping_add(5)
        );
        assert_eq!(info_table_checksum_bytes(&image[64..]), sum);
        let t = info_table(2554, image.len() as u32, sum);
        assert_eq!(&t[0..4], &[16, 0, 0, 0]); // image 0x08: bi_pvd = 16
        assert_eq!(&t[4..8], &[0xfa, 0x09, 0, 0]); // image 0x0C: bi_file = LBA 2554
        assert_eq!(&t[8..12], &[77, 0, 0, 0]); // image 0x10: bi_length = 77
        assert_eq!(&t[12..16], &7u32.to_le_bytes()); // image 0x14: bi_csum = 7
        assert!(t[16..].iter().all(|&c| c == 0)); // image 0x18..0x40: reserved
    }
}
