//! `cargo xtask bench backup`: back up and restore a token database of
//! 100,000 tokens with `appliance-backup`, next to the same work done with
//! stock tools on the same database (`mariadb-dump | age -p`,
//! `age -d | mariadb`). One run each; time and peak memory (GNU time's
//! maximum resident set, from `wait4`'s rusage, which covers every
//! process of the pipeline) are printed with the ratio. Not a test:
//! nothing passes or fails on speed.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd::Cmd;
use crate::mariadb::Mariadb;
use crate::project;

const TOKENS: u64 = 100_000;
/// TEST passphrase of the benchmark's files.
const PASS: &str = "TEST bench passphrase";

/// The OTP store's token table (appliance/otp's migrations 1 and 2).
const SCHEMA: &str = "CREATE TABLE schema_version (version BIGINT NOT NULL PRIMARY KEY, \
     applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB; \
     INSERT INTO schema_version (version) VALUES (1), (2); \
     CREATE TABLE config (name VARCHAR(128) NOT NULL PRIMARY KEY, value MEDIUMTEXT NOT NULL) \
     ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin; \
     CREATE TABLE token (serial VARCHAR(40) NOT NULL PRIMARY KEY, kind VARCHAR(8) NOT NULL, \
     time_step BIGINT UNSIGNED NOT NULL, time_window BIGINT UNSIGNED NOT NULL, \
     algorithm VARCHAR(8) NOT NULL, digits TINYINT UNSIGNED NOT NULL, \
     seed_nonce VARBINARY(24) NOT NULL, seed_sealed VARBINARY(1024) NOT NULL, \
     counter BIGINT UNSIGNED NOT NULL, count_window BIGINT UNSIGNED NOT NULL, \
     sync_window BIGINT UNSIGNED NOT NULL, fail_count INT UNSIGNED NOT NULL, \
     max_fail INT UNSIGNED NOT NULL, active BOOLEAN NOT NULL, pin_hash VARCHAR(255) NULL, \
     owner_realm VARCHAR(64) NULL, owner_login VARCHAR(64) NULL) \
     ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin; \
     CREATE INDEX token_owner ON token (owner_realm, owner_login)";

/// Sealed seeds (24-byte nonce, 20-byte seed + 16-byte tag) and Argon2id
/// PIN strings of the sizes the service writes; random bytes stand in.
const FILL: &str = "INSERT INTO token SELECT CONCAT('OATH', LPAD(seq, 8, '0')), 'hotp', 0, 0, \
     'sha1', 6, RANDOM_BYTES(24), RANDOM_BYTES(36), seq MOD 1000, 10, 1000, 0, 10, 1, \
     CONCAT('$argon2id$v=19$m=19456,t=2,p=1$', TO_BASE64(RANDOM_BYTES(16)), '$', \
     TO_BASE64(RANDOM_BYTES(32))), 'staff', CONCAT('user', seq) FROM seq_1_to_";

/// One measured run: wall time and the largest resident set of any
/// process of it (KiB).
struct Measured {
    wall: Duration,
    max_rss_kib: u64,
}

fn measured(dir: &Path, inner: Cmd, input: Option<&[u8]>) -> Result<Measured> {
    let report = dir.join("time.out");
    let full = inner.under(
        Cmd::new("/usr/bin/time")
            .args(["-f", "%M", "-o"])
            .arg(&report),
    );
    let t = Instant::now();
    match input {
        Some(i) => full.read_with_input(i)?,
        None => full.read()?,
    };
    let wall = t.elapsed();
    let text = fs::read_to_string(&report)?;
    let max_rss_kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("GNU time wrote {text:?}"))?;
    Ok(Measured { wall, max_rss_kib })
}

/// A shell pipeline under `script`, which gives `age` the terminal it
/// reads a passphrase from.
fn under_pty(pipeline: &str) -> Cmd {
    Cmd::new("script").args(["-qec", pipeline, "/dev/null"])
}

fn size(p: &Path) -> Result<u64> {
    Ok(fs::metadata(p)
        .with_context(|| format!("{} was not written", p.display()))?
        .len())
}

fn scrypt_factor(p: &Path) -> String {
    let head = fs::read(p).unwrap_or_default();
    let text = String::from_utf8_lossy(&head[..head.len().min(200)]).into_owned();
    text.lines()
        .find(|l| l.starts_with("-> scrypt "))
        .and_then(|l| l.split(' ').nth(3))
        .unwrap_or("?")
        .to_owned()
}

