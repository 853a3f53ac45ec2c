//! Unit tests for the newc writer: golden bytes and builder rules.

use super::*;

/// 1700000000 = 0x6553F100.
const EPOCH: u64 = 1_700_000_000;

fn bytes(a: &Archive) -> Vec<u8> {
    let mut out = Vec::new();
    let n = a.write_to(&mut out).unwrap();
    assert_eq!(n, out.len() as u64, "returned count equals bytes written");
    out
}

/// The 8-hex-digit field at `off` of the header that starts at `base`.
fn field(buf: &[u8], base: usize, off: usize) -> &str {
    std::str::from_utf8(&buf[base + off..base + off + 8]).unwrap()
}

#[test]
fn golden_single_file_archive() {
    let mut a = Archive::new(EPOCH).unwrap();
    a.add_file("/init", 0o755, b"hi!".to_vec()).unwrap();
    let out = bytes(&a);
    assert_eq!(&out[0..6], b"070701"); // 0x00: magic
    assert_eq!(field(&out, 0, 6), "00000001"); // 0x06: c_ino
    assert_eq!(field(&out, 0, 14), "000081ED"); // 0x0E: c_mode = S_IFREG | 0755
    assert_eq!(field(&out, 0, 22), "00000000"); // 0x16: c_uid
    assert_eq!(field(&out, 0, 30), "00000000"); // 0x1E: c_gid
    assert_eq!(field(&out, 0, 38), "00000001"); // 0x26: c_nlink
    assert_eq!(field(&out, 0, 46), "6553F100"); // 0x2E: c_mtime = epoch
    assert_eq!(field(&out, 0, 54), "00000003"); // 0x36: c_filesize
    assert_eq!(field(&out, 0, 62), "00000000"); // 0x3E: c_devmajor
    assert_eq!(field(&out, 0, 70), "00000000"); // 0x46: c_devminor
    assert_eq!(field(&out, 0, 78), "00000000"); // 0x4E: c_rdevmajor
    assert_eq!(field(&out, 0, 86), "00000000"); // 0x56: c_rdevminor
    assert_eq!(field(&out, 0, 94), "00000005"); // 0x5E: c_namesize ("init" + NUL)
    assert_eq!(field(&out, 0, 102), "00000000"); // 0x66: c_check
    assert_eq!(&out[110..115], b"init\0"); // 0x6E: name, leading '/' stripped
    assert_eq!(out[115], 0); // 0x73: pad header+name (115) to 116
    assert_eq!(&out[116..119], b"hi!"); // 0x74: data
    assert_eq!(out[119], 0); // 0x77: pad data to 4
                             // Trailer at 120 (0x78).
    assert_eq!(&out[120..126], b"070701"); // 0x78: magic
    assert_eq!(field(&out, 120, 6), "00000000"); // c_ino 0
    assert_eq!(field(&out, 120, 14), "00000000"); // c_mode 0
    assert_eq!(field(&out, 120, 38), "00000001"); // c_nlink 1
    assert_eq!(field(&out, 120, 46), "00000000"); // c_mtime 0
    assert_eq!(field(&out, 120, 94), "0000000B"); // c_namesize 11
    assert_eq!(&out[230..241], b"TRAILER!!!\0"); // 0xE6: trailer name
    assert_eq!(out.len(), 512, "padded to 512 like GNU cpio");
    assert!(out[241..].iter().all(|&b| b == 0), "padding is zeros");
}

