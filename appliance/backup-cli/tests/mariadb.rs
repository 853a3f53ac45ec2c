//! Backup and restore with the token database, against a private MariaDB
//! server started by the test (Debian's mariadb-server, as root): the
//! restore killed at seeded points (checkpoints and times) and restarted
//! ends byte for byte like a clean restore, files and database; `etc` and
//! `tls` alone leave the database untouched; a database whose key is not
//! the appliance's is refused.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use appliance_backup::ComponentId;
use appliance_backup_cli::create::{create, CreateOptions};
use appliance_backup_cli::restore::{restore, ReadRequest};
use appliance_backup_cli::Error;
use common::*;

const TOKENS: usize = 3_000;

struct Fixture {
    dir: tempfile::TempDir,
    server: Server,
    file: std::path::PathBuf,
    template: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    server.make_token_db("src", &test_key(1), TOKENS, "SRC");
    let a = appliance(
        &dir.path().join("a"),
        "source",
        1,
        1000,
        Some(server.db("src")),
    );
    let file = dir.path().join("all.backup.age");
    create(
        &a,
        &CreateOptions {
            components: ComponentId::ALL.to_vec(),
            out: file.clone(),
            key_out: None,
            passphrase: &pass(),
            work_factor: WF,
            created: CREATED,
        },
    )
    .unwrap();
    let template = dir.path().join("template");
    appliance(&template, "target", 2, 10, None);
    Fixture {
        dir,
        server,
        file,
        template,
    }
}

fn target_db(f: &Fixture, name: &str) {
    f.server.make_token_db(name, &test_key(2), 500, "TGT");
}

fn restore_cmd(f: &Fixture, root: &Path, db: &str, components: &str) -> std::process::Command {
    let mut c = command(env!("CARGO_BIN_EXE_appliance-backup"));
    c.arg("--root")
        .arg(root)
        .arg("--db-socket")
        .arg(f.server.socket())
        .arg("--db-name")
        .arg(db)
        .arg("--passphrase-env")
        .arg("TEST_BACKUP_PASSPHRASE")
        .arg("restore")
        .arg(&f.file)
        .arg("--components")
        .arg(components)
        .env("TEST_BACKUP_PASSPHRASE", PASS);
    c
}

fn db_state(f: &Fixture, db: &str) -> (String, String) {
    (f.server.dump(db), f.server.dump(&format!("{db}_previous")))
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
#[ignore = "needs root and mariadb-server (mariadbd, mariadb, mariadb-dump)"]
fn killed_restores_with_the_database_end_like_a_clean_one() {
    let f = fixture();
    let clean = f.dir.path().join("clean");
    copy_tree(&f.template, &clean);
    target_db(&f, "clean");
    let t = Instant::now();
    let out = restore_cmd(&f, &clean, "clean", "all").output().unwrap();
    let clean_time = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want_tree = tree(&clean, true);
    let want_db = db_state(&f, "clean");
    assert!(
        want_db.0.contains("SRC00002999"),
        "the restored tokens are in place"
    );
    assert!(
        want_db.1.contains("TGT00000499"),
        "the previous tokens are kept aside"
    );
    eprintln!("clean restore: {clean_time:?}");

    let mut rng = Rng(0x5eed_db16);
    // Checkpoints with the database: prepare journal, 6 files, generation,
    // side database, load, comparison, commit journal, 6 renames,
    // generation switch, database switch = 20.
    // Six distinct checkpoints (a seeded shuffle of 1..=20), then five
    // kills of the whole process group at seeded times.
    let mut all: Vec<u64> = (1..=20).collect();
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut trials: Vec<(Option<u64>, Option<Duration>)> =
        all[..6].iter().map(|&n| (Some(n), None)).collect();
    let span = clean_time.as_millis() as u64;
    trials.extend((0..5).map(|_| (None, Some(Duration::from_millis(rng.below(span.max(1)))))));
    for (i, (at, after)) in trials.iter().enumerate() {
        let (root, db) = (f.dir.path().join(format!("t{i}")), format!("t{i}"));
        copy_tree(&f.template, &root);
        target_db(&f, &db);
        let mut cmd = restore_cmd(&f, &root, &db, "all");
        if let Some(n) = at {
            cmd.env("APPLIANCE_BACKUP_TEST_CRASH_AT", n.to_string());
            let out = cmd.output().unwrap();
            assert!(
                !out.status.success(),
                "checkpoint {n}: the hook did not fire"
            );
        } else if let Some(d) = after {
            // A power cut takes the clients with it: kill the whole group.
            let mut child = cmd.process_group(0).spawn().unwrap();
            std::thread::sleep(*d);
            let pgid = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
        let out = restore_cmd(&f, &root, &db, "all").output().unwrap();
        assert!(
            out.status.success(),
            "restart after {at:?}/{after:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(tree(&root, true), want_tree, "files after {at:?}/{after:?}");
        let got = db_state(&f, &db);
        assert!(got.0 == want_db.0, "token database after {at:?}/{after:?}");
        assert!(got.1 == want_db.1, "previous tables after {at:?}/{after:?}");
        eprintln!("trial {i}: killed at {at:?}/{after:?}, restarted: equal to the clean restore");
    }
}

#[test]
#[ignore = "needs root and mariadb-server (mariadbd, mariadb, mariadb-dump)"]
fn etc_and_tls_alone_leave_the_database_untouched() {
    let f = fixture();
    let root = f.dir.path().join("b");
    copy_tree(&f.template, &root);
    target_db(&f, "otp");
    let before = f.server.dump("otp");
    let checksum = f
        .server
        .sql("CHECKSUM TABLE otp.token, otp.config EXTENDED");
    let out = restore_cmd(&f, &root, "otp", "etc,tls").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(f.server.dump("otp") == before, "the token database changed");
    assert_eq!(
        f.server
            .sql("CHECKSUM TABLE otp.token, otp.config EXTENDED"),
        checksum
    );
    let ls = f.server.sql("SHOW DATABASES");
    assert!(
        !ls.contains("otp_restore") && !ls.contains("otp_previous"),
        "{ls}"
    );
    assert_eq!(
        std::fs::read(root.join("etc/appliance/db.key")).unwrap(),
        test_key(2),
        "the key stays"
    );
}

#[test]
#[ignore = "needs root and mariadb-server (mariadbd, mariadb, mariadb-dump)"]
fn a_database_of_another_key_is_refused_and_nothing_changes() {
    let f = fixture();
    let root = f.dir.path().join("b");
    copy_tree(&f.template, &root);
    target_db(&f, "otp");
    let app = appliance_backup_cli::layout::Appliance {
        root: root.clone(),
        db: Some(f.server.db("otp")),
    };
    let before = (tree(&root, false), f.server.dump("otp"));
    let p = pass();
    let req = ReadRequest {
        files: vec![f.file.clone()],
        passphrase: &p,
        max_work_factor: 18,
        model: None,
    };
    for only in [vec![ComponentId::TokenDb], vec![ComponentId::DbKey]] {
        let e = restore(&app, &req, Some(only.clone())).unwrap_err();
        assert!(matches!(e, Error::KeyMismatch { .. }), "{only:?}: {e}");
        assert_eq!(
            before,
            (tree(&root, false), f.server.dump("otp")),
            "{only:?}"
        );
        eprintln!("{only:?}: {e}");
    }
}
