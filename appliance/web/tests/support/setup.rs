//! A set-up wizard over a temporary state directory: a TEST setup code
//! (secret of sevens), its verifier made by appliance-config, a TEST
//! licence key and licences it signed, the application router.

use std::path::PathBuf;
use std::sync::Arc;

use appliance_config::setup_code::SetupCode;
use appliance_web::admin::{Site, SiteConfig};
use appliance_web::app::{router_with, AppState};
use appliance_web::certs::CertStore;
use appliance_web::limits::Limits;
use appliance_web::setup::gate::GateLimits;
use appliance_web::setup::{Setup, SetupConfig};
use appliance_wizard::date::Date;
use appliance_wizard::licence;
use axum::Router;
use vendor_repo::SecretKey;

/// The Host (and Origin) the tests' requests carry.
pub const HOST: &str = "192.0.2.10:8443";
/// A TEST update key (32 bytes of base64).
pub const UPDATE_KEY: &str = "VEVTVCB1cGRhdGUga2V5IC0gbm90IGEgcmVhbCBrZXk=";
/// The TEST setup code secret.
pub const SECRET: [u8; 32] = [7; 32];
/// The TEST licence key's seed.
pub const LICENCE_SEED: [u8; 32] = [9; 32];
/// Today, as the wizard under test sees it.
pub const TODAY: &str = "2026-12-07";

/// A licence file signed by `key`.
pub fn licence_file(key: &SecretKey, product: &str, from: &str, to: &str) -> String {
    let fields = [
        (
            "comment",
            "TEST LICENCE: signed with a test key, for tests only".to_string(),
        ),
        ("licensee", "Example Corp".to_string()),
        ("product", product.to_string()),
        ("valid-from", from.to_string()),
        ("expire", to.to_string()),
        ("token-num", "50".to_string()),
        ("subscription", "standard".to_string()),
    ];
    licence::issue(&fields, |m| key.sign(m))
}

/// The wizard under test and what it was made with.
pub struct Wizard {
    pub dir: tempfile::TempDir,
    pub app: Router,
    pub setup: Arc<Setup>,
    pub certs: Arc<CertStore>,
    pub code: String,
    pub wrong: String,
    pub state_file: PathBuf,
    pub verifier: PathBuf,
    pub licence: String,
    pub other_vendor_licence: String,
    pub expired_licence: String,
    pub future_licence: String,
    pub wrong_product_licence: String,
}

/// The setup config for a state directory (used by the browser test too).
pub fn config(dir: &std::path::Path, limits: GateLimits) -> (SetupConfig, String, String) {
    let code = SetupCode::derive(&SECRET, 0);
    let wrong = SetupCode::derive(&SECRET, 1);
    let verifier = dir.join("setup-code.hash");
    std::fs::write(&verifier, code.hash().expect("TEST verifier")).expect("verifier");
    let key = SecretKey::from_seed(LICENCE_SEED, true);
    let cfg = SetupConfig {
        state_file: dir.join("state/wizard.json"),
        verifier,
        licence_keys: vec![key.public()],
        product: "example-appliance".into(),
        time_zones: ["Etc/UTC", "Europe/Berlin", "UTC"]
            .map(String::from)
            .to_vec(),
        limits,
        today: Some(Date::parse(TODAY).expect("date")),
        running: None,
        requests_dir: dir.join("requests"),
        status_file: dir.join("run/activation.json"),
        setup_done: dir.join("etc/setup-done"),
        admin_credentials: dir.join("etc/credentials/appliance-admin.json"),
    };
    (cfg, code.to_string(), wrong.to_string())
}

/// The Appliance Administrator the walk through the wizard chooses.
pub const ADMIN: (&str, &str) = ("appadmin", "Appliance-Adm1n");

impl Wizard {
    pub fn new(limits: GateLimits) -> Wizard {
        Wizard::with_state(limits, None)
    }

