//! System → Backup and System → Restore without a socket: the forms'
//! rules, the request files for the root side (`backup.json`,
//! `restore-inspect.json`, `restore.json`: 0600, written atomically, the
//! only place the passphrase travels; root removes each right after
//! reading), the root side's status files (`/run/appliance/backup.json`,
//! `restore.json`: no secrets), and the web's own files (finished backups
//! waiting for their download, uploads waiting for their restore).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::setup::forms::Fields;

/// The shortest passphrase System → Backup accepts.
pub const MIN_PASSPHRASE: usize = 12;

/// The components in the backup's order, with their names on the pages.
pub const COMPONENTS: [(&str, &str); 4] = [
    ("etc", "Appliance configuration /etc"),
    ("db-key", "Database encryption key"),
    ("tls", "SSL certificate and key"),
    ("token-db", "The token database"),
];

/// The name of a component on the pages (its id when unknown).
pub fn label(id: &str) -> &str {
    COMPONENTS
        .iter()
        .find(|(i, _)| *i == id)
        .map_or(id, |(_, l)| l)
}

/// Where the backup and restore files live.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// The web's requests to the root side.
    pub requests_dir: PathBuf,
    /// Finished backups (written by root, owned by the web).
    pub backups_dir: PathBuf,
    /// Uploaded backups.
    pub uploads_dir: PathBuf,
    /// The root side's `backup.json`.
    pub backup_status: PathBuf,
    /// The root side's `restore.json`.
    pub restore_status: PathBuf,
    /// The largest upload, in bytes.
    pub upload_cap: u64,
    /// A backup not downloaded, or an upload not restored, is removed
    /// after this long.
    pub keep: Duration,
}

impl BackupConfig {
    /// The appliance's paths: 256 MiB uploads, files kept 30 minutes.
    pub fn system() -> BackupConfig {
        BackupConfig::under(
            Path::new("/var/lib/appliance-web"),
            Path::new("/run/appliance"),
        )
    }

    /// The web's state directory `state` and the root side's `run`.
    pub fn under(state: &Path, run: &Path) -> BackupConfig {
        BackupConfig {
            requests_dir: state.join("requests"),
            backups_dir: state.join("backups"),
            uploads_dir: state.join("restore"),
            backup_status: run.join("backup.json"),
            restore_status: run.join("restore.json"),
            upload_cap: 256 * 1024 * 1024,
            keep: Duration::from_secs(30 * 60),
        }
    }
}

/// A field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: &str) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// What System → Backup's form asks for.
pub struct BackupChoice {
    pub passphrase: String,
    /// The key alone and the data alone as two files.
    pub split: bool,
}

impl std::fmt::Debug for BackupChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupChoice")
            .field("passphrase", &"(redacted)")
            .field("split", &self.split)
            .finish()
    }
}

/// Checks System → Backup's form: the passphrase twice, at least
/// [`MIN_PASSPHRASE`] characters, and the choice of files.
pub fn backup_form(f: &Fields) -> Result<BackupChoice, Vec<FieldError>> {
    let (p, again) = (f.get("passphrase"), f.get("passphrase2"));
    let mut errors = Vec::new();
    if p.is_empty() {
        errors.push(err(
            "passphrase",
            "Enter a passphrase: the backup is encrypted with it",
        ));
    } else if p.chars().count() < MIN_PASSPHRASE {
        errors.push(err(
            "passphrase",
            &format!("The passphrase is too short: use at least {MIN_PASSPHRASE} characters"),
        ));
    } else if again != p {
        errors.push(err(
            "passphrase2",
            "The two passphrases differ: type the same passphrase twice",
        ));
    }
    let split = match f.get("files").as_str() {
        "" | "all" => false,
        "split" => true,
        _ => {
            errors.push(err(
                "files",
                "Choose one file with all components, or the key and the data as two files",
            ));
            false
        }
    };
    if errors.is_empty() {
        Ok(BackupChoice {
            passphrase: p,
            split,
        })
    } else {
        Err(errors)
    }
}

/// The components ticked on the summary (at least one).
pub fn chosen_components(f: &Fields, held: &[String]) -> Result<Vec<String>, FieldError> {
    let ticked: Vec<String> =
        f.0.iter()
            .filter(|(k, _)| k == "component")
            .map(|(_, v)| v.clone())
            .collect();
    if let Some(bad) = ticked.iter().find(|t| !held.contains(t)) {
        return Err(FieldError {
            field: "component",
            message: format!("The backup does not hold the component {bad:?}"),
        });
    }
    if ticked.is_empty() {
        return Err(err("component", "Choose at least one component to restore"));
    }
    // In the backup's order.
    Ok(COMPONENTS
        .iter()
        .map(|(id, _)| id.to_string())
        .filter(|id| ticked.contains(id))
        .collect())
}

