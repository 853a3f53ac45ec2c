//! Shared fixture and tool runner for the ISO reference tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use image_builder::iso::{BiosBoot, FileSource, IsoBuilder, IsoReport, Isohybrid};

/// 2023-11-14 22:13:20 UTC, the epoch of the reference build.
pub const EPOCH: u64 = 1_700_000_000;
/// Volume id of the fixture image.
pub const VOLUME_ID: &str = "ISOTEST";
/// Size of the fake EFI image: 137 sectors of 512 bytes (last one partial),
/// 35 blocks of 2048 bytes.
pub const EFI_LEN: usize = 70_000;
/// Size of the file streamed from a host path.
pub const BIG_LEN: usize = 3 * 1024 * 1024 + 123;
/// Long Debian package names that collide once cut to 30 ISO characters.
pub const DEB_1: &str = "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb";
/// See [`DEB_1`].
pub const DEB_2: &str = "linux-image-6.1.0-56-amd64_6.1.192-3_amd64.deb";
/// Directory holding the packages.
pub const DEB_DIR: &str = "pool/main/l/linux-signed-amd64";

/// Deterministic filler bytes.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A fake `isolinux.bin`: filler with the isolinux hybrid signature
/// `fb c0 78 70` at offset 0x40, which xorriso reports as
/// "isohybrid-suitable".
pub fn fake_isolinux() -> Vec<u8> {
    let mut b = pattern(6 * 1024 + 10, 1);
    b[0x40..0x44].copy_from_slice(&0x7078_c0fbu32.to_le_bytes());
    b
}

/// A fake 432-byte `isohdpfx.bin`. libisofs recognises an isohybrid MBR by
/// the text "isolinux" at offset 182 of the code (found by patching the
/// Debian isohdpfx.bin byte by byte: only bytes 182..190 matter), so the
/// fake carries it; everything else is filler.
pub fn fake_mbr_code() -> Vec<u8> {
    let mut b = pattern(432, 2);
    b[182..190].copy_from_slice(b"isolinux");
    b
}

