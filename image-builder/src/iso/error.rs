//! Errors of the ISO 9660 writer and reader.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while describing, writing or reading an ISO image.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IsoError {
    /// The volume identifier is empty, longer than 32 characters, or contains a
    /// character outside the ISO 9660 d-characters (`A`–`Z`, `0`–`9`, `_`).
    #[error("invalid volume id {id:?}: {reason}")]
    InvalidVolumeId {
        /// The rejected identifier.
        id: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The build epoch is later than the last second that ISO 9660 directory
    /// record dates can express (the end of year 2155).
    #[error("epoch {epoch} is out of range for iso 9660 dates (it must lie before year 2156)")]
    EpochOutOfRange {
        /// The rejected epoch, in seconds since 1970-01-01 00:00:00 UTC.
        epoch: u64,
    },

    /// A path handed to the builder is empty or has an empty, `.`, `..`,
    /// NUL-containing or over-long (more than 255 bytes) component.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The rejected path.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The path would need more than the 8 directory levels (root included)
    /// that ISO 9660 allows.
    #[error("path {path:?} needs {levels} directory levels, iso 9660 allows at most {max}")]
    TooDeep {
        /// The rejected path.
        path: String,
        /// Directory levels it needs, counting the root as level 1.
        levels: usize,
        /// The limit (8).
        max: usize,
    },

    /// The path was already added as a file, or a file and a directory would
    /// share it.
    #[error("path {path:?} conflicts with an existing {existing}")]
    PathConflict {
        /// The path that could not be added.
        path: String,
        /// What is already there: `"file"` or `"directory"`.
        existing: &'static str,
    },

    /// A file is larger than one ISO 9660 extent can describe (4 GiB − 1 bytes).
    #[error("file {path:?} is {size} bytes, a single iso 9660 extent holds at most {max} bytes")]
    FileTooLarge {
        /// The image path of the file.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The limit (`u32::MAX`).
        max: u64,
    },

    /// A file that should be copied into the image from the host file system
    /// could not be inspected or read.
    #[error("cannot read source file {}", path.display())]
    Source {
        /// The host path.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// A source file changed size between `add_file` and `write_to`.
    #[error("source file {} changed size from {expected} to {actual} bytes during the build", path.display())]
    SourceChanged {
        /// The host path.
        path: PathBuf,
        /// Size recorded when the file was added.
        expected: u64,
        /// Size found (or bytes actually readable) while writing.
        actual: u64,
    },

    /// A boot image named in the boot configuration was never added with
    /// `add_file` (or is a directory, or the boot catalog itself).
    #[error("{role} boot image {path:?} is not a file added to the image")]
    MissingBootImage {
        /// `"bios"` or `"efi"`.
        role: &'static str,
        /// The image path that was looked up.
        path: String,
    },

    /// A boot image is too small: empty, or shorter than the 64 bytes a boot
    /// info table needs.
    #[error("{role} boot image {path:?} is {len} bytes, it needs at least {min}")]
    BootImageTooSmall {
        /// `"bios"` or `"efi"`.
        role: &'static str,
        /// The image path.
        path: String,
        /// Its length in bytes.
        len: u64,
        /// The minimum length.
        min: u64,
    },

    /// The boot catalog path is already used by an added file or directory.
    #[error("boot catalog path {path:?} is already used by an added {existing}")]
    CatalogConflict {
        /// The catalog path.
        path: String,
        /// What is already there: `"file"` or `"directory"`.
        existing: &'static str,
    },

    /// The isohybrid MBR code is not exactly 432 bytes long.
    #[error("isohybrid mbr code is {len} bytes, expected exactly 432")]
    MbrCodeSize {
        /// Length of the code that was handed in.
        len: usize,
    },

    /// An isohybrid MBR was requested, but there is no BIOS boot image for
    /// its code to load.
    #[error("isohybrid mbr requested without a bios boot image")]
    IsohybridWithoutBios,

    /// The image is larger than the on-disk fields can describe.
    #[error("image of {blocks} blocks is too large: {reason}")]
    ImageTooLarge {
        /// The image size in 2048-byte blocks.
        blocks: u64,
        /// Which limit was exceeded.
        reason: &'static str,
    },

    /// More directories than a path table can number (65535).
    #[error("image has {count} directories, path tables allow at most 65535")]
    TooManyDirectories {
        /// Number of directories, root included.
        count: usize,
    },

    /// Writing the image to the output failed.
    #[error("cannot write the iso image")]
    Write(#[source] io::Error),

    /// Reading an image back failed at the I/O level.
    #[error("cannot read the iso image")]
    Read(#[source] io::Error),

    /// The image being read does not follow the structures this reader knows.
    #[error("malformed iso image: {what}")]
    Malformed {
        /// What was wrong, naming the structure.
        what: String,
    },

    /// A path looked up with the reader does not exist in the image.
    #[error("path {path:?} not found in the iso image")]
    NotFound {
        /// The path that was looked up.
        path: String,
    },
}
