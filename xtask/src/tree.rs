//! File trees put into images: one file with its source and mode, and the
//! files of an `overlay/` directory. Shared by the ISO and the initramfs.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One file of an image tree.
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub path: String,
    pub source: TreeSource,
    pub mode: u32,
}

#[derive(Debug, Clone)]
pub enum TreeSource {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

impl TreeFile {
    /// The host file `src` as `path`, read-only (0444).
    pub fn from_path(src: PathBuf, path: &str) -> TreeFile {
        TreeFile {
            path: path.to_string(),
            source: TreeSource::Path(src),
            mode: 0o444,
        }
    }
}

/// Files below `dir`, with paths relative to it; mode 0755 when executable.
pub fn overlay_files(dir: &Path) -> Result<Vec<TreeFile>> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<TreeFile>) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(base, &p, out)?;
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let exec = e.metadata()?.permissions().mode() & 0o111 != 0;
            let rel = p.strip_prefix(base)?.to_string_lossy().into_owned();
            out.push(TreeFile {
                path: rel,
                source: TreeSource::Path(p),
                mode: if exec { 0o755 } else { 0o644 },
            });
        } else {
            bail!(
                "{}: only plain files and directories belong in overlay/",
                p.display()
            );
        }
    }
    Ok(())
}
