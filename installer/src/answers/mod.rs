//! Answer files: the JSON schema (docs/answer-file.md), parsing with key
//! paths in every error, and the checks that reuse the interactive
//! validators. Finding and fetching the file is [`source`]'s job.
//!
//! Parsing and checking are pure; an answer file is checked completely
//! before the flow changes anything.

mod check;
pub mod fetch;
pub mod source;
pub mod volume;

pub use crate::secret::{self, Secret};
pub use check::{check_environment, check_values, unattended_gaps};

use serde::{Deserialize, Serialize};

/// The schema version this installer reads.
pub const VERSION: u32 = 1;
/// Where the interactive run writes the answers it collected.
pub const COLLECTED_FILE: &str = "/run/installer/answers.json";
/// Where `cargo xtask iso --answers FILE` puts an answer file in the initramfs
/// (relative to `/`).
pub const EMBEDDED_FILE: &str = "etc/installer/answers.json";

/// An answer file as written. Every key but `version` may be left out; what
/// is missing is asked interactively (or, unattended, stops the run if it is
/// required). Values are strings as typed on the screens, checked by the same
/// validators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerFile {
    /// Schema version; must be [`VERSION`].
    pub version: u32,
    /// The network configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkAnswers>,
    /// The serial number, e.g. `7K3M-Q9TD-2XWB-HV5B` (a secret: only the
    /// collected answers file, readable by root only, holds it in clear).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "Secret::serialize_exposed"
    )]
    pub serial: Option<Secret>,
    /// Keyboard layout code, e.g. `de`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyboard: Option<String>,
    /// Which disk to install on (all given fields must match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<crate::install::plan::DiskSelector>,
    /// `gpt` or `mbr` (default: GPT on UEFI, MBR on BIOS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_table: Option<crate::install::plan::TableKind>,
    /// Consent to erase the chosen disk; an unattended run needs `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase_disk: Option<bool>,
    /// What to do when the steps are done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<Finish>,
}

/// The `network` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAnswers {
    /// `dhcp` or `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Adapter name, e.g. `eth0`; needed when there are several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Manual: the address with prefix length, e.g. `192.0.2.10/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Manual: the default gateway, or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Manual: one to three DNS servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    /// The hostname (manual; with DHCP it replaces the lease's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The domain; `""` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains; `[]` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Vec<String>>,
}

/// How the network is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// From a DHCP server.
    Dhcp,
    /// From the values in the file (or typed).
    Manual,
}

/// What to do at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finish {
    /// Reboot without asking.
    Reboot,
    /// Power off without asking.
    Poweroff,
    /// Show the last screen and wait for the user (the default).
    Wait,
}

/// One problem in an answer file, with the key path it concerns
/// (`network.dns[1]`), or an empty key for the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The key path, e.g. `network.gateway`; empty for syntax errors.
    pub key: String,
    /// What is wrong, as shown to the user.
    pub message: String,
}

impl KeyError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for KeyError {}

/// An answer file that was read, and where from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Where it came from, e.g. `installer.answers=http://...`.
    pub source: String,
    /// The kind of source, which decides what the file may consent to.
    pub origin: Origin,
    /// The parsed and checked file.
    pub file: AnswerFile,
}

/// The kind of source an answer file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `installer.answers=` on the kernel command line (authenticated).
    Network,
    /// A volume labelled `ANSWERS` (anyone with physical access can plug one).
    Volume,
    /// Built into the ISO's initramfs by `cargo xtask iso --answers`.
    Embedded,
}

impl Origin {
    /// True if `erase_disk: true` from this source replaces the agreement
    /// and the "press Enter" prompt. Only the ISO's own file does so on its
    /// own; the others need `installer.unattended` on the kernel command line
    /// as well (`unattended`).
    pub fn may_consent(self, unattended: bool) -> bool {
        self == Origin::Embedded || unattended
    }
}

/// An answer file (or its source) that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where it came from (or was to come from).
    pub source: String,
    /// Every problem found, in key order.
    pub errors: Vec<KeyError>,
}

