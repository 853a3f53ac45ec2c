//! One verifying stack for a component's stored bytes, whichever way they
//! arrive: from the network ([`super::download`], where one object may come
//! in several resumed responses) or from the installation medium
//! ([`super::local`]). The bytes are pushed through layers, each with one job:
//!
//! ```text
//! stored bytes ─▶ size limit ─▶ chunk SHA-256 ─▶ [gzip decoder] ─▶ content limit ─▶ sink
//!  (feed)          (`size`)     (`chunks`)        (`compression`)   (`content_size`)
//! ```
//!
//! A push stack rather than a chain of readers because a download's bytes
//! come from more than one response: the resume continues into the same
//! chunk and decoder, and nothing is fed twice. [`copy`] drives it from a
//! reader and reports progress.
//!
//! Verify before write: the stored bytes are held back one chunk at a time
//! (the manifest's chunk list, 1 MiB by default) and a chunk reaches the
//! decoder and the sink only after its SHA-256 matched the signed list, so
//! no byte the vendor did not sign is ever written; a bad chunk stops the
//! stack at once. The last chunk is released by [`Verifier::finish`] after
//! the stored size matched. Every byte is hashed once: the signed chunk
//! list covers the whole object (one entry per chunk, checked when the
//! manifest is read), so chunks that all match and the right size are the
//! object the vendor signed, and its whole-object SHA-256 (the name of its
//! file on the server) would be a second pass over the same bytes with the
//! same function; it is not computed. A content problem (bad gzip, more
//! content than announced) stops feeding the sink but not the chunk checks,
//! so a changed object is reported as a chunk mismatch, which explains the
//! content problem.

use flate2::write::MultiGzDecoder;
use std::io::{self, Read, Write};
use vendor_repo::manifest::{Component, Compression};

/// Bytes read per step by [`copy`].
pub const BUF_SIZE: usize = 64 * 1024;

/// Why a component's bytes are not the manifest's.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The stored size is not the manifest's `size`.
    #[error("the object has {actual} bytes{}, the manifest says {expected}",
        if *.at_least { " or more" } else { "" })]
    SizeMismatch {
        /// The manifest's `size`.
        expected: u64,
        /// What arrived.
        actual: u64,
        /// `actual` is a lower bound (feeding stopped there).
        at_least: bool,
    },
    /// The SHA-256 of the whole stored object is not the manifest's (a
    /// source that checks whole objects; this stack checks chunks).
    #[error("SHA-256 mismatch: expected {expected}, got {actual}")]
    HashMismatch {
        /// The manifest's `sha256`.
        expected: String,
        /// The hash of what arrived.
        actual: String,
    },
    /// One chunk of the stored bytes is not the signed chunk list's; none
    /// of its bytes (nor any later ones) reached the sink.
    #[error("SHA-256 mismatch in chunk {index} (stored bytes {start}..{end}): expected {expected}, got {actual}; nothing of it was written")]
    ChunkMismatch {
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
    /// The content's size is not the manifest's `content_size`.
    #[error("the content has {actual} bytes{}, the manifest says {expected}",
        if *.at_least { " or more" } else { "" })]
    ContentSizeMismatch {
        /// The manifest's `content_size`.
        expected: u64,
        /// What decompression produced.
        actual: u64,
        /// `actual` is a lower bound (writing stopped there).
        at_least: bool,
    },
    /// The object has the right hash but is not valid gzip.
    #[error("the object is not valid gzip: {detail}")]
    Decompress {
        /// The decoder's message.
        detail: String,
    },
    /// Writing the content failed (the target disk).
    #[error("writing {name}: {source}")]
    Sink {
        /// The component.
        name: String,
        /// The write error.
        source: io::Error,
    },
}

