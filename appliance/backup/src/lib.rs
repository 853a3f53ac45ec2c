//! The appliance's backup file (see docs/backup.md): age v1 with one
//! passphrase (scrypt) recipient around a deterministic tar whose first
//! entry is `MANIFEST.json`.
//!
//! * [`write_backup`] hashes the caller's component files, writes the
//!   manifest and the files; the work factor is explicit.
//! * [`read_backup`] refuses every damaged or foreign file with its own
//!   [`BackupError`], and returns a [`Summary`] only after the whole stream
//!   is authenticated and every file matches the manifest. Files are staged
//!   in a caller-given directory, streamed with bounded memory.
//!
//! Pure: no processes, no mounts; the only files written are the output
//! (writer) and the staging directory's contents (reader).

pub mod filter;
pub mod manifest;
mod read;
mod write;

use std::io;
use std::path::PathBuf;

use thiserror::Error;

pub use age::secrecy::SecretString;
pub use filter::EntryError;
pub use manifest::{Component, ComponentId, FileEntry, Manifest, ManifestError, Source};
pub use read::{read_backup, ReadOptions, Summary, DEFAULT_MAX_WORK_FACTOR};
pub use write::{
    plan_manifest, write_backup, write_tar, BackupInput, Content, InputComponent, InputFile,
    Selection, DEFAULT_WORK_FACTOR,
};

/// The name of the first tar entry.
pub const MANIFEST_NAME: &str = "MANIFEST.json";

/// The largest work factor the writer accepts at all (N = 2^22, 4 GiB).
pub const WORK_FACTOR_LIMIT: u8 = 22;

/// Every way a backup can be refused (reader) or not written (writer).
#[derive(Debug, Error)]
pub enum BackupError {
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    #[error("the file is empty (0 bytes): not a backup")]
    EmptyFile,
    #[error("not a backup file (it does not start with the age header `age-encryption.org/v1`)")]
    NotAgeFile,
    #[error("this is an unencrypted tar archive, not an encrypted backup file")]
    PlainTar,
    #[error(
        "this age file is ASCII-armored (`age -a`); backups are binary. Decode it with \
         `sed '1d;$d' FILE | base64 -d > FILE.age` and upload FILE.age"
    )]
    Armored,
    #[error("an age file of an unknown (newer) format version")]
    UnknownAgeVersion,
    #[error("this age file is encrypted to a public key, not to a passphrase: not a backup")]
    NotPassphrase,
    #[error(
        "the file asks for scrypt work factor {required} (2^{required}); at most {max} is \
         accepted, refused without trying"
    )]
    ExcessiveWork { required: u8, max: u8 },
    #[error("wrong passphrase (or the passphrase stanza of the header is damaged)")]
    WrongPassphrase,
    #[error("the age header is damaged")]
    HeaderDamaged,
    #[error("the age header's MAC does not match: the header was altered")]
    HeaderMacInvalid,
    #[error(
        "encrypted chunk {chunk} (64 KiB each, from 0) failed authentication: the file is damaged"
    )]
    PayloadCorrupt { chunk: u64 },
    #[error("the file is truncated ({})", if *mid_chunk { "inside a chunk" } else { "at a chunk boundary" })]
    Truncated { mid_chunk: bool },
    #[error("{bytes} bytes of garbage follow the end of the backup")]
    TrailingGarbage { bytes: u64 },
    #[error("the backup holds no MANIFEST.json")]
    ManifestMissing,
    #[error("MANIFEST.json is not the first entry (the first is {first:?})")]
    ManifestNotFirst { first: String },
    #[error(transparent)]
    ManifestMalformed(ManifestError),
    #[error(
        "the backup has format version {found}; this release reads up to version {supported} \
         (restore it with a newer release)"
    )]
    NewerFormat { found: u64, supported: u32 },
    #[error("the backup is of model {found:?}; this appliance is {expected:?}")]
    OtherModel { found: String, expected: String },
    #[error("tar entry {path:?} refused: {reason}")]
    UnsafeEntry { path: String, reason: EntryError },
    #[error("tar entry {path:?} is not listed in the manifest")]
    UnlistedFile { path: String },
    #[error("tar entry {path:?} appears twice")]
    DuplicateFile { path: String },
    #[error("{path}: size {tar} in the tar, {manifest} in the manifest")]
    SizeMismatch {
        path: String,
        manifest: u64,
        tar: u64,
    },
    #[error("{path}: SHA-256 does not match the manifest")]
    HashMismatch { path: String },
    #[error("{path} is listed in the manifest but missing from the backup")]
    MissingFile { path: String },
    #[error("data follows the end of the tar archive")]
    TrailingTarData,
    #[error("the staging directory {0} is not empty")]
    StagingNotEmpty(PathBuf),
    #[error("invalid backup input: {0}")]
    InvalidInput(ManifestError),
    #[error("no component selected")]
    NothingSelected,
    #[error("{path} changed while the backup was written")]
    InputChanged { path: String },
    #[error("scrypt work factor {0} is outside 1..={WORK_FACTOR_LIMIT}")]
    BadWorkFactor(u8),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
}
