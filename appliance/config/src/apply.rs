//! The **applier**: writes rendered files into a root directory (`/` on the
//! appliance, a temporary directory in tests). Each file is written
//! atomically and only when its bytes, mode or link target differ; paths
//! that an earlier generation rendered and this one does not are removed
//! (the list of owned paths is kept in `/etc/appliance/rendered.json`).
//! The report says what changed and which units read the changed files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::render::{Content, Rendered};

/// The list of paths the applier wrote last (path → units reading it).
pub const OWNED: &str = "/etc/appliance/rendered.json";

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Paths written (new or different), sorted.
    pub changed: Vec<String>,
    /// Paths removed (rendered before, not any more), sorted.
    pub removed: Vec<String>,
    /// Units that read a changed or removed path; restart them when the
    /// system is running (at first boot they have not started yet).
    pub restart: BTreeSet<String>,
    /// Whether a unit file or drop-in changed (systemd must reload).
    pub daemon_reload: bool,
}

/// Errors of the applier; each names the path.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct ApplyError {
    /// The path below the root.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> ApplyError + '_ {
    move |source| ApplyError {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `target` already holds `content`.
fn is_current(target: &Path, content: &Content) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match content {
        Content::Symlink(dest) => {
            Ok(meta.file_type().is_symlink() && fs::read_link(target)? == Path::new(dest))
        }
        Content::File { bytes, mode } => {
            use std::os::unix::fs::PermissionsExt;
            Ok(meta.file_type().is_file()
                && meta.permissions().mode() & 0o7777 == *mode
                && fs::read(target)? == *bytes)
        }
    }
}

fn is_unit_path(p: &str) -> bool {
    p.starts_with("/etc/systemd/system/")
}

/// Writes `rendered` below `root`.
pub fn apply(root: &Path, rendered: &Rendered) -> Result<ApplyReport, ApplyError> {
    let owned_path = fsutil::under(root, OWNED);
    let previous: BTreeMap<String, Vec<String>> =
        match fsutil::read_if_exists(&owned_path).map_err(at(&owned_path))? {
            // An unreadable list only means stale files may stay; never fatal.
            Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
            None => BTreeMap::new(),
        };
    let mut report = ApplyReport::default();
    for (path, entry) in rendered {
        let target = fsutil::under(root, path);
        if is_current(&target, &entry.content).map_err(at(&target))? {
            continue;
        }
        match &entry.content {
            Content::File { bytes, mode } => {
                fsutil::write_atomic(&target, bytes, *mode).map_err(at(&target))?
            }
            Content::Symlink(dest) => fsutil::symlink_atomic(&target, dest).map_err(at(&target))?,
        }
        report.changed.push(path.clone());
        report
            .restart
            .extend(entry.units.iter().map(|u| u.to_string()));
        report.daemon_reload |= is_unit_path(path);
    }
    for (path, units) in &previous {
        if rendered.contains_key(path) {
            continue;
        }
        let target = fsutil::under(root, path);
        match fs::remove_file(&target) {
            Ok(()) => {
                report.removed.push(path.clone());
                report.restart.extend(units.iter().cloned());
                report.daemon_reload |= is_unit_path(path);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(at(&target)(e)),
        }
    }
    let owned: BTreeMap<&String, Vec<&str>> = rendered
        .iter()
        .map(|(p, e)| (p, e.units.to_vec()))
        .collect();
    let mut json = serde_json::to_string_pretty(&owned).unwrap_or_else(|_| "{}".into());
    json.push('\n');
    if fsutil::read_if_exists(&owned_path)
        .map_err(at(&owned_path))?
        .as_deref()
        != Some(json.as_bytes())
    {
        fsutil::write_atomic(&owned_path, json.as_bytes(), 0o644).map_err(at(&owned_path))?;
    }
    Ok(report)
}
