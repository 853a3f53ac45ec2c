//! Signing keys (ed25519) and the set of keys an installer trusts.
//!
//! A key's id is `ed25519:` and the first 16 hex digits of the SHA-256 of its
//! public key, so metadata can say which key signed it and rotation needs no
//! registry of names. Key files are JSON:
//!
//! - public: `{"key_id": "...", "public_key": "<64 hex>", "comment": "..."}`
//! - private: the same plus `"secret_key": "<64 hex>"` and `"test_only"`.
//!
//! Private key files are written 0600 by xtask and never committed.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Errors reading key files.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file is not JSON of the key shape.
    #[error("not a key file: {0}")]
    Json(String),
    /// A hex field is not 32 bytes of hex.
    #[error("{field}: expected 64 hex digits")]
    Hex {
        /// Which field.
        field: &'static str,
    },
    /// The public key is not a valid ed25519 point.
    #[error("public_key: not a valid ed25519 public key")]
    Point,
    /// The stored key id does not belong to the public key.
    #[error("key_id {stored} does not match the public key (its id is {actual})")]
    IdMismatch {
        /// In the file.
        stored: String,
        /// Computed.
        actual: String,
    },
    /// The secret key does not produce the stored public key.
    #[error("secret_key does not belong to public_key")]
    PairMismatch,
    /// No randomness for a new key.
    #[error("cannot get random bytes for a new key: {0}")]
    Random(String),
}

/// The id of a public key (see the module docs).
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    format!("ed25519:{}", hex::encode(&digest[..8]))
}

fn hex32(text: &str, field: &'static str) -> Result<[u8; 32], KeyError> {
    let bytes = hex::decode(text).map_err(|_| KeyError::Hex { field })?;
    bytes.try_into().map_err(|_| KeyError::Hex { field })
}

/// A public key with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `ed25519:…`.
    pub id: String,
    /// The key.
    pub key: VerifyingKey,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicFile {
    key_id: String,
    public_key: String,
    #[serde(default)]
    comment: String,
}

impl PublicKey {
    /// Reads a public key file (a private key file is refused: it must not
    /// end up on an ISO).
    pub fn from_json(text: &str) -> Result<PublicKey, KeyError> {
        let f: PublicFile =
            serde_json::from_str(text).map_err(|e| KeyError::Json(e.to_string()))?;
        let key = VerifyingKey::from_bytes(&hex32(&f.public_key, "public_key")?)
            .map_err(|_| KeyError::Point)?;
        let id = key_id(&key);
        if id != f.key_id {
            return Err(KeyError::IdMismatch {
                stored: f.key_id,
                actual: id,
            });
        }
        Ok(PublicKey { id, key })
    }

    /// The public key file's text.
    pub fn to_json(&self, comment: &str) -> String {
        let f = PublicFile {
            key_id: self.id.clone(),
            public_key: hex::encode(self.key.as_bytes()),
            comment: comment.to_string(),
        };
        serde_json::to_string_pretty(&f).unwrap_or_default() + "\n"
    }
}

/// A private signing key.
pub struct SecretKey {
    /// `ed25519:…` of the public half.
    pub id: String,
    /// Marked at generation; shown by tools so test keys are never mistaken.
    pub test_only: bool,
    key: SigningKey,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretFile {
    key_id: String,
    public_key: String,
    secret_key: String,
    test_only: bool,
    #[serde(default)]
    comment: String,
}

impl SecretKey {
    /// A new random key.
    pub fn generate(test_only: bool) -> Result<SecretKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SecretKey::from_seed(seed, test_only))
    }

    /// The key made from a 32-byte seed (unit tests use fixed seeds).
    pub fn from_seed(seed: [u8; 32], test_only: bool) -> SecretKey {
        let key = SigningKey::from_bytes(&seed);
        SecretKey {
            id: key_id(&key.verifying_key()),
            test_only,
            key,
        }
    }

    /// Reads a private key file.
    pub fn from_json(text: &str) -> Result<SecretKey, KeyError> {
        let f: SecretFile =
            serde_json::from_str(text).map_err(|e| KeyError::Json(e.to_string()))?;
        let key = SigningKey::from_bytes(&hex32(&f.secret_key, "secret_key")?);
        if hex::encode(key.verifying_key().as_bytes()) != f.public_key {
            return Err(KeyError::PairMismatch);
        }
        let id = key_id(&key.verifying_key());
        if id != f.key_id {
            return Err(KeyError::IdMismatch {
                stored: f.key_id,
                actual: id,
            });
        }
        Ok(SecretKey {
            id,
            test_only: f.test_only,
            key,
        })
    }

    /// The private key file's text (write it 0600).
    pub fn to_json(&self, comment: &str) -> String {
        let f = SecretFile {
            key_id: self.id.clone(),
            public_key: hex::encode(self.key.verifying_key().as_bytes()),
            secret_key: hex::encode(self.key.to_bytes()),
            test_only: self.test_only,
            comment: comment.to_string(),
        };
        serde_json::to_string_pretty(&f).unwrap_or_default() + "\n"
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            id: self.id.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .field("test_only", &self.test_only)
            .finish_non_exhaustive()
    }
}

