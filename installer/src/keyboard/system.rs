//! The real [`KeyboardOps`]: layouts from `/usr/share/keymaps/index.json`
//! (written at image build time by `xtask/src/keymaps.rs`), keymaps from
//! `/usr/share/keymaps/<code>.bkeymap`, applied to the VGA console.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::apply::{self, Applied, ApplyError, Vt};
use super::bkeymap::{Bkeymap, BkeymapError};
use super::{KeyboardOps, Layout};
use crate::log;

/// Where the keymaps and their index are in the initramfs.
pub const KEYMAP_DIR: &str = "/usr/share/keymaps";
/// The index file inside [`KEYMAP_DIR`].
pub const INDEX_FILE: &str = "index.json";
/// The console whose keyboard is changed: the foreground VT.
pub const DEFAULT_DEVICE: &str = "/dev/tty0";
/// The layout that is always offered; the kernel's built-in keymap is US.
pub const FALLBACK_CODE: &str = "us";

/// Why the keyboard could not be listed or set.
#[derive(Debug, Error)]
pub enum KeyboardError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The index is not the expected JSON (the message names the JSON path).
    #[error("invalid keyboard index {path}: {source}")]
    IndexJson {
        /// The index file.
        path: PathBuf,
        /// Where and why parsing failed.
        source: serde_path_to_error::Error<serde_json::Error>,
    },
    /// The index parsed but a value is not acceptable.
    #[error("invalid keyboard index {path}: {reason}")]
    IndexContent {
        /// The index file.
        path: PathBuf,
        /// What is wrong, naming the entry.
        reason: String,
    },
    /// The code is not in the list.
    #[error("unknown keyboard layout {code:?}; known layouts: {known}")]
    Unknown {
        /// The requested code.
        code: String,
        /// The known codes, comma-separated.
        known: String,
    },
    /// The keymap file is not a valid binary keymap.
    #[error("invalid keymap {path}: {source}")]
    Keymap {
        /// The keymap file.
        path: PathBuf,
        /// The parser's error.
        source: BkeymapError,
    },
    /// The console rejected the keymap.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// The layout offered when the index is missing or broken.
pub fn fallback_layout() -> Layout {
    Layout {
        code: FALLBACK_CODE.into(),
        name: "English (US)".into(),
        xkb_layout: "us".into(),
        xkb_variant: String::new(),
    }
}

