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

/// Checks that a file's bytes can be an answer file (at most
/// [`volume::MAX_SIZE`] bytes, UTF-8), then [`parse`]s them, so a binary or
/// huge file gets a message of its own rather than a JSON error. The CLI
/// reads files through it; the stick and URL readers make the same two
/// checks while reading.
pub fn parse_bytes(bytes: &[u8]) -> Result<AnswerFile, Vec<KeyError>> {
    if bytes.len() as u64 > volume::MAX_SIZE {
        return Err(vec![KeyError::new(
            "",
            format!(
                "the file has {} bytes; an answer file has at most {} (1 MiB)",
                bytes.len(),
                volume::MAX_SIZE
            ),
        )]);
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(vec![KeyError::new(
            "",
            "the file is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8",
        )]);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        vec![KeyError::new(
            "",
            format!(
                "the file is not UTF-8 text: the byte at offset {} is not valid UTF-8",
                e.valid_up_to()
            ),
        )]
    })?;
    parse(text)
}

/// Parses the JSON text and checks every value. Syntax and shape errors stop
/// at the first one (with its key path); value errors are all reported.
pub fn parse(text: &str) -> Result<AnswerFile, Vec<KeyError>> {
    // A byte order mark (Windows editors write one) is allowed and skipped.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(at) = text.bytes().position(|b| b == 0) {
        return Err(vec![KeyError::new(
            "",
            format!("the file contains a NUL byte at offset {at}: an answer file is UTF-8 text, not UTF-16 or binary"),
        )]);
    }
    // Syntax first, over the whole text: trailing text and nesting deeper
    // than serde_json's limit are JSON errors with a position.
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| vec![KeyError::new("", format!("invalid JSON: {e}"))])?;
    // serde accepts a list for a struct (the fields in order); an answer
    // file and its sections are objects only.
    objects_only(&value).map_err(|e| vec![e])?;
    // The typed parse reads the text again: only there are duplicate keys
    // visible (a JSON value keeps the last one).
    let mut de = serde_json::Deserializer::from_str(text);
    let file: AnswerFile =
        serde_path_to_error::deserialize(&mut de).map_err(|e| vec![shape_error(&e, &value)])?;
    let errors = check_values(&file);
    if errors.is_empty() {
        Ok(file)
    } else {
        Err(errors)
    }
}

/// A JSON value in words, as serde words it (`string "x"`, `boolean
/// `true``), with text cut and escaped like typed input.
fn kind(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) => format!("number `{n}`"),
        Value::String(s) => format!("string \"{}\"", crate::flow::validate::shown(s)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The file and its `network` and `disk` sections must be objects.
fn objects_only(value: &serde_json::Value) -> Result<(), KeyError> {
    let Some(top) = value.as_object() else {
        return Err(KeyError::new(
            "",
            format!(
                "an answer file is a JSON object ({{\"version\": 1, ...}}), not {}",
                kind(value)
            ),
        ));
    };
    for key in ["network", "disk"] {
        match top.get(key) {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Object(_)) => {}
            Some(other) => {
                return Err(KeyError::new(
                    key,
                    format!("invalid type: {}, expected an object", kind(other)),
                ))
            }
        }
    }
    Ok(())
}

/// The value at a serde path in `value`, if the path leads anywhere.
fn value_at<'v>(
    value: &'v serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'v serde_json::Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(value, |v, seg| match seg {
        Segment::Map { key } => v.get(key.as_str()),
        Segment::Seq { index } => v.get(*index),
        _ => None,
    })
}

/// The serde message without serde_json's ` at line L column C` suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// Turns a serde error into a key error: unknown and missing fields name
/// their own key. `value` is the same text, already known to be valid JSON.
fn shape_error(
    e: &serde_path_to_error::Error<serde_json::Error>,
    value: &serde_json::Value,
) -> KeyError {
    let inner = e.inner();
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    if inner.is_syntax() || inner.is_eof() {
        // Valid JSON that serde_json calls a syntax error: a number or
        // boolean where a word such as "dhcp" belongs.
        let found = value_at(value, e.path()).map_or_else(|| "another type".into(), kind);
        return KeyError::new(path, format!("invalid type: {found}, expected a string"));
    }
    let join = |key: &str| {
        let key = if key.is_empty() { "\"\"" } else { key };
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
            let key = if !name.is_empty() && path.ends_with(name) {
                path.clone()
            } else {
                join(name)
            };
            return KeyError::new(key, format!("unknown field{tail}"));
        }
    }
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return KeyError::new(join(name), "this key appears twice; give it once");
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
    fn lists_are_not_taken_for_objects() {
        // serde reads a struct from a list of its fields; these were accepted.
        assert_eq!(
            errors("[1]"),
            ["an answer file is a JSON object ({\"version\": 1, ...}), not a list"]
        );
        assert_eq!(
            errors(r#"{"version": 1, "network": []}"#),
            ["network: invalid type: a list, expected an object"]
        );
        assert_eq!(
            errors(r#"{"version": 1, "disk": ["sda"]}"#),
            ["disk: invalid type: a list, expected an object"]
        );
    }

    #[test]
    fn a_number_for_a_word_names_its_key() {
        // serde_json reports these as "expected value", a syntax error
        // without the key.
        assert_eq!(
            errors(r#"{"version": 1, "network": {"mode": 1}}"#),
            ["network.mode: invalid type: number `1`, expected a string"]
        );
        assert_eq!(
            errors(r#"{"version": 1, "partition_table": true}"#),
            ["partition_table: invalid type: boolean `true`, expected a string"]
        );
    }

    #[test]
    fn encoding_size_and_empty_keys() {
        assert!(parse_bytes(b"\xef\xbb\xbf{\"version\": 1}").is_ok());
        assert_eq!(
            parse_bytes(b"{\"version\": 1}\x00").unwrap_err()[0].to_string(),
            "the file contains a NUL byte at offset 14: an answer file is UTF-8 text, not UTF-16 or binary"
        );
        assert_eq!(
            parse_bytes(b"{\"keyboard\": \"\xff\"}").unwrap_err()[0].to_string(),
            "the file is not UTF-8 text: the byte at offset 14 is not valid UTF-8"
        );
        let big = vec![b' '; volume::MAX_SIZE as usize + 1];
        assert_eq!(
            parse_bytes(&big).unwrap_err()[0].to_string(),
            "the file has 1048577 bytes; an answer file has at most 1048576 (1 MiB)"
        );
        assert_eq!(
            parse_bytes(b"\xff\xfe{\x00}\x00").unwrap_err()[0].to_string(),
            "the file is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8"
        );
        assert_eq!(
            errors(r#"{"version": 1, "network": {"mode": "dhcp", "mode": "manual"}}"#),
            ["network.mode: this key appears twice; give it once"]
        );
        let e = errors(r#"{"version": 1, "": 1}"#);
        assert!(e[0].starts_with("\"\": unknown field"), "{e:?}");
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
