//! Every bad file is refused with its own error, and the staging directory
//! is left empty (nothing is written elsewhere: see `common::read`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::time::{Duration, Instant};

use appliance_backup::*;
use common::*;

const DB: usize = 200_000; // four 64 KiB chunks

fn hdr_len(b: &[u8]) -> usize {
    let mac = b.windows(5).position(|w| w == b"\n--- ").unwrap();
    mac + 1 + b[mac + 1..].iter().position(|&c| c == b'\n').unwrap() + 1
}

fn flip(mut b: Vec<u8>, at: usize, mask: u8) -> Vec<u8> {
    b[at] ^= mask;
    b
}

fn tar_of(entries: &[(tar::Header, Vec<u8>)]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for (h, d) in entries {
        t.append(h, &d[..]).unwrap();
    }
    t.into_inner().unwrap()
}

fn manifest_entry(json: &[u8]) -> (tar::Header, Vec<u8>) {
    (
        raw_header(b"MANIFEST.json", json.len() as u64, tar::EntryType::Regular),
        json.to_vec(),
    )
}

/// A manifest listing one etc file `hostname` with these contents.
fn small_manifest(content: &[u8]) -> Vec<u8> {
    let inp = BackupInput {
        created: CREATED,
        source: input(0).source,
        components: vec![InputComponent {
            id: ComponentId::Etc,
            schema: 1,
            key_check: None,
            files: vec![InputFile {
                path: "hostname".into(),
                mode: 0o644,
                content: Content::Bytes(content.to_vec()),
            }],
        }],
    };
    serde_json::to_vec(&plan_manifest(&inp, Selection::All).unwrap()).unwrap()
}

fn entry_refusal(name: &[u8], kind: tar::EntryType) -> BackupError {
    let m = small_manifest(b"otp1\n");
    let data = if kind == tar::EntryType::Regular {
        b"x".to_vec()
    } else {
        Vec::new()
    };
    let t = tar_of(&[
        manifest_entry(&m),
        (raw_header(name, data.len() as u64, kind), data),
    ]);
    read(&encrypt(&t, WF)).unwrap_err()
}

#[test]
fn passphrases() {
    let b = backup_bytes(10, Selection::All);
    let wrong = SecretString::from("TEST wrong".to_owned());
    assert!(matches!(
        read_with(&b, &wrong, MODEL).0,
        Err(BackupError::WrongPassphrase)
    ));
    let empty = SecretString::from(String::new());
    assert!(matches!(
        read_with(&b, &empty, MODEL).0,
        Err(BackupError::EmptyPassphrase)
    ));
}

#[test]
fn not_backups() {
    assert!(matches!(read(b""), Err(BackupError::EmptyFile)));
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(matches!(read(&random), Err(BackupError::NotAgeFile)));
    assert!(matches!(read(&plain_tar(10).0), Err(BackupError::PlainTar)));
    let b = backup_bytes(10, Selection::All);
    let mut armored = b"-----BEGIN AGE ENCRYPTED FILE-----\n".to_vec();
    for line in base64(&b).as_bytes().chunks(64) {
        armored.extend_from_slice(line);
        armored.push(b'\n');
    }
    armored.extend_from_slice(b"-----END AGE ENCRYPTED FILE-----\n");
    let e = read(&armored).unwrap_err();
    assert!(matches!(e, BackupError::Armored), "{e}");
    assert!(e.to_string().contains("base64 -d"), "{e}");
}

#[test]
fn public_key_recipient() {
    let id = age::x25519::Identity::generate();
    let enc =
        age::Encryptor::with_recipients(std::iter::once(&id.to_public() as &dyn age::Recipient))
            .unwrap();
    let mut w = enc.wrap_output(Vec::new()).unwrap();
    std::io::Write::write_all(&mut w, &plain_tar(10).0).unwrap();
    assert!(matches!(
        read(&w.finish().unwrap()),
        Err(BackupError::NotPassphrase)
    ));
}

