//! The installed **reference appliance**, booted from its disk and checked
//! as a person at its console would, then rebooted and checked again:
//!
//! - stage 1's data line (`formatted` on the first boot, `kept` after) and
//!   the test marker (written, then read back with the install id);
//! - a login prompt on the serial console, and directly above it the
//!   issue text: URL, TLS
//!   certificate SHA-256 (colon hex), public key SHA-256 (base64), SSH host
//!   key fingerprints and the setup code; the `APPLIANCE-READY` line agrees
//!   with it and reports the keymap the kernel holds for tty1;
//! - port 8443 through a QEMU port forward, TLS pinned to the printed
//!   certificate fingerprint; the served certificate's public key hash is
//!   the printed one;
//! - `ssh-keyscan` through a second port forward, its keys' fingerprints
//!   (`ssh-keygen -lf`) equal to the printed ones;
//! - `root` gets no shell (locked, no password works);
//! - Ctrl-Alt-Del on the machine's keyboard (QEMU monitor) reboots it
//!   cleanly (QEMU runs with `-no-reboot`, so it exits; systemd reports no
//!   file system it failed to unmount); the second boot
//!   must print the same fingerprints and the same setup code, and that
//!   code, typed into the set-up wizard over the pinned 8443, claims it
//!   (a wrong code first is refused): see [`crate::setup_claim`].

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::harness::child::{tool, Vm};
use crate::harness::monitor;
use crate::harness::qemu::{Forward, VmConfig};
use crate::harness::tls::{colon_fingerprint, free_port, spki_sha256_b64};
use crate::steps::{
    check_disk_booted, fetch_pinned, installed_vm, start, Installed, GUEST_ADDRESS, GUEST_PORT,
};

/// QEMU start → login prompt, generous for TCG on shared cores.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Login prompt → ready line, host key scan, page.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(120);
/// Ctrl-Alt-Del → QEMU exits.
const REBOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// What one boot must show.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The host name the install chose.
    pub hostname: &'a str,
    /// The installer's keyboard code (`de`, `fr`, `us`).
    pub keyboard: &'a str,
    /// Stage 1's verdict on the data partition: `formatted` or `kept`.
    pub data: &'a str,
    /// The test marker: `written` or `present`, with the install id.
    pub marker: (&'a str, &'a str),
}

/// What a boot printed that must survive a reboot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// `AB:CD:…`.
    pub tls_colon: String,
    /// Base64 of the SubjectPublicKeyInfo's SHA-256.
    pub spki: String,
    /// Algorithm (`ED25519`, `ECDSA`) → `SHA256:…`.
    pub ssh: BTreeMap<String, String>,
    /// `XXXX-XXXX-XXXX-C`.
    pub setup_code: String,
}

/// The console text above a login prompt, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleText {
    /// `https://…:8443/`, one per address.
    pub urls: Vec<String>,
    pub shown: Shown,
}

/// The top letter row (keycodes 16–25) each tested layout gives.
pub fn top_row(keyboard: &str) -> Option<&'static str> {
    match keyboard {
        "us" => Some("qwertyuiop"),
        "de" => Some("qwertzuiop"),
        "fr" => Some("azertyuiop"),
        _ => None,
    }
}

/// Parses the appliance's console text in `screen`: the last block that
/// starts with `Open in a browser:` (the one above the latest prompt).
pub fn parse_console(screen: &str) -> Result<ConsoleText> {
    parse_console_with(screen, true)
}

/// [`parse_console`] after set-up, when the console no longer shows a
/// setup code (`setup_code` is then empty).
pub fn parse_console_set_up(screen: &str) -> Result<ConsoleText> {
    parse_console_with(screen, false)
}

