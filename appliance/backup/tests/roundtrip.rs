//! Round trip, determinism and the key/data split.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use appliance_backup::*;
use common::*;

#[test]
fn round_trip_stages_every_file() {
    let b = backup_bytes(300_000, Selection::All);
    let (r, c) = read_with(&b, &pass(), MODEL);
    let s = r.expect("a good backup reads");
    let written = plan_manifest(&input(300_000), Selection::All).unwrap();
    assert_eq!(s.manifest, written);
    assert_eq!(s.manifest.created, "2026-12-07T06:00:00Z");
    let ids: Vec<_> = s.manifest.components.iter().map(|c| c.id).collect();
    assert_eq!(ids, ComponentId::ALL);
    for ic in input(300_000).components {
        for f in ic.files {
            let Content::Bytes(want) = f.content else {
                unreachable!()
            };
            let p = s.staged_file(ic.id, &f.path);
            assert_eq!(std::fs::read(&p).unwrap(), want, "{}", p.display());
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
    assert!(s.staged.starts_with(&c.staging));
}

#[test]
fn plaintext_is_deterministic() {
    let (a, _) = plain_tar(100_000);
    let (b, _) = plain_tar(100_000);
    assert_eq!(a, b);
    // Manifest first, entries in manifest order, uid 0, mtime = creation.
    let mut ar = tar::Archive::new(&a[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            assert_eq!(e.header().uid().unwrap(), 0);
            assert_eq!(e.header().mtime().unwrap(), CREATED);
            e.path().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "MANIFEST.json",
            "components/etc/hostname",
            "components/etc/network/eth0.conf",
            "components/db-key/encKey",
            "components/tls/cert.pem",
            "components/tls/key.pem",
            "components/token-db/dump.sql",
        ]
    );
    // Two encryptions differ (fresh file key and salt) but hold the same tar.
    let e1 = backup_bytes(100_000, Selection::All);
    let e2 = backup_bytes(100_000, Selection::All);
    assert_ne!(e1, e2);
    for e in [e1, e2] {
        let mut id = age::scrypt::Identity::new(pass());
        id.set_max_work_factor(WF);
        let mut plain = Vec::new();
        age::Decryptor::new(&e[..])
            .unwrap()
            .decrypt(std::iter::once(&id as &dyn age::Identity))
            .unwrap()
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, a);
    }
}

#[test]
fn key_and_data_as_two_files() {
    let key = read(&backup_bytes(1000, Selection::KeyOnly)).unwrap();
    let ids: Vec<_> = key.manifest.components.iter().map(|c| c.id).collect();
    assert_eq!(ids, [ComponentId::DbKey]);
    let data = read(&backup_bytes(1000, Selection::DataOnly)).unwrap();
    let ids: Vec<_> = data.manifest.components.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [ComponentId::Etc, ComponentId::Tls, ComponentId::TokenDb]
    );
    assert_eq!(
        key.manifest
            .component(ComponentId::DbKey)
            .unwrap()
            .key_check,
        data.manifest
            .component(ComponentId::TokenDb)
            .unwrap()
            .key_check
    );
}

#[test]
fn writer_refuses_bad_input() {
    let e = write_backup(
        Vec::new(),
        &SecretString::from(String::new()),
        WF,
        &input(1),
        Selection::All,
    );
    assert!(matches!(e, Err(BackupError::EmptyPassphrase)));
    let mut bad = input(1);
    bad.components[0].key_check = None; // token-db without key-check
    let e = write_backup(Vec::new(), &pass(), WF, &bad, Selection::All).unwrap_err();
    assert!(
        e.to_string().contains("components[token-db].key_check"),
        "{e}"
    );
    let mut bad = input(1);
    bad.components[1].files[0].path = "../passwd".into();
    let e = write_backup(Vec::new(), &pass(), WF, &bad, Selection::All).unwrap_err();
    assert!(e.to_string().contains("`..`"), "{e}");
    assert!(matches!(
        write_backup(Vec::new(), &pass(), 0, &input(1), Selection::All),
        Err(BackupError::BadWorkFactor(0))
    ));
}

#[test]
fn staging_must_be_empty() {
    let b = backup_bytes(10, Selection::All);
    let c = case(&b);
    std::fs::write(c.staging.join("old"), b"x").unwrap();
    let r = read_backup(
        &c.file,
        &pass(),
        &ReadOptions {
            expected_model: MODEL,
            max_work_factor: 18,
            staging: &c.staging,
        },
    );
    assert!(matches!(r, Err(BackupError::StagingNotEmpty(_))));
    assert_eq!(std::fs::read(c.staging.join("old")).unwrap(), b"x");
}
