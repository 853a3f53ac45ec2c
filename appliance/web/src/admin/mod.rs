//! The appliance's pages after set-up (`/etc/appliance/setup-done`, read
//! at every request): `/` asks for the Appliance Administrator's
//! credentials, then the dashboard shows System → Status, System →
//! Backup, System → Restore and System → Advanced → SSH configuration.
//! Before set-up these routes answer 404.
//!
//! - `sessions` — the administrator's sessions (`__Host-admin`).
//! - `facts` — what the status page shows, read at each request.
//! - `ssh` — host key fingerprints as `ssh-keygen -l` shows them.
//! - `pages` — the HTML (maud), `handlers` — the routes.
//! - `jobs` — backup and restore without a socket: the forms' rules, the
//!   requests to the root side and its status; `backup_pages` their HTML,
//!   `backup` their routes, `upload` System → Restore's upload (its route
//!   has its own body limit).

mod backup;
pub mod backup_pages;
pub mod facts;
mod handlers;
pub mod jobs;
pub mod pages;
pub mod sessions;
pub mod ssh;
mod upload;

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::certs::CertStore;
use crate::setup::gate::{Attempts, GateLimits};

pub use handlers::home;

/// What the dashboard reads.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// Exists once the appliance is set up.
    pub setup_done: PathBuf,
    /// The Appliance Administrator's credentials file.
    pub credentials: PathBuf,
    /// The file system the facts are read from (`/`).
    pub root: PathBuf,
    /// Sign-in attempts (per client and in all, per window) and the
    /// sessions' idle time.
    pub limits: GateLimits,
    /// Backup and restore: the requests, their status, the files.
    pub backup: jobs::BackupConfig,
}

impl SiteConfig {
    /// The appliance's own paths.
    pub fn system() -> SiteConfig {
        SiteConfig {
            setup_done: PathBuf::from(appliance_config::paths::SETUP_DONE),
            credentials: PathBuf::from(crate::credentials::APPLIANCE_ADMIN),
            root: PathBuf::from("/"),
            limits: GateLimits::default(),
            backup: jobs::BackupConfig::system(),
        }
    }
}

/// The dashboard's shared state.
pub struct Site {
    cfg: SiteConfig,
    certs: Arc<CertStore>,
    sessions: tokio::sync::Mutex<sessions::Sessions>,
    logins: tokio::sync::Mutex<Attempts>,
    /// The id of the last backup request.
    backup_job: tokio::sync::Mutex<Option<String>>,
    /// An upload between its check and its restore.
    restore: tokio::sync::Mutex<Option<backup::PendingRestore>>,
}

impl Site {
    /// No one signed in yet.
    pub fn new(cfg: SiteConfig, certs: Arc<CertStore>) -> Arc<Site> {
        Arc::new(Site {
            sessions: tokio::sync::Mutex::new(sessions::Sessions::new(cfg.limits.idle)),
            logins: tokio::sync::Mutex::new(Attempts::new(cfg.limits.clone())),
            backup_job: tokio::sync::Mutex::new(None),
            restore: tokio::sync::Mutex::new(None),
            certs,
            cfg,
        })
    }

    /// Whether the appliance is set up (now, not at start).
    pub fn set_up(&self) -> bool {
        self.cfg.setup_done.exists()
    }
}

/// The dashboard's routes (`/` is the application's: it is the ready page
/// before set-up and [`home`] after).
pub fn routes<S: Clone + Send + Sync + 'static>(site: Arc<Site>) -> Router<S> {
    Router::new()
        .route("/login", post(handlers::login))
        .route("/logout", post(handlers::logout))
        .route("/system/status", get(handlers::status))
        .route("/system/advanced/ssh", get(handlers::ssh))
        .route(
            "/system/backup",
            get(backup::backup_page).post(backup::backup_create),
        )
        .route("/system/backup/download/{name}", get(backup::download))
        .route(
            "/system/restore",
            get(backup::restore_page).post(backup::restore_start),
        )
        .route("/system/restore/cancel", post(backup::restore_cancel))
        .route_layer(axum::middleware::from_fn_with_state(
            site.clone(),
            handlers::guard,
        ))
        .with_state(site)
}

/// The upload of System → Restore: outside the application's small body
/// limit (the handler counts against `BackupConfig::upload_cap` itself and
/// answers with the form and its message).
pub fn upload_routes<S: Clone + Send + Sync + 'static>(site: Arc<Site>) -> Router<S> {
    Router::new()
        .route("/system/restore/upload", post(upload::upload))
        .route_layer(axum::middleware::from_fn_with_state(
            site.clone(),
            handlers::guard,
        ))
        .with_state(site)
}
