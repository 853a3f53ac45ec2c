//! A kernel module set in an initramfs or a root file system: the roots,
//! their dependency closure and the index the runtime loader reads. Shared
//! by the installer's and the appliances' initramfs and the reference
//! appliance's root image.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use image_builder::cpio::Archive;
use image_builder::kmod::ModuleDb;

/// Adds `roots` and their dependency closure (Debian's signed `.ko` files,
/// byte for byte) under `lib/modules/<release>/`, with the depmod-format
/// index.
pub fn add_modules(
    a: &mut Archive,
    modules_dir: &Path,
    release: &str,
    roots: &[&str],
) -> Result<()> {
    let db = ModuleDb::scan(modules_dir)
        .with_context(|| format!("indexing {}", modules_dir.display()))?;
    let set = db
        .closure(roots)
        .context("resolving the kernel module set")?;
    let base = format!("lib/modules/{release}");
    for m in &set {
        a.add_file_from_path(
            &format!("{base}/{}", m.path),
            0o644,
            modules_dir.join(&m.path),
        )?;
    }
    let index = db
        .render_index(&set)
        .context("rendering the module index")?;
    for (name, text) in [
        ("modules.dep", index.dep),
        ("modules.alias", index.alias),
        ("modules.softdep", index.softdep),
        ("modules.builtin", index.builtin),
    ] {
        a.add_file(&format!("{base}/{name}"), 0o644, text.into_bytes())?;
    }
    Ok(())
}

/// Copies `roots` and their dependency closure (byte for byte) into
/// `<root>/lib/modules/<release>/`, with the depmod-format text index.
/// Returns the module paths, relative to that directory.
pub fn write_modules(
    root: &Path,
    modules_dir: &Path,
    release: &str,
    roots: &[&str],
) -> Result<Vec<String>> {
    let db = ModuleDb::scan(modules_dir)
        .with_context(|| format!("indexing {}", modules_dir.display()))?;
    let set = db
        .closure(roots)
        .context("resolving the kernel module set")?;
    let base = root.join("lib/modules").join(release);
    let mut paths = Vec::new();
    for m in &set {
        let dest = base.join(&m.path);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::copy(modules_dir.join(&m.path), &dest)
            .with_context(|| format!("copying {}", m.path))?;
        paths.push(m.path.clone());
    }
    let index = db
        .render_index(&set)
        .context("rendering the module index")?;
    for (name, text) in [
        ("modules.dep", index.dep),
        ("modules.alias", index.alias),
        ("modules.softdep", index.softdep),
        ("modules.builtin", index.builtin),
    ] {
        fs::write(base.join(name), text)?;
    }
    Ok(paths)
}
