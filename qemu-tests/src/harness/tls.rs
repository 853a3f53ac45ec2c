//! A TLS client that trusts exactly one certificate, by the SHA-256
//! fingerprint a guest printed (the appliance's self-signed one), and the
//! host port a QEMU port forward uses to reach it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Accepts exactly the server certificate with this SHA-256 (of its DER);
/// handshake signatures are still verified with the certificate's key.
#[derive(Debug)]
pub struct PinnedCert {
    sha256: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl PinnedCert {
    /// Pins `fingerprint` (hex, with or without colons, any case).
    pub fn new(fingerprint: &str) -> Result<PinnedCert> {
        let hex: String = fingerprint.chars().filter(|c| *c != ':').collect();
        ensure!(
            hex.len() == 64,
            "fingerprint {fingerprint:?} is not 32 bytes of hex"
        );
        let mut sha256 = [0u8; 32];
        for (i, b) in sha256.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .with_context(|| format!("fingerprint {fingerprint:?} is not hex"))?;
        }
        Ok(PinnedCert {
            sha256,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the pinned one".into(),
            ))
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `GET /` over HTTPS from `127.0.0.1:port`, accepting only the pinned
/// certificate. Returns the whole response (status line, headers, body).
pub fn https_get(port: u16, fingerprint: &str) -> Result<String> {
    Ok(https_fetch(port, fingerprint)?.response)
}

/// What [`https_fetch`] got.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The whole response (status line, headers, body).
    pub response: String,
    /// The server's certificate (DER), the pinned one.
    pub certificate: Vec<u8>,
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo in standard base64
/// (the value Chromium's `--ignore-certificate-errors-spki-list` takes).
pub fn spki_sha256_b64(cert_der: &[u8]) -> Result<String> {
    use base64::Engine;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| anyhow::anyhow!("the server's certificate does not parse: {e}"))?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    Ok(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki)))
}

/// [`https_get`], also returning the certificate the server presented.
pub fn https_fetch(port: u16, fingerprint: &str) -> Result<Fetched> {
    https_request(
        port,
        fingerprint,
        b"GET / HTTP/1.1\r\nHost: appliance\r\nConnection: close\r\n\r\n",
    )
}

/// Sends `request` (a whole HTTP/1.1 request, `Connection: close`) over
/// HTTPS to `127.0.0.1:port`, accepting only the pinned certificate, and
/// reads the response to the end.
pub fn https_request(port: u16, fingerprint: &str, request: &[u8]) -> Result<Fetched> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCert::new(fingerprint)?))
        .with_no_client_auth();
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(20)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request)?;
    let mut out = Vec::new();
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        // Some servers close without close_notify; keep what arrived.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let certificate = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .context("the server presented no certificate")?;
    Ok(Fetched {
        response: String::from_utf8_lossy(&out).into_owned(),
        certificate,
    })
}

/// A SHA-256 fingerprint in hex as the appliance's console shows it:
/// upper case, a colon between bytes (`AB:CD:…`).
pub fn colon_fingerprint(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// A free TCP port on the host's loopback (for a QEMU port forward).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-thread TLS server with a fresh self-signed certificate; answers
    /// `n` connections with a fixed page. Returns (port, fingerprint hex,
    /// base64 SHA-256 of the key's SubjectPublicKeyInfo as rcgen writes it).
    fn tls_server(n: usize) -> (u16, String, String) {
        use base64::Engine;
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&ck.signing_key);
        let spki = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki));
        let der = ck.cert.der().to_vec();
        let fp: String = Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(der)],
                rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into()),
            )
            .unwrap();
        let cfg = Arc::new(cfg);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for _ in 0..n {
                let Ok((tcp, _)) = listener.accept() else {
                    return;
                };
                let conn = rustls::ServerConnection::new(Arc::clone(&cfg)).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 1024];
                if s.read(&mut buf).is_ok() {
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
                    );
                    s.conn.send_close_notify();
                    let _ = s.flush();
                }
            }
        });
        (port, fp, spki)
    }

    #[test]
    fn pinned_client_accepts_only_the_printed_certificate() {
        let (port, fp, spki) = tls_server(4);
        let page = https_get(port, &fp).unwrap();
        assert!(
            page.starts_with("HTTP/1.1 200 OK") && page.ends_with("hi"),
            "{page}"
        );
        // The colon form (as printed on the console) works too.
        assert!(https_get(port, &colon_fingerprint(&fp)).is_ok());
        let wrong = format!(
            "{}{}",
            if fp.starts_with('0') { "1" } else { "0" },
            &fp[1..]
        );
        // The certificate comes back, and its public key hash is the SPKI's.
        let got = https_fetch(port, &fp).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&got.certificate)), fp);
        assert_eq!(spki_sha256_b64(&got.certificate).unwrap(), spki);
        assert!(spki_sha256_b64(b"not DER").is_err());
        let err = format!("{:#}", https_get(port, &wrong).unwrap_err());
        assert!(err.contains("not the pinned one"), "{err}");
        assert!(PinnedCert::new("abcd").is_err());
    }
}
