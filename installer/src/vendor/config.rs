//! The vendor settings built into the ISO by `cargo xtask iso`:
//!
//! - `/etc/installer/vendor.json`: `{"backend_url", "model", "channel"}`
//! - `/etc/installer/trust.json`: the signing keys and minimum metadata
//!   versions (`vendor_repo::TrustStore`)
//! - `/etc/installer/backend-ca.pem`: the CA the backend's certificate must
//!   chain to (the only one trusted)
//!
//! The kernel parameter `installer.backend=URL` replaces the URL (a staging
//! backend or a mirror): keys and CA stay pinned, so it cannot weaken trust.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use vendor_repo::TrustStore;

/// Relative to `/`.
pub const VENDOR_JSON: &str = "etc/installer/vendor.json";
/// Relative to `/`.
pub const TRUST_JSON: &str = "etc/installer/trust.json";
/// Relative to `/`; also what the network doctor's HTTPS check trusts.
pub const CA_PEM: &str = "etc/installer/backend-ca.pem";
/// Kernel parameter that replaces the backend URL.
pub const PARAM_BACKEND: &str = "installer.backend";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VendorFile {
    backend_url: String,
    model: String,
    channel: String,
}

/// Everything needed to ask the backend.
#[derive(Debug, Clone)]
pub struct VendorConfig {
    /// Base URL of the repository, ending in `/`.
    pub backend_url: String,
    /// This ISO's appliance model.
    pub model: String,
    /// The channel to install from.
    pub channel: String,
    /// Trusted keys and floors.
    pub trust: TrustStore,
    /// The pinned CA (PEM).
    pub ca_pem: Vec<u8>,
}

/// Why the vendor settings cannot be used (a broken ISO build).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

fn read(root: &Path, rel: &str) -> Result<Vec<u8>, ConfigError> {
    let path = root.join(rel);
    std::fs::read(&path).map_err(|e| ConfigError {
        path,
        reason: e.to_string(),
    })
}

/// Adds the trailing `/` URL joining needs.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

impl VendorConfig {
    /// Reads the three files under `root`; `backend_override` comes from
    /// `installer.backend=`.
    pub fn load(root: &Path, backend_override: Option<&str>) -> Result<VendorConfig, ConfigError> {
        let err = |rel: &str, reason: String| ConfigError {
            path: root.join(rel),
            reason,
        };
        let v: VendorFile = serde_json::from_slice(&read(root, VENDOR_JSON)?)
            .map_err(|e| err(VENDOR_JSON, e.to_string()))?;
        let trust_text = String::from_utf8(read(root, TRUST_JSON)?)
            .map_err(|e| err(TRUST_JSON, e.to_string()))?;
        let trust =
            TrustStore::from_json(&trust_text).map_err(|e| err(TRUST_JSON, e.to_string()))?;
        if trust.keys.is_empty() {
            return Err(err(TRUST_JSON, "no keys: nothing could ever verify".into()));
        }
        let ca_pem = read(root, CA_PEM)?;
        let url = backend_override.unwrap_or(&v.backend_url);
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(err(
                VENDOR_JSON,
                format!("backend_url {url:?} is not an http(s) URL"),
            ));
        }
        Ok(VendorConfig {
            backend_url: normalize_url(url),
            model: v.model,
            channel: v.channel,
            trust,
            ca_pem,
        })
    }

    /// The URL of a repository path.
    pub fn url(&self, rel: &str) -> String {
        format!("{}{rel}", self.backend_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;
    use vendor_repo::SecretKey;

    fn tree() -> TempTree {
        let t = TempTree::new("vendor-config");
        t.write(
            VENDOR_JSON,
            br#"{"backend_url": "https://10.0.2.2:18443", "model": "example-appliance", "channel": "stable"}"#,
        );
        let trust = TrustStore {
            keys: vec![SecretKey::from_seed([9; 32], true).public()],
            ..TrustStore::default()
        };
        t.write(TRUST_JSON, trust.to_json().as_bytes());
        t.write(CA_PEM, b"-----BEGIN CERTIFICATE-----\n");
        t
    }

    #[test]
    fn loads_and_applies_the_override() {
        let t = tree();
        let c = VendorConfig::load(t.path(), None).unwrap();
        assert_eq!(c.backend_url, "https://10.0.2.2:18443/");
        assert_eq!(
            c.url("serials/x.json"),
            "https://10.0.2.2:18443/serials/x.json"
        );
        assert_eq!(c.trust.keys.len(), 1);
        let c = VendorConfig::load(t.path(), Some("https://staging.example/repo")).unwrap();
        assert_eq!(c.backend_url, "https://staging.example/repo/");
    }

    #[test]
    fn errors_name_the_file() {
        let t = tree();
        t.write(TRUST_JSON, br#"{"keys": []}"#);
        let e = VendorConfig::load(t.path(), None).unwrap_err();
        assert!(e.to_string().contains("trust.json: no keys"), "{e}");
        let t = tree();
        let e = VendorConfig::load(t.path(), Some("ftp://x")).unwrap_err();
        assert!(e.to_string().contains("not an http(s) URL"), "{e}");
        let empty = TempTree::new("vendor-config-empty");
        let e = VendorConfig::load(empty.path(), None).unwrap_err();
        assert!(e.to_string().contains("vendor.json"), "{e}");
    }
}
