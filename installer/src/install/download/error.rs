//! Why a download failed: [`DownloadError`], each variant with a hint.

use std::time::Duration;

use super::super::verify_io::VerifyError;
use crate::backend::fetch::FetchError;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// A failure retrying cannot fix (404, TLS trust, a refused request, …).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Asked to resume at `offset`, the server sent something else.
    #[error("{url}: the server cannot resume at byte {offset} (answered HTTP {status}{}): it does not support ranges",
        .content_range.as_ref().map(|r| format!(" with Content-Range {r}")).unwrap_or_default())]
    RangeNotSupported {
        /// The URL.
        url: String,
        /// Where the download should have continued.
        offset: u64,
        /// The status of the answer.
        status: u16,
        /// Its `Content-Range`, if any.
        content_range: Option<String>,
    },
    /// The object's stored size is not the manifest's.
    #[error("{url}: the object has {actual} bytes{}, the manifest says {expected}",
        if *.at_least { " or more" } else { "" })]
    SizeMismatch {
        /// The URL.
        url: String,
        /// The manifest's `size`.
        expected: u64,
        /// What the server announced or sent.
        actual: u64,
        /// `actual` is a lower bound (the download stopped there).
        at_least: bool,
    },
    /// The object's SHA-256 is not the manifest's: it was altered.
    #[error("{url}: SHA-256 mismatch: expected {expected}, got {actual}")]
    HashMismatch {
        /// The URL.
        url: String,
        /// The manifest's `sha256`.
        expected: String,
        /// The hash of what arrived.
        actual: String,
    },
    /// One chunk is not the signed chunk list's: nothing of it was written.
    #[error("{url}: SHA-256 mismatch in chunk {index} (stored bytes {start}..{end}): expected {expected}, got {actual}; nothing of it was written")]
    ChunkMismatch {
        /// The URL.
        url: String,
        /// The chunk's index.
        index: usize,
        /// Its first stored byte.
        start: u64,
        /// One past its last.
        end: u64,
        /// The chunk list's entry.
        expected: String,
        /// The hash of what arrived.
        actual: String,
    },
    /// The decompressed content's size is not the manifest's `content_size`.
    #[error("{url}: the content has {actual} bytes{}, the manifest says {expected}",
        if *.at_least { " or more" } else { "" })]
    ContentSizeMismatch {
        /// The URL.
        url: String,
        /// The manifest's `content_size`.
        expected: u64,
        /// What decompression produced.
        actual: u64,
        /// `actual` is a lower bound (decompression stopped there).
        at_least: bool,
    },
    /// The object has the right hash but is not valid gzip.
    #[error("{url}: the object is not valid gzip: {detail}")]
    Decompress {
        /// The URL.
        url: String,
        /// The decoder's message.
        detail: String,
    },
    /// Writing the content failed (the target disk).
    #[error("writing {name}: {source}")]
    Sink {
        /// The component.
        name: String,
        /// The write error.
        source: std::io::Error,
    },
    /// The download's thread could not start or failed unexpectedly.
    #[error("the download could not run: {detail}")]
    Worker {
        /// What happened.
        detail: String,
    },
    /// Too many failures in a row without progress.
    #[error("{url}: gave up after {failures} consecutive failures ({received} of {total} bytes received): {last}")]
    GaveUp {
        /// The URL.
        url: String,
        /// Failures in a row.
        failures: u32,
        /// Stored bytes received.
        received: u64,
        /// The stored size.
        total: u64,
        /// The last failure.
        last: FetchError,
    },
    /// The overall deadline passed.
    #[error("{url}: not finished within {} s ({received} of {total} bytes received, {retries} retries)", .limit.as_secs())]
    Deadline {
        /// The URL.
        url: String,
        /// The deadline.
        limit: Duration,
        /// Stored bytes received.
        received: u64,
        /// The stored size.
        total: u64,
        /// Retries made.
        retries: u32,
    },
}

impl DownloadError {
    /// The verifying stack's verdict on what came from `url`.
    pub(super) fn verify(url: &str, e: VerifyError) -> Self {
        let url = url.to_string();
        match e {
            VerifyError::SizeMismatch {
                expected,
                actual,
                at_least,
            } => DownloadError::SizeMismatch {
                url,
                expected,
                actual,
                at_least,
            },
            VerifyError::HashMismatch { expected, actual } => DownloadError::HashMismatch {
                url,
                expected,
                actual,
            },
            VerifyError::ChunkMismatch {
                index,
                start,
                end,
                expected,
                actual,
            } => DownloadError::ChunkMismatch {
                url,
                index,
                start,
                end,
                expected,
                actual,
            },
            VerifyError::ContentSizeMismatch {
                expected,
                actual,
                at_least,
            } => DownloadError::ContentSizeMismatch {
                url,
                expected,
                actual,
                at_least,
            },
            VerifyError::Decompress { detail } => DownloadError::Decompress { url, detail },
            VerifyError::Sink { name, source } => DownloadError::Sink { name, source },
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            DownloadError::Fetch(e) => e.hint(),
            DownloadError::RangeNotSupported { .. } => {
                "the server (or a proxy in between) does not support resuming downloads \
                 (HTTP Range requests): configure it to, or make the connection reliable; \
                 then retry"
                    .into()
            }
            DownloadError::SizeMismatch { .. }
            | DownloadError::HashMismatch { .. }
            | DownloadError::ChunkMismatch { .. }
            | DownloadError::ContentSizeMismatch { .. } => {
                "the file on the server is not the one the signed manifest describes: it was \
                 altered or damaged on the server or on the way (a proxy?). Nothing written is \
                 used; tell the vendor, then retry"
                    .into()
            }
            DownloadError::Decompress { .. } => {
                "the vendor published a damaged component: tell the vendor".into()
            }
            DownloadError::Sink { .. } => {
                "the target disk failed while writing: check the disk (or choose another)".into()
            }
            DownloadError::Worker { .. } => {
                "the installer itself failed (an error in the installer, or no memory left for \
                 a thread): retry; if it happens again, send the support bundle to the vendor"
                    .into()
            }
            DownloadError::GaveUp { last, .. } => format!(
                "the connection to the backend keeps failing: {} (the download resumes where it \
                 stopped)",
                last.hint()
            ),
            DownloadError::Deadline { .. } => {
                "the connection is too slow or keeps failing: check the network, then retry \
                 (the download starts over)"
                    .into()
            }
        }
    }
}
