//! Test appliances (root directories) and a private MariaDB server.
//! Every key, certificate and passphrase here is a TEST value.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use appliance_backup::SecretString;
use appliance_backup_cli::db::Db;
use appliance_backup_cli::layout::Appliance;
use appliance_config::generation;
use sha2::{Digest, Sha256};

pub const PASS: &str = "TEST passphrase, not a secret";
/// The handover example's model.
pub const MODEL: &str = "example-appliance";
pub const WF: u8 = 10;
pub const CREATED: u64 = 1_796_623_200;

pub fn pass() -> SecretString {
    SecretString::from(PASS.to_owned())
}

pub use mariadb_process::command;

fn write(root: &Path, rel: &str, bytes: &[u8], mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A TEST database key (96 bytes) filled with `fill`.
pub fn test_key(fill: u8) -> Vec<u8> {
    vec![fill; 96]
}

/// The full key-check value the token database stores for a key.
pub fn full_key_check(key: &[u8]) -> String {
    appliance_otp::crypto::DbKey::from_bytes(key)
        .unwrap()
        .key_check()
}

/// An appliance below `root`: handover record, a desired state named
/// `host`, keys made from `fill`, and `big` bytes of licence data (to
/// span several 64 KiB chunks of the backup).
pub fn appliance(root: &Path, host: &str, fill: u8, big: usize, db: Option<Db>) -> Appliance {
    write(
        root,
        "run/appliance/handover.json",
        handover::EXAMPLE_JSON.as_bytes(),
        0o600,
    );
    let mut state = appliance_config::state::fallback();
    state.hostname = host.into();
    generation::Store::new(root).commit(&state).unwrap();
    write(root, "etc/appliance/db.key", &test_key(fill), 0o400);
    write(
        root,
        "etc/appliance/tls/cert.pem",
        format!("TEST certificate of {host}\n").as_bytes(),
        0o644,
    );
    write(
        root,
        "etc/appliance/tls/key.pem",
        format!("TEST key of {host}\n").as_bytes(),
        0o600,
    );
    write(
        root,
        "etc/ssh/ssh_host_ed25519_key",
        format!("TEST ssh key of {host}\n").as_bytes(),
        0o600,
    );
    write(
        root,
        "etc/appliance/radius/clients.json",
        format!("[{{\"name\":\"{host}-nas\",\"address\":\"192.0.2.7\"}}]\n").as_bytes(),
        0o600,
    );
    let licence: Vec<u8> = (0..big)
        .map(|i| (i as u64 * 2_654_435_761 % 251) as u8 ^ fill)
        .collect();
    write(root, "etc/appliance/licence/licence.bin", &licence, 0o644);
    // Not part of any component: never restored.
    write(root, "etc/appliance/setup-done", b"", 0o644);
    Appliance {
        root: root.to_owned(),
        db,
    }
}

/// Every path below `root` (but the command's own directory when
/// `skip_work`) with its type, mode and contents' SHA-256.
pub fn tree(root: &Path, skip_work: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, skip_work, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, skip_work: bool, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if skip_work && rel == "var/lib/appliance-backup" {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        let mode = m.mode() & 0o7777;
        let v = if m.file_type().is_symlink() {
            format!("link {:?}", fs::read_link(&p).unwrap())
        } else if m.is_dir() {
            walk(root, &p, skip_work, out);
            format!("dir {mode:o}")
        } else {
            format!(
                "file {mode:o} {}",
                hex::encode(Sha256::digest(fs::read(&p).unwrap()))
            )
        };
        out.insert(rel, v);
    }
}

/// Copies a tree (files, directories, symbolic links, modes).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let m = fs::symlink_metadata(&src).unwrap();
        if m.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if m.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
        if !m.file_type().is_symlink() {
            fs::set_permissions(&dst, m.permissions()).unwrap();
        }
    }
}

#[path = "../../../otp/tests/support/mariadb_process.rs"]
mod mariadb_process;
use mariadb_process::{tool, Process};

/// A private MariaDB server (`mariadb_process.rs`), killed on drop. Root
/// logs in over the socket without a password.
pub struct Server {
    process: Process,
}

impl Server {
    pub fn socket(&self) -> PathBuf {
        self.process.socket()
    }

    pub fn start() -> Server {
        let s = Server {
            process: Process::start("64M"),
        };
        let start = Instant::now();
        while s.try_sql("SELECT 1").is_err() {
            if start.elapsed() > Duration::from_secs(120) {
                panic!(
                    "mariadbd did not answer within 120 s:\n{}",
                    s.process.error_log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        s
    }

    pub fn db(&self, name: &str) -> Db {
        Db {
            socket: self.socket(),
            user: "root".into(),
            database: name.into(),
        }
    }

    fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = command(tool("mariadb"))
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .arg("--user=root")
            .arg("--batch")
            .arg("--skip-column-names")
            .arg("-e")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A token database like the OTP service's (its migrations' tables)
    /// with `tokens` rows, bound to `key`.
    pub fn make_token_db(&self, name: &str, key: &[u8], tokens: usize, tag: &str) {
        self.sql(&format!(
            "DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`; USE `{name}`; \
             CREATE TABLE schema_version (version BIGINT NOT NULL PRIMARY KEY, \
               applied_at TIMESTAMP NOT NULL DEFAULT '2026-01-01 00:00:00'); \
             INSERT INTO schema_version (version) VALUES (1), (2); \
             CREATE TABLE config (name VARCHAR(128) NOT NULL PRIMARY KEY, value MEDIUMTEXT NOT NULL); \
             INSERT INTO config VALUES ('key_check', '{}'); \
             CREATE TABLE token (serial VARCHAR(40) NOT NULL PRIMARY KEY, kind VARCHAR(8) NOT NULL, \
               seed_sealed VARBINARY(1024) NOT NULL, counter BIGINT UNSIGNED NOT NULL, \
               owner_login VARCHAR(64) NULL);",
            full_key_check(key)
        ));
        let mut done = 0;
        while done < tokens {
            let n = (tokens - done).min(1000);
            let rows: Vec<String> = (done..done + n)
                .map(|i| {
                    format!(
                        "('{tag}{i:08}', 'hotp', UNHEX(SHA2('{tag}{i}', 256)), {}, 'user{i}')",
                        i % 97
                    )
                })
                .collect();
            self.sql(&format!(
                "INSERT INTO `{name}`.token VALUES {}",
                rows.join(", ")
            ));
            done += n;
        }
    }

    /// The database's contents as a dump (comparable byte for byte).
    pub fn dump(&self, name: &str) -> String {
        let out = command(tool("mariadb-dump"))
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .arg("--user=root")
            .arg("--skip-dump-date")
            .arg("--skip-comments")
            .arg("--hex-blob")
            .arg(name)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
