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
use appliance_web::setup::{self, store, Setup, SetupConfig};

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
            /// The set-up wizard's progress file (default
            /// /var/lib/appliance-web/wizard.json, written 0600).
            optional --wizard-state path: PathBuf
            /// The setup code's verifier (default /etc/appliance/setup-code.hash).
            optional --setup-code-hash path: PathBuf
            /// The vendor's licence key, public half (default
            /// /usr/share/appliance/licence-key.pub).
            optional --licence-key path: PathBuf
            /// tzdata's directory (default /usr/share/zoneinfo).
            optional --zoneinfo path: PathBuf
            /// The product a licence must name (default example-appliance).
            optional --product name: String
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
    let cert = flags.cert.clone().unwrap_or_else(|| PathBuf::from(CERT));
    let key = flags.key.clone().unwrap_or_else(|| PathBuf::from(KEY));
    // The wizard's routes are there after set-up too (they answer 404
    // then, except the confirmation of a pending address change, which
    // must survive a restart); a wizard that cannot start after set-up is
    // no reason to stop serving the dashboard.
    let done = std::path::Path::new(appliance_config::paths::SETUP_DONE).exists();
    let setup = match setup_config(&flags).and_then(|c| Ok(Setup::new(c)?)) {
        Ok(s) => Some(s),
        Err(e) if done => {
            eprintln!("appliance-web: set up; the wizard's routes stay off: {e:#}");
            None
        }
        Err(e) => return Err(e),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(listen, cert, key, limits, setup))
}

/// The wizard's configuration.
fn setup_config(flags: &flags::ApplianceWeb) -> anyhow::Result<SetupConfig> {
    let path =
        |p: &Option<PathBuf>, default: &str| p.clone().unwrap_or_else(|| PathBuf::from(default));
    let zoneinfo = path(&flags.zoneinfo, store::ZONEINFO);
    let system = SetupConfig::system_paths(
        path(&flags.wizard_state, store::STATE_FILE),
        path(&flags.setup_code_hash, appliance_config::paths::SETUP_HASH),
    );
    Ok(SetupConfig {
        licence_keys: store::load_licence_keys(&path(&flags.licence_key, store::LICENCE_KEY))?,
        product: flags
            .product
            .clone()
            .unwrap_or_else(|| setup::PRODUCT.to_string()),
        // Without tzdata the service still serves (the fingerprints, the
        // claim); the time step then offers UTC alone and the log says why.
        time_zones: store::load_time_zones(&zoneinfo).unwrap_or_else(|e| {
            eprintln!("appliance-web: the time step offers UTC only: {e} (--zoneinfo)");
            vec!["UTC".to_string()]
        }),
        running: running_state(),
        ..system
    })
}

/// The configuration generation the appliance runs, to pre-fill the
/// wizard; unreadable is not fatal (the forms start empty).
fn running_state() -> Option<appliance_config::state::DesiredState> {
    match appliance_config::generation::Store::new(std::path::Path::new("/")).current() {
        Ok(Some((_, s))) => Some(s),
        Ok(None) => None,
        Err(e) => {
            eprintln!("appliance-web: the set-up wizard starts with empty forms: {e}");
            None
        }
    }
}

async fn serve(
    listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    limits: Limits,
    setup: Option<Arc<Setup>>,
) -> anyhow::Result<()> {
    let certs = Arc::new(CertStore::load(cert, key)?);
    let app = app::router(
        AppState {
            certs: certs.clone(),
            setup,
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
