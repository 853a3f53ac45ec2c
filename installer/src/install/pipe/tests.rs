use super::*;
use crate::install::verify_io::{Verifier, VerifyError};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use vendor_repo::manifest::{Chunks, Component, ComponentKind, Compression, Destination};

const MIB: usize = 1 << 20;

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
        .collect()
}

/// A component of `stored` (uncompressed) with 1 MiB chunks.
fn component(stored: &[u8]) -> Component {
    Component {
        name: "data".into(),
        kind: ComponentKind::PartitionImage,
        size: stored.len() as u64,
        sha256: hex::encode(Sha256::digest(stored)),
        compression: Compression::None,
        content_size: stored.len() as u64,
        destination: Destination {
            partition: "data".into(),
            path: None,
        },
        chunks: Chunks::of(stored, MIB as u64),
    }
}

/// A sink that accepts `limit` bytes, then fails like a dying disk.
struct FailingDisk {
    written: Vec<u8>,
    limit: usize,
}

impl Write for FailingDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written.len() + buf.len() > self.limit {
            return Err(io::Error::other("Input/output error (the test disk)"));
        }
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn bytes_and_progress_arrive_in_order() {
    let bytes = data(3 * MIB + 12_345);
    let mut sink = Vec::new();
    let mut seen: Vec<u64> = Vec::new();
    let (n, profile) = run(
        "data",
        &mut sink,
        &mut |p: &u64| seen.push(*p),
        |h: &mut Handoff<u64>| {
            // Odd piece sizes, progress after each.
            let mut at = 0;
            for step in [1usize, 7_000, 300_000, 65_536].iter().cycle() {
                let end = (at + step).min(bytes.len());
                h.write_all(&bytes[at..end])?;
                at = end;
                h.progress(at as u64);
                if at == bytes.len() {
                    break;
                }
            }
            Ok::<_, io::Error>(at)
        },
    )
    .unwrap();
    assert_eq!(n, bytes.len());
    assert_eq!(sink, bytes, "the sink holds the bytes, in order");
    assert_eq!(profile.bytes, bytes.len() as u64);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seen.last(), Some(&(bytes.len() as u64)));
}

#[test]
fn a_failing_sink_stops_the_producer_and_its_own_error_is_reported() {
    let bytes = data(MIB);
    let mut disk = FailingDisk {
        written: Vec::new(),
        limit: 3 * PIECE + 10,
    };
    let produced = AtomicU64::new(0);
    let err = run(
        "data",
        &mut disk,
        &mut |_: &()| {},
        |h: &mut Handoff<()>| -> io::Result<()> {
            // An endless producer: only the writer's failure stops it.
            loop {
                h.write_all(&bytes)?;
                produced.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        },
    )
    .unwrap_err();
    match err {
        PipeError::Write(e) => assert_eq!(e.to_string(), "Input/output error (the test disk)"),
        other => panic!("expected the disk's error, got {other:?}"),
    }
    // Whole pieces only, and the producer was stopped (run returned) within
    // the channel's bound of the failure.
    assert_eq!(disk.written.len(), 3 * PIECE);
    assert_eq!(disk.written, bytes[..3 * PIECE]);
    let bound = (3 + 1 + DEPTH as u64 + 1) * PIECE as u64 + bytes.len() as u64;
    assert!(produced.load(Ordering::Relaxed) <= bound);
}

#[test]
fn a_failing_flush_is_the_sinks_error() {
    struct NoFlush(Vec<u8>);
    impl Write for NoFlush {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("flush failed (the test disk)"))
        }
    }
    let mut sink = NoFlush(Vec::new());
    let err = run("data", &mut sink, &mut |_: &()| {}, |h: &mut Handoff<()>| {
        h.write_all(b"abc")
    })
    .unwrap_err();
    assert!(
        matches!(&err, PipeError::Write(e) if e.to_string() == "flush failed (the test disk)"),
        "{err:?}"
    );
    assert_eq!(sink.0, b"abc", "the unflushed piece was handed over first");
}

#[test]
fn a_chunk_mismatch_mid_stream_writes_only_the_chunks_before_it() {
    let good = data(4 * MIB);
    let c = component(&good);
    let mut tampered = good.clone();
    tampered[2 * MIB + 4096] ^= 0x40;
    let mut sink = Vec::new();
    let err = run(
        "data",
        &mut sink,
        &mut |_: &()| {},
        |h: &mut Handoff<()>| -> Result<(), VerifyError> {
            let mut v = Verifier::new(&c, h);
            for piece in tampered.chunks(64 * 1024) {
                v.feed(piece)?;
            }
            v.finish().map(|_| ())
        },
    )
    .unwrap_err();
    match err {
        PipeError::Produce(VerifyError::ChunkMismatch { index, start, .. }) => {
            assert_eq!((index, start), (2, 2 * MIB as u64));
        }
        other => panic!("expected a chunk mismatch, got {other:?}"),
    }
    assert_eq!(sink.len(), 2 * MIB, "chunks 0 and 1 only");
    assert_eq!(sink, good[..2 * MIB]);
}

#[test]
fn a_verified_component_goes_through_whole() {
    let good = data(5 * MIB / 2);
    let c = component(&good);
    let mut sink = Vec::new();
    let (v, profile) = run("data", &mut sink, &mut |_: &()| {}, |h: &mut Handoff<()>| {
        let mut v = Verifier::new(&c, h);
        for piece in good.chunks(64 * 1024) {
            v.feed(piece)?;
        }
        v.finish()
    })
    .unwrap();
    assert_eq!(v.content, good.len() as u64);
    assert_eq!(profile.bytes, good.len() as u64);
    assert_eq!(sink, good);
}

#[test]
fn a_panicking_producer_is_an_error_not_a_panic() {
    let mut sink = Vec::new();
    let err = run(
        "data",
        &mut sink,
        &mut |_: &()| {},
        |h: &mut Handoff<()>| -> io::Result<()> {
            h.write_all(&[1; 10])?;
            h.flush()?;
            panic!("a bug in the producer");
        },
    )
    .unwrap_err();
    match err {
        PipeError::Worker(detail) => assert_eq!(
            detail,
            "the thread fetching data panicked: a bug in the producer"
        ),
        other => panic!("expected a worker error, got {other:?}"),
    }
    assert_eq!(sink, [1; 10]);
}
