//! Parsing of the kernel command line (`/proc/cmdline`).
//!
//! The kernel hands unknown `key=value` words to `/init` as environment
//! variables and bare words as argv, which is lossy; we read `/proc/cmdline`
//! ourselves instead. Everything here is pure.

use std::collections::BTreeSet;
use std::time::Duration;

/// One `key` or `key=value` word of the kernel command line, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The part before the first `=`.
    pub key: String,
    /// The part after the first `=`, or `None` for a bare word.
    pub value: Option<String>,
}

/// A parsed kernel command line. `Debug` shows [`KernelCmdline::masked`]:
/// the command line may carry credentials (an answers URL).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KernelCmdline {
    raw: String,
    params: Vec<Param>,
}

impl std::fmt::Debug for KernelCmdline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KernelCmdline({:?})", self.masked())
    }
}

/// Boot loaders that may announce themselves with `installer.loader=`.
pub const KNOWN_LOADERS: [&str; 2] = ["grub", "isolinux"];

impl KernelCmdline {
    /// Parses the text of `/proc/cmdline`.
    ///
    /// Words are separated by whitespace; double quotes group whitespace
    /// (`mod.p="a b"` or `"mod.p=a b"`) and are removed, as the kernel's
    /// `next_arg()` does. Parsing stops at a bare `--` (the rest belongs to init).
    pub fn parse(text: &str) -> Self {
        let raw = text.trim().to_string();
        let mut params = Vec::new();
        for word in split_words(&raw) {
            if word == "--" {
                break;
            }
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (word.clone(), None),
            };
            if key.is_empty() {
                continue;
            }
            params.push(Param { key, value });
        }
        KernelCmdline { raw, params }
    }

    /// The command line as the kernel reported it, trimmed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// What [`KernelCmdline::masked`] hides: the values of secret-like
    /// parameters whole, and the secret parts of URLs
    /// ([`crate::secret::SecretUrl::secret_parts`]), for
    /// [`crate::secret::register`].
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.params {
            match &p.value {
                Some(v) if is_secret_name(&p.key) => out.push(v.clone()),
                Some(v) if v.contains("://") => {
                    out.extend(crate::secret::SecretUrl::new(v.as_str()).secret_parts());
                }
                _ => {}
            }
        }
        out
    }

    /// The command line for logs and events: every value holding a URL is
    /// shown through [`mask_url`] (no user name, password, query or
    /// fragment), and the values of secret-like parameters (a name part such
    /// as `token`, `password` or `secret`) are replaced by `***`. Words after
    /// `--` are left out (they are init's, and unknown).
    pub fn masked(&self) -> String {
        let mut words = Vec::new();
        for p in &self.params {
            let word = match &p.value {
                None => p.key.clone(),
                Some(_) if is_secret_name(&p.key) => format!("{}=***", p.key),
                Some(v) if v.contains("://") => format!("{}={}", p.key, mask_url(v)),
                Some(v) => format!("{}={v}", p.key),
            };
            if word.contains(char::is_whitespace) {
                words.push(format!("\"{word}\""));
            } else {
                words.push(word);
            }
        }
        let mut text = words.join(" ");
        if split_words(&self.raw).iter().any(|w| w == "--") {
            text.push_str(" -- ***");
        }
        text
    }

    /// All parsed words, in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The value of the LAST `key=value` with this key (the kernel's rule for
    /// repeated parameters), or `None`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|p| p.key == key)
            .and_then(|p| p.value.as_deref())
    }

    /// True if the word `key` or `key=...` appears.
    pub fn has(&self, key: &str) -> bool {
        self.params.iter().any(|p| p.key == key)
    }

    /// The device names of every `console=` in order (options after `,` removed):
    /// `console=ttyS0,115200n8` gives `ttyS0`. The last one is `/dev/console`.
    pub fn consoles(&self) -> Vec<String> {
        self.params
            .iter()
            .filter(|p| p.key == "console")
            .filter_map(|p| p.value.as_deref())
            .map(|v| v.split(',').next().unwrap_or(v).to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// `installer.loader=` if it names a known boot loader (`grub`, `isolinux`).
    pub fn loader(&self) -> Option<&'static str> {
        let value = self.get("installer.loader")?;
        KNOWN_LOADERS.iter().copied().find(|l| *l == value)
    }

    /// `installer.media_timeout=` in whole seconds, if present and valid.
    pub fn media_timeout(&self) -> Option<Duration> {
        self.get("installer.media_timeout")
            .and_then(|v| v.trim_end_matches('s').parse::<u64>().ok())
            .map(Duration::from_secs)
    }

    /// Module parameters given as `module.param=value` for this module, joined
    /// in command-line order into the string `finit_module` expects
    /// (`a=1 b="x y"`). Module and parameter names compare with `-` and `_`
    /// treated as equal, as the kernel does.
    pub fn module_params(&self, module: &str) -> String {
        let want = normalize_module_name(module);
        let mut out: Vec<String> = Vec::new();
        for p in &self.params {
            let Some((m, param)) = p.key.split_once('.') else {
                continue;
            };
            if param.is_empty() || normalize_module_name(m) != want {
                continue;
            }
            let param = normalize_module_name(param);
            match &p.value {
                None => out.push(param),
                Some(v) if v.contains(char::is_whitespace) => out.push(format!("{param}=\"{v}\"")),
                Some(v) => out.push(format!("{param}={v}")),
            }
        }
        out.join(" ")
    }

    /// Module names from every `modprobe.blacklist=a,b` (normalised to `_`).
    pub fn blacklist(&self) -> BTreeSet<String> {
        self.params
            .iter()
            .filter(|p| p.key == "modprobe.blacklist")
            .filter_map(|p| p.value.as_deref())
            .flat_map(|v| v.split(','))
            .filter(|m| !m.is_empty())
            .map(normalize_module_name)
            .collect()
    }
}

