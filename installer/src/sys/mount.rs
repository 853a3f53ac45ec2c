//! Mounting: the API file systems PID 1 needs, and the block devices the
//! installer reads or writes files on (the install medium, a support volume).
//! The only module that mounts.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::Path;

/// One mount: source, target, fs type, flags, data, and whether failure matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Source (the fs name for virtual file systems).
    pub source: &'static str,
    /// Mount point (created if missing).
    pub target: &'static str,
    /// File system type.
    pub fstype: &'static str,
    /// Mount flags.
    pub flags: MsFlags,
    /// fs-specific options.
    pub data: &'static str,
    /// A failure is only logged as a warning.
    pub optional: bool,
}

/// The mounts PID 1 makes before anything else, in order.
pub fn api_mounts() -> Vec<MountSpec> {
    let nsnd = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let nsndne = nsnd | MsFlags::MS_NOEXEC;
    let spec = |source, target, fstype, flags, data, optional| MountSpec {
        source,
        target,
        fstype,
        flags,
        data,
        optional,
    };
    vec![
        spec("proc", "/proc", "proc", nsndne, "", false),
        spec("sysfs", "/sys", "sysfs", nsndne, "", false),
        spec(
            "devtmpfs",
            "/dev",
            "devtmpfs",
            MsFlags::MS_NOSUID,
            "mode=0755",
            false,
        ),
        spec(
            "devpts",
            "/dev/pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            "gid=5,mode=620,ptmxmode=000",
            true,
        ),
        spec("tmpfs", "/dev/shm", "tmpfs", nsnd, "mode=1777", true),
        spec("tmpfs", "/run", "tmpfs", nsnd, "mode=0755", false),
        spec("tmpfs", "/tmp", "tmpfs", nsnd, "mode=1777", true),
        spec(
            "securityfs",
            "/sys/kernel/security",
            "securityfs",
            nsndne,
            "",
            true,
        ),
    ]
}

/// The efivarfs mount, made after the `efivarfs` module is loaded.
pub fn efivarfs_mount() -> MountSpec {
    MountSpec {
        source: "efivarfs",
        target: "/sys/firmware/efi/efivars",
        fstype: "efivarfs",
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        data: "",
        optional: true,
    }
}

/// Errors mounting.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// mount(2) failed.
    #[error("cannot mount {fstype} on {target}: {source}")]
    Mount {
        /// File system type.
        fstype: &'static str,
        /// Mount point.
        target: &'static str,
        /// The errno.
        source: nix::Error,
    },
    /// umount(2) failed.
    #[error("cannot unmount {target}: {source}")]
    Unmount {
        /// Mount point.
        target: &'static str,
        /// The errno.
        source: nix::Error,
    },
}

/// Creates the mount point and mounts. EBUSY (already mounted, e.g. when the
/// kernel mounted devtmpfs itself) counts as success.
pub fn mount_one(spec: &MountSpec) -> Result<(), MountError> {
    let _ = std::fs::create_dir_all(spec.target);
    let data = (!spec.data.is_empty()).then_some(spec.data);
    match mount(
        Some(spec.source),
        Path::new(spec.target),
        Some(spec.fstype),
        spec.flags,
        data,
    ) {
        Ok(()) | Err(nix::errno::Errno::EBUSY) => Ok(()),
        Err(source) => Err(MountError::Mount {
            fstype: spec.fstype,
            target: spec.target,
            source,
        }),
    }
}

/// Mounts the file system (`fstype`) on the block device `device` on
/// `target`, creating the mount point if missing.
pub fn mount_device(
    device: &Path,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
) -> Result<(), MountError> {
    let _ = std::fs::create_dir_all(target);
    mount(
        Some(device),
        Path::new(target),
        Some(fstype),
        flags,
        None::<&str>,
    )
    .map_err(|source| MountError::Mount {
        fstype,
        target,
        source,
    })
}

/// Mounts the install medium (ISO 9660) read-only on `target`.
pub fn mount_medium(device: &str, target: &'static str) -> Result<(), MountError> {
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount_device(Path::new(device), target, "iso9660", flags)
}

/// `mount(2)` with a dynamic source and optional data; errors name
/// `what` (the file system type, or `bind` / `move`).
fn mount_at(
    source: Option<&Path>,
    target: &'static str,
    fstype: Option<&'static str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &'static str,
) -> Result<(), MountError> {
    let _ = std::fs::create_dir_all(target);
    mount(source, Path::new(target), fstype, flags, data).map_err(|source| MountError::Mount {
        fstype: what,
        target,
        source,
    })
}

