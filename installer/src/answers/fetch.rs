//! Fetching an answer file over http(s) with the trust the kernel command
//! line chose ([`Tls`]): the vendor CA alone, a pinned certificate
//! fingerprint, or (when the file itself is pinned by its SHA-256) whatever
//! CA certificates the initramfs has.
//!
//! The URL is a [`SecretUrl`]: messages show it masked (no user name,
//! password, query or fragment); only the request itself gets it whole.

use super::volume;
use crate::secret::SecretUrl;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Which certificates an https server may present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Certificates chaining to these PEM CA certificates (no built-in
    /// roots). Empty: https cannot be checked at all.
    Roots(Vec<u8>),
    /// A certificate whose SHA-256 (of its DER encoding) is this: the
    /// server's own, or a CA certificate the server sends that signed it.
    Fingerprint([u8; 32]),
}

/// The server's certificate (or one of the CA certificates it sends and
/// that its certificate chains to) must have the pinned SHA-256. A pinned
/// server certificate is accepted whatever its name and dates, as the key is
/// what is pinned; a pinned CA is checked like any trust anchor.
#[derive(Debug)]
struct PinnedVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

fn sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if sha256(end_entity) == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        let Some(ca) = intermediates.iter().find(|c| sha256(c) == self.pin) else {
            return Err(rustls::Error::General(
                "no certificate the server sent has the SHA-256 given by installer.answers_cert_sha256"
                    .into(),
            ));
        };
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(format!("the pinned CA is unusable: {e}")))?;
        let others: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .filter(|c| sha256(c) != self.pin)
            .cloned()
            .collect();
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?
        .verify_server_cert(end_entity, &others, server_name, ocsp_response, now)
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

/// The HTTP client for `tls`. `https_only`: redirects to plain http are
/// refused (an https URL stays authenticated to its end).
fn client(tls: &Tls, https_only: bool) -> Result<reqwest::blocking::Client, String> {
    let builder = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .https_only(https_only)
        .no_proxy();
    let builder = match tls {
        Tls::Roots(pem) => {
            let mut b = builder.use_rustls_tls().tls_built_in_root_certs(false);
            for der in CertificateDer::pem_slice_iter(pem).flatten() {
                if let Ok(cert) = reqwest::Certificate::from_der(&der) {
                    b = b.add_root_certificate(cert);
                }
            }
            b
        }
        Tls::Fingerprint(pin) => {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = PinnedVerifier {
                pin: *pin,
                provider: provider.clone(),
            };
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            builder.use_preconfigured_tls(config)
        }
    };
    builder.build().map_err(describe)
}

/// A reqwest error with its causes, without the URL (which may hold a
/// password or a token).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// GET with up to `attempts` tries, waiting `first_wait` and then twice as
/// long each time (2, 4, 8 s for the installer); client errors (4xx) are not
/// retried. At most 1 MiB is read.
pub fn fetch(
    url: &SecretUrl,
    tls: &Tls,
    say: &mut dyn FnMut(&str),
    attempts: u32,
    first_wait: Duration,
) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = url.to_string();
    let client = client(tls, url.expose().starts_with("https://"))
        .map_err(|e| format!("cannot fetch {shown}: {e}"))?;
    let mut last = String::new();
    let mut wait = first_wait;
    for attempt in 1..=attempts {
        if attempt > 1 {
            say(&format!("  retrying in {} s ({last})", wait.as_secs()));
            std::thread::sleep(wait);
            wait *= 2;
        }
        match client.get(url.expose()).send() {
            Ok(resp) if resp.status().is_success() => {
                let mut data = Vec::new();
                resp.take(volume::MAX_SIZE + 1)
                    .read_to_end(&mut data)
                    .map_err(|e| format!("cannot read {shown}: {e}"))?;
                if data.len() as u64 > volume::MAX_SIZE {
                    return Err(format!("{shown} is larger than 1 MiB"));
                }
                say(&format!("  fetched {} bytes", data.len()));
                return Ok(data);
            }
            Ok(resp) if resp.status().is_client_error() => {
                return Err(format!("{shown} answered {}", resp.status()));
            }
            Ok(resp) => last = format!("{shown} answered {}", resp.status()),
            Err(e) => last = format!("cannot fetch {shown}: {}", describe(e)),
        }
    }
    Err(format!("{last} (after {attempts} attempts)"))
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
