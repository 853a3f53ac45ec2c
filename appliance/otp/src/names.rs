//! Checked names: token serials, user logins and realm names.
//!
//! Every name that reaches the store or the audit log went through one of
//! these constructors, so none of them can carry arbitrary text (a PIN typed
//! into the wrong field is the one thing they cannot rule out; the audit
//! log's types keep OTP values and seeds out structurally).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct NameError {
    pub field: &'static str,
    pub reason: String,
}

fn check(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError {
            field,
            reason: "must not be empty".into(),
        });
    }
    if value.chars().count() > max {
        return Err(NameError {
            field,
            reason: format!("longer than {max} characters"),
        });
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(NameError {
            field,
            reason: format!("character {bad:?} is not allowed"),
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(value: &str) -> Result<$name, NameError> {
                check($field, value, $max, $allowed)?;
                Ok($name(value.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<$name, NameError> {
                $name::new(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn serial_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn login_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')
}

name_type!(
    /// A token serial (`[A-Za-z0-9._-]`, at most 40 characters, like LinOTP's column).
    Serial, "serial", 40, serial_char
);
name_type!(
    /// A user's login name (`[A-Za-z0-9._@-]`, at most 64 characters).
    Login, "user", 64, login_char
);
name_type!(
    /// A realm's name (`[A-Za-z0-9._-]`, at most 64 characters).
    RealmName, "realm", 64, serial_char
);

/// A user as tokens and policies know them: login within a realm.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserRef {
    pub realm: RealmName,
    pub login: Login,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_errors_name_the_field() {
        assert_eq!(Serial::new("HOTP-0001").unwrap().as_str(), "HOTP-0001");
        assert_eq!(
            Serial::new("").unwrap_err().to_string(),
            "serial: must not be empty"
        );
        assert_eq!(
            Login::new("a b").unwrap_err().to_string(),
            "user: character ' ' is not allowed"
        );
        assert_eq!(
            RealmName::new(&"r".repeat(65)).unwrap_err().to_string(),
            "realm: longer than 64 characters"
        );
        assert_eq!(
            Login::new("alice@example").unwrap().to_string(),
            "alice@example"
        );
    }

    #[test]
    fn deserialising_checks_too() {
        assert!(serde_json::from_str::<Serial>("\"ok_1\"").is_ok());
        let err = serde_json::from_str::<Serial>("\"no;\"").unwrap_err();
        assert!(err.to_string().contains("serial: character ';'"), "{err}");
    }
}
