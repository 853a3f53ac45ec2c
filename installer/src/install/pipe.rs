//! A bounded two-thread pipeline for a component's bytes: a producer thread
//! (the download: network reads, the chunk SHA-256 of
//! [`super::verify_io`]) writes what it has verified into a [`Handoff`],
//! and the calling thread writes those bytes to the sink (the target disk)
//! while the producer fetches and hashes the next ones.
//!
//! Only the calling thread touches the sink, so a sink that is not `Send`
//! (a file inside the FAT boot partition) works as well as a disk. What the
//! producer hands over is bounded: at most [`DEPTH`] pieces of [`PIECE`]
//! bytes in the channel, one being filled and one being written, so the
//! pipeline adds about 1.5 MiB to the download's memory whatever the
//! component's size (the RAM floor is 128 MiB).
//!
//! Guarantees, on top of the producer's own (verify before write):
//! - the bytes reach the sink in the order the producer wrote them;
//! - [`run`] returns only after the producer thread has ended and every
//!   handed-over byte was written and the sink flushed (or the sink failed);
//! - a failing sink stops the producer at its next write (it sees a broken
//!   pipe) and [`run`] reports the sink's own error, not the broken pipe;
//! - a failing producer stops the pipeline after the writer has written what
//!   was handed over before the failure (verified bytes; nothing written is
//!   trusted until the component's fetch returns `Ok`);
//! - a panic on the producer thread is an error, not a panic of the caller.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

/// Bytes per handed-over piece (the sink's write size).
pub const PIECE: usize = 256 * 1024;
/// Pieces (or progress messages) the channel holds.
pub const DEPTH: usize = 4;

enum Msg<P> {
    Data(Vec<u8>),
    Progress(P),
}

/// The producer's end: a [`Write`] whose bytes the calling thread writes to
/// the sink, and a side channel for progress reports.
pub struct Handoff<P> {
    tx: SyncSender<Msg<P>>,
    /// Written pieces coming back for reuse.
    free: Receiver<Vec<u8>>,
    batch: Vec<u8>,
    /// Time blocked because the channel was full (waiting for the disk).
    waited: Duration,
}

/// A second, `Send` way to report progress while the [`Handoff`] itself
/// is lent to a writer (the verifying stack).
pub struct Reporter<P> {
    tx: SyncSender<Msg<P>>,
}

impl<P> Reporter<P> {
    /// See [`Handoff::progress`].
    pub fn progress(&self, p: P) {
        let _ = self.tx.send(Msg::Progress(p));
    }
}

impl<P> Handoff<P> {
    /// Time this producer spent waiting for the writer so far.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// A progress reporter that does not borrow the handoff.
    pub fn reporter(&self) -> Reporter<P> {
        Reporter {
            tx: self.tx.clone(),
        }
    }

    /// Passes `p` to the calling thread's progress callback, in order with
    /// the bytes written before it. Ignored once the writer has stopped.
    pub fn progress(&mut self, p: P) {
        let t = Instant::now();
        let _ = self.tx.send(Msg::Progress(p));
        self.waited += t.elapsed();
    }

    fn send_batch(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let piece = std::mem::take(&mut self.batch);
        let t = Instant::now();
        let sent = self.tx.send(Msg::Data(piece));
        self.waited += t.elapsed();
        sent.map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the disk writer stopped"))
    }
}

impl<P> Write for Handoff<P> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.batch.capacity() == 0 {
            self.batch = self
                .free
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(PIECE));
            self.batch.clear();
        }
        let n = buf.len().min(PIECE - self.batch.len());
        self.batch
            .extend_from_slice(buf.get(..n).unwrap_or_default());
        if self.batch.len() >= PIECE {
            self.send_batch()?;
        }
        Ok(n)
    }

    /// Hands the partly filled piece over (the sink itself is flushed by
    /// [`run`] at the end).
    fn flush(&mut self) -> io::Result<()> {
        self.send_batch()
    }
}

/// Where the pipeline's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Profile {
    /// Bytes written to the sink.
    pub bytes: u64,
    /// The producer blocked on a full channel (waiting for the disk).
    pub producer_waited: Duration,
    /// The writer inside the sink's `write` and the final `flush`.
    pub writing: Duration,
    /// The writer waiting for the producer.
    pub writer_idle: Duration,
}

/// Why [`run`] failed.
#[derive(Debug)]
pub enum PipeError<E> {
    /// The producer failed (its error; the sink had no part in it).
    Produce(E),
    /// The sink failed; the producer was stopped.
    Write(io::Error),
    /// The producer thread could not start, or panicked.
    Worker(String),
}

/// Runs `produce` on a second thread, writing what it writes into its
/// [`Handoff`] to `sink` on this thread, and passing its progress reports
/// to `progress`. See the module documentation for the guarantees.
pub fn run<T, E, P>(
    name: &str,
    sink: &mut dyn Write,
    progress: &mut dyn FnMut(&P),
    produce: impl FnOnce(&mut Handoff<P>) -> Result<T, E> + Send,
) -> Result<(T, Profile), PipeError<E>>
where
    T: Send,
    E: Send,
    P: Send,
{
    let (tx, rx) = mpsc::sync_channel::<Msg<P>>(DEPTH);
    let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(DEPTH + 2);
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name(format!("fetch {name}"))
            .spawn_scoped(scope, move || {
                let mut h = Handoff {
                    tx,
                    free: free_rx,
                    batch: Vec::new(),
                    waited: Duration::ZERO,
                };
                let out = produce(&mut h);
                if out.is_ok() {
                    // What the producer did not flush; a failure here is
                    // the writer's, reported from its side.
                    let _ = h.flush();
                }
                (out, h.waited)
            })
            .map_err(|e| PipeError::Worker(format!("cannot start a thread for {name}: {e}")))?;
        let mut profile = Profile::default();
        let mut failed = None;
        loop {
            let t = Instant::now();
            let Ok(msg) = rx.recv() else { break };
            profile.writer_idle += t.elapsed();
            match msg {
                Msg::Data(piece) => {
                    let t = Instant::now();
                    let written = sink.write_all(&piece);
                    profile.writing += t.elapsed();
                    if let Err(e) = written {
                        failed = Some(e);
                        break;
                    }
                    profile.bytes += piece.len() as u64;
                    // Back for reuse; dropped when enough are waiting.
                    let _ = free_tx.try_send(piece);
                }
                Msg::Progress(p) => progress(&p),
            }
        }
        // The producer's next send fails from here on.
        drop(rx);
        if failed.is_none() {
            let t = Instant::now();
            failed = sink.flush().err();
            profile.writing += t.elapsed();
        }
        let joined = handle.join();
        if let Some(e) = failed {
            return Err(PipeError::Write(e));
        }
        let (out, waited) = joined.map_err(|panic| {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            PipeError::Worker(format!("the thread fetching {name} panicked: {detail}"))
        })?;
        profile.producer_waited = waited;
        out.map(|v| (v, profile)).map_err(PipeError::Produce)
    })
}

#[cfg(test)]
mod tests;
