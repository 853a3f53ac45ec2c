//! The appliance's keys, made **only if missing** with the kernel's CSPRNG
//! (getrandom) and written atomically with their final modes:
//! - SSH host keys, ed25519 and ECDSA P-256, in OpenSSH format (private
//!   0600 as sshd requires, public 0644), made in-process by `ssh-key`;
//! - the TLS key (ECDSA P-256, PKCS#8, 0600) and a self-signed certificate
//!   for 8443 (`rcgen`): random 16-byte serial, CN and SANs = host name,
//!   FQDN, `localhost` and every address known at first boot, notBefore
//!   one day back, 825 days of validity, serverAuth;
//! - the database encryption key: 96 random bytes, 0400 (three 32-byte
//!   slots as LinOTP lays them out: token seeds, configuration, values);
//! - the setup code's secret (32 bytes, 0400) and counter, until the setup
//!   is done; its verifier ([`crate::setup_code`]) is made apart, by
//!   [`ensure_setup_verifier`], off the way to the login prompt.
//!
//! A key that exists is never replaced, so fingerprints survive reboots.
//! A missing public half is rebuilt from the private key; a certificate
//! without its key is replaced together with a new key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::der;
use crate::fsutil::{self, under};
use crate::paths;
use crate::setup_code::{SetupCode, SECRET_BYTES};
use crate::state::{DesiredState, KeyKind};

/// Bytes of the database encryption key.
pub const DB_KEY_BYTES: usize = 96;
/// Days a TLS certificate is valid (browsers accept at most 825 for
/// certificates issued since 2018).
pub const TLS_VALID_DAYS: i64 = 825;

/// Errors making or reading keys; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The kernel's random number generator failed.
    #[error("cannot read random bytes from the kernel: {0}")]
    Random(String),
    /// Key generation or encoding failed.
    #[error("{what}: {message}")]
    Crypto {
        /// Which key.
        what: &'static str,
        /// The cause.
        message: String,
    },
    /// A stored file is not what it should be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn crypto(what: &'static str) -> impl FnOnce(String) -> KeyError {
    move |message| KeyError::Crypto { what, message }
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(b)
}

/// What [`ensure`] did for each key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyReport {
    /// Keys made now.
    pub generated: Vec<KeyKind>,
    /// Keys that were there already.
    pub kept: Vec<KeyKind>,
}

/// Makes every key `state` wants that is missing below `root`. `ips` are
/// the addresses for the TLS certificate's SANs (only used when a
/// certificate is made). `now` is the current time.
pub fn ensure(
    root: &Path,
    state: &DesiredState,
    ips: &[IpAddr],
    now: time::OffsetDateTime,
) -> Result<KeyReport, KeyError> {
    let mut report = KeyReport::default();
    for kind in KeyKind::ALL {
        if !state.wants(kind) {
            continue;
        }
        let made = match kind {
            KeyKind::SshEd25519 => {
                ensure_ssh(root, paths::SSH_ED25519, ssh_key::Algorithm::Ed25519, state)?
            }
            KeyKind::SshEcdsa => ensure_ssh(
                root,
                paths::SSH_ECDSA,
                ssh_key::Algorithm::Ecdsa {
                    curve: ssh_key::EcdsaCurve::NistP256,
                },
                state,
            )?,
            KeyKind::Tls => ensure_tls(root, state, ips, now)?,
            KeyKind::DbKey => ensure_db_key(root)?,
            KeyKind::SetupCode => ensure_setup_code(root)?,
        };
        if made {
            report.generated.push(kind);
        } else {
            report.kept.push(kind);
        }
    }
    Ok(report)
}

fn exists(path: &Path) -> Result<bool, KeyError> {
    path.try_exists().map_err(io(path))
}

fn ensure_ssh(
    root: &Path,
    rel: &str,
    alg: ssh_key::Algorithm,
    state: &DesiredState,
) -> Result<bool, KeyError> {
    let private_path = under(root, rel);
    let public_path = under(root, &format!("{rel}.pub"));
    let (key, made) = if exists(&private_path)? {
        let text = std::fs::read_to_string(&private_path).map_err(io(&private_path))?;
        let key = ssh_key::PrivateKey::from_openssh(text).map_err(|e| KeyError::Invalid {
            path: private_path.clone(),
            message: format!("not an OpenSSH private key: {e}"),
        })?;
        (key, false)
    } else {
        let mut key = ssh_key::PrivateKey::random(&mut rand_core::OsRng, alg)
            .map_err(|e| crypto("SSH host key")(e.to_string()))?;
        key.set_comment(format!("root@{}", state.hostname));
        let text = key
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(|e| crypto("SSH host key")(e.to_string()))?;
        fsutil::write_atomic(&private_path, text.as_bytes(), 0o600).map_err(io(&private_path))?;
        (key, true)
    };
    if made || !exists(&public_path)? {
        let mut text = key
            .public_key()
            .to_openssh()
            .map_err(|e| crypto("SSH host key")(e.to_string()))?;
        text.push('\n');
        fsutil::write_atomic(&public_path, text.as_bytes(), 0o644).map_err(io(&public_path))?;
    }
    Ok(made)
}