/// A FAT-looking blob: jump, OEM name, 0x55AA at 510, filler after.
pub fn fake_efi_img() -> Vec<u8> {
    let mut b = pattern(EFI_LEN, 3);
    b[..11].copy_from_slice(b"\xEB\x3C\x90MSDOS5.0");
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

/// Every file of the fixture: image path → (expected content, mode).
/// The BIOS image is listed with its original bytes.
pub fn fixture_files(big: &Path) -> BTreeMap<String, (FileSource, u32)> {
    let mut files = BTreeMap::new();
    let mut add = |path: &str, source: FileSource, mode: u32| {
        files.insert(path.to_owned(), (source, mode));
    };
    add(
        "isolinux/isolinux.bin",
        FileSource::Bytes(fake_isolinux()),
        0o444,
    );
    add(
        "isolinux/ldlinux.c32",
        FileSource::Bytes(pattern(9000, 4)),
        0o444,
    );
    add(
        "isolinux/isolinux.cfg",
        FileSource::Bytes(b"SERIAL 0 115200\nDEFAULT linux\n".to_vec()),
        0o644,
    );
    add(
        "boot/grub/efi.img",
        FileSource::Bytes(fake_efi_img()),
        0o644,
    );
    add(
        "boot/grub/grub.cfg",
        FileSource::Bytes(b"set timeout=0\n".to_vec()),
        0o644,
    );
    add("boot/vmlinuz", FileSource::Bytes(pattern(20_000, 5)), 0o644);
    add(
        ".disk/info",
        FileSource::Bytes(b"ISOTEST 1.0 amd64".to_vec()),
        0o644,
    );
    add(
        ".disk/id/5e1d1b3c-0000-4000-8000-000000000001",
        FileSource::Bytes(Vec::new()),
        0o644,
    );
    add(
        &format!("{DEB_DIR}/{DEB_1}"),
        FileSource::Bytes(pattern(5000, 6)),
        0o644,
    );
    add(
        &format!("{DEB_DIR}/{DEB_2}"),
        FileSource::Bytes(pattern(5001, 7)),
        0o644,
    );
    add(
        "install.sh",
        FileSource::Bytes(b"#!/bin/sh\necho hi\n".to_vec()),
        0o755,
    );
    add("payload/big.bin", FileSource::Path(big.to_owned()), 0o600);
    // Enough records to spread one directory over several blocks.
    for i in 0..150 {
        add(
            &format!("pool/many/file-{i:03}.txt"),
            FileSource::Bytes(format!("file {i}\n").into_bytes()),
            0o644,
        );
    }
    add(
        "1/2/3/4/5/6/7/deepest.txt",
        FileSource::Bytes(b"level 8".to_vec()),
        0o644,
    );
    add(
        &format!("long/{}.tar.gz", "a-very-long-real-name".repeat(9)),
        FileSource::Bytes(pattern(777, 8)),
        0o644,
    );
    files
}

/// A built fixture image and what went into it.
pub struct Fixture {
    /// Keeps the temporary directory alive.
    pub dir: tempfile::TempDir,
    /// The image file.
    pub iso: PathBuf,
    /// The image bytes.
    pub bytes: Vec<u8>,
    /// The writer's report.
    pub report: IsoReport,
    /// Image path → (original content, mode).
    pub files: BTreeMap<String, (Vec<u8>, u32)>,
}

/// Builds the fixture builder; `big` is the host file streamed into it.
pub fn fixture_builder(epoch: u64, big: &Path) -> IsoBuilder {
    let mut iso = IsoBuilder::new(VOLUME_ID, epoch).unwrap();
    for (path, (source, mode)) in fixture_files(big) {
        iso.add_file(&path, source, mode).unwrap();
    }
    iso.set_bios_boot(BiosBoot::isolinux(
        "isolinux/isolinux.bin",
        "isolinux/boot.cat",
    ));
    iso.set_efi_boot("boot/grub/efi.img");
    iso.set_isohybrid(Isohybrid::new(&fake_mbr_code(), 0x1234_5678).unwrap());
    iso
}

/// Builds and writes the fixture image with the given epoch.
pub fn build(epoch: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    std::fs::write(&big, pattern(BIG_LEN, 9)).unwrap();
    let iso = dir.path().join("test.iso");
    let out = std::io::BufWriter::new(std::fs::File::create(&iso).unwrap());
    let report = fixture_builder(epoch, &big).write_to(out).unwrap();
    let bytes = std::fs::read(&iso).unwrap();
    let files = fixture_files(&big)
        .into_iter()
        .map(|(path, (source, mode))| {
            let content = match source {
                FileSource::Bytes(b) => b,
                FileSource::Path(p) => std::fs::read(p).unwrap(),
            };
            (path, (content, mode))
        })
        .collect();
    Fixture {
        dir,
        iso,
        bytes,
        report,
        files,
    }
}

/// Runs a reference tool and returns stdout + stderr. Fails the test with
/// the tool and its Debian package named if it is missing, or with its
/// output if it exits non-zero.
#[allow(clippy::disallowed_methods)] // tests spawn the reference tools directly
pub fn run(tool: &str, package: &str, args: &[&str]) -> String {
    let output = Command::new(tool)
        .args(args)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "reference tool `{tool}` could not be started ({e}); \
                 install the Debian package `{package}` (apt-get install {package})"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "`{tool} {}` failed with {}:\n{text}",
        args.join(" "),
        output.status
    );
    text
}

/// The whitespace-separated fields after `prefix` on the first line that
/// starts with it (and, if given, whose first field is `key`).
pub fn fields(report: &str, prefix: &str, key: Option<&str>) -> Vec<String> {
    report
        .lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .map(|rest| {
            rest.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|f| key.is_none_or(|k| f.first().map(String::as_str) == Some(k)))
        .unwrap_or_else(|| panic!("no line {prefix:?} {key:?} in report:\n{report}"))
}
