//! The first-boot setup wizard as pure code: one module per step, each with
//! the form a browser posts (raw strings) and a `validate` function that
//! turns it into a typed value or a list of [`FieldError`]s naming the form
//! field and saying what is expected. [`state::WizardState`] keeps the step
//! order and the Back/Next rules and maps a completed wizard to the
//! appliance's desired state. Nothing here does I/O; the HTTP side lives in
//! `appliance-web`. docs/wizard.md is the list of steps, fields and rules.

pub mod claim;
pub mod date;
pub mod keys;
pub mod licence;
pub mod names;
pub mod network;
pub mod radius;
pub mod roles;
pub mod state;
pub mod summary;
pub mod time;

use serde::{Deserialize, Serialize};

/// One problem with one form field. `message` names the field in words and
/// says what is expected; it never contains control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The form field's name, e.g. `address`.
    pub field: &'static str,
    /// For list fields (RADIUS clients): the 0-based row.
    pub row: Option<usize>,
    /// What is wrong and what to enter instead.
    pub message: String,
}

impl FieldError {
    /// An error for a plain field.
    pub fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            field,
            row: None,
            message: message.into(),
        }
    }

    /// An error for a field of list row `row`.
    pub fn in_row(field: &'static str, row: usize, message: impl Into<String>) -> FieldError {
        FieldError {
            field,
            row: Some(row),
            message: message.into(),
        }
    }
}

/// What the validators need to know besides the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The product a licence must name, e.g. `example-appliance`.
    pub product: String,
    /// Today's date (UTC) for licence validity.
    pub today: date::Date,
    /// The tzdata names offered, e.g. `Europe/Berlin`.
    pub time_zones: Vec<String>,
    /// The host name chosen in the network step, once known (passwords
    /// must differ from it).
    pub hostname: Option<String>,
    /// The setup code typed at the claim, canonical (passwords must differ
    /// from it). Never shown.
    #[serde(skip)]
    pub setup_code: Option<String>,
}

/// A secret typed into a form: kept as typed, never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl Secret {
    /// The text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The longest part of a typed value a message repeats.
const SHOWN_MAX: usize = 40;

/// A typed value as messages quote it: in double quotes, control and other
/// invisible characters written as `\u{..}` (never raw), cut after
/// [`SHOWN_MAX`] characters.
pub fn shown(value: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in value.chars().enumerate() {
        if i == SHOWN_MAX {
            out.push('…');
            break;
        }
        if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}') {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else if c == '"' || c == '\\' {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Reads a checkbox as browsers post it: absent or empty is off, `on`
/// (or `true`, `yes`, `1`) is on; anything else is an error naming `label`.
pub(crate) fn checkbox(
    field: &'static str,
    label: &str,
    value: &str,
    errors: &mut Vec<FieldError>,
) -> bool {
    match value.trim() {
        "" | "off" | "false" | "no" | "0" => false,
        "on" | "true" | "yes" | "1" => true,
        other => {
            errors.push(FieldError::new(
                field,
                format!(
                    "{label} is a checkbox: send \"on\" when ticked and nothing otherwise, not {}",
                    shown(other)
                ),
            ));
            false
        }
    }
}

/// Splits a list field on commas, spaces and line breaks.
pub(crate) fn split_list(value: &str) -> Vec<&str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `Ok` when `errors` is empty.
pub(crate) fn finish<T>(value: T, errors: Vec<FieldError>) -> Result<T, Vec<FieldError>> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}
