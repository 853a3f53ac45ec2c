//! Claim: the setup code shown on the console opens the wizard. This module
//! only reads the typed code; comparing it with the stored verifier, rate
//! limits and rotation belong to the server.

use appliance_config::setup_code::{CodeError, SetupCode};
use serde::{Deserialize, Serialize};

use crate::{shown, FieldError, Secret};

/// The claim form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaimForm {
    /// "Setup code", as typed.
    pub setup_code: Secret,
}

/// Field label.
pub const LABEL: &str = "Setup code";

/// Reads the typed code (lower case, spaces, dashes and the I/L/O look-alikes
/// are accepted).
pub fn validate(form: &ClaimForm) -> Result<SetupCode, Vec<FieldError>> {
    let typed = form.setup_code.expose();
    if typed.trim().is_empty() {
        return Err(vec![FieldError::new(
            "setup_code",
            format!("{LABEL} is required: type the code shown on the appliance's console"),
        )]);
    }
    SetupCode::parse(typed).map_err(|e| {
        let message = match e {
            CodeError::BadCharacter { found, position } => format!(
                "{LABEL}: {} at position {position} cannot appear in a setup code; use digits and the letters A-Z without U, as on the console",
                shown(&found.to_string())
            ),
            CodeError::Length { count } => format!(
                "{LABEL} has 13 letters and digits (e.g. 7K3M-Q9TD-2XWB-H); {count} were typed"
            ),
            CodeError::Check => format!(
                "{LABEL} contains a typo (its last symbol does not match the others): compare it with the console"
            ),
            CodeError::YzSwapped => format!(
                "{LABEL} contains a typo, but with Y and Z exchanged it would be valid: check the keyboard layout"
            ),
        };
        vec![FieldError::new("setup_code", message)]
    })
}
