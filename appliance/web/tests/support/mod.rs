//! Shared pieces of the socket tests: TEST certificates made here with
//! rcgen, a server on a loopback port, and a TLS client that records the
//! certificate it was shown (it checks the handshake signature, and the
//! tests compare the certificate with what they expect).
#![allow(dead_code)] // each test binary uses a part

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appliance_web::app::{router, AppState};
use appliance_web::certs::{colon_hex_sha256, CertStore};
use appliance_web::conns::Tracker;
use appliance_web::limits::Limits;
use appliance_web::server::Server;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A TEST certificate and key (PEM), P-256, for 127.0.0.1 and localhost.
pub fn test_pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("TEST key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("TEST params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "TEST appliance-web");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key).expect("TEST certificate");
    (cert.pem(), key.serialize_pem())
}

/// A directory of its own under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("appliance-web-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes a fresh TEST pair as `cert.pem` and `key.pem` into `dir`.
pub fn write_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = test_pair();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).expect("write cert");
    std::fs::write(&k, key).expect("write key");
    (c, k)
}

/// A running server on 127.0.0.1.
pub struct Running {
    pub addr: SocketAddr,
    pub tracker: Arc<Tracker>,
    pub certs: Arc<CertStore>,
    pub dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the service with `limits` and a TEST certificate in a new task.
pub async fn start(name: &str, limits: Limits) -> Running {
    let dir = temp_dir(name);
    let (c, k) = write_pair(&dir);
    let certs = Arc::new(CertStore::load(c, k).expect("load TEST pair"));
    let app = router(
        AppState {
            certs: certs.clone(),
            setup: None,
        },
        &limits,
    );
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), certs.clone(), app, limits)
        .await
        .expect("bind");
    let addr = server.local_addr().expect("local addr");
    let tracker = server.tracker();
    tokio::spawn(server.run());
    Running {
        addr,
        tracker,
        certs,
        dir,
    }
}

/// TEST-only verifier: accepts whatever certificate the server shows and
/// keeps it, so the test can compare it; the handshake signature is still
/// checked against that certificate's key.
#[derive(Debug, Default)]
pub struct Recorder {
    pub seen: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &appliance_web::certs::provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &appliance_web::certs::provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        appliance_web::certs::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TCP connection to `addr` from the loopback address `from`.
pub async fn tcp_from(from: Ipv4Addr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    socket.connect(addr).await
}

/// TLS over `tcp`; returns the stream and the certificate shown.
pub async fn tls(tcp: TcpStream) -> std::io::Result<(TlsStream<TcpStream>, Vec<u8>)> {
    let recorder = Arc::new(Recorder::default());
    let mut config = ClientConfig::builder_with_provider(appliance_web::certs::provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let seen = recorder.seen.lock().unwrap().take().expect("a certificate");
    Ok((stream, seen))
}

/// What one GET returned.
#[derive(Debug)]
pub struct Fetched {
    /// `HTTP/1.1 200 OK`.
    pub status: String,
    /// The whole response, head and body.
    pub text: String,
    /// SHA-256 (colon hex) of the certificate the server showed.
    pub cert_sha256: String,
}

/// `GET path` from the loopback address `from`, `Connection: close`.
pub async fn get(from: Ipv4Addr, addr: SocketAddr, path: &str) -> std::io::Result<Fetched> {
    let (mut stream, cert) = tls(tcp_from(from, addr).await?).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut bytes = Vec::new();
    // The server ends with close_notify; a bare EOF after the body is fine too.
    match stream.read_to_end(&mut bytes).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !bytes.is_empty() => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(Fetched {
        status: text.lines().next().unwrap_or("").to_owned(),
        text,
        cert_sha256: colon_hex_sha256(&cert),
    })
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// Reads until the peer closes (EOF or an error); how long that took.
pub async fn closed_within<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    limit: Duration,
) -> Option<Duration> {
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 512];
    let until_closed = async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, until_closed)
        .await
        .ok()
        .map(|()| start.elapsed())
}
pub mod oneshot;
pub mod setup;
