//! Firmware type and Secure Boot state.

use serde::Serialize;
use std::path::Path;

/// How the machine booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// Legacy BIOS (no `/sys/firmware/efi`).
    Bios,
    /// UEFI (`/sys/firmware/efi` exists).
    Uefi,
}

impl Firmware {
    /// Detects the firmware from `<root>/sys/firmware/efi`.
    pub fn detect(root: &Path) -> Self {
        if root.join("sys/firmware/efi").is_dir() {
            Firmware::Uefi
        } else {
            Firmware::Bios
        }
    }

    /// `BIOS` or `UEFI`.
    pub fn label(self) -> &'static str {
        match self {
            Firmware::Bios => "BIOS",
            Firmware::Uefi => "UEFI",
        }
    }
}

/// The Secure Boot state and how we learned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "source")]
pub enum SecureBoot {
    /// Secure Boot is on (source: `efivar` or `lockdown`).
    Enabled(String),
    /// Secure Boot is off (source: `efivar`, `lockdown` or `bios`).
    Disabled(String),
    /// Could not be determined (the reason).
    Unknown(String),
}

impl SecureBoot {
    /// True only when known to be enabled.
    pub fn is_enabled(&self) -> bool {
        matches!(self, SecureBoot::Enabled(_))
    }

    /// A one-line human description.
    pub fn describe(&self) -> String {
        match self {
            SecureBoot::Enabled(src) => format!("enabled (from {src})"),
            SecureBoot::Disabled(src) if src == "bios" => "not available (BIOS)".to_string(),
            SecureBoot::Disabled(src) => format!("disabled (from {src})"),
            SecureBoot::Unknown(why) => format!("unknown ({why})"),
        }
    }
}

/// File name of the SecureBoot variable in efivarfs (EFI global variable GUID).
pub const SECURE_BOOT_VAR: &str = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Decodes the efivarfs content of `SecureBoot`: 4 attribute bytes (LE u32),
/// then one value byte (1 = enabled, 0 = disabled). Other shapes give `None`.
pub fn decode_secure_boot_var(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [_, _, _, _, 1] => Some(true),
        [_, _, _, _, 0] => Some(false),
        _ => None,
    }
}

/// The active lockdown mode from `/sys/kernel/security/lockdown`
/// (`"none [integrity] confidentiality"` gives `integrity`).
pub fn parse_lockdown(text: &str) -> Option<&str> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
}

/// Reads the Secure Boot state under `root`: the efivar first, then the
/// lockdown mode (Debian's kernel enforces lockdown under Secure Boot).
pub fn secure_boot(root: &Path, firmware: Firmware) -> SecureBoot {
    if firmware == Firmware::Bios {
        return SecureBoot::Disabled("bios".to_string());
    }
    let var = root.join("sys/firmware/efi/efivars").join(SECURE_BOOT_VAR);
    if let Some(enabled) = std::fs::read(var)
        .ok()
        .and_then(|b| decode_secure_boot_var(&b))
    {
        return if enabled {
            SecureBoot::Enabled("efivar".to_string())
        } else {
            SecureBoot::Disabled("efivar".to_string())
        };
    }
    match std::fs::read_to_string(root.join("sys/kernel/security/lockdown")) {
        Ok(text) => match parse_lockdown(&text) {
            Some("none") => SecureBoot::Disabled("lockdown".to_string()),
            Some(_) => SecureBoot::Enabled("lockdown".to_string()),
            None => SecureBoot::Unknown(format!("unreadable lockdown mode {:?}", text.trim())),
        },
        Err(_) => SecureBoot::Unknown("no SecureBoot variable and no lockdown file".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;

    #[test]
    fn secure_boot_var_is_attributes_then_value() {
        // 0x00..0x03: attributes NV|BS|RT = 0x06 LE, 0x04: value byte
        assert_eq!(decode_secure_boot_var(&[0x06, 0, 0, 0, 1]), Some(true));
        assert_eq!(decode_secure_boot_var(&[0x06, 0, 0, 0, 0]), Some(false));
        assert_eq!(decode_secure_boot_var(&[0x06, 0, 0, 0, 2]), None);
        assert_eq!(decode_secure_boot_var(&[1]), None);
        assert_eq!(decode_secure_boot_var(&[0x06, 0, 0, 0, 1, 0]), None);
    }

    #[test]
    fn lockdown_mode_is_the_bracketed_word() {
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n"),
            Some("integrity")
        );
        assert_eq!(
            parse_lockdown("[none] integrity confidentiality"),
            Some("none")
        );
        assert_eq!(parse_lockdown("none integrity"), None);
    }

    #[test]
    fn firmware_and_secure_boot_from_a_fake_root() {
        let t = TempTree::new("fw");
        assert_eq!(Firmware::detect(t.path()), Firmware::Bios);
        assert_eq!(
            secure_boot(t.path(), Firmware::Bios),
            SecureBoot::Disabled("bios".into())
        );

        t.write(
            &format!("sys/firmware/efi/efivars/{SECURE_BOOT_VAR}"),
            &[6, 0, 0, 0, 1],
        );
        assert_eq!(Firmware::detect(t.path()), Firmware::Uefi);
        assert_eq!(
            secure_boot(t.path(), Firmware::Uefi),
            SecureBoot::Enabled("efivar".into())
        );
    }

    #[test]
    fn lockdown_is_the_fallback_without_efivars() {
        let t = TempTree::new("lockdown");
        t.mkdir("sys/firmware/efi");
        assert!(matches!(
            secure_boot(t.path(), Firmware::Uefi),
            SecureBoot::Unknown(_)
        ));
        t.write(
            "sys/kernel/security/lockdown",
            b"[none] integrity confidentiality\n",
        );
        assert_eq!(
            secure_boot(t.path(), Firmware::Uefi),
            SecureBoot::Disabled("lockdown".into())
        );
        t.write(
            "sys/kernel/security/lockdown",
            b"none [integrity] confidentiality\n",
        );
        assert_eq!(
            secure_boot(t.path(), Firmware::Uefi),
            SecureBoot::Enabled("lockdown".into())
        );
        assert!(secure_boot(t.path(), Firmware::Uefi).is_enabled());
    }
}
