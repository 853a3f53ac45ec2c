//! Unit tests over whole images written by the builder: golden bytes of the
//! structures in place, read-back through [`super::read`], and error cases.

use std::io::Cursor;

use super::read::{self, find_file, read_dir};
use super::*;

const EPOCH: u64 = 1_700_000_000;
const DATE: [u8; 7] = [123, 11, 14, 22, 13, 20, 0];

fn block(img: &[u8], lba: u32) -> &[u8] {
    &img[lba as usize * 2048..(lba as usize + 1) * 2048]
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A fake isolinux.bin: 0xDEADBEEF filler at 24..64 like Debian's, and a
/// recognisable word pattern after it.
fn fake_isolinux(len: usize) -> Vec<u8> {
    let mut b: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    for chunk in b[24..64].chunks_mut(4) {
        chunk.copy_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
    }
    b
}

fn bootable() -> IsoBuilder {
    let mut iso = IsoBuilder::new("TEST", EPOCH).unwrap();
    iso.add_file(
        "isolinux/isolinux.bin",
        FileSource::Bytes(fake_isolinux(5000)),
        0o644,
    )
    .unwrap();
    iso.add_file(
        "boot/grub/efi.img",
        FileSource::Bytes(vec![0xE5; 3000]),
        0o644,
    )
    .unwrap();
    iso.add_file(
        ".disk/info",
        FileSource::Bytes(b"Test disk".to_vec()),
        0o644,
    )
    .unwrap();
    iso.set_bios_boot(BiosBoot::isolinux(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
    ));
    iso.set_efi_boot("boot/grub/efi.img");
    iso.set_isohybrid(Isohybrid::new(&[0x90; 432], 0xCAFE_F00D).unwrap());
    iso
}

fn write(iso: &IsoBuilder) -> (Vec<u8>, IsoReport) {
    let mut out = Vec::new();
    let report = iso.write_to(&mut out).unwrap();
    (out, report)
}

#[test]
fn layout_of_a_bootable_image() {
    let (img, report) = write(&bootable());
    assert_eq!(img.len() as u64, report.total_bytes);
    assert_eq!(img.len(), 1 << 20); // padded to 1 MiB
    assert_eq!(report.volume_blocks, 512);
    assert_eq!(iso_plan(&bootable()), report);
    let vds = read::volume_descriptors(&mut Cursor::new(&img)).unwrap();
    let kinds: Vec<(u32, u8)> = vds.iter().map(|v| (v.lba, v.kind)).collect();
    assert_eq!(kinds, [(16, 1), (17, 0), (18, 255)]);
    // Path tables at 19 and 20; 5 directories (root, .disk, boot, grub,
    // isolinux) fit one block each; no CE overflow except the root's ER.
    let pvd = block(&img, 16);
    assert_eq!(u32_le(&pvd[140..144]), 19); // 0x08C: L path table
    assert_eq!(&pvd[148..152], &20u32.to_be_bytes()); // 0x094: M path table
    assert_eq!(u32_le(&pvd[80..84]), 512); // 0x050: volume space size
                                           // Boot images come first in the data area: BIOS, then EFI.
    let catalog = report.catalog_lba.unwrap();
    assert_eq!(report.bios_image_lba, Some(catalog + 1));
    assert_eq!(report.efi_image_lba, Some(catalog + 4)); // 5000 bytes = 3 blocks
    assert_eq!(report.efi_image_bytes, Some(3000));
    assert_eq!(
        read::boot_catalog_lba(&mut Cursor::new(&img)).unwrap(),
        Some(catalog)
    );
}

#[test]
fn reader_stops_at_a_terminator_copied_over_the_boot_record() {
    let (mut img, _) = write(&bootable());
    // What the QEMU harness does to hide El Torito: block 18 over block 17.
    let terminator = block(&img, 18).to_vec();
    img[17 * 2048..18 * 2048].copy_from_slice(&terminator);
    let mut cur = Cursor::new(&img);
    let kinds: Vec<(u32, u8)> = read::volume_descriptors(&mut cur)
        .unwrap()
        .iter()
        .map(|v| (v.lba, v.kind))
        .collect();
    assert_eq!(kinds, [(16, 1), (17, 255)]);
    assert_eq!(read::boot_catalog_lba(&mut cur).unwrap(), None);
    assert!(find_file(&mut cur, "boot/grub/efi.img").is_ok());
}

fn iso_plan(iso: &IsoBuilder) -> IsoReport {
    iso.plan().unwrap()
}

#[test]
fn path_table_golden() {
    let (img, _) = write(&bootable());
    let pvd = block(&img, 16);
    let size = u32_le(&pvd[132..136]) as usize;
    // root(10) + _DISK(14) + BOOT(12) + ISOLINUX(16) + GRUB(12)
    assert_eq!(size, 10 + 14 + 12 + 16 + 12);
    let l = &block(&img, 19)[..size];
    let m = &block(&img, 20)[..size];
    let root_lba = u32_le(&pvd[158..162]);
    // Root: 0x00 len 1, 0x01 ext attr 0, 0x02 LBA, 0x06 parent 1, 0x08 id 0x00, pad.
    assert_eq!(&l[..2], &[1, 0]);
    assert_eq!(u32_le(&l[2..6]), root_lba);
    assert_eq!(&l[6..10], &[1, 0, 0, 0]);
    // Level 2 in ISO order ('_' = 0x5F sorts after letters): BOOT, ISOLINUX,
    // _DISK; then level 3: GRUB.
    let mut pos = 10;
    let mut names = Vec::new();
    let mut parents = Vec::new();
    while pos < size {
        let n = l[pos] as usize;
        names.push(String::from_utf8_lossy(&l[pos + 8..pos + 8 + n]).into_owned());
        parents.push(u16::from_le_bytes([l[pos + 6], l[pos + 7]]));
        // The M table holds the same record with big-endian numbers.
        assert_eq!(
            &m[pos + 2..pos + 6],
            &l[pos + 2..pos + 6]
                .iter()
                .rev()
                .copied()
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(
            u16::from_be_bytes([m[pos + 6], m[pos + 7]]),
            parents[parents.len() - 1]
        );
        pos += 8 + n + n % 2;
    }
    assert_eq!(names, ["BOOT", "ISOLINUX", "_DISK", "GRUB"]);
    assert_eq!(parents, [1, 1, 1, 2]); // GRUB's parent is directory 2 (BOOT)
}

#[test]
fn root_dot_record_carries_sp_px_tf_ce_and_er_in_continuation() {
    let (img, _) = write(&bootable());
    let pvd = block(&img, 16);
    let root_lba = u32_le(&pvd[158..162]);
    let dir = block(&img, root_lba);
    let len = dir[0] as usize;
    let rec = &dir[..len];
    assert_eq!(len, 34 + 7 + 44 + 26 + 28 + 1); // 0x00: 139 → padded to even 140
    assert_eq!(rec[32], 1); // 0x20: identifier length
    assert_eq!(rec[33], 0); // 0x21: "." identifier (no pad byte: odd length)
    assert_eq!(&rec[34..41], &[b'S', b'P', 7, 1, 0xBE, 0xEF, 0]); // 0x22: SP
    let px = &rec[41..85];
    assert_eq!(&px[..4], &[b'P', b'X', 44, 1]); // 0x29: PX
    assert_eq!(u32_le(&px[4..8]), 0o040755); // mode: directory 0755
    assert_eq!(u32_le(&px[12..16]), 5); // nlink: 2 + 3 subdirectories
    assert_eq!(u32_le(&px[36..40]), 1); // serial: root is 1
    let tf = &rec[85..111];
    assert_eq!(&tf[..5], &[b'T', b'F', 26, 1, 0x0E]); // 0x55: TF
    assert_eq!(&tf[5..12], &DATE);
    let ce = &rec[111..139];
    assert_eq!(&ce[..4], &[b'C', b'E', 28, 1]); // 0x6F: CE
    let (ce_lba, ce_off, ce_len) = (u32_le(&ce[4..8]), u32_le(&ce[12..16]), u32_le(&ce[20..24]));
    assert_eq!((ce_off, ce_len), (0, 237));
    let er = &block(&img, ce_lba)[..237];
    assert_eq!(&er[..4], &[b'E', b'R', 237, 1]);
    assert_eq!(&er[8..18], b"RRIP_1991A");
    // Every record date is the epoch.
    assert_eq!(&rec[18..25], &DATE); // 0x12: recording date
}

#[test]
fn file_record_with_rock_ridge_golden() {
    let (img, _) = write(&bootable());
    let entries = read_dir(&mut Cursor::new(&img), ".disk").unwrap();
    assert_eq!(entries.len(), 1);
    let info = &entries[0];
    assert_eq!(info.iso_name, "INFO.;1");
    assert_eq!(info.rr_name.as_deref(), Some("info"));
    assert_eq!(info.mode, Some(0o100644));
    // Find the raw record: the .disk extent, after "." and "..".
    let dir = block(
        &img,
        find_file(&mut Cursor::new(&img), ".disk").unwrap().lba,
    );
    let dot = dir[0] as usize;
    let dotdot = dir[dot] as usize;
    let rec = &dir[dot + dotdot..dot + dotdot + dir[dot + dotdot] as usize];
    assert_eq!(rec.len(), 33 + 7 + 44 + 26 + 9 + 1); // header, id, PX, TF, NM, even pad
    assert_eq!(&rec[2..6], &info.lba.to_le_bytes()); // 0x02: extent
    assert_eq!(&rec[10..18], &[9, 0, 0, 0, 0, 0, 0, 9]); // 0x0A: 9 bytes
    assert_eq!(&rec[18..25], &DATE); // 0x12: date
    assert_eq!(rec[25], 0); // 0x19: file flags
    assert_eq!(&rec[33..40], b"INFO.;1"); // 0x21: identifier
    assert_eq!(&rec[40..44], &[b'P', b'X', 44, 1]); // 0x28: PX
    assert_eq!(&rec[84..88], &[b'T', b'F', 26, 1]); // 0x54: TF
    assert_eq!(
        &rec[110..119],
        &[b'N', b'M', 9, 1, 0, b'i', b'n', b'f', b'o']
    ); // 0x6E: NM
    assert_eq!(rec[119], 0); // 0x77: even-length pad
}

#[test]
fn boot_structures_in_the_written_image() {
    let (img, report) = write(&bootable());
    let bios_lba = report.bios_image_lba.unwrap();
    let efi_lba = report.efi_image_lba.unwrap();
    let brvd = block(&img, 17);
    assert_eq!(u32_le(&brvd[71..75]), report.catalog_lba.unwrap()); // 0x47: catalog LBA
    let cat = block(&img, report.catalog_lba.unwrap());
    assert_eq!(&cat[30..32], &[0x55, 0xAA]); // 0x1E: validation key
    assert_eq!(&cat[38..40], &[4, 0]); // 0x26: BIOS load size 4
    assert_eq!(u32_le(&cat[40..44]), bios_lba); // 0x28: BIOS image LBA
    assert_eq!(&cat[64..66], &[0x91, 0xEF]); // 0x40: final EFI section header
    assert_eq!(&cat[102..104], &[8, 0]); // 0x66: 3000 bytes → 2 blocks → 8 sectors
    assert_eq!(u32_le(&cat[104..108]), efi_lba); // 0x68: EFI image LBA
                                                 // Boot info table patched into isolinux.bin as written.
    let original = fake_isolinux(5000);
    let written = &img[bios_lba as usize * 2048..bios_lba as usize * 2048 + 5000];
    assert_eq!(&written[..8], &original[..8]);
    assert_eq!(u32_le(&written[8..12]), 16); // 0x08: PVD LBA
    assert_eq!(u32_le(&written[12..16]), bios_lba); // 0x0C: file LBA
    assert_eq!(u32_le(&written[16..20]), 5000); // 0x10: file length
    let sum = original[64..].chunks(4).fold(0u32, |s, w| {
        let mut b = [0u8; 4];
        b[..w.len()].copy_from_slice(w);
        s.wrapping_add(u32::from_le_bytes(b))
    });
    assert_eq!(u32_le(&written[20..24]), sum); // 0x14: checksum
    assert!(written[24..64].iter().all(|&b| b == 0)); // 0x18: reserved, zeroed
    assert_eq!(&written[64..], &original[64..]);
    // MBR.
    assert!(img[..432].iter().all(|&b| b == 0x90)); // 0x000: code
    assert_eq!(u32_le(&img[432..436]), bios_lba * 4); // 0x1B0: isolinux LBA × 4
    assert_eq!(u32_le(&img[440..444]), 0xCAFE_F00D); // 0x1B8: disk signature
    assert_eq!(u32_le(&img[446 + 12..446 + 16]), 2048); // 0x1CA: p1 size = 1 MiB
    assert_eq!(u32_le(&img[462 + 8..462 + 12]), efi_lba * 4); // 0x1D6: p2 start
    assert_eq!(u32_le(&img[462 + 12..462 + 16]), 6); // 0x1DA: p2 = ceil(3000/512)
    assert_eq!(&img[510..512], &[0x55, 0xAA]); // 0x1FE: signature
    assert!(img[512..16 * 2048].iter().all(|&b| b == 0)); // rest of system area
}

#[test]
fn long_names_overflow_into_continuation_areas_and_read_back() {
    let mut iso = IsoBuilder::new("LONG", EPOCH).unwrap();
    let long = "n".repeat(255);
    let names: Vec<String> = (0..12).map(|i| format!("{i:02}{}", &long[..253])).collect();
    for (i, name) in names.iter().enumerate() {
        iso.add_file(
            &format!("d/{name}"),
            FileSource::Bytes(vec![i as u8; i * 100]),
            0o600,
        )
        .unwrap();
    }
    iso.add_file("d/small", FileSource::Bytes(b"x".to_vec()), 0o755)
        .unwrap();
    let (img, _) = write(&iso);
    let entries = read_dir(&mut Cursor::new(&img), "d").unwrap();
    assert_eq!(entries.len(), 13);
    for (i, name) in names.iter().enumerate() {
        let e = find_file(&mut Cursor::new(&img), &format!("/d/{name}")).unwrap();
        assert_eq!(e.rr_name.as_deref(), Some(name.as_str()));
        assert_eq!(e.len as usize, i * 100);
        assert_eq!(e.mode, Some(0o100600));
        let start = e.lba as usize * 2048;
        assert!(img[start..start + e.len as usize]
            .iter()
            .all(|&b| b == i as u8));
    }
    // The root's ER (237 bytes) and six 265-byte NM overflows share the first
    // continuation block; the other six need a second one.
    assert_eq!(iso.layout().unwrap().ce_blocks, 2);
    let small = find_file(&mut Cursor::new(&img), "d/SMALL").unwrap();
    assert_eq!(small.mode, Some(0o100755));
}

#[test]
fn empty_files_and_directories() {
    let mut iso = IsoBuilder::new("EMPTY", EPOCH).unwrap();
    iso.add_file(".disk/id/0123-abcd", FileSource::Bytes(Vec::new()), 0o644)
        .unwrap();
    iso.add_dir("var/empty", 0o700).unwrap();
    let (img, report) = write(&iso);
    assert_eq!(report.catalog_lba, None);
    let kinds: Vec<u8> = read::volume_descriptors(&mut Cursor::new(&img))
        .unwrap()
        .iter()
        .map(|v| v.kind)
        .collect();
    assert_eq!(kinds, [1, 255]); // no boot record without boot entries
    let e = find_file(&mut Cursor::new(&img), ".disk/id/0123-abcd").unwrap();
    assert_eq!(e.len, 0);
    assert!(u64::from(e.lba) < u64::from(report.volume_blocks));
    let d = find_file(&mut Cursor::new(&img), "var/empty").unwrap();
    assert!(d.is_dir);
    assert_eq!(d.mode, Some(0o040700));
    assert!(read_dir(&mut Cursor::new(&img), "var/empty")
        .unwrap()
        .is_empty());
}

#[test]
fn errors_are_reported_before_writing() {
    let mut iso = IsoBuilder::new("ERR", EPOCH).unwrap();
    iso.set_bios_boot(BiosBoot::isolinux(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
    ));
    let mut out = Vec::new();
    let err = iso.write_to(&mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bios boot image \"isolinux/isolinux.bin\" is not a file added to the image"
    );
    assert!(out.is_empty());

    iso.add_file(
        "isolinux/isolinux.bin",
        FileSource::Bytes(vec![1; 63]),
        0o644,
    )
    .unwrap();
    let err = iso.write_to(&mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bios boot image \"isolinux/isolinux.bin\" is 63 bytes, it needs at least 64"
    );

    iso.add_file("isolinux/boot.cat", FileSource::Bytes(vec![1]), 0o644)
        .unwrap();
    let err = iso.write_to(&mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "boot catalog path \"isolinux/boot.cat\" is already used by an added file"
    );

    let mut iso = IsoBuilder::new("ERR", EPOCH).unwrap();
    iso.set_isohybrid(Isohybrid::new(&[0; 432], 0).unwrap());
    let err = iso.write_to(&mut out).unwrap_err();
    assert!(matches!(err, IsoError::IsohybridWithoutBios));
    iso.set_efi_boot("efi.img");
    iso.add_dir("efi.img", 0o755).unwrap();
    let mut iso2 = iso.clone();
    iso2.set_bios_boot(BiosBoot::isolinux("efi.img", "boot.cat"));
    let err = iso2.write_to(&mut out).unwrap_err();
    assert!(matches!(
        err,
        IsoError::MissingBootImage { role: "bios", .. }
    ));
    assert!(out.is_empty());
}

#[test]
fn path_sources_are_streamed_and_checked() {
    let dir = std::env::temp_dir().join(format!("iso-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("isolinux.bin");
    std::fs::write(&bin, fake_isolinux(4099)).unwrap();
    let mut from_path = IsoBuilder::new("P", EPOCH).unwrap();
    from_path
        .add_file("isolinux.bin", FileSource::Path(bin.clone()), 0o644)
        .unwrap();
    from_path.set_bios_boot(BiosBoot::isolinux("isolinux.bin", "boot.cat"));
    let mut from_bytes = IsoBuilder::new("P", EPOCH).unwrap();
    from_bytes
        .add_file(
            "isolinux.bin",
            FileSource::Bytes(fake_isolinux(4099)),
            0o644,
        )
        .unwrap();
    from_bytes.set_bios_boot(BiosBoot::isolinux("isolinux.bin", "boot.cat"));
    assert_eq!(write(&from_path).0, write(&from_bytes).0);

    std::fs::write(&bin, fake_isolinux(100)).unwrap();
    let err = from_path.write_to(Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "source file {} changed size from 4099 to 100 bytes during the build",
            bin.display()
        )
    );
    let err = from_path
        .add_file("dir", FileSource::Path(dir.clone()), 0o644)
        .unwrap_err();
    assert!(matches!(err, IsoError::Source { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn images_beyond_32_bit_block_or_sector_counts_are_rejected() {
    let dir = std::env::temp_dir().join(format!("iso-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let huge = dir.join("max.bin");
    // Sparse, 4 GiB − 1: planning only reads the size.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(MAX_FILE_SIZE)
        .unwrap();
    let mut iso = bootable();
    // 520 × 2^21 blocks > 2^30 blocks: MBR sector counts overflow.
    for i in 0..520 {
        iso.add_file(&format!("huge/{i}"), FileSource::Path(huge.clone()), 0o644)
            .unwrap();
    }
    let err = iso.plan().unwrap_err();
    assert!(
        err.to_string()
            .ends_with("mbr partition sizes are 32-bit sector counts"),
        "{err}"
    );
    // 2050 × 2^21 blocks > 2^32 blocks: ISO 9660 block numbers overflow.
    for i in 520..2050 {
        iso.add_file(&format!("huge/{i}"), FileSource::Path(huge.clone()), 0o644)
            .unwrap();
    }
    let err = iso.plan().unwrap_err();
    assert!(
        err.to_string()
            .ends_with("iso 9660 block numbers are 32-bit"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
