//! What lives on the data partition and how it becomes `/etc` and `/var`:
//!
//! ```text
//! <data>/etc/upper, <data>/etc/work   overlay over the image's /etc
//! <data>/var                          bound on /var; made from the image's
//!                                     /var the first time (copied into
//!                                     var.new, then renamed, so a copy cut
//!                                     short is made again)
//! ```
//!
//! `/etc` is an overlay so that files the image updates and the appliance
//! never changed come from the new image after an update, while every file
//! written on the appliance (its configuration and secrets under
//! `/etc/appliance/`, SSH host keys, …) persists. `/var` holds state only
//! the running system writes (logs, databases), so it is a plain directory.

use std::io;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The directories of the data partition, below its mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDirs {
    /// The overlay's upper directory for `/etc`.
    pub etc_upper: PathBuf,
    /// The overlay's work directory for `/etc`.
    pub etc_work: PathBuf,
    /// Bound on `/var`.
    pub var: PathBuf,
    /// Where a first copy of `/var` is made before it is renamed to `var`.
    pub var_new: PathBuf,
}

impl DataDirs {
    /// The directories below `data` (the data partition's mount point).
    pub fn under(data: &Path) -> DataDirs {
        DataDirs {
            etc_upper: data.join("etc/upper"),
            etc_work: data.join("etc/work"),
            var: data.join("var"),
            var_new: data.join("var.new"),
        }
    }
}

/// Prepares the data partition: the overlay's directories (0755, root) and
/// `var`, copied from `image_var` when missing. Returns how many entries
/// were copied (0 when `var` existed).
pub fn prepare(dirs: &DataDirs, image_var: &Path) -> io::Result<u64> {
    for d in [&dirs.etc_upper, &dirs.etc_work] {
        std::fs::create_dir_all(d)?;
    }
    if dirs.var.is_dir() {
        return Ok(0);
    }
    if dirs.var_new.exists() {
        std::fs::remove_dir_all(&dirs.var_new)?;
    }
    let n = copy_tree(image_var, &dirs.var_new)?;
    std::fs::rename(&dirs.var_new, &dirs.var)?;
    Ok(n)
}

/// Copies the tree `src` to `dst` (which must not exist): directories,
/// regular files and symbolic links with their mode and owner. Sockets,
/// pipes and device nodes are left out (a system image has none there).
/// Returns the number of entries copied.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<u64> {
    let meta = std::fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    let mut n = 1;
    if ft.is_dir() {
        std::fs::create_dir(dst)?;
        let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            n += copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    } else if ft.is_symlink() {
        symlink(std::fs::read_link(src)?, dst)?;
    } else if ft.is_file() {
        std::fs::copy(src, dst)?;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    } else {
        return Ok(0);
    }
    owner(dst, &meta)?;
    Ok(n)
}

/// Gives `dst` the owner of `meta`, when it differs (so an unprivileged
/// test copying its own files needs no privilege).
fn owner(dst: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    let now = std::fs::symlink_metadata(dst)?;
    if (now.uid(), now.gid()) == (meta.uid(), meta.gid()) {
        return Ok(());
    }
    lchown(dst, Some(meta.uid()), Some(meta.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn var_is_copied_once_with_modes_and_links() {
        let root = temp("var");
        let image_var = root.join("image/var");
        std::fs::create_dir_all(image_var.join("lib/dpkg")).unwrap();
        std::fs::write(image_var.join("lib/dpkg/status"), "Package: x\n").unwrap();
        std::fs::create_dir_all(image_var.join("tmp")).unwrap();
        std::fs::set_permissions(
            image_var.join("tmp"),
            std::fs::Permissions::from_mode(0o1777),
        )
        .unwrap();
        symlink("/run", image_var.join("run")).unwrap();
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let dirs = DataDirs::under(&data);
        // A copy cut short earlier is made again.
        std::fs::create_dir_all(dirs.var_new.join("half")).unwrap();
        assert_eq!(prepare(&dirs, &image_var).unwrap(), 6);
        assert!(dirs.etc_upper.is_dir() && dirs.etc_work.is_dir());
        assert!(!dirs.var_new.exists());
        assert_eq!(
            std::fs::read_to_string(dirs.var.join("lib/dpkg/status")).unwrap(),
            "Package: x\n"
        );
        assert_eq!(
            std::fs::read_link(dirs.var.join("run")).unwrap(),
            Path::new("/run")
        );
        let mode = std::fs::metadata(dirs.var.join("tmp")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o1777);
        // What the appliance wrote persists: the second boot copies nothing.
        std::fs::write(dirs.var.join("lib/state"), "kept").unwrap();
        assert_eq!(prepare(&dirs, &image_var).unwrap(), 0);
        assert_eq!(
            std::fs::read_to_string(dirs.var.join("lib/state")).unwrap(),
            "kept"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
