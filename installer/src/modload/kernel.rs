//! The effectful side of module loading: reading the index files, walking
//! sysfs for `modalias` files, and `finit_module`.

use super::{Loaded, ModuleLoader};
use image_builder::kmod::index::{LoadStep, ModuleIndex};
use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Loads modules from a `lib/modules/<kver>` directory with `finit_module(2)`.
#[derive(Debug, Clone)]
pub struct KernelLoader {
    /// `/lib/modules/<kver>`.
    pub module_dir: PathBuf,
}

impl ModuleLoader for KernelLoader {
    fn load(&mut self, step: &LoadStep, params: &str) -> Result<Loaded, String> {
        let path = self.module_dir.join(&step.path);
        let file = std::fs::File::open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let params = CString::new(params)
            .map_err(|_| format!("parameters for {} contain a NUL byte", step.name))?;
        match finit_module(&file, &params, ModuleInitFlags::empty()) {
            Ok(()) => Ok(Loaded::Now),
            Err(Errno::EEXIST) => Ok(Loaded::Already),
            Err(e) => Err(describe_errno(e)),
        }
    }
}

/// A short explanation of a `finit_module` errno.
pub fn describe_errno(e: Errno) -> String {
    let why = match e {
        Errno::ENODEV | Errno::ENXIO => "no matching hardware or CPU feature",
        Errno::ENOENT => "unknown symbol, a dependency is missing",
        Errno::EKEYREJECTED => "signature rejected",
        Errno::EPERM => "not permitted (kernel lockdown or unsigned module?)",
        Errno::ENOEXEC => "not a valid module for this kernel",
        Errno::EINVAL => "invalid module or parameter",
        Errno::EBUSY => "device busy",
        _ => "",
    };
    if why.is_empty() {
        format!("{} ({})", e.desc(), e)
    } else {
        format!("{why} ({e})")
    }
}

/// Errors reading the module index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// An index file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The index files are inconsistent.
    #[error("invalid module index in {dir}: {source}")]
    Parse {
        /// The directory.
        dir: PathBuf,
        /// The parser's error.
        source: image_builder::kmod::KmodError,
    },
}

/// Reads `modules.dep`, `modules.alias`, `modules.softdep` and
/// `modules.builtin` from `module_dir`. The last two may be missing.
pub fn load_index(module_dir: &Path) -> Result<ModuleIndex, IndexError> {
    let read = |name: &str, required: bool| -> Result<String, IndexError> {
        let path = module_dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(source) => Err(IndexError::Read { path, source }),
        }
    };
    let dep = read("modules.dep", true)?;
    let alias = read("modules.alias", true)?;
    let softdep = read("modules.softdep", false)?;
    let builtin = read("modules.builtin", false)?;
    ModuleIndex::parse(&dep, &alias, &softdep, &builtin).map_err(|source| IndexError::Parse {
        dir: module_dir.to_path_buf(),
        source,
    })
}

/// Every `modalias` value under `sys_devices` (normally `/sys/devices`),
/// sorted. Symlinks are not followed; empty values are skipped.
pub fn scan_modaliases(sys_devices: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(sys_devices, 0, &mut out);
    out
}

fn walk(dir: &Path, depth: usize, out: &mut BTreeSet<String>) {
    const MAX_DEPTH: usize = 40;
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            walk(&entry.path(), depth + 1, out);
        } else if ft.is_file() && entry.file_name() == "modalias" {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                let text = text.trim();
                if !text.is_empty() {
                    out.insert(text.to_string());
                }
            }
        }
    }
}
