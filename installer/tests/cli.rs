//! The developer CLI of the installer binary, run as a normal (non-PID 1)
//! process: `--version`, `facts --root DIR` over a fake root, and the guard
//! that keeps `ui` from running outside PID 1's care.

use std::path::{Path, PathBuf};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    // Tests may start the binary under test directly.
    #[allow(clippy::disallowed_methods)]
    std::process::Command::new(env!("CARGO_BIN_EXE_installer"))
        .args(args)
        .output()
        .expect("run the installer binary")
}

struct Tree(PathBuf);

impl Tree {
    fn new(label: &str) -> Self {
        let p = std::env::temp_dir().join(format!("installer-cli-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create the test directory");
        Tree(p)
    }
    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("create parent directories");
        std::fs::write(p, data).expect("write a test file");
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An image file whose block 16 is a primary volume descriptor.
fn iso_with_volume(volume_id: &str) -> Vec<u8> {
    let mut img = vec![0u8; 17 * 2048];
    let pvd = &mut img[16 * 2048..];
    pvd[0] = 1; // 0x00: type 1, primary volume descriptor
    pvd[1..6].copy_from_slice(b"CD001"); // 0x01: standard identifier
    pvd[6] = 1; // 0x06: version
    pvd[0x28..0x48].fill(b' '); // 0x28: volume identifier, space padded
    pvd[0x28..0x28 + volume_id.len()].copy_from_slice(volume_id.as_bytes());
    img
}

fn fake_root(label: &str) -> Tree {
    let t = Tree::new(label);
    t.write(
        "etc/installer/build.json",
        br#"{"product": "Example Appliance", "version": "0.1.0", "volume_id": "APPLIANCE_INSTALL",
            "build_epoch": 1700000000, "kernel_release": "6.1.0-56-amd64", "extra": true}"#,
    );
    t.write(
        "proc/cmdline",
        b"console=ttyS0,115200n8 console=tty0 installer.loader=grub\n",
    );
    t.write("proc/sys/kernel/osrelease", b"6.1.0-56-amd64\n");
    t.write("sys/class/tty/console/active", b"ttyS0 tty0\n");
    t.write(
        "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
        &[6, 0, 0, 0, 1],
    );
    t.write("sys/class/net/eth0/address", b"52:54:00:12:34:56\n");
    t.write("sys/class/net/eth0/carrier", b"1\n");
    t.write("sys/block/sda/size", b"2097152\n");
    t.write("sys/block/sda/removable", b"0\n");
    t.write("dev/sr0", &iso_with_volume("APPLIANCE_INSTALL"));
    // The medium scan reads the devices sysfs lists (here as directories).
    t.write("sys/class/block/sr0/size", b"4\n");
    t.write("sys/class/block/sr0/device/type", b"5\n");
    t
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("installer {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn facts_json_reports_the_fake_root() {
    let t = fake_root("json");
    let out = run(&["facts", "--root", t.path().to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["build"]["product"], "Example Appliance");
    let f = &v["facts"];
    assert_eq!(f["firmware"], "uefi");
    assert_eq!(f["secure_boot"]["state"], "enabled");
    assert_eq!(f["loader"], "grub");
    assert_eq!(
        f["console"], "tty1",
        "the VGA entry's last console is tty0, i.e. tty1"
    );
    assert_eq!(f["other_consoles"][0], "ttyS0");
    assert_eq!(f["kernel_release"], "6.1.0-56-amd64");
    assert_eq!(f["net"][0]["mac"], "52:54:00:12:34:56");
    assert_eq!(f["net"][0]["link"], true);
    assert_eq!(f["disks"][0]["size_bytes"], 2_097_152u64 * 512);
    assert_eq!(f["medium"]["found"]["device"], "/dev/sr0");
    assert_eq!(f["medium"]["found"]["kind"], "cdrom");
}

#[test]
fn facts_text_is_the_first_screen_without_drivers() {
    let t = fake_root("text");
    let out = run(&["facts", "--root", t.path().to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Example Appliance installer 0.1.0\n"),
        "{text}"
    );
    assert!(
        text.contains("Secure Boot:   enabled (from efivar)"),
        "{text}"
    );
    assert!(text.contains("Install medium: /dev/sr0 (cdrom)"), "{text}");
    assert!(
        !text.contains("Drivers:"),
        "no modules are loaded by `facts`"
    );
}

#[test]
fn facts_without_build_json_says_so_and_skips_the_medium() {
    let t = Tree::new("bare");
    let out = run(&["facts", "--root", t.path().to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("etc/installer/build.json"), "{text}");
    assert!(text.contains("Install medium: not searched"), "{text}");
}

#[test]
fn bad_arguments_fail_with_usage() {
    let out = run(&["facts"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("facts needs --root DIR"));
    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ui_refuses_to_run_outside_pid1() {
    let out = run(&["ui"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("only runs as the child of the installer's PID 1"));
}
