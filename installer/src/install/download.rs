//! Downloads one component from the vendor repository, streaming: the stored
//! bytes go through the verifying stack of [`super::verify_io`] (size limit,
//! the chunk list's SHA-256, flate2's streaming gzip decoder, content limit)
//! into a sink, [`BUF_SIZE`] bytes at a time, on a thread of its own that
//! hands verified bytes to the caller's thread, which writes them to the
//! sink meanwhile ([`super::pipe`]). Memory use does not depend on the
//! component's size: one buffer, the held-back chunk, the hasher, the
//! decoder's window, the pipeline's few pieces, and reqwest's
//! per-connection buffers.
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

use super::pipe::{self, PipeError};
use super::verify_io::Verifier;

use crate::backend::fetch::{Client, FetchError, Timeouts};

mod error;
mod progress;

pub use error::DownloadError;
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
    /// Waiting for the network (requests and body reads, TLS included).
    pub network: Duration,
    /// In the verifying stack: SHA-256 of the chunks, decompression,
    /// copies, and the waits for the disk ([`Stats::disk_wait`]).
    pub verifying: Duration,
    /// The verifying stack blocked because the disk writer was behind.
    pub disk_wait: Duration,
    /// The writer in the sink's writes and final flush (overlapping the
    /// rest).
    pub writing: Duration,
    /// The machine's idle CPU time during the download (from `/proc/stat`;
    /// `None` without it): near zero means the CPU was the limit.
    pub cpu_idle: Option<Duration>,
}

impl Stats {
    /// Where the time went, in one line: `data: 256.0 MiB in 80.1 s:
    /// network 70.2 s, verifying 9.0 s (waiting for the disk 1.2 s), disk
    /// writes 20.3 s alongside, CPU idle 0.4 s`.
    pub fn render(&self, name: &str) -> String {
        let idle = self.cpu_idle.map_or(String::new(), |d| {
            format!(", CPU idle {:.1} s", d.as_secs_f64())
        });
        format!(
            "{name}: {:.1} MiB in {:.1} s: network {:.1} s, verifying {:.1} s \
             (waiting for the disk {:.1} s), disk writes {:.1} s alongside{idle}",
            self.stored_bytes as f64 / f64::from(1u32 << 20),
            self.elapsed.as_secs_f64(),
            self.network.as_secs_f64(),
            self.verifying.as_secs_f64(),
            self.disk_wait.as_secs_f64(),
            self.writing.as_secs_f64(),
        )
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
    /// Time in requests and body reads.
    network: Duration,
    /// Time feeding the verifying stack.
    verifying: Duration,
}

enum Failure {
    Fatal(DownloadError),
    Retry(FetchError),
}

impl Transfer<'_> {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), DownloadError> {
        let clock = Instant::now();
        let fed = self.verifier.feed(bytes);
        self.verifying += clock.elapsed();
        fed.map_err(|e| DownloadError::verify(self.url, e))
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
        let clock = Instant::now();
        let stream = client.get_stream(self.url, offset);
        self.network += clock.elapsed();
        let mut stream = stream.map_err(|e| {
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
            let clock = Instant::now();
            let read = stream.read(buf);
            self.network += clock.elapsed();
            let n = read.map_err(Failure::Retry)?;
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
///
/// The network reads and the verifying stack run on a second thread and
/// hand verified bytes to this one, which writes them to `sink` while the
/// next ones arrive ([`super::pipe`]): a bounded pipeline, so the disk's
/// writeback and the network overlap instead of taking turns.
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
    let idle_before = crate::sys::cpu::idle();
    let piped = pipe::run(&component.name, sink, progress, |h| {
        let reporter = h.reporter();
        fetch_verified(client, url, component, h, policy, started, &mut |p| {
            reporter.progress(p.clone())
        })
    });
    match piped {
        Ok((stats, profile)) => Ok(Stats {
            elapsed: started.elapsed(),
            disk_wait: profile.producer_waited,
            writing: profile.writing,
            cpu_idle: crate::sys::cpu::idle()
                .zip(idle_before)
                .map(|(after, before)| after.saturating_sub(before)),
            ..stats
        }),
        Err(PipeError::Produce(e)) => Err(e),
        Err(PipeError::Write(source)) => Err(DownloadError::Sink {
            name: component.name.clone(),
            source,
        }),
        Err(PipeError::Worker(detail)) => Err(DownloadError::Worker { detail }),
    }
}

/// The download on the producer's side: network reads and the verifying
/// stack, writing verified content into `sink` (the pipeline's handoff).
fn fetch_verified(
    client: &Client,
    url: &str,
    component: &Component,
    sink: &mut dyn Write,
    policy: &RetryPolicy,
    started: Instant,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Stats, DownloadError> {
    let mut t = Transfer {
        url,
        component,
        verifier: Verifier::new(component, sink),
        network: Duration::ZERO,
        verifying: Duration::ZERO,
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
    let (network, mut verifying) = (t.network, t.verifying);
    let clock = Instant::now();
    let verified = t
        .verifier
        .finish()
        .map_err(|e| DownloadError::verify(url, e))?;
    verifying += clock.elapsed();
    meter.tick(verified.stored, retries, true);
    Ok(Stats {
        stored_bytes: verified.stored,
        content_bytes: verified.content,
        retries,
        elapsed: started.elapsed(),
        network,
        verifying,
        disk_wait: Duration::ZERO,
        writing: Duration::ZERO,
        cpu_idle: None,
    })
}

#[cfg(test)]
mod tests;
