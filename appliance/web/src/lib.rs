//! The reference appliance's HTTPS service on port 8443: axum on hyper's
//! HTTP/1.1 over tokio-rustls, with deadlines and connection caps against
//! slow or greedy clients, and a certificate that can be swapped while the
//! service runs.
//!
//! - `certs` — PEM files → rustls `CertifiedKey` + fingerprints; `CertStore`
//!   (an `ArcSwap`) is the `ResolvesServerCert`, `reload` reads the files again.
//! - `limits` — every limit and its default.
//! - `conns` — admission: global and per-client caps, counters.
//! - `app` — routes, state, security headers (socket-free).
//! - `page` — the HTML of the page shown until the wizard exists.
//! - `server` — the accept loop and one task per connection.
//! - `setup` — the first-boot set-up wizard on `/setup`, Activate and the
//!   activation's progress.
//! - `admin` — after set-up: the Appliance Administrator's sign-in and the
//!   dashboard.
//! - `credentials` — a web role's credentials file (Argon2id).
//! - `site` — the layout and style sheet of the pages outside the steps.
//! - `otp_proxy` — the OTP service's paths, forwarded to its loopback port.

pub mod admin;
pub mod app;
pub mod certs;
pub mod conns;
pub mod credentials;
pub mod limits;
pub mod otp_proxy;
pub mod page;
pub mod server;
pub mod setup;
pub mod site;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cert(#[from] certs::CertError),
    #[error("cannot build the TLS configuration: {0}")]
    Tls(rustls::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
