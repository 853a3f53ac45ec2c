//! The signed envelope every metadata file is wrapped in, and its verification.
//!
//! ```json
//! {"payload_type": "manifest", "payload": "<base64 of the JSON bytes>",
//!  "signatures": [{"key_id": "ed25519:…", "sig": "<128 hex>"}]}
//! ```
//!
//! The signature covers `appliance-repo/v1\n<payload_type>\n<payload bytes>`,
//! so a serial record's signature can never pass for a manifest's. The
//! payload is verified as bytes before it is parsed: nothing from it is
//! trusted, or even read, before a trusted key's signature checks out.

use crate::keys::{SecretKey, TrustStore};
use base64::Engine;
use ed25519_dalek::Signature;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const DOMAIN: &[u8] = b"appliance-repo/v1\n";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Every way verification can fail; each is a different problem for the
/// person reading it (and a different unit test).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not JSON of the expected shape (envelope or payload).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// `manifest`, `serial record`, …
        what: &'static str,
        /// Serde's message with the key path.
        reason: String,
    },
    /// The envelope holds a different kind of metadata.
    #[error("expected a {expected}, got a {found:?}")]
    WrongType {
        /// What the caller asked for.
        expected: &'static str,
        /// What the envelope says.
        found: String,
    },
    /// No signature is by a key the installer trusts.
    #[error("{what} is not signed by a trusted key (signed by: {}; trusted: {})", .signed_by.join(", "), .trusted.join(", "))]
    UntrustedKey {
        /// The metadata kind.
        what: &'static str,
        /// Key ids in the envelope.
        signed_by: Vec<String>,
        /// Key ids in the trust store.
        trusted: Vec<String>,
    },
    /// A trusted key's signature does not match: the file was altered.
    #[error("{what}: the signature by {key_id} does not match its content (the file was altered or damaged)")]
    BadSignature {
        /// The metadata kind.
        what: &'static str,
        /// The key.
        key_id: String,
    },
    /// A format version this installer does not know.
    #[error("{what} has format {found}; this installer reads format {supported}")]
    UnsupportedFormat {
        /// The metadata kind.
        what: &'static str,
        /// In the file.
        found: u32,
        /// Ours.
        supported: u32,
    },
    /// Past its expiry time.
    #[error("{what} expired at {expires} (unix time); the clock reads {now}: the vendor has not refreshed it, or the clock is wrong")]
    Expired {
        /// The metadata kind.
        what: &'static str,
        /// Its expiry.
        expires: u64,
        /// Our clock.
        now: u64,
    },
    /// Older than metadata already seen or than the ISO's minimum.
    #[error("{what} has metadata version {found}, older than {minimum} (seen before or required by this ISO): refusing a rollback")]
    Rollback {
        /// The metadata kind.
        what: &'static str,
        /// In the file.
        found: u64,
        /// The floor.
        minimum: u64,
    },
    /// Older than the snapshot says is current: a superseded release or a
    /// replayed record.
    #[error("{what} has metadata version {found}, but the snapshot (snapshot.json, version {snapshot_version}) says version {current} is current: refusing an outdated file (a stale mirror or a replay)")]
    Superseded {
        /// The metadata kind.
        what: &'static str,
        /// In the file.
        found: u64,
        /// What the snapshot lists.
        current: u64,
        /// The snapshot's own version.
        snapshot_version: u64,
    },
    /// The snapshot does not list the file at all.
    #[error("{what} {path} is not listed in the snapshot (snapshot.json, version {snapshot_version}): the mirror is incomplete or serves a file the vendor did not publish")]
    NotInSnapshot {
        /// The metadata kind.
        what: &'static str,
        /// The file, relative to the repository root.
        path: String,
        /// The snapshot's own version.
        snapshot_version: u64,
    },
    /// Same version as the snapshot lists, different bytes.
    #[error("{what} {path} (version {version}) is not the file the snapshot (snapshot.json) lists: its SHA-256 differs")]
    SnapshotHashMismatch {
        /// The metadata kind.
        what: &'static str,
        /// The file, relative to the repository root.
        path: String,
        /// Its version.
        version: u64,
    },
    /// Signed and valid, but about something else than asked for.
    #[error("{what} is for {found}, not {expected}")]
    Mismatch {
        /// The metadata kind.
        what: &'static str,
        /// Asked for.
        expected: String,
        /// In the file.
        found: String,
    },
    /// Semantically wrong although signed (e.g. a component without a partition).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The metadata kind.
        what: &'static str,
        /// What is wrong, with the key path.
        reason: String,
    },
}