/// Name parts (split at `.`, `_` and `-`) that mark a parameter's value as
/// secret.
const SECRET_PARTS: [&str; 9] = [
    "token",
    "password",
    "passwd",
    "pw",
    "secret",
    "key",
    "auth",
    "credentials",
    "psk",
];

/// True if the parameter name looks like it carries a secret.
fn is_secret_name(key: &str) -> bool {
    key.split(['.', '_', '-'])
        .any(|part| SECRET_PARTS.contains(&part.to_ascii_lowercase().as_str()))
}

/// A URL for messages and events: user name and password, the query (which
/// may carry tokens) and the fragment are masked with `***`.
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let tail = match tail.find(['?', '#']) {
        Some(i) => format!("{}{}***", &tail[..i], &tail[i..=i]),
        None => tail.to_string(),
    };
    format!("{scheme}{host}{tail}")
}

/// Kernel module names treat `-` and `_` as the same character; this returns
/// the `_` spelling the kernel itself uses.
pub fn normalize_module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Splits on whitespace outside double quotes and removes the quotes.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    let mut has_word = false;
    for c in text.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                has_word = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if has_word {
                    words.push(std::mem::take(&mut current));
                    has_word = false;
                }
            }
            c => {
                current.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIAL_ENTRY: &str =
        "BOOT_IMAGE=/boot/vmlinuz console=tty0 console=ttyS0,115200n8 installer.loader=grub\n";

    #[test]
    fn consoles_keep_order_and_drop_options() {
        let c = KernelCmdline::parse(SERIAL_ENTRY);
        assert_eq!(c.consoles(), vec!["tty0", "ttyS0"]);
        assert_eq!(c.raw(), SERIAL_ENTRY.trim());
    }

    #[test]
    fn loader_accepts_only_known_values() {
        assert_eq!(KernelCmdline::parse(SERIAL_ENTRY).loader(), Some("grub"));
        assert_eq!(
            KernelCmdline::parse("installer.loader=isolinux").loader(),
            Some("isolinux")
        );
        assert_eq!(KernelCmdline::parse("installer.loader=lilo").loader(), None);
        assert_eq!(KernelCmdline::parse("quiet").loader(), None);
    }

    #[test]
    fn last_repeated_key_wins() {
        let c = KernelCmdline::parse("installer.media_timeout=5 installer.media_timeout=60");
        assert_eq!(c.media_timeout(), Some(Duration::from_secs(60)));
        assert_eq!(
            KernelCmdline::parse("installer.media_timeout=abc").media_timeout(),
            None
        );
    }

    #[test]
    fn module_params_normalise_dashes_and_quote_spaces() {
        let c = KernelCmdline::parse(
            "ata-piix.prefer_ms_hyperv=0 ata_piix.some-flag usb_storage.quirks=1:2:u x.y=\"a b\" \"x.z=c d\"",
        );
        assert_eq!(c.module_params("ata_piix"), "prefer_ms_hyperv=0 some_flag");
        assert_eq!(c.module_params("ata-piix"), "prefer_ms_hyperv=0 some_flag");
        assert_eq!(c.module_params("usb-storage"), "quirks=1:2:u");
        assert_eq!(c.module_params("x"), "y=\"a b\" z=\"c d\"");
        assert_eq!(c.module_params("sd_mod"), "");
    }

    #[test]
    fn blacklist_merges_all_occurrences() {
        let c =
            KernelCmdline::parse("modprobe.blacklist=floppy,snd-pcsp modprobe.blacklist=nouveau");
        let expected: BTreeSet<String> = ["floppy", "snd_pcsp", "nouveau"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(c.blacklist(), expected);
    }

    #[test]
    fn flags_are_found_with_or_without_value() {
        let c = KernelCmdline::parse("quiet installer.debug=1");
        assert!(c.has("quiet"));
        assert!(c.has("installer.debug"));
        assert!(!c.has("installer"));
    }

    #[test]
    fn urls_lose_credentials_query_and_fragment() {
        let cases = [
            (
                "https://user:pw@example.com/a.json?token=x",
                "https://***@example.com/a.json?***",
            ),
            ("https://h?token=x", "https://h?***"),
            ("https://u:p@h?token=x", "https://***@h?***"),
            ("https://h#token=x", "https://h#***"),
            ("https://h/a.json#frag", "https://h/a.json#***"),
            ("https://h/a.json#f?x", "https://h/a.json#***"),
            ("https://h/a?b#c", "https://h/a?***"),
            (
                "http://10.0.2.2:8080/answers.json",
                "http://10.0.2.2:8080/answers.json",
            ),
            ("http://host", "http://host"),
            ("http://a@b@host/x", "http://***@host/x"),
        ];
        for (url, shown) in cases {
            assert_eq!(mask_url(url), shown, "{url}");
        }
    }

    #[test]
    fn the_masked_command_line_hides_secrets() {
        let cases = [
            (
                "quiet console=ttyS0,115200n8",
                "quiet console=ttyS0,115200n8",
            ),
            (
                "installer.answers=https://user:pw@host/a.json?token=t0ken installer.unattended",
                "installer.answers=https://***@host/a.json?*** installer.unattended",
            ),
            (
                "installer.answers=https://host?token=t0ken",
                "installer.answers=https://host?***",
            ),
            (
                "installer.backend=https://u:p@b.example/",
                "installer.backend=https://***@b.example/",
            ),
            (
                "x.api_token=abc wifi.psk=abc installer.password=abc a.secret-key=abc",
                "x.api_token=*** wifi.psk=*** installer.password=*** a.secret-key=***",
            ),
            (
                "installer.keyboard=de installer.answers_sha256=ab",
                "installer.keyboard=de installer.answers_sha256=ab",
            ),
            ("x.y=\"a b\" -- token", "\"x.y=a b\" -- ***"),
        ];
        for (raw, shown) in cases {
            assert_eq!(KernelCmdline::parse(raw).masked(), shown, "{raw}");
        }
    }

    #[test]
    fn the_secret_values_are_what_masking_hides() {
        let c = KernelCmdline::parse(
            "quiet installer.answers=https://user:Pa55@h/a.json?token=T0k x.api_token=abc \
             installer.backend=https://b.example/ installer.keyboard=de",
        );
        assert_eq!(
            c.secret_values(),
            ["user:Pa55", "Pa55", "token=T0k", "token=T0k", "T0k", "abc"]
        );
    }

    #[test]
    fn debug_shows_the_masked_command_line() {
        let c = KernelCmdline::parse(
            "quiet installer.answers=https://user:Pa55@h/a.json?token=T0k installer.api_token=abc",
        );
        let shown = format!("{c:?}");
        assert_eq!(
            shown,
            "KernelCmdline(\"quiet installer.answers=https://***@h/a.json?*** installer.api_token=***\")"
        );
        assert!(!shown.contains("Pa55") && !shown.contains("T0k") && !shown.contains("abc"));
    }

    #[test]
    fn double_dash_ends_kernel_parameters() {
        let c = KernelCmdline::parse("quiet -- installer.loader=grub");
        assert_eq!(c.loader(), None);
        assert_eq!(c.params().len(), 1);
        assert_eq!(
            c.params()[0],
            Param {
                key: "quiet".into(),
                value: None
            }
        );
    }
}
