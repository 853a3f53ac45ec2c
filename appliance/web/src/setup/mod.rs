//! The first-boot set-up wizard on `/setup`: the claim with the setup
//! code, then the six steps in order, each a server-checked form
//! (appliance-wizard's validators) whose result is kept in the wizard's
//! state file.
//!
//! - `gate` — claim limits, the one session, cookies, CSRF and origin rules.
//! - `forms` — posted bodies → the wizard's forms, and back for a recorded step.
//! - `pages` — the HTML (maud), the style sheet and the script.
//! - `store` — the state file (0600), the verifier, the licence key, tzdata.
//! - `handlers` — the routes.

pub mod forms;
pub mod gate;
mod handlers;
pub mod pages;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;

use appliance_wizard::date::Date;
use appliance_wizard::licence::LicenceKey;
use appliance_wizard::state::WizardState;
use axum::routing::{get, post};
use axum::Router;

use gate::{Gate, GateLimits};

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
}

/// The wizard's shared state.
pub struct Setup {
    cfg: SetupConfig,
    gate: tokio::sync::Mutex<Gate>,
    wizard: tokio::sync::Mutex<WizardState>,
}

impl Setup {
    /// Reads the stored progress (a new wizard when there is none).
    pub fn new(cfg: SetupConfig) -> Result<Arc<Setup>, store::StoreError> {
        let state = store::load_state(&cfg.state_file)?;
        Ok(Arc::new(Setup {
            gate: tokio::sync::Mutex::new(Gate::new(cfg.limits.clone())),
            wizard: tokio::sync::Mutex::new(state),
            cfg,
        }))
    }

    /// The progress as it is now.
    pub async fn state(&self) -> WizardState {
        self.wizard.lock().await.clone()
    }
}

/// The wizard's routes, to be merged into the application.
pub fn routes<S: Clone + Send + Sync + 'static>(setup: Arc<Setup>) -> Router<S> {
    Router::new()
        .route("/setup", get(handlers::start))
        .route("/setup/claim", post(handlers::claim))
        .route(
            "/setup/step/{step}",
            get(handlers::show).post(handlers::submit),
        )
        .route("/setup/assets/{file}", get(handlers::asset))
        .with_state(setup)
}
