//! The vendor backend as the installer sees it: where it is, which keys and
//! CA it trusts (fixed at ISO build time), and what asking it about a serial
//! number can result in. The flow asks through [`VendorOps`]; the real
//! implementation is [`system::SystemVendor`] (HTTPS via [`crate::backend`],
//! verification via `vendor_repo`).

pub mod config;
pub mod system;
pub mod verify;

pub use config::VendorConfig;

use vendor_repo::Serial;

/// What the backend said about a serial number, after verification.
// Made once per check and moved on at once: the size difference is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialCheck {
    /// Signed record found, entitles this model; the release is known.
    Verified(Verified),
    /// The registry has no record for this serial.
    Unknown,
    /// "Backend has no support for this Appliance": the serial
    /// entitles other models only, or no release of this model is published.
    NoSupport {
        /// What exactly, for the line under that message.
        detail: String,
    },
    /// The serial entitled this model, but that ended.
    Ended {
        /// Unix time it ended.
        until: u64,
    },
    /// Asking was not possible or the answer cannot be trusted.
    Problem(Problem),
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The serial as typed, canonical.
    pub serial: Serial,
    /// The model entitled (this ISO's).
    pub model: String,
    /// The channel.
    pub channel: String,
    /// Unix time the entitlement ends, if it does.
    pub until: Option<u64>,
    /// The release the manifest offers.
    pub release: String,
    /// The manifest's metadata version.
    pub manifest_version: u64,
    /// The verified manifest (what the install step installs).
    pub manifest: vendor_repo::Manifest,
}

/// Why the backend could not answer usefully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Short kind for the event: `clock`, `unreachable`, `tls`, `untrusted`,
    /// `not-configured`, `backend`.
    pub kind: &'static str,
    /// What happened.
    pub detail: String,
    /// What to do.
    pub hint: String,
}

/// Talking to the backend; a fake in tests.
pub trait VendorOps {
    /// The product name for screens.
    fn product(&self) -> String;
    /// The backend's URL, for screens.
    fn backend_url(&self) -> String;
    /// Asks the backend about `serial` and verifies the answer (serial
    /// record, then the model's manifest).
    fn check_serial(&mut self, serial: &Serial) -> SerialCheck;
    /// Waits before an unattended retry.
    fn pause(&mut self, seconds: u64);
}
