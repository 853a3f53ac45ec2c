//! Shared test inputs. The passphrase is a TEST value.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::Write;
use std::path::{Path, PathBuf};

use appliance_backup::*;

pub const PASS: &str = "TEST passphrase, not a secret";
pub const MODEL: &str = "ref-appliance";
pub const WF: u8 = 10;
pub const CREATED: u64 = 1_796_623_200;

pub fn pass() -> SecretString {
    SecretString::from(PASS.to_owned())
}

fn file(path: &str, mode: u32, content: Vec<u8>) -> InputFile<'static> {
    InputFile {
        path: path.into(),
        mode,
        content: Content::Bytes(content),
    }
}

/// A token-db dump of `db_len` bytes (spans several 64 KiB chunks).
pub fn input(db_len: usize) -> BackupInput<'static> {
    let db: Vec<u8> = (0..db_len).map(|i| (i * 7 % 251) as u8).collect();
    BackupInput {
        created: CREATED,
        source: Source {
            hostname: "otp1".into(),
            model: MODEL.into(),
            release: "1.0.0".into(),
            install_id: "0f1e2d3c".into(),
        },
        components: vec![
            InputComponent {
                id: ComponentId::TokenDb,
                schema: 3,
                key_check: Some("0123456789abcdef".into()),
                files: vec![file("dump.sql", 0o600, db)],
            },
            InputComponent {
                id: ComponentId::Etc,
                schema: 1,
                key_check: None,
                files: vec![
                    file(
                        "network/eth0.conf",
                        0o644,
                        b"address=192.0.2.10/24\n".to_vec(),
                    ),
                    file("hostname", 0o644, b"otp1\n".to_vec()),
                ],
            },
            InputComponent {
                id: ComponentId::DbKey,
                schema: 1,
                key_check: Some("0123456789abcdef".into()),
                files: vec![file("encKey", 0o400, vec![0x42; 96])],
            },
            InputComponent {
                id: ComponentId::Tls,
                schema: 1,
                key_check: None,
                files: vec![
                    file("cert.pem", 0o644, b"TEST cert\n".to_vec()),
                    file("key.pem", 0o600, b"TEST key\n".to_vec()),
                ],
            },
        ],
    }
}

pub fn backup_bytes(db_len: usize, sel: Selection) -> Vec<u8> {
    write_backup(Vec::new(), &pass(), WF, &input(db_len), sel)
        .expect("write")
        .0
}

/// Encrypts arbitrary plaintext to the test passphrase at work factor `wf`.
pub fn encrypt(plain: &[u8], wf: u8) -> Vec<u8> {
    let mut r = age::scrypt::Recipient::new(pass());
    r.set_work_factor(wf);
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
    let mut w = enc.wrap_output(Vec::new()).unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap()
}

pub struct Case {
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub staging: PathBuf,
}

pub fn case(bytes: &[u8]) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.backup.age");
    std::fs::write(&file, bytes).unwrap();
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    Case { dir, file, staging }
}

pub fn read_with(
    bytes: &[u8],
    pass: &SecretString,
    model: &str,
) -> (Result<Summary, BackupError>, Case) {
    let c = case(bytes);
    let r = read_backup(
        &c.file,
        pass,
        &ReadOptions {
            expected_model: model,
            max_work_factor: 18,
            staging: &c.staging,
        },
    );
    (r, c)
}

pub fn read(bytes: &[u8]) -> Result<Summary, BackupError> {
    let (r, c) = read_with(bytes, &pass(), MODEL);
    if r.is_err() {
        assert_empty(&c.staging);
        assert_only(c.dir.path(), &["b.backup.age", "staging"]);
    }
    r
}

pub fn assert_empty(dir: &Path) {
    let n = std::fs::read_dir(dir).unwrap().count();
    assert_eq!(
        n,
        0,
        "staging {} left non-empty after a refusal",
        dir.display()
    );
}

fn assert_only(dir: &Path, names: &[&str]) {
    let mut got: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(
        got, names,
        "something was written outside the staging directory"
    );
}

/// A tar header for a regular file with a raw name (bypassing the tar
/// crate's own name checks).
pub fn raw_header(name: &[u8], size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(CREATED);
    h.set_entry_type(kind);
    h.set_cksum();
    h
}

/// The plaintext tar of the test input (all components).
pub fn plain_tar(db_len: usize) -> (Vec<u8>, Manifest) {
    write_tar(Vec::new(), &input(db_len), Selection::All).unwrap()
}
