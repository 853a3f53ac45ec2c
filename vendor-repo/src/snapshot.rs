//! The snapshot: a short-lived signed file at the repository root
//! (`snapshot.json`) naming the current version and SHA-256 of every
//! manifest and serial record (docs/repository.md). The installer verifies
//! it first, then refuses any manifest or serial record older than it says,
//! so a mirror cannot serve a superseded release or replay a revoked
//! record for longer than the snapshot lives (days, not months).

use crate::keys::TrustStore;
use crate::signed::{self, VerifyError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The envelope's `payload_type`.
pub const PAYLOAD_TYPE: &str = "snapshot";
/// The name used in errors; it names the file, since the person reading an
/// expiry message must know which file to refresh.
pub const WHAT: &str = "snapshot (snapshot.json)";
/// Where the snapshot lives, relative to the repository root.
pub const PATH: &str = "snapshot.json";
/// How long a snapshot stays valid unless told otherwise (days).
pub const DEFAULT_VALID_DAYS: u64 = 7;

/// The current state of one metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Its `metadata_version`.
    pub version: u64,
    /// The SHA-256 of the file as stored (the signed envelope's bytes).
    pub sha256: String,
}

impl Entry {
    /// The entry for a stored file.
    pub fn of(version: u64, bytes: &[u8]) -> Entry {
        Entry {
            version,
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }
}

/// The snapshot (the signed payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Format version ([`crate::FORMAT`]).
    pub format: u32,
    /// Grows with every refresh.
    pub metadata_version: u64,
    /// Unix time after which the snapshot is refused (days after signing).
    pub expires: u64,
    /// Every manifest, by its path (`models/<model>/<channel>/manifest.json`).
    pub manifests: BTreeMap<String, Entry>,
    /// Every serial record, by its registry id (the file name under
    /// `serials/` without `.json`).
    pub serials: BTreeMap<String, Entry>,
}

impl signed::Payload for Snapshot {
    const TYPE: &'static str = PAYLOAD_TYPE;
    const WHAT: &'static str = WHAT;
    fn header(&self) -> (u32, u64, u64) {
        (self.format, self.expires, self.metadata_version)
    }
}

impl Snapshot {
    /// Signs the snapshot.
    pub fn sign(&self, keys: &[&crate::keys::SecretKey]) -> Result<Vec<u8>, String> {
        for (what, map) in [("manifests", &self.manifests), ("serials", &self.serials)] {
            if let Some((name, _)) = map.iter().find(|(_, e)| !crate::is_sha256_hex(&e.sha256)) {
                return Err(format!(
                    "{what}.{name}.sha256: expected 64 lowercase hex digits"
                ));
            }
        }
        let payload = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        Ok(signed::sign(PAYLOAD_TYPE, &payload, keys))
    }

    /// Verifies a stored snapshot: signature, format, expiry, and rollback
    /// against `minimum` (the newest seen) and the ISO's floor.
    pub fn verify(
        bytes: &[u8],
        trust: &TrustStore,
        now: u64,
        minimum: u64,
    ) -> Result<Snapshot, VerifyError> {
        signed::open_payload(bytes, trust, now, minimum.max(trust.min_snapshot_version))
    }

    /// Checks a verified manifest's file against the snapshot: listed, not
    /// older, and the same bytes when the version is the listed one.
    pub fn check_manifest(
        &self,
        path: &str,
        version: u64,
        bytes: &[u8],
    ) -> Result<(), VerifyError> {
        self.check("manifest", self.manifests.get(path), path, version, bytes)
    }

    /// Checks a verified serial record's file against the snapshot.
    pub fn check_serial(
        &self,
        registry_id: &str,
        version: u64,
        bytes: &[u8],
    ) -> Result<(), VerifyError> {
        let name = format!("serials/{registry_id}.json");
        self.check(
            "serial record",
            self.serials.get(registry_id),
            &name,
            version,
            bytes,
        )
    }

    fn check(
        &self,
        what: &'static str,
        entry: Option<&Entry>,
        path: &str,
        version: u64,
        bytes: &[u8],
    ) -> Result<(), VerifyError> {
        let Some(entry) = entry else {
            return Err(VerifyError::NotInSnapshot {
                what,
                path: path.to_string(),
                snapshot_version: self.metadata_version,
            });
        };
        if version < entry.version {
            return Err(VerifyError::Superseded {
                what,
                found: version,
                current: entry.version,
                snapshot_version: self.metadata_version,
            });
        }
        if version == entry.version && Entry::of(version, bytes).sha256 != entry.sha256 {
            return Err(VerifyError::SnapshotHashMismatch {
                what,
                path: path.to_string(),
                version,
            });
        }
        Ok(())
    }
}