    /// A wizard whose state file holds `state` (JSON) when it starts.
    pub fn with_state(limits: GateLimits, state: Option<&str>) -> Wizard {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cfg, code, wrong) = config(dir.path(), limits.clone());
        if let Some(state) = state {
            std::fs::create_dir_all(cfg.state_file.parent().expect("parent")).expect("state dir");
            std::fs::write(&cfg.state_file, state).expect("state file");
        }
        let state_file = cfg.state_file.clone();
        let verifier = cfg.verifier.clone();
        let setup = Setup::new(cfg).expect("setup");
        let (cert, key) = super::test_pair();
        let certs = Arc::new(CertStore::new(
            appliance_web::certs::Identity::from_pem(
                cert.as_bytes(),
                key.as_bytes(),
                &PathBuf::from("cert.pem"),
                &PathBuf::from("key.pem"),
            )
            .expect("TEST identity"),
            "cert.pem".into(),
            "key.pem".into(),
        ));
        let site_certs = certs.clone();
        let site = Site::new(
            SiteConfig {
                setup_done: dir.path().join("etc/setup-done"),
                credentials: dir.path().join("etc/credentials/appliance-admin.json"),
                root: dir.path().join("root"),
                limits,
                backup: appliance_web::admin::jobs::BackupConfig {
                    // Small, for the test of the cap.
                    upload_cap: 100_000,
                    ..appliance_web::admin::jobs::BackupConfig::under(
                        &dir.path().join("state"),
                        &dir.path().join("run"),
                    )
                },
            },
            certs.clone(),
        );
        let app = router_with(
            AppState {
                certs,
                setup: Some(setup.clone()),
            },
            site,
            &Limits::default(),
        );
        let vendor = SecretKey::from_seed(LICENCE_SEED, true);
        let other = SecretKey::from_seed([10; 32], true);
        Wizard {
            app,
            setup,
            certs: site_certs,
            code,
            wrong,
            state_file,
            verifier,
            licence: licence_file(&vendor, "example-appliance", "2026-01-01", "2027-12-31"),
            other_vendor_licence: licence_file(
                &other,
                "example-appliance",
                "2026-01-01",
                "2027-12-31",
            ),
            expired_licence: licence_file(&vendor, "example-appliance", "2025-01-01", "2026-01-31"),
            future_licence: licence_file(&vendor, "example-appliance", "2027-01-01", "2027-12-31"),
            wrong_product_licence: licence_file(
                &vendor,
                "other-appliance",
                "2026-01-01",
                "2027-12-31",
            ),
            dir,
        }
    }
}

impl Wizard {
    /// Writes the root side's status file.
    pub fn set_status(&self, json: &str) {
        let p = self.dir.path().join("run/activation.json");
        std::fs::create_dir_all(p.parent().expect("parent")).expect("run dir");
        std::fs::write(p, json).expect("status file");
    }

    /// Marks the appliance set up (or not).
    pub fn set_up(&self, done: bool) {
        let p = self.dir.path().join("etc/setup-done");
        if done {
            std::fs::create_dir_all(p.parent().expect("parent")).expect("etc dir");
            std::fs::write(p, "").expect("setup-done");
        } else {
            std::fs::remove_file(p).expect("remove setup-done");
        }
    }

    /// Writes the Appliance Administrator's credentials as activation does:
    /// `ADMIN` with an Argon2id hash (TEST salt).
    pub fn write_admin_credentials(&self) {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"TEST salt 16 byt").expect("salt");
        let phc = argon2::Argon2::default()
            .hash_password(ADMIN.1.as_bytes(), &salt)
            .expect("TEST hash")
            .to_string();
        let p = self.dir.path().join("etc/credentials/appliance-admin.json");
        std::fs::create_dir_all(p.parent().expect("parent")).expect("credentials dir");
        let json = serde_json::json!({"login": ADMIN.0, "password_hash": phc});
        std::fs::write(p, json.to_string()).expect("credentials");
    }

    /// The request file `name` the web left for the root side, if any.
    pub fn request(&self, name: &str) -> Option<serde_json::Value> {
        let text = std::fs::read(self.dir.path().join("requests").join(name)).ok()?;
        Some(serde_json::from_slice(&text).expect("request JSON"))
    }
}

/// Claims the wizard with `w`'s code and fills in every step with valid
/// values up to the keys page; returns the session's form token.
pub async fn walk_to_keys(b: &mut super::oneshot::Browser, w: &Wizard) -> String {
    use axum::http::StatusCode;
    let r = b.claim(&w.code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let csrf = b.get("/setup/step/licence").await.csrf();
    let r = b
        .post_multipart(
            "/setup/step/licence",
            &[
                ("csrf", &csrf),
                ("accept", "on"),
                ("licence", &w.licence),
                ("update_key", UPDATE_KEY),
                ("action", "next"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/setup/step/network", "{}", r.body);
    let steps: [(&str, Vec<(&str, &str)>); 4] = [
        (
            "network",
            vec![
                ("mode", "static"),
                ("address", "192.0.2.20"),
                ("netmask", "24"),
                ("gateway", "192.0.2.1"),
                ("hostname", "otp1"),
                ("dns", "192.0.2.53"),
            ],
        ),
        (
            "time",
            vec![
                ("time_zone", "Europe/Berlin"),
                ("ntp", "on"),
                ("ntp_servers", "ntp1.example.test"),
            ],
        ),
        (
            "roles",
            vec![
                ("linotp_admin_user", "admin"),
                ("linotp_admin_password", "Lin0tp-Admin!"),
                ("linotp_admin_repeat", "Lin0tp-Admin!"),
                ("root_password", "R00t-Password#"),
                ("root_repeat", "R00t-Password#"),
                ("appliance_admin_user", ADMIN.0),
                ("appliance_admin_password", ADMIN.1),
                ("appliance_admin_repeat", ADMIN.1),
            ],
        ),
        ("radius", vec![("no_configuration", "on")]),
    ];
    for (step, fields) in steps {
        let mut all = vec![("csrf", csrf.as_str()), ("action", "next")];
        all.extend(fields);
        let r = b.post(&format!("/setup/step/{step}"), &all).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{step}: {}", r.body);
    }
    assert_eq!(b.get("/setup/step/keys").await.status, StatusCode::OK);
    csrf
}
