//! What the web side reads: `/run/appliance/activation.json`
//! (world-readable, no secrets), and the persistent record of an
//! activation that is not final yet (`/etc/appliance/activation-pending.json`,
//! 0600), which every boot looks at.

use std::path::Path;

use appliance_config::fsutil::{self, under};
use appliance_config::paths;
use handover::Ipv4Cidr;
use serde::{Deserialize, Serialize};

/// Where an activation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Nothing asked yet.
    Idle,
    /// Working.
    Running,
    /// Waiting for the confirmation from the new address.
    PendingConfirm,
    /// Done and final.
    Done,
    /// Not confirmed in time (or interrupted): the previous configuration is back.
    RolledBack,
    /// Refused or failed; the message says why and what to do.
    Failed,
}

/// The status file (the contract with the web side: every key always present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The phase.
    pub state: Phase,
    /// The step being done (short, e.g. `checking clients.conf`).
    pub step: String,
    /// A sentence for the page.
    pub message: String,
    /// The wizard's URL on the new address, or empty.
    pub new_url: String,
    /// SHA-256 of the served certificate (colon hex), or empty.
    pub tls_sha256: String,
    /// SHA-256 of its public key (base64), or empty.
    pub spki_sha256: String,
    /// RFC 3339, or empty.
    pub confirm_deadline: String,
    /// Whether the appliance powers off after activation.
    pub shutdown: bool,
}

impl Status {
    /// A status with only phase, step and message.
    pub fn new(state: Phase, step: &str, message: impl Into<String>) -> Status {
        Status {
            state,
            step: step.to_string(),
            message: message.into(),
            new_url: String::new(),
            tls_sha256: String::new(),
            spki_sha256: String::new(),
            confirm_deadline: String::new(),
            shutdown: false,
        }
    }
}

/// Writes the status file (0644).
pub fn write(root: &Path, status: &Status) -> std::io::Result<()> {
    let mut json = serde_json::to_string_pretty(status).map_err(std::io::Error::other)?;
    json.push('\n');
    fsutil::write_atomic(
        &under(root, paths::ACTIVATION_STATUS),
        json.as_bytes(),
        0o644,
    )
}

/// Reads the status file, if any.
pub fn read(root: &Path) -> Option<Status> {
    let b = fsutil::read_if_exists(&under(root, paths::ACTIVATION_STATUS))
        .ok()
        .flatten()?;
    serde_json::from_slice(&b).ok()
}

/// An activation that is not final yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The activation's generation.
    pub generation: u64,
    /// The generation before it (what a rollback returns to).
    pub previous: u64,
    /// When an unconfirmed address change rolls back (RFC 3339); `None`
    /// when no confirmation is needed.
    pub confirm_deadline: Option<String>,
    /// The interface whose old address is kept.
    pub interface: String,
    /// The old address kept meanwhile.
    pub old_address: Option<Ipv4Cidr>,
    /// The wizard's URL on the new address.
    pub new_url: Option<String>,
    /// Power off after activation.
    pub shutdown: bool,
    /// Whether the internal database passwords are rotated at the end.
    pub rotate_db_passwords: bool,
    /// Set once a rollback started (a rollback is finished at the next
    /// boot if it was interrupted).
    pub rolling_back: bool,
    /// The change comes from a restored configuration (System → Restore),
    /// not from the wizard: its messages say so, and a rollback returns
    /// only the configuration's generation (the restored keys, certificate
    /// and files stay).
    #[serde(default)]
    pub restore: bool,
}

/// Reads the record; a damaged one is an error naming the file.
pub fn read_record(root: &Path) -> Result<Option<Record>, String> {
    let path = under(root, paths::ACTIVATION_RECORD);
    match fsutil::read_if_exists(&path) {
        Ok(None) => Ok(None),
        Ok(Some(b)) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the record (0600).
pub fn write_record(root: &Path, r: &Record) -> std::io::Result<()> {
    let mut json = serde_json::to_string_pretty(r).map_err(std::io::Error::other)?;
    json.push('\n');
    fsutil::write_atomic(
        &under(root, paths::ACTIVATION_RECORD),
        json.as_bytes(),
        0o600,
    )
}

/// Removes the record (the activation is final, or rolled back).
pub fn remove_record(root: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(under(root, paths::ACTIVATION_RECORD)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
