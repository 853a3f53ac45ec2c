//! Why an install failed: the [`Stage`] it was in, the component it was
//! working on, and the cause, from which the hint follows. The failure
//! screen, the `install-failed` event and the support bundle all render from
//! [`InstallError`] and [`Failure`].

use super::download::DownloadError;
use super::identity::IdentityError;
use super::local::MediumError;
use super::table::TableError;
use super::verify_io::VerifyError;
use crate::backend::fetch::FetchError;
use crate::install::bootloader::BootError;
use protocol::stage::{DiskState, Stage, StageAt};
use std::io;

/// Why a component could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// Downloading it failed.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// The installation medium's copy failed while being written.
    #[error(transparent)]
    Medium(#[from] MediumError),
    /// Its bytes did not verify (a source without a failure of its own).
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

impl ComponentError {
    /// Where the component came from: the network or the medium.
    pub fn stage(&self) -> Stage {
        match self {
            ComponentError::Medium(_) => Stage::Copy,
            ComponentError::Download(_) | ComponentError::Verify(_) => Stage::Download,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            ComponentError::Download(e) => e.hint(),
            ComponentError::Medium(e) => e.hint(),
            ComponentError::Verify(e) => e.hint(),
        }
    }
}

/// The verified manifest cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// A component names a partition the layout does not have.
    #[error("no partition named {0:?}")]
    NoPartition(String),
    /// The layout has no FAT boot partition.
    #[error("the layout has no FAT boot partition")]
    NoBootPartition,
}

