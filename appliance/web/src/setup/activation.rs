//! The web side of activation: the final check of the whole wizard, the
//! request files the root side acts on, and the root side's status file.
//!
//! The web service cannot change the system: it writes a request
//! (`activate.json`, `confirm.json`, `rotate-code.json`) atomically and
//! 0600 into its requests directory, where a systemd path unit starts the
//! root service that handles and removes it; that service publishes its
//! progress in `/run/appliance/activation.json` (world-readable, no
//! secrets), which the progress page shows. A request file carries no
//! settings: the root side reads the wizard's state file itself.

use std::path::{Path, PathBuf};

use appliance_wizard::keys::KeysChoice;
use appliance_wizard::licence::{self, LicenceKey};
use appliance_wizard::state::{Completed, Step, WizardState};
use appliance_wizard::{keys, network, radius, roles, time, Context, FieldError};
use serde::Deserialize;

use super::forms;

/// Where the web service leaves requests for the root side.
pub const REQUESTS_DIR: &str = "/var/lib/appliance-web/requests";
/// Where the root side publishes the activation's progress.
pub const STATUS_FILE: &str = "/run/appliance/activation.json";

/// A request to the root side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Apply the wizard's state.
    Activate,
    /// Keep the new address: its Appliance Administrator signed in there.
    Confirm {
        /// The login that confirmed (for the log).
        login: String,
    },
    /// Make a new setup code: wrong ones were typed too often.
    RotateCode {
        /// Wrong codes since the last change.
        failures: usize,
    },
}

impl Request {
    /// The file name in the requests directory.
    pub fn file_name(&self) -> &'static str {
        match self {
            Request::Activate => "activate.json",
            Request::Confirm { .. } => "confirm.json",
            Request::RotateCode { .. } => "rotate-code.json",
        }
    }

    /// The file's JSON (no secrets, no settings).
    pub fn to_json(&self, requested_at: &str) -> String {
        let value = match self {
            Request::Activate => {
                serde_json::json!({"request": "activate", "requested_at": requested_at})
            }
            Request::Confirm { login } => serde_json::json!({
                "request": "confirm", "login": login, "requested_at": requested_at
            }),
            Request::RotateCode { failures } => serde_json::json!({
                "request": "rotate-code", "failures": failures, "requested_at": requested_at
            }),
        };
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Writes `request` into `dir` atomically, 0600 from the first byte (the
/// temporary file's name does not end in `.json`, so the path unit's glob
/// sees only the complete file). Returns the file's path.
pub fn write_request(dir: &Path, request: &Request) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(request.file_name());
    let text = request.to_json(&rfc3339_now());
    appliance_config::fsutil::write_atomic(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

/// Whether a request of this kind waits in `dir` (not yet taken).
pub fn pending(dir: &Path, request: &Request) -> bool {
    dir.join(request.file_name()).exists()
}

/// The activation's state, as the root side publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Nothing is happening.
    Idle,
    /// The root side is applying the settings.
    Running,
    /// The address changed: waiting for the confirmation on the new one.
    PendingConfirm,
    /// Activated.
    Done,
    /// The address change was not confirmed: the old configuration is back.
    RolledBack,
    /// The activation stopped; nothing changed.
    Failed,
}

/// `/run/appliance/activation.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    /// Where the activation is.
    pub state: State,
    /// The step being done, in words.
    #[serde(default)]
    pub step: String,
    /// What to tell the user (the failure and its way forward).
    #[serde(default)]
    pub message: String,
    /// The appliance's URL after an address change.
    #[serde(default)]
    pub new_url: String,
    /// The new certificate's SHA-256 (colon hex).
    #[serde(default)]
    pub tls_sha256: String,
    /// The new public key's SHA-256 (base64).
    #[serde(default)]
    pub spki_sha256: String,
    /// Until when the address change can be confirmed (RFC 3339).
    #[serde(default)]
    pub confirm_deadline: String,
    /// Whether the appliance powers off after the activation.
    #[serde(default)]
    pub shutdown: bool,
}

/// Why the status file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an activation status ({detail})")]
    Format { path: PathBuf, detail: String },
}

