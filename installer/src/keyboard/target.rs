//! What the installed system gets: `/etc/default/keyboard` (Debian's
//! keyboard-configuration, read by console-setup and X) and
//! `/etc/vconsole.conf` (systemd-vconsole-setup elsewhere).
//!
//! The vconsole keymap name is `<layout>` or `<layout>-<variant>`: the name
//! under which kbd installs its XKB-converted keymaps (`keymaps/xkb/`) and
//! which systemd-localed itself derives from an XKB layout
//! (`find_converted_keymap()` in systemd's `src/locale/localed-util.c`).
//! The `XKB*` keys are written too, which newer systemd reads from that file.

use thiserror::Error;

use super::Layout;

/// The keyboard model written to the target (and used to build the keymaps).
pub const XKB_MODEL: &str = "pc105";

/// A layout whose values cannot be written safely.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    /// A value with characters outside `A-Z a-z 0-9 _ -` (both files are
    /// read by shells or shell-like parsers), or an empty XKB layout.
    #[error("keyboard layout {code:?} has an unusable {field} {value:?}")]
    Unsafe {
        /// The layout's code.
        code: String,
        /// `xkb_layout` or `xkb_variant`.
        field: &'static str,
        /// The offending value.
        value: String,
    },
}

fn check(layout: &Layout) -> Result<(), TargetError> {
    let ok = |v: &str| {
        v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let bad = |field, value: &str| TargetError::Unsafe {
        code: layout.code.clone(),
        field,
        value: value.to_string(),
    };
    if layout.xkb_layout.is_empty() || !ok(&layout.xkb_layout) {
        return Err(bad("xkb_layout", &layout.xkb_layout));
    }
    if !ok(&layout.xkb_variant) {
        return Err(bad("xkb_variant", &layout.xkb_variant));
    }
    Ok(())
}

/// The contents of `/etc/default/keyboard`.
pub fn default_keyboard(layout: &Layout) -> Result<String, TargetError> {
    check(layout)?;
    Ok(format!(
        "# Keyboard configuration, written by the installer; see keyboard(5).\n\
         \n\
         XKBMODEL=\"{XKB_MODEL}\"\n\
         XKBLAYOUT=\"{}\"\n\
         XKBVARIANT=\"{}\"\n\
         XKBOPTIONS=\"\"\n\
         \n\
         BACKSPACE=\"guess\"\n",
        layout.xkb_layout, layout.xkb_variant
    ))
}

/// The console keymap name for `/etc/vconsole.conf`, e.g. `de-nodeadkeys`.
pub fn console_keymap(layout: &Layout) -> Result<String, TargetError> {
    check(layout)?;
    Ok(if layout.xkb_variant.is_empty() {
        layout.xkb_layout.clone()
    } else {
        format!("{}-{}", layout.xkb_layout, layout.xkb_variant)
    })
}

/// The contents of `/etc/vconsole.conf`.
pub fn vconsole_conf(layout: &Layout) -> Result<String, TargetError> {
    let keymap = console_keymap(layout)?;
    let mut out = format!(
        "# Console keyboard, written by the installer; see vconsole.conf(5).\n\
         KEYMAP={keymap}\n\
         XKBLAYOUT={}\n\
         XKBMODEL={XKB_MODEL}\n",
        layout.xkb_layout
    );
    if !layout.xkb_variant.is_empty() {
        out.push_str(&format!("XKBVARIANT={}\n", layout.xkb_variant));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(code: &str, xkb_layout: &str, xkb_variant: &str) -> Layout {
        Layout {
            code: code.into(),
            name: code.into(),
            xkb_layout: xkb_layout.into(),
            xkb_variant: xkb_variant.into(),
        }
    }

    #[test]
    fn default_keyboard_golden_de() {
        assert_eq!(
            default_keyboard(&layout("de", "de", "nodeadkeys")).unwrap(),
            "# Keyboard configuration, written by the installer; see keyboard(5).\n\
             \n\
             XKBMODEL=\"pc105\"\n\
             XKBLAYOUT=\"de\"\n\
             XKBVARIANT=\"nodeadkeys\"\n\
             XKBOPTIONS=\"\"\n\
             \n\
             BACKSPACE=\"guess\"\n"
        );
    }

    #[test]
    fn default_keyboard_golden_us_and_swiss_german() {
        let us = default_keyboard(&layout("us", "us", "")).unwrap();
        assert!(us.contains("\nXKBLAYOUT=\"us\"\nXKBVARIANT=\"\"\n"), "{us}");
        let ch = default_keyboard(&layout("de-ch", "ch", "de_nodeadkeys")).unwrap();
        assert!(
            ch.contains("\nXKBLAYOUT=\"ch\"\nXKBVARIANT=\"de_nodeadkeys\"\n"),
            "{ch}"
        );
    }

    #[test]
    fn vconsole_conf_golden() {
        assert_eq!(
            vconsole_conf(&layout("de", "de", "nodeadkeys")).unwrap(),
            "# Console keyboard, written by the installer; see vconsole.conf(5).\n\
             KEYMAP=de-nodeadkeys\n\
             XKBLAYOUT=de\n\
             XKBMODEL=pc105\n\
             XKBVARIANT=nodeadkeys\n"
        );
        assert_eq!(
            vconsole_conf(&layout("us", "us", "")).unwrap(),
            "# Console keyboard, written by the installer; see vconsole.conf(5).\n\
             KEYMAP=us\n\
             XKBLAYOUT=us\n\
             XKBMODEL=pc105\n"
        );
        assert_eq!(
            console_keymap(&layout("us-intl", "us", "altgr-intl")).unwrap(),
            "us-altgr-intl"
        );
    }

    #[test]
    fn refuses_values_a_shell_would_interpret() {
        let err = default_keyboard(&layout("x", "de\"; rm -rf /", "")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "keyboard layout \"x\" has an unusable xkb_layout \"de\\\"; rm -rf /\""
        );
        assert!(vconsole_conf(&layout("x", "de", "$(id)")).is_err());
        assert!(console_keymap(&layout("x", "", "")).is_err());
        assert!(default_keyboard(&layout("x", "de", "a b")).is_err());
    }
}
