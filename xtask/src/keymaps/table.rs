//! The curated list of console keyboard layouts shipped in the initramfs.
//!
//! Latin layouts only: non-Latin ones (ru, gr, …) need a second group plus a
//! toggle (d-i pairs them with `us`), which the installer does not offer yet.
//! `nodeadkeys` variants are preferred wherever xkb-data has one, because a
//! bkeymap carries no accent table. Layouts without such a
//! variant (cz, sk, is, nl, fr-ca) keep a few dead keys; the kernel's built-in
//! accent table still composes the Latin-1 letters with them.
//!
//! Every entry has a [`Probe`]: one key whose character is typical of the
//! layout, checked in the compiled binary at build time, so a layout that
//! silently compiled as something else (e.g. plain `us`) fails the build.

/// One key that must produce a given character in the compiled keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Modifier map index: 0 plain, 1 Shift, 2 AltGr (kernel `KG_*` bits).
    pub map: u8,
    /// Linux keycode (e.g. 21 is the key labelled Y on a US keyboard).
    pub keycode: u8,
    /// The character it must type.
    pub ch: char,
}

/// A layout the installer offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Our code; also the file name `<code>.bkeymap`.
    pub code: &'static str,
    /// Shown in the installer's list.
    pub name: &'static str,
    /// XKB layout, as in `/etc/default/keyboard`.
    pub xkb_layout: &'static str,
    /// XKB variant; empty for the layout's default.
    pub xkb_variant: &'static str,
    /// The build-time check that the layout compiled as intended.
    pub probe: Probe,
}

const fn plain(keycode: u8, ch: char) -> Probe {
    Probe {
        map: 0,
        keycode,
        ch,
    }
}

const fn altgr(keycode: u8, ch: char) -> Probe {
    Probe {
        map: 2,
        keycode,
        ch,
    }
}

const fn layout(
    code: &'static str,
    name: &'static str,
    xkb_layout: &'static str,
    xkb_variant: &'static str,
    probe: Probe,
) -> Layout {
    Layout {
        code,
        name,
        xkb_layout,
        xkb_variant,
        probe,
    }
}

