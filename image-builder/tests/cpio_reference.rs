//! newc archives checked with the reference tools GNU cpio, gzip, zcat and zstd.
//! A missing tool fails the test with a message naming it.
// Test code: a failed fixture step should abort the test with its error.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use image_builder::cpio::{Archive, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL};

/// 2023-11-14 22:13:20 UTC.
const EPOCH: u64 = 1_700_000_000;

/// Runs a reference tool, feeding `stdin`, and returns its output; panics with a clear
/// message if the tool is missing or fails.
#[allow(clippy::disallowed_methods)] // tests spawn the reference tools directly
fn run(tool: &str, args: &[&str], stdin: &[u8], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("reference tool `{tool}` could not be started ({e}); install it (apt-get install cpio gzip zstd)")
    });
    let mut input = child.stdin.take().unwrap();
    let output = std::thread::scope(|s| {
        s.spawn(move || input.write_all(stdin));
        child.wait_with_output().unwrap()
    });
    assert!(
        output.status.success(),
        "`{tool} {}` failed: {}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

struct Fixture {
    _src_dir: tempfile::TempDir,
    archive: Archive,
}

fn fixture() -> Fixture {
    let src_dir = tempfile::tempdir().unwrap();
    let module = src_dir.path().join("virtio_net.ko");
    let module_bytes: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&module, &module_bytes).unwrap();

    let mut a = Archive::new(EPOCH).unwrap();
    a.add_file("init", 0o755, b"#!/bin/false\n".to_vec())
        .unwrap();
    a.add_dir("etc", 0o755).unwrap();
    a.add_file(
        "etc/installer/build.json",
        0o644,
        br#"{"product":"x"}"#.to_vec(),
    )
    .unwrap();
    a.add_file("etc/empty", 0o600, Vec::new()).unwrap();
    a.add_symlink("bin/sh", "busybox").unwrap();
    a.add_char_device("dev/console", 0o600, 5, 1).unwrap();
    a.add_file_from_path(
        "lib/modules/6.1.0-56-amd64/kernel/drivers/net/virtio_net.ko",
        0o644,
        module,
    )
    .unwrap();
    a.add_dir("tmp", 0o1777).unwrap();
    Fixture {
        _src_dir: src_dir,
        archive: a,
    }
}

const PATHS: &[&str] = &[
    "bin",
    "bin/sh",
    "dev",
    "dev/console",
    "etc",
    "etc/empty",
    "etc/installer",
    "etc/installer/build.json",
    "init",
    "lib",
    "lib/modules",
    "lib/modules/6.1.0-56-amd64",
    "lib/modules/6.1.0-56-amd64/kernel",
    "lib/modules/6.1.0-56-amd64/kernel/drivers",
    "lib/modules/6.1.0-56-amd64/kernel/drivers/net",
    "lib/modules/6.1.0-56-amd64/kernel/drivers/net/virtio_net.ko",
    "tmp",
];

fn plain(a: &Archive) -> Vec<u8> {
    let mut out = Vec::new();
    a.write_to(&mut out).unwrap();
    out
}

