//! After Activate with a new static address (the contracts between the
//! wizard's web side and the root side: the progress page, `POST
//! /setup/confirm` on the NEW address with the Appliance Administrator's
//! login and password, `/run/appliance/activation.json`): the console
//! shows the new address and new fingerprints; a second Chromium, pinned
//! to the NEW public key read from the console, confirms on the new
//! address; then `root` logs in on the serial console with the password
//! chosen in the wizard, the appliance console's `unsupported` command
//! gives a shell, and from that shell: the activation is `done`, the old
//! address is gone, FreeRADIUS is active with the configured client,
//! chrony has the configured sources, the time zone is set. The SSH host
//! keys and the TLS certificate changed, and what the appliance serves is
//! what the console prints.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use browser_test::Page;

use crate::harness::child::Vm;
use crate::harness::tls::spki_sha256_b64;
use crate::reference_boot::{parse_console_set_up, scan_host_keys, ConsoleText, Shown};
use crate::steps::{fetch_pinned, GUEST_PORT};
use crate::wizard_flow::{progress_names, Inputs};

/// Activate → the console text shows the new address.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// Activate → the old configuration is back when nobody confirms: the
/// appliance's grace period (10 minutes) and the time to switch back.
pub const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(900);

/// Host ports forwarded to the new address.
#[derive(Debug, Clone, Copy)]
pub struct NewPorts {
    pub https: u16,
    pub ssh: u16,
}

