//! Root's shell on the serial console for `restore-variants-bios`
//! (`crate::wizard_after`'s shell helpers): commands that must succeed, and
//! the fingerprint of the token database and its key.

use std::time::Duration;

use anyhow::{ensure, Context, Result};

use crate::harness::child::Vm;
use crate::wizard_after::shell_within as sh;

/// [`crate::wizard_after::shell_within`] that must exit 0.
pub(super) fn ok(vm: &mut Vm, n: &mut u32, cmd: &str, timeout: Duration) -> Result<String> {
    let (out, code) = sh(vm, n, cmd, timeout)?;
    ensure!(code == 0, "`{cmd}` exited {code}: {out}");
    Ok(out)
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
