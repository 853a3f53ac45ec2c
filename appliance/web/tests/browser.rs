//! The whole set-up wizard in a real browser: Debian's chromium driven over
//! WebDriver (chromedriver) against appliance-web on a loopback port, with
//! a TEST certificate that Chromium trusts only through
//! `--ignore-certificate-errors-spki-list=<its public key's SHA-256>`.
//!
//! Everything is typed with the keyboard (WebDriver key actions: Tab,
//! Space, arrows, Enter, text); the licence file is handed to the focused
//! file input, which is how WebDriver fills a file chooser. On every page
//! (the `browser-test` crate's checks, shared with the QEMU scenario
//! `wizard-bios`): a screenshot under `target/wizard-screenshots/`, at
//! most 100 KB transferred and no request to another host, and axe-core
//! reporting no serious or critical violation. Every bad input must show
//! its message next to its field.

#![allow(clippy::unwrap_used)] // the shared test support outside #[test] functions

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use appliance_config::setup_code::SetupCode;
use appliance_web::app::{router, AppState};
use appliance_web::certs::CertStore;
use appliance_web::limits::Limits;
use appliance_web::server::Server;
use appliance_web::setup::gate::GateLimits;
use appliance_web::setup::Setup;
use browser_test::{Browser, Key, Page};
use serde_json::json;

/// Whether Previous and Next are disabled, in that order on the page.
const BUTTONS_DISABLED: &str =
    "return [...document.querySelectorAll('button[name=action]')].map(b => b.disabled)";
