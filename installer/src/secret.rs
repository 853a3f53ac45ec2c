//! Secrets (serial numbers, passwords, tokens, URLs that carry them) and
//! how they are kept out of every output: the screen, the events (file and
//! `ttyS1`, which on servers is often the BMC's serial-over-LAN), the log,
//! the installed disk's copy of the log and the support bundle.
//!
//! - [`Secret`] and [`SecretUrl`] cannot be formatted by accident: `Debug`
//!   and `Display` print a mask (a URL keeps its scheme, host and path), and
//!   there is deliberately no `Serialize`. Code that needs the value calls
//!   `expose`, which is easy to find in review.
//! - [`mask_typed`] is what events say about text typed at a secret prompt.
//! - Every value that became known as a secret is [`register`]ed; the log
//!   and the event sink pass each line through [`redact`] before writing,
//!   so a secret that slipped into a message still never reaches a file or
//!   a port. [`serial_variants`] lists the spellings a serial number can
//!   take (grouped or not, Y and Z swapped); [`scrub`] matches them in any
//!   case.

use serde::Deserialize;
use std::fmt;
use std::sync::Mutex;

/// What a secret looks like in any output.
pub const MASK: &str = "********";

/// Values shorter than this are not registered for [`redact`]: masking
/// every occurrence of a short word would garble the log, and such values
/// are only ever shown through their masked forms anyway.
pub const MIN_REGISTERED: usize = 6;

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

    /// For `#[serde(serialize_with = ...)]` on the one file that must hold
    /// the value (the collected answers, readable by root only).
    pub fn serialize_exposed<S: serde::Serializer>(
        value: &Option<Secret>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(v.expose()),
            None => s.serialize_none(),
        }
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

/// A URL that may carry a user name, password, or a token in its query or
/// fragment. It shows as [`crate::cmdline::mask_url`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The URL as given. Only for the request itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The parts that are secret: the user name with the password, the
    /// password alone, the query and fragment (and each value in them), as
    /// they appear in the URL, for [`register`]. The user name alone is not
    /// among them: it is masked in the URL, but often an ordinary word.
    pub fn secret_parts(&self) -> Vec<String> {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let mut parts = Vec::new();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            parts.push(userinfo.to_string());
            if let Some((_, password)) = userinfo.split_once(':') {
                parts.push(password.to_string());
            }
        }
        if let Some(i) = tail.find(['?', '#']) {
            let secret = &tail[i + 1..];
            parts.push(secret.to_string());
            // Each `name=value` and each value on its own.
            for pair in secret.split(['&', '#', ';']) {
                parts.push(pair.to_string());
                if let Some((_, v)) = pair.split_once('=') {
                    parts.push(v.to_string());
                }
            }
        }
        parts.retain(|p| !p.is_empty());
        parts
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", crate::cmdline::mask_url(&self.0))
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::cmdline::mask_url(&self.0))
    }
}

/// Text typed at a secret prompt, for events and logs: as many characters
/// as were typed, all `*` except the last two — and those only when at least
/// ten were typed, so a short mistake shows nothing.
pub fn mask_typed(input: &str) -> String {
    let n = input.chars().count();
    let keep = if n >= 10 { 2 } else { 0 };
    input
        .chars()
        .enumerate()
        .map(|(i, c)| if i + keep >= n { c } else { '*' })
        .collect()
}

/// The serial number's spellings to look for: its 16 symbols in groups of
/// four with `-`, with spaces, and without separators, each also with Y and
/// Z exchanged (a keyboard layout that swaps them: all combinations of up
/// to eight such symbols, else all of them at once). Case does not matter to
/// [`scrub`]. Text that is not 16 symbols long is returned as it is.
pub fn serial_variants(text: &str) -> Vec<String> {
    let symbols: String = text
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if symbols.chars().count() != vendor_repo::serial::SYMBOLS || !symbols.is_ascii() {
        return vec![text.trim().to_string()];
    }
    let yz: Vec<usize> = symbols
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'Y' || *b == b'Z')
        .map(|(i, _)| i)
        .collect();
    let swap = |s: &mut [u8], i: usize| s[i] = if s[i] == b'Y' { b'Z' } else { b'Y' };
    let mut spellings = Vec::new();
    if yz.len() <= 8 {
        for mask in 0u32..(1 << yz.len()) {
            let mut s = symbols.clone().into_bytes();
            for (bit, &i) in yz.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    swap(&mut s, i);
                }
            }
            spellings.push(s);
        }
    } else {
        let mut s = symbols.clone().into_bytes();
        for &i in &yz {
            swap(&mut s, i);
        }
        spellings.push(symbols.into_bytes());
        spellings.push(s);
    }
    let mut out = Vec::new();
    for s in spellings {
        let s = String::from_utf8(s).unwrap_or_default();
        let groups: Vec<&str> = (0..4).map(|g| &s[g * 4..g * 4 + 4]).collect();
        out.push(groups.join("-"));
        out.push(groups.join(" "));
        out.push(s);
    }
    out
}

