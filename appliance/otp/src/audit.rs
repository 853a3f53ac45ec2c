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
    AdminSetPolicies,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::RealmName;

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
