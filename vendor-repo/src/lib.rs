//! The vendor repository: static files any HTTP server or CDN can serve
//! (docs/repository.md).
//!
//! ```text
//! models/<model>/<channel>/manifest.json   signed release manifest
//! serials/<registry id>.json               signed serial record
//! objects/sha256/<hex>                     components, content-addressed
//! snapshot.json                            signed, short-lived: current versions
//! keys/<key id>.json                       public keys (informational)
//! ```
//!
//! Shared by the installer (verification) and xtask (publication). Nothing
//! read from the repository is trusted before [`signed::open`] verified it.

pub mod http;
pub mod keys;
pub mod manifest;
pub mod publish;
pub mod registry;
pub mod serial;
pub mod signed;
pub mod snapshot;

#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

pub use keys::{PublicKey, SecretKey, TrustStore};
pub use manifest::Manifest;
pub use registry::SerialRecord;
pub use serial::Serial;
pub use signed::VerifyError;
pub use snapshot::Snapshot;

/// The metadata format this crate reads and writes.
pub const FORMAT: u32 = 1;

/// 64 lowercase hex digits (a SHA-256 as the repository writes it).
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where a model's manifest lives, relative to the repository root.
pub fn manifest_path(model: &str, channel: &str) -> String {
    format!("models/{model}/{channel}/manifest.json")
}

/// Where a serial's record lives, relative to the repository root.
pub fn serial_path(serial: &Serial) -> String {
    format!("serials/{}.json", serial.registry_id())
}

/// Where an object lives, relative to the repository root.
pub fn object_path(sha256: &str) -> String {
    format!("objects/sha256/{sha256}")
}

/// The newest metadata versions seen in this run, so a later fetch (a retry,
/// another mirror) cannot roll back what was already accepted.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    versions: std::collections::BTreeMap<String, u64>,
}

impl Seen {
    /// The floor for the metadata at `path`.
    pub fn minimum(&self, path: &str) -> u64 {
        self.versions.get(path).copied().unwrap_or(0)
    }

    /// Records an accepted version.
    pub fn record(&mut self, path: &str, version: u64) {
        let v = self.versions.entry(path.to_string()).or_default();
        *v = (*v).max(version);
    }
}
