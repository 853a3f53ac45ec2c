//! `MANIFEST.json`, the first entry of the inner tar: what the backup holds,
//! with a SHA-256 and a size for every file. Parsing is pure and refuses
//! anything it does not understand with the field named.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::filter;

/// The value of the `format` key.
pub const FORMAT: &str = "appliance-backup";
/// The manifest format this library writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The largest manifest the reader accepts (it is read into memory).
pub const MAX_MANIFEST: u64 = 1 << 20;

/// A component of a backup. The order here is the order in the tar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ComponentId {
    #[serde(rename = "etc")]
    Etc,
    #[serde(rename = "db-key")]
    DbKey,
    #[serde(rename = "tls")]
    Tls,
    #[serde(rename = "token-db")]
    TokenDb,
}

impl ComponentId {
    pub const ALL: [ComponentId; 4] = [Self::Etc, Self::DbKey, Self::Tls, Self::TokenDb];

    /// The name in the manifest and in `components/<name>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Etc => "etc",
            Self::DbKey => "db-key",
            Self::Tls => "tls",
            Self::TokenDb => "token-db",
        }
    }

    /// Whether the component carries a key-check value (the key and the
    /// database it opens).
    pub fn has_key_check(self) -> bool {
        matches!(self, Self::DbKey | Self::TokenDb)
    }
}

impl std::fmt::Display for ComponentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the backup was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub hostname: String,
    pub model: String,
    pub release: String,
    pub install_id: String,
}

/// One file of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to `components/<id>/`.
    pub path: String,
    /// Lower-case hex.
    pub sha256: String,
    pub size: u64,
    /// Permission bits (at most 0o777).
    pub mode: u32,
}

/// One component with its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub id: ComponentId,
    pub schema: u32,
    /// 16 lower-case hex digits; present exactly for `db-key` and `token-db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_check: Option<String>,
    pub files: Vec<FileEntry>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// RFC 3339, UTC, whole seconds (`2026-12-07T06:00:00Z`).
    pub created: String,
    pub source: Source,
    pub components: Vec<Component>,
}

/// Why a manifest is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ManifestError {
    #[error("MANIFEST.json is not valid JSON: {0}")]
    Json(String),
    #[error("MANIFEST.json: `format` is {0:?}, not \"appliance-backup\"")]
    NotOurs(String),
    #[error("MANIFEST.json: key `format_version` is missing or not a number")]
    NoVersion,
    #[error(
        "the backup has format version {found}; this release reads up to version {supported} \
         (restore it with a newer release)"
    )]
    Newer { found: u64, supported: u32 },
    #[error("MANIFEST.json: {0}")]
    Field(String),
    #[error("MANIFEST.json: key `{key}` {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a `created` value: `YYYY-MM-DDTHH:MM:SSZ`.
fn check_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn check_text(key: &str, v: &str) -> Result<(), ManifestError> {
    if v.is_empty() || v.len() > 253 || v.chars().any(char::is_control) {
        return Err(invalid(
            key,
            "must be 1 to 253 characters without control characters",
        ));
    }
    Ok(())
}

impl Manifest {
    /// Parses and validates a manifest. A newer `format_version` is refused
    /// before the rest is interpreted.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        let format = value
            .get("format")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if format != FORMAT {
            return Err(ManifestError::NotOurs(format.to_owned()));
        }
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or(ManifestError::NoVersion)?;
        if version > u64::from(FORMAT_VERSION) {
            return Err(ManifestError::Newer {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let m: Manifest =
            serde_json::from_value(value).map_err(|e| ManifestError::Field(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// The checks beyond the JSON shape.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.format_version == 0 {
            return Err(invalid("format_version", "must be at least 1"));
        }
        if !check_time(&self.created) {
            return Err(invalid("created", "must look like 2026-12-07T06:00:00Z"));
        }
        check_text("source.hostname", &self.source.hostname)?;
        check_text("source.model", &self.source.model)?;
        check_text("source.release", &self.source.release)?;
        check_text("source.install_id", &self.source.install_id)?;
        if self.components.is_empty() {
            return Err(invalid("components", "is empty"));
        }
        let mut seen = Vec::new();
        for c in &self.components {
            let id = c.id.as_str();
            if seen.contains(&c.id) {
                return Err(invalid(format!("components[{id}]"), "appears twice"));
            }
            seen.push(c.id);
            if c.schema == 0 {
                return Err(invalid(
                    format!("components[{id}].schema"),
                    "must be at least 1",
                ));
            }
            match (&c.key_check, c.id.has_key_check()) {
                (Some(k), true) if is_hex(k, 16) => {}
                (_, true) => {
                    return Err(invalid(
                        format!("components[{id}].key_check"),
                        "must be 16 lower-case hex digits",
                    ))
                }
                (Some(_), false) => {
                    return Err(invalid(
                        format!("components[{id}].key_check"),
                        "is not expected",
                    ))
                }
                (None, false) => {}
            }
            if c.files.is_empty() {
                return Err(invalid(format!("components[{id}].files"), "is empty"));
            }
            let mut names: Vec<&str> = Vec::with_capacity(c.files.len());
            for f in &c.files {
                let key = format!("components[{id}].files[{:?}]", f.path);
                let full = format!("components/{id}/{}", f.path);
                let name = filter::check_path(full.as_bytes())
                    .map_err(|e| invalid(format!("{key}.path"), e.to_string()))?;
                if name != full {
                    return Err(invalid(format!("{key}.path"), "must not end with `/`"));
                }
                if !is_hex(&f.sha256, 64) {
                    return Err(invalid(
                        format!("{key}.sha256"),
                        "must be 64 lower-case hex digits",
                    ));
                }
                if f.mode > 0o777 {
                    return Err(invalid(format!("{key}.mode"), "must be at most 0o777"));
                }
                names.push(&f.path);
            }
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != names.len() {
                return Err(invalid(
                    format!("components[{id}].files"),
                    "names a file twice",
                ));
            }
            // A file that is also a directory of another would not unpack.
            for w in sorted.windows(2) {
                if w[1].starts_with(w[0]) && w[1].as_bytes().get(w[0].len()) == Some(&b'/') {
                    return Err(invalid(
                        format!("components[{id}].files"),
                        format!("{:?} is both a file and a directory", w[0]),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The component, if the backup holds it.
    pub fn component(&self, id: ComponentId) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_time(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil from days (proleptic Gregorian), after H. Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_time(1_796_623_199), "2026-12-07T05:59:59Z");
    }
}
