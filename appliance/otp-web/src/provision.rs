//! `appliance-otp provision`: what the OTP service needs on the appliance
//! before it starts, made if missing and repaired if half made. It runs as
//! root after MariaDB is up and before `appliance-otp.service`:
//!
//! 1. the database `otp` and its user `otp'@'localhost`, whose password is
//!    generated (`getrandom`, 256 bits, hex) into [`DB_PASSWORD`] (0600,
//!    owned by the service's user); the database is set to the file's
//!    password on every run, so the file is what counts;
//! 2. the schema migrations, run as that user (as the service would);
//! 3. the service's configuration [`CONFIG`] and the flat-file resolver's
//!    file [`USERS`] on the data partition (both only when missing);
//! 4. with `--rotate-password`, a new password: written beside the file
//!    (`db-password.new`), set in the database (`ALTER USER`), then
//!    renamed over the file. A crash before the rename leaves the old file;
//!    the next run (every boot, before the service) sets the database back
//!    to it and removes the `.new` file, so file and database always end as
//!    a working pair. The running service keeps its open connections; it
//!    must be restarted to use a rotated password.
//!
//! The pure parts (paths, statements, the configuration's text) are
//! separate from [`run`], the one function with effects.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use appliance_config::fsutil;
use appliance_otp::store::mariadb::{Connection, MariaDbStore};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection as _, Executor};

/// The service's configuration file (no secrets: 0644).
pub const CONFIG: &str = "/etc/appliance/otp.json";
/// The database user's password (0600, owned by the service's user).
pub const DB_PASSWORD: &str = "/etc/appliance/otp/db-password";
/// The service's state directory on the data partition (`/var`).
pub const STATE_DIR: &str = "/var/lib/appliance-otp";
/// The flat-file resolver of the default realm (passwd layout, 0600).
pub const USERS: &str = "/var/lib/appliance-otp/users";
/// The audit log (JSON lines).
pub const AUDIT: &str = "/var/lib/appliance-otp/audit.jsonl";
/// Copies the unit makes before each start (root's files stay 0400/0640
/// root): the database key and the LinOTP Administrator's credentials.
pub const KEY_COPY: &str = "/run/appliance-otp/db.key";
pub const ADMIN_COPY: &str = "/run/appliance-otp/admin.json";
/// MariaDB's socket (Debian's default).
pub const SOCKET: &str = "/run/mysqld/mysqld.sock";
/// The token database and its user.
pub const DATABASE: &str = "otp";
pub const DB_USER: &str = "otp";
/// The system user of `appliance-otp.service` (sysusers).
pub const SERVICE_USER: &str = "appliance-otp";
/// The default realm and its resolver.
pub const REALM: &str = "appliance";
pub const RESOLVER: &str = "local";

/// Where provisioning works: every path below `root` (`/` on the
/// appliance), MariaDB's socket, and the owner of the service's files.
#[derive(Debug, Clone)]
pub struct Target {
    pub root: PathBuf,
    pub socket: PathBuf,
    /// User and group id the password file and the state directory get.
    pub owner: (u32, u32),
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("{path}: the database password must be 64 lower-case hex digits (remove the file and run `appliance-otp provision` again to make a new one)")]
    BadPassword { path: PathBuf },
    #[error("cannot generate a password: {0}")]
    Random(getrandom::Error),
    #[error("MariaDB as root over {socket}: {source} (is mariadb.service running?)")]
    Root {
        socket: PathBuf,
        source: sqlx::Error,
    },
    #[error("MariaDB: {statement}: {source}")]
    Statement {
        statement: &'static str,
        source: sqlx::Error,
    },
    #[error("the token database as {DB_USER} (migrations): {0}")]
    Migrate(appliance_otp::store::StoreError),
}

fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> ProvisionError {
    let path = path.to_path_buf();
    move |source| ProvisionError::Io {
        path,
        action,
        source,
    }
}

/// The user and group id of `user` in a passwd file's text (the image's
/// own `/etc/passwd`; a static program does not load NSS modules).
pub fn user_ids(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == user {
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    })
}

/// A new database password: 32 random bytes as hex.
pub fn new_password() -> Result<String, ProvisionError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(ProvisionError::Random)?;
    Ok(hex::encode(bytes))
}