/// Replaces every occurrence of each needle, ignoring ASCII case, by
/// [`MASK`]. Longer needles go first, so a value is never half-masked by a
/// shorter one it contains. Empty needles are ignored.
pub fn scrub(text: &str, needles: &[String]) -> String {
    let mut sorted: Vec<&String> = needles.iter().filter(|n| !n.is_empty()).collect();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = text.to_string();
    for needle in sorted {
        let lower_needle = needle.to_ascii_lowercase();
        if !out.to_ascii_lowercase().contains(&lower_needle) {
            continue;
        }
        // ASCII lower-casing keeps byte offsets, so matches found in the
        // lower-cased copy are at the same offsets in `out`.
        let lower = out.to_ascii_lowercase();
        let mut result = String::with_capacity(out.len());
        let mut last = 0;
        for (at, _) in lower.match_indices(&lower_needle) {
            if at < last {
                continue;
            }
            result.push_str(&out[last..at]);
            result.push_str(MASK);
            last = at + lower_needle.len();
        }
        result.push_str(&out[last..]);
        out = result;
    }
    out
}

/// The secrets this process has seen (see [`register`]).
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers `value` as a secret: from now on [`redact`] masks it in every
/// log line and event this process writes. Values shorter than
/// [`MIN_REGISTERED`] are ignored.
pub fn register(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_REGISTERED {
        return;
    }
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    if !known.iter().any(|k| k.eq_ignore_ascii_case(value)) {
        known.push(value.to_string());
    }
}

/// Letters and digits a typed line needs before it is registered as a
/// serial number: a near miss of the 16 symbols, not a word typed by mistake
/// at the prompt (which would then be masked everywhere).
pub const MIN_SERIAL_SYMBOLS: usize = 12;

/// Registers a serial number (typed or verified) in all its spellings;
/// lines with fewer than [`MIN_SERIAL_SYMBOLS`] letters and digits are not.
pub fn register_serial(text: &str) {
    if text.chars().filter(char::is_ascii_alphanumeric).count() < MIN_SERIAL_SYMBOLS {
        return;
    }
    register(text);
    for v in serial_variants(text) {
        register(&v);
    }
}

/// `text` with every registered secret masked.
pub fn redact(text: &str) -> String {
    let known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    if known.is_empty() {
        return text.to_string();
    }
    scrub(text, &known)
}