pub fn run() -> Result<()> {
    let dir = project::target_dir().join("bench-backup");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-p", "appliance-backup-cli"])
        .cwd(project::root())
        .run()?;
    let tool = project::target_dir().join("release/appliance-backup");

    let server = Mariadb::start(&dir.join("db"))?;
    let t = Instant::now();
    server.sql(&format!(
        "CREATE DATABASE otp; USE otp; {SCHEMA}; {FILL}{TOKENS}"
    ))?;
    server.sql("CREATE DATABASE otp_base")?;
    eprintln!("{TOKENS} tokens made in {:.1} s", t.elapsed().as_secs_f64());

    // The appliance: its handover record and a TEST database key.
    let root = dir.join("root");
    fs::create_dir_all(root.join("run/appliance"))?;
    fs::create_dir_all(root.join("etc/appliance"))?;
    fs::write(
        root.join("run/appliance/handover.json"),
        handover::EXAMPLE_JSON,
    )?;
    fs::write(root.join("etc/appliance/db.key"), [0x42u8; 96])?;
    let ours = |sub: &[&str]| {
        Cmd::new(&tool)
            .arg("--root")
            .arg(&root)
            .arg("--db-socket")
            .arg(&server.socket)
            .args(["--db-name", "otp", "--passphrase-env", "BENCH_PASSPHRASE"])
            .args(sub.iter().copied())
            .env("BENCH_PASSPHRASE", PASS)
    };
    let ours_file = dir.join("ours.backup.age");
    let base_file = dir.join("baseline.sql.age");
    let sock = server.socket.display().to_string();

    let ours_backup = measured(
        &dir,
        ours(&["create", "--components", "token-db", "--out"]).arg(&ours_file),
        None,
    )?;
    let base_backup = measured(
        &dir,
        under_pty(&format!(
            "mariadb-dump --no-defaults --socket={sock} --user=root --single-transaction \
             --skip-dump-date --skip-comments --hex-blob --no-tablespaces otp \
             | age -p -o {}",
            base_file.display()
        )),
        Some(format!("{PASS}\n{PASS}\n").as_bytes()),
    )?;
    let ours_restore = measured(
        &dir,
        ours(&["restore"])
            .arg(&ours_file)
            .args(["--components", "token-db"]),
        None,
    )?;
    let base_restore = measured(
        &dir,
        under_pty(&format!(
            "age -d {} | mariadb --no-defaults --socket={sock} --user=root otp_base",
            base_file.display()
        )),
        Some(format!("{PASS}\n").as_bytes()),
    )?;
    let count = |db: &str| server.sql(&format!("SELECT COUNT(*) FROM {db}.token"));
    let (a, b) = (count("otp")?, count("otp_base")?);
    if a.trim() != TOKENS.to_string() || b.trim() != TOKENS.to_string() {
        bail!("restored token counts: ours {a:?}, baseline {b:?}; expected {TOKENS}");
    }

    println!(
        "backup and restore of {TOKENS} tokens (one run each; scrypt work factor: ours {}, \
         age -p {})",
        scrypt_factor(&ours_file),
        scrypt_factor(&base_file)
    );
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "file: ours {:.1} MiB, baseline {:.1} MiB",
        mib(size(&ours_file)?),
        mib(size(&base_file)?)
    );
    println!(
        "{:<10} {:>12} {:>12} {:>14} {:>7}",
        "", "ours s", "baseline s", "peak MiB o/b", "ratio"
    );
    for (name, o, b) in [
        ("backup", &ours_backup, &base_backup),
        ("restore", &ours_restore, &base_restore),
    ] {
        println!(
            "{:<10} {:>12.2} {:>12.2} {:>7.0}/{:<6.0} {:>6.2}x",
            name,
            o.wall.as_secs_f64(),
            b.wall.as_secs_f64(),
            o.max_rss_kib as f64 / 1024.0,
            b.max_rss_kib as f64 / 1024.0,
            o.wall.as_secs_f64() / b.wall.as_secs_f64()
        );
    }
    println!("target: ours ≤ 1.2x the baseline's time");
    Ok(())
}
