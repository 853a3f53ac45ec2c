use super::*;
use vendor_repo::manifest::{ComponentKind, Destination};

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
fn a_changed_byte_is_a_hash_mismatch_even_when_it_breaks_the_gzip() {
    let data = content();
    let stored = gzip(&data);
    let c = component(&stored, Compression::Gzip, data.len() as u64);
    let mut bad = stored.clone();
    bad[stored.len() / 2] ^= 0xFF;
    let e = copy(
        &mut &bad[..],
        Verifier::new(&c, &mut Vec::new()),
        &mut |_| {},
    )
    .unwrap_err();
    match &e {
        CopyError::Verify(VerifyError::HashMismatch { expected, actual }) => {
            assert_eq!(expected, &c.sha256);
            assert_ne!(actual, &c.sha256);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().starts_with("SHA-256 mismatch"), "{e}");
    assert!(VerifyError::HashMismatch {
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
fn stored_only_checks_size_and_hash_without_writing() {
    let data = gzip(&content());
    let c = component(&data, Compression::Gzip, 1);
    let v = copy(&mut &data[..], Verifier::stored_only(&c), &mut |_| {}).unwrap();
    assert_eq!(v.stored, data.len() as u64);
    let mut bad = data.clone();
    bad[10] ^= 1;
    let e = copy(&mut &bad[..], Verifier::stored_only(&c), &mut |_| {}).unwrap_err();
    assert!(
        matches!(e, CopyError::Verify(VerifyError::HashMismatch { .. })),
        "{e:?}"
    );
}
