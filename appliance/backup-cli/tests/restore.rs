//! Restore of the file components (etc, db-key, tls) on a test appliance
//! below a temporary root: the result, every refusal leaving the data tree
//! as it was (hashed before and after), and a restore killed at seeded
//! points and restarted ending byte for byte like a clean one.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use appliance_backup::{
    plan_manifest, write_backup, write_tar, BackupInput, ComponentId, Content, InputComponent,
    InputFile, SecretString, Selection,
};
use appliance_backup_cli::create::{create, CreateOptions};
use appliance_backup_cli::restore::{restore, ReadRequest};
use appliance_backup_cli::Error;
use common::*;

const BIG: usize = 200_000; // the licence file: four 64 KiB chunks
const FILES: [ComponentId; 3] = [ComponentId::Etc, ComponentId::DbKey, ComponentId::Tls];

fn make_backup(src: &Path, out: &Path) {
    let app = appliance(src, "source", 1, BIG, None);
    create(
        &app,
        &CreateOptions {
            components: FILES.to_vec(),
            out: out.to_owned(),
            key_out: None,
            passphrase: &pass(),
            work_factor: WF,
            created: CREATED,
        },
    )
    .unwrap();
}

fn request(file: &Path, max_wf: u8) -> ReadRequest<'static> {
    static P: std::sync::OnceLock<SecretString> = std::sync::OnceLock::new();
    ReadRequest {
        files: vec![file.to_owned()],
        passphrase: P.get_or_init(pass),
        max_work_factor: max_wf,
        model: None,
    }
}

#[test]
fn restores_the_components_and_a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.backup.age");
    make_backup(&dir.path().join("a"), &file);
    let b = appliance(&dir.path().join("b"), "target", 2, 10, None);
    let report = restore(&b, &request(&file, 18), None).unwrap();
    assert_eq!(report.lines.len(), 3, "{report:?}");
    let a = dir.path().join("a");
    for rel in [
        "etc/appliance/db.key",
        "etc/appliance/tls/cert.pem",
        "etc/appliance/tls/key.pem",
        "etc/ssh/ssh_host_ed25519_key",
        "etc/appliance/radius/clients.json",
        "etc/appliance/licence/licence.bin",
    ] {
        assert_eq!(
            fs::read(a.join(rel)).unwrap(),
            fs::read(b.root.join(rel)).unwrap(),
            "{rel}"
        );
    }
    let (n, state) = b.generations().current().unwrap().unwrap();
    assert_eq!((n, state.hostname.as_str()), (2, "source"));
    assert!(b.root.join("etc/appliance/setup-done").exists());
    let before = tree(&b.root, false);
    let again = restore(&b, &request(&file, 18), None).unwrap();
    assert!(
        again
            .lines
            .iter()
            .all(|(_, l)| l.contains("already identical")),
        "{again:?}"
    );
    assert_eq!(before, tree(&b.root, false));
}

/// Encrypts arbitrary plaintext to the test passphrase.
fn encrypt(plain: &[u8]) -> Vec<u8> {
    let mut r = age::scrypt::Recipient::new(pass());
    r.set_work_factor(WF);
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
    let mut w = enc.wrap_output(Vec::new()).unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap()
}

fn raw_entry(t: &mut tar::Builder<Vec<u8>>, name: &[u8], kind: tar::EntryType, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(CREATED);
    h.set_entry_type(kind);
    h.set_cksum();
    t.append(&h, data).unwrap();
}

fn etc_input(name: &str, content: &[u8], model: &str) -> BackupInput<'static> {
    BackupInput {
        created: CREATED,
        source: appliance_backup::Source {
            hostname: "source".into(),
            model: model.into(),
            release: "1.0.0".into(),
            install_id: "0f1e2d3c".into(),
        },
        components: vec![InputComponent {
            id: ComponentId::Etc,
            schema: 1,
            key_check: None,
            files: vec![InputFile {
                path: name.into(),
                mode: 0o644,
                content: Content::Bytes(content.to_vec()),
            }],
        }],
    }
}

