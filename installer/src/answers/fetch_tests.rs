use super::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::PrivateKeyDer;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::SystemTime;
use time::OffsetDateTime;

const BODY: &[u8] = br#"{"version": 1}"#;

struct Ca {
    der: Vec<u8>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn validity(p: &mut CertificateParams) {
    let now = OffsetDateTime::from(SystemTime::now());
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(1);
}

fn ca(cn: &str) -> Ca {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    validity(&mut p);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A certificate for 127.0.0.1 signed by `ca` (or self-signed): chain DER
/// (the server's certificate first, then `ca`'s) and the key.
fn server_cert(ca: Option<&Ca>) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "TEST ONLY answers");
    p.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
    validity(&mut p);
    let key = KeyPair::generate().unwrap();
    let chain = match ca {
        Some(ca) => vec![
            p.signed_by(&key, &ca.issuer).unwrap().der().to_vec(),
            ca.der.clone(),
        ],
        None => vec![p.self_signed(&key).unwrap().der().to_vec()],
    };
    (chain, key.serialize_der())
}

/// An https server on 127.0.0.1 answering every connection with BODY;
/// returns its URL.
fn serve(chain: Vec<Vec<u8>>, key: Vec<u8>) -> String {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        BODY.len()
    );
    serve_head(chain, key, head)
}

/// An https server on 127.0.0.1 answering every connection with `head`
/// and BODY; returns its URL.
fn serve_head(chain: Vec<Vec<u8>>, key: Vec<u8>, head: String) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            chain.into_iter().map(CertificateDer::from).collect(),
            PrivateKeyDer::try_from(key).unwrap(),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut buf = [0u8; 4096];
            // A failed handshake ends this connection only.
            if tls.read(&mut buf).is_err() {
                continue;
            }
            let _ = tls.write_all(head.as_bytes());
            let _ = tls.write_all(BODY);
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    format!("https://127.0.0.1:{port}/a.json?token=t0ken")
}

fn get(url: &str, tls: &Tls) -> Result<Vec<u8>, String> {
    fetch(&SecretUrl::new(url), tls, &mut |_| {}, 1, Duration::ZERO)
}

#[test]
fn a_pinned_server_certificate_is_accepted_and_any_other_refused() {
    let (chain, key) = server_cert(None);
    let pin = sha256(&chain[0]);
    let url = serve(chain, key);
    assert_eq!(get(&url, &Tls::Fingerprint(pin)).unwrap(), BODY);
    let e = get(&url, &Tls::Fingerprint([7; 32])).unwrap_err();
    assert!(e.contains("installer.answers_cert_sha256"), "{e}");
    assert!(!e.contains("t0ken"), "{e}");
    // Without a pin the self-signed certificate is not trusted.
    let other = ca("TEST ONLY other");
    assert!(get(&url, &Tls::Roots(other.pem.into_bytes())).is_err());
}

#[test]
fn a_pinned_ca_must_have_signed_the_server_certificate() {
    let vendor = ca("TEST ONLY vendor");
    let (chain, key) = server_cert(Some(&vendor));
    let url = serve(chain, key);
    assert_eq!(
        get(&url, &Tls::Fingerprint(sha256(&vendor.der))).unwrap(),
        BODY
    );
    assert_eq!(
        get(&url, &Tls::Roots(vendor.pem.clone().into_bytes())).unwrap(),
        BODY
    );
    // A server that sends the pinned CA's certificate next to one the CA did
    // not sign is refused.
    let (mut forged, key) = server_cert(Some(&ca("TEST ONLY attacker")));
    forged[1] = vendor.der.clone();
    let url = serve(forged, key);
    assert!(get(&url, &Tls::Fingerprint(sha256(&vendor.der))).is_err());
    assert!(get(&url, &Tls::Roots(Vec::new())).is_err());
}

#[test]
fn an_authenticated_server_cannot_redirect_to_plain_http() {
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap().port();
    let (chain, key) = server_cert(None);
    let pin = sha256(&chain[0]);
    let head = format!(
        "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/a.json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        BODY.len()
    );
    let url = serve_head(chain, key, head);
    let e = get(&url, &Tls::Fingerprint(pin)).unwrap_err();
    assert!(e.contains("URL scheme is not allowed"), "{e}");
    drop(plain);
}

#[test]
fn fetch_errors_never_show_credentials_and_retries_are_bounded() {
    // A port nobody listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://admin:s3cret@127.0.0.1:{port}/a.json?token=t0ken");
    let mut lines = Vec::new();
    let e = fetch(
        &SecretUrl::new(url),
        &Tls::Roots(Vec::new()),
        &mut |l| lines.push(l.to_string()),
        3,
        Duration::ZERO,
    )
    .unwrap_err();
    assert!(
        e.starts_with(&format!(
            "cannot fetch http://***@127.0.0.1:{port}/a.json?***: "
        )),
        "{e}"
    );
    assert!(e.ends_with("(after 3 attempts)"), "{e}");
    let all = format!("{e}\n{}", lines.join("\n"));
    assert!(!all.contains("s3cret") && !all.contains("t0ken"), "{all}");
    assert_eq!(lines.len(), 2, "two retries: {lines:?}");
}
