//! Where things live in the repository and in the build output.

use std::path::{Path, PathBuf};

/// The repository root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The lock file pinning every Debian package the image is built from.
pub fn inputs_lock() -> PathBuf {
    root().join("boot-inputs.lock")
}

/// Downloaded and unpacked Debian packages; survives `cargo clean`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("BOOT_INPUTS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache").join("boot-inputs"))
}

/// Build output of xtask (ISOs, scratch trees, QEMU logs).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

pub fn overlay_dir() -> PathBuf {
    root().join("overlay")
}
