//! The snapshot and the chunk list: each refusal with its own error.

use crate::manifest::{ChunkHasher, Chunks, Manifest, CHUNK_SIZE, MAX_CHUNK_SIZE};
use crate::registry::SerialRecord;
use crate::serial::Serial;
use crate::signed::VerifyError;
use crate::snapshot::{Entry, Snapshot, WHAT};
use crate::tests::{key, manifest, record, trust, NOW};
use std::collections::BTreeMap;

const MANIFEST: &str = "models/example-appliance/stable/manifest.json";

fn serial() -> Serial {
    Serial::parse(crate::serial::EXAMPLE).unwrap()
}

/// A snapshot listing `m` and `r` as signed by `k`.
fn snapshot_of(m: &[u8], mv: u64, r: &[u8], rv: u64) -> Snapshot {
    Snapshot {
        format: 1,
        metadata_version: 9,
        expires: NOW + 7 * 86_400,
        manifests: BTreeMap::from([(MANIFEST.to_string(), Entry::of(mv, m))]),
        serials: BTreeMap::from([(serial().registry_id(), Entry::of(rv, r))]),
    }
}

fn manifest_v(version: u64) -> Manifest {
    Manifest {
        metadata_version: version,
        ..manifest()
    }
}

fn record_v(version: u64) -> SerialRecord {
    SerialRecord {
        metadata_version: version,
        ..record(&serial())
    }
}

#[test]
fn a_current_snapshot_verifies_and_passes_current_files() {
    let k = key(1);
    let m = manifest_v(5).sign(&[&k]).unwrap();
    let r = record_v(2).sign(&[&k]).unwrap();
    let bytes = snapshot_of(&m, 5, &r, 2).sign(&[&k]).unwrap();
    let s = Snapshot::verify(&bytes, &trust(&[&k]), NOW, 0).unwrap();
    assert_eq!(s.metadata_version, 9);
    assert_eq!(s.check_manifest(MANIFEST, 5, &m), Ok(()));
    assert_eq!(s.check_serial(&serial().registry_id(), 2, &r), Ok(()));
}

#[test]
fn an_older_unexpired_manifest_is_refused_by_the_snapshot() {
    let k = key(1);
    let old = manifest_v(4).sign(&[&k]).unwrap();
    let current = manifest_v(5).sign(&[&k]).unwrap();
    let r = record_v(1).sign(&[&k]).unwrap();
    let s = snapshot_of(&current, 5, &r, 1);
    // The old manifest verifies on its own (signed, unexpired, above the floor) …
    let m = Manifest::verify(&old, &trust(&[&k]), NOW, 0, "example-appliance", "stable").unwrap();
    // … but the snapshot says 5 is current.
    let e = s
        .check_manifest(MANIFEST, m.metadata_version, &old)
        .unwrap_err();
    assert_eq!(
        e,
        VerifyError::Superseded {
            what: "manifest",
            found: 4,
            current: 5,
            snapshot_version: 9
        }
    );
    assert!(e.to_string().contains("snapshot.json"), "{e}");
}

#[test]
fn an_older_serial_record_is_refused_by_the_snapshot() {
    let k = key(1);
    let m = manifest_v(5).sign(&[&k]).unwrap();
    let revoked = record_v(3).sign(&[&k]).unwrap();
    let replayed = record_v(2).sign(&[&k]).unwrap();
    let s = snapshot_of(&m, 5, &revoked, 3);
    let r = SerialRecord::verify(&replayed, &trust(&[&k]), NOW, 0, &serial()).unwrap();
    assert_eq!(
        s.check_serial(&serial().registry_id(), r.metadata_version, &replayed),
        Err(VerifyError::Superseded {
            what: "serial record",
            found: 2,
            current: 3,
            snapshot_version: 9
        })
    );
}

#[test]
fn an_expired_snapshot_is_refused_naming_the_file_and_the_clock() {
    let k = key(1);
    let m = manifest_v(5).sign(&[&k]).unwrap();
    let r = record_v(1).sign(&[&k]).unwrap();
    let mut s = snapshot_of(&m, 5, &r, 1);
    s.expires = NOW - 1;
    let bytes = s.sign(&[&k]).unwrap();
    let e = Snapshot::verify(&bytes, &trust(&[&k]), NOW, 0).unwrap_err();
    assert_eq!(
        e,
        VerifyError::Expired {
            what: WHAT,
            expires: NOW - 1,
            now: NOW
        }
    );
    let text = e.to_string();
    assert!(text.contains("snapshot.json"), "{text}");
    assert!(text.contains(&(NOW - 1).to_string()), "{text}");
    assert!(text.contains("clock"), "{text}");
}

#[test]
fn a_snapshot_signed_by_the_wrong_key_is_refused() {
    let (good, bad) = (key(1), key(2));
    let m = manifest_v(5).sign(&[&good]).unwrap();
    let r = record_v(1).sign(&[&good]).unwrap();
    let bytes = snapshot_of(&m, 5, &r, 1).sign(&[&bad]).unwrap();
    assert_eq!(
        Snapshot::verify(&bytes, &trust(&[&good]), NOW, 0),
        Err(VerifyError::UntrustedKey {
            what: WHAT,
            signed_by: vec![bad.id.clone()],
            trusted: vec![good.id.clone()],
        })
    );
    // A manifest's signature is not a snapshot's.
    assert!(matches!(
        Snapshot::verify(&m, &trust(&[&good]), NOW, 0),
        Err(VerifyError::WrongType { .. })
    ));
}

