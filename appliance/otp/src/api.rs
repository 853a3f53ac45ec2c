//! LinOTP's request and response shapes for `validate/check` and
//! `validate/simplecheck`, independent of any HTTP server.
//!
//! The envelope: `result.status` says the request was handled,
//! `result.value` whether the user authenticated. Every refusal, and every
//! internal error, is `status: true, value: false`: a caller learns nothing
//! more than "no".

use serde::{Deserialize, Serialize};

pub const JSONRPC: &str = "2.0";
pub const VERSION: &str = concat!("appliance-otp ", env!("CARGO_PKG_VERSION"));

/// `user`, `pass` (PIN followed by the OTP) and an optional `realm`, as
/// query string or form fields.
#[derive(Clone, Deserialize, PartialEq, Eq)]
pub struct CheckRequest {
    pub user: String,
    pub pass: String,
    #[serde(default)]
    pub realm: Option<String>,
}

impl std::fmt::Debug for CheckRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckRequest")
            .field("user", &self.user)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeResult {
    pub status: bool,
    pub value: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub jsonrpc: String,
    pub result: EnvelopeResult,
    pub version: String,
    pub id: u32,
}

impl Envelope {
    /// A handled request: `value` is the verdict.
    pub fn verdict(value: bool) -> Envelope {
        Envelope {
            jsonrpc: JSONRPC.to_string(),
            result: EnvelopeResult {
                status: true,
                value,
            },
            version: VERSION.to_string(),
            id: 0,
        }
    }

    /// A request that could not be read (a parameter missing):
    /// `status: false`.
    pub fn unreadable() -> Envelope {
        Envelope {
            result: EnvelopeResult {
                status: false,
                value: false,
            },
            ..Envelope::verdict(false)
        }
    }

    /// The body of `validate/simplecheck`.
    pub fn simple(&self) -> &'static str {
        if self.result.value {
            ":-)"
        } else {
            ":-("
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_envelopes() {
        let version = VERSION;
        assert_eq!(
            serde_json::to_string(&Envelope::verdict(true)).unwrap(),
            format!(
                r#"{{"jsonrpc":"2.0","result":{{"status":true,"value":true}},"version":"{version}","id":0}}"#
            )
        );
        assert_eq!(
            serde_json::to_string(&Envelope::verdict(false)).unwrap(),
            format!(
                r#"{{"jsonrpc":"2.0","result":{{"status":true,"value":false}},"version":"{version}","id":0}}"#
            )
        );
        assert_eq!(
            serde_json::to_string(&Envelope::unreadable()).unwrap(),
            format!(
                r#"{{"jsonrpc":"2.0","result":{{"status":false,"value":false}},"version":"{version}","id":0}}"#
            )
        );
        assert_eq!(Envelope::verdict(true).simple(), ":-)");
        assert_eq!(Envelope::verdict(false).simple(), ":-(");
    }

    #[test]
    fn requests_read_from_json_and_debug_hides_the_pass() {
        let req: CheckRequest =
            serde_json::from_str(r#"{"user":"alice","pass":"4711755224"}"#).unwrap();
        assert_eq!(req.realm, None);
        assert!(!format!("{req:?}").contains("4711"));
        let err = serde_json::from_str::<CheckRequest>(r#"{"user":"alice"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `pass`"), "{err}");
    }
}