/// The ids of the fields marked green (valid).
const GREEN: &str = "return [...document.querySelectorAll('.field.valid input')].map(i => i.id)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver, npm"]
async fn the_whole_wizard_by_keyboard_in_chromium() -> Result<()> {
    browser_test::require_tools()?;
    let axe = browser_test::axe::source(&browser_test::target_dir())?;
    let dir = tempfile::tempdir()?;
    let (cert_pem, key_pem) = support::test_pair();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, cert_pem)?;
    std::fs::write(&key, key_pem)?;
    let certs = Arc::new(CertStore::load(cert, key)?);
    let spki = certs.current().spki_sha256.clone();
    let (cfg, code, wrong) = support::setup::config(dir.path(), GateLimits::default());
    let state_file = cfg.state_file.clone();
    let setup = Setup::new(cfg)?;
    let app = router(
        AppState {
            certs: certs.clone(),
            setup: Some(setup),
        },
        &Limits::default(),
    );
    let server = Server::bind(
        "127.0.0.1:0".parse::<SocketAddr>()?,
        certs,
        app,
        Limits::default(),
    )
    .await?;
    let addr = server.local_addr()?;
    tokio::spawn(server.run());
    let licence_path = dir.path().join("TEST.lic");
    let vendor = vendor_repo::SecretKey::from_seed(support::setup::LICENCE_SEED, true);
    std::fs::write(
        &licence_path,
        support::setup::licence_file(&vendor, "example-appliance", "2026-01-01", "2027-12-31"),
    )?;

    let browser = Browser::start(&spki, &dir.path().join("chromium-profile")).await?;
    let shots = browser_test::target_dir().join("wizard-screenshots");
    let base = format!("https://127.0.0.1:{}", addr.port());
    let mut r = Page::new(browser.client.clone(), &base, axe, shots.clone())?;

    // Claim: two wrong codes, then the right one.
    r.goto("/setup").await?;
    r.check("claim").await?;
    let wrong2 = SetupCode::derive(&support::setup::SECRET, 2).to_string();
    for w in [&wrong, &wrong2] {
        r.type_in("setup_code", w).await?;
        r.submit().await?;
        r.expect_errors(&[(
            "setup_code",
            "Setup code is not the one the console shows now",
        )])
        .await?;
    }
    r.check("claim-wrong-code").await?;
    r.type_in("setup_code", &code.to_lowercase()).await?;
    r.submit().await?;
    r.expect_path("/setup/step/licence").await?;

    // 1 Licence: not accepted, no file, a malformed update key.
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
        .send_keys(licence_path.to_str().context("a UTF-8 temp path")?)
        .await?;
    r.type_in("update_key", support::setup::UPDATE_KEY).await?;
    r.submit().await?;
    r.expect_path("/setup/step/network").await?;

    // 2 Network: static with a network address, a bad host name, no DNS.
    r.check("network").await?;
    r.tab_to("mode-dhcp").await?;
    r.press(Key::Down).await?;
    ensure!(
        r.checked("mode-static").await?,
        "Down did not choose static"
    );
    r.type_in("address", "192.0.2.0").await?;
    r.type_in("netmask", "24").await?;
    r.type_in("gateway", "198.51.100.1").await?;
    r.type_in("hostname", "-bad-").await?;
    r.type_in("dns", "").await?;
    r.submit().await?;
    // (the gateway is checked once the address is valid)
    r.expect_errors(&[
        (
            "address",
            "IP address 192.0.2.0 is the network address of /24",
        ),
        (
            "hostname",
            "Host name \"-bad-\" must not start or end with a hyphen",
        ),
        ("dns", "DNS servers: enter 1 to 3 name server addresses"),
    ])
    .await?;
    r.check("network-errors").await?;
    r.type_in("address", "192.0.2.10").await?;
    r.submit().await?;
    r.expect_errors(&[(
        "gateway",
        "Gateway 198.51.100.1 is outside the subnet 192.0.2.0/24",
    )])
    .await?;
    r.type_in("gateway", "192.0.2.1").await?;
    r.type_in("hostname", "otp1").await?;
    r.type_in("domain", "example.com").await?;
    r.type_in("dns", "192.0.2.53").await?;
    r.submit().await?;
    r.expect_path("/setup/step/time").await?;

    // 3 Time: no zone, NTP off with an impossible date and time.
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
    r.choose("time_zone", "Europe/Berlin").await?;
    r.tick("ntp", true).await?;
    r.type_in("ntp_servers", "pool.ntp.org").await?;
    r.type_in("date", "").await?;
    r.type_in("time", "").await?;
    r.submit().await?;
    r.expect_path("/setup/step/roles").await?;

    // 4 Roles: the buttons are blocked until every field is valid.
    r.check("roles").await?;
    ensure!(r.js(BUTTONS_DISABLED, vec![]).await? == json!([true, true]));
    r.type_in("linotp_admin_user", "root").await?;
    r.type_in("linotp_admin_password", "short").await?;
    r.type_in("linotp_admin_repeat", "other").await?;
    ensure!(
        r.js(GREEN, vec![]).await? == json!([]),
        "nothing is green yet"
    );
    ensure!(r.js(BUTTONS_DISABLED, vec![]).await? == json!([true, true]));
    r.check("roles-blocked").await?;
    // The setup code as a password: only the server knows it.
    let mut as_code = code.clone();
    let first = as_code
        .find(|c: char| c.is_ascii_alphabetic())
        .context("a letter in the code")?;
    as_code.replace_range(first..first + 1, &as_code[first..first + 1].to_lowercase());
    let fill = [
        ("linotp_admin_user", "admin"),
        ("linotp_admin_password", "Lin0tp-Admin!"),
        ("linotp_admin_repeat", "Lin0tp-Admin!"),
        ("root_password", as_code.as_str()),
        ("root_repeat", as_code.as_str()),
        ("appliance_admin_user", "appadmin"),
        ("appliance_admin_password", "Appliance-Adm1n"),
        ("appliance_admin_repeat", "Appliance-Adm1n"),
    ];
    for (id, v) in fill {
        r.type_in(id, v).await?;
    }
    ensure!(r.js(BUTTONS_DISABLED, vec![]).await? == json!([false, false]));
    r.submit().await?;
    r.expect_errors(&[(
        "root_password",
        "Root Administrator: the password must not be the setup code",
    )])
    .await?;
    r.check("roles-errors").await?;
    let fill = [
        ("linotp_admin_password", "Lin0tp-Admin!"),
        ("linotp_admin_repeat", "Lin0tp-Admin!"),
        ("root_password", "R00t-Password#"),
        ("root_repeat", "R00t-Password#"),
        ("appliance_admin_password", "Appliance-Adm1n"),
        ("appliance_admin_repeat", "Appliance-Adm1n"),
    ];
    for (id, v) in fill {
        r.type_in(id, v).await?;
    }
    let green = r.js(GREEN, vec![]).await?;
    ensure!(
        green.as_array().map(Vec::len) == Some(8),
        "all 8 fields green: {green}"
    );
    ensure!(r.js(BUTTONS_DISABLED, vec![]).await? == json!([false, false]));
    r.submit().await?;
    r.expect_path("/setup/step/radius").await?;

    // 5 RADIUS: a bad name, host bits set, the example secret.
    r.check("radius").await?;
    r.type_in("clients-0-name", "bad name!").await?;
    r.type_in("clients-0-address", "192.0.2.1/24").await?;
    r.type_in("clients-0-secret", "testing123").await?;
    r.submit().await?;
    r.expect_errors(&[
        (
            "clients-0-name",
            "Client 1: name \"bad name!\" must start with a letter or digit",
        ),
        (
            "clients-0-address",
            "Client 1: address \"192.0.2.1/24\" has host bits set",
        ),
        (
            "clients-0-secret",
            "Client 1: secret is the well-known example secret",
        ),
    ])
    .await?;
    r.check("radius-errors").await?;
    r.type_in("clients-0-name", "vpn").await?;
    r.type_in("clients-0-address", "192.0.2.0/24").await?;
    r.type_in("clients-0-secret", "Xk9#mP2$vL7qR4wZ").await?;
    r.submit().await?;
    r.expect_path("/setup/step/keys").await?;

    // 6 Keys and summary (checkboxes only: nothing can be typed wrong).
    r.check("keys-summary").await?;
    let text = r.text().await?;
    for want in [
        "Licensee: Example Corp",
        "static 192.0.2.10/24",
        "Europe/Berlin",
        "vpn",
    ] {
        ensure!(text.contains(want), "summary lacks {want}: {text}");
    }
    ensure!(
        !text.contains("Xk9#mP2") && !text.contains("R00t-Password"),
        "a secret in the summary"
    );
    r.enter_on("activate").await?;
    r.check("activate").await?;
    let text = r.text().await?;
    ensure!(
        text.contains("Every step is recorded and checked"),
        "{text}"
    );

    let saved = appliance_web::setup::store::load_state(&state_file)?;
    ensure!(saved.completed().is_some(), "every step recorded");
    browser.close().await?;
    eprintln!("screenshots in {}", shots.display());
    Ok(())
}