#[test]
fn directories_symlinks_and_devices() {
    let mut a = Archive::new(EPOCH).unwrap();
    a.add_char_device("dev/console", 0o600, 5, 1).unwrap();
    a.add_symlink("bin/sh", "busybox").unwrap();
    let out = bytes(&a);
    // Sorted: bin (implicit dir), bin/sh, dev (implicit dir), dev/console.
    let paths: Vec<&str> = a.paths().collect();
    assert_eq!(paths, ["bin", "bin/sh", "dev", "dev/console"]);

    // Entry 1 "bin" at 0: header 110 + "bin\0" = 114 -> padded to 116.
    assert_eq!(field(&out, 0, 14), "000041ED"); // c_mode = S_IFDIR | 0755
    assert_eq!(field(&out, 0, 38), "00000002"); // c_nlink = 2 for directories
                                                // Entry 2 "bin/sh" at 116: 110 + 7 = 117 -> 120, data "busybox" 7 -> 8.
    let e2 = 116;
    assert_eq!(field(&out, e2, 6), "00000002"); // c_ino sequential
    assert_eq!(field(&out, e2, 14), "0000A1FF"); // c_mode = S_IFLNK | 0777
    assert_eq!(field(&out, e2, 54), "00000007"); // c_filesize = target length
    assert_eq!(&out[e2 + 120..e2 + 127], b"busybox"); // data = target
                                                      // Entry 3 "dev" at 116 + 128 = 244.
    let e3 = 244;
    assert_eq!(field(&out, e3, 6), "00000003");
    // Entry 4 "dev/console" at 244 + 116 = 360.
    let e4 = 360;
    assert_eq!(&out[e4 + 110..e4 + 122], b"dev/console\0");
    assert_eq!(field(&out, e4, 14), "00002180"); // c_mode = S_IFCHR | 0600
    assert_eq!(field(&out, e4, 54), "00000000"); // c_filesize 0
    assert_eq!(field(&out, e4, 78), "00000005"); // c_rdevmajor
    assert_eq!(field(&out, e4, 86), "00000001"); // c_rdevminor
}

#[test]
fn explicit_dir_after_implicit_parent_sets_its_mode() {
    let mut a = Archive::new(0).unwrap();
    a.add_file("etc/installer/build.json", 0o644, b"{}".to_vec())
        .unwrap();
    a.add_dir("etc", 0o700).unwrap();
    let out = bytes(&a);
    assert_eq!(&out[110..114], b"etc\0");
    assert_eq!(field(&out, 0, 14), "000041C0"); // S_IFDIR | 0700
    let err = a.add_dir("etc", 0o700).unwrap_err();
    assert!(
        matches!(err, CpioError::Duplicate { ref path } if path == "etc"),
        "{err:?}"
    );
}

#[test]
fn builder_rejects_bad_input() {
    let mut a = Archive::new(0).unwrap();
    a.add_file("a", 0o644, Vec::new()).unwrap();
    assert!(matches!(
        a.add_file("/a", 0o644, Vec::new()),
        Err(CpioError::Duplicate { .. })
    ));
    assert!(matches!(
        a.add_symlink("a", "x"),
        Err(CpioError::Duplicate { .. })
    ));
    let err = a.add_file("a/b", 0o644, Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot add a/b: parent a is not a directory"
    );
    for bad in ["", "/", "a/../b", "./x", "x/.", "nul\0byte", "TRAILER!!!"] {
        assert!(
            matches!(a.add_dir(bad, 0o755), Err(CpioError::InvalidPath { .. })),
            "{bad:?} must be rejected"
        );
    }
    let err = a.add_file("m", 0o100_644, Vec::new()).unwrap_err();
    assert!(err.to_string().contains("m"), "{err}");
    assert!(matches!(err, CpioError::InvalidMode { .. }));
    assert!(matches!(
        a.add_symlink("l", ""),
        Err(CpioError::InvalidPath { .. })
    ));
    assert!(matches!(
        Archive::new(1 << 32),
        Err(CpioError::EpochOutOfRange { epoch }) if epoch == 1 << 32
    ));
}

#[test]
fn paths_are_normalised() {
    let mut a = Archive::new(0).unwrap();
    a.add_file("//lib//modules/x.ko", 0o644, Vec::new())
        .unwrap();
    let paths: Vec<&str> = a.paths().collect();
    assert_eq!(paths, ["lib", "lib/modules", "lib/modules/x.ko"]);
}

