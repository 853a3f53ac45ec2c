//! The appliance's OTP service over HTTP, on top of the `appliance-otp`
//! core: one [`router`] that a server mounts.
//!
//! - `validate/check`, `validate/simplecheck` (the core's `http` routes);
//! - `userservice/resync` (self-service, policy-gated) — [`api`];
//! - the admin JSON API under `/admin/` (LinOTP's names) — [`api`];
//! - the management pages under `/manage/` — [`pages`];
//! - the administrator's login, sessions and CSRF — [`session`];
//! - enrolment parameters, `otpauth://` URIs and QR codes — [`enrol`];
//! - FreeRADIUS's configuration (rlm_rest against `validate/check`) —
//!   [`radius`];
//! - the `appliance-otp` program's configuration file — [`config`];
//! - what the program needs on the appliance before it starts (database,
//!   its user and password, configuration) — [`provision`].
//!
//! Socket-free: handlers are tested with `tower::ServiceExt::oneshot`; the
//! program (`src/main.rs`) serves the router on a loopback port, the
//! appliance's 8443 server mounts it beside the wizard.

pub mod api;
pub mod config;
pub mod enrol;
pub mod pages;
pub mod provision;
pub mod radius;
pub mod session;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use appliance_otp::audit::AuditSink;
use appliance_otp::service::Service;
use appliance_otp::store::TokenStore;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;

use crate::session::{AdminCredentials, Sessions};

/// The audit sink the service writes to (a file on the appliance, memory
/// in tests).
pub type Audit = Arc<dyn AuditSink>;

/// What the handlers share.
pub struct OtpWeb<S> {
    pub service: Arc<Service<S, Audit>>,
    pub admin: AdminCredentials,
    pub sessions: Sessions,
    /// The issuer shown in authenticator apps (`otpauth://…?issuer=`).
    pub issuer: String,
}

impl<S: TokenStore + 'static> OtpWeb<S> {
    pub fn new(service: Service<S, Audit>, admin: AdminCredentials, issuer: &str) -> OtpWeb<S> {
        OtpWeb {
            service: Arc::new(service),
            admin,
            sessions: Sessions::default(),
            issuer: issuer.to_string(),
        }
    }
}

pub(crate) type App<S> = Arc<OtpWeb<S>>;

/// Seconds since the Unix epoch (a clock before 1970 counts as 1970).
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `Content-Security-Policy` of the pages: nothing from elsewhere, no
/// inline script or style, no framing.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Every route of the OTP service. A server mounts it as it is
/// (`Router::merge`): the paths are LinOTP's (`/validate/…`,
/// `/userservice/…`, `/admin/…`) plus `/manage/…` for the pages.
pub fn router<S: TokenStore + 'static>(app: Arc<OtpWeb<S>>) -> Router {
    Router::new()
        .merge(appliance_otp::http::router(Arc::clone(&app.service)))
        .merge(api::routes(Arc::clone(&app)))
        .merge(pages::routes(app))
        .layer(axum::middleware::map_response(security_headers))
}
