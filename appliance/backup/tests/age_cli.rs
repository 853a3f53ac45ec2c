//! Manual recovery: Debian's `age` decrypts a backup given the passphrase,
//! and `tar` lists it. `age` reads a passphrase only from a terminal, so the
//! test runs it under `script` (util-linux), which gives it a pty and feeds
//! the passphrase through it.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use appliance_backup::*;
use common::*;

#[allow(clippy::disallowed_methods)] // reference tools in an integration test
fn run(cmd: &str, stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (bsdutils) is installed");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
#[ignore = "needs age"]
fn debian_age_decrypts_a_backup() {
    let b = backup_bytes(150_000, Selection::All);
    let c = case(&b);
    let out = c.dir.path().join("plain.tar");
    let cmd = format!("age -d -o '{}' '{}'", out.display(), c.file.display());
    let o = run(&cmd, format!("{PASS}\n").as_bytes());
    assert!(
        o.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let plain = std::fs::read(&out).expect("age wrote the plaintext");
    assert_eq!(plain, plain_tar(150_000).0);

    let o = run(&format!("tar -tf '{}'", out.display()), b"");
    assert!(o.status.success());
    let listing = String::from_utf8_lossy(&o.stdout);
    let first = listing.lines().next().unwrap_or_default().trim();
    assert_eq!(first, MANIFEST_NAME, "{listing}");
    assert!(
        listing.contains("components/token-db/dump.sql"),
        "{listing}"
    );

    // And a wrong passphrase makes age fail.
    let o = run(
        &format!("age -d -o /dev/null '{}'", c.file.display()),
        b"TEST wrong\n",
    );
    assert!(!o.status.success());
}
