//! `appliance-web`: the appliance's HTTPS service on port 8443. Reads the
//! certificate and key first boot wrote, serves until stopped, and reads
//! them again on SIGHUP (`systemctl reload appliance-web`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use appliance_web::app::{self, AppState};
use appliance_web::certs::CertStore;
use appliance_web::limits::Limits;
use appliance_web::server::Server;

mod flags {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    xflags::xflags! {
        /// Serves the appliance's set-up page over HTTPS (port 8443).
        /// SIGHUP reads the certificate and key again.
        cmd appliance-web {
            /// Address and port to listen on (default 0.0.0.0:8443).
            optional --listen addr: SocketAddr
            /// Certificate chain, PEM (default /etc/appliance/tls/cert.pem).
            optional --cert path: PathBuf
            /// Private key, PEM (default /etc/appliance/tls/key.pem).
            optional --key path: PathBuf
            /// Open connections from one client (default 16).
            optional --per-client-connections n: usize
            /// Open connections in total (default 256).
            optional --connections n: usize
        }
    }
}

/// Where first boot writes the certificate and key.
const CERT: &str = "/etc/appliance/tls/cert.pem";
const KEY: &str = "/etc/appliance/tls/key.pem";
const LISTEN: &str = "0.0.0.0:8443";

fn main() -> anyhow::Result<()> {
    let flags = flags::ApplianceWeb::from_env_or_exit();
    let mut limits = Limits::default();
    if let Some(n) = flags.per_client_connections {
        anyhow::ensure!(n > 0, "--per-client-connections must be at least 1");
        limits.per_client = n;
    }
    if let Some(n) = flags.connections {
        anyhow::ensure!(n > 0, "--connections must be at least 1");
        limits.global = n;
    }
    let listen: SocketAddr = match flags.listen {
        Some(a) => a,
        None => LISTEN.parse().context("default listen address")?,
    };
    let cert = flags.cert.unwrap_or_else(|| PathBuf::from(CERT));
    let key = flags.key.unwrap_or_else(|| PathBuf::from(KEY));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(listen, cert, key, limits))
}

async fn serve(
    listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    limits: Limits,
) -> anyhow::Result<()> {
    let certs = Arc::new(CertStore::load(cert, key)?);
    let app = app::router(
        AppState {
            certs: certs.clone(),
        },
        &limits,
    );
    let server = Server::bind(listen, certs.clone(), app, limits).await?;
    let id = certs.current();
    eprintln!(
        "appliance-web: serving https://{}/ (TLS certificate SHA-256 {}, public key SHA-256 {})",
        server.local_addr().context("local address")?,
        id.cert_sha256,
        id.spki_sha256
    );
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match certs.reload() {
                Ok(id) => eprintln!(
                    "appliance-web: certificate reloaded (TLS certificate SHA-256 {}, public key SHA-256 {})",
                    id.cert_sha256, id.spki_sha256
                ),
                Err(e) => eprintln!("appliance-web: reload failed, still serving the old certificate: {e}"),
            }
        }
    });
    server.run().await;
    Ok(())
}
