//! The certificate the service presents: loaded from PEM files, checked
//! against its key, held behind an `ArcSwap` so a reload swaps it for the
//! next handshake without a restart, and the two fingerprints the console
//! and the page show.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

/// Why a certificate and key could not be loaded. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The file could not be read (missing, or no permission).
    #[error("cannot read {path}: {source}{hint}", hint = read_hint(source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The certificate file holds no PEM `CERTIFICATE` block.
    #[error("{path}: no PEM CERTIFICATE block ({detail})")]
    NoCertificate { path: PathBuf, detail: String },
    /// The key file holds no PEM private key block.
    #[error("{path}: no PEM private key (PKCS#8, SEC1 or PKCS#1) ({detail})")]
    NoKey { path: PathBuf, detail: String },
    /// The first certificate is not valid X.509.
    #[error("{path}: the first certificate is not valid X.509: {detail}")]
    BadCertificate { path: PathBuf, detail: String },
    /// rustls refused the key, or the key does not belong to the certificate.
    #[error("{key}: the key cannot be used with {cert}: {source}")]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

fn read_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            " (first boot writes it; is appliance-firstboot.service done?)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (the service reads it through its group: root:appliance-web, mode 0640)"
        }
        _ => "",
    }
}

/// A loaded certificate chain with its key and fingerprints.
#[derive(Clone)]
pub struct Identity {
    /// What rustls presents.
    pub certified: Arc<CertifiedKey>,
    /// SHA-256 of the end-entity certificate (DER) as colon hex, `AB:CD:…`.
    pub cert_sha256: String,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo (DER), standard
    /// base64: the value of Chromium's `--ignore-certificate-errors-spki-list`.
    pub spki_sha256: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert_sha256", &self.cert_sha256)
            .field("spki_sha256", &self.spki_sha256)
            .finish_non_exhaustive()
    }
}

/// The crypto provider of the service (ring: the one rcgen uses too).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of `der` as uppercase hex pairs joined by colons, the way
/// browsers show a certificate's fingerprint.
pub fn colon_hex_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-256 of `der` in standard base64 (with padding).
pub fn base64_sha256(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(der))
}

/// The DER SubjectPublicKeyInfo of a DER certificate.
pub fn spki_der(cert_der: &[u8]) -> Result<Vec<u8>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| e.to_string())?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}

impl Identity {
    /// Parses PEM text; `cert_path` and `key_path` only name the sources in errors.
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, CertError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| CertError::NoCertificate {
                path: cert_path.to_owned(),
                detail: e.to_string(),
            })?;
        let Some(leaf) = chain.first() else {
            return Err(CertError::NoCertificate {
                path: cert_path.to_owned(),
                detail: "the file is empty".into(),
            });
        };
        let spki = spki_der(leaf).map_err(|detail| CertError::BadCertificate {
            path: cert_path.to_owned(),
            detail,
        })?;
        let cert_sha256 = colon_hex_sha256(leaf);
        let spki_sha256 = base64_sha256(&spki);
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| CertError::NoKey {
            path: key_path.to_owned(),
            detail: e.to_string(),
        })?;
        let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|source| {
            CertError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
                source,
            }
        })?;
        Ok(Identity {
            certified: Arc::new(certified),
            cert_sha256,
            spki_sha256,
        })
    }

    /// Reads and parses the two files.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, CertError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| CertError::Read {
                path: p.to_owned(),
                source,
            })
        };
        let cert = read(cert_path)?;
        let key = read(key_path)?;
        Identity::from_pem(&cert, &key, cert_path, key_path)
    }
}

