//! The vendor settings a `cargo xtask iso` build puts into the installer:
//! backend URL, model and channel (`/etc/installer/vendor.json`), trusted
//! signing keys and metadata floors (`trust.json`) and the backend's CA
//! (`backend-ca.pem`). Defaults are the test vendor's ([`crate::testrepo`]).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use vendor_repo::{PublicKey, TrustStore};

/// Options of `cargo xtask iso` that concern the vendor.
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

/// The files, relative to the initramfs root, with their contents.
pub fn files(args: &VendorArgs) -> Result<Vec<(String, Vec<u8>)>> {
    let needs_test_vendor = args.trusted_keys.is_empty() || args.ca.is_none();
    let test = if needs_test_vendor {
        Some(crate::testrepo::ensure_keys()?)
    } else {
        None
    };
    let key_files: Vec<PathBuf> = match (&test, args.trusted_keys.is_empty()) {
        (Some(t), true) => vec![t.public_key.clone()],
        _ => args.trusted_keys.clone(),
    };
    let mut keys = Vec::new();
    for f in &key_files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        keys.push(
            PublicKey::from_json(&text)
                .with_context(|| format!("{}: not a public key file", f.display()))?,
        );
    }
    let ca_path = match (&args.ca, &test) {
        (Some(p), _) => p.clone(),
        (None, Some(t)) => t.tls.ca_cert.clone(),
        (None, None) => bail!("--vendor-ca is required"),
    };
    let ca = std::fs::read(&ca_path).with_context(|| format!("reading {}", ca_path.display()))?;
    if !String::from_utf8_lossy(&ca).contains("-----BEGIN CERTIFICATE-----") {
        bail!("{}: not a PEM certificate", ca_path.display());
    }
    let url = args
        .backend_url
        .clone()
        .unwrap_or(crate::testrepo::BACKEND_URL.into());
    if !url.starts_with("https://") {
        bail!("--backend {url}: the backend must be an https:// URL");
    }
    let vendor = serde_json::json!({
        "backend_url": url,
        "model": args.model.clone().unwrap_or(qemu_tests::vendor::MODEL.into()),
        "channel": args.channel.clone().unwrap_or(qemu_tests::vendor::CHANNEL.into()),
    });
    let trust = TrustStore {
        keys,
        min_manifest_version: args.min_manifest_version,
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