#[test]
fn excessive_work_factor_is_refused_at_once() {
    let b = backup_bytes(10, Selection::All);
    let h = hdr_len(&b);
    let head = String::from_utf8(b[..h].to_vec())
        .unwrap()
        .replacen(" 10\n", " 30\n", 1);
    assert!(head.contains(" 30\n"));
    let mut crafted = head.into_bytes();
    crafted.extend_from_slice(&b[h..]);
    let t = Instant::now();
    let e = read(&crafted).unwrap_err();
    assert!(
        matches!(
            e,
            BackupError::ExcessiveWork {
                required: 30,
                max: 18
            }
        ),
        "{e}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn header_damage() {
    let b = backup_bytes(10, Selection::All);
    // The newline ending the scrypt stanza's argument line.
    let nl = b.windows(9).position(|w| w == b"-> scrypt").unwrap();
    let nl = nl + b[nl..].iter().position(|&c| c == b'\n').unwrap();
    let e = read(&flip(b.clone(), nl, 0x01)).unwrap_err();
    assert!(matches!(e, BackupError::HeaderDamaged), "{e:?}");
    // One bit of the MAC (a letter's case or a digit's low bit keeps it base64).
    let mac = b.windows(4).position(|w| w == b"--- ").unwrap() + 4;
    let at = (mac..).find(|&i| b[i].is_ascii_alphanumeric()).unwrap();
    let mask = if b[at].is_ascii_digit() { 0x01 } else { 0x20 };
    let e = read(&flip(b, at, mask)).unwrap_err();
    assert!(matches!(e, BackupError::HeaderMacInvalid), "{e}");
}

#[test]
fn payload_damage() {
    let b = backup_bytes(DB, Selection::All);
    let plain_len = plain_tar(DB).0.len() as u64;
    let last = (plain_len - 1) / 65_536;
    assert!(last >= 2);
    let h = hdr_len(&b);
    let e = read(&flip(b.clone(), h + 16 + 100, 0x04)).unwrap_err();
    assert!(matches!(e, BackupError::PayloadCorrupt { chunk: 0 }), "{e}");
    let e = read(&flip(b.clone(), b.len() - 20, 0x80)).unwrap_err();
    assert!(
        matches!(e, BackupError::PayloadCorrupt { chunk } if chunk == last),
        "{e}"
    );

    let boundary = h + 16 + 2 * 65_552;
    let e = read(&b[..boundary]).unwrap_err();
    assert!(
        matches!(e, BackupError::Truncated { mid_chunk: false }),
        "{e}"
    );
    let e = read(&b[..boundary + 1000]).unwrap_err();
    assert!(
        matches!(e, BackupError::Truncated { mid_chunk: true }),
        "{e}"
    );

    let mut garbage = b.clone();
    garbage.extend_from_slice(&[0x55; 100]);
    let e = read(&garbage).unwrap_err();
    assert!(
        matches!(e, BackupError::TrailingGarbage { bytes: 100 }),
        "{e}"
    );
    let mut garbage = b;
    garbage.extend(std::iter::repeat_n(0xaa, 70_000));
    let e = read(&garbage).unwrap_err();
    assert!(
        matches!(e, BackupError::TrailingGarbage { bytes: 70_000 }),
        "{e}"
    );
}

/// A tar of exactly two chunks (its last STREAM chunk is a full one), then
/// garbage: the end is found at the chunk boundary.
#[test]
fn trailing_garbage_after_a_full_last_chunk() {
    let total = 2 * 65_536;
    let mut size = 0;
    let t = loop {
        let content = vec![b'x'; size];
        let m = small_manifest(&content);
        let m_blocks = m.len().div_ceil(512) * 512;
        let want = total - 512 - m_blocks - 512 - 1024;
        if want == size {
            let h = raw_header(
                b"components/etc/hostname",
                size as u64,
                tar::EntryType::Regular,
            );
            break tar_of(&[manifest_entry(&m), (h, content)]);
        }
        size = want;
    };
    assert_eq!(t.len(), total);
    let mut b = encrypt(&t, WF);
    assert!(read(&b).is_ok());
    b.extend_from_slice(&[0x33; 40]);
    let e = read(&b).unwrap_err();
    assert!(
        matches!(e, BackupError::TrailingGarbage { bytes: 40 }),
        "{e}"
    );
}

#[test]
fn manifest_refusals() {
    let file = (
        raw_header(b"components/etc/hostname", 5, tar::EntryType::Regular),
        b"otp1\n".to_vec(),
    );
    let e = read(&encrypt(&tar_of(std::slice::from_ref(&file)), WF)).unwrap_err();
    assert!(matches!(e, BackupError::ManifestMissing), "{e}");
    let e = read(&encrypt(
        &tar_of(&[file.clone(), manifest_entry(&small_manifest(b"otp1\n"))]),
        WF,
    ))
    .unwrap_err();
    assert!(
        matches!(&e, BackupError::ManifestNotFirst { first } if first == "components/etc/hostname"),
        "{e}"
    );
    let e = read(&encrypt(
        &tar_of(&[manifest_entry(b"{\"format\":"), file.clone()]),
        WF,
    ))
    .unwrap_err();
    assert!(
        matches!(e, BackupError::ManifestMalformed(ManifestError::Json(_))),
        "{e}"
    );
    let newer = String::from_utf8(small_manifest(b"otp1\n"))
        .unwrap()
        .replace("\"format_version\":1", "\"format_version\":2");
    let e = read(&encrypt(
        &tar_of(&[manifest_entry(newer.as_bytes()), file]),
        WF,
    ))
    .unwrap_err();
    assert!(
        matches!(
            e,
            BackupError::NewerFormat {
                found: 2,
                supported: 1
            }
        ),
        "{e}"
    );
}

#[test]
fn hash_mismatch() {
    let (mut t, _) = plain_tar(10);
    let at = t
        .windows(18)
        .position(|w| w == b"address=192.0.2.10")
        .unwrap()
        + 17;
    t[at] = b'1';
    let e = read(&encrypt(&t, WF)).unwrap_err();
    assert!(
        matches!(&e, BackupError::HashMismatch { path } if path == "components/etc/network/eth0.conf"),
        "{e}"
    );
}

#[test]
fn unsafe_entries() {
    use tar::EntryType as T;
    let cases: [(&[u8], T, EntryError); 6] = [
        (b"components/etc/../../x", T::Regular, EntryError::DotDot),
        (b"../x", T::Regular, EntryError::DotDot),
        (b"/etc/shadow", T::Regular, EntryError::Absolute),
        (b"components/etc/hostname", T::Symlink, EntryError::Symlink),
        (b"components/etc/hostname", T::Link, EntryError::HardLink),
        (b"components/etc/hostname", T::Char, EntryError::Device),
    ];
    for (name, kind, want) in cases {
        match entry_refusal(name, kind) {
            BackupError::UnsafeEntry { reason, .. } if reason == want => {}
            e => panic!("{}: {e}", String::from_utf8_lossy(name)),
        }
    }
}

#[test]
fn other_model() {
    let b = backup_bytes(10, Selection::All);
    let (r, c) = read_with(&b, &pass(), "other-model");
    assert!(
        matches!(&r, Err(BackupError::OtherModel { found, expected }) if found == MODEL && expected == "other-model")
    );
    assert_empty(&c.staging);
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}
