//! The vendor settings a `cargo xtask iso` build puts into the installer:
//! backend URL, model and channel (`/etc/installer/vendor.json`), trusted
//! signing keys and metadata floors (`trust.json`) and the backend's CA
//! (`backend-ca.pem`). Backend, model and channel default to the product's
//! ([`crate::product`]); keys and CA are whatever the command passes in.
//! The floors come from the repository built against ([`floors`]): an ISO
//! never accepts metadata older than what was current when it was built.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
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
    /// `--min-serial-version N`.
    pub min_serial_version: u64,
    /// `--floors-from DIR`: the repository whose snapshot sets the floors.
    pub floors_from: Option<PathBuf>,
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
    /// The lowest manifest version accepted (raised to the repository's).
    pub min_manifest_version: u64,
    /// The lowest serial record version accepted.
    pub min_serial_version: u64,
    /// The repository built against: its `snapshot.json` (signed by a
    /// trusted key) gives the snapshot and manifest floors.
    pub floors_from: Option<PathBuf>,
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
            min_serial_version: self.min_serial_version,
            floors_from: self.floors_from,
        })
    }
}

/// The metadata versions current in a repository, from its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floors {
    /// The snapshot's own version.
    pub snapshot: u64,
    /// The version of the model's manifest on the channel (0: none listed).
    pub manifest: u64,
}

/// Reads `repo/snapshot.json`, checks it is signed by a key in `trust`
/// (its expiry does not matter here: only its versions are used) and
/// returns the versions an ISO built now must never go below.
pub fn floors(repo: &Path, trust: &TrustStore, model: &str, channel: &str) -> Result<Floors> {
    let path = repo.join(vendor_repo::snapshot::PATH);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (the floors of the ISO come from it; `cargo xtask repo timestamp` writes it)",
            path.display()
        )
    })?;
    let payload = vendor_repo::signed::open(
        &bytes,
        vendor_repo::snapshot::PAYLOAD_TYPE,
        vendor_repo::snapshot::WHAT,
        trust,
    )
    .with_context(|| format!("{}", path.display()))?;
    let s: vendor_repo::Snapshot = serde_json::from_slice(&payload)
        .with_context(|| format!("{}: not a snapshot", path.display()))?;
    let manifest = s
        .manifests
        .get(&vendor_repo::manifest_path(model, channel))
        .map_or(0, |e| e.version);
    Ok(Floors {
        snapshot: s.metadata_version,
        manifest,
    })
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
    let mut trust = TrustStore {
        keys,
        min_manifest_version: v.min_manifest_version,
        min_serial_version: v.min_serial_version,
        min_snapshot_version: 0,
    };
    if let Some(repo) = &v.floors_from {
        let f = floors(repo, &trust, &v.model, &v.channel)?;
        trust.min_snapshot_version = f.snapshot;
        trust.min_manifest_version = trust.min_manifest_version.max(f.manifest);
    }
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

    #[test]
    fn the_floors_come_from_the_repositorys_signed_snapshot() {
        use vendor_repo::SecretKey;
        let dir = std::env::temp_dir().join(format!("xtask-floors-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = dir.join("repo");
        let key = SecretKey::from_seed([3; 32], true);
        let manifest = vendor_repo::manifest_path("m", "stable");
        // A manifest at version 4 (the bytes need only a version here).
        let payload = br#"{"metadata_version": 4}"#;
        let signed = vendor_repo::signed::sign("manifest", payload, &[&key]);
        vendor_repo::publish::write_file(&repo, &manifest, &signed).unwrap();
        for _ in 0..3 {
            vendor_repo::publish::write_snapshot(&repo, &[&key], 1_000, 86_400).unwrap();
        }
        let pubkey = dir.join("TEST.pub");
        std::fs::write(&pubkey, key.public().to_json("TEST")).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let v = VendorArgs {
            model: Some("m".into()),
            channel: Some("stable".into()),
            trusted_keys: vec![pubkey.clone()],
            ca: Some(ca.clone()),
            min_manifest_version: 2,
            min_serial_version: 5,
            floors_from: Some(repo.clone()),
            ..Default::default()
        }
        .resolve(|| panic!("keys and CA were given"))
        .unwrap();
        let written = files(&v).unwrap();
        let trust = &written
            .iter()
            .find(|(p, _)| p.ends_with("trust.json"))
            .unwrap()
            .1;
        let t = TrustStore::from_json(std::str::from_utf8(trust).unwrap()).unwrap();
        assert_eq!(
            (
                t.min_snapshot_version,
                t.min_manifest_version,
                t.min_serial_version
            ),
            (3, 4, 5)
        );

        // A snapshot signed by a key the ISO does not trust sets no floor.
        let other = SecretKey::from_seed([4; 32], true);
        vendor_repo::publish::write_snapshot(&repo, &[&other], 1_000, 86_400).unwrap();
        let e = format!("{:#}", files(&v).unwrap_err());
        assert!(e.contains("not signed by a trusted key"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
