//! The first-boot set-up wizard on `/setup`: the claim with the setup
//! code, then the six steps in order, each a server-checked form
//! (appliance-wizard's validators) whose result is kept in the wizard's
//! state file.
//!
//! - `gate` — claim limits, the one session, cookies, CSRF and origin rules.
//! - `forms` — posted bodies → the wizard's forms, and back for a recorded step.
//! - `pages` — the HTML (maud), the style sheet and the script.
//! - `store` — the state file (0600), the verifier, the licence key, tzdata.
//! - `handlers` — the routes of the claim and the steps.
//! - `activation` — the final check, the request files for the root side,
//!   the root side's status file.
//! - `activate` — Activate, the progress page, the confirmation of an
//!   address change, and the guard that ends `/setup` once set up.
//! - `respond` — the responses every handler uses.

mod activate;
pub mod activation;
pub mod forms;
pub mod gate;
mod handlers;
pub mod pages;
mod respond;
pub mod store;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use appliance_wizard::date::Date;
use appliance_wizard::licence::LicenceKey;
use appliance_wizard::state::WizardState;
use axum::routing::{get, post};
use axum::Router;

use gate::{Gate, GateLimits};
pub use respond::ClientIp;

/// The product a licence must name unless told otherwise.
pub const PRODUCT: &str = "example-appliance";

/// What the wizard needs from the appliance.
#[derive(Debug, Clone)]
pub struct SetupConfig {
    /// The wizard's progress (written 0600).
    pub state_file: PathBuf,
    /// The setup code's verifier (Argon2id PHC string), read at each claim.
    pub verifier: PathBuf,
    /// The vendor's licence keys (public halves).
    pub licence_keys: Vec<LicenceKey>,
    /// The product a licence must name.
    pub product: String,
    /// The time zones offered.
    pub time_zones: Vec<String>,
    /// Claim and session limits.
    pub limits: GateLimits,
    /// Today's date for licence validity; `None`: the system clock's.
    pub today: Option<Date>,
    /// The configuration the appliance runs now (pre-fills the network
    /// and time steps), if it could be read.
    pub running: Option<appliance_config::state::DesiredState>,
    /// Where requests for the root side are written
    /// (`/var/lib/appliance-web/requests`).
    pub requests_dir: PathBuf,
    /// The root side's activation status (`/run/appliance/activation.json`).
    pub status_file: PathBuf,
    /// Exists once the appliance is set up (`/etc/appliance/setup-done`):
    /// from then on `/setup` answers 404, checked at every request.
    pub setup_done: PathBuf,
    /// The Appliance Administrator's credentials, checked when an address
    /// change is confirmed.
    pub admin_credentials: PathBuf,
}

impl SetupConfig {
    /// The appliance's paths for everything but the wizard's own files.
    pub fn system_paths(state_file: PathBuf, verifier: PathBuf) -> SetupConfig {
        SetupConfig {
            state_file,
            verifier,
            licence_keys: Vec::new(),
            product: PRODUCT.to_string(),
            time_zones: vec!["UTC".to_string()],
            limits: GateLimits::default(),
            today: None,
            running: None,
            requests_dir: PathBuf::from(activation::REQUESTS_DIR),
            status_file: PathBuf::from(activation::STATUS_FILE),
            setup_done: PathBuf::from(appliance_config::paths::SETUP_DONE),
            admin_credentials: PathBuf::from(crate::credentials::APPLIANCE_ADMIN),
        }
    }
}

/// The wizard's shared state.
pub struct Setup {
    cfg: SetupConfig,
    gate: tokio::sync::Mutex<Gate>,
    wizard: tokio::sync::Mutex<WizardState>,
    /// Attempts to confirm an address change (limited like the claim).
    confirms: tokio::sync::Mutex<gate::Attempts>,
    /// Set when Activate was requested: the root side may rewrite the
    /// state file (it removes the passwords), so it is read again before
    /// the wizard goes on.
    reread: AtomicBool,
}

impl Setup {
    /// Reads the stored progress (a new wizard when there is none).
    pub fn new(cfg: SetupConfig) -> Result<Arc<Setup>, store::StoreError> {
        let state = store::load_state(&cfg.state_file)?;
        Ok(Arc::new(Setup {
            gate: tokio::sync::Mutex::new(Gate::new(cfg.limits.clone())),
            wizard: tokio::sync::Mutex::new(state),
            confirms: tokio::sync::Mutex::new(gate::Attempts::new(cfg.limits.clone())),
            reread: AtomicBool::new(false),
            cfg,
        }))
    }

    /// The progress as it is now.
    pub async fn state(&self) -> WizardState {
        self.wizard.lock().await.clone()
    }
}

/// The wizard's routes, to be merged into the application: `/setup` and
/// below (404 once the appliance is set up, except the confirmation of a
/// pending address change), and the activation's progress page.
pub fn routes<S: Clone + Send + Sync + 'static>(setup: Arc<Setup>) -> Router<S> {
    let wizard = Router::new()
        .route("/setup", get(handlers::start))
        .route("/setup/claim", post(handlers::claim))
        .route(
            "/setup/step/{step}",
            get(handlers::show).post(handlers::submit),
        )
        .route(
            "/setup/confirm",
            get(activate::confirm_form).post(activate::confirm),
        )
        .route("/setup/assets/{file}", get(handlers::asset))
        .route_layer(axum::middleware::from_fn_with_state(
            setup.clone(),
            activate::guard,
        ));
    wizard
        .route("/activation", get(activate::progress))
        .with_state(setup)
}
