//! The first-boot **handover record**: what the installer knows and the
//! installed appliance needs on its first boot (release, serial number,
//! network, keyboard, console). The installer writes it as JSON to
//! `/handover/handover.json` on the appliance's boot partition (FAT, label
//! [`BOOT_LABEL`]); the appliance reads it with [`Handover::parse`].
//!
//! `docs/handover.md` documents every field; [`EXAMPLE_JSON`] is the example
//! shown there (a test keeps the two identical).
//!
//! Compatibility: the record carries `format: 1`. Unknown fields are ignored
//! (newer installers may add some); a different `format` is refused with
//! [`HandoverError::UnsupportedFormat`] before anything else is read.
//!
//! This crate is pure: no I/O besides parsing and serializing.

mod types;
mod validate;

pub use types::{
    Component, Console, Entitlement, InstallerInfo, Ipv4Cidr, Keyboard, MacAddr, NetMode, Network,
    Release,
};

use serde::{Deserialize, Serialize};

/// The only format this crate reads and writes.
pub const FORMAT: u64 = 1;
/// File system label of the appliance's boot partition (FAT).
pub const BOOT_LABEL: &str = "APPBOOT";
/// The kernel parameter with the boot partition's FAT volume id
/// (`appliance.boot_volume=7E57-0001`): the installer writes it into
/// `grub.cfg`, the appliance finds its boot partition by it.
pub const BOOT_VOLUME_PARAM: &str = "appliance.boot_volume";
/// Path of the record on the boot partition.
pub const HANDOVER_PATH: &str = "/handover/handover.json";
/// Path of the installer's log on the boot partition, next to the record.
pub const INSTALLER_LOG_PATH: &str = "/handover/installer.log";
/// The example record of `docs/handover.md`.
pub const EXAMPLE_JSON: &str = include_str!("example.json");

/// The handover record, format 1. See `docs/handover.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// Always [`FORMAT`].
    pub format: u64,
    /// 32 lowercase hex digits (128 random bits) naming this installation.
    pub install_id: String,
    /// When the installation finished, seconds since the Unix epoch (UTC).
    pub installed_at: u64,
    /// Which installer wrote the record.
    pub installer: InstallerInfo,
    /// What was installed.
    pub release: Release,
    /// The appliance's serial number (confidential: shown masked).
    pub serial: String,
    /// What the serial number entitles to, as the vendor backend said.
    pub entitlement: Entitlement,
    /// The network configuration chosen in the installer.
    pub network: Network,
    /// The console keyboard layout chosen in the installer.
    pub keyboard: Keyboard,
    /// The console the installer ran on; the appliance's boot loader uses it.
    pub console: Console,
}

/// Errors reading or writing a record. Every field error names the JSON path
/// (`network.mac`, `release.components[0].sha256`).
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The text is not JSON.
    #[error("the handover record is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    /// The top level is not an object.
    #[error("the handover record is not a JSON object")]
    NotAnObject,
    /// The `format` field is missing.
    #[error("format: missing; a handover record starts with \"format\": {FORMAT}")]
    MissingFormat,
    /// The record has another format.
    #[error("format: {found} is not supported; this appliance reads format {FORMAT} (was it installed by a newer installer?)")]
    UnsupportedFormat {
        /// The value found, as JSON.
        found: String,
    },
    /// A field is missing, has the wrong type or an invalid value.
    #[error("{path}: {message}")]
    Field {
        /// The JSON path, e.g. `network.mac`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Serializing failed (not expected for valid records).
    #[error("cannot serialize the handover record: {0}")]
    Serialize(#[source] serde_json::Error),
}

impl HandoverError {
    /// The JSON path the error is about, if it is about one field.
    pub fn path(&self) -> Option<&str> {
        match self {
            HandoverError::Field { path, .. } => Some(path),
            HandoverError::MissingFormat | HandoverError::UnsupportedFormat { .. } => {
                Some("format")
            }
            _ => None,
        }
    }
}

impl Handover {
    /// Parses and checks a record: JSON syntax, then `format`, then every
    /// field (types, then values such as the MAC address or the hostname).
    pub fn parse(text: &str) -> Result<Handover, HandoverError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(HandoverError::Syntax)?;
        let obj = value.as_object().ok_or(HandoverError::NotAnObject)?;
        match obj.get("format") {
            None => return Err(HandoverError::MissingFormat),
            Some(f) if f.as_u64() == Some(FORMAT) => {}
            Some(f) => {
                return Err(HandoverError::UnsupportedFormat {
                    found: f.to_string(),
                })
            }
        }
        let record: Handover = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            HandoverError::Field {
                path,
                message: e.into_inner().to_string(),
            }
        })?;
        record.validate()?;
        Ok(record)
    }

    /// Checks the values [`Handover::parse`] checks (for records built in code).
    pub fn validate(&self) -> Result<(), HandoverError> {
        validate::record(self).map_err(|(path, message)| HandoverError::Field { path, message })
    }

    /// The record as pretty-printed JSON (two-space indent, trailing newline),
    /// fields in the documented order.
    pub fn to_json_pretty(&self) -> Result<String, HandoverError> {
        self.validate()?;
        let mut s = serde_json::to_string_pretty(self).map_err(HandoverError::Serialize)?;
        s.push('\n');
        Ok(s)
    }

    /// The serial number with every group but the last masked:
    /// `ABCD-EFGH-JKMN-PQRS` → `****-****-****-PQRS`.
    pub fn masked_serial(&self) -> String {
        mask_serial(&self.serial)
    }
}

/// Masks all characters except the last `-`-separated group (or, without
/// dashes, all but the last four characters).
pub fn mask_serial(serial: &str) -> String {
    let keep_from = match serial.rfind('-') {
        Some(i) => i,
        None => serial.len().saturating_sub(4),
    };
    serial
        .char_indices()
        .map(|(i, c)| if i >= keep_from || c == '-' { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests;
