//! Why stage 1 cannot go on, and what the person at the console can do.

use installer::sys::cmd::CmdError;
use installer::sys::mount::MountError;

/// A stage 1 failure; shown on every console with [`Stage1Error::way_forward`].
#[derive(Debug, thiserror::Error)]
pub enum Stage1Error {
    /// A kernel parameter is missing or malformed.
    #[error("kernel command line: {0}")]
    Params(String),
    /// The module index is missing from the initramfs.
    #[error("no kernel modules can be loaded: {0}")]
    Modules(String),
    /// The boot partition was not found, or is ambiguous.
    #[error("boot partition: {0}")]
    BootPartition(String),
    /// The handover record is missing or invalid.
    #[error("handover record: {0}")]
    Record(String),
    /// The root or data partition is not on the boot partition's disk.
    #[error("{0}")]
    Partition(String),
    /// The root partition does not hold a squashfs.
    #[error("{dev} holds no root image (no squashfs signature at its start)")]
    NotSquashfs {
        /// The device.
        dev: String,
    },
    /// A device could not be read.
    #[error("cannot read {dev}: {source}")]
    Read {
        /// The device.
        dev: String,
        /// Why.
        source: std::io::Error,
    },
    /// A mount failed (root image, API file systems, overlay, bind).
    #[error("{0}")]
    Mount(#[from] MountError),
    /// mke2fs failed on the blank data partition.
    #[error("formatting the data partition {dev} failed: {reason}")]
    Format {
        /// The device.
        dev: String,
        /// mke2fs's exit or why it did not start.
        reason: String,
    },
    /// The data partition holds something that does not mount as ext4.
    #[error(
        "the data partition {dev} holds data but does not mount as ext4 ({source}); \
         it was left untouched"
    )]
    MountData {
        /// The device.
        dev: String,
        /// The mount error.
        source: MountError,
    },
    /// Preparing `/etc` and `/var` on the data partition failed.
    #[error("preparing /etc and /var on the data partition: {0}")]
    Persist(std::io::Error),
    /// The handover record could not be handed on.
    #[error("cannot write {path}: {source}")]
    Handover {
        /// The file.
        path: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The test-only marker could not be written.
    #[error("test marker: {0}")]
    TestMarker(std::io::Error),
    /// `/sbin/init` could not be started.
    #[error("{0}")]
    Exec(CmdError),
    /// A panic in stage 1 (a bug).
    #[error("stage 1 failed unexpectedly: {0}")]
    Panic(String),
}

impl Stage1Error {
    /// What to do about it, in words for the person at the console.
    pub fn way_forward(&self) -> &'static str {
        match self {
            Stage1Error::Params(_) => {
                "the boot loader's command line was changed or damaged: start the \
                 installer again and reinstall, or restore grub.cfg on the boot partition"
            }
            Stage1Error::BootPartition(_) => {
                "check that the appliance's disk is attached and its controller is \
                 supported; if another device carries a copy of the boot partition, \
                 remove it; then restart"
            }
            Stage1Error::Record(_)
            | Stage1Error::Partition(_)
            | Stage1Error::NotSquashfs { .. } => {
                "the installed disk is incomplete or damaged: start the installer \
                 again and reinstall"
            }
            Stage1Error::Read { .. } | Stage1Error::Format { .. } => {
                "the disk reports errors: check or replace it, then restart"
            }
            Stage1Error::MountData { .. } => {
                "the data partition keeps the appliance's configuration and was not \
                 formatted; recover it with a rescue system (e2fsck), or reinstall to \
                 start with an empty one"
            }
            Stage1Error::Persist(_) => {
                "the data partition is full or damaged: check it with a rescue system \
                 (e2fsck), or reinstall to start with an empty one"
            }
            Stage1Error::Modules(_)
            | Stage1Error::Mount(_)
            | Stage1Error::Handover { .. }
            | Stage1Error::TestMarker(_)
            | Stage1Error::Exec(_)
            | Stage1Error::Panic(_) => {
                "this release does not start on this machine: note this message and \
                 contact your vendor"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_says_what_to_do() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let all = [
            Stage1Error::Params("appliance.root= is missing".into()),
            Stage1Error::Modules("no modules.dep".into()),
            Stage1Error::BootPartition("not found".into()),
            Stage1Error::Record("keyboard.layout: bad".into()),
            Stage1Error::Partition("no partition 3".into()),
            Stage1Error::NotSquashfs {
                dev: "/dev/sda2".into(),
            },
            Stage1Error::Read {
                dev: "/dev/sda3".into(),
                source: io(),
            },
            Stage1Error::Format {
                dev: "/dev/sda3".into(),
                reason: "exit 1".into(),
            },
            Stage1Error::Persist(io()),
            Stage1Error::Handover {
                path: "/run/appliance/handover.json",
                source: io(),
            },
            Stage1Error::TestMarker(io()),
            Stage1Error::Panic("oops".into()),
        ];
        for e in &all {
            assert!(e.way_forward().len() > 40, "{e}");
            assert!(!e.to_string().is_empty());
        }
        assert_eq!(
            all[5].to_string(),
            "/dev/sda2 holds no root image (no squashfs signature at its start)"
        );
    }
}
