//! A set-up wizard over a temporary state directory: a TEST setup code
//! (secret of sevens), its verifier made by appliance-config, a TEST
//! licence key and licences it signed, the application router.

use std::path::PathBuf;
use std::sync::Arc;

use appliance_config::setup_code::SetupCode;
use appliance_web::app::{router, AppState};
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
    };
    (cfg, code.to_string(), wrong.to_string())
}

impl Wizard {
    pub fn new(limits: GateLimits) -> Wizard {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cfg, code, wrong) = config(dir.path(), limits);
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
        let app = router(
            AppState {
                certs,
                setup: Some(setup.clone()),
            },
            &Limits::default(),
        );
        let vendor = SecretKey::from_seed(LICENCE_SEED, true);
        let other = SecretKey::from_seed([10; 32], true);
        Wizard {
            app,
            setup,
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
