//! The module pack's layout on the install medium, shared by its writer
//! (xtask) and its reader (the installer), so the two cannot drift apart.
//!
//! ```text
//! install/modules/<release>/modules.{dep,alias,softdep,builtin}
//!                           <name>.ko.zst      one zstd frame per module
//! install/firmware/<firmware name>              as the package has it (the kernel's loader reads it)
//! ```
//!
//! The index covers the pack's modules *and* the initramfs's: paths in
//! `modules.dep` are the kernel tree's (`kernel/drivers/…/x.ko`); a module
//! whose `<name>.ko.zst` is not in the pack is loaded from the initramfs.

/// The pack's directory on the medium; the release's directory is below it.
pub const MODULES_DIR: &str = "install/modules";
/// The firmware directory on the medium (`firmware_class.path`).
pub const FIRMWARE_DIR: &str = "install/firmware";
/// Suffix of a packed module file.
pub const MODULE_SUFFIX: &str = ".ko.zst";
/// Upper bound for one decompressed module (the largest Debian 6.1 module,
/// mlx5_core, is under 3 MiB).
pub const MAX_MODULE_BYTES: usize = 64 << 20;

/// `install/modules/<release>`.
pub fn release_dir(release: &str) -> String {
    format!("{MODULES_DIR}/{release}")
}

/// The packed file of module `name` (normalised): `<name>.ko.zst`.
pub fn module_file(name: &str) -> String {
    format!("{name}{MODULE_SUFFIX}")
}

/// The packed file of firmware `name` (as a driver names it, e.g.
/// `rtl_nic/rtl8168h-2.fw`), relative to [`FIRMWARE_DIR`]: stored
/// uncompressed under its own name.
pub fn firmware_file(name: &str) -> String {
    name.to_string()
}

/// True if a firmware name may be stored: relative, no `..`, no empty
/// component, printable ASCII (they become paths on the medium).
pub fn firmware_name_is_safe(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && name.bytes().all(|b| b.is_ascii_graphic())
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(
            release_dir("6.1.0-56-amd64"),
            "install/modules/6.1.0-56-amd64"
        );
        assert_eq!(module_file("r8169"), "r8169.ko.zst");
        assert_eq!(
            firmware_file("rtl_nic/rtl8168h-2.fw"),
            "rtl_nic/rtl8168h-2.fw"
        );
    }

    #[test]
    fn unsafe_firmware_names_are_refused() {
        assert!(firmware_name_is_safe("bnx2x/bnx2x-e2-7.13.21.0.fw"));
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "a b", "./x"] {
            assert!(!firmware_name_is_safe(bad), "{bad:?}");
        }
    }
}
