//! The whole set-up wizard in a real browser: Debian's chromium driven over
//! WebDriver (chromedriver) against appliance-web on a loopback port, with
//! a TEST certificate that Chromium trusts only through
//! `--ignore-certificate-errors-spki-list=<its public key's SHA-256>`.
//!
//! Everything is typed with the keyboard (WebDriver key actions: Tab,
//! Space, arrows, Enter, text); the licence file is handed to the focused
//! file input, which is how WebDriver fills a file chooser. On every page:
//! a screenshot under `target/wizard-screenshots/`, at most 100 KB
//! transferred and no request to another host (the browser's performance
//! entries), and axe-core reporting no serious or critical violation.
//!
//! axe-core comes from the npm registry at test time (`npm pack
//! axe-core@AXE_VERSION`, cached under `target/test-data/`), its
//! `axe.min.js` checked against a pinned SHA-256: the repository carries
//! no copy of it.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use appliance_config::setup_code::SetupCode;
use appliance_web::app::{router, AppState};
use appliance_web::certs::CertStore;
use appliance_web::limits::Limits;
use appliance_web::server::Server;
use appliance_web::setup::gate::GateLimits;
use appliance_web::setup::Setup;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The axe-core release the test injects, and its `axe.min.js`'s SHA-256.
const AXE_VERSION: &str = "4.14.1";
const AXE_SHA256: &str = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c";
/// The most bytes one page may transfer, document and assets together.
const PAGE_BUDGET: f64 = 100.0 * 1024.0;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// `axe.min.js`, fetched once with npm and checked against [`AXE_SHA256`].
#[allow(clippy::disallowed_methods)] // a reference tool in an integration test
fn axe_source() -> String {
    let dir = target_dir().join("test-data/axe-core").join(AXE_VERSION);
    let file = dir.join("package/axe.min.js");
    if !file.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new("npm")
            .args(["pack", &format!("axe-core@{AXE_VERSION}"), "--silent"])
            .current_dir(&dir)
            .output()
            .expect("npm is needed to fetch axe-core (install npm)");
        assert!(
            out.status.success(),
            "npm pack axe-core@{AXE_VERSION} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tgz = dir.join(format!("axe-core-{AXE_VERSION}.tgz"));
        let status = std::process::Command::new("tar")
            .arg("xzf")
            .arg(&tgz)
            .arg("-C")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "cannot unpack {}", tgz.display());
    }
    let bytes = std::fs::read(&file).unwrap();
    let sum: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        sum,
        AXE_SHA256,
        "{} is not the pinned axe-core {AXE_VERSION}",
        file.display()
    );
    String::from_utf8(bytes).unwrap()
}

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[allow(clippy::disallowed_methods)] // a reference tool in an integration test
fn start_driver() -> (Driver, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (driver, port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not listen on port {port} within 20 s");
}

/// The page under test: its name for screenshots and the checks of every page.
struct Run {
    c: Client,
    base: String,
    axe: String,
    shots: PathBuf,
    n: usize,
}

impl Run {
    async fn keys(&self, keys: &[char]) {
        let mut a = KeyActions::new("keyboard".into());
        for k in keys {
            a = a
                .then(KeyAction::Down { value: *k })
                .then(KeyAction::Up { value: *k });
        }
        self.c.perform_actions(a).await.unwrap();
    }

    async fn press(&self, k: Key) {
        self.keys(&[char::from(k)]).await;
    }

    async fn active_id(&self) -> String {
        let v = self
            .c
            .execute(
                "return document.activeElement ? document.activeElement.id : ''",
                vec![],
            )
            .await
            .unwrap();
        v.as_str().unwrap_or_default().to_string()
    }

    /// Tabs forward to the control `id` (the keyboard's only way there).
    async fn tab_to(&self, id: &str) {
        for _ in 0..120 {
            if self.active_id().await == id {
                return;
            }
            self.press(Key::Tab).await;
        }
        panic!(
            "Tab never reached #{id} on {}",
            self.c.current_url().await.unwrap()
        );
    }

    /// Tabs to `id`, selects what is there (Ctrl+A) and types `text`.
    async fn type_in(&self, id: &str, text: &str) {
        self.tab_to(id).await;
        let ctrl = char::from(Key::Control);
        let mut a = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: ctrl })
            .then(KeyAction::Down { value: 'a' })
            .then(KeyAction::Up { value: 'a' })
            .then(KeyAction::Up { value: ctrl })
            .then(KeyAction::Down {
                value: char::from(Key::Backspace),
            })
            .then(KeyAction::Up {
                value: char::from(Key::Backspace),
            });
        for ch in text.chars() {
            a = a
                .then(KeyAction::Down { value: ch })
                .then(KeyAction::Up { value: ch });
        }
        self.c.perform_actions(a).await.unwrap();
    }

    /// Tabs to select `id` and moves to the option `value` with Home and
    /// the arrow keys.
    async fn choose(&self, id: &str, value: &str) {
        self.tab_to(id).await;
        self.press(Key::Home).await;
        for _ in 0..500 {
            let v = self
                .c
                .execute(
                    "return document.getElementById(arguments[0]).value",
                    vec![json!(id)],
                )
                .await
                .unwrap();
            if v == json!(value) {
                return;
            }
            self.press(Key::Down).await;
        }
        panic!("#{id} has no option {value:?}");
    }

    /// Whether checkbox/radio `id` is ticked.
    async fn checked(&self, id: &str) -> bool {
        let v = self
            .c
            .execute(
                "return document.getElementById(arguments[0]).checked",
                vec![json!(id)],
            )
            .await
            .unwrap();
        v.as_bool().unwrap()
    }

    /// Tabs to checkbox `id` and presses Space if it is not `on`.
    async fn tick(&self, id: &str, on: bool) {
        self.tab_to(id).await;
        if self.checked(id).await != on {
            self.press(Key::Space).await;
        }
        assert_eq!(self.checked(id).await, on, "#{id}");
    }

    /// Tabs to `id` and presses Enter (a field: submits with Next).
    async fn enter_on(&self, id: &str) {
        self.tab_to(id).await;
        self.submit().await;
    }

    /// Presses Enter and waits for the next document: the old one is
    /// marked first, so a page still showing is not taken for the new one.
    async fn submit(&self) {
        self.c
            .execute("window.__wizardOld = true; return true", vec![])
            .await
            .unwrap();
        self.press(Key::Enter).await;
        for _ in 0..300 {
            let v = self
                .c
                .execute(
                    "return !window.__wizardOld && document.readyState === 'complete'",
                    vec![],
                )
                .await;
            if matches!(v, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no new page within 30 s after Enter");
    }

    async fn loaded(&self) {
        for _ in 0..100 {
            let v = self
                .c
                .execute("return document.readyState", vec![])
                .await
                .unwrap();
            if v == "complete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page did not finish loading");
    }

    async fn text(&self) -> String {
        self.c
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_string()
    }

    /// The checks of every page; `name` names the screenshot.
    async fn page(&mut self, name: &str) {
        self.loaded().await;
        self.n += 1;
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.n)), png).unwrap();
        let entries = self
            .c
            .execute(
                "return performance.getEntries().filter(e => e.entryType === 'navigation' || e.entryType === 'resource').map(e => ({name: e.name, size: e.transferSize}))",
                vec![],
            )
            .await
            .unwrap();
        let entries = entries.as_array().unwrap();
        assert!(!entries.is_empty(), "{name}: no performance entries");
        let mut total = 0.0;
        for e in entries {
            let url = e["name"].as_str().unwrap();
            assert!(
                url.starts_with(&self.base),
                "{name}: a request to another host: {url}"
            );
            total += e["size"].as_f64().unwrap_or(0.0);
        }
        assert!(total > 0.0, "{name}: nothing measured");
        assert!(
            total <= PAGE_BUDGET,
            "{name}: {total} bytes transferred, more than 100 KB"
        );
        self.c
            .execute(&format!("{}\n;return true;", self.axe), vec![])
            .await
            .unwrap();
        let v = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1]; axe.run(document).then(r => done({passes: r.passes.length, violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))})).catch(e => done({passes: 0, violations: [{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]}));",
                vec![],
            )
            .await
            .unwrap();
        let passes = v["passes"].as_u64().unwrap_or(0);
        assert!(
            passes >= 10,
            "{name}: axe-core checked only {passes} rules: {v}"
        );
        let v = &v["violations"];
        let bad: Vec<&Value> = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| matches!(x["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{name}: axe-core violations: {bad:#?}");
        eprintln!(
            "page {name}: {total} bytes, axe-core: {passes} rules passed, {} findings below serious",
            v.as_array().unwrap().len()
        );
    }

    async fn expect_errors(&self, ids: &[&str]) {
        for id in ids {
            let found = self
                .c
                .execute(
                    "return !!document.getElementById(arguments[0])",
                    vec![json!(format!("{id}-error"))],
                )
                .await
                .unwrap();
            assert_eq!(
                found,
                json!(true),
                "no field error next to #{id} on {}: {}",
                self.path().await,
                self.text().await
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver"]
async fn the_whole_wizard_by_keyboard_in_chromium() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install chromium and chromium-driver (.ci/install-deps)"
        );
    }
    let axe = axe_source();
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = support::test_pair();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    let certs = Arc::new(CertStore::load(cert, key).unwrap());
    let spki = certs.current().spki_sha256.clone();
    let (cfg, code, wrong) = support::setup::config(dir.path(), GateLimits::default());
    let state_file = cfg.state_file.clone();
    let setup = Setup::new(cfg).unwrap();
    let app = router(
        AppState {
            certs: certs.clone(),
            setup: Some(setup),
        },
        &Limits::default(),
    );
    let server = Server::bind(
        "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        certs,
        app,
        Limits::default(),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    let licence_path = dir.path().join("TEST.lic");
    let vendor = vendor_repo::SecretKey::from_seed(support::setup::LICENCE_SEED, true);
    std::fs::write(
        &licence_path,
        support::setup::licence_file(&vendor, "example-appliance", "2026-01-01", "2027-12-31"),
    )
    .unwrap();

    let (_driver, port) = start_driver();
    let profile = dir.path().join("chromium-profile");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1100,1400",
                format!("--user-data-dir={}", profile.display()),
                format!("--ignore-certificate-errors-spki-list={spki}"),
            ],
        }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session through chromedriver");
    let shots = target_dir().join("wizard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let base = format!("https://127.0.0.1:{}", addr.port());
    let mut r = Run {
        c,
        base: base.clone(),
        axe,
        shots: shots.clone(),
        n: 0,
    };

    // Claim: two wrong codes, then the right one.
    r.c.goto(&format!("{base}/setup")).await.unwrap();
    r.page("claim").await;
    let wrong2 = SetupCode::derive(&support::setup::SECRET, 2).to_string();
    for w in [&wrong, &wrong2] {
        r.type_in("setup_code", w).await;
        r.submit().await;
        assert!(
            r.text()
                .await
                .contains("Setup code is not the one the console shows now"),
            "{}",
            r.text().await
        );
        r.expect_errors(&["setup_code"]).await;
    }
    r.page("claim-wrong-code").await;
    r.type_in("setup_code", &code.to_lowercase()).await;
    r.submit().await;
    assert_eq!(r.path().await, "/setup/step/licence");

    // 1 Licence: not accepted, no file, a malformed update key.
    r.page("licence").await;
    r.enter_on("update_key").await;
    r.type_in("update_key", "not-a-key").await;
    r.submit().await;
    r.expect_errors(&["accept", "licence", "update_key"]).await;
    r.page("licence-errors").await;
    r.tick("accept", true).await;
    r.tab_to("licence").await;
    r.c.active_element()
        .await
        .unwrap()
        .send_keys(licence_path.to_str().unwrap())
        .await
        .unwrap();
    r.type_in("update_key", support::setup::UPDATE_KEY).await;
    r.submit().await;
    assert_eq!(r.path().await, "/setup/step/network", "{}", r.text().await);

    // 2 Network: static with a network address, a gateway elsewhere, a bad host name, no DNS.
    r.page("network").await;
    r.tab_to("mode-dhcp").await;
    r.press(Key::Down).await;
    assert!(r.checked("mode-static").await);
    r.type_in("address", "192.0.2.0").await;
    r.type_in("netmask", "24").await;
    r.type_in("gateway", "198.51.100.1").await;
    r.type_in("hostname", "-bad-").await;
    r.submit().await;
    // (the gateway is checked once the address is valid)
    r.expect_errors(&["address", "hostname", "dns"]).await;
    r.page("network-errors").await;
    r.type_in("address", "192.0.2.10").await;
    r.type_in("gateway", "192.0.2.1").await;
    r.type_in("hostname", "otp1").await;
    r.type_in("domain", "example.com").await;
    r.type_in("dns", "192.0.2.53").await;
    r.submit().await;
    assert_eq!(r.path().await, "/setup/step/time", "{}", r.text().await);

    // 3 Time: no zone, NTP off with an impossible date and time.
    r.page("time").await;
    r.choose("time_zone", "").await; // "Choose a time zone"
    r.tick("ntp", false).await;
    r.type_in("date", "2026-02-30").await;
    r.type_in("time", "25:00").await;
    r.submit().await;
    r.expect_errors(&["time_zone", "date", "time"]).await;
    r.page("time-errors").await;
    r.choose("time_zone", "Europe/Berlin").await;
    r.tick("ntp", true).await;
    r.type_in("ntp_servers", "pool.ntp.org").await;
    r.type_in("date", "").await;
    r.type_in("time", "").await;
    r.submit().await;
    assert_eq!(r.path().await, "/setup/step/roles", "{}", r.text().await);

    // 4 Roles: the buttons are blocked until every field is valid.
    r.page("roles").await;
    let buttons_disabled =
        "return [...document.querySelectorAll('button[name=action]')].map(b => b.disabled)";
    assert_eq!(
        r.c.execute(buttons_disabled, vec![]).await.unwrap(),
        json!([true, true])
    );
    r.type_in("linotp_admin_user", "root").await;
    r.type_in("linotp_admin_password", "short").await;
    r.type_in("linotp_admin_repeat", "other").await;
    let green = "return [...document.querySelectorAll('.field.valid input')].map(i => i.id)";
    assert_eq!(r.c.execute(green, vec![]).await.unwrap(), json!([]));
    assert_eq!(
        r.c.execute(buttons_disabled, vec![]).await.unwrap(),
        json!([true, true])
    );
    r.page("roles-blocked").await;
    // The setup code as a password: only the server knows it.
    let mut as_code = code.clone();
    let first = as_code.find(|c: char| c.is_ascii_alphabetic()).unwrap();
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
        r.type_in(id, v).await;
    }
    assert_eq!(
        r.c.execute(buttons_disabled, vec![]).await.unwrap(),
        json!([false, false])
    );
    r.submit().await;
    r.expect_errors(&["root_password"]).await;
    r.page("roles-errors").await;
    let fill = [
        ("linotp_admin_password", "Lin0tp-Admin!"),
        ("linotp_admin_repeat", "Lin0tp-Admin!"),
        ("root_password", "R00t-Password#"),
        ("root_repeat", "R00t-Password#"),
        ("appliance_admin_password", "Appliance-Adm1n"),
        ("appliance_admin_repeat", "Appliance-Adm1n"),
    ];
    for (id, v) in fill {
        r.type_in(id, v).await;
    }
    assert_eq!(
        r.c.execute(green, vec![])
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        r.c.execute(buttons_disabled, vec![]).await.unwrap(),
        json!([false, false])
    );
    r.submit().await;
    assert_eq!(r.path().await, "/setup/step/radius", "{}", r.text().await);

    // 5 RADIUS: a bad name, host bits set, the example secret.
    r.page("radius").await;
    r.type_in("clients-0-name", "bad name!").await;
    r.type_in("clients-0-address", "192.0.2.1/24").await;
    r.type_in("clients-0-secret", "testing123").await;
    r.submit().await;
    r.expect_errors(&["clients-0-name", "clients-0-address", "clients-0-secret"])
        .await;
    r.page("radius-errors").await;
    r.type_in("clients-0-name", "vpn").await;
    r.type_in("clients-0-address", "192.0.2.0/24").await;
    r.type_in("clients-0-secret", "Xk9#mP2$vL7qR4wZ").await;
    r.submit().await;
    assert_eq!(r.path().await, "/setup/step/keys", "{}", r.text().await);

    // 6 Keys and summary (checkboxes only: nothing can be typed wrong).
    r.page("keys-summary").await;
    let text = r.text().await;
    for want in [
        "Licensee: Example Corp",
        "static 192.0.2.10/24",
        "Europe/Berlin",
        "vpn",
    ] {
        assert!(text.contains(want), "summary lacks {want}: {text}");
    }
    assert!(
        !text.contains("Xk9#mP2") && !text.contains("R00t-Password"),
        "no secret in the summary"
    );
    r.enter_on("activate").await;
    r.page("activate").await;
    assert!(
        r.text()
            .await
            .contains("Every step is recorded and checked"),
        "{}",
        r.text().await
    );

    let saved = appliance_web::setup::store::load_state(&state_file).unwrap();
    assert!(saved.completed().is_some(), "every step recorded");
    r.c.close().await.unwrap();
    eprintln!("screenshots in {}", shots.display());
}