fn parse_console_with(screen: &str, need_code: bool) -> Result<ConsoleText> {
    let start = screen
        .rfind("Open in a browser:")
        .context("no `Open in a browser:` (the appliance's console text) above the prompt")?;
    let mut urls = Vec::new();
    let mut tls = None;
    let mut spki = None;
    let mut ssh = BTreeMap::new();
    let mut code = None;
    for line in screen[start..].lines().skip(1) {
        let line = line.trim_end_matches('\r');
        if let Some(u) = line.strip_prefix("  https://") {
            urls.push(format!("https://{u}"));
        } else if let Some(v) = line.strip_prefix("TLS certificate SHA-256: ") {
            tls = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Public key SHA-256: ") {
            spki = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("SSH host key ") {
            let (alg, sum) = v.split_once(": ").context("an SSH line without `: `")?;
            ssh.insert(alg.to_string(), sum.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Setup code: ") {
            code = Some(v.trim().to_string());
        } else if line.trim().is_empty() {
            break;
        }
    }
    let tls_colon = tls.context("no `TLS certificate SHA-256:` line")?;
    ensure!(
        tls_colon.len() == 95 && tls_colon.split(':').all(|b| b.len() == 2),
        "the TLS fingerprint is not 32 bytes in colon hex: {tls_colon}"
    );
    ensure!(!urls.is_empty(), "no https:// line");
    ensure!(!ssh.is_empty(), "no `SSH host key` line");
    Ok(ConsoleText {
        urls,
        shown: Shown {
            tls_colon,
            spki: spki.context("no `Public key SHA-256:` line")?,
            ssh,
            setup_code: match code {
                Some(c) => c,
                None if !need_code => String::new(),
                None => anyhow::bail!("no `Setup code:` line"),
            },
        },
    })
}

/// Waits until the serial text ends its latest `Open in a browser:` block
/// with a login prompt right below it (only blank lines between), and
/// returns the text from that block to the prompt.
pub fn issue_above_prompt(vm: &mut Vm, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = vm.text();
        if let Some(open) = text.rfind("Open in a browser:") {
            let rest = &text[open..];
            if let Some(at) = rest.find("login:") {
                let screen = &rest[..at + "login:".len()];
                // The block ends at its first blank line; then only blank
                // lines and the prompt's own line.
                let tail: Vec<&str> = screen
                    .lines()
                    .skip_while(|l| !l.trim().is_empty())
                    .filter(|l| !l.trim().is_empty())
                    .collect();
                ensure!(
                    tail.len() == 1 && tail[0].trim_end().ends_with("login:"),
                    "something stands between the console text and the login prompt: {tail:?}"
                );
                return Ok(screen.to_string());
            }
        }
        vm.check_running()?;
        if Instant::now() >= deadline {
            bail!(
                "no login prompt below the console text within {timeout:?}; last output:\n{}",
                crate::harness::child::last_lines(&text, 25)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `ssh-keygen -l` lines (`256 SHA256:… host (ED25519)`) → algorithm → fingerprint.
pub fn parse_keygen(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(sum), Some(alg)) = (words.get(1), words.last()) else {
            bail!("not an ssh-keygen -l line: {line:?}");
        };
        let alg = alg.trim_start_matches('(').trim_end_matches(')');
        out.insert(alg.to_string(), sum.to_string());
    }
    Ok(out)
}

/// The host keys the guest's SSH server offers on `127.0.0.1:port`, as
/// fingerprints; retried until the server answers or `timeout`.
pub fn scan_host_keys(
    port: u16,
    dir: &Path,
    tag: &str,
    timeout: Duration,
) -> Result<BTreeMap<String, String>> {
    let deadline = Instant::now() + timeout;
    let port_s = port.to_string();
    let keys = loop {
        let scan = tool(
            "ssh-keyscan",
            &[
                "-T",
                "20",
                "-p",
                &port_s,
                "-t",
                "ed25519,ecdsa",
                "127.0.0.1",
            ],
            "openssh-client",
        );
        match scan {
            Ok(out) if !out.is_empty() => break out,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_secs(2)),
            Ok(_) => bail!("ssh-keyscan got no host key from the appliance"),
            Err(e) => return Err(e.context("ssh-keyscan")),
        }
    };
    let file = dir.join(format!("keyscan-{tag}.txt"));
    fs::write(&file, &keys)?;
    let path = file.display().to_string();
    let listed = tool(
        "ssh-keygen",
        &["-l", "-E", "sha256", "-f", &path],
        "openssh-client",
    )?;
    parse_keygen(&String::from_utf8_lossy(&listed))
}

/// Waits until a whole `APPLIANCE-READY {json}` line is in the serial
/// text (wherever the cursor is) and returns its JSON; the last one wins.
pub fn ready_line(vm: &mut Vm, timeout: Duration) -> Result<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = vm.text();
        let last = text
            .match_indices("APPLIANCE-READY ")
            .filter_map(|(i, p)| {
                let rest = &text[i + p.len()..];
                rest.find('\n').map(|end| rest[..end].trim().to_string())
            })
            .last();
        if let Some(json) = last {
            return serde_json::from_str(&json)
                .with_context(|| format!("the ready line is not JSON: {json:?}"));
        }
        vm.check_running()?;
        if Instant::now() >= deadline {
            bail!(
                "no APPLIANCE-READY line within {timeout:?}; last output:\n{}",
                crate::harness::child::last_lines(&text, 25)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The machine with the installed disk and the ISO still attached, and
/// the host ports forwarded to 8443 and 22.
#[derive(Debug, Clone)]
pub struct Rig {
    pub cfg: VmConfig,
    pub https_port: u16,
    pub ssh_port: u16,
    pub monitor: PathBuf,
    /// The CD comes first in the boot order.
    pub cd_first: bool,
}

/// The VM for [`boot_and_check`]: `d` with forwards to 8443 and 22 and a
/// monitor socket; the disk first in the boot order unless `cd_first`.
pub fn rig(d: &Installed, cd_first: bool) -> Result<Rig> {
    let https_port = free_port()?;
    let ssh_port = loop {
        let p = free_port()?;
        if p != https_port {
            break p;
        }
    };
    let monitor = d.dir.join("monitor.sock");
    let forwards = vec![
        Forward {
            host: https_port,
            guest: GUEST_PORT,
        },
        Forward {
            host: ssh_port,
            guest: 22,
        },
    ];
    let mut cfg = installed_vm(d, cd_first, forwards);
    cfg.monitor = Some(monitor.clone());
    Ok(Rig {
        cfg,
        https_port,
        ssh_port,
        monitor,
        cd_first,
    })
}

/// One boot of the installed appliance with every check of the module
/// docs, ending with a clean reboot (QEMU exits). Returns what it showed
/// and when the first login prompt appeared. With `claim`, the printed
/// setup code must claim the set-up wizard over 8443.
pub fn boot_and_check(
    rig: &Rig,
    dir: &Path,
    tag: &str,
    want: &Expect,
    claim: bool,
) -> Result<(Shown, Duration)> {
    let _ = fs::remove_file(&rig.monitor);
    let mut vm = start(&rig.cfg, dir, tag)?.vm;
    vm.expect(
        &format!("APPLIANCE-STAGE1 data={}", want.data),
        LOGIN_TIMEOUT,
    )
    .with_context(|| {
        format!(
            "{tag}: stage 1 must report the data partition {}",
            want.data
        )
    })?;
    let (state, id) = want.marker;
    vm.expect(
        &format!("APPLIANCE-TEST-MARKER {state} {id}"),
        Duration::from_secs(60),
    )
    .with_context(|| format!("{tag}: the data partition's marker must be {state} ({id})"))?;
    let left = LOGIN_TIMEOUT.saturating_sub(vm.elapsed());
    vm.expect("login:", left)
        .with_context(|| format!("{tag}: waiting for the login prompt on ttyS0"))?;
    let login_at = vm.elapsed();
    check_disk_booted(&vm.text(), rig.cd_first).with_context(|| tag.to_string())?;

    // The ready line (once the address is up).
    let ready = ready_line(&mut vm, SERVICE_TIMEOUT).with_context(|| tag.to_string())?;
    fs::write(dir.join(format!("ready-{tag}.json")), ready.to_string())?;
    let url = format!("https://{GUEST_ADDRESS}:{GUEST_PORT}/");
    ensure!(
        ready["hostname"] == want.hostname,
        "{tag}: hostname: {ready}"
    );
    ensure!(
        ready["urls"]
            .as_array()
            .is_some_and(|u| u.iter().any(|x| *x == url.as_str())),
        "{tag}: the ready line has no {url}: {ready}"
    );

    // The issue text directly above the latest login prompt (agetty shows
    // it again when the console text changes).
    let screen = issue_above_prompt(&mut vm, Duration::from_secs(60))
        .with_context(|| format!("{tag}: the login prompt with the console text above it"))?;
    let console = parse_console(&screen).with_context(|| format!("{tag}: the issue text"))?;
    fs::write(dir.join(format!("issue-{tag}.txt")), &screen)?;
    ensure!(
        console.urls.contains(&url),
        "{tag}: the issue text shows {:?}, not {url}",
        console.urls
    );
    let shown = console.shown;
    let ready_tls = ready["tls_sha256"].as_str().unwrap_or_default();
    ensure!(
        shown.tls_colon == colon_fingerprint(ready_tls),
        "{tag}: the issue text's certificate fingerprint differs from the ready line's"
    );
    ensure!(
        ready["spki_sha256"] == shown.spki.as_str(),
        "{tag}: the issue text's public key hash differs from the ready line's"
    );
    for (alg, sum) in &shown.ssh {
        ensure!(
            ready["ssh"][alg.to_lowercase()] == sum.as_str(),
            "{tag}: SSH {alg}: the issue text and the ready line differ"
        );
    }
    ensure!(
        ready["setup_pending"] == true,
        "{tag}: the ready line says no setup code is pending: {ready}"
    );

    // 8443, pinned to the printed fingerprint.
    let page = fetch_pinned(rig.https_port, &shown.tls_colon, SERVICE_TIMEOUT)
        .with_context(|| format!("{tag}: https://…:8443/ pinned to the printed fingerprint"))?;
    fs::write(dir.join(format!("page-{tag}.html")), &page.response)?;
    ensure!(
        page.response.starts_with("HTTP/1.1 200"),
        "{tag}: page: {}",
        page.response.lines().next().unwrap_or("")
    );
    let spki = spki_sha256_b64(&page.certificate)?;
    ensure!(
        spki == shown.spki,
        "{tag}: the served certificate's public key hash is {spki}, the console prints {}",
        shown.spki
    );

    // The printed setup code claims the set-up wizard (a wrong one does not).
    if claim {
        crate::setup_claim::claim_with_printed_code(
            rig.https_port,
            &shown.tls_colon,
            &shown.setup_code,
        )
        .with_context(|| format!("{tag}: claiming the set-up wizard with the printed code"))?;
    }

    // SSH host keys, as a client sees them.
    let scanned = scan_host_keys(rig.ssh_port, dir, tag, SERVICE_TIMEOUT)?;
    ensure!(
        scanned == shown.ssh,
        "{tag}: ssh-keyscan saw {scanned:?}, the console prints {:?}",
        shown.ssh
    );
    ensure!(
        shown.ssh.contains_key("ED25519") && shown.ssh.contains_key("ECDSA"),
        "{tag}: expected ED25519 and ECDSA host keys: {:?}",
        shown.ssh
    );

    // The VGA console's keymap, as the kernel holds it.
    let row = top_row(want.keyboard)
        .with_context(|| format!("no expected key row for the keyboard {}", want.keyboard))?;
    ensure!(
        ready["tty1_keys"] == row,
        "{tag}: the kernel's keymap for tty1 gives {} on the keys Q…P, not {row} as the keyboard `{}` chosen in the installer does",
        ready["tty1_keys"],
        want.keyboard
    );

    // root is locked: no password is accepted.
    vm.send(b"root\r")?;
    vm.expect("Password:", Duration::from_secs(60))
        .with_context(|| format!("{tag}: root: waiting for the password prompt"))?;
    vm.send(b"\r")?;
    vm.expect("Login incorrect", Duration::from_secs(60))
        .with_context(|| format!("{tag}: root logged in without a password"))?;

    reboot(&mut vm, &rig.monitor).with_context(|| tag.to_string())?;
    Ok((shown, login_at))
}

/// Ctrl-Alt-Del on the machine's keyboard; QEMU (`-no-reboot`) must exit,
/// and systemd must have unmounted every file system (it prints
/// `Failed unmounting …` on the console otherwise, `quiet` or not).
fn reboot(vm: &mut Vm, monitor_sock: &Path) -> Result<()> {
    let before = vm.text().len();
    monitor::command(monitor_sock, "sendkey ctrl-alt-delete")?;
    let status = vm
        .wait_exit(REBOOT_TIMEOUT)
        .context("the appliance did not reboot after Ctrl-Alt-Del")?;
    ensure!(status.success(), "QEMU exited with {status} at the reboot");
    // The serial reader may still hold QEMU's last lines.
    std::thread::sleep(Duration::from_millis(500));
    let text = vm.text();
    if let Some(line) = unclean_unmount(text.get(before..).unwrap_or(&text)) {
        bail!("a file system was not unmounted cleanly at the reboot: {line:?}");
    }
    Ok(())
}

/// The first line of `shutdown` (console output) where systemd says it
/// could not unmount a file system.
fn unclean_unmount(shutdown: &str) -> Option<&str> {
    shutdown
        .lines()
        .map(str::trim)
        .find(|l| l.contains("Failed unmounting"))
}

/// Both boots of a fresh install: the first formats the data partition
/// and writes the marker, the second keeps both and must show the same
/// fingerprints and setup code. UEFI boots the CD first the first time
/// (`cd_first`: only the installer's `BootNext` reaches the disk), the
/// disk first the second time (`BootNext` is used up). Returns the two
/// login-prompt times.
pub fn first_and_second_boot(d: &Installed, cd_first: bool, want: Expect) -> Result<[Duration; 2]> {
    let first = rig(d, cd_first)?;
    let (shown, login1) = boot_and_check(&first, d.dir, "boot1", &want, false)?;
    let (_, id) = want.marker;
    let second = rig(d, false)?;
    let again = Expect {
        data: "kept",
        marker: ("present", id),
        ..want
    };
    let (shown2, login2) = boot_and_check(&second, d.dir, "boot2", &again, true)?;
    ensure!(
        shown2.tls_colon == shown.tls_colon && shown2.spki == shown.spki,
        "the TLS fingerprints changed across the reboot: {} → {}",
        shown.tls_colon,
        shown2.tls_colon
    );
    ensure!(
        shown2.ssh == shown.ssh,
        "the SSH host keys changed across the reboot: {:?} → {:?}",
        shown.ssh,
        shown2.ssh
    );
    ensure!(
        shown2.setup_code == shown.setup_code,
        "the setup code changed across the reboot"
    );
    Ok([login1, login2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A serial screen as agetty shows it (docs/appliance.md's example).
    const SCREEN: &str = concat!(
        "\r\nDebian GNU/Linux 12 appliance ttyS0\r\n\r\n",
        "Example Appliance 1.0.0 (appliance.example.test)\r\n",
        "Open in a browser:\r\n",
        "  https://10.0.2.15:8443/\r\n",
        "TLS certificate SHA-256: 3E:1F:93:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:",
        "DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:2B:91\r\n",
        "Public key SHA-256: K4vP1DnwChAs07LXI2web5qOhZ1w6caN9lCBHS++28Y=\r\n",
        "SSH host key ED25519: SHA256:1nx8WGzh2iR11MWkUbSk6e537z1YJuF1lng6kuj///o\r\n",
        "SSH host key ECDSA: SHA256:7RY24+BX1ruzMPCRbUElA86bz1w9YSYWJO9wHxFWdvA\r\n",
        "Setup code: KKRE-M1HB-2NC7-E\r\n",
        "\r\n",
        "appliance login: ",
    );

    #[test]
    fn a_failed_unmount_at_the_reboot_is_found() {
        let log = "appliance login: [FAILED] Failed unmounting var.mount.\r\n[   44.5] reboot: Restarting system\r\n";
        assert_eq!(
            unclean_unmount(log),
            Some("appliance login: [FAILED] Failed unmounting var.mount.")
        );
        assert_eq!(
            unclean_unmount("[   44.5] reboot: Restarting system\r\n"),
            None
        );
    }

    #[test]
    fn the_console_text_is_parsed_from_the_last_block() {
        let c = parse_console(SCREEN).unwrap();
        assert_eq!(c.urls, ["https://10.0.2.15:8443/"]);
        assert!(c.shown.tls_colon.starts_with("3E:1F:93:"));
        assert_eq!(c.shown.spki, "K4vP1DnwChAs07LXI2web5qOhZ1w6caN9lCBHS++28Y=");
        assert_eq!(
            c.shown.ssh["ED25519"],
            "SHA256:1nx8WGzh2iR11MWkUbSk6e537z1YJuF1lng6kuj///o"
        );
        assert_eq!(c.shown.ssh.len(), 2);
        assert_eq!(c.shown.setup_code, "KKRE-M1HB-2NC7-E");
        // An older block above does not count: the last one wins.
        let older = SCREEN.replace("KKRE-M1HB-2NC7-E", "OLD");
        let both = format!("{older}{SCREEN}");
        assert_eq!(
            parse_console(&both).unwrap().shown.setup_code,
            "KKRE-M1HB-2NC7-E"
        );
    }

    #[test]
    fn a_console_text_without_a_field_is_refused_naming_it() {
        for (line, name) in [
            ("Setup code: KKRE-M1HB-2NC7-E\r\n", "Setup code"),
            (
                "Public key SHA-256: K4vP1DnwChAs07LXI2web5qOhZ1w6caN9lCBHS++28Y=\r\n",
                "Public key",
            ),
        ] {
            let err = format!(
                "{:#}",
                parse_console(&SCREEN.replace(line, "")).unwrap_err()
            );
            assert!(err.contains(name), "{err}");
        }
        let short = SCREEN.replace(":2B:91", "");
        assert!(parse_console(&short).is_err());
        assert!(parse_console("appliance login: ").is_err());
        let set_up: String = SCREEN
            .lines()
            .filter(|l| !l.starts_with("Setup code: "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse_console(&set_up).is_err());
        let c = parse_console_set_up(&set_up).unwrap();
        assert_eq!(c.shown.setup_code, "");
        assert_eq!(c.shown.spki, parse_console(SCREEN).unwrap().shown.spki);
    }

    #[test]
    fn ssh_keygen_lines_give_algorithm_and_fingerprint() {
        let text =
            "256 SHA256:1nx8WGzh2iR11MWkUbSk6e537z1YJuF1lng6kuj///o [127.0.0.1]:40022 (ED25519)\n\
256 SHA256:7RY24+BX1ruzMPCRbUElA86bz1w9YSYWJO9wHxFWdvA [127.0.0.1]:40022 (ECDSA)\n";
        let m = parse_keygen(text).unwrap();
        assert_eq!(
            m["ECDSA"],
            "SHA256:7RY24+BX1ruzMPCRbUElA86bz1w9YSYWJO9wHxFWdvA"
        );
        assert_eq!(m.len(), 2);
        assert!(parse_keygen("garbage").is_err());
    }

    #[test]
    fn every_tested_layout_has_a_distinct_row() {
        let rows: Vec<_> = ["us", "de", "fr"]
            .iter()
            .map(|k| top_row(k).unwrap())
            .collect();
        assert_ne!(rows[0], rows[1]);
        assert_ne!(rows[0], rows[2]);
        assert_eq!(top_row("xx"), None);
    }
}
