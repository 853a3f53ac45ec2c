//! Step 6, keys and activation: which keys and internal passwords are made
//! anew (all by default) and whether the appliance shuts down afterwards.

use serde::{Deserialize, Serialize};

use crate::{checkbox, finish, FieldError};

/// The keys form (checkboxes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeysForm {
    /// "Regenerate SSH host keys".
    pub regenerate_ssh: String,
    /// "Regenerate the TLS certificate".
    pub regenerate_tls: String,
    /// "Regenerate the database encryption key".
    pub regenerate_db_key: String,
    /// "Regenerate the internal database passwords".
    pub regenerate_db_passwords: String,
    /// "Shut down after activation".
    pub shutdown: String,
}

impl KeysForm {
    /// The form as first shown: every regenerate switch on, shut-down off.
    pub fn initial() -> KeysForm {
        KeysForm {
            regenerate_ssh: "on".into(),
            regenerate_tls: "on".into(),
            regenerate_db_key: "on".into(),
            regenerate_db_passwords: "on".into(),
            shutdown: String::new(),
        }
    }
}

/// The choices of the keys step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysChoice {
    /// New SSH host keys.
    pub ssh: bool,
    /// New TLS key and certificate.
    pub tls: bool,
    /// New database encryption key.
    pub db_key: bool,
    /// New internal database passwords.
    pub db_passwords: bool,
    /// Power off after activation (no address confirmation then).
    pub shutdown: bool,
}

/// Field labels, as on the page.
pub const LABELS: [(&str, &str); 5] = [
    ("regenerate_ssh", "\"Regenerate SSH host keys\""),
    ("regenerate_tls", "\"Regenerate the TLS certificate\""),
    (
        "regenerate_db_key",
        "\"Regenerate the database encryption key\"",
    ),
    (
        "regenerate_db_passwords",
        "\"Regenerate the internal database passwords\"",
    ),
    ("shutdown", "\"Shut down after activation\""),
];

/// Checks the keys step.
pub fn validate(form: &KeysForm) -> Result<KeysChoice, Vec<FieldError>> {
    let mut errors = Vec::new();
    let values = [
        &form.regenerate_ssh,
        &form.regenerate_tls,
        &form.regenerate_db_key,
        &form.regenerate_db_passwords,
        &form.shutdown,
    ];
    let mut on = [false; 5];
    for (i, ((field, label), value)) in LABELS.iter().zip(values).enumerate() {
        on[i] = checkbox(field, label, value, &mut errors);
    }
    finish(
        KeysChoice {
            ssh: on[0],
            tls: on[1],
            db_key: on[2],
            db_passwords: on[3],
            shutdown: on[4],
        },
        errors,
    )
}
