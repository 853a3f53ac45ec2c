use super::*;
use sha2::{Digest, Sha256};
use vendor_repo::manifest::{Chunks, ComponentKind, Destination, CHUNK_SIZE};

fn component(stored: &[u8], compression: Compression, content_size: u64) -> Component {
    Component {
        name: "rootfs".into(),
        kind: ComponentKind::PartitionImage,
        size: stored.len() as u64,
        sha256: hex::encode(Sha256::digest(stored)),
        compression,
        content_size,
        destination: Destination {
            partition: "root".into(),
            path: None,
        },
        chunks: Chunks::of(stored, CHUNK_SIZE),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn content() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

/// Feeds `stored` in the given piece sizes (cycled).
fn feed_in_pieces(v: &mut Verifier<'_>, stored: &[u8], steps: &[usize]) {
    let mut at = 0;
    for step in steps.iter().cycle() {
        let end = (at + step).min(stored.len());
        v.feed(&stored[at..end]).unwrap();
        at = end;
        if at == stored.len() {
            break;
        }
    }
}

#[test]
fn plain_content_verifies_and_reaches_the_sink() {
    let data = content();
    let c = component(&data, Compression::None, data.len() as u64);
    let mut sink = Vec::new();
    let mut seen = Vec::new();
    let v = copy(&mut &data[..], Verifier::new(&c, &mut sink), &mut |n| {
        seen.push(n)
    })
    .unwrap();
    assert_eq!(
        v,
        Verified {
            stored: 200_000,
            content: 200_000
        }
    );
    assert_eq!(sink, data);
    assert_eq!(seen.last(), Some(&200_000));
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

#[test]
fn gzip_fed_in_arbitrary_pieces_decodes_once() {
    let data = content();
    let stored = gzip(&data);
    let c = component(&stored, Compression::Gzip, data.len() as u64);
    let mut sink = Vec::new();
    let mut v = Verifier::new(&c, &mut sink);
    feed_in_pieces(&mut v, &stored, &[1, 7, 0, 4096, 3, 65536]);
    assert_eq!(v.stored(), stored.len() as u64);
    let done = v.finish().unwrap();
    assert_eq!(done.content, data.len() as u64);
    assert_eq!(sink, data);
}

#[test]
fn more_stored_bytes_than_the_size_are_refused_at_once() {
    let data = vec![1u8; 1000];
    let c = component(&data[..999], Compression::None, 999);
    let mut sink = Vec::new();
    let e = copy(&mut &data[..], Verifier::new(&c, &mut sink), &mut |_| {}).unwrap_err();
    match e {
        CopyError::Verify(VerifyError::SizeMismatch {
            expected: 999,
            actual: 1000,
            at_least: true,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string()
            .contains("1000 bytes or more, the manifest says 999"),
        "{e}"
    );
}

#[test]
fn a_short_read_is_a_size_mismatch() {
    let data = vec![7u8; 1000];
    let c = component(&data, Compression::None, 1000);
    let e = copy(
        &mut &data[..999],
        Verifier::new(&c, &mut Vec::new()),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            CopyError::Verify(VerifyError::SizeMismatch {
                actual: 999,
                at_least: false,
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the object has 999 bytes, the manifest says 1000"
    );
}

#[test]
fn a_changed_byte_is_a_chunk_mismatch_even_when_it_breaks_the_gzip() {
    let data = content();
    let stored = gzip(&data);
    let c = component(&stored, Compression::Gzip, data.len() as u64);
    let mut bad = stored.clone();
    bad[stored.len() / 2] ^= 0xFF;
    let mut sink = Vec::new();
    let e = copy(&mut &bad[..], Verifier::new(&c, &mut sink), &mut |_| {}).unwrap_err();
    match &e {
        CopyError::Verify(VerifyError::ChunkMismatch {
            index: 0,
            start: 0,
            end,
            expected,
            actual,
        }) => {
            assert_eq!(*end, stored.len() as u64);
            assert_eq!(expected, &c.chunks.sha256[0]);
            assert_ne!(actual, expected);
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.is_empty(), "nothing of the bad chunk was decoded");
    assert!(
        e.to_string().starts_with("SHA-256 mismatch in chunk 0"),
        "{e}"
    );
    assert!(VerifyError::ChunkMismatch {
        index: 0,
        start: 0,
        end: 0,
        expected: String::new(),
        actual: String::new()
    }
    .hint()
    .contains("signed manifest"));
}

#[test]
fn a_signed_object_that_is_not_gzip_is_a_decompress_error() {
    let stored = b"this is not gzip at all".to_vec();
    let c = component(&stored, Compression::Gzip, 100);
    let e = copy(
        &mut &stored[..],
        Verifier::new(&c, &mut Vec::new()),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(e, CopyError::Verify(VerifyError::Decompress { .. })),
        "{e:?}"
    );
}

#[test]
fn more_content_than_announced_stops_feeding_the_sink() {
    let data = vec![0u8; 1 << 20];
    let stored = gzip(&data);
    let c = component(&stored, Compression::Gzip, 1000);
    let mut sink = Vec::new();
    let e = copy(&mut &stored[..], Verifier::new(&c, &mut sink), &mut |_| {}).unwrap_err();
    match e {
        CopyError::Verify(VerifyError::ContentSizeMismatch {
            expected: 1000,
            actual,
            at_least: true,
        }) => assert!(actual > 1000),
        other => panic!("{other:?}"),
    }
    assert!(sink.len() <= 1000, "{}", sink.len());

    let c = component(&data, Compression::None, 5);
    let e = copy(
        &mut &data[..],
        Verifier::new(&c, &mut Vec::new()),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("or more, the manifest says 5"),
        "{e}"
    );
}

#[test]
fn less_content_than_announced_is_refused() {
    let data = vec![3u8; 4096];
    let c = component(&data, Compression::None, 5000);
    let e = copy(
        &mut &data[..],
        Verifier::new(&c, &mut Vec::new()),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the content has 4096 bytes, the manifest says 5000"
    );
}

struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("I/O error on the target"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("medium error"))
    }
}

#[test]
fn a_failing_sink_or_source_is_reported_as_such() {
    let data = vec![3u8; 4096];
    let c = component(&data, Compression::None, 4096);
    let mut sink = Broken;
    let e = copy(&mut &data[..], Verifier::new(&c, &mut sink), &mut |_| {}).unwrap_err();
    match &e {
        CopyError::Verify(v @ VerifyError::Sink { .. }) => {
            assert!(v.hint().contains("target disk"), "{}", v.hint())
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.to_string(), "writing rootfs: I/O error on the target");
    let e = copy(&mut Broken, Verifier::new(&c, &mut Vec::new()), &mut |_| {}).unwrap_err();
    assert!(matches!(e, CopyError::Read(_)), "{e:?}");
    assert_eq!(e.to_string(), "reading: medium error");
}

#[test]
fn stored_only_checks_size_and_chunks_without_writing() {
    let data = gzip(&content());
    let c = component(&data, Compression::Gzip, 1);
    let v = copy(&mut &data[..], Verifier::stored_only(&c), &mut |_| {}).unwrap();
    assert_eq!(v.stored, data.len() as u64);
    let mut bad = data.clone();
    bad[10] ^= 1;
    let e = copy(&mut &bad[..], Verifier::stored_only(&c), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            CopyError::Verify(VerifyError::ChunkMismatch { index: 0, .. })
        ),
        "{e:?}"
    );
}

const MIB: usize = 1 << 20;

/// Records every byte that reaches the target, in order.
#[derive(Default)]
struct Recording {
    bytes: Vec<u8>,
}

impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// 5 MiB and a bit, no two chunks alike.
fn large() -> Vec<u8> {
    (0..5 * MIB + 123)
        .map(|i| ((i * 7 + i / MIB) % 253) as u8)
        .collect()
}

/// Feeds `stored` in uneven pieces until the verifier refuses; returns the
/// refusal and how many stored bytes had been fed when it came.
fn feed_until_refused(v: &mut Verifier<'_>, stored: &[u8]) -> Option<(VerifyError, usize)> {
    let mut at = 0;
    for step in [65_536, 1, 300_001, 4096].iter().cycle() {
        let end = (at + step).min(stored.len());
        if let Err(e) = v.feed(&stored[at..end]) {
            return Some((e, end));
        }
        at = end;
        if at == stored.len() {
            return None;
        }
    }
    None
}

#[test]
fn a_flipped_byte_in_the_middle_never_reaches_the_target() {
    let good = large();
    let c = component(&good, Compression::None, good.len() as u64);
    let mut bad = good.clone();
    let flipped = 2 * MIB + MIB / 2;
    bad[flipped] ^= 0x01;
    let mut sink = Recording::default();
    let mut v = Verifier::new(&c, &mut sink);
    let (e, fed) = feed_until_refused(&mut v, &bad).expect("the flipped byte was accepted");
    match &e {
        VerifyError::ChunkMismatch {
            index: 2,
            start,
            end,
            expected,
            ..
        } => {
            assert_eq!((*start, *end), (2 * MIB as u64, 3 * MIB as u64));
            assert_eq!(expected, &c.chunks.sha256[2]);
        }
        other => panic!("{other:?}"),
    }
    // Refused as soon as the bad chunk was complete …
    assert!((3 * MIB..3 * MIB + 300_001).contains(&fed), "{fed}");
    drop(v);
    // … and exactly the two good chunks before it were written: not one
    // byte of the bad chunk, nor anything after it.
    assert_eq!(sink.bytes.len(), 2 * MIB);
    assert_eq!(sink.bytes, good[..2 * MIB]);
    assert!(e.to_string().contains("chunk 2"), "{e}");
    assert!(e.hint().contains("altered or damaged"), "{}", e.hint());
}

#[test]
fn gzip_content_reaches_the_target_only_from_verified_chunks() {
    // Content that does not compress to nothing, so the object spans chunks.
    let mut x = 0x2545_f491_u32;
    let data: Vec<u8> = (0..4 * MIB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 16) as u8
        })
        .collect();
    let stored = gzip(&data);
    assert!(stored.len() > 2 * MIB, "{}", stored.len());
    let c = component(&stored, Compression::Gzip, data.len() as u64);
    let mut bad = stored.clone();
    bad[MIB + MIB / 2] ^= 0x40;
    let mut sink = Recording::default();
    let mut v = Verifier::new(&c, &mut sink);
    let (e, _) = feed_until_refused(&mut v, &bad).expect("accepted");
    assert!(
        matches!(e, VerifyError::ChunkMismatch { index: 1, .. }),
        "{e:?}"
    );
    drop(v);
    // Only the decoded first chunk (or less): a true prefix of the content.
    assert!(data.starts_with(&sink.bytes));
}

#[test]
fn a_flipped_byte_in_the_last_chunk_is_refused_before_it_is_written() {
    let good = large();
    let c = component(&good, Compression::None, good.len() as u64);
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0x80;
    let mut sink = Recording::default();
    let mut v = Verifier::new(&c, &mut sink);
    assert!(feed_until_refused(&mut v, &bad).is_none());
    let e = v.finish().unwrap_err();
    assert!(
        matches!(e, VerifyError::ChunkMismatch { index: 5, start, end: _, .. } if start == 5 * MIB as u64),
        "{e:?}"
    );
    assert_eq!(sink.bytes, good[..5 * MIB]);
}

#[test]
fn a_chunk_list_with_more_entries_than_chunks_is_refused() {
    // The manifest check refuses such a list; the stack does not rely on it.
    let good = large();
    let mut c = component(&good, Compression::None, good.len() as u64);
    c.chunks.sha256.push("00".repeat(32));
    let mut sink = Recording::default();
    let mut v = Verifier::new(&c, &mut sink);
    assert!(feed_until_refused(&mut v, &good).is_none());
    let e = v.finish().unwrap_err();
    assert!(
        matches!(&e, VerifyError::ChunkMismatch { index: 6, actual, .. } if actual == "(no bytes)"),
        "{e:?}"
    );
}

#[test]
fn the_chunk_list_alone_decides_not_the_whole_object_hash() {
    // Every byte is hashed once, against the signed chunk list; the
    // whole-object SHA-256 names the object's file and is not computed
    // again (see the module documentation).
    let good = large();
    let mut c = component(&good, Compression::None, good.len() as u64);
    c.sha256 = "00".repeat(32);
    let mut sink = Recording::default();
    let v = copy(&mut &good[..], Verifier::new(&c, &mut sink), &mut |_| {}).unwrap();
    assert_eq!(v.stored, good.len() as u64);
    assert_eq!(sink.bytes, good);
}

#[test]
fn a_chunk_list_that_disagrees_is_refused_even_when_the_whole_hash_matches() {
    let good = large();
    let mut c = component(&good, Compression::None, good.len() as u64);
    c.chunks.sha256[4] = "00".repeat(32);
    let mut sink = Recording::default();
    let mut v = Verifier::new(&c, &mut sink);
    let (e, _) = feed_until_refused(&mut v, &good).expect("accepted");
    assert!(
        matches!(e, VerifyError::ChunkMismatch { index: 4, .. }),
        "{e:?}"
    );
    drop(v);
    assert_eq!(sink.bytes.len(), 4 * MIB);
    // The check-only stack refuses it too.
    let mut v = Verifier::stored_only(&c);
    assert!(feed_until_refused(&mut v, &good).is_some());
}

#[test]
fn small_chunks_fed_across_their_boundaries_give_the_exact_content() {
    let data = content();
    let stored = gzip(&data);
    let mut c = component(&stored, Compression::Gzip, data.len() as u64);
    c.chunks = Chunks::of(&stored, 4096);
    let mut sink = Recording::default();
    let mut v = Verifier::new(&c, &mut sink);
    feed_in_pieces(&mut v, &stored, &[1, 4095, 4097, 0, 12_288, 3]);
    v.finish().unwrap();
    assert_eq!(sink.bytes, data);
}