impl VerifyError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            VerifyError::SizeMismatch { .. }
            | VerifyError::HashMismatch { .. }
            | VerifyError::ChunkMismatch { .. }
            | VerifyError::ContentSizeMismatch { .. } => {
                "the component is not the one the signed manifest describes: it was altered or \
                 damaged. Nothing written is used; tell the vendor, then retry"
                    .into()
            }
            VerifyError::Decompress { .. } => {
                "the vendor published a damaged component: tell the vendor".into()
            }
            VerifyError::Sink { .. } => {
                "the target disk failed while writing: check the disk (or choose another)".into()
            }
        }
    }
}

/// What a verified component was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Stored bytes (= the manifest's `size`).
    pub stored: u64,
    /// Content bytes written to the sink (= its `content_size`).
    pub content: u64,
}

/// The content layer: counts what reaches the sink and refuses more than
/// `limit` bytes; keeps the sink's own error apart from the decoder's.
struct Limit<'a> {
    sink: &'a mut dyn Write,
    written: u64,
    limit: u64,
    over: bool,
    failed: Option<io::Error>,
}

impl Write for Limit<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            self.over = true;
            self.written += buf.len() as u64;
            return Err(io::Error::other("more content than the manifest says"));
        }
        match self.sink.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                Err(copy)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

enum Output<'a> {
    Plain(Limit<'a>),
    Gzip(Box<MultiGzDecoder<Limit<'a>>>),
}

impl<'a> Output<'a> {
    fn limit(&mut self) -> &mut Limit<'a> {
        match self {
            Output::Plain(l) => l,
            Output::Gzip(d) => d.get_mut(),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::Plain(l) => l.write_all(bytes),
            Output::Gzip(d) => d.write_all(bytes),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self {
            Output::Plain(l) => l.flush(),
            Output::Gzip(d) => d.try_finish().and_then(|()| d.flush()),
        }
    }
}

/// The stack for one component; feed it the stored bytes in any pieces.
pub struct Verifier<'a> {
    component: &'a Component,
    stored: u64,
    /// Stored bytes of the current chunk, not yet checked.
    pending: Vec<u8>,
    /// The current chunk's index.
    chunk: usize,
    /// `None`: check the stored bytes only.
    out: Option<Output<'a>>,
    /// The content went wrong: stop feeding it, keep hashing.
    content_error: Option<String>,
}

impl<'a> Verifier<'a> {
    /// Verifies `component` and writes its content to `sink`.
    pub fn new(component: &'a Component, sink: &'a mut dyn Write) -> Self {
        let limit = Limit {
            sink,
            written: 0,
            limit: component.content_size,
            over: false,
            failed: None,
        };
        let out = match component.compression {
            Compression::None => Output::Plain(limit),
            Compression::Gzip => Output::Gzip(Box::new(MultiGzDecoder::new(limit))),
        };
        Verifier {
            component,
            stored: 0,
            pending: Vec::new(),
            chunk: 0,
            out: Some(out),
            content_error: None,
        }
    }

    /// Bytes per chunk (bounded by the manifest's checks; at least 1).
    fn chunk_size(&self) -> usize {
        let size = self
            .component
            .chunks
            .size
            .min(vendor_repo::manifest::MAX_CHUNK_SIZE);
        usize::try_from(size).unwrap_or(usize::MAX).max(1)
    }