/// Only a password [`new_password`] could have made is put into SQL text
/// (`IDENTIFIED BY` takes no placeholder).
pub fn password_ok(password: &str) -> bool {
    password.len() == 64
        && password
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The statements that make the database and its user and give the user
/// the password (all idempotent), with a name for error messages. The
/// user gets what the service and its migrations need, no more.
pub fn statements(password: &str) -> Vec<(&'static str, String)> {
    let account = format!("'{DB_USER}'@'localhost'");
    vec![
        (
            "CREATE DATABASE",
            format!("CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4"),
        ),
        (
            "CREATE USER",
            format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{password}'"),
        ),
        (
            "ALTER USER",
            format!("ALTER USER {account} IDENTIFIED BY '{password}'"),
        ),
        (
            "GRANT",
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON `{DATABASE}`.* TO {account}"
            ),
        ),
    ]
}

/// The service's configuration as provisioning first writes it.
pub fn default_config() -> String {
    let value = serde_json::json!({
        "listen": "127.0.0.1:5000",
        "issuer": "OTP appliance",
        "database": {
            "socket": SOCKET,
            "database": DATABASE,
            "user": DB_USER,
            "password_file": DB_PASSWORD,
            "pool": 16
        },
        "key_file": KEY_COPY,
        "admin_file": ADMIN_COPY,
        "audit_file": AUDIT,
        "resolvers": {RESOLVER: {"type": "flatfile", "file": USERS}},
        "realms": [{"name": REALM, "resolvers": [RESOLVER], "default": true}]
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// The flat-file resolver's first text (no users).
pub const USERS_HEADER: &str =
    "# Users of the realm `appliance`: login:password:uid:gid:gecos[:home:shell]\n\
# password: an Argon2id PHC string ($argon2id$...), or x for no self-service login.\n\
# This file is not part of backups.\n";

/// What a run did, for the journal.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub password_made: bool,
    pub password_rotated: bool,
    pub stale_rotation_removed: bool,
    pub config_written: bool,
    pub users_written: bool,
    pub schema_version: i64,
}

fn under(t: &Target, abs: &str) -> PathBuf {
    fsutil::under(&t.root, abs)
}

fn new_file(password_file: &Path) -> PathBuf {
    password_file.with_file_name("db-password.new")
}

/// Writes `text` atomically with `mode`, then gives it to `owner`.
fn write_owned(
    path: &Path,
    text: &str,
    mode: u32,
    owner: (u32, u32),
) -> Result<(), ProvisionError> {
    fsutil::write_atomic(path, text.as_bytes(), mode).map_err(io(path, "writing"))?;
    chown(path, owner)
}

fn chown(path: &Path, (uid, gid): (u32, u32)) -> Result<(), ProvisionError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io(path, "chown"))
}

fn read_password(path: &Path) -> Result<Option<String>, ProvisionError> {
    match fsutil::read_if_exists(path).map_err(io(path, "reading"))? {
        None => Ok(None),
        Some(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let password = text.trim_end_matches('\n');
            if password_ok(password) {
                Ok(Some(password.to_string()))
            } else {
                Err(ProvisionError::BadPassword {
                    path: path.to_path_buf(),
                })
            }
        }
    }
}

