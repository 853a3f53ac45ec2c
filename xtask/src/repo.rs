//! `cargo xtask repo …`: how a vendor runs the repository (docs/repository.md).
//!
//! ```text
//! repo keygen --out FILE [--test]               new signing key (FILE 0600, FILE.pub)
//! repo publish --repo DIR --key FILE --release RELEASE.json [--valid-days N]
//!              [--snapshot-days N]
//! repo add-serial --repo DIR --key FILE --model M [--channel C]… [--serial S]
//!                 [--until YYYY-MM-DD] [--valid-days N] [--snapshot-days N]
//! repo timestamp --repo DIR --key FILE [--valid-days N]   refresh snapshot.json
//! repo license --key FILE --out FILE --licensee NAME [--product P] [--valid-from D]
//!              [--expire D] [--token-num N] [--subscription S]   licence file (repo_license)
//! repo serve --repo DIR [--listen ADDR] [--cert PEM --key PEM | --plain]
//! repo test-vendor                              (re)build the test vendor in target/test-vendor
//! ```

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use vendor_repo::publish::{self, ReleaseInput};
use vendor_repo::registry::Entitlement;
use vendor_repo::{SecretKey, Serial};

/// Metadata stays valid this long unless told otherwise (re-publish before).
pub const DEFAULT_VALID_DAYS: u64 = 90;
/// `snapshot.json` stays valid this long unless told otherwise: refresh it
/// (`repo timestamp`) more often than that.
pub const SNAPSHOT_VALID_DAYS: u64 = vendor_repo::snapshot::DEFAULT_VALID_DAYS;

/// Seconds since 1970.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes a new key pair: `out` (private, 0600, refuses to overwrite) and
/// `out.pub`.
pub fn keygen(out: &Path, test_only: bool) -> Result<SecretKey> {
    let key = SecretKey::generate(test_only)?;
    let comment = if test_only {
        "TEST KEY: for tests and demos only, never for production"
    } else {
        "vendor signing key: keep offline, never commit"
    };
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("{}: not overwriting an existing key", out.display()))?;
    f.write_all(key.to_json(comment).as_bytes())?;
    let public = public_path(out);
    fs::write(&public, key.public().to_json(comment))
        .with_context(|| format!("writing {}", public.display()))?;
    Ok(key)
}

/// `FILE.pub`.
pub fn public_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Reads a private key, refusing files others can read.
pub fn read_key(path: &Path) -> Result<SecretKey> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{}: a private key must be readable by its owner only (chmod 600)",
            path.display()
        );
    }
    let text = fs::read_to_string(path)?;
    SecretKey::from_json(&text).with_context(|| format!("reading key {}", path.display()))
}

/// Reads a release description; relative component paths are taken from
/// its directory.
pub fn read_release(path: &Path) -> Result<ReleaseInput> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let mut r: ReleaseInput = serde_path_to_error::deserialize(de)
        .map_err(|e| anyhow::anyhow!("{}: {}: {}", path.display(), e.path(), e.inner()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for c in &mut r.components {
        if c.file.is_relative() {
            c.file = base.join(&c.file);
        }
    }
    Ok(r)
}

/// Signs a new `snapshot.json` listing the repository as it is now.
pub fn timestamp(repo: &Path, key: &SecretKey, valid_days: u64) -> Result<()> {
    let s = publish::write_snapshot(repo, &[key], now(), valid_days * 86_400)?;
    println!(
        "snapshot.json: version {}, {} manifests, {} serial records, valid until {} (unix time; refresh before)",
        s.metadata_version,
        s.manifests.len(),
        s.serials.len(),
        s.expires
    );
    Ok(())
}

/// Publishes the release described in `release` into `repo`, then the
/// snapshot that names it.
pub fn publish(
    repo: &Path,
    key: &SecretKey,
    release: &Path,
    valid_days: u64,
    snapshot_days: u64,
) -> Result<()> {
    let input = read_release(release)?;
    let m = publish::publish_release(repo, &input, &[key], now(), valid_days * 86_400)?;
    println!(
        "published {} {} release {} (metadata version {}, {} components, signed by {}{})",
        m.model,
        m.channel,
        m.release,
        m.metadata_version,
        m.components.len(),
        key.id,
        if key.test_only { ", a TEST key" } else { "" }
    );
    timestamp(repo, key, snapshot_days)
}

/// `YYYY-MM-DD` → unix time (00:00 UTC).
pub fn parse_date(text: &str) -> Result<u64> {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        bail!("{text:?}: expected YYYY-MM-DD");
    };
    let (y, m, d): (u32, u32, u32) = (y.parse()?, m.parse()?, d.parse()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("{text:?}: not a date");
    }
    let days = image_builder::date::days_from_civil(y, m, d);
    if image_builder::date::civil_from_days(days) != (y, m, d) {
        bail!("{text:?}: not a date (the month has fewer days)");
    }
    Ok(days * 86_400)
}

/// Adds (or re-signs) a serial's record.
pub struct AddSerial<'a> {
    /// The repository.
    pub repo: &'a Path,
    /// The signing key.
    pub key: &'a SecretKey,
    /// The serial (`None`: a new random one).
    pub serial: Option<Serial>,
    /// Model and channels.
    pub entitlements: Vec<Entitlement>,
    /// Record validity.
    pub valid_days: u64,
    /// Validity of the snapshot written afterwards.
    pub snapshot_days: u64,
}

/// Writes the record, then the snapshot that names it; returns the serial.
pub fn add_serial(a: AddSerial<'_>) -> Result<Serial> {
    let serial = match a.serial {
        Some(s) => s,
        None => Serial::random()?,
    };
    let r = publish::add_serial(
        a.repo,
        &serial,
        a.entitlements,
        &[a.key],
        now(),
        a.valid_days * 86_400,
    )?;
    println!(
        "{serial}  -> serials/{}.json (metadata version {})",
        r.serial_id, r.metadata_version
    );
    timestamp(a.repo, a.key, a.snapshot_days)?;
    Ok(serial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(parse_date("2026-11-28").unwrap(), 1_795_824_000);
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("2026-02-30").is_err());
        assert_eq!(parse_date("2028-02-29").unwrap(), 1_835_395_200);
        assert!(parse_date("tomorrow").is_err());
    }

    #[test]
    fn keygen_writes_0600_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("xtask-keygen-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("TEST-signing-key.json");
        let key = keygen(&path, true).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_key(&path).unwrap().id, key.id);
        assert!(keygen(&path, true).is_err());
        let public = fs::read_to_string(public_path(&path)).unwrap();
        assert!(!public.contains("secret_key"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_key(&path)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
        let _ = fs::remove_dir_all(&dir);
    }
}