/// What went wrong, by kind; the hint follows from it.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The ISO's vendor settings cannot be used.
    #[error(transparent)]
    VendorConfig(#[from] crate::vendor::config::ConfigError),
    /// The HTTPS client for the backend could not be made.
    #[error(transparent)]
    Backend(#[from] FetchError),
    /// The kernel gave no random bytes (install id, disk and volume ids).
    #[error("no random bytes from the kernel: {0}")]
    Random(getrandom::Error),
    /// The handover record could not be written out.
    #[error(transparent)]
    Handover(#[from] handover::HandoverError),
    /// The target could not be opened exclusively.
    #[error("{path}: {source}")]
    OpenDisk {
        /// The device.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The opened device is not the disk that was chosen, or holds the
    /// installation medium.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Reading or writing the target disk failed.
    #[error(transparent)]
    DiskIo(#[from] io::Error),
    /// The partition table could not be written.
    #[error(transparent)]
    Table(#[from] TableError),
    /// A component could not be put in place.
    #[error(transparent)]
    Component(#[from] ComponentError),
    /// The manifest does not fit the layout.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A file the installer carries is missing or unreadable.
    #[error("{path}: {source}")]
    InstallerFile {
        /// The file in the installer's root.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The installer's GRUB files are unusable.
    #[error(transparent)]
    BootCode(#[from] BootError),
}

impl Cause {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Cause::VendorConfig(_) => "the ISO's vendor settings are broken; rebuild it".into(),
            Cause::Backend(e) => e.hint(),
            Cause::Random(_) => {
                "the kernel's random number generator failed: restart the machine, then retry"
                    .into()
            }
            Cause::Handover(_) => "this is a bug in the installer".into(),
            Cause::OpenDisk { .. } => {
                "the disk is in use or gone: check that nothing has it mounted, then retry".into()
            }
            Cause::Identity(IdentityError::Changed { .. }) => {
                "the disk changed since it was chosen: choose it again".into()
            }
            Cause::Identity(IdentityError::InstallMedium { .. }) => {
                "this disk holds the installation medium: choose another disk".into()
            }
            Cause::DiskIo(_) => {
                "the disk reported a write error: check the disk (or the VM's virtual disk) and retry"
                    .into()
            }
            Cause::Table(e) => e.hint(),
            Cause::Component(e) => e.hint(),
            Cause::Manifest(_) => "the release manifest is unusable; contact your vendor".into(),
            Cause::InstallerFile { .. } => "the installer ISO is incomplete; rebuild it".into(),
            Cause::BootCode(_) => {
                "the installer ISO's GRUB files are unusable; rebuild it".into()
            }
        }
    }
}

/// A failed stage of an install.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct InstallError {
    /// The stage, and the component it was working on.
    pub at: StageAt,
    /// What went wrong (boxed: some causes are large).
    #[source]
    pub cause: Box<Cause>,
}

impl InstallError {
    /// `cause` in `stage`, not about one component.
    pub fn new(stage: Stage, cause: impl Into<Cause>) -> Self {
        InstallError {
            at: StageAt {
                stage,
                component: None,
            },
            cause: Box::new(cause.into()),
        }
    }

    /// `cause` in `stage` while working on `component`.
    pub fn component(stage: Stage, component: &str, cause: impl Into<Cause>) -> Self {
        InstallError {
            at: StageAt {
                stage,
                component: Some(component.to_string()),
            },
            cause: Box::new(cause.into()),
        }
    }

    /// A component that could not be put in place (downloaded or copied).
    pub fn fetch(component: &str, e: ComponentError) -> Self {
        Self::component(e.stage(), component, e)
    }

    /// The stage.
    pub fn stage(&self) -> Stage {
        self.at.stage
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        self.cause.hint()
    }

    /// A stage-mapping helper for `map_err`: `cause` in `stage`.
    pub fn at<E: Into<Cause>>(stage: Stage) -> impl Fn(E) -> Self {
        move |e| Self::new(stage, e)
    }
}

/// A failed install, as the flow shows it.
#[derive(Debug)]
pub struct Failure {
    /// What failed, where, and why.
    pub error: InstallError,
    /// What was left on the disk.
    pub disk: DiskState,
    /// Why wiping again failed ([`DiskState::Unknown`]).
    pub wipe_error: Option<String>,
    /// Where the support bundle went, if one was written.
    pub bundle: Option<String>,
}

impl Failure {
    /// A failure that left the disk as it was.
    pub fn untouched(error: InstallError) -> Self {
        Failure {
            error,
            disk: DiskState::Untouched,
            wipe_error: None,
            bundle: None,
        }
    }

    /// The stage in words (`downloading rootfs`).
    pub fn stage(&self) -> &StageAt {
        &self.error.at
    }

    /// What happened.
    pub fn message(&self) -> String {
        self.error.to_string()
    }

    /// What to do.
    pub fn hint(&self) -> String {
        self.error.hint()
    }

    /// The disk's state, as a sentence.
    pub fn disk_state(&self) -> String {
        self.disk.sentence(self.wipe_error.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stage: Stage, cause: impl Into<Cause>) -> InstallError {
        InstallError::new(stage, cause)
    }

    #[test]
    fn hints_follow_from_the_cause() {
        let disk = at(Stage::FormatBoot, io::Error::other("EIO"));
        assert!(disk.hint().contains("write error"), "{}", disk.hint());
        assert_eq!(disk.at.to_string(), "formatting the boot partition");
        assert_eq!(disk.to_string(), "EIO");

        let open = at(
            Stage::OpenDisk,
            Cause::OpenDisk {
                path: "/dev/sda".into(),
                source: io::Error::from_raw_os_error(libc::EBUSY),
            },
        );
        assert!(open.hint().contains("in use or gone"), "{}", open.hint());
        assert!(open.to_string().starts_with("/dev/sda: "), "{open}");

        let m = InstallError::component(
            Stage::PartitionImage,
            "rootfs",
            ManifestError::NoPartition("data".into()),
        );
        assert_eq!(m.at.to_string(), "writing rootfs");
        assert_eq!(m.to_string(), "no partition named \"data\"");
        assert!(m.hint().contains("contact your vendor"));

        let file = at(
            Stage::Bootloader,
            Cause::InstallerFile {
                path: "/usr/share/installer/boot/efi/shimx64.efi".into(),
                source: io::Error::from(io::ErrorKind::NotFound),
            },
        );
        assert!(file.hint().contains("incomplete"), "{}", file.hint());

        let changed = at(
            Stage::OpenDisk,
            IdentityError::Changed {
                path: "/dev/sda".into(),
                planned: "20.0 GiB".into(),
                found: "40.0 GiB".into(),
            },
        );
        assert_eq!(
            changed.hint(),
            "the disk changed since it was chosen: choose it again"
        );
        let medium = at(
            Stage::OpenDisk,
            IdentityError::InstallMedium {
                path: "/dev/sdb".into(),
                volume_id: "APPLIANCE_INSTALL".into(),
            },
        );
        assert!(
            medium.hint().contains("installation medium"),
            "{}",
            medium.hint()
        );

        let boot = at(Stage::BiosBootloader, BootError::BootImg { len: 3 });
        assert!(boot.hint().contains("GRUB files"), "{}", boot.hint());
    }

    #[test]
    fn component_failures_name_their_source_and_component() {
        let hash = VerifyError::HashMismatch {
            expected: "aa".into(),
            actual: "bb".into(),
        };
        let e = InstallError::fetch("rootfs", ComponentError::Verify(hash));
        assert_eq!(e.stage(), Stage::Download);
        assert_eq!(e.at.to_string(), "downloading rootfs");
        assert!(e.hint().contains("signed manifest"), "{}", e.hint());

        let sink = VerifyError::Sink {
            name: "rootfs".into(),
            source: io::Error::other("EIO"),
        };
        let medium = MediumError::Copy {
            path: "/run/installer/medium/repo/objects/sha256/aa".into(),
            source: sink.into(),
        };
        let e = InstallError::fetch("rootfs", medium.into());
        assert_eq!(e.stage(), Stage::Copy);
        assert_eq!(
            e.at.to_string(),
            "copying rootfs from the installation medium"
        );
        assert!(e.hint().contains("target disk"), "{}", e.hint());

        let unreadable = MediumError::Open {
            path: "/run/installer/medium/repo/objects/sha256/aa".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        let e = InstallError::fetch("rootfs", unreadable.into());
        assert!(e.hint().contains("installation medium"), "{}", e.hint());

        let gave_up = DownloadError::Deadline {
            url: "https://b/x".into(),
            limit: std::time::Duration::from_secs(7200),
            received: 1,
            total: 2,
            retries: 3,
        };
        let e = InstallError::fetch("kernel", gave_up.into());
        assert!(e.hint().contains("too slow"), "{}", e.hint());
    }

    #[test]
    fn a_failure_says_what_the_disk_looks_like() {
        let mut f = Failure::untouched(at(Stage::Prepare, io::Error::other("x")));
        assert_eq!(f.disk_state(), "Nothing was written to the disk.");
        f.disk = DiskState::Unknown;
        f.wipe_error = Some("EIO".into());
        assert!(f.disk_state().contains("failed too (EIO)"));
        assert_eq!(f.stage().to_string(), "preparing");
        assert_eq!(f.message(), "x");
    }
}
