//! The serial registry: one signed record per serial number, stored at
//! `serials/<registry id>.json` where the id is a hash of the serial
//! ([`Serial::registry_id`]); the serial itself is not published.

use crate::keys::TrustStore;
use crate::serial::Serial;
use crate::signed::{self, VerifyError};
use serde::{Deserialize, Serialize};

/// The envelope's `payload_type`.
pub const PAYLOAD_TYPE: &str = "serial";
const WHAT: &str = "serial record";

/// What one serial number entitles (the signed payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialRecord {
    /// Format version ([`crate::FORMAT`]).
    pub format: u32,
    /// The registry id of the serial this record is for, so a record copied
    /// to another serial's path is refused.
    pub serial_id: String,
    /// Grows with every change of this record.
    pub metadata_version: u64,
    /// Unix time after which the record is refused (re-sign to extend).
    pub expires: u64,
    /// The models this serial may install.
    pub entitlements: Vec<Entitlement>,
}

/// One model a serial may install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entitlement {
    /// e.g. `example-appliance`.
    pub model: String,
    /// The channels (empty: all).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Unix time the entitlement ends (the license), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
}

/// Whether a verified record lets this serial install a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entitled {
    /// Yes, through this entitlement.
    Yes(Entitlement),
    /// The record names other models only.
    OtherModels(Vec<String>),
    /// The model is listed but the entitlement ended.
    Ended {
        /// When.
        until: u64,
    },
}

impl SerialRecord {
    /// Signs the record.
    pub fn sign(&self, keys: &[&crate::keys::SecretKey]) -> Result<Vec<u8>, String> {
        let payload = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        Ok(signed::sign(PAYLOAD_TYPE, &payload, keys))
    }

    /// Verifies a stored record for `serial`: signature, format, expiry,
    /// rollback, and that it belongs to this serial.
    pub fn verify(
        bytes: &[u8],
        trust: &TrustStore,
        now: u64,
        minimum: u64,
        serial: &Serial,
    ) -> Result<SerialRecord, VerifyError> {
        let r: SerialRecord =
            signed::open_payload(bytes, trust, now, minimum.max(trust.min_serial_version))?;
        let id = serial.registry_id();
        if r.serial_id != id {
            return Err(VerifyError::Mismatch {
                what: WHAT,
                expected: format!("serial {}", serial.masked()),
                found: format!(
                    "another serial (id {}…)",
                    r.serial_id.get(..12).unwrap_or("")
                ),
            });
        }
        Ok(r)
    }

    /// Whether the record entitles `model` on `channel` at `now`.
    pub fn entitles(&self, model: &str, channel: &str, now: u64) -> Entitled {
        let mut ended = None;
        for e in &self.entitlements {
            if e.model != model
                || !(e.channels.is_empty() || e.channels.iter().any(|c| c == channel))
            {
                continue;
            }
            match e.until {
                Some(until) if until <= now => ended = Some(until),
                _ => return Entitled::Yes(e.clone()),
            }
        }
        match ended {
            Some(until) => Entitled::Ended { until },
            None => {
                Entitled::OtherModels(self.entitlements.iter().map(|e| e.model.clone()).collect())
            }
        }
    }
}

impl signed::Payload for SerialRecord {
    const TYPE: &'static str = PAYLOAD_TYPE;
    const WHAT: &'static str = WHAT;
    fn header(&self) -> (u32, u64, u64) {
        (self.format, self.expires, self.metadata_version)
    }
}