/// The status, or `None` while the root side has published none.
pub fn read_status(path: &Path) -> Result<Option<Status>, StatusError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StatusError::Format {
                path: path.to_owned(),
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StatusError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A step that does not pass the final check, with its errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepToFix {
    /// The first step that fails.
    pub step: Step,
    /// Its errors (a missing step has one, field `step`).
    pub errors: Vec<FieldError>,
}

fn fails(step: Step, errors: Vec<FieldError>) -> StepToFix {
    StepToFix { step, errors }
}

/// The final check before Activate: every step recorded and every recorded
/// step valid again by today's rules (a licence may have expired since, a
/// password may now equal the host name or the code of this claim).
pub fn recheck(
    state: &WizardState,
    ctx: &Context,
    licence_keys: &[LicenceKey],
) -> Result<Completed, StepToFix> {
    for step in Step::ORDER {
        if !state.is_done(step) {
            return Err(fails(
                step,
                vec![FieldError::new(
                    "step",
                    format!(
                        "{} is not done yet: fill it in and press Next",
                        step.title()
                    ),
                )],
            ));
        }
    }
    let c = state.completed().ok_or_else(|| {
        fails(
            Step::Licence,
            vec![FieldError::new("step", "the wizard's state is incomplete")],
        )
    })?;
    let form = licence::LicenceForm {
        accept: "on".into(),
        licence: licence::file_text(&c.licence.licence),
        update_key: c.licence.update_key.clone(),
    };
    licence::validate_signed(&form, ctx, licence_keys).map_err(|e| fails(Step::Licence, e))?;
    network::validate(&forms::network_of(&c.network)).map_err(|e| fails(Step::Network, e))?;
    time::validate(&forms::time_of(&c.time), ctx).map_err(|e| fails(Step::Time, e))?;
    let roles_form = c.roles.to_form();
    let ctx = Context {
        hostname: Some(c.network.hostname.clone()),
        ..ctx.clone()
    };
    roles::validate(&roles_form, &ctx).map_err(|e| fails(Step::Roles, e))?;
    radius::validate(&forms::radius_of(&c.radius)).map_err(|e| fails(Step::Radius, e))?;
    let k: KeysChoice =
        keys::validate(&forms::keys_of(&c.keys)).map_err(|e| fails(Step::Keys, e))?;
    Ok(Completed { keys: k, ..c })
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(now)
}

/// `unix` seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(unix: u64) -> String {
    let s = unix % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        super::store::date_of(unix),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_0600_json_without_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let reqs = dir.path().join("requests");
        let p = write_request(
            &reqs,
            &Request::Confirm {
                login: "admin".into(),
            },
        )
        .unwrap();
        assert_eq!(p, reqs.join("confirm.json"));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["request"], "confirm");
        assert_eq!(v["login"], "admin");
        assert!(pending(
            &reqs,
            &Request::Confirm {
                login: String::new()
            }
        ));
        assert!(!pending(&reqs, &Request::Activate));
        let names: Vec<_> = std::fs::read_dir(&reqs).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[test]
    fn status_files_parse_and_name_the_file_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("activation.json");
        assert_eq!(read_status(&p).unwrap(), None);
        std::fs::write(&p, r#"{"state": "pending-confirm", "new_url": "https://192.0.2.20:8443/", "shutdown": false}"#).unwrap();
        let s = read_status(&p).unwrap().unwrap();
        assert_eq!(s.state, State::PendingConfirm);
        assert_eq!(s.new_url, "https://192.0.2.20:8443/");
        std::fs::write(&p, r#"{"state": "sleeping"}"#).unwrap();
        let e = read_status(&p).unwrap_err().to_string();
        assert!(
            e.contains("activation.json: not an activation status"),
            "{e}"
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_658_061), "2026-12-07T15:41:01Z");
    }
}
