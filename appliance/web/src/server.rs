//! The accept loop and the life of one connection: admission (global and
//! per-client caps), TLS handshake under a deadline, then HTTP/1.1 with a
//! deadline on every request head. Each connection runs in its own task
//! from the moment it is accepted, so no client can hold the loop.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::certs::{provider, CertStore};
use crate::conns::{Refused, Slot, Stats, Tracker};
use crate::limits::Limits;

/// The only application protocol offered: HTTP/1.1. One protocol keeps one
/// model of deadlines (hyper's head deadline); a few pages gain nothing
/// from HTTP/2.
pub const ALPN: &[u8] = b"http/1.1";

/// The TLS configuration: TLS 1.2 and 1.3 with ring, no client
/// certificates, the certificate from `certs` at every handshake.
pub fn tls_config(certs: Arc<CertStore>) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// A bound, not yet running service.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    limits: Limits,
    tracker: Arc<Tracker>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free one).
    pub async fn bind(
        addr: SocketAddr,
        certs: Arc<CertStore>,
        app: Router,
        limits: Limits,
    ) -> Result<Self, crate::Error> {
        let config = tls_config(certs).map_err(crate::Error::Tls)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| crate::Error::Bind { addr, source })?;
        Ok(Server {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            app,
            tracker: Tracker::new(limits.global, limits.per_client),
            limits,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Open connections and counters.
    pub fn tracker(&self) -> Arc<Tracker> {
        self.tracker.clone()
    }

    /// Accepts forever. An accept error (say, out of file descriptors)
    /// pauses the loop for 50 ms and is logged at most once a minute.
    pub async fn run(self) {
        let refusals = Throttle::new(Duration::from_secs(60));
        let accept_errors = Throttle::new(Duration::from_secs(60));
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    if accept_errors.ready() {
                        eprintln!("appliance-web: accept failed: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.tracker.admit(peer.ip()) {
                Ok(slot) => {
                    tokio::spawn(connection(
                        stream,
                        peer,
                        slot,
                        self.acceptor.clone(),
                        self.app.clone(),
                        self.limits.clone(),
                    ));
                }
                Err(why) => {
                    drop(stream);
                    if refusals.ready() {
                        let s = &self.tracker.stats;
                        let what = match why {
                            Refused::Global => "the service holds its maximum of connections",
                            Refused::PerClient => "one client holds its maximum of connections",
                        };
                        eprintln!(
                            "appliance-web: refusing connections: {what} (refused so far: {} global, {} per client)",
                            Stats::get(&s.refused_global),
                            Stats::get(&s.refused_per_client)
                        );
                    }
                }
            }
        }
    }
}

/// One connection, from accept to close. `slot` is held until it returns.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    acceptor: TlsAcceptor,
    app: Router,
    limits: Limits,
) {
    let tracker = slot.tracker();
    let stats = &tracker.stats;
    let _ = stream.set_nodelay(true);
    let tls = match tokio::time::timeout(limits.handshake, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(_)) => return Stats::bump(&stats.handshake_failures),
        Err(_) => return Stats::bump(&stats.handshake_timeouts),
    };
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head)
        .max_buf_size(limits.head_bytes)
        .max_headers(limits.headers)
        .keep_alive(true);
    if let Err(e) = http.serve_connection(TokioIo::new(tls), service).await {
        if e.is_timeout() {
            Stats::bump(&stats.head_timeouts);
        } else {
            Stats::bump(&stats.connection_errors);
        }
    }
    drop(slot);
}

/// Lets an event through at most once per period (for log lines a client
/// can provoke).
struct Throttle {
    period: Duration,
    last: Mutex<Option<Instant>>,
}

impl Throttle {
    fn new(period: Duration) -> Self {
        Throttle {
            period,
            last: Mutex::new(None),
        }
    }

    fn ready(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < self.period) {
            return false;
        }
        *last = Some(now);
        true
    }
}