/// What an installer trusts: keys and the oldest metadata it accepts. Built
/// into the ISO as `/etc/installer/trust.json`.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    /// Keys whose signatures count.
    pub keys: Vec<PublicKey>,
    /// Manifests with a lower `metadata_version` are refused.
    pub min_manifest_version: u64,
    /// Serial records with a lower `metadata_version` are refused.
    pub min_serial_version: u64,
    /// Snapshots (`snapshot.json`) with a lower `metadata_version` are
    /// refused: the version current when the ISO was built.
    pub min_snapshot_version: u64,
}

/// `trust.json` as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustFile {
    /// The public key files' contents.
    pub keys: Vec<serde_json::Value>,
    /// See [`TrustStore::min_manifest_version`].
    #[serde(default)]
    pub min_manifest_version: u64,
    /// See [`TrustStore::min_serial_version`].
    #[serde(default)]
    pub min_serial_version: u64,
    /// See [`TrustStore::min_snapshot_version`].
    #[serde(default)]
    pub min_snapshot_version: u64,
}

impl TrustStore {
    /// Reads `trust.json`.
    pub fn from_json(text: &str) -> Result<TrustStore, KeyError> {
        let f: TrustFile = serde_json::from_str(text).map_err(|e| KeyError::Json(e.to_string()))?;
        let keys = f
            .keys
            .iter()
            .map(|v| PublicKey::from_json(&v.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustStore {
            keys,
            min_manifest_version: f.min_manifest_version,
            min_serial_version: f.min_serial_version,
            min_snapshot_version: f.min_snapshot_version,
        })
    }

    /// `trust.json`'s text.
    pub fn to_json(&self) -> String {
        let keys = self
            .keys
            .iter()
            .filter_map(|k| serde_json::from_str(&k.to_json("")).ok())
            .collect();
        let f = TrustFile {
            keys,
            min_manifest_version: self.min_manifest_version,
            min_serial_version: self.min_serial_version,
            min_snapshot_version: self.min_snapshot_version,
        };
        serde_json::to_string_pretty(&f).unwrap_or_default() + "\n"
    }

    /// The key with this id.
    pub fn key(&self, id: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip() {
        let k = SecretKey::from_seed([7; 32], true);
        assert!(k.id.starts_with("ed25519:") && k.id.len() == 24, "{}", k.id);
        let back = SecretKey::from_json(&k.to_json("TEST ONLY")).unwrap();
        assert_eq!(back.id, k.id);
        assert!(back.test_only);
        let public = PublicKey::from_json(&k.public().to_json("x")).unwrap();
        assert_eq!(public, k.public());
    }

    #[test]
    fn a_private_key_file_is_not_a_public_key_file() {
        let k = SecretKey::from_seed([7; 32], true);
        let err = PublicKey::from_json(&k.to_json("")).unwrap_err();
        assert!(err.to_string().contains("secret_key"), "{err}");
    }

    #[test]
    fn a_wrong_key_id_is_refused() {
        let k = SecretKey::from_seed([7; 32], false);
        let text = k
            .public()
            .to_json("")
            .replace(&k.id, "ed25519:0000000000000000");
        assert!(matches!(
            PublicKey::from_json(&text),
            Err(KeyError::IdMismatch { .. })
        ));
    }

    #[test]
    fn trust_file_round_trip() {
        let t = TrustStore {
            keys: vec![
                SecretKey::from_seed([1; 32], true).public(),
                SecretKey::from_seed([2; 32], true).public(),
            ],
            min_manifest_version: 3,
            min_serial_version: 1,
            min_snapshot_version: 7,
        };
        let back = TrustStore::from_json(&t.to_json()).unwrap();
        assert_eq!(back.keys, t.keys);
        assert_eq!(back.min_manifest_version, 3);
        assert_eq!(back.min_serial_version, 1);
        assert_eq!(back.min_snapshot_version, 7);
        assert!(back.key(&t.keys[1].id).is_some());
    }
}