/// Waits until the serial text's latest console block names `url` and
/// returns it parsed.
pub fn console_naming(vm: &mut Vm, url: &str, timeout: Duration) -> Result<ConsoleText> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = vm.text();
        if let Ok(c) = parse_console_set_up(&text) {
            if c.urls.iter().any(|u| u == url) {
                return Ok(c);
            }
        }
        vm.check_running()?;
        if Instant::now() >= deadline {
            bail!(
                "the console text did not name {url} within {timeout:?}; last output:\n{}",
                crate::harness::child::last_lines(&text, 25)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The page after Activate names the new URL; the console shows it with
/// new fingerprints. Returns what the console shows now.
pub async fn activation_shown(
    page: &mut Page,
    vm: &mut Vm,
    i: &Inputs,
    before: &Shown,
) -> Result<Shown> {
    let new_url = format!("https://{}:{GUEST_PORT}", i.address);
    progress_names(page, &new_url, APPLY_TIMEOUT)
        .await
        .context("the progress page after Activate")?;
    let console = console_naming(vm, &format!("{new_url}/"), APPLY_TIMEOUT)?;
    let now = console.shown;
    ensure!(
        now.spki != before.spki && now.tls_colon != before.tls_colon,
        "the TLS certificate was to be regenerated, the console still shows {}",
        now.tls_colon
    );
    ensure!(
        now.ssh != before.ssh,
        "the SSH host keys were to be regenerated, the console still shows {:?}",
        now.ssh
    );
    Ok(now)
}

/// A fresh Chromium pinned to the NEW public key confirms on the new
/// address with the Appliance Administrator's login and password.
pub async fn confirm(shown: &Shown, ports: NewPorts, i: &Inputs, dir: &Path) -> Result<()> {
    let (browser, mut r) = browser_test::open_local(
        &shown.spki,
        ports.https,
        &dir.join("chromium-profile-new"),
        "wizard-bios-screenshots/confirm",
    )
    .await?;
    r.goto("/setup/confirm").await?;
    r.check("confirm").await?;
    r.type_in("login", i.appliance_admin.0).await?;
    r.type_in("password", i.appliance_admin.1).await?;
    r.submit().await?;
    let text = r.text().await?;
    ensure!(
        text.contains("New address confirmed"),
        "the confirmation on the new address: {text}"
    );
    r.check("confirmed").await?;
    let want = browser_test::dashboard::Expect {
        hostname: i.hostname,
        tls_colon: &shown.tls_colon,
        ssh: shown.ssh.values().map(String::as_str).collect(),
    };
    browser_test::dashboard::walk(&mut r, i.appliance_admin.0, i.appliance_admin.1, &want)
        .await
        .context("the dashboard on the new address")?;
    browser.close().await
}

/// Runs `cmd` in the shell on the serial console; its output (between
/// markers the typed line itself does not contain) and exit status.
pub fn shell(vm: &mut Vm, n: &mut u32, cmd: &str) -> Result<(String, i32)> {
    shell_within(vm, n, cmd, Duration::from_secs(120))
}

/// [`shell`] waiting up to `timeout` for `cmd` to end.
pub fn shell_within(
    vm: &mut Vm,
    n: &mut u32,
    cmd: &str,
    timeout: Duration,
) -> Result<(String, i32)> {
    let k = begin(vm, n, cmd)?;
    let out = vm.expect(&format!("END-{k}-"), timeout)?;
    let status = vm.expect("\n", Duration::from_secs(10))?;
    let body = out
        .trim_end_matches(&format!("END-{k}-"))
        .trim()
        .to_string();
    Ok((body, status.trim().parse().unwrap_or(-1)))
}

/// Types `cmd` between markers and waits until it started; its number
/// (its end is `END-<number>-<status>`).
pub fn begin(vm: &mut Vm, n: &mut u32, cmd: &str) -> Result<u32> {
    *n += 1;
    let k = *n;
    vm.send(format!("echo BEG''IN-{k}; {cmd}; echo EN''D-{k}-$?\r").as_bytes())?;
    vm.expect(&format!("BEGIN-{k}"), Duration::from_secs(60))
        .with_context(|| format!("the shell did not run {cmd:?}"))?;
    Ok(k)
}

/// `root` logs in with `password` and `unsupported` (answered `y`) gives
/// a root shell.
pub fn root_shell(vm: &mut Vm, password: &str) -> Result<()> {
    root_login(vm, password)?;
    vm.expect("Type \"help\" for the commands", Duration::from_secs(120))
        .context("root's appliance console after logging in")?;
    vm.send(b"unsupported\r")?;
    vm.expect("[y/N]", Duration::from_secs(30))
        .context("`unsupported` asks first")?;
    vm.send(b"y\r")?;
    let mut n = 900;
    let (who, _) = shell(vm, &mut n, "id -u")?;
    ensure!(
        who.lines().any(|l| l.trim() == "0"),
        "not a root shell: {who}"
    );
    Ok(())
}

/// Nobody confirms: at the deadline the console shows the old address
/// with the old fingerprints again, and the progress page (still open on
/// the old address, whose certificate is back) says so. Returns what the
/// console shows.
pub async fn rolled_back(page: &mut Page, vm: &mut Vm, before: &Shown) -> Result<Shown> {
    let old_url = format!("https://{}:{GUEST_PORT}/", crate::steps::GUEST_ADDRESS);
    // The console names the new address while the change is pending, and
    // only the old IPv4 address (with the link's IPv6 ones) once it is
    // rolled back.
    let deadline = Instant::now() + ROLLBACK_TIMEOUT;
    let back = loop {
        let now = console_naming(
            vm,
            &old_url,
            deadline.saturating_duration_since(Instant::now()),
        )?;
        let new_named = now
            .urls
            .iter()
            .any(|u| !u.contains(crate::steps::GUEST_ADDRESS) && u.contains("10.0.2."));
        if !new_named && now.shown.spki == before.spki {
            break now.shown;
        }
        ensure!(
            Instant::now() < deadline,
            "the old configuration was not back within {ROLLBACK_TIMEOUT:?}: the console shows {:?}",
            now.urls
        );
        std::thread::sleep(Duration::from_secs(5));
    };
    ensure!(
        back.tls_colon == before.tls_colon && back.ssh == before.ssh,
        "the rollback was to bring back the old certificate and host keys: {back:?}, before {before:?}"
    );
    // The page is read again until it says so (the web service is
    // reloaded by the rollback, and the page may come while it restarts).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        page.goto("/activation").await?;
        let text = page.text().await?;
        if text.contains("Old configuration restored") {
            break;
        }
        if Instant::now() >= deadline {
            page.screenshot("rolled-back-missing").await?;
            bail!("the progress page after the deadline: {text}");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    page.check("rolled-back").await?;
    Ok(back)
}

/// Types `root` and `password` at the serial login prompt. The console
/// text's refresh (an address change) makes the getty draw its prompt
/// again and drop what was typed, so the user name is typed again when no
/// password prompt follows (three tries).
fn root_login(vm: &mut Vm, password: &str) -> Result<()> {
    for attempt in 1..=3 {
        vm.send(b"\r")?;
        vm.expect("login:", Duration::from_secs(60))?;
        vm.send(b"root\r")?;
        match vm.expect("Password:", Duration::from_secs(20)) {
            Ok(_) => {
                vm.send(format!("{password}\r").as_bytes())?;
                return Ok(());
            }
            Err(e) if attempt == 3 => return Err(e),
            Err(_) => continue,
        }
    }
    Ok(())
}

/// After a rollback root is locked again: the wizard's password is refused.
pub fn root_still_locked(vm: &mut Vm, i: &Inputs) -> Result<()> {
    root_login(vm, i.root_password)?;
    vm.expect("Login incorrect", Duration::from_secs(60))
        .context("root logged in with the wizard's password after the rollback")?;
    Ok(())
}

/// `root` logs in with the wizard's password, `unsupported` (answered
/// `y`) gives a shell, and the shell shows the configuration applied.
pub fn console_checks(vm: &mut Vm, i: &Inputs) -> Result<()> {
    root_shell(vm, i.root_password).context("with the wizard's root password")?;
    let mut n = 0;

    let (status, _) = shell(vm, &mut n, "cat /run/appliance/activation.json")?;
    let json = &status[status.find('{').unwrap_or(0)..];
    let v: serde_json::Value = serde_json::from_str(json.trim())
        .with_context(|| format!("/run/appliance/activation.json: {status}"))?;
    ensure!(v["state"] == "done", "the activation is not done: {v}");
    config_checks(vm, i)
}

/// In root's shell: the address, FreeRADIUS and its clients (none with
/// "no configuration"), chrony's sources, the time zone, the host name.
pub fn config_checks(vm: &mut Vm, i: &Inputs) -> Result<()> {
    let mut n = 50;

    let (addrs, _) = shell(vm, &mut n, "ip -4 -o address show scope global")?;
    ensure!(
        addrs.contains(&format!("{}/24", i.address)),
        "the new address is not configured: {addrs}"
    );
    ensure!(
        !addrs.contains("10.0.2.15/"),
        "the old address stayed after the confirmation: {addrs}"
    );

    let (active, code) = shell(vm, &mut n, "systemctl is-active freeradius")?;
    ensure!(code == 0, "FreeRADIUS is not active: {active}");
    let (clients, _) = shell(
        vm,
        &mut n,
        "grep -hE '^[[:space:]]*(client|ipaddr|ipv4addr)' /etc/freeradius/3.0/clients.conf",
    )?;
    let (name, subnet, _) = i.radius;
    if i.no_radius {
        ensure!(
            !clients.contains("client "),
            "\"no configuration\" was chosen, clients.conf has clients: {clients}"
        );
    } else {
        ensure!(
            clients.contains(&format!("client {name}")) && clients.contains(subnet),
            "clients.conf has no client {name} for {subnet}: {clients}"
        );
    }

    let (sources, _) = shell(vm, &mut n, "chronyc -n sources")?;
    for s in i.ntp_servers {
        ensure!(sources.contains(s), "chrony has no source {s}: {sources}");
    }
    let (zone, _) = shell(vm, &mut n, "readlink /etc/localtime; cat /etc/timezone")?;
    ensure!(
        zone.lines().any(|l| l.trim().ends_with(i.time_zone)),
        "the time zone is not {}: {zone}",
        i.time_zone
    );
    let (host, _) = shell(vm, &mut n, "hostname")?;
    ensure!(
        host.lines().any(|l| l.trim() == i.hostname),
        "the host name is not {}: {host}",
        i.hostname
    );
    Ok(())
}

/// What the appliance serves on the new address is what the console
/// prints: the certificate (and its public key) and the SSH host keys.
pub fn served_matches(shown: &Shown, ports: NewPorts, dir: &Path) -> Result<()> {
    let page = fetch_pinned(ports.https, &shown.tls_colon, Duration::from_secs(120))
        .context("8443 on the new address, pinned to the new fingerprint")?;
    let spki = spki_sha256_b64(&page.certificate)?;
    ensure!(
        spki == shown.spki,
        "the served public key hash is {spki}, the console prints {}",
        shown.spki
    );
    let scanned = scan_host_keys(ports.ssh, dir, "after", Duration::from_secs(120))?;
    ensure!(
        scanned == shown.ssh,
        "ssh-keyscan saw {scanned:?}, the console prints {:?}",
        shown.ssh
    );
    Ok(())
}