/// A key and certificate for 8443 (PEM texts; the key is secret).
pub struct TlsMaterial {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

/// Makes a certificate for `key` (see the module docs for its fields).
pub fn certificate(
    key: &rcgen::KeyPair,
    state: &DesiredState,
    ips: &[IpAddr],
    now: time::OffsetDateTime,
) -> Result<String, KeyError> {
    let e = |e: rcgen::Error| KeyError::Crypto {
        what: "TLS certificate",
        message: e.to_string(),
    };
    let mut names = vec![state.hostname.clone()];
    if state.fqdn() != state.hostname {
        names.push(state.fqdn());
    }
    names.push("localhost".to_string());
    let mut params = rcgen::CertificateParams::new(names).map_err(e)?;
    for ip in ips {
        let san = rcgen::SanType::IpAddress(*ip);
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, state.fqdn());
    if !state.identity.product.is_empty() {
        dn.push(
            rcgen::DnType::OrganizationName,
            state.identity.product.clone(),
        );
    }
    params.distinguished_name = dn;
    // 16 random bytes; top bit clear so the INTEGER stays positive and
    // 16 bytes long, next bit set so it never needs a shorter encoding.
    let mut serial: [u8; 16] = random()?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.not_before = now - time::Duration::days(1);
    params.not_after = params.not_before + time::Duration::days(TLS_VALID_DAYS);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = false;
    let cert = params.self_signed(key).map_err(e)?;
    Ok(cert.pem())
}

fn ensure_tls(
    root: &Path,
    state: &DesiredState,
    ips: &[IpAddr],
    now: time::OffsetDateTime,
) -> Result<bool, KeyError> {
    let key_path = under(root, paths::TLS_KEY);
    let cert_path = under(root, paths::TLS_CERT);
    let have_key = exists(&key_path)?;
    if have_key && exists(&cert_path)? {
        return Ok(false);
    }
    let key = if have_key {
        let pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
        rcgen::KeyPair::from_pem(&pem).map_err(|e| KeyError::Invalid {
            path: key_path.clone(),
            message: format!("not a PKCS#8 private key: {e}"),
        })?
    } else {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| crypto("TLS key")(e.to_string()))?;
        fsutil::write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)
            .map_err(io(&key_path))?;
        key
    };
    let cert = certificate(&key, state, ips, now)?;
    fsutil::write_atomic(&cert_path, cert.as_bytes(), 0o644).map_err(io(&cert_path))?;
    Ok(true)
}

fn ensure_db_key(root: &Path) -> Result<bool, KeyError> {
    let path = under(root, paths::DB_KEY);
    if exists(&path)? {
        return Ok(false);
    }
    let key: [u8; DB_KEY_BYTES] = random()?;
    fsutil::write_atomic(&path, &key, 0o400).map_err(io(&path))?;
    Ok(true)
}

/// Whether the setup wizard has finished (no setup code any more).
pub fn setup_done(root: &Path) -> bool {
    under(root, paths::SETUP_DONE).exists()
}

fn read_secret(root: &Path) -> Result<Option<[u8; SECRET_BYTES]>, KeyError> {
    let path = under(root, paths::SETUP_SECRET);
    match fsutil::read_if_exists(&path).map_err(io(&path))? {
        None => Ok(None),
        Some(b) => b
            .as_slice()
            .try_into()
            .map(Some)
            .map_err(|_| KeyError::Invalid {
                path,
                message: format!("{} bytes; a setup code secret has {SECRET_BYTES}", b.len()),
            }),
    }
}

fn read_counter(root: &Path) -> Result<u64, KeyError> {
    let path = under(root, paths::SETUP_COUNTER);
    match fsutil::read_if_exists(&path).map_err(io(&path))? {
        None => Ok(0),
        Some(b) => String::from_utf8_lossy(&b)
            .trim()
            .parse()
            .map_err(|_| KeyError::Invalid {
                path,
                message: "not a decimal counter".into(),
            }),
    }
}

fn write_code_files(
    root: &Path,
    secret: &[u8; SECRET_BYTES],
    counter: u64,
) -> Result<(), KeyError> {
    let code = SetupCode::derive(secret, counter);
    let hash = code
        .hash()
        .map_err(|e| crypto("setup code")(e.to_string()))?;
    let cpath = under(root, paths::SETUP_COUNTER);
    fsutil::write_atomic(&cpath, format!("{counter}\n").as_bytes(), 0o600).map_err(io(&cpath))?;
    let hpath = under(root, paths::SETUP_HASH);
    fsutil::write_atomic(&hpath, format!("{hash}\n").as_bytes(), 0o600).map_err(io(&hpath))
}