fn listed(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
#[ignore = "needs GNU cpio"]
fn cpio_lists_exactly_our_paths() {
    let f = fixture();
    let out = run("cpio", &["-t", "--quiet"], &plain(&f.archive), None);
    assert_eq!(listed(&out), PATHS);
}

#[test]
#[ignore = "needs GNU cpio"]
fn cpio_verbose_listing_shows_device_symlink_and_epoch() {
    let f = fixture();
    let out = run("cpio", &["-tv", "--quiet"], &plain(&f.archive), None);
    let lines = listed(&out);
    let console = lines
        .iter()
        .find(|l| l.ends_with(" dev/console"))
        .expect("dev/console listed");
    let fields: Vec<&str> = console.split_whitespace().collect();
    // crw-------   1 root     root       5,   1 Nov 14  2023 dev/console
    assert_eq!(fields[0], "crw-------", "{console}");
    assert_eq!(&fields[2..4], ["root", "root"], "{console}");
    assert_eq!(&fields[4..6], ["5,", "1"], "major, minor: {console}");
    assert_eq!(
        &fields[6..9],
        ["Nov", "14", "2023"],
        "mtime = epoch: {console}"
    );
    let sh = lines.iter().find(|l| l.contains(" bin/sh")).unwrap();
    assert!(sh.starts_with("lrwxrwxrwx"), "{sh}");
    assert!(sh.ends_with("bin/sh -> busybox"), "{sh}");
    let tmp = lines.iter().find(|l| l.ends_with(" tmp")).unwrap();
    assert!(
        tmp.starts_with("drwxrwxrwt   2"),
        "sticky dir, nlink 2: {tmp}"
    );
}

#[test]
#[ignore = "needs GNU cpio"]
fn cpio_extraction_reproduces_contents() {
    let f = fixture();
    let dest = tempfile::tempdir().unwrap();
    run(
        "cpio",
        &["-idv", "--quiet", "--no-absolute-filenames"],
        &plain(&f.archive),
        Some(dest.path()),
    );
    let d = dest.path();
    assert_eq!(std::fs::read(d.join("init")).unwrap(), b"#!/bin/false\n");
    assert_eq!(
        std::fs::read(d.join("etc/installer/build.json")).unwrap(),
        br#"{"product":"x"}"#
    );
    assert_eq!(std::fs::read(d.join("etc/empty")).unwrap(), b"");
    let module =
        std::fs::read(d.join("lib/modules/6.1.0-56-amd64/kernel/drivers/net/virtio_net.ko"))
            .unwrap();
    assert_eq!(module.len(), 100_003);
    assert!(module
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i % 251) as u8));
    assert_eq!(
        std::fs::read_link(d.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let mode = |p: &str| {
        std::fs::symlink_metadata(d.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("init"), 0o755);
    assert_eq!(mode("etc/empty"), 0o600);
    let console = std::fs::symlink_metadata(d.join("dev/console")).unwrap();
    assert!(console.file_type().is_char_device());
    // Linux dev_t encoding for small numbers: major << 8 | minor.
    assert_eq!(console.rdev(), (5 << 8) | 1);
}

#[test]
#[ignore = "needs gzip, zcat and GNU cpio"]
fn gzip_output_is_valid_and_lists_our_paths() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let gz_path = dir.path().join("initrd.gz");
    let mut gz = Vec::new();
    f.archive
        .write_gzip_to(&mut gz, DEFAULT_GZIP_LEVEL)
        .unwrap();
    std::fs::write(&gz_path, &gz).unwrap();
    run("gzip", &["-t", gz_path.to_str().unwrap()], b"", None);
    let unzipped = run("zcat", &[gz_path.to_str().unwrap()], b"", None);
    assert_eq!(unzipped.stdout, plain(&f.archive));
    let out = run("cpio", &["-t", "--quiet"], &unzipped.stdout, None);
    assert_eq!(listed(&out), PATHS);
}

#[test]
#[ignore = "needs the zstd CLI and GNU cpio"]
fn zstd_output_is_valid_and_lists_our_paths() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("initrd.zst");
    let mut z = Vec::new();
    f.archive.write_zstd_to(&mut z, DEFAULT_ZSTD_LEVEL).unwrap();
    std::fs::write(&path, &z).unwrap();
    // -t checks the frame and its content checksum.
    run("zstd", &["-t", "-q", path.to_str().unwrap()], b"", None);
    let unpacked = run(
        "zstd",
        &["-d", "-c", "-q", path.to_str().unwrap()],
        b"",
        None,
    );
    assert_eq!(unpacked.stdout, plain(&f.archive));
    let out = run("cpio", &["-t", "--quiet"], &unpacked.stdout, None);
    assert_eq!(listed(&out), PATHS);
    // The frame records the content size (zstd -l prints it as "Decompressed").
    let info = run("zstd", &["-l", "-v", path.to_str().unwrap()], b"", None);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("Check: XXH64"), "{text}");
    assert!(
        text.contains(&format!("({} B)", plain(&f.archive).len())),
        "{text}"
    );
}

#[test]
fn output_is_deterministic() {
    let (a, b) = (fixture(), fixture());
    assert_eq!(plain(&a.archive), plain(&b.archive));
    let mut gz_a = Vec::new();
    let mut gz_b = Vec::new();
    a.archive
        .write_gzip_to(&mut gz_a, DEFAULT_GZIP_LEVEL)
        .unwrap();
    b.archive
        .write_gzip_to(&mut gz_b, DEFAULT_GZIP_LEVEL)
        .unwrap();
    assert_eq!(gz_a, gz_b);
    let (mut z_a, mut z_b) = (Vec::new(), Vec::new());
    a.archive
        .write_zstd_to(&mut z_a, DEFAULT_ZSTD_LEVEL)
        .unwrap();
    b.archive
        .write_zstd_to(&mut z_b, DEFAULT_ZSTD_LEVEL)
        .unwrap();
    assert_eq!(z_a, z_b);
    assert_eq!(plain(&a.archive).len() % 512, 0);
}
