//! Downloads one component from the vendor repository, streaming: the stored
//! bytes go through a SHA-256 hasher and (for gzip, through flate2's streaming
//! decoder) the content goes to a sink, [`BUF_SIZE`] bytes at a time. Memory
//! use does not depend on the component's size: one buffer, the hasher, the
//! decoder's window, and reqwest's per-connection buffers.
//!
//! A transfer that breaks or stalls mid-body is resumed with
//! `Range: bytes=<received>-` (the answer must be a 206 whose `Content-Range`
//! starts there) and continues into the same hasher and decoder; nothing is
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

use flate2::write::MultiGzDecoder;
use sha2::{Digest, Sha256};
use vendor_repo::manifest::{Component, Compression};

use crate::backend::fetch::{Client, FetchError};

mod progress;

use progress::Meter;
pub use progress::{render_progress, window_rate, Progress, PROGRESS_INTERVAL, RATE_WINDOW};

/// Bytes read from the network per step; with the decoder's 32 KiB window
/// and the hasher, this bounds the memory a download uses.
pub const BUF_SIZE: usize = 64 * 1024;

/// When to retry and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failures in a row without a byte arriving in between before giving up.
    pub max_consecutive_failures: u32,
    /// The wait after the first failure; it doubles with each further one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// No data for this long (waiting for the headers or the next bytes)
    /// counts as a failure.
    pub stall_timeout: Duration,
    /// The whole download, retries included, must end within this.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// 6 failures in a row; waits of 0.5, 1, 2, 4, 8 s; 30 s without data is
    /// a stall; 2 hours in all.
    fn default() -> Self {
        RetryPolicy {
            max_consecutive_failures: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            stall_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(2 * 3600),
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

/// Where the content goes: counts it, and refuses more than `limit` bytes.
struct Counted<'a> {
    sink: &'a mut dyn Write,
    written: u64,
    limit: u64,
    over: bool,
    failed: Option<std::io::Error>,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            self.over = true;
            self.written += buf.len() as u64;
            return Err(std::io::Error::other("more content than the manifest says"));
        }
        match self.sink.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                Err(copy)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

enum Output<'a> {
    Plain(Counted<'a>),
    Gzip(Box<MultiGzDecoder<Counted<'a>>>),
}

impl<'a> Output<'a> {
    fn counted(&mut self) -> &mut Counted<'a> {
        match self {
            Output::Plain(c) => c,
            Output::Gzip(d) => d.get_mut(),
        }
    }
}

/// The state that survives a resume.
struct Transfer<'a> {
    url: &'a str,
    component: &'a Component,
    hasher: Sha256,
    received: u64,
    out: Output<'a>,
    /// The content went wrong (bad gzip, too much): stop feeding it, keep
    /// hashing, and report after the hash is known (a hash mismatch explains it).
    content_error: Option<String>,
}

enum Failure {
    Fatal(DownloadError),
    Retry(FetchError),
}

impl Transfer<'_> {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), DownloadError> {
        self.hasher.update(bytes);
        self.received += bytes.len() as u64;
        if self.content_error.is_some() {
            return Ok(());
        }
        let result = match &mut self.out {
            Output::Plain(c) => c.write_all(bytes),
            Output::Gzip(d) => d.write_all(bytes),
        };
        if let Err(e) = result {
            self.fail_content(e)?;
        }
        Ok(())
    }

    fn fail_content(&mut self, e: std::io::Error) -> Result<(), DownloadError> {
        if let Some(source) = self.out.counted().failed.take() {
            return Err(DownloadError::Sink {
                name: self.component.name.clone(),
                source,
            });
        }
        self.content_error = Some(e.to_string());
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
        let offset = self.received;
        let mut stream = client
            .get_stream(self.url, offset, policy.stall_timeout)
            .map_err(|e| {
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
                if self.received < size {
                    return Err(Failure::Retry(FetchError::Io {
                        url: self.url.into(),
                        detail: format!(
                            "the connection closed after {} of {size} bytes",
                            self.received
                        ),
                    }));
                }
                return Ok(());
            }
            let chunk = buf.get(..n).unwrap_or_default();
            if self.received + n as u64 > size {
                return Err(Failure::Fatal(DownloadError::SizeMismatch {
                    url: self.url.into(),
                    expected: size,
                    actual: self.received + n as u64,
                    at_least: true,
                }));
            }
            self.feed(chunk).map_err(Failure::Fatal)?;
            meter.tick(self.received, retries, false);
        }
    }

    fn deadline(&self, policy: &RetryPolicy, retries: u32) -> DownloadError {
        DownloadError::Deadline {
            url: self.url.into(),
            limit: policy.deadline,
            received: self.received,
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
/// and once at the end). Returns only when the stored size and SHA-256 and
/// the content size are the manifest's; see the module documentation.
pub fn download(
    client: &Client,
    url: &str,
    component: &Component,
    sink: &mut dyn Write,
    policy: &RetryPolicy,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Stats, DownloadError> {
    let started = Instant::now();
    let counted = Counted {
        sink,
        written: 0,
        limit: component.content_size,
        over: false,
        failed: None,
    };
    let out = match component.compression {
        Compression::None => Output::Plain(counted),
        Compression::Gzip => Output::Gzip(Box::new(MultiGzDecoder::new(counted))),
    };
    let mut t = Transfer {
        url,
        component,
        hasher: Sha256::new(),
        received: 0,
        out,
        content_error: None,
    };
    let mut meter = Meter::new(component.name.clone(), component.size, started, progress);
    let mut buf = vec![0u8; BUF_SIZE];
    let (mut retries, mut consecutive) = (0u32, 0u32);
    meter.tick(0, 0, true);
    let outcome = loop {
        let before = t.received;
        match t.attempt(client, policy, started, &mut buf, &mut meter, retries) {
            Ok(()) => break Ok(()),
            Err(Failure::Fatal(e)) => break Err(e),
            Err(Failure::Retry(last)) => {
                consecutive = if t.received > before {
                    1
                } else {
                    consecutive + 1
                };
                if consecutive >= policy.max_consecutive_failures {
                    break Err(DownloadError::GaveUp {
                        url: url.into(),
                        failures: consecutive,
                        received: t.received,
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
                meter.tick(t.received, retries, false);
            }
        }
    };
    if let Err(e) = outcome {
        meter.tick(t.received, retries, true); // the final state, whatever the rate limit
        return Err(e);
    }
    if t.content_error.is_none() {
        let finished = match &mut t.out {
            Output::Plain(c) => c.flush(),
            Output::Gzip(d) => d.try_finish().and_then(|()| d.flush()),
        };
        if let Err(e) = finished {
            t.fail_content(e)?;
        }
    }
    let actual = hex(&t.hasher.finalize());
    if actual != component.sha256 {
        return Err(DownloadError::HashMismatch {
            url: url.into(),
            expected: component.sha256.clone(),
            actual,
        });
    }
    let counted = t.out.counted();
    let (written, over) = (counted.written, counted.over);
    if over || (t.content_error.is_none() && written != component.content_size) {
        return Err(DownloadError::ContentSizeMismatch {
            url: url.into(),
            expected: component.content_size,
            actual: written,
            at_least: over,
        });
    }
    if let Some(detail) = t.content_error {
        return Err(DownloadError::Decompress {
            url: url.into(),
            detail,
        });
    }
    meter.tick(t.received, retries, true);
    Ok(Stats {
        stored_bytes: t.received,
        content_bytes: written,
        retries,
        elapsed: started.elapsed(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