fn ensure_setup_code(root: &Path) -> Result<bool, KeyError> {
    if setup_done(root) || read_secret(root)?.is_some() {
        return Ok(false);
    }
    let s: [u8; SECRET_BYTES] = random()?;
    let path = under(root, paths::SETUP_SECRET);
    fsutil::write_atomic(&path, &s, 0o400).map_err(io(&path))?;
    let counter = read_counter(root)?;
    let cpath = under(root, paths::SETUP_COUNTER);
    fsutil::write_atomic(&cpath, format!("{counter}\n").as_bytes(), 0o600).map_err(io(&cpath))?;
    // A verifier of an earlier secret must not accept the old code.
    let hpath = under(root, paths::SETUP_HASH);
    match std::fs::remove_file(&hpath) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&hpath)(e)),
        _ => {}
    }
    Ok(true)
}

/// Makes the setup code's verifier when it is missing (and the setup not
/// done); returns whether it made one. Separate from [`ensure`] because
/// Argon2id takes seconds under emulation: the console needs only the code
/// (derived from the secret), so the verifier is made after the login
/// prompt is up (`appliance-setup-verifier.service`), and the set-up
/// wizard starts after it.
pub fn ensure_setup_verifier(root: &Path) -> Result<bool, KeyError> {
    if setup_done(root) || exists(&under(root, paths::SETUP_HASH))? {
        return Ok(false);
    }
    let path = under(root, paths::SETUP_SECRET);
    let secret = read_secret(root)?.ok_or_else(|| KeyError::Invalid {
        path,
        message: "missing: first boot has not made the setup code yet".into(),
    })?;
    write_code_files(root, &secret, read_counter(root)?)?;
    Ok(true)
}

/// The current setup code, or `None` once the setup is done or before
/// first boot made the secret.
pub fn current_setup_code(root: &Path) -> Result<Option<SetupCode>, KeyError> {
    if setup_done(root) {
        return Ok(None);
    }
    let Some(secret) = read_secret(root)? else {
        return Ok(None);
    };
    Ok(Some(SetupCode::derive(&secret, read_counter(root)?)))
}

/// Rotates the setup code: the counter goes up by one and the verifier is
/// replaced. Returns the new code.
pub fn rotate_setup_code(root: &Path) -> Result<SetupCode, KeyError> {
    let path = under(root, paths::SETUP_SECRET);
    let secret = read_secret(root)?.ok_or_else(|| KeyError::Invalid {
        path,
        message: "missing: first boot has not made the setup code yet".into(),
    })?;
    let counter = read_counter(root)? + 1;
    write_code_files(root, &secret, counter)?;
    Ok(SetupCode::derive(&secret, counter))
}

/// What the console shows about the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprints {
    /// SHA-256 of the DER certificate, lowercase hex.
    pub tls_sha256_hex: Option<String>,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo, standard base64.
    pub spki_sha256_b64: Option<String>,
    /// `(algorithm, SHA256:…)` per SSH host key, as `ssh-keygen -l` prints.
    pub ssh: Vec<(String, String)>,
}

impl Fingerprints {
    /// The certificate fingerprint as colon hex, `AB:CD:…`.
    pub fn tls_colon(&self) -> Option<String> {
        self.tls_sha256_hex.as_ref().map(|h| colon_hex(h))
    }
}

/// `abcd…` → `AB:CD:…`.
pub fn colon_hex(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// Certificate fingerprints of a PEM certificate: (SHA-256 hex, SPKI
/// SHA-256 base64).
pub fn tls_fingerprints(cert_pem: &str) -> Option<(String, String)> {
    let der = der::pem_block(cert_pem, "CERTIFICATE")?;
    let spki = der::spki_of_cert(&der)?;
    Some((
        hex::encode(Sha256::digest(&der)),
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki)),
    ))
}

/// The SSH fingerprint of a public key file's text, `SHA256:…`, with the
/// algorithm's short name (`ED25519`, `ECDSA`).
pub fn ssh_fingerprint(public: &str) -> Option<(String, String)> {
    let key = ssh_key::PublicKey::from_openssh(public.trim()).ok()?;
    let name = match key.algorithm() {
        ssh_key::Algorithm::Ed25519 => "ED25519".to_string(),
        ssh_key::Algorithm::Ecdsa { .. } => "ECDSA".to_string(),
        other => other.as_str().to_uppercase(),
    };
    Some((name, key.fingerprint(ssh_key::HashAlg::Sha256).to_string()))
}

/// Reads the fingerprints of whatever keys exist below `root`.
pub fn fingerprints(root: &Path) -> Fingerprints {
    let read = |rel: &str| std::fs::read_to_string(under(root, rel)).ok();
    let tls = read(paths::TLS_CERT).and_then(|p| tls_fingerprints(&p));
    let ssh = [paths::SSH_ED25519, paths::SSH_ECDSA]
        .iter()
        .filter_map(|rel| read(&format!("{rel}.pub")).and_then(|t| ssh_fingerprint(&t)))
        .collect();
    Fingerprints {
        tls_sha256_hex: tls.as_ref().map(|t| t.0.clone()),
        spki_sha256_b64: tls.map(|t| t.1),
        ssh,
    }
}
