//! The set-up wizard's steps as a browser walks them, by keyboard, shared
//! by the host test (`appliance/web/tests/browser.rs`) and the QEMU
//! scenario `wizard-bios`: two wrong setup codes, each refused with its
//! message, then the right one; on every step at least three bad inputs,
//! each shown as the server's message next to its field; on the roles page
//! Next and Previous blocked until every field is valid; every page checked
//! ([`Page::check`]); then Activate with a static address. Only the good
//! values and the subnet they live in differ between the two ([`Inputs`]).

use std::path::Path;

use anyhow::{ensure, Context, Result};
use serde_json::json;

use crate::{Key, Page};

/// What the wizard is given (the good values, TEST passwords) and the
/// /24 subnet the bad network inputs are made from.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The new static address (prefix length 24).
    pub address: &'static str,
    /// The network address of `address`'s /24 (refused as an address).
    pub network: &'static str,
    /// A gateway outside `address`'s /24 (refused).
    pub outside_gateway: &'static str,
    pub gateway: &'static str,
    pub dns: &'static str,
    /// Its first label in upper case is a password the server refuses.
    pub hostname: &'static str,
    pub domain: &'static str,
    pub time_zone: &'static str,
    pub ntp_servers: [&'static str; 2],
    /// A TEST update key (32 bytes of base64).
    pub update_key: &'static str,
    pub linotp_admin: (&'static str, &'static str),
    pub root_password: &'static str,
    pub appliance_admin: (&'static str, &'static str),
    /// RADIUS client: name, subnet, secret.
    pub radius: (&'static str, &'static str, &'static str),
    /// Tick "no configuration" in the RADIUS step instead of adding the
    /// client (after the same bad inputs).
    pub no_radius: bool,
}

/// Whether Previous and Next are disabled, in the page's order.
const BUTTONS_DISABLED: &str =
    "return [...document.querySelectorAll('button[name=action]')].map(b => b.disabled)";
/// The ids of the fields marked green (valid).
const GREEN: &str = "return [...document.querySelectorAll('.field.valid input')].map(i => i.id)";

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

/// Step 1: nothing ticked, no file, a malformed update key; then the
/// licence file and [`Inputs::update_key`].
pub async fn licence(r: &mut Page, file: &Path, i: &Inputs) -> Result<()> {
    r.check("licence").await?;
    r.type_in("update_key", "not-a-key").await?;
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
    r.type_in("update_key", i.update_key).await?;
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
    r.type_in("address", i.network).await?;
    r.type_in("netmask", "24").await?;
    r.type_in("gateway", i.outside_gateway).await?;
    r.type_in("hostname", "-bad-").await?;
    r.type_in("dns", "").await?;
    r.submit().await?;
    // (the gateway is checked once the address is valid)
    r.expect_errors(&[
        (
            "address",
            &format!("IP address {} is the network address of /24", i.network),
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
        &format!(
            "Gateway {} is outside the subnet {}/24",
            i.outside_gateway, i.network
        ),
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
    r.choose("time_zone", "").await?; // "Choose a time zone"
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

/// Step 4: Next and Previous blocked and nothing green while a field is
/// incomplete or invalid (seed); then three well-formed but refused
/// passwords (the host name, the setup code, the user name): the page's
/// script blocks the two it can know, and the form sent anyway (as a
/// browser without the script would) is refused by the server for all
/// three; then [`Inputs`], all 8 fields green and the buttons free.
pub async fn roles(r: &mut Page, i: &Inputs, code: &str) -> Result<()> {
    r.check("roles").await?;
    ensure!(
        r.js(BUTTONS_DISABLED, vec![]).await? == json!([true, true]),
        "the buttons are not blocked on an empty roles page"
    );
    r.type_in("linotp_admin_user", "root").await?;
    r.type_in("linotp_admin_password", "short").await?;
    r.type_in("linotp_admin_repeat", "other").await?;
    ensure!(
        r.js(GREEN, vec![]).await? == json!([]),
        "a field is green with a reserved user name and a short password"
    );
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
    // The host name with its first label in upper case.
    let (label, rest) = i.hostname.split_once('-').unwrap_or((i.hostname, ""));
    let host_like = format!("{}-{rest}", label.to_uppercase());
    ensure!(
        host_like.eq_ignore_ascii_case(i.hostname),
        "the host name {} needs a '-' for a host-name password",
        i.hostname
    );
    let fill = [
        ("linotp_admin_user", i.linotp_admin.0),
        ("linotp_admin_password", host_like.as_str()),
        ("linotp_admin_repeat", host_like.as_str()),
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
        r.js(BUTTONS_DISABLED, vec![]).await? == json!([true, true]),
        "the buttons are free with the host name and the user name as passwords"
    );
    // The script cannot know the setup code: only those two stay uncoloured.
    let mut green: Vec<String> = serde_json::from_value(r.js(GREEN, vec![]).await?)?;
    green.sort();
    ensure!(
        green
            == [
                "appliance_admin_user",
                "linotp_admin_user",
                "root_password",
                "root_repeat"
            ],
        "green with refused passwords: {green:?}"
    );
    // Send the blocked form anyway: the server must refuse all three.
    r.js(
        "document.querySelectorAll('button[name=action]').forEach(b => b.disabled = false); return true",
        vec![],
    )
    .await?;
    r.tab_to("appliance_admin_repeat").await?;
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
    ensure!(
        r.js(BUTTONS_DISABLED, vec![]).await? == json!([false, false]),
        "the buttons stay blocked with every field valid"
    );
    r.submit().await?;
    r.expect_path("/setup/step/radius").await
}

/// Step 5: a bad name, host bits set, the example secret; then the client.
pub async fn radius(r: &mut Page, i: &Inputs) -> Result<()> {
    r.check("radius").await?;
    r.type_in("clients-0-name", "bad name!").await?;
    let host_bits = format!("{}/24", i.address);
    r.type_in("clients-0-address", &host_bits).await?;
    r.type_in("clients-0-secret", "testing123").await?;
    r.submit().await?;
    r.expect_errors(&[
        (
            "clients-0-name",
            "Client 1: name \"bad name!\" must start with a letter or digit",
        ),
        (
            "clients-0-address",
            &format!("Client 1: address \"{host_bits}\" has host bits set"),
        ),
        (
            "clients-0-secret",
            "Client 1: secret is the well-known example secret",
        ),
    ])
    .await?;
    r.check("radius-errors").await?;
    if i.no_radius {
        r.js(
            "for (const id of ['clients-0-name', 'clients-0-address', 'clients-0-secret']) { document.getElementById(id).value = ''; } return true",
            vec![],
        )
        .await?;
        r.tick("no_configuration", true).await?;
        r.submit().await?;
        return r.expect_path("/setup/step/keys").await;
    }
    let (name, subnet, secret) = i.radius;
    r.type_in("clients-0-name", name).await?;
    r.type_in("clients-0-address", subnet).await?;
    r.type_in("clients-0-secret", secret).await?;
    r.submit().await?;
    r.expect_path("/setup/step/keys").await
}

/// Step 6: checkboxes only, so the three bad inputs are a tampered form
/// (values a browser never sends for a checkbox), refused by the server;
/// then the summary and Activate with every key regenerated, and "shut
/// down after activation" ticked when `shutdown`.
pub async fn keys_and_activate(r: &mut Page, i: &Inputs, shutdown: bool) -> Result<()> {
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
    r.tick("shutdown", shutdown).await?;
    let text = r.text().await?;
    let client = if i.no_radius { "" } else { i.radius.0 };
    for want in [
        "Licensee: Example Corp",
        &format!("static {}/24", i.address),
        i.time_zone,
        client,
    ] {
        ensure!(text.contains(want), "the summary lacks {want}: {text}");
    }
    for secret in [i.radius.2, i.root_password] {
        // Not even its first half.
        let half = secret.get(..secret.len() / 2).unwrap_or(secret);
        ensure!(!text.contains(half), "a secret in the summary: {text}");
    }
    r.enter_on("activate").await?;
    r.check("activate").await?;
    Ok(())
}