/// A request to the root side. No `Debug`: it holds the passphrase.
#[derive(Serialize)]
pub struct JobRequest<'a> {
    pub request: &'a str,
    pub id: &'a str,
    pub requested_at: String,
    pub passphrase: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub components: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub split: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub files: &'a [String],
}

/// Writes `<request>.json` into `dir` (0700) atomically and 0600 from the
/// first byte.
pub fn write_request(dir: &Path, r: &JobRequest<'_>) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(format!("{}.json", r.request));
    let text = serde_json::to_string(r).map_err(std::io::Error::other)?;
    appliance_config::fsutil::write_atomic(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

pub use appliance_config::jobs::{
    ComponentProgress, ComponentSize, FileSummary, JobState, JobStatus,
};

/// The status, `None` while there is none; a damaged one names the file.
pub fn read_status(path: &Path) -> Result<Option<JobStatus>, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: not a backup status ({e})", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// A backup's file name as the root side makes it (no path, no leading dot).
pub fn valid_name(name: &str) -> bool {
    name.ends_with(".backup.age")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
}

/// The finished backups in `dir`: (name, bytes), by name.
pub fn backups(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let m = std::fs::symlink_metadata(e.path()).ok()?;
            (m.is_file() && valid_name(&name)).then_some((name, m.len()))
        })
        .collect();
    out.sort();
    out
}

/// Removes the regular files in `dir` older than `keep` (by mtime).
pub fn sweep(dir: &Path, keep: Duration, now: SystemTime) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(m) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let old = m
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > keep);
        if (m.is_file() || m.file_type().is_symlink()) && old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Bytes as people read them.
pub fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_backup_form_names_the_field_and_the_way_forward() {
        let e = backup_form(&fields(&[("passphrase", ""), ("passphrase2", "")])).unwrap_err();
        assert_eq!(e[0].field, "passphrase");
        assert!(e[0].message.starts_with("Enter a passphrase"));
        let e = backup_form(&fields(&[
            ("passphrase", "short"),
            ("passphrase2", "short"),
        ]))
        .unwrap_err();
        assert!(e[0].message.contains("at least 12 characters"), "{e:?}");
        let e = backup_form(&fields(&[
            ("passphrase", "TEST long passphrase"),
            ("passphrase2", "TEST long passphrasf"),
        ]))
        .unwrap_err();
        assert_eq!(e[0].field, "passphrase2");
        assert!(e[0].message.contains("differ"));
        let e = backup_form(&fields(&[
            ("passphrase", "TEST long passphrase"),
            ("passphrase2", "TEST long passphrase"),
            ("files", "three"),
        ]))
        .unwrap_err();
        assert_eq!(e[0].field, "files");
        let ok = backup_form(&fields(&[
            ("passphrase", "TEST long passphrase"),
            ("passphrase2", "TEST long passphrase"),
            ("files", "split"),
        ]))
        .unwrap();
        assert!(ok.split);
    }

    #[test]
    fn components_are_ticked_from_what_the_backup_holds() {
        let held = vec!["etc".to_string(), "tls".to_string()];
        let c = chosen_components(
            &fields(&[("component", "tls"), ("component", "etc")]),
            &held,
        )
        .unwrap();
        assert_eq!(c, ["etc", "tls"]);
        let e = chosen_components(&fields(&[]), &held).unwrap_err();
        assert!(e.message.contains("at least one"));
        let e = chosen_components(&fields(&[("component", "token-db")]), &held).unwrap_err();
        assert!(e.message.contains("\"token-db\""));
    }

    #[test]
    fn requests_are_0600_and_hold_only_what_they_need() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = write_request(
            &dir.path().join("requests"),
            &JobRequest {
                request: "restore-inspect",
                id: "abc",
                requested_at: "2026-12-07T12:00:00Z".into(),
                passphrase: "TEST passphrase",
                components: &[],
                split: false,
                files: &["upload-1.backup.age".to_string()],
            },
        )
        .unwrap();
        assert!(p.ends_with("requests/restore-inspect.json"));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["files"][0], "upload-1.backup.age");
        assert!(v.get("components").is_none() && v.get("split").is_none());
    }

    #[test]
    fn names_and_the_sweep() {
        assert!(valid_name("otp1_20261207-060000Z_all.backup.age"));
        assert!(valid_name("otp1_20261207-060000Z_etc+tls.backup.age"));
        for bad in [
            "../x.backup.age",
            ".x.backup.age",
            "x.age",
            "a/b.backup.age",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.backup.age"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert_eq!(backups(dir.path()), [("a.backup.age".to_string(), 1)]);
        sweep(dir.path(), Duration::from_secs(60), SystemTime::now());
        assert_eq!(backups(dir.path()).len(), 1, "young files stay");
        let later = SystemTime::now() + Duration::from_secs(120);
        sweep(dir.path(), Duration::from_secs(60), later);
        assert!(backups(dir.path()).is_empty());
        assert_eq!(size_text(3 * 1024 * 1024 + 1), "3.0 MiB");
    }
}
