//! ESP images checked byte by byte and with the reference tools fsck.vfat (dosfstools)
//! and mtools. A missing tool fails the test with a message naming it.
// Test code: a failed fixture step should abort the test with its error.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use image_builder::fat::{build_esp, EspOptions};

const MIB: usize = 1024 * 1024;

fn opts() -> EspOptions {
    EspOptions {
        volume_id: 0xDEB0_0001,
        volume_label: "ESP".to_owned(),
        epoch: 1_700_000_000, // 2023-11-14 22:13:20 UTC
    }
}

fn shim() -> Vec<u8> {
    (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(7) % 256) as u8)
        .collect()
}

fn files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("EFI/BOOT/BOOTX64.EFI".to_owned(), shim()),
        ("EFI/BOOT/grubx64.efi".to_owned(), b"grub image".to_vec()),
        (
            "EFI/debian/grub.cfg".to_owned(),
            b"set root=(cd0)\n".to_vec(),
        ),
    ]
}

/// Runs a reference tool; panics with a clear message if it is missing or fails.
#[allow(clippy::disallowed_methods)] // tests spawn the reference tools directly
fn run(tool: &str, args: &[&str]) -> Output {
    let output = Command::new(tool)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| {
            panic!("reference tool `{tool}` could not be started ({e}); install it (apt-get install dosfstools mtools)")
        });
    assert!(
        output.status.success(),
        "`{tool} {}` failed: {}\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn write_image(dir: &Path, image: &[u8]) -> String {
    let path = dir.join("esp.img");
    std::fs::write(&path, image).unwrap();
    path.to_str().unwrap().to_owned()
}

fn fsck_clean(img: &str) {
    let out = run("fsck.vfat", &["-n", img]);
    let text = String::from_utf8_lossy(&out.stdout);
    for bad in [
        "Expected",
        "Bad",
        "Deleting",
        "differ",
        "Free cluster summary",
    ] {
        assert!(!text.contains(bad), "fsck.vfat reports a problem:\n{text}");
    }
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

#[test]
fn boot_sector_fields() {
    let img = build_esp(&files(), &opts()).unwrap();
    // 1.5 MB + 2 KiB + 2 dirs + 256 KiB slack + overhead -> 2 MiB.
    assert_eq!(img.len(), 2 * MIB);
    assert_eq!(img[0x00], 0xEB); // 0x00: jump instruction
    assert_eq!(img[0x02], 0x90); // 0x02: NOP
    assert_eq!(le16(&img, 0x0B), 512); // 0x0B: bytes per sector
    assert_eq!(img[0x0D], 4); // 0x0D: sectors per cluster (2 KiB clusters)
    assert_eq!(le16(&img, 0x0E), 1); // 0x0E: reserved sectors
    assert_eq!(img[0x10], 2); // 0x10: number of FATs
    assert_eq!(le16(&img, 0x11), 512); // 0x11: root directory entries
    assert_eq!(le16(&img, 0x13), 4096); // 0x13: total sectors (16-bit)
    assert_eq!(img[0x15], 0xF8); // 0x15: media descriptor
    assert_eq!(img[0x26], 0x29); // 0x26: extended boot signature (FAT12/16 layout)
    assert_eq!(&img[0x27..0x2B], &[0x01, 0x00, 0xB0, 0xDE]); // 0x27: volume id, LE
    assert_eq!(&img[0x2B..0x36], b"ESP        "); // 0x2B: volume label
    assert_eq!(&img[0x36..0x3E], b"FAT12   "); // 0x36: file system type
    assert_eq!(&img[0x1FE..0x200], &[0x55, 0xAA]); // 0x1FE: boot signature
}

#[test]
#[ignore = "needs fsck.vfat (dosfstools) and mtools"]
fn fsck_and_mtools_agree_with_our_contents() {
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(dir.path(), &build_esp(&files(), &opts()).unwrap());
    fsck_clean(&img);

    let listing = String::from_utf8(run("mdir", &["-i", &img, "::/EFI/BOOT"]).stdout).unwrap();
    assert!(listing.contains("Volume in drive : is ESP"), "{listing}");
    assert!(
        listing.contains("Volume Serial Number is DEB0-0001"),
        "{listing}"
    );
    let bootx64 = listing
        .lines()
        .find(|l| l.ends_with("BOOTX64.EFI"))
        .unwrap_or_else(|| panic!("BOOTX64.EFI missing:\n{listing}"));
    assert!(bootx64.contains("1500000 2023-11-14  22:13"), "{bootx64}");
    assert!(
        listing.lines().any(|l| l.ends_with(" grubx64.efi")),
        "long name kept:\n{listing}"
    );

    let root = String::from_utf8(run("mdir", &["-i", &img, "::/EFI"]).stdout).unwrap();
    assert!(root.lines().any(|l| l.ends_with(" debian")), "{root}");

    assert_eq!(
        run("mtype", &["-i", &img, "::/EFI/BOOT/BOOTX64.EFI"]).stdout,
        shim()
    );
    assert_eq!(
        run("mtype", &["-i", &img, "::/EFI/BOOT/grubx64.efi"]).stdout,
        b"grub image"
    );
    assert_eq!(
        run("mtype", &["-i", &img, "::/EFI/debian/grub.cfg"]).stdout,
        b"set root=(cd0)\n"
    );
}

#[test]
#[ignore = "needs fsck.vfat (dosfstools) and mtools"]
fn directory_spanning_several_clusters_stays_valid() {
    // 150 long-named files: ~450 entries of 32 bytes, i.e. 7 clusters of 2 KiB.
    let files: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| {
            (
                format!("EFI/Linux/entry-number-{i:03}.conf"),
                format!("title {i}\n").into_bytes(),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(dir.path(), &build_esp(&files, &opts()).unwrap());
    fsck_clean(&img);
    let listing =
        String::from_utf8(run("mdir", &["-b", "-i", &img, "::/EFI/Linux"]).stdout).unwrap();
    assert_eq!(listing.lines().count(), 150, "{listing}");
    assert_eq!(
        run("mtype", &["-i", &img, "::/EFI/Linux/entry-number-149.conf"]).stdout,
        b"title 149\n"
    );
}

#[test]
#[ignore = "needs fsck.vfat (dosfstools) and mtools"]
fn larger_image_becomes_fat16() {
    let big = vec![0x5Au8; 10 * MIB];
    let files = vec![("EFI/BOOT/BOOTX64.EFI".to_owned(), big.clone())];
    let image = build_esp(&files, &opts()).unwrap();
    assert_eq!(image.len() % MIB, 0, "1 MiB multiple");
    assert_eq!(image.len(), 11 * MIB);
    assert_eq!(&image[0x36..0x3E], b"FAT16   "); // 0x36: file system type
    let dir = tempfile::tempdir().unwrap();
    let img = write_image(dir.path(), &image);
    fsck_clean(&img);
    assert_eq!(
        run("mtype", &["-i", &img, "::/EFI/BOOT/BOOTX64.EFI"]).stdout,
        big
    );
}

#[test]
fn output_is_deterministic() {
    assert_eq!(
        build_esp(&files(), &opts()).unwrap(),
        build_esp(&files(), &opts()).unwrap()
    );
    // Input order does not matter: files are written sorted.
    let mut reversed = files();
    reversed.reverse();
    assert_eq!(
        build_esp(&reversed, &opts()).unwrap(),
        build_esp(&files(), &opts()).unwrap()
    );
    let mut other = opts();
    other.epoch += 86_400;
    assert_ne!(
        build_esp(&files(), &other).unwrap(),
        build_esp(&files(), &opts()).unwrap()
    );
}
