//! Downloads one component from the vendor repository, streaming: the stored
//! bytes go through the verifying stack of [`super::verify_io`] (size limit,
//! the chunk list's SHA-256, flate2's streaming gzip decoder, content limit)
//! into a sink, [`BUF_SIZE`] bytes at a time. Memory use does not depend on
//! the component's size: one buffer, the held-back chunk, the hasher, the
//! decoder's window, and reqwest's per-connection buffers.
//!
//! A transfer that breaks or stalls mid-body is resumed with
//! `Range: bytes=<received>-` (the answer must be a 206 whose `Content-Range`
//! starts there) and continues into the same chunk and decoder; nothing is
//! fed twice. Failures are retried with exponential backoff ([`backoff`]);
//! the count of consecutive failures resets whenever bytes arrive, and
//! [`RetryPolicy::max_consecutive_failures`] of them in a row, or the overall
//! deadline, end the download. What retrying cannot fix (404, TLS trust, a
//! wrong size or hash, a server without ranges) fails at once.
//!
//! The sink receives bytes before they are verified: nothing written is
//! trusted until [`download`] returns `Ok`.

use std::io::Write;
use std::time::{Duration, Instant};

use vendor_repo::manifest::Component;

use super::verify_io::{Verifier, VerifyError};

use crate::backend::fetch::{Client, FetchError, Timeouts};

mod progress;

use progress::Meter;
pub use progress::{render_progress, window_rate, Progress, PROGRESS_INTERVAL, RATE_WINDOW};

/// Bytes read from the network per step; with the held-back chunk, the
/// decoder's 32 KiB window and the hasher, this bounds the memory a download uses.
pub const BUF_SIZE: usize = super::verify_io::BUF_SIZE;

/// When to retry and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failures in a row without a byte arriving in between before giving up.
    pub max_consecutive_failures: u32,
    /// The wait after the first failure; it doubles with each further one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// The longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// No data for this long (waiting for the headers or the next bytes)
    /// counts as a failure. An idle limit, not a total one: a body that keeps
    /// arriving is never cut, however long it takes.
    pub stall_timeout: Duration,
    /// The whole download, retries included, must end within this.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// 6 failures in a row; waits of 0.5, 1, 2, 4, 8 s; 10 s to connect;
    /// 30 s without data is a stall; 2 hours in all.
    fn default() -> Self {
        RetryPolicy {
            max_consecutive_failures: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(2 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The client time limits this policy needs: the connect timeout, and
    /// the stall timeout as the idle limit. Build the [`Client`] given to
    /// [`download`] with them.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.connect_timeout,
            idle: self.stall_timeout,
        }
    }
}

/// The wait before the next attempt after `consecutive` (≥ 1) failures in a
/// row: `initial_backoff · 2^(consecutive-1)`, at most `max_backoff`.
pub fn backoff(policy: &RetryPolicy, consecutive: u32) -> Duration {
    let doublings = consecutive.saturating_sub(1).min(30);
    policy
        .initial_backoff
        .saturating_mul(1 << doublings)
        .min(policy.max_backoff)
}

/// What a successful download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Stored bytes received (= the component's `size`).
    pub stored_bytes: u64,
    /// Content bytes written to the sink (= its `content_size`).
    pub content_bytes: u64,
    /// Attempts made after a failure.
    pub retries: u32,
    /// The whole download, waits included.
    pub elapsed: Duration,
}

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
    fn verify(url: &str, e: VerifyError) -> Self {
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

/// A parsed `Content-Range: bytes first-last/complete` (`complete` is `None` for `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// The first byte's offset.
    pub first: u64,
    /// The last byte's offset (inclusive).
    pub last: u64,
    /// The whole object's size, when given.
    pub complete: Option<u64>,
}

/// Parses a `Content-Range` header value of a 206 answer.
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?.trim_start();
    let (range, complete) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = (num(first)?, num(last)?);
    let complete = match complete.trim() {
        "*" => None,
        c => Some(num(c)?),
    };
    (first <= last && complete.is_none_or(|c| last < c)).then_some(ContentRange {
        first,
        last,
        complete,
    })
}

/// The state that survives a resume.
struct Transfer<'a> {
    url: &'a str,
    component: &'a Component,
    verifier: Verifier<'a>,
}

enum Failure {
    Fatal(DownloadError),
    Retry(FetchError),
}