#[test]
fn sort_order_puts_directories_before_contents() {
    let mut a = Archive::new(0).unwrap();
    a.add_file("a/z", 0o644, Vec::new()).unwrap();
    a.add_file("a-b", 0o644, Vec::new()).unwrap();
    a.add_file("a/b/c", 0o644, Vec::new()).unwrap();
    let paths: Vec<&str> = a.paths().collect();
    assert_eq!(paths, ["a", "a-b", "a/b", "a/b/c", "a/z"]);
}

#[test]
fn file_from_path_is_read_at_write_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("payload");
    std::fs::write(&src, b"old").unwrap();
    let mut a = Archive::new(0).unwrap();
    a.add_file_from_path("p", 0o644, src.clone()).unwrap();
    std::fs::write(&src, b"new contents").unwrap();
    let out = bytes(&a);
    assert_eq!(field(&out, 0, 54), "0000000C"); // c_filesize = 12
    assert_eq!(&out[112..124], b"new contents"); // name "p\0" -> 112
    std::fs::remove_file(&src).unwrap();
    let err = a.write_to(Vec::new()).unwrap_err();
    assert!(matches!(err, CpioError::Source { .. }), "{err:?}");
    assert!(err.to_string().contains("payload"), "{err}");
}

#[test]
fn gzip_is_deterministic_and_round_trips() {
    use std::io::Read;
    let mut a = Archive::new(EPOCH).unwrap();
    a.add_file("init", 0o755, vec![7u8; 10_000]).unwrap();
    let mut gz1 = Vec::new();
    let n = a.write_gzip_to(&mut gz1, DEFAULT_GZIP_LEVEL).unwrap();
    assert_eq!(n, gz1.len() as u64);
    let mut gz2 = Vec::new();
    a.write_gzip_to(&mut gz2, DEFAULT_GZIP_LEVEL).unwrap();
    assert_eq!(gz1, gz2);
    assert_eq!(&gz1[0..2], &[0x1F, 0x8B]); // 0x00: gzip magic
    assert_eq!(gz1[2], 8); // 0x02: method deflate
    assert_eq!(gz1[3], 0); // 0x03: flags: no name, no comment
    assert_eq!(&gz1[4..8], &[0, 0, 0, 0]); // 0x04: mtime 0
    assert_eq!(gz1[9], 0xFF); // 0x09: OS unknown
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz1[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, bytes(&a));
    let mut fast = Vec::new();
    a.write_gzip_to(&mut fast, 1).unwrap();
    assert_ne!(fast, gz1, "level is honoured");
}

#[test]
fn zstd_is_deterministic_and_round_trips() {
    let mut a = Archive::new(EPOCH).unwrap();
    a.add_file("init", 0o755, vec![7u8; 10_000]).unwrap();
    let mut z1 = Vec::new();
    let n = a.write_zstd_to(&mut z1, DEFAULT_ZSTD_LEVEL).unwrap();
    assert_eq!(n, z1.len() as u64);
    let mut z2 = Vec::new();
    a.write_zstd_to(&mut z2, DEFAULT_ZSTD_LEVEL).unwrap();
    assert_eq!(z1, z2);
    assert_eq!(&z1[0..4], &[0x28, 0xB5, 0x2F, 0xFD]); // 0x00: zstd frame magic (LE 0xFD2FB528)
                                                      // 0x04: frame header descriptor: bit 2 content checksum, bits 6-7 size field
                                                      // (content size present because it was pledged).
    assert_eq!(z1[4] & 0b100, 0b100, "checksum flag: {:#04x}", z1[4]);
    assert_ne!(z1[4] >> 6, 0, "content size field: {:#04x}", z1[4]);
    assert_eq!(zstd::decode_all(&z1[..]).unwrap(), bytes(&a));
    let mut fast = Vec::new();
    a.write_zstd_to(&mut fast, 1).unwrap();
    assert_eq!(zstd::decode_all(&fast[..]).unwrap(), bytes(&a));
    assert_eq!(decompress(&z1).unwrap(), bytes(&a));
    let mut gz = Vec::new();
    a.write_gzip_to(&mut gz, 1).unwrap();
    assert_eq!(decompress(&gz).unwrap(), bytes(&a));
    assert_eq!(decompress(&bytes(&a)).unwrap(), bytes(&a));
}
