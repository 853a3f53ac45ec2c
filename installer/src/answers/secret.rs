//! A wrapper for secret values (serial numbers, passwords, tokens) that keeps
//! them out of logs, events and panic messages: `Debug` and `Display` print a
//! fixed mask, and there is deliberately no `Serialize`. Code that really
//! needs the value calls [`Secret::expose`], which is easy to find in review.

use serde::Deserialize;
use std::fmt;

/// What a secret looks like in any output.
pub const MASK: &str = "********";

/// A secret string.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Never log or emit it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True if the value is empty (safe to tell).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct WithSecret {
        #[allow(dead_code)] // read through Debug only
        serial: Secret,
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("ABCD-1234-EFGH");
        assert_eq!(format!("{s}"), MASK);
        assert_eq!(format!("{s:?}"), "Secret(********)");
        assert_eq!(format!("{s:#?}"), "Secret(********)");
        assert_eq!(s.expose(), "ABCD-1234-EFGH");
        assert!(!s.is_empty());
    }

    #[test]
    fn a_deserialized_secret_stays_hidden_inside_structs() {
        let w: WithSecret = serde_json::from_str(r#"{"serial": "ABCD-1234-EFGH"}"#).unwrap();
        let dumped = format!("{w:?}");
        assert!(!dumped.contains("ABCD"), "{dumped}");
        assert!(dumped.contains(MASK), "{dumped}");
        assert_eq!(w.serial.expose(), "ABCD-1234-EFGH");
    }
}
