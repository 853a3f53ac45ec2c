//! The set-up wizard of the installed reference appliance in headless
//! Chromium, by keyboard (the `browser-test` crate: Tab, Space, arrows,
//! Enter, text; the licence file goes to the focused file input): two
//! wrong setup codes, each refused with its message, then the printed one;
//! on every step at least three bad inputs, each shown as the server's
//! message next to its field; on the roles page Next and Previous blocked
//! until every field is valid; every page checked (screenshot, ≤ 100 KB,
//! no other host, axe-core); then Activate with a new static address.
//!
//! The values typed here are [`Inputs`]; [`crate::wizard_after`] checks
//! the appliance against them after the activation.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use browser_test::{Key, Page};
use serde_json::json;

/// The TEST licence key's seed: the licence the scenario uploads is signed
/// with it. Its public half is `appliance/licence-key.test.pub`, which the
/// image carries unless built with `--licence-key` (xtask's
/// `debroot::licence::TEST_SEED` is the same seed, checked by its test).
pub const LICENCE_TEST_SEED: [u8; 32] = [9; 32];
/// A TEST update key (32 bytes of base64).
pub const UPDATE_KEY: &str = "VEVTVCB1cGRhdGUga2V5IC0gbm90IGEgcmVhbCBrZXk=";

/// What the wizard is given (the good values).
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The new static address in QEMU's 10.0.2.0/24.
    pub address: &'static str,
    pub gateway: &'static str,
    pub dns: &'static str,
    pub hostname: &'static str,
    pub domain: &'static str,
    pub time_zone: &'static str,
    pub ntp_servers: [&'static str; 2],
    pub linotp_admin: (&'static str, &'static str),
    pub root_password: &'static str,
    pub appliance_admin: (&'static str, &'static str),
    /// RADIUS client: name, subnet, secret.
    pub radius: (&'static str, &'static str, &'static str),
}

/// The values of `wizard-bios` (TEST passwords).
pub const INPUTS: Inputs = Inputs {
    address: "10.0.2.20",
    gateway: "10.0.2.2",
    dns: "10.0.2.3",
    hostname: "otp-server-01",
    domain: "example.test",
    time_zone: "Europe/Berlin",
    ntp_servers: ["192.0.2.123", "198.51.100.123"],
    linotp_admin: ("admin", "Lin0tp-Admin!"),
    root_password: "R00t-Password#",
    appliance_admin: ("appadmin", "Appliance-Adm1n"),
    radius: ("vpn", "10.0.2.0/24", "Xk9#mP2$vL7qR4wZ"),
};

/// Whether Previous and Next are disabled, in the page's order.
const BUTTONS_DISABLED: &str =
    "return [...document.querySelectorAll('button[name=action]')].map(b => b.disabled)";
/// The ids of the fields marked green (valid).
const GREEN: &str = "return [...document.querySelectorAll('.field.valid input')].map(i => i.id)";

/// A TEST licence for the appliance's product, valid from 2026 to 2099.
pub fn test_licence() -> String {
    let key = vendor_repo::SecretKey::from_seed(LICENCE_TEST_SEED, true);
    let fields = [
        (
            "comment",
            "TEST LICENCE: signed with a test key, for tests only".to_string(),
        ),
        ("licensee", "Example Corp".to_string()),
        ("product", "example-appliance".to_string()),
        ("valid-from", "2026-01-01".to_string()),
        ("expire", "2099-12-31".to_string()),
        ("token-num", "50".to_string()),
        ("subscription", "standard".to_string()),
    ];
    appliance_wizard::licence::issue(&fields, |m| key.sign(m))
}

/// The claim: `wrong` codes each refused with its message, then `code`.
pub async fn claim(r: &mut Page, code: &str, wrong: &[String]) -> Result<()> {
    r.goto("/setup").await?;
    r.check("claim").await?;
    for w in wrong {
        r.type_in("setup_code", w).await?;
        r.submit().await?;
        r.expect_errors(&[(
            "setup_code",
            "Setup code is not the one the console shows now",
        )])
        .await
        .with_context(|| format!("the wrong code {w}"))?;
    }
    r.check("claim-wrong-codes").await?;
    r.type_in("setup_code", code).await?;
    r.submit().await?;
    r.expect_path("/setup/step/licence").await
}

/// Step 1: nothing ticked, no file, a short update key; then the licence.
pub async fn licence(r: &mut Page, file: &Path) -> Result<()> {
    r.check("licence").await?;
    r.type_in("update_key", "abc").await?;
    r.submit().await?;
    r.expect_errors(&[
        (
            "accept",
            "\"I accept the license agreement\" must be ticked to continue",
        ),
        ("licence", "Licence file is required"),
        ("update_key", "Update key is not in its format"),
    ])
    .await?;
    r.check("licence-errors").await?;
    r.tick("accept", true).await?;
    r.tab_to("licence").await?;
    r.c.active_element()
        .await?
        .send_keys(file.to_str().context("a UTF-8 licence path")?)
        .await?;
    r.type_in("update_key", UPDATE_KEY).await?;
    r.submit().await?;
    r.expect_path("/setup/step/network").await
}

/// Step 2: static with the network address, a bad host name, no DNS;
/// then a gateway outside the subnet; then [`Inputs`].
pub async fn network(r: &mut Page, i: &Inputs) -> Result<()> {
    r.check("network").await?;
    r.tab_to("mode-dhcp").await?;
    r.press(Key::Down).await?;
    ensure!(
        r.checked("mode-static").await?,
        "Down did not choose static"
    );
    r.type_in("address", "10.0.2.0").await?;
    r.type_in("netmask", "24").await?;
    r.type_in("gateway", "10.0.3.1").await?;
    r.type_in("hostname", "-bad-").await?;
    r.type_in("dns", "").await?;
    r.submit().await?;
    r.expect_errors(&[
        (
            "address",
            "IP address 10.0.2.0 is the network address of /24",
        ),
        (
            "hostname",
            "Host name \"-bad-\" must not start or end with a hyphen",
        ),
        ("dns", "DNS servers: enter 1 to 3 name server addresses"),
    ])
    .await?;
    r.check("network-errors").await?;
    r.type_in("address", i.address).await?;
    r.submit().await?;
    r.expect_errors(&[(
        "gateway",
        "Gateway 10.0.3.1 is outside the subnet 10.0.2.0/24",
    )])
    .await?;
    r.type_in("gateway", i.gateway).await?;
    r.type_in("hostname", i.hostname).await?;
    r.type_in("domain", i.domain).await?;
    r.type_in("dns", i.dns).await?;
    r.submit().await?;
    r.expect_path("/setup/step/time").await
}

/// Step 3: no zone, NTP off with an impossible date and time; then the
/// zone and the NTP servers.
pub async fn time(r: &mut Page, i: &Inputs) -> Result<()> {
    r.check("time").await?;
    r.choose("time_zone", "").await?;
    r.tick("ntp", false).await?;
    r.type_in("date", "2026-02-30").await?;
    r.type_in("time", "25:00").await?;
    r.submit().await?;
    r.expect_errors(&[
        ("time_zone", "Time zone is required"),
        ("date", "Date \"2026-02-30\" is not a calendar date"),
        ("time", "Time \"25:00\" is not a time of day"),
    ])
    .await?;
    r.check("time-errors").await?;
    r.choose("time_zone", i.time_zone).await?;
    r.tick("ntp", true).await?;
    r.type_in("ntp_servers", &i.ntp_servers.join(" ")).await?;
    r.type_in("date", "").await?;
    r.type_in("time", "").await?;
    r.submit().await?;
    r.expect_path("/setup/step/roles").await
}

/// Step 4: Next and Previous blocked while a field is incomplete or
/// invalid (seed); then three passwords only the server can refuse (the
/// host name, the setup code, the user name); then [`Inputs`].
pub async fn roles(r: &mut Page, i: &Inputs, code: &str) -> Result<()> {
    r.check("roles").await?;
    ensure!(
        r.js(BUTTONS_DISABLED, vec![]).await? == json!([true, true]),
        "the buttons are not blocked on an empty roles page"
    );
    r.type_in("linotp_admin_user", "admin").await?;
    r.type_in("linotp_admin_password", "short").await?;
    r.type_in("linotp_admin_repeat", "other").await?;
    ensure!(
        r.js(BUTTONS_DISABLED, vec![]).await? == json!([true, true]),
        "the buttons are not blocked with a short password"
    );
    r.check("roles-blocked").await?;
    // The setup code with one letter in lower case passes the composition rule.
    let mut as_code = code.to_string();
    let first = as_code
        .find(|c: char| c.is_ascii_alphabetic())
        .context("a letter in the setup code")?;
    as_code.replace_range(first..first + 1, &as_code[first..first + 1].to_lowercase());
    let host_like = "OTP-Server-01";
    ensure!(
        host_like.eq_ignore_ascii_case(i.hostname),
        "the host-name password must match the host name typed"
    );
    let fill = [
        ("linotp_admin_password", host_like),
        ("linotp_admin_repeat", host_like),
        ("root_password", as_code.as_str()),
        ("root_repeat", as_code.as_str()),
        ("appliance_admin_user", "admin-2026x"),
        ("appliance_admin_password", "Admin-2026X"),
        ("appliance_admin_repeat", "Admin-2026X"),
    ];
    for (id, v) in fill {
        r.type_in(id, v).await?;
    }
    ensure!(
        r.js(BUTTONS_DISABLED, vec![]).await? == json!([false, false]),
        "the buttons stay blocked with every field well-formed"
    );
    r.submit().await?;
    r.expect_errors(&[
        (
            "linotp_admin_password",
            "LinOTP Administrator: the password must not be the host name",
        ),
        (
            "root_password",
            "Root Administrator: the password must not be the setup code",
        ),
        (
            "appliance_admin_password",
            "Appliance Administrator: the password must not be the user name",
        ),
    ])
    .await?;
    r.check("roles-errors").await?;
    let fill = [
        ("linotp_admin_user", i.linotp_admin.0),
        ("linotp_admin_password", i.linotp_admin.1),
        ("linotp_admin_repeat", i.linotp_admin.1),
        ("root_password", i.root_password),
        ("root_repeat", i.root_password),
        ("appliance_admin_user", i.appliance_admin.0),
        ("appliance_admin_password", i.appliance_admin.1),
        ("appliance_admin_repeat", i.appliance_admin.1),
    ];
    for (id, v) in fill {
        r.type_in(id, v).await?;
    }
    let green = r.js(GREEN, vec![]).await?;
    ensure!(
        green.as_array().map(Vec::len) == Some(8),
        "not all 8 fields green: {green}"
    );
    r.submit().await?;
    r.expect_path("/setup/step/radius").await
}

/// Step 5: a bad name, host bits set, the example secret; then the client.
pub async fn radius(r: &mut Page, i: &Inputs) -> Result<()> {
    r.check("radius").await?;
    r.type_in("clients-0-name", "bad name!").await?;
    r.type_in("clients-0-address", "10.0.2.1/24").await?;
    r.type_in("clients-0-secret", "testing123").await?;
    r.submit().await?;
    r.expect_errors(&[
        (
            "clients-0-name",
            "Client 1: name \"bad name!\" must start with a letter or digit",
        ),
        (
            "clients-0-address",
            "Client 1: address \"10.0.2.1/24\" has host bits set",
        ),
        (
            "clients-0-secret",
            "Client 1: secret is the well-known example secret",
        ),
    ])
    .await?;
    r.check("radius-errors").await?;
    let (name, subnet, secret) = i.radius;
    r.type_in("clients-0-name", name).await?;
    r.type_in("clients-0-address", subnet).await?;
    r.type_in("clients-0-secret", secret).await?;
    r.submit().await?;
    r.expect_path("/setup/step/keys").await
}

/// Step 6: checkboxes only, so the three bad inputs are a tampered form
/// (values a browser never sends for a checkbox), refused by the server;
/// then the summary and Activate with every key regenerated.
pub async fn keys_and_activate(r: &mut Page, i: &Inputs) -> Result<()> {
    r.check("keys-summary").await?;
    let ids = ["regenerate_ssh", "regenerate_tls", "regenerate_db_key"];
    r.js(
        "for (const id of arguments[0]) { const e = document.getElementById(id); e.checked = true; e.value = 'maybe'; } return true",
        vec![json!(ids)],
    )
    .await?;
    // Enter on Activate sends the tampered form; the server must refuse it.
    r.enter_on("activate").await?;
    r.expect_errors(&[
        (
            "regenerate_ssh",
            "\"Regenerate SSH host keys\" is a checkbox: send \"on\" when ticked and nothing otherwise, not \"maybe\"",
        ),
        (
            "regenerate_tls",
            "\"Regenerate the TLS certificate\" is a checkbox",
        ),
        (
            "regenerate_db_key",
            "\"Regenerate the database encryption key\" is a checkbox",
        ),
    ])
    .await?;
    r.check("keys-errors").await?;
    for id in ids {
        r.tick(id, true).await?;
    }
    r.tick("regenerate_db_passwords", true).await?;
    r.tick("shutdown", false).await?;
    let text = r.text().await?;
    for want in [
        "Licensee: Example Corp",
        &format!("static {}/24", i.address),
        i.time_zone,
        i.radius.0,
    ] {
        ensure!(text.contains(want), "the summary lacks {want}: {text}");
    }
    ensure!(
        !text.contains(i.radius.2) && !text.contains(i.root_password),
        "a secret in the summary"
    );
    r.enter_on("activate").await?;
    r.check("activate").await?;
    Ok(())
}

/// The progress page after Activate, reloaded (it refreshes itself too)
/// until it names the new address, within `timeout`. Returns its text.
pub async fn progress_names(r: &mut Page, new_url: &str, timeout: Duration) -> Result<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let text = r.text().await?;
        if text.contains(new_url) {
            r.check("activation-pending-confirm").await?;
            return Ok(text);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the page after Activate did not name {new_url} within {timeout:?}: {text}"
            );
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        r.c.refresh().await?;
        r.loaded().await?;
    }
}