impl Transfer<'_> {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), DownloadError> {
        self.verifier
            .feed(bytes)
            .map_err(|e| DownloadError::verify(self.url, e))?;
        Ok(())
    }

    /// One request: from `received` to the end or the first failure.
    fn attempt(
        &mut self,
        client: &Client,
        policy: &RetryPolicy,
        started: Instant,
        buf: &mut [u8],
        meter: &mut Meter,
        retries: u32,
    ) -> Result<(), Failure> {
        let size = self.component.size;
        let offset = self.verifier.stored();
        let mut stream = client.get_stream(self.url, offset).map_err(|e| {
            if retryable(&e) {
                Failure::Retry(e)
            } else {
                Failure::Fatal(e.into())
            }
        })?;
        let range = stream.content_range().map(str::to_string);
        let (status, len) = (stream.status(), stream.content_length());
        let mismatch = |actual| {
            Failure::Fatal(DownloadError::SizeMismatch {
                url: self.url.into(),
                expected: size,
                actual,
                at_least: false,
            })
        };
        if offset == 0 {
            if status != 200 {
                return Err(Failure::Fatal(DownloadError::Fetch(FetchError::Status {
                    url: self.url.into(),
                    status,
                })));
            }
            if let Some(len) = len.filter(|l| *l != size) {
                return Err(mismatch(len));
            }
        } else {
            let parsed = range.as_deref().and_then(parse_content_range);
            // A shorter range than asked for is fine: its end is one more
            // resume. More than `size` bytes is caught while reading.
            match parsed {
                Some(r) if status == 206 && r.first == offset => {
                    if let Some(complete) = r.complete.filter(|c| *c != size) {
                        return Err(mismatch(complete));
                    }
                }
                _ => {
                    return Err(Failure::Fatal(DownloadError::RangeNotSupported {
                        url: self.url.into(),
                        offset,
                        status,
                        content_range: range,
                    }))
                }
            }
        }
        loop {
            if started.elapsed() > policy.deadline {
                return Err(Failure::Fatal(self.deadline(policy, retries)));
            }
            let n = stream.read(buf).map_err(Failure::Retry)?;
            if n == 0 {
                if self.verifier.stored() < size {
                    return Err(Failure::Retry(FetchError::Io {
                        url: self.url.into(),
                        detail: format!(
                            "the connection closed after {} of {size} bytes",
                            self.verifier.stored()
                        ),
                    }));
                }
                return Ok(());
            }
            // More than `size` bytes is refused here, before any is used.
            let chunk = buf.get(..n).unwrap_or_default();
            self.feed(chunk).map_err(Failure::Fatal)?;
            meter.tick(self.verifier.stored(), retries, false);
        }
    }

    fn deadline(&self, policy: &RetryPolicy, retries: u32) -> DownloadError {
        DownloadError::Deadline {
            url: self.url.into(),
            limit: policy.deadline,
            received: self.verifier.stored(),
            total: self.component.size,
            retries,
        }
    }
}

/// Failures a new attempt may fix: the connection, not the answer.
fn retryable(e: &FetchError) -> bool {
    match e {
        FetchError::Dns { .. }
        | FetchError::Refused { .. }
        | FetchError::Unreachable { .. }
        | FetchError::Timeout { .. }
        | FetchError::Io { .. } => true,
        FetchError::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
        _ => false,
    }
}

/// Downloads `component` from `url` (its object), writing the content to
/// `sink` and reporting to `progress` (at most every [`PROGRESS_INTERVAL`],
/// and once at the end). Returns only when the stored size, every chunk's
/// SHA-256 and the content size are the manifest's; see the module
/// documentation.
/// `client` is expected to be made with [`RetryPolicy::timeouts`], so that
/// its idle limit is the policy's stall timeout.
pub fn download(
    client: &Client,
    url: &str,
    component: &Component,
    sink: &mut dyn Write,
    policy: &RetryPolicy,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Stats, DownloadError> {
    let started = Instant::now();
    let mut t = Transfer {
        url,
        component,
        verifier: Verifier::new(component, sink),
    };
    let mut meter = Meter::new(component.name.clone(), component.size, started, progress);
    let mut buf = vec![0u8; BUF_SIZE];
    let (mut retries, mut consecutive) = (0u32, 0u32);
    meter.tick(0, 0, true);
    let outcome = loop {
        let before = t.verifier.stored();
        match t.attempt(client, policy, started, &mut buf, &mut meter, retries) {
            Ok(()) => break Ok(()),
            Err(Failure::Fatal(e)) => break Err(e),
            Err(Failure::Retry(last)) => {
                consecutive = if t.verifier.stored() > before {
                    1
                } else {
                    consecutive + 1
                };
                if consecutive >= policy.max_consecutive_failures {
                    break Err(DownloadError::GaveUp {
                        url: url.into(),
                        failures: consecutive,
                        received: t.verifier.stored(),
                        total: component.size,
                        last,
                    });
                }
                let wait = backoff(policy, consecutive);
                if started.elapsed() + wait > policy.deadline {
                    break Err(t.deadline(policy, retries));
                }
                std::thread::sleep(wait);
                retries += 1;
                meter.tick(t.verifier.stored(), retries, false);
            }
        }
    };
    if let Err(e) = outcome {
        meter.tick(t.verifier.stored(), retries, true); // the final state, whatever the rate limit
        return Err(e);
    }
    let verified = t
        .verifier
        .finish()
        .map_err(|e| DownloadError::verify(url, e))?;
    meter.tick(verified.stored, retries, true);
    Ok(Stats {
        stored_bytes: verified.stored,
        content_bytes: verified.content,
        retries,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests;