/// Mounts the squashfs on `device` read-only on `target` (an appliance's
/// root image).
pub fn mount_squashfs(device: &Path, target: &'static str) -> Result<(), MountError> {
    let flags = MsFlags::MS_RDONLY;
    mount_at(
        Some(device),
        target,
        Some("squashfs"),
        flags,
        None,
        "squashfs",
    )
}

/// Mounts the ext4 file system on `device` read-write on `target`, without
/// set-uid files or device nodes (an appliance's data partition).
pub fn mount_ext4(device: &Path, target: &'static str) -> Result<(), MountError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount_at(Some(device), target, Some("ext4"), flags, None, "ext4")
}

/// Mounts an overlay of `upper` (with its work directory `work`, both on
/// the same file system) over `lower` on `target`.
pub fn mount_overlay(
    lower: &Path,
    upper: &Path,
    work: &Path,
    target: &'static str,
) -> Result<(), MountError> {
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    mount_at(
        Some(Path::new("overlay")),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(&data),
        "overlay",
    )
}

/// Mounts an empty tmpfs (mode 1777, no set-uid files or device nodes) on
/// `target`, e.g. `/tmp` of a read-only root image.
pub fn mount_tmp(target: &'static str) -> Result<(), MountError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount_at(
        Some(Path::new("tmpfs")),
        target,
        Some("tmpfs"),
        flags,
        Some("mode=1777"),
        "tmpfs",
    )
}

/// Bind-mounts the directory `source` on `target`.
pub fn bind(source: &Path, target: &'static str) -> Result<(), MountError> {
    mount_at(Some(source), target, None, MsFlags::MS_BIND, None, "bind")
}

/// Moves the mount at `source` to `target` (e.g. `/dev` into the new root).
pub fn move_mount_to(source: &'static str, target: &'static str) -> Result<(), MountError> {
    mount_at(
        Some(Path::new(source)),
        target,
        None,
        MsFlags::MS_MOVE,
        None,
        "move",
    )
}

/// Makes the file system mounted at `new_root` the root of this process
/// (what `switch_root` does): `chdir`, move the mount onto `/`, `chroot .`.
/// The caller then executes the new root's init.
pub fn switch_root(new_root: &'static str) -> Result<(), MountError> {
    let err = |source| MountError::Mount {
        fstype: "switch_root",
        target: new_root,
        source,
    };
    nix::unistd::chdir(new_root).map_err(err)?;
    mount(
        Some(Path::new(".")),
        Path::new("/"),
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(err)?;
    nix::unistd::chroot(".").map_err(err)?;
    nix::unistd::chdir("/").map_err(err)
}

/// Unmounts `target`.
pub fn unmount(target: &'static str) -> Result<(), MountError> {
    umount2(target, MntFlags::empty()).map_err(|source| MountError::Unmount { target, source })
}

/// Unmounts `target`; when that fails (still busy), detaches it lazily so the
/// mount point is gone from the name space at once. Returns the first error.
pub fn unmount_or_detach(target: &'static str) -> Result<(), MountError> {
    unmount(target).inspect_err(|_| {
        let _ = umount2(target, MntFlags::MNT_DETACH);
    })
}

/// The flags for a writable mount of a data volume: no set-uid, no device
/// nodes, nothing executed from it.
pub fn writable_data() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// The flags for a read-only mount of a data volume: no set-uid, no device
/// nodes, nothing executed from it.
pub fn read_only_data() -> MsFlags {
    writable_data() | MsFlags::MS_RDONLY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_mounts_are_the_expected_table() {
        let m = api_mounts();
        let targets: Vec<&str> = m.iter().map(|s| s.target).collect();
        assert_eq!(
            targets,
            [
                "/proc",
                "/sys",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/run",
                "/tmp",
                "/sys/kernel/security"
            ],
            "parents before children"
        );
        let proc_ = &m[0];
        assert!(proc_
            .flags
            .contains(MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC));
        let dev = &m[2];
        assert_eq!((dev.fstype, dev.data), ("devtmpfs", "mode=0755"));
        assert!(!dev.flags.contains(MsFlags::MS_NOEXEC));
        assert_eq!(m[3].data, "gid=5,mode=620,ptmxmode=000");
        assert!(
            !m[5].optional,
            "/run holds the log and events, it is required"
        );
    }
}