#[test]
fn a_snapshot_older_than_the_iso_floor_or_the_one_seen_is_refused() {
    let k = key(1);
    let m = manifest_v(5).sign(&[&k]).unwrap();
    let r = record_v(1).sign(&[&k]).unwrap();
    let bytes = snapshot_of(&m, 5, &r, 1).sign(&[&k]).unwrap();
    let mut t = trust(&[&k]);
    t.min_snapshot_version = 10;
    assert_eq!(
        Snapshot::verify(&bytes, &t, NOW, 0),
        Err(VerifyError::Rollback {
            what: WHAT,
            found: 9,
            minimum: 10
        })
    );
    assert!(matches!(
        Snapshot::verify(&bytes, &trust(&[&k]), NOW, 12),
        Err(VerifyError::Rollback { minimum: 12, .. })
    ));
}

#[test]
fn unlisted_files_and_other_bytes_under_a_listed_version_are_refused() {
    let k = key(1);
    let m = manifest_v(5).sign(&[&k]).unwrap();
    let r = record_v(1).sign(&[&k]).unwrap();
    let s = snapshot_of(&m, 5, &r, 1);
    assert!(matches!(
        s.check_manifest("models/other/stable/manifest.json", 5, &m),
        Err(VerifyError::NotInSnapshot { .. })
    ));
    assert!(matches!(
        s.check_serial(&"0".repeat(64), 1, &r),
        Err(VerifyError::NotInSnapshot { .. })
    ));
    // Same version, another release string: signed, but not what was listed.
    let other = Manifest {
        release: "1.0.1".into(),
        ..manifest_v(5)
    }
    .sign(&[&k])
    .unwrap();
    assert_eq!(
        s.check_manifest(MANIFEST, 5, &other),
        Err(VerifyError::SnapshotHashMismatch {
            what: "manifest",
            path: MANIFEST.into(),
            version: 5
        })
    );
    // Newer than listed (published after the snapshot): accepted.
    assert_eq!(s.check_manifest(MANIFEST, 6, &other), Ok(()));
}

#[test]
fn write_snapshot_lists_every_file_and_grows_its_version() {
    let root = std::env::temp_dir().join(format!("vendor-repo-snap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let k = key(4);
    let m = manifest_v(3).sign(&[&k]).unwrap();
    crate::publish::write_file(&root, MANIFEST, &m).unwrap();
    let r = crate::publish::add_serial(&root, &serial(), vec![], &[&k], NOW, 3600).unwrap();
    let first = crate::publish::write_snapshot(&root, &[&k], NOW, 7 * 86_400).unwrap();
    let second = crate::publish::write_snapshot(&root, &[&k], NOW, 7 * 86_400).unwrap();
    assert_eq!((first.metadata_version, second.metadata_version), (1, 2));
    assert_eq!(second.expires, NOW + 7 * 86_400);
    assert_eq!(second.manifests[MANIFEST], Entry::of(3, &m));
    let stored = std::fs::read(root.join(crate::serial_path(&serial()))).unwrap();
    assert_eq!(
        second.serials[&r.serial_id],
        Entry::of(r.metadata_version, &stored)
    );
    let bytes = std::fs::read(root.join(crate::snapshot::PATH)).unwrap();
    assert_eq!(
        Snapshot::verify(&bytes, &trust(&[&k]), NOW, 2).unwrap(),
        second
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn chunk_lists_are_the_same_in_any_pieces_and_checked_by_validate() {
    let data: Vec<u8> = (0..(2 * CHUNK_SIZE + 5)).map(|i| (i % 251) as u8).collect();
    let whole = Chunks::of(&data, CHUNK_SIZE);
    assert_eq!(whole.sha256.len(), 3);
    let mut h = ChunkHasher::new(CHUNK_SIZE);
    for piece in data.chunks(77_777) {
        h.update(piece);
    }
    assert_eq!(h.finish(), whole);
    assert!(Chunks::of(&[], CHUNK_SIZE).sha256.is_empty());

    let mut m = manifest();
    m.components[0].chunks.sha256.push("ab".repeat(32));
    assert!(
        m.validate()
            .unwrap_err()
            .starts_with("components[0].chunks.sha256: 2 entries"),
        "{:?}",
        m.validate()
    );
    let mut m = manifest();
    m.components[1].chunks.sha256[0] = "XY".repeat(32);
    assert_eq!(
        m.validate().unwrap_err(),
        "components[1].chunks.sha256[0]: expected 64 lowercase hex digits"
    );
    let mut m = manifest();
    m.components[1].chunks.size = MAX_CHUNK_SIZE + 1;
    assert!(m
        .validate()
        .unwrap_err()
        .starts_with("components[1].chunks.size"));
}