/// A tar: a manifest for `etc/<listed>` then one raw entry.
fn crafted(listed: &str, entry: &[u8], kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let m = plan_manifest(&etc_input(listed, b"otp1\n", MODEL), Selection::All).unwrap();
    let json = serde_json::to_vec(&m).unwrap();
    let mut t = tar::Builder::new(Vec::new());
    raw_entry(&mut t, b"MANIFEST.json", tar::EntryType::Regular, &json);
    raw_entry(&mut t, entry, kind, data);
    t.into_inner().unwrap()
}

fn hdr_len(b: &[u8]) -> usize {
    let mac = b.windows(5).position(|w| w == b"\n--- ").unwrap();
    mac + 1 + b[mac + 1..].iter().position(|&c| c == b'\n').unwrap() + 1
}

fn flip(b: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut b = b.to_vec();
    b[at] ^= mask;
    b
}

#[test]
fn every_refusal_leaves_the_data_tree_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let good_file = dir.path().join("good.backup.age");
    make_backup(&dir.path().join("a"), &good_file);
    let good = fs::read(&good_file).unwrap();
    let h = hdr_len(&good);
    let b = appliance(&dir.path().join("b"), "target", 2, 10, None);

    let mut cases: Vec<(&str, Vec<u8>, u8)> = vec![
        ("empty file", Vec::new(), 18),
        (
            "random bytes",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            18,
        ),
        (
            "plain tar",
            write_tar(
                Vec::new(),
                &etc_input("hostname", b"x\n", MODEL),
                Selection::All,
            )
            .unwrap()
            .0,
            18,
        ),
        ("work factor above the cap", good.clone(), WF - 1),
        ("header MAC bit", flip(&good, h - 10, 0x01), 18),
        ("first chunk bit", flip(&good, h + 16 + 100, 0x04), 18),
        ("last chunk bit", flip(&good, good.len() - 20, 0x80), 18),
        (
            "truncated at a chunk boundary",
            good[..h + 16 + 2 * 65_552].to_vec(),
            18,
        ),
        (
            "truncated inside a chunk",
            good[..h + 16 + 2 * 65_552 + 1000].to_vec(),
            18,
        ),
        ("trailing garbage", [&good[..], &[0x55; 100]].concat(), 18),
    ];
    let mut armored = b"-----BEGIN AGE ENCRYPTED FILE-----\n".to_vec();
    armored
        .extend_from_slice(b"YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n-----END AGE ENCRYPTED FILE-----\n");
    cases.push(("armored", armored, 18));
    let id = age::x25519::Identity::generate();
    let enc =
        age::Encryptor::with_recipients(std::iter::once(&id.to_public() as &dyn age::Recipient))
            .unwrap();
    let mut w = enc.wrap_output(Vec::new()).unwrap();
    w.write_all(&good[..1000]).unwrap();
    cases.push(("public-key recipient", w.finish().unwrap(), 18));
    // Inside a correctly encrypted file.
    let (tar_ok, m) = write_tar(
        Vec::new(),
        &etc_input("hostname", b"otp1\n", MODEL),
        Selection::All,
    )
    .unwrap();
    let json = serde_json::to_vec(&m).unwrap();
    let mut t = tar::Builder::new(Vec::new());
    raw_entry(
        &mut t,
        b"components/etc/hostname",
        tar::EntryType::Regular,
        b"otp1\n",
    );
    raw_entry(&mut t, b"MANIFEST.json", tar::EntryType::Regular, &json);
    cases.push(("manifest not first", encrypt(&t.into_inner().unwrap()), 18));
    let mut t = tar::Builder::new(Vec::new());
    raw_entry(
        &mut t,
        b"components/etc/hostname",
        tar::EntryType::Regular,
        b"otp1\n",
    );
    cases.push(("manifest missing", encrypt(&t.into_inner().unwrap()), 18));
    let mut t = tar::Builder::new(Vec::new());
    raw_entry(
        &mut t,
        b"MANIFEST.json",
        tar::EntryType::Regular,
        b"{not json",
    );
    cases.push(("manifest malformed", encrypt(&t.into_inner().unwrap()), 18));
    let newer = String::from_utf8(json.clone())
        .unwrap()
        .replace("\"format_version\":1", "\"format_version\":2");
    let mut t = tar::Builder::new(Vec::new());
    raw_entry(
        &mut t,
        b"MANIFEST.json",
        tar::EntryType::Regular,
        newer.as_bytes(),
    );
    cases.push(("newer format", encrypt(&t.into_inner().unwrap()), 18));
    cases.push((
        "hash mismatch",
        encrypt(&crafted(
            "hostname",
            b"components/etc/hostname",
            tar::EntryType::Regular,
            b"otp2\n",
        )),
        18,
    ));
    cases.push((
        "dot-dot",
        encrypt(&crafted(
            "hostname",
            b"components/etc/../hostname",
            tar::EntryType::Regular,
            b"otp1\n",
        )),
        18,
    ));
    cases.push((
        "absolute",
        encrypt(&crafted(
            "hostname",
            b"/etc/hostname",
            tar::EntryType::Regular,
            b"otp1\n",
        )),
        18,
    ));
    cases.push((
        "symlink",
        encrypt(&crafted(
            "hostname",
            b"components/etc/hostname",
            tar::EntryType::Symlink,
            b"",
        )),
        18,
    ));
    cases.push((
        "hard link",
        encrypt(&crafted(
            "hostname",
            b"components/etc/hostname",
            tar::EntryType::Link,
            b"",
        )),
        18,
    ));
    cases.push((
        "device",
        encrypt(&crafted(
            "hostname",
            b"components/etc/hostname",
            tar::EntryType::Block,
            b"",
        )),
        18,
    ));
    let other = write_backup(
        Vec::new(),
        &pass(),
        WF,
        &etc_input("hostname", b"otp1\n", "another-model"),
        Selection::All,
    )
    .unwrap()
    .0;
    cases.push(("another model", other, 18));
    // Correct files that this release must still refuse.
    let passwd = write_backup(
        Vec::new(),
        &pass(),
        WF,
        &etc_input("passwd", b"root::0:0::/:/bin/sh\n", MODEL),
        Selection::All,
    )
    .unwrap()
    .0;
    cases.push(("etc file outside the component", passwd, 18));
    let mut lying = etc_input("hostname", b"otp1\n", MODEL);
    lying.components.push(InputComponent {
        id: ComponentId::DbKey,
        schema: 1,
        key_check: Some("0000000000000000".into()),
        files: vec![InputFile {
            path: "db.key".into(),
            mode: 0o400,
            content: Content::Bytes(test_key(7)),
        }],
    });
    cases.push((
        "key check not its key's",
        write_backup(Vec::new(), &pass(), WF, &lying, Selection::All)
            .unwrap()
            .0,
        18,
    ));
    drop(tar_ok);

    let file = dir.path().join("bad.backup.age");
    let mut messages = Vec::new();
    for (name, bytes, max_wf) in &cases {
        fs::write(&file, bytes).unwrap();
        let before = tree(&b.root, false);
        let e = restore(&b, &request(&file, *max_wf), None)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert_eq!(
            before,
            tree(&b.root, false),
            "{name}: the data tree changed"
        );
        messages.push(format!("{name}: {e}"));
    }
    let wrong = SecretString::from("TEST wrong".to_owned());
    let before = tree(&b.root, false);
    let e = restore(
        &b,
        &ReadRequest {
            files: vec![good_file.clone()],
            passphrase: &wrong,
            max_work_factor: 18,
            model: None,
        },
        None,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Backup(appliance_backup::BackupError::WrongPassphrase)
        ),
        "{e}"
    );
    assert_eq!(before, tree(&b.root, false));
    // Every class has its own message.
    let mut distinct: Vec<&str> = messages
        .iter()
        .map(|m| m.split_once(": ").unwrap().1)
        .collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), messages.len(), "{messages:#?}");
    eprintln!("{}", messages.join("\n"));
}

