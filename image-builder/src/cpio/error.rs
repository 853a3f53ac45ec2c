//! Errors of the newc archive writer.

use std::path::PathBuf;

/// Everything that can go wrong while building or writing a newc archive.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    /// An archive path is empty, has a `.`/`..` component or a NUL byte.
    #[error("invalid archive path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The same path was added twice.
    #[error("duplicate archive path {path}")]
    Duplicate {
        /// The normalised path.
        path: String,
    },
    /// A parent of a new entry already exists and is not a directory.
    #[error("cannot add {path}: parent {parent} is not a directory")]
    ParentNotDirectory {
        /// The entry being added.
        path: String,
        /// The parent that is a file, symlink or device.
        parent: String,
    },
    /// Permission bits outside `0o7777`.
    #[error("invalid mode {mode:#o} for {path}: only permission bits (0o7777) are allowed")]
    InvalidMode {
        /// The entry.
        path: String,
        /// The mode given.
        mode: u32,
    },
    /// The build epoch does not fit the 32-bit newc mtime field.
    #[error("epoch {epoch} does not fit the 32-bit cpio mtime field")]
    EpochOutOfRange {
        /// The epoch given.
        epoch: u64,
    },
    /// A file is larger than the 32-bit newc size field allows.
    #[error("{path} is {size} bytes, more than the 4 GiB newc limit")]
    FileTooLarge {
        /// The entry.
        path: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A source file for `add_file_from_path` could not be read.
    #[error("cannot read {path}: {source}")]
    Source {
        /// The source file on the host.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A source file changed size while being copied into the archive.
    #[error("{path} changed while being archived: expected {expected} bytes, got {actual}")]
    SourceChanged {
        /// The source file on the host.
        path: PathBuf,
        /// Size at the time the header was written.
        expected: u64,
        /// Bytes actually copied.
        actual: u64,
    },
    /// Writing the archive failed.
    #[error("cannot write archive: {0}")]
    Write(#[source] std::io::Error),
}