/// One signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// `ed25519:…`.
    pub key_id: String,
    /// 64 bytes as hex.
    pub sig: String,
}

/// The envelope as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// `manifest` or `serial`.
    pub payload_type: String,
    /// Base64 of the payload's JSON bytes.
    pub payload: String,
    /// At least one.
    pub signatures: Vec<SignatureEntry>,
}

fn message(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + payload_type.len() + 1 + payload.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(payload_type.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(payload);
    m
}

/// Wraps `payload` (JSON bytes) and signs it with every key in `keys`.
pub fn sign(payload_type: &str, payload: &[u8], keys: &[&SecretKey]) -> Vec<u8> {
    let msg = message(payload_type, payload);
    let env = Envelope {
        payload_type: payload_type.to_string(),
        payload: B64.encode(payload),
        signatures: keys
            .iter()
            .map(|k| SignatureEntry {
                key_id: k.id.clone(),
                sig: hex::encode(k.sign(&msg)),
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&env).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Parses JSON, naming the key path on failure.
pub(crate) fn parse_json<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, VerifyError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| VerifyError::Malformed {
        what,
        reason: if e.path().to_string() == "." {
            e.inner().to_string()
        } else {
            format!("{}: {}", e.path(), e.inner())
        },
    })
}

/// Checks the envelope in `bytes` and returns the payload bytes. Every
/// signature by a trusted key must verify, and there must be at least one.
pub fn open(
    bytes: &[u8],
    payload_type: &'static str,
    what: &'static str,
    trust: &TrustStore,
) -> Result<Vec<u8>, VerifyError> {
    let env: Envelope = parse_json(bytes, what)?;
    if env.payload_type != payload_type {
        return Err(VerifyError::WrongType {
            expected: what,
            found: env.payload_type,
        });
    }
    let payload = B64
        .decode(env.payload.as_bytes())
        .map_err(|e| VerifyError::Malformed {
            what,
            reason: format!("payload: not base64: {e}"),
        })?;
    let msg = message(payload_type, &payload);
    let mut verified = 0;
    for s in &env.signatures {
        let Some(key) = trust.key(&s.key_id) else {
            continue;
        };
        let bad = || VerifyError::BadSignature {
            what,
            key_id: s.key_id.clone(),
        };
        let raw: [u8; 64] = hex::decode(&s.sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        key.key
            .verify_strict(&msg, &Signature::from_bytes(&raw))
            .map_err(|_| bad())?;
        verified += 1;
    }
    if verified == 0 {
        return Err(VerifyError::UntrustedKey {
            what,
            signed_by: env.signatures.iter().map(|s| s.key_id.clone()).collect(),
            trusted: trust.keys.iter().map(|k| k.id.clone()).collect(),
        });
    }
    Ok(payload)
}

/// A kind of signed metadata: its envelope type and the fields every kind has.
pub(crate) trait Payload: DeserializeOwned {
    /// The envelope's `payload_type`.
    const TYPE: &'static str;
    /// The name used in errors.
    const WHAT: &'static str;
    /// `(format, expires, metadata_version)`.
    fn header(&self) -> (u32, u64, u64);
}

/// Envelope, signature, parse, then format, expiry and rollback (`minimum`
/// is already the larger of the ISO's floor and the newest seen).
pub(crate) fn open_payload<T: Payload>(
    bytes: &[u8],
    trust: &TrustStore,
    now: u64,
    minimum: u64,
) -> Result<T, VerifyError> {
    let payload = open(bytes, T::TYPE, T::WHAT, trust)?;
    let v: T = parse_json(&payload, T::WHAT)?;
    let (format, expires, version) = v.header();
    check_common(T::WHAT, format, expires, version, now, minimum)?;
    Ok(v)
}

/// The checks every metadata kind shares, after the signature: format,
/// expiry, rollback.
pub(crate) fn check_common(
    what: &'static str,
    format: u32,
    expires: u64,
    version: u64,
    now: u64,
    minimum: u64,
) -> Result<(), VerifyError> {
    if format != crate::FORMAT {
        return Err(VerifyError::UnsupportedFormat {
            what,
            found: format,
            supported: crate::FORMAT,
        });
    }
    if now >= expires {
        return Err(VerifyError::Expired { what, expires, now });
    }
    if version < minimum {
        return Err(VerifyError::Rollback {
            what,
            found: version,
            minimum,
        });
    }
    Ok(())
}