/// A small seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn run_restore(root: &Path, file: &Path, crash_at: Option<u64>) -> std::process::Output {
    let mut c = command(env!("CARGO_BIN_EXE_appliance-backup"));
    c.arg("--root")
        .arg(root)
        .arg("--without-db")
        .arg("--passphrase-env")
        .arg("TEST_BACKUP_PASSPHRASE")
        .arg("restore")
        .arg(file)
        .arg("--components")
        .arg("etc,db-key,tls")
        .env("TEST_BACKUP_PASSPHRASE", PASS);
    if let Some(n) = crash_at {
        c.env("APPLIANCE_BACKUP_TEST_CRASH_AT", n.to_string());
    }
    c.output().unwrap()
}

#[test]
fn killed_at_every_kind_of_point_then_restarted_ends_like_a_clean_restore() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.backup.age");
    make_backup(&dir.path().join("a"), &file);
    let template = dir.path().join("template");
    appliance(&template, "target", 2, 10, None);
    let clean = dir.path().join("clean");
    copy_tree(&template, &clean);
    let out = run_restore(&clean, &file, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The console is told that the running services need a restart.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Restart the appliance"), "{said}");
    let want = tree(&clean, true);
    // Checkpoints of this restore: prepare journal, 6 files, generation,
    // commit journal, 6 renames, switch = 16.
    let mut rng = Rng(0x5eed_0016);
    let mut points: Vec<u64> = (0..8).map(|_| 1 + rng.below(16)).collect();
    points.extend([1, 2, 8, 9, 10, 16]);
    for (i, at) in points.iter().enumerate() {
        let root = dir.path().join(format!("t{i}"));
        copy_tree(&template, &root);
        let killed = run_restore(&root, &file, Some(*at));
        assert!(
            !killed.status.success(),
            "checkpoint {at}: the crash hook did not fire"
        );
        let out = run_restore(&root, &file, None);
        assert!(
            out.status.success(),
            "restart after checkpoint {at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(tree(&root, true), want, "killed at checkpoint {at}");
        assert!(!root.join("var/lib/appliance-backup/journal.json").exists());
    }
}

#[test]
fn the_key_and_the_data_as_two_files_restore_like_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = appliance(&dir.path().join("a"), "source", 1, BIG, None);
    let (data, key) = (dir.path().join("data.age"), dir.path().join("key.age"));
    let written = create(
        &a,
        &CreateOptions {
            components: FILES.to_vec(),
            out: data.clone(),
            key_out: Some(key.clone()),
            passphrase: &pass(),
            work_factor: WF,
            created: CREATED,
        },
    )
    .unwrap();
    let ids: Vec<Vec<ComponentId>> = written
        .iter()
        .map(|(_, m)| m.components.iter().map(|c| c.id).collect())
        .collect();
    assert_eq!(
        ids,
        [
            vec![ComponentId::DbKey],
            vec![ComponentId::Etc, ComponentId::Tls]
        ]
    );
    let one = dir.path().join("one.age");
    make_backup(&dir.path().join("a2"), &one);
    let template = dir.path().join("template");
    appliance(&template, "target", 2, 10, None);
    let (b1, b2) = (dir.path().join("b1"), dir.path().join("b2"));
    copy_tree(&template, &b1);
    copy_tree(&template, &b2);
    let app = |root: &Path| appliance_backup_cli::layout::Appliance {
        root: root.to_owned(),
        db: None,
    };
    let p = pass();
    let two = ReadRequest {
        files: vec![key.clone(), data.clone()],
        passphrase: &p,
        max_work_factor: 18,
        model: None,
    };
    restore(&app(&b1), &two, None).unwrap();
    restore(&app(&b2), &request(&one, 18), None).unwrap();
    assert_eq!(tree(&b1, true), tree(&b2, true));
    // The data file alone cannot bring the key.
    let e = restore(
        &app(&b1),
        &request(&data, 18),
        Some(vec![ComponentId::DbKey]),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::NotInBackup(ComponentId::DbKey, _)),
        "{e}"
    );
}