/// An event's JSON with every registered secret masked in its string
/// values; keys and the `event` tag stay as they are, so the line still
/// parses as the same event.
pub fn redact_event_json(json: &str) -> String {
    fn walk(v: &mut serde_json::Value, known: &[String]) {
        match v {
            serde_json::Value::String(s) => {
                let clean = scrub(s, known);
                if clean != *s {
                    *s = clean;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, known)),
            serde_json::Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    if k != "event" {
                        walk(item, known);
                    }
                }
            }
            _ => {}
        }
    }
    let known = KNOWN.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if known.is_empty() {
        return json.to_string();
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut v) => {
            let before = v.clone();
            walk(&mut v, &known);
            if v == before {
                // Unchanged: the line as made (its field order kept).
                return json.to_string();
            }
            serde_json::to_string(&v).unwrap_or_else(|_| scrub(json, &known))
        }
        Err(_) => scrub(json, &known),
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

    #[test]
    fn a_secret_url_shows_scheme_host_and_path_only() {
        let u = SecretUrl::new("https://admin:Pa55word@host:8443/a.json?token=T0KEN#frag");
        assert_eq!(u.to_string(), "https://***@host:8443/a.json?***");
        assert_eq!(
            format!("{u:?}"),
            "SecretUrl(https://***@host:8443/a.json?***)"
        );
        for text in [u.to_string(), format!("{u:?}"), format!("{u:#?}")] {
            assert!(
                !text.contains("Pa55word") && !text.contains("T0KEN"),
                "{text}"
            );
            assert!(!text.contains("admin"), "{text}");
        }
        assert_eq!(
            u.expose(),
            "https://admin:Pa55word@host:8443/a.json?token=T0KEN#frag"
        );
        // A query without a path is masked too.
        assert_eq!(
            SecretUrl::new("https://h?token=x").to_string(),
            "https://h?***"
        );
    }

    #[test]
    fn the_secret_parts_of_a_url() {
        let u = SecretUrl::new("https://admin:Pa55word@host/a.json?token=T0KEN&x=1");
        assert_eq!(
            u.secret_parts(),
            [
                "admin:Pa55word",
                "Pa55word",
                "token=T0KEN&x=1",
                "token=T0KEN",
                "T0KEN",
                "x=1",
                "1"
            ]
        );
        assert!(SecretUrl::new("http://10.0.2.2:8080/a.json")
            .secret_parts()
            .is_empty());
        assert_eq!(SecretUrl::new("https://h?k").secret_parts(), ["k", "k"]);
    }

    #[test]
    fn typed_text_keeps_its_length_and_at_most_two_characters() {
        assert_eq!(mask_typed("7K3M-Q9TD-2XWB-HV5C"), "*****************5C");
        assert_eq!(mask_typed("7K3MQ9TD2X"), "********2X");
        assert_eq!(mask_typed("7K3M-Q9TD"), "*********");
        assert_eq!(mask_typed(""), "");
        assert_eq!(mask_typed("äöüäöüäöüß"), "********üß");
    }

    #[test]
    fn every_spelling_of_a_serial() {
        let v = serial_variants("7k3m q9td-2xwb-hv5b");
        assert_eq!(
            v,
            [
                "7K3M-Q9TD-2XWB-HV5B",
                "7K3M Q9TD 2XWB HV5B",
                "7K3MQ9TD2XWBHV5B"
            ]
        );
        // One Y and one Z: four combinations, three spellings each.
        let v = serial_variants("Y123-4Z56-789A-BCDE");
        assert_eq!(v.len(), 12);
        for s in [
            "Y123-4Z56-789A-BCDE",
            "Z123-4Y56-789A-BCDE",
            "Z1234Z56789ABCDE",
        ] {
            assert!(v.iter().any(|x| x == s), "{s} missing from {v:?}");
        }
        // Nine Y: as typed and all swapped.
        let v = serial_variants("YYYY-YYYY-Y000-0000");
        assert_eq!(v.len(), 6);
        assert!(v.iter().any(|x| x == "ZZZZZZZZZ0000000"));
        // Not a serial: as it is.
        assert_eq!(serial_variants(" abc "), ["abc"]);
    }

    #[test]
    fn scrub_ignores_case_and_prefers_longer_needles() {
        let needles = serial_variants("7K3M-Q9TD-2XWB-HV5B");
        let text = "a 7k3m-q9td-2xwb-hv5b b 7K3MQ9TD2XWBHV5B c 7K3M Q9TD 2XWB HV5B d";
        assert_eq!(scrub(text, &needles), "a ******** b ******** c ******** d");
        assert_eq!(
            scrub(
                "x=abcdefgh, y=ABCDEFGH",
                &["abcdefgh".into(), "abcd".into()]
            ),
            "x=********, y=********"
        );
        assert_eq!(scrub("nothing", &["".into()]), "nothing");
        assert_eq!(scrub("ä abcdef ü", &["ABCDEF".into()]), "ä ******** ü");
    }

    #[test]
    fn registered_secrets_are_redacted() {
        register("RegisteredTok3n");
        register("short");
        register_serial("9999-8888-7777-666m");
        assert_eq!(redact("token registeredTOK3N."), "token ********.");
        assert_eq!(redact("a short word"), "a short word");
        assert_eq!(
            redact("a 9999 8888 7777 666M b 999988887777666m c 9999-8888-7777-666M."),
            "a ******** b ******** c ********."
        );
        // Another number is left alone.
        assert_eq!(redact("9999-8888-7777-6660"), "9999-8888-7777-6660");
        // Fewer than twelve letters and digits: not a serial.
        register_serial("de-keyboard");
        assert_eq!(redact("a de-keyboard"), "a de-keyboard");
        register_serial("install-progress");
        // A line with nothing to mask stays as it was made (field order).
        let clean = r#"{"event":"power","action":"reboot"}"#;
        assert_eq!(redact_event_json(clean), clean);
        // Values are masked, the event tag and the keys are not.
        let json =
            r#"{"event":"install-progress","x":"install-progress","y":["9999 8888 7777 666m"]}"#;
        assert_eq!(
            redact_event_json(json),
            r#"{"event":"install-progress","x":"********","y":["********"]}"#
        );
    }
}