    /// Checks the held-back chunk against the chunk list, then passes it on.
    fn release_chunk(&mut self) -> Result<(), VerifyError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let index = self.chunk;
        let start = self.chunk_start();
        let end = start + self.pending.len() as u64;
        let actual = hex::encode(ring::digest::digest(&ring::digest::SHA256, &self.pending));
        let expected = self.component.chunks.sha256.get(index);
        if expected != Some(&actual) {
            self.pending = Vec::new();
            return Err(VerifyError::ChunkMismatch {
                index,
                start,
                end,
                expected: expected.cloned().unwrap_or_else(|| "(no entry)".into()),
                actual,
            });
        }
        let bytes = std::mem::take(&mut self.pending);
        self.chunk += 1;
        if self.content_error.is_none() {
            if let Some(out) = &mut self.out {
                if let Err(e) = out.write_all(&bytes) {
                    self.content_failed(e)?;
                }
            }
        }
        self.pending = bytes;
        self.pending.clear();
        Ok(())
    }

    /// The stored offset of the current chunk's first byte.
    fn chunk_start(&self) -> u64 {
        self.chunk as u64 * self.chunk_size() as u64
    }

    /// Checks the stored size and chunks only; nothing is written.
    pub fn stored_only(component: &'a Component) -> Self {
        Verifier {
            component,
            stored: 0,
            pending: Vec::new(),
            chunk: 0,
            out: None,
            content_error: None,
        }
    }

    /// Stored bytes fed so far.
    pub fn stored(&self) -> u64 {
        self.stored
    }

    /// The next stored bytes. Fails at once when they would exceed the
    /// manifest's `size` (nothing of them is used), when a completed chunk
    /// does not match the chunk list (nothing of it is used) or when the
    /// sink fails; every other problem is reported by [`Verifier::finish`].
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), VerifyError> {
        let after = self.stored + bytes.len() as u64;
        if after > self.component.size {
            return Err(VerifyError::SizeMismatch {
                expected: self.component.size,
                actual: after,
                at_least: true,
            });
        }
        let size = self.chunk_size();
        while !bytes.is_empty() {
            let room = size - self.pending.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.stored += now.len() as u64;
            self.pending.extend_from_slice(now);
            bytes = rest;
            if self.pending.len() == size {
                self.release_chunk()?;
            }
        }
        Ok(())
    }

    fn content_failed(&mut self, e: io::Error) -> Result<(), VerifyError> {
        if let Some(source) = self.out.as_mut().and_then(|o| o.limit().failed.take()) {
            return Err(VerifyError::Sink {
                name: self.component.name.clone(),
                source,
            });
        }
        self.content_error = Some(e.to_string());
        Ok(())
    }

    /// After the last stored byte: `Ok` only if the stored size, every
    /// chunk and the content size are the manifest's and the content
    /// decoded cleanly.
    pub fn finish(mut self) -> Result<Verified, VerifyError> {
        let c = self.component;
        if self.stored != c.size {
            return Err(VerifyError::SizeMismatch {
                expected: c.size,
                actual: self.stored,
                at_least: false,
            });
        }
        self.release_chunk()?;
        if let Some(expected) = c.chunks.sha256.get(self.chunk) {
            // More entries than chunks: a manifest that was not checked.
            return Err(VerifyError::ChunkMismatch {
                index: self.chunk,
                start: self.stored,
                end: self.stored,
                expected: expected.clone(),
                actual: "(no bytes)".into(),
            });
        }
        if self.content_error.is_none() {
            if let Some(Err(e)) = self.out.as_mut().map(Output::finish) {
                self.content_failed(e)?;
            }
        }
        let Some(mut out) = self.out else {
            return Ok(Verified {
                stored: self.stored,
                content: 0,
            });
        };
        let limit = out.limit();
        if limit.over || (self.content_error.is_none() && limit.written != c.content_size) {
            return Err(VerifyError::ContentSizeMismatch {
                expected: c.content_size,
                actual: limit.written,
                at_least: limit.over,
            });
        }
        if let Some(detail) = self.content_error {
            return Err(VerifyError::Decompress { detail });
        }
        Ok(Verified {
            stored: self.stored,
            content: limit.written,
        })
    }
}

/// Why [`copy`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The stored bytes could not be read.
    #[error("reading: {0}")]
    Read(#[source] io::Error),
    /// They did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// Reads `stored` to its end through `verifier` ([`BUF_SIZE`] bytes at a
/// time), telling `progress` the stored bytes done after each step.
pub fn copy(
    stored: &mut dyn Read,
    mut verifier: Verifier<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<Verified, CopyError> {
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match stored.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        verifier.feed(buf.get(..n).unwrap_or_default())?;
        progress(verifier.stored());
    }
    Ok(verifier.finish()?)
}

#[cfg(test)]
mod tests;