#[test]
fn inspect_reads_the_passphrase_from_a_descriptor_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.backup.age");
    make_backup(&dir.path().join("a"), &file);
    let b = appliance(&dir.path().join("b"), "target", 2, 10, None);
    let before = tree(&b.root, false);
    let mut child = command(env!("CARGO_BIN_EXE_appliance-backup"))
        .arg("--root")
        .arg(&b.root)
        .arg("--without-db")
        .args(["--passphrase-fd", "0", "inspect"])
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASS}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("source source (example-appliance, release 1.0.0"),
        "{text}"
    );
    for c in ["etc", "db-key", "tls"] {
        assert!(text.contains(&format!("  {c:<9} schema 1")), "{c}: {text}");
    }
    assert_eq!(before, tree(&b.root, false));
}

#[test]
fn a_restored_file_keeps_the_owner_of_the_one_it_replaces() {
    use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.backup.age");
    let a = dir.path().join("a");
    let conf = "etc/freeradius/3.0/clients.conf";
    fs::create_dir_all(a.join("etc/freeradius/3.0")).unwrap();
    fs::write(a.join(conf), "client a { }\n").unwrap();
    fs::set_permissions(a.join(conf), fs::Permissions::from_mode(0o640)).unwrap();
    make_backup(&a, &file);

    // On the target the file is root:117 (FreeRADIUS's group, which a
    // backup does not record); a directory of group 118 has no such file.
    let b = appliance(&dir.path().join("b"), "target", 2, 10, None);
    fs::create_dir_all(b.root.join("etc/freeradius/3.0")).unwrap();
    fs::write(b.root.join(conf), "client b { }\n").unwrap();
    chown(b.root.join(conf), Some(0), Some(117)).unwrap();
    fs::remove_dir_all(b.root.join("etc/appliance/radius")).unwrap();
    fs::create_dir_all(b.root.join("etc/appliance/radius")).unwrap();
    chown(b.root.join("etc/appliance/radius"), Some(0), Some(118)).unwrap();

    restore(&b, &request(&file, 18), None).unwrap();
    let m = fs::metadata(b.root.join(conf)).unwrap();
    assert_eq!(fs::read(b.root.join(conf)).unwrap(), b"client a { }\n");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (0, 117, 0o640));
    let m = fs::metadata(b.root.join("etc/appliance/radius/clients.json")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (0, 118, 0o600));
    // The restored desired state is readable as every generation's is.
    let (n, _) = b.generations().current().unwrap().unwrap();
    let state = b.root.join(format!("etc/appliance/state/{n}/state.json"));
    assert_eq!(fs::metadata(&state).unwrap().mode() & 0o777, 0o644);
}

#[test]
fn progress_names_each_step_as_it_starts() {
    use appliance_backup_cli::restore::restore_with_progress;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.backup.age");
    make_backup(&dir.path().join("a"), &file);
    let b = appliance(&dir.path().join("b"), "target", 2, 10, None);
    let steps = std::cell::RefCell::new(Vec::new());
    restore_with_progress(&b, &request(&file, 18), None, &|s| {
        steps
            .borrow_mut()
            .push((s.component.map(|c| c.as_str()), s.what))
    })
    .unwrap();
    let steps = steps.into_inner();
    let who: Vec<Option<&str>> = steps.iter().map(|s| s.0).collect();
    // Decrypt and check first, then each component's files (etc's new
    // generation after its files), the switch last.
    assert_eq!(
        who,
        [
            None,
            Some("etc"),
            Some("db-key"),
            Some("tls"),
            Some("etc"),
            None
        ],
        "{steps:?}"
    );
    assert!(steps[0].1.contains("decrypting"));
    assert!(steps[4].1.contains("new generation"));
    assert!(steps[5].1.contains("switching"));
}