/// Parses the JSON text and checks every value. Syntax and shape errors stop
/// at the first one (with its key path); value errors are all reported.
pub fn parse(text: &str) -> Result<AnswerFile, Vec<KeyError>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let file: AnswerFile =
        serde_path_to_error::deserialize(&mut de).map_err(|e| vec![shape_error(&e)])?;
    de.end()
        .map_err(|e| vec![KeyError::new("", e.to_string())])?;
    let errors = check_values(&file);
    if errors.is_empty() {
        Ok(file)
    } else {
        Err(errors)
    }
}

/// The serde message without serde_json's ` at line L column C` suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// Turns a serde error into a key error: unknown and missing fields name
/// their own key; syntax errors keep serde_json's line and column.
fn shape_error(e: &serde_path_to_error::Error<serde_json::Error>) -> KeyError {
    let inner = e.inner();
    if inner.is_syntax() || inner.is_eof() {
        return KeyError::new("", format!("invalid JSON: {inner}"));
    }
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let message = without_position(inner);
    // serde words these as "unknown field `x`, expected ..." and
    // "missing field `x`"; the key goes into the key path instead.
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let key = if path.ends_with(name) {
                path.clone()
            } else {
                join(name)
            };
            return KeyError::new(key, format!("unknown field{tail}"));
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return KeyError::new(join(name), "this key is required");
        }
    }
    KeyError::new(path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_documented_example_parses() {
        let f = parse(
            r#"{"version": 1,
                "network": {"mode": "manual", "interface": "eth0", "address": "192.0.2.10/24",
                            "gateway": "192.0.2.1", "dns": ["192.0.2.53"], "hostname": "appliance",
                            "domain": "example.com", "search": ["example.com"]},
                "keyboard": "de", "finish": "poweroff"}"#,
        )
        .unwrap();
        let n = f.network.unwrap();
        assert_eq!(n.mode, Some(Mode::Manual));
        assert_eq!(n.dns, Some(vec!["192.0.2.53".to_string()]));
        assert_eq!(f.keyboard.as_deref(), Some("de"));
        assert_eq!(f.finish, Some(Finish::Poweroff));
    }

    #[test]
    fn unknown_fields_name_their_key_path() {
        let e = errors(r#"{"version": 1, "network": {"mode": "dhcp", "adress": "x"}}"#);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("network.adress: unknown field, expected one of `mode`, `interface`"),
            "{e:?}"
        );
        let e = errors(r#"{"version": 1, "colour": "red"}"#);
        assert!(
            e[0].starts_with("colour: unknown field, expected one of `version`"),
            "{e:?}"
        );
    }

    #[test]
    fn missing_version_wrong_types_and_syntax() {
        assert_eq!(
            errors(r#"{"keyboard": "de"}"#),
            ["version: this key is required"]
        );
        assert_eq!(
            errors(r#"{"version": 1, "network": {"dns": "192.0.2.53"}}"#),
            ["network.dns: invalid type: string \"192.0.2.53\", expected a sequence"]
        );
        assert_eq!(
            errors(r#"{"version": 1, "finish": "halt"}"#),
            ["finish: unknown variant `halt`, expected one of `reboot`, `poweroff`, `wait`"]
        );
        let e = errors("{\"version\": 1,\n \"keyboard\" \"de\"}");
        assert!(
            e[0].starts_with("invalid JSON: expected `:` at line 2"),
            "{e:?}"
        );
        let e = errors(r#"{"version": 1} trailing"#);
        assert!(e[0].contains("trailing characters"), "{e:?}");
    }

    #[test]
    fn round_trips_through_serde() {
        let f = AnswerFile {
            version: 1,
            network: Some(NetworkAnswers {
                mode: Some(Mode::Dhcp),
                interface: Some("eth1".into()),
                ..NetworkAnswers::default()
            }),
            serial: Some(Secret::new("7K3M-Q9TD-2XWB-HV5B")),
            keyboard: Some("fr".into()),
            disk: None,
            partition_table: None,
            erase_disk: None,
            finish: None,
        };
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(
            text,
            r#"{"version":1,"network":{"mode":"dhcp","interface":"eth1"},"serial":"7K3M-Q9TD-2XWB-HV5B","keyboard":"fr"}"#
        );
        assert_eq!(parse(&text), Ok(f));
    }
}