/// The served identity, swappable while connections are open: a handshake
/// takes whatever is current when its ClientHello arrives; connections
/// already open keep theirs.
#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<Identity>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl CertStore {
    /// Serves `id`; [`CertStore::reload`] reads the two paths.
    pub fn new(id: Identity, cert_path: PathBuf, key_path: PathBuf) -> Self {
        CertStore {
            current: ArcSwap::from_pointee(id),
            cert_path,
            key_path,
        }
    }

    /// Loads the files once; they are read again by [`CertStore::reload`].
    pub fn load(cert_path: PathBuf, key_path: PathBuf) -> Result<Self, CertError> {
        let id = Identity::load(&cert_path, &key_path)?;
        Ok(CertStore {
            current: ArcSwap::from_pointee(id),
            cert_path,
            key_path,
        })
    }

    /// The identity served now.
    pub fn current(&self) -> Arc<Identity> {
        self.current.load_full()
    }

    /// Reads the files again and serves them from the next handshake on.
    /// On error the old identity stays in service. Returns the new one.
    pub fn reload(&self) -> Result<Arc<Identity>, CertError> {
        let id = Arc::new(Identity::load(&self.cert_path, &self.key_path)?);
        self.current.store(id.clone());
        Ok(id)
    }

    /// Serves `id` from the next handshake on (for a caller that made the
    /// key itself and has already written the files).
    pub fn replace(&self, id: Identity) {
        self.current.store(Arc::new(id));
    }

    /// The files this store reads.
    pub fn paths(&self) -> (&Path, &Path) {
        (&self.cert_path, &self.key_path)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load().certified.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["TEST.invalid".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn paths() -> (PathBuf, PathBuf) {
        ("cert.pem".into(), "key.pem".into())
    }

    #[test]
    fn fingerprints_match_an_independent_computation() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["TEST.invalid".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = paths();
        let id = Identity::from_pem(
            cert.pem().as_bytes(),
            key.serialize_pem().as_bytes(),
            &c,
            &k,
        )
        .unwrap();
        let want: Vec<String> = Sha256::digest(cert.der())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(id.cert_sha256, want.join(":"));
        assert_eq!(id.cert_sha256.len(), 32 * 3 - 1);
        // rcgen's own DER of the public key is the SPKI.
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        assert_eq!(
            id.spki_sha256,
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&spki))
        );
        assert_eq!(id.spki_sha256.len(), 44);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_both_files() {
        let (cert, _) = pair();
        let (_, other_key) = pair();
        let (c, k) = paths();
        let err = Identity::from_pem(cert.as_bytes(), other_key.as_bytes(), &c, &k).unwrap_err();
        assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("key.pem: the key cannot be used with cert.pem"),
            "{msg}"
        );
    }

    #[test]
    fn files_without_pem_blocks_are_refused_with_their_names() {
        let (cert, key) = pair();
        let (c, k) = paths();
        let err = Identity::from_pem(b"", key.as_bytes(), &c, &k).unwrap_err();
        assert!(matches!(err, CertError::NoCertificate { .. }), "{err:?}");
        assert!(err.to_string().starts_with("cert.pem: no PEM CERTIFICATE"));
        let err = Identity::from_pem(cert.as_bytes(), cert.as_bytes(), &c, &k).unwrap_err();
        assert!(matches!(err, CertError::NoKey { .. }), "{err:?}");
        assert!(err.to_string().starts_with("key.pem: no PEM private key"));
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = Identity::from_pem(junk.as_bytes(), key.as_bytes(), &c, &k).unwrap_err();
        assert!(matches!(err, CertError::BadCertificate { .. }), "{err:?}");
    }

    #[test]
    fn a_missing_file_names_the_path_and_first_boot() {
        let dir =
            std::env::temp_dir().join(format!("appliance-web-missing-{}", std::process::id()));
        let err = Identity::load(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cert.pem"), "{msg}");
        assert!(msg.contains("appliance-firstboot.service"), "{msg}");
    }

    #[test]
    fn reload_swaps_the_identity_and_a_failed_reload_keeps_the_old_one() {
        let dir = std::env::temp_dir().join(format!("appliance-web-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        let (cert1, key1) = pair();
        std::fs::write(&c, &cert1).unwrap();
        std::fs::write(&k, &key1).unwrap();
        let store = CertStore::load(c.clone(), k.clone()).unwrap();
        let first = store.current().cert_sha256.clone();
        let (cert2, key2) = pair();
        std::fs::write(&c, &cert2).unwrap();
        std::fs::write(&k, &key2).unwrap();
        let second = store.reload().unwrap().cert_sha256.clone();
        assert_ne!(first, second);
        assert_eq!(store.current().cert_sha256, second);
        // A half-written pair (new certificate, old key) is refused; the
        // served identity does not change.
        let (cert3, _) = pair();
        std::fs::write(&c, &cert3).unwrap();
        assert!(store.reload().is_err());
        assert_eq!(store.current().cert_sha256, second);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
