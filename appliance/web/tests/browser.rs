//! The whole set-up wizard in a real browser: Debian's chromium driven over
//! WebDriver (chromedriver) against appliance-web on a loopback port, with
//! a TEST certificate that Chromium trusts only through
//! `--ignore-certificate-errors-spki-list=<its public key's SHA-256>`.
//!
//! Everything is typed with the keyboard (WebDriver key actions: Tab,
//! Space, arrows, Enter, text); the licence file is handed to the focused
//! file input, which is how WebDriver fills a file chooser. On every page
//! (the `browser-test` crate's checks and wizard steps, `wizard`, shared
//! with the QEMU scenario `wizard-bios`): a screenshot under `target/wizard-screenshots/`, at
//! most 100 KB transferred and no request to another host, and axe-core
//! reporting no serious or critical violation. Every bad input must show
//! its message next to its field.

#![allow(clippy::unwrap_used)] // the shared test support outside #[test] functions

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{ensure, Result};
use appliance_config::setup_code::SetupCode;
use appliance_web::app::{router, AppState};
use appliance_web::certs::CertStore;
use appliance_web::limits::Limits;
use appliance_web::server::Server;
use appliance_web::setup::gate::GateLimits;
use appliance_web::setup::Setup;
use browser_test::wizard::{self, Inputs};
use browser_test::{Browser, Page};

/// The wizard's values here (TEST passwords, documentation addresses).
const INPUTS: Inputs = Inputs {
    address: "192.0.2.10",
    network: "192.0.2.0",
    outside_gateway: "198.51.100.1",
    gateway: "192.0.2.1",
    dns: "192.0.2.53",
    hostname: "otp-server-01",
    domain: "example.com",
    time_zone: "Europe/Berlin",
    ntp_servers: ["pool.ntp.org", "192.0.2.123"],
    update_key: support::setup::UPDATE_KEY,
    linotp_admin: ("admin", "Lin0tp-Admin!"),
    root_password: "R00t-Password#",
    appliance_admin: ("appadmin", "Appliance-Adm1n"),
    radius: ("vpn", "192.0.2.0/24", "Xk9#mP2$vL7qR4wZ"),
    no_radius: false,
};

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

    let wrong2 = SetupCode::derive(&support::setup::SECRET, 2).to_string();
    let i = &INPUTS;
    wizard::claim(&mut r, &code.to_lowercase(), &[wrong, wrong2]).await?;
    wizard::licence(&mut r, &licence_path, i).await?;
    wizard::network(&mut r, i).await?;
    wizard::time(&mut r, i).await?;
    wizard::roles(&mut r, i, &code).await?;
    wizard::radius(&mut r, i).await?;
    wizard::keys_and_activate(&mut r, i, false).await?;
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