async fn as_root(t: &Target, sql: &[(&'static str, String)]) -> Result<(), ProvisionError> {
    let root_error = |source| ProvisionError::Root {
        socket: t.socket.clone(),
        source,
    };
    // Debian's root@localhost authenticates by the socket's peer (unix_socket).
    let mut conn = MySqlConnectOptions::new()
        .socket(&t.socket)
        .username("root")
        .connect()
        .await
        .map_err(root_error)?;
    for (statement, text) in sql {
        conn.execute(text.as_str())
            .await
            .map_err(|source| ProvisionError::Statement { statement, source })?;
    }
    conn.close().await.map_err(root_error)
}

/// Provisions (see the module documentation); `rotate` makes a new
/// database password.
pub async fn run(t: &Target, rotate: bool) -> Result<Report, ProvisionError> {
    let mut report = Report::default();
    let password_file = under(t, DB_PASSWORD);
    let pending = new_file(&password_file);
    if pending.exists() {
        // A rotation that did not reach its rename: the file still holds
        // the password that counts, and the database is set to it below.
        std::fs::remove_file(&pending).map_err(io(&pending, "removing"))?;
        report.stale_rotation_removed = true;
    }
    let mut password = match read_password(&password_file)? {
        Some(p) => p,
        None => {
            let p = new_password()?;
            write_owned(&password_file, &format!("{p}\n"), 0o600, t.owner)?;
            report.password_made = true;
            p
        }
    };
    // Every run: owner and mode, whatever a crash or an edit left.
    chown(&password_file, t.owner)?;
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))
        .map_err(io(&password_file, "chmod"))?;
    as_root(t, &statements(&password)).await?;

    if rotate {
        let next = new_password()?;
        write_owned(&pending, &format!("{next}\n"), 0o600, t.owner)?;
        let alter: Vec<_> = statements(&next)
            .into_iter()
            .filter(|(name, _)| *name == "ALTER USER")
            .collect();
        as_root(t, &alter).await?;
        std::fs::rename(&pending, &password_file).map_err(io(&password_file, "renaming"))?;
        if let Some(dir) = password_file.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir, "syncing"))?;
        }
        password = next;
        report.password_rotated = true;
    }

    let store = MariaDbStore::open(
        &Connection {
            socket: t.socket.clone(),
            database: DATABASE.into(),
            user: DB_USER.into(),
            password,
        },
        1,
    )
    .await
    .map_err(ProvisionError::Migrate)?;
    report.schema_version = store
        .schema_version()
        .await
        .map_err(ProvisionError::Migrate)?;

    let config = under(t, CONFIG);
    if !config.exists() {
        fsutil::write_atomic(&config, default_config().as_bytes(), 0o644)
            .map_err(io(&config, "writing"))?;
        report.config_written = true;
    }
    let state = under(t, STATE_DIR);
    std::fs::create_dir_all(&state).map_err(io(&state, "creating"))?;
    chown(&state, t.owner)?;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700))
        .map_err(io(&state, "chmod"))?;
    let users = under(t, USERS);
    if !users.exists() {
        write_owned(&users, USERS_HEADER, 0o600, t.owner)?;
        report.users_written = true;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn passwords_are_hex_and_only_those_reach_sql() {
        let a = new_password().unwrap();
        let b = new_password().unwrap();
        assert!(password_ok(&a) && password_ok(&b));
        assert_ne!(a, b);
        for bad in ["", "x'; DROP USER root; --", &a[..63], &a.to_uppercase()] {
            assert!(!password_ok(bad), "{bad}");
        }
    }

    #[test]
    fn the_service_user_is_found_in_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nappliance-otp:x:998:997:Appliance OTP service:/nonexistent:/usr/sbin/nologin\n";
        assert_eq!(user_ids(passwd, SERVICE_USER), Some((998, 997)));
        assert_eq!(user_ids(passwd, "appliance"), None);
        assert_eq!(user_ids("appliance-otp:x:no:1:::\n", SERVICE_USER), None);
    }

    #[test]
    fn statements_are_idempotent_and_grant_no_more_than_needed() {
        let p = "0".repeat(64);
        let s = statements(&p);
        let names: Vec<_> = s.iter().map(|x| x.0).collect();
        assert_eq!(
            names,
            ["CREATE DATABASE", "CREATE USER", "ALTER USER", "GRANT"]
        );
        assert!(s[0].1.contains("IF NOT EXISTS `otp`"));
        assert!(s[1]
            .1
            .starts_with("CREATE USER IF NOT EXISTS 'otp'@'localhost'"));
        assert!(!s[3].1.contains("ALL") && !s[3].1.contains("DROP") && !s[3].1.contains("*.*"));
    }

    #[test]
    fn the_default_config_is_one_the_service_reads() {
        let c = Config::parse(CONFIG, &default_config()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:5000");
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.key_file, Path::new(KEY_COPY));
        assert_eq!(c.database.password_file, Path::new(DB_PASSWORD));
        assert_eq!(c.realms.len(), 1);
        appliance_otp::directory::FlatFileResolver::parse(USERS, USERS_HEADER).unwrap();
    }
}
