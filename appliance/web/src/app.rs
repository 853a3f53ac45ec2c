//! The HTTP application: routes, their shared state, and the headers every
//! response carries. Socket-free, so handlers are tested with
//! `tower::ServiceExt::oneshot`; `server` runs it on TLS connections.
//!
//! The set-up wizard's routes (`setup::routes`, which answer 404 once the
//! appliance is set up) and the dashboard's (`admin::routes`, 404 until
//! then) are merged in. Handlers that need the client's address read
//! `ConnectInfo<SocketAddr>`, which `server` inserts into every request.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::admin::{Site, SiteConfig};
use crate::certs::CertStore;
use crate::limits::Limits;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The certificate being served (its fingerprints are on the page).
    pub certs: Arc<CertStore>,
    /// The set-up wizard, until the appliance is set up.
    pub setup: Option<Arc<crate::setup::Setup>>,
}

/// `Content-Security-Policy` of every response: the pages load nothing from
/// anywhere else, and no other site may frame them.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// Headers set on every response, 404s included. No
/// `Strict-Transport-Security`: browsers ignore it for IP addresses, and
/// on a host name it would remove the click-through that a regenerated
/// self-signed certificate needs.
pub const SECURITY_HEADERS: &[(header::HeaderName, &str)] = &[
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
];

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    response
}

/// `/`: before set-up the ready page (fingerprints, the way to the
/// wizard), after it the Appliance Administrator's sign-in or dashboard.
async fn home(state: AppState, site: Arc<Site>, headers: HeaderMap) -> Response {
    if site.set_up() {
        return crate::admin::home(&site, &headers).await;
    }
    let id = state.certs.current();
    Html(crate::page::ready(
        &id.cert_sha256,
        &id.spki_sha256,
        state.setup.is_some(),
    ))
    .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not Found\n",
    )
        .into_response()
}

/// The application with its body limit, request deadline and headers,
/// and the dashboard on the appliance's own paths.
pub fn router(state: AppState, limits: &Limits) -> Router {
    let site = Site::new(SiteConfig::system(), state.certs.clone());
    router_with(state, site, limits)
}

/// The application with the dashboard `site`.
pub fn router_with(state: AppState, site: Arc<Site>, limits: &Limits) -> Router {
    let wizard = match &state.setup {
        Some(setup) => crate::setup::routes(setup.clone()),
        None => Router::new(),
    };
    let root = {
        let (state, site) = (state.clone(), site.clone());
        move |headers: HeaderMap| home(state, site, headers)
    };
    let upload = crate::admin::upload_routes(site.clone())
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.upload,
        ))
        .layer(axum::middleware::map_response(security_headers));
    Router::new()
        .route("/", get(root))
        .merge(wizard)
        .merge(crate::admin::routes(site))
        .route("/assets/site.css", get(crate::site::css))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(limits.body))
        .layer(RequestBodyLimitLayer::new(limits.body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .merge(crate::otp_proxy::routes(crate::otp_proxy::UPSTREAM, limits))
        .merge(upload)
}
