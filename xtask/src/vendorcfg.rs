//! The vendor settings a `cargo xtask iso` build puts into the installer:
//! backend URL, model and channel (`/etc/installer/vendor.json`), trusted
//! signing keys and metadata floors (`trust.json`) and the backend's CA
//! (`backend-ca.pem`). Backend, model and channel default to the product's
//! ([`crate::product`]); keys and CA are whatever the command passes in.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use vendor_repo::{PublicKey, TrustStore};

use crate::product;

/// Options of `cargo xtask iso` that concern the vendor, as given.
#[derive(Debug, Clone, Default)]
pub struct VendorArgs {
    /// `--backend URL`.
    pub backend_url: Option<String>,
    /// `--model NAME`.
    pub model: Option<String>,
    /// `--channel NAME`.
    pub channel: Option<String>,
    /// `--trusted-key FILE.pub` (repeatable).
    pub trusted_keys: Vec<PathBuf>,
    /// `--vendor-ca FILE`.
    pub ca: Option<PathBuf>,
    /// `--min-manifest-version N`.
    pub min_manifest_version: u64,
}

/// A signing key and a backend CA to trust when none are given.
#[derive(Debug, Clone)]
pub struct Trust {
    /// A public key file (`FILE.pub`).
    pub public_key: PathBuf,
    /// A PEM certificate.
    pub ca: PathBuf,
}

/// Complete vendor settings of one ISO build.
#[derive(Debug, Clone)]
pub struct Vendor {
    pub backend_url: String,
    pub model: String,
    pub channel: String,
    /// Never empty.
    pub trusted_keys: Vec<PathBuf>,
    pub ca: PathBuf,
    pub min_manifest_version: u64,
}

impl VendorArgs {
    /// Fills in what was not given: backend, model and channel from the
    /// product defaults; keys and CA from `fallback`, called only when
    /// `--trusted-key` or `--vendor-ca` is missing.
    pub fn resolve(self, fallback: impl FnOnce() -> Result<Trust>) -> Result<Vendor> {
        let trust = if self.trusted_keys.is_empty() || self.ca.is_none() {
            Some(fallback()?)
        } else {
            None
        };
        let trusted_keys = match (&trust, self.trusted_keys.is_empty()) {
            (Some(t), true) => vec![t.public_key.clone()],
            _ => self.trusted_keys,
        };
        let ca = match (self.ca, trust) {
            (Some(p), _) => p,
            (None, Some(t)) => t.ca,
            (None, None) => bail!("--vendor-ca is required"),
        };
        Ok(Vendor {
            backend_url: self
                .backend_url
                .unwrap_or_else(|| product::DEFAULT_BACKEND_URL.into()),
            model: self.model.unwrap_or_else(|| product::DEFAULT_MODEL.into()),
            channel: self
                .channel
                .unwrap_or_else(|| product::DEFAULT_CHANNEL.into()),
            trusted_keys,
            ca,
            min_manifest_version: self.min_manifest_version,
        })
    }
}

/// The files, relative to the initramfs root, with their contents.
pub fn files(v: &Vendor) -> Result<Vec<(String, Vec<u8>)>> {
    let mut keys = Vec::new();
    for f in &v.trusted_keys {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        keys.push(
            PublicKey::from_json(&text)
                .with_context(|| format!("{}: not a public key file", f.display()))?,
        );
    }
    let ca = std::fs::read(&v.ca).with_context(|| format!("reading {}", v.ca.display()))?;
    if !String::from_utf8_lossy(&ca).contains("-----BEGIN CERTIFICATE-----") {
        bail!("{}: not a PEM certificate", v.ca.display());
    }
    let url = &v.backend_url;
    if !url.starts_with("https://") {
        bail!("--backend {url}: the backend must be an https:// URL");
    }
    let vendor = serde_json::json!({
        "backend_url": url,
        "model": v.model,
        "channel": v.channel,
    });
    let trust = TrustStore {
        keys,
        min_manifest_version: v.min_manifest_version,
        min_serial_version: 0,
    };
    Ok(vec![
        (
            "etc/installer/vendor.json".into(),
            format!("{vendor:#}\n").into_bytes(),
        ),
        (
            "etc/installer/trust.json".into(),
            trust.to_json().into_bytes(),
        ),
        ("etc/installer/backend-ca.pem".into(), ca),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_defaults_fill_the_gaps_and_the_fallback_is_asked_only_when_needed() {
        let given = VendorArgs {
            trusted_keys: vec!["k.pub".into()],
            ca: Some("ca.pem".into()),
            ..Default::default()
        };
        let v = given.resolve(|| panic!("keys and CA were given")).unwrap();
        assert_eq!(v.model, product::DEFAULT_MODEL);
        assert_eq!(v.channel, product::DEFAULT_CHANNEL);
        assert_eq!(v.backend_url, product::DEFAULT_BACKEND_URL);
        assert_eq!(v.trusted_keys, [PathBuf::from("k.pub")]);

        let only_key = VendorArgs {
            model: Some("m".into()),
            trusted_keys: vec!["mine.pub".into()],
            ..Default::default()
        };
        let v = only_key
            .resolve(|| {
                Ok(Trust {
                    public_key: "test.pub".into(),
                    ca: "test-ca.pem".into(),
                })
            })
            .unwrap();
        assert_eq!(v.model, "m");
        assert_eq!(v.trusted_keys, [PathBuf::from("mine.pub")]);
        assert_eq!(v.ca, PathBuf::from("test-ca.pem"));
    }
}
