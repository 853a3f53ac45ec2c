//! Root's `unsupported` shell on the serial console for
//! `restore-variants-bios`: commands with any timeout, the login after a
//! boot, and the fingerprint of the token database and its key.

use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::harness::child::Vm;
use crate::wizard_after::root_login;

/// Root's shell on the serial console: runs `cmd`, returns its output
/// and exit status (markers as [`crate::wizard_after::shell`], any timeout).
pub(super) fn sh(vm: &mut Vm, n: &mut u32, cmd: &str, timeout: Duration) -> Result<(String, i32)> {
    let k = begin(vm, n, cmd)?;
    let out = vm.expect(&format!("END-{k}-"), timeout)?;
    let status = vm.expect("\n", Duration::from_secs(10))?;
    let body = out
        .trim_end_matches(&format!("END-{k}-"))
        .trim()
        .to_string();
    Ok((body, status.trim().parse().unwrap_or(-1)))
}

/// Types `cmd` between markers and waits until it started; its number.
pub(super) fn begin(vm: &mut Vm, n: &mut u32, cmd: &str) -> Result<u32> {
    *n += 1;
    let k = *n;
    vm.send(format!("echo BEG''IN-{k}; {cmd}; echo EN''D-{k}-$?\r").as_bytes())?;
    vm.expect(&format!("BEGIN-{k}"), Duration::from_secs(60))
        .with_context(|| format!("the shell did not run {cmd:?}"))?;
    Ok(k)
}

/// [`sh`] that must exit 0.
pub(super) fn ok(vm: &mut Vm, n: &mut u32, cmd: &str, timeout: Duration) -> Result<String> {
    let (out, code) = sh(vm, n, cmd, timeout)?;
    ensure!(code == 0, "`{cmd}` exited {code}: {out}");
    Ok(out)
}

/// `root` logs in with `password` and `unsupported` gives a shell.
pub(super) fn root_shell(vm: &mut Vm, password: &str) -> Result<()> {
    root_login(vm, password)?;
    vm.expect("Type \"help\" for the commands", Duration::from_secs(120))
        .context("root's appliance console after logging in")?;
    vm.send(b"unsupported\r")?;
    vm.expect("[y/N]", Duration::from_secs(30))
        .context("`unsupported` asks first")?;
    vm.send(b"y\r")?;
    let mut n = 900;
    let who = ok(vm, &mut n, "id -u", Duration::from_secs(60))?;
    ensure!(
        who.lines().any(|l| l.trim() == "0"),
        "not a root shell: {who}"
    );
    Ok(())
}

/// The token database and its key, byte for byte (see the module's doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint {
    pub key: String,
    pub dump: String,
    pub dump_bytes: u64,
}

pub(super) fn fingerprint(vm: &mut Vm, n: &mut u32) -> Result<Fingerprint> {
    let out = ok(
        vm,
        n,
        "mariadb-dump --skip-dump-date --skip-comments --order-by-primary --hex-blob otp > /run/fp.sql && sha256sum /etc/appliance/db.key /run/fp.sql && wc -c < /run/fp.sql; rm -f /run/fp.sql",
        Duration::from_secs(300),
    )?;
    let hash_of = |path: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_suffix(path).map(|h| h.trim().to_string()))
            .filter(|h| h.len() == 64)
            .with_context(|| format!("no SHA-256 of {path} in: {out}"))
    };
    let dump_bytes = out
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .with_context(|| format!("no size of the dump in: {out}"))?;
    Ok(Fingerprint {
        key: hash_of("/etc/appliance/db.key")?,
        dump: hash_of("/run/fp.sql")?,
        dump_bytes,
    })
}
