//! The audit log: who did what to which token, and how it ended.
//!
//! An entry is built only from enums, checked names ([`Serial`],
//! [`Login`], [`RealmName`]) and a time stamp: there is no free-text field,
//! so no PIN, OTP, password or seed can be written into it. A login that
//! did not resolve to a user is not logged either (it may be a password
//! typed into the user field); such attempts log `unknown-user` alone.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::names::{Login, Serial, UserRef};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    ValidateCheck,
    SelfserviceResync,
    AdminInit,
    AdminAssign,
    AdminSetPin,
    AdminEnable,
    AdminDisable,
    AdminResetFailCounter,
    AdminResync,
    AdminRemove,
    AdminSetPolicies,
    AdminLogin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditResult {
    Success,
    Refused,
    Locked,
    Disabled,
    UnknownRealm,
    UnknownUser,
    NoToken,
    NotOwner,
    BadPassword,
    PolicyDenied,
    BadRequest,
    InternalError,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Seconds since the Unix epoch.
    pub time: u64,
    pub action: AuditAction,
    pub result: AuditResult,
    /// The user the request was about (after it resolved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<Login>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<Serial>,
}

impl AuditEntry {
    /// One JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("audit entries serialise")
    }
}

pub trait AuditSink: Send + Sync {
    fn record(&self, entry: AuditEntry);
}

impl<T: AuditSink + ?Sized> AuditSink for std::sync::Arc<T> {
    fn record(&self, entry: AuditEntry) {
        (**self).record(entry);
    }
}

/// Entries kept in memory (tests; the service will append to a file).
#[derive(Default)]
pub struct MemoryAudit(Mutex<Vec<AuditEntry>>);

impl MemoryAudit {
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, entry: AuditEntry) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
    }
}

/// Entries appended to a file as JSON lines (the appliance keeps it on
/// the data partition). The file is created with mode 0600 and opened for
/// appending, so each entry is one `write` at the end; a failed write is
/// counted ([`FileAudit::write_errors`]) since recording cannot fail the
/// request it describes.
pub struct FileAudit {
    file: Mutex<std::fs::File>,
    path: std::path::PathBuf,
    errors: std::sync::atomic::AtomicU64,
}

impl FileAudit {
    pub fn open(path: &std::path::Path) -> std::io::Result<FileAudit> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        Ok(FileAudit {
            file: Mutex::new(file),
            path: path.to_path_buf(),
            errors: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Entries that could not be written since the file was opened.
    pub fn write_errors(&self) -> u64 {
        self.errors.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl AuditSink for FileAudit {
    fn record(&self, entry: AuditEntry) {
        use std::io::Write;
        let mut line = entry.to_line();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.write_all(line.as_bytes()).is_err() {
            self.errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::RealmName;

    #[test]
    fn the_file_audit_appends_lines_to_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let entry = AuditEntry {
            time: 1,
            action: AuditAction::AdminLogin,
            result: AuditResult::Success,
            user: None,
            admin: Some(Login::new("admin").unwrap()),
            serial: None,
        };
        FileAudit::open(&path).unwrap().record(entry.clone());
        let audit = FileAudit::open(&path).unwrap();
        audit.record(entry.clone());
        assert_eq!(audit.write_errors(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{0}\n{0}\n", entry.to_line()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn golden_json_line() {
        let entry = AuditEntry {
            time: 1_700_000_000,
            action: AuditAction::ValidateCheck,
            result: AuditResult::Refused,
            user: Some(UserRef {
                realm: RealmName::new("staff").unwrap(),
                login: Login::new("alice").unwrap(),
            }),
            admin: None,
            serial: Some(Serial::new("HOTP1").unwrap()),
        };
        assert_eq!(
            entry.to_line(),
            r#"{"time":1700000000,"action":"validate-check","result":"refused","user":{"realm":"staff","login":"alice"},"serial":"HOTP1"}"#
        );
    }
}
