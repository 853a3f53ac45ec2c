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

/// A parsed kernel command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelCmdline {
    raw: String,
    params: Vec<Param>,
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
