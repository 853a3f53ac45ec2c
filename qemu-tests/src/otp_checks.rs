//! The reference appliance's OTP service as a client and an administrator
//! see it from outside: `validate/check` through the forwarded 8443
//! (pinned to the printed certificate) answers LinOTP's envelope, and
//! after the machine is off the data partition is read with the host's
//! `debugfs`: MariaDB's data directory and the token database's tables are
//! in the `/var` overlay there, the database password file in the `/etc`
//! overlay, and FreeRADIUS (with the `otp` server and its `rlm_rest`
//! module) logged that it was ready.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::harness::child::tool;
use crate::harness::tls::https_request;

/// An unknown user: the check must be handled and refused.
pub const UNKNOWN_USER: &str = "nobody-otp-check";

/// The body and status of a pinned HTTPS request to `path` on 8443.
pub fn request(
    port: u16,
    fingerprint: &str,
    method: &str,
    path: &str,
    form: &str,
) -> Result<(u16, String)> {
    let req = if method == "POST" {
        format!(
            "POST {path} HTTP/1.1\r\nHost: appliance\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
    } else {
        format!("{method} {path} HTTP/1.1\r\nHost: appliance\r\nConnection: close\r\n\r\n")
    };
    let got = https_request(port, fingerprint, req.as_bytes())?.response;
    let status = got
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status in {:?}", got.lines().next()))?;
    let body = got
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// LinOTP's envelope with `result.status` true and `result.value` false.
pub fn refused_envelope(body: &str) -> Result<()> {
    let v: serde_json::Value =
        serde_json::from_str(body).with_context(|| format!("not JSON: {body:?}"))?;
    ensure!(v["jsonrpc"] == "2.0", "no jsonrpc 2.0: {v}");
    ensure!(
        v["result"]["status"] == true,
        "result.status must be true (handled): {v}"
    );
    ensure!(
        v["result"]["value"] == false,
        "result.value must be false for an unknown user: {v}"
    );
    Ok(())
}

/// Polls `validate/check` (GET) until the OTP service answers through
/// 8443 (MariaDB's first start, provisioning and the service come after
/// the login prompt); then checks GET and POST, `simplecheck` and the
/// management login page. Returns when the first answer came, measured
/// from `since`.
pub fn check_validate(
    port: u16,
    fingerprint: &str,
    since: Instant,
    timeout: Duration,
) -> Result<Duration> {
    let path = format!("/validate/check?user={UNKNOWN_USER}&pass=1234000000");
    let deadline = Instant::now() + timeout;
    let ready = loop {
        match request(port, fingerprint, "GET", &path, "") {
            Ok((200, body)) => {
                refused_envelope(&body).context("GET /validate/check")?;
                break since.elapsed();
            }
            // 502 until the OTP service listens.
            Ok((status, body)) if Instant::now() >= deadline => {
                bail!(
                    "validate/check through 8443 still answers {status} after {timeout:?}: {body}"
                )
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(e.context(format!("validate/check through 8443 for {timeout:?}")))
            }
            _ => std::thread::sleep(Duration::from_secs(3)),
        }
    };
    let (status, body) = request(
        port,
        fingerprint,
        "POST",
        "/validate/check",
        &format!("user={UNKNOWN_USER}&pass=1234000000"),
    )?;
    ensure!(status == 200, "POST /validate/check: {status} {body}");
    refused_envelope(&body).context("POST /validate/check")?;
    let (status, body) = request(
        port,
        fingerprint,
        "GET",
        &format!("/validate/simplecheck?user={UNKNOWN_USER}&pass=1234000000"),
        "",
    )?;
    ensure!(
        status == 200 && body.trim() == ":-(",
        "simplecheck: {status} {body:?}"
    );
    let (status, body) = request(port, fingerprint, "GET", "/manage/login", "")?;
    ensure!(
        status == 200 && body.contains("<form"),
        "the management login page through 8443: {status}"
    );
    Ok(ready)
}

/// The byte offsets of the MBR's partitions in `disk`.
pub fn mbr_partitions(disk: &Path) -> Result<Vec<u64>> {
    use std::io::Read;
    let mut sector = [0u8; 512];
    std::fs::File::open(disk)?.read_exact(&mut sector)?;
    ensure!(sector[510..] == [0x55, 0xAA], "{}: no MBR", disk.display());
    Ok((0..4)
        .filter_map(|i| {
            let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
            let start = u32::from_le_bytes([e[8], e[9], e[10], e[11]]);
            (e[4] != 0 && start != 0).then_some(u64::from(start) * 512)
        })
        .collect())
}

/// `debugfs -R COMMAND` on the ext4 file system at `offset` in `disk`.
fn debugfs(disk: &Path, offset: u64, command: &str) -> Result<String> {
    let spec = format!("{}?offset={offset}", disk.display());
    let out = tool("debugfs", &["-R", command, &spec], "e2fsprogs")?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// What the data partition must hold after the OTP service ran (the
/// machine is off). Returns the list of checked paths with their sizes.
pub fn check_data_partition(disk: &Path) -> Result<Vec<String>> {
    let offset = mbr_partitions(disk)?
        .into_iter()
        .find(|&o| {
            debugfs(disk, o, "stat /var/upper")
                .map(|s| s.contains("Type: directory"))
                .unwrap_or(false)
        })
        .context("no partition with /var/upper (the data partition) that debugfs reads")?;
    let mut seen = Vec::new();
    for file in [
        "/var/upper/lib/mysql/ibdata1",
        "/var/upper/lib/mysql/aria_log_control",
        "/var/upper/lib/mysql/otp/token.ibd",
        "/var/upper/lib/mysql/otp/schema_version.ibd",
        "/etc/upper/appliance/otp/db-password",
        "/etc/upper/appliance/otp.json",
    ] {
        let stat = debugfs(disk, offset, &format!("stat {file}"))?;
        ensure!(
            stat.contains("Type: regular"),
            "{file} is not on the data partition: {stat}"
        );
        let size = stat
            .split("Size: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("?");
        seen.push(format!("{file} ({size} bytes)"));
    }
    let stat = debugfs(disk, offset, "stat /etc/upper/appliance/otp/db-password")?;
    ensure!(
        stat.contains("Mode:  0600"),
        "the database password file must be 0600: {stat}"
    );
    let log = debugfs(disk, offset, "cat /var/upper/log/freeradius/radius.log")?;
    ensure!(
        log.contains("Ready to process requests"),
        "FreeRADIUS did not log `Ready to process requests` (with the otp server and otp_rest): {log}"
    );
    seen.push("/var/upper/log/freeradius/radius.log: Ready to process requests".into());
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_check_wants_handled_and_refused() {
        let ok = r#"{"jsonrpc":"2.0","result":{"status":true,"value":false},"version":"x","id":0}"#;
        refused_envelope(ok).unwrap();
        for bad in [
            ok.replace("\"value\":false", "\"value\":true"),
            ok.replace("\"status\":true", "\"status\":false"),
            ok.replace("2.0", "1.0"),
            "Not Found".to_string(),
        ] {
            assert!(refused_envelope(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mbr_entries_give_byte_offsets() {
        let disk = std::env::temp_dir().join(format!("otp-checks-mbr-{}.img", std::process::id()));
        let mut s = vec![0u8; 1024];
        s[510] = 0x55;
        s[511] = 0xAA;
        // Entry 0: type 0x0c at LBA 2048; entry 1 empty; entry 2: 0x83 at LBA 4096.
        s[446 + 4] = 0x0c;
        s[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        s[446 + 32 + 4] = 0x83;
        s[446 + 32 + 8..446 + 32 + 12].copy_from_slice(&4096u32.to_le_bytes());
        std::fs::write(&disk, &s).unwrap();
        assert_eq!(mbr_partitions(&disk).unwrap(), [2048 * 512, 4096 * 512]);
        std::fs::write(&disk, vec![0u8; 512]).unwrap();
        assert!(mbr_partitions(&disk).is_err());
        std::fs::remove_file(&disk).unwrap();
    }
}