/// "us" first, then sorted by name (case-insensitively), as the installer lists them.
///
/// Keycodes of the probes: 2 `1`, 16 `Q`, 21 `Y`, 23 `I`, 26 `[`, 27 `]`,
/// 30 `A`, 39 `;`, 40 `'`, 41 `` ` ``, 43 `\`, 53 `/` (US key labels).
pub const LAYOUTS: [Layout; 34] = [
    layout("us", "English (US)", "us", "", plain(21, 'y')),
    layout(
        "be",
        "Belgian (no dead keys)",
        "be",
        "nodeadkeys",
        plain(53, '='),
    ),
    layout("hr", "Croatian", "hr", "", plain(26, 'š')),
    layout("cz", "Czech", "cz", "", plain(39, 'ů')),
    layout(
        "dk",
        "Danish (no dead keys)",
        "dk",
        "nodeadkeys",
        plain(39, 'æ'),
    ),
    layout("nl", "Dutch", "nl", "", plain(41, '@')),
    layout(
        "us-dvorak",
        "English (Dvorak)",
        "us",
        "dvorak",
        plain(16, '\''),
    ),
    layout("gb", "English (UK)", "gb", "", plain(43, '#')),
    layout(
        "us-intl",
        "English (US, intl., AltGr dead keys)",
        "us",
        "altgr-intl",
        altgr(30, 'á'),
    ),
    layout(
        "ee",
        "Estonian (no dead keys)",
        "ee",
        "nodeadkeys",
        plain(27, 'õ'),
    ),
    layout(
        "fi",
        "Finnish (no dead keys)",
        "fi",
        "nodeadkeys",
        plain(39, 'ö'),
    ),
    layout(
        "fr-ca",
        "French (Canada, legacy)",
        "ca",
        "fr-legacy",
        plain(53, 'é'),
    ),
    layout(
        "fr",
        "French (no dead keys)",
        "fr",
        "nodeadkeys",
        plain(16, 'a'),
    ),
    layout(
        "fr-ch",
        "French (Switzerland, no dead keys)",
        "ch",
        "fr_nodeadkeys",
        plain(26, 'è'),
    ),
    layout(
        "at",
        "German (Austria, no dead keys)",
        "at",
        "nodeadkeys",
        plain(21, 'z'),
    ),
    layout(
        "de",
        "German (no dead keys)",
        "de",
        "nodeadkeys",
        plain(21, 'z'),
    ),
    layout(
        "de-ch",
        "German (Switzerland, no dead keys)",
        "ch",
        "de_nodeadkeys",
        plain(26, 'ü'),
    ),
    layout(
        "hu",
        "Hungarian (no dead keys)",
        "hu",
        "nodeadkeys",
        plain(39, 'é'),
    ),
    layout("is", "Icelandic", "is", "", plain(26, 'ð')),
    layout(
        "it",
        "Italian (no dead keys)",
        "it",
        "nodeadkeys",
        plain(39, 'ò'),
    ),
    layout("jp", "Japanese", "jp", "", plain(26, '@')),
    layout("lv", "Latvian", "lv", "", altgr(30, 'ā')),
    layout("lt", "Lithuanian", "lt", "", plain(2, 'ą')),
    layout(
        "no",
        "Norwegian (no dead keys)",
        "no",
        "nodeadkeys",
        plain(39, 'ø'),
    ),
    layout("pl", "Polish", "pl", "", altgr(30, 'ą')),
    layout(
        "br",
        "Portuguese (Brazil, no dead keys)",
        "br",
        "nodeadkeys",
        plain(40, '~'),
    ),
    layout(
        "pt",
        "Portuguese (no dead keys)",
        "pt",
        "nodeadkeys",
        plain(39, 'ç'),
    ),
    layout("ro", "Romanian", "ro", "", altgr(30, 'ă')),
    layout("sk", "Slovak", "sk", "", plain(39, 'ô')),
    layout("si", "Slovenian", "si", "", plain(26, 'š')),
    layout(
        "latam",
        "Spanish (Latin American, no dead keys)",
        "latam",
        "nodeadkeys",
        plain(41, '|'),
    ),
    layout(
        "es",
        "Spanish (no dead keys)",
        "es",
        "nodeadkeys",
        plain(39, 'ñ'),
    ),
    layout(
        "se",
        "Swedish (no dead keys)",
        "se",
        "nodeadkeys",
        plain(39, 'ö'),
    ),
    layout("tr", "Turkish", "tr", "", plain(23, 'ı')),
];

/// The layout with this code.
#[cfg(test)]
pub fn find(code: &str) -> Option<&'static Layout> {
    LAYOUTS.iter().find(|l| l.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn us_first_then_sorted_by_name() {
        assert_eq!(LAYOUTS[0].code, "us");
        let names: Vec<String> = LAYOUTS[1..].iter().map(|l| l.name.to_lowercase()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn codes_are_unique_file_safe_and_cover_the_required_set() {
        let codes: BTreeSet<&str> = LAYOUTS.iter().map(|l| l.code).collect();
        assert_eq!(codes.len(), LAYOUTS.len(), "duplicate code");
        for c in &codes {
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{c}"
            );
        }
        for required in [
            "us", "gb", "de", "de-ch", "fr", "fr-ch", "be", "nl", "es", "pt", "it", "se", "no",
            "dk", "fi", "pl", "cz", "sk", "hu", "si", "hr", "jp", "br", "latam", "us-intl",
        ] {
            assert!(codes.contains(required), "{required} missing");
        }
        assert!(LAYOUTS.len() >= 24);
    }

    #[test]
    fn xkb_pairs_are_unique_and_dead_key_free_where_xkb_data_allows() {
        let pairs: BTreeSet<(&str, &str)> = LAYOUTS
            .iter()
            .map(|l| (l.xkb_layout, l.xkb_variant))
            .collect();
        assert_eq!(pairs.len(), LAYOUTS.len());
        // xkb-data 2.35 has a nodeadkeys variant for these layouts (rules/base.lst).
        for l in LAYOUTS.iter().filter(|l| {
            [
                "at", "be", "br", "de", "dk", "ee", "es", "fi", "fr", "hu", "it", "latam", "no",
                "pt", "se",
            ]
            .contains(&l.xkb_layout)
        }) {
            assert_eq!(l.xkb_variant, "nodeadkeys", "{}", l.code);
        }
        assert_eq!(find("de").map(|l| l.probe), Some(plain(21, 'z')));
        assert_eq!(find("xx"), None);
    }
}
