//! What lives on the data partition and how it becomes `/etc` and `/var`:
//!
//! ```text
//! <data>/etc/upper, <data>/etc/work   overlay over the image's /etc
//! <data>/var/upper, <data>/var/work   overlay over the image's /var
//! ```
//!
//! Both are overlays, so that files the image updates and the appliance
//! never changed come from the new image after an update, while every file
//! written on the appliance (its configuration and secrets under
//! `/etc/appliance/`, SSH host keys, logs, databases, …) persists. Nothing
//! is copied at boot: the first boot costs no more than the others (a copy
//! of the image's `/var`, 11 MB in 900 files, took 2–5 s of the first
//! boot under emulation, depending on the host's load). A file the appliance creates lives entirely in
//! the upper directory, as on a plain ext4 directory.
//!
//! A data partition made by an earlier stage 1, which copied the image's
//! `/var` to `<data>/var` and bound it, keeps that layout: its `var` has
//! no `upper` and is bound on `/var` as before ([`VarLayout::Bound`]).

use std::io;
use std::path::{Path, PathBuf};

/// The directories of the data partition, below its mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDirs {
    /// The overlay's upper directory for `/etc`.
    pub etc_upper: PathBuf,
    /// The overlay's work directory for `/etc`.
    pub etc_work: PathBuf,
    /// `var`: the overlay's directories below it, or (earlier layout) the
    /// directory bound on `/var`.
    pub var: PathBuf,
    /// The overlay's upper directory for `/var`.
    pub var_upper: PathBuf,
    /// The overlay's work directory for `/var`.
    pub var_work: PathBuf,
}

/// How `/var` is made from the data partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarLayout {
    /// An overlay: the image's `/var` below, `upper` and `work` on the data
    /// partition.
    Overlay { upper: PathBuf, work: PathBuf },
    /// The earlier layout: a full copy, bound on `/var`.
    Bound(PathBuf),
}

impl DataDirs {
    /// The directories below `data` (the data partition's mount point).
    pub fn under(data: &Path) -> DataDirs {
        DataDirs {
            etc_upper: data.join("etc/upper"),
            etc_work: data.join("etc/work"),
            var: data.join("var"),
            var_upper: data.join("var/upper"),
            var_work: data.join("var/work"),
        }
    }
}

/// Prepares the data partition: the overlays' directories (0755, root),
/// made when missing. Returns how `/var` is to be mounted.
pub fn prepare(dirs: &DataDirs) -> io::Result<VarLayout> {
    for d in [&dirs.etc_upper, &dirs.etc_work] {
        std::fs::create_dir_all(d)?;
    }
    if dirs.var.is_dir() && !dirs.var_upper.is_dir() {
        return Ok(VarLayout::Bound(dirs.var.clone()));
    }
    for d in [&dirs.var_upper, &dirs.var_work] {
        std::fs::create_dir_all(d)?;
    }
    Ok(VarLayout::Overlay {
        upper: dirs.var_upper.clone(),
        work: dirs.var_work.clone(),
    })
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
    fn a_blank_partition_gets_both_overlays_and_keeps_what_was_written() {
        let data = temp("overlay");
        let dirs = DataDirs::under(&data);
        let want = VarLayout::Overlay {
            upper: data.join("var/upper"),
            work: data.join("var/work"),
        };
        assert_eq!(prepare(&dirs).unwrap(), want);
        for d in [
            &dirs.etc_upper,
            &dirs.etc_work,
            &dirs.var_upper,
            &dirs.var_work,
        ] {
            assert!(d.is_dir(), "{}", d.display());
        }
        // What the appliance wrote persists: the next boot changes nothing.
        std::fs::create_dir_all(dirs.var_upper.join("lib")).unwrap();
        std::fs::write(dirs.var_upper.join("lib/state"), "kept").unwrap();
        assert_eq!(prepare(&dirs).unwrap(), want);
        assert_eq!(
            std::fs::read_to_string(dirs.var_upper.join("lib/state")).unwrap(),
            "kept"
        );
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[test]
    fn a_var_copied_by_an_earlier_stage_1_stays_bound() {
        let data = temp("bound");
        let dirs = DataDirs::under(&data);
        std::fs::create_dir_all(data.join("var/lib/dpkg")).unwrap();
        std::fs::write(data.join("var/lib/dpkg/status"), "Package: x\n").unwrap();
        assert_eq!(prepare(&dirs).unwrap(), VarLayout::Bound(data.join("var")));
        assert!(!dirs.var_upper.exists() && !dirs.var_work.exists());
        assert!(dirs.etc_upper.is_dir() && dirs.etc_work.is_dir());
        std::fs::remove_dir_all(&data).unwrap();
    }
}