/// True for codes that are safe as file names: 1–32 of `a-z`, `0-9`, `-`.
pub fn is_valid_code(code: &str) -> bool {
    (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !code.starts_with('-')
}

/// Reads and checks `<dir>/index.json`. The result starts with "us" (moved
/// to the front, or the built-in entry added if the index lacks it).
pub fn load_index(dir: &Path) -> Result<Vec<Layout>, KeyboardError> {
    let path = dir.join(INDEX_FILE);
    let bytes = std::fs::read(&path).map_err(|source| KeyboardError::Read {
        path: path.clone(),
        source,
    })?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let mut layouts: Vec<Layout> =
        serde_path_to_error::deserialize(&mut de).map_err(|source| KeyboardError::IndexJson {
            path: path.clone(),
            source,
        })?;
    let bad = |reason: String| KeyboardError::IndexContent {
        path: path.clone(),
        reason,
    };
    let mut seen = std::collections::BTreeSet::new();
    for (i, l) in layouts.iter().enumerate() {
        if !is_valid_code(&l.code) {
            return Err(bad(format!(
                "entry {i} has the code {:?}; codes are 1-32 of a-z, 0-9 and -",
                l.code
            )));
        }
        if !seen.insert(l.code.as_str()) {
            return Err(bad(format!("the code {:?} appears twice", l.code)));
        }
        if l.name.trim().is_empty() || l.xkb_layout.is_empty() {
            return Err(bad(format!(
                "entry {:?} has an empty name or XKB layout",
                l.code
            )));
        }
    }
    if layouts.is_empty() {
        return Err(bad("it lists no layouts".into()));
    }
    match layouts.iter().position(|l| l.code == FALLBACK_CODE) {
        Some(0) => {}
        Some(i) => {
            let us = layouts.remove(i);
            layouts.insert(0, us);
        }
        None => layouts.insert(0, fallback_layout()),
    }
    Ok(layouts)
}

/// The installer's keyboard: lists the shipped layouts and loads one into
/// the console keyboard when the installer runs on a VT.
#[derive(Debug)]
pub struct SystemKeyboard {
    on_vt: bool,
    dir: PathBuf,
    device: PathBuf,
    layouts: Option<Vec<Layout>>,
    /// The layout last loaded into the kernel; `None` = the kernel's own (US).
    loaded: Option<String>,
}

impl SystemKeyboard {
    /// The keyboard of the running installer; `on_vt` is true when the
    /// installer's console is a VT (VGA), false on a serial console.
    pub fn new(on_vt: bool) -> SystemKeyboard {
        SystemKeyboard::with_paths(on_vt, KEYMAP_DIR, DEFAULT_DEVICE)
    }

    /// Like [`SystemKeyboard::new`] with another keymap directory and console
    /// device (tests, or a specific VT such as `/dev/tty1`).
    pub fn with_paths(
        on_vt: bool,
        dir: impl Into<PathBuf>,
        device: impl Into<PathBuf>,
    ) -> SystemKeyboard {
        SystemKeyboard {
            on_vt,
            dir: dir.into(),
            device: device.into(),
            layouts: None,
            loaded: None,
        }
    }

    /// The code of the layout last loaded into the console, if any.
    pub fn loaded(&self) -> Option<&str> {
        self.loaded.as_deref()
    }

    /// Reads and parses `<dir>/<code>.bkeymap`.
    pub fn load_keymap(&self, code: &str) -> Result<Bkeymap, KeyboardError> {
        let path = self.keymap_path(code);
        let bytes = std::fs::read(&path).map_err(|source| KeyboardError::Read {
            path: path.clone(),
            source,
        })?;
        Bkeymap::parse(&bytes).map_err(|source| KeyboardError::Keymap { path, source })
    }

    fn keymap_path(&self, code: &str) -> PathBuf {
        self.dir.join(format!("{code}.bkeymap"))
    }

    /// [`KeyboardOps::apply`] with a typed result: `Ok(None)` when nothing
    /// had to be loaded (serial console, or "us" while the kernel's own US
    /// keymap is active and no us.bkeymap is shipped).
    pub fn try_apply(&mut self, code: &str) -> Result<Option<Applied>, KeyboardError> {
        let layouts = self.layouts();
        if !layouts.iter().any(|l| l.code == code) {
            return Err(KeyboardError::Unknown {
                code: code.to_string(),
                known: layouts
                    .iter()
                    .map(|l| l.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if !self.on_vt {
            log::info(&format!(
                "keyboard layout {code} chosen; not loaded, the serial terminal translates keys itself"
            ));
            return Ok(None);
        }
        let keymap = match self.load_keymap(code) {
            Ok(k) => k,
            Err(KeyboardError::Read { source, .. })
                if source.kind() == ErrorKind::NotFound
                    && code == FALLBACK_CODE
                    && self.loaded.is_none() =>
            {
                log::warn(&format!(
                    "{} is missing; keeping the kernel's built-in US keymap",
                    self.keymap_path(code).display()
                ));
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut vt = Vt::open(&self.device)?;
        let done = match apply::apply(&mut vt, &self.device, &keymap) {
            Ok(done) => done,
            Err(e) => {
                if let ApplyError::Entry { applied, .. } = &e {
                    if *applied > 0 {
                        self.loaded = Some(format!("{code} (partly)"));
                    }
                }
                return Err(e.into());
            }
        };
        log::info(&format!(
            "keyboard layout {code} loaded on {}: {} entries, {} skipped",
            self.device.display(),
            done.entries,
            done.skipped.len()
        ));
        if done.utf8_output_failed {
            log::warn(&format!(
                "could not switch {} to UTF-8 output",
                self.device.display()
            ));
        }
        self.loaded = Some(code.to_string());
        Ok(Some(done))
    }
}

impl KeyboardOps for SystemKeyboard {
    fn layouts(&mut self) -> Vec<Layout> {
        if let Some(l) = &self.layouts {
            return l.clone();
        }
        let layouts = load_index(&self.dir).unwrap_or_else(|e| {
            log::warn(&format!("{e}; offering only the US keyboard layout"));
            vec![fallback_layout()]
        });
        self.layouts = Some(layouts.clone());
        layouts
    }

    fn apply(&mut self, code: &str) -> Result<(), String> {
        self.try_apply(code).map(drop).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyboard::bkeymap::tests::fixture;
    use crate::testutil::TempTree;

    const INDEX: &str = r#"[
  {"code": "us", "name": "English (US)", "xkb_layout": "us", "xkb_variant": ""},
  {"code": "de", "name": "German (no dead keys)", "xkb_layout": "de", "xkb_variant": "nodeadkeys"}
]"#;

    fn tree(index: Option<&str>) -> TempTree {
        let t = TempTree::new("kbd");
        t.mkdir("keymaps");
        if let Some(i) = index {
            t.write("keymaps/index.json", i.as_bytes());
        }
        t
    }

    fn keyboard(t: &TempTree, on_vt: bool, device: &str) -> SystemKeyboard {
        SystemKeyboard::with_paths(on_vt, t.path().join("keymaps"), device)
    }

    #[test]
    fn lists_the_index_us_first() {
        let t = tree(Some(INDEX));
        let mut k = keyboard(&t, true, "/dev/null");
        let codes: Vec<String> = k.layouts().into_iter().map(|l| l.code).collect();
        assert_eq!(codes, vec!["us", "de"]);
        let de = &k.layouts()[1];
        assert_eq!(de.name, "German (no dead keys)");
        assert_eq!(de.xkb_variant, "nodeadkeys");
    }

    #[test]
    fn us_is_moved_to_the_front_or_added() {
        let t = tree(Some(
            r#"[{"code":"de","name":"German","xkb_layout":"de","xkb_variant":""},
                {"code":"us","name":"English (US)","xkb_layout":"us","xkb_variant":""}]"#,
        ));
        let codes: Vec<String> = load_index(&t.path().join("keymaps"))
            .unwrap()
            .into_iter()
            .map(|l| l.code)
            .collect();
        assert_eq!(codes, vec!["us", "de"]);
        let t = tree(Some(
            r#"[{"code":"fr","name":"French","xkb_layout":"fr","xkb_variant":"nodeadkeys"}]"#,
        ));
        let l = load_index(&t.path().join("keymaps")).unwrap();
        assert_eq!(l[0], fallback_layout());
        assert_eq!(l[1].code, "fr");
    }

    #[test]
    fn missing_or_broken_index_offers_only_us() {
        let t = tree(None);
        let err = load_index(&t.path().join("keymaps")).unwrap_err();
        assert!(err.to_string().contains("index.json"), "{err}");
        assert_eq!(
            keyboard(&t, true, "/dev/null").layouts(),
            vec![fallback_layout()]
        );

        let t = tree(Some(
            r#"[{"code":"us","name":"English (US)","xkb_layout":"us"}]"#,
        ));
        let err = load_index(&t.path().join("keymaps")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("[0]") && msg.contains("xkb_variant"), "{msg}");
        assert_eq!(
            keyboard(&t, false, "/dev/null").layouts(),
            vec![fallback_layout()]
        );

        for (index, why) in [
            (r#"[]"#, "no layouts"),
            (
                r#"[{"code":"../x","name":"X","xkb_layout":"x","xkb_variant":""}]"#,
                "\"../x\"",
            ),
            (
                r#"[{"code":"de","name":"A","xkb_layout":"de","xkb_variant":""},
                    {"code":"de","name":"B","xkb_layout":"de","xkb_variant":""}]"#,
                "appears twice",
            ),
            (
                r#"[{"code":"de","name":" ","xkb_layout":"de","xkb_variant":""}]"#,
                "empty name",
            ),
        ] {
            let t = tree(Some(index));
            let msg = load_index(&t.path().join("keymaps"))
                .unwrap_err()
                .to_string();
            assert!(msg.contains(why), "{index}: {msg}");
        }
    }

    #[test]
    fn unknown_code_names_it_and_the_known_ones() {
        let t = tree(Some(INDEX));
        let mut k = keyboard(&t, true, "/dev/null");
        assert_eq!(
            k.apply("xx"),
            Err("unknown keyboard layout \"xx\"; known layouts: us, de".to_string())
        );
        // Unknown also on serial: the code is wrong wherever the installer runs.
        let mut k = keyboard(&t, false, "/dev/null");
        assert!(k.apply("../de").is_err());
    }

    #[test]
    fn serial_console_accepts_a_known_code_without_touching_files() {
        let t = tree(Some(INDEX));
        // No de.bkeymap exists and the device does not either.
        let mut k = keyboard(&t, false, "/nonexistent/tty0");
        assert_eq!(k.apply("de"), Ok(()));
        assert_eq!(k.try_apply("de").unwrap(), None);
        assert_eq!(k.loaded(), None);
    }

    #[test]
    fn on_a_vt_the_keymap_is_parsed_and_sent_to_the_device() {
        let t = tree(Some(INDEX));
        t.write("keymaps/de.bkeymap", &fixture());
        assert_eq!(
            keyboard(&t, true, "/dev/null")
                .load_keymap("de")
                .unwrap()
                .len(),
            256
        );
        // /dev/null is no VT: the Unicode-mode ioctl fails with ENOTTY,
        // which proves the keymap reached the ioctl stage.
        let mut k = keyboard(&t, true, "/dev/null");
        let err = k.apply("de").unwrap_err();
        assert!(
            err.contains("/dev/null") && err.contains("Unicode mode") && err.contains("ENOTTY"),
            "{err}"
        );
        assert_eq!(k.loaded(), None);
        let mut k = keyboard(&t, true, "/nonexistent/tty0");
        let err = k.apply("de").unwrap_err();
        assert!(
            err.starts_with("cannot open the console /nonexistent/tty0"),
            "{err}"
        );
    }

    #[test]
    fn broken_or_missing_keymaps_are_errors_naming_the_file() {
        let t = tree(Some(INDEX));
        t.write("keymaps/de.bkeymap", &fixture()[..300]);
        let mut k = keyboard(&t, true, "/dev/null");
        let err = k.apply("de").unwrap_err();
        assert!(
            err.contains("de.bkeymap") && err.contains("truncated"),
            "{err}"
        );

        let t = tree(Some(INDEX));
        let err = keyboard(&t, true, "/dev/null").apply("de").unwrap_err();
        assert!(
            err.starts_with("cannot read ") && err.contains("de.bkeymap"),
            "{err}"
        );
        // "us" without a file while nothing else was loaded: the kernel's
        // built-in keymap already is US.
        let mut k = keyboard(&t, true, "/dev/null");
        assert_eq!(k.try_apply("us").unwrap(), None);
    }

    #[test]
    fn code_validation() {
        for ok in ["us", "de-ch", "us-intl", "a1"] {
            assert!(is_valid_code(ok), "{ok}");
        }
        for bad in ["", "-x", "De", "de/ch", "../us", "de.ch", &"a".repeat(33)] {
            assert!(!is_valid_code(bad), "{bad}");
        }
    }
}
