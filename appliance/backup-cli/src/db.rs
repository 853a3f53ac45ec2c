//! The token database through MariaDB's own client tools (`sys::Cmd`):
//! a consistent logical dump (`mariadb-dump --single-transaction`), a load
//! into a side database, and the switch: one `RENAME TABLE` statement that
//! moves every current table aside and every restored table in, which
//! MariaDB performs atomically.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sys::{Cmd, Out};
use crate::Error;

/// Where the token database is. The appliance's root reaches MariaDB over
/// its Unix socket with `unix_socket` authentication: no password exists
/// to pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Db {
    pub socket: PathBuf,
    pub user: String,
    pub database: String,
}

/// A database name we put into SQL: letters, digits and `_` only.
pub fn check_name(field: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{field}: {name:?} is not a database name (use 1 to 48 of a-z, 0-9, _)"
        )))
    }
}

impl Db {
    /// The side database a restore loads into.
    pub fn restore_name(&self) -> String {
        format!("{}_restore", self.database)
    }

    /// Where the switch moves the current tables (kept for undo until the
    /// next restore).
    pub fn previous_name(&self) -> String {
        format!("{}_previous", self.database)
    }

    fn client(&self, program: &str) -> Cmd {
        Cmd::new(program)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--user={}", self.user))
            .arg("--default-character-set=utf8mb4")
    }

    /// Runs SQL; returns the rows, tab-separated, one per line.
    pub fn sql(&self, statement: &str) -> Result<String, Error> {
        Ok(self
            .client("mariadb")
            .arg("--batch")
            .arg("--skip-column-names")
            .arg("-e")
            .arg(statement)
            .run(None, Out::Capture)?)
    }

    /// The tables of `database` (empty when it does not exist).
    pub fn tables(&self, database: &str) -> Result<Vec<String>, Error> {
        let out = self.sql(&format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{database}' \
             ORDER BY table_name"
        ))?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// The key-check value stored in `database` (None before the service
    /// first started, or when there is no `config` table).
    pub fn key_check(&self, database: &str) -> Result<Option<String>, Error> {
        if !self.tables(database)?.iter().any(|t| t == "config") {
            return Ok(None);
        }
        let out = self.sql(&format!(
            "SELECT value FROM `{database}`.config WHERE name = 'key_check'"
        ))?;
        Ok(out.lines().next().map(str::to_owned))
    }

    /// The schema version (the otp store's migrations), 0 if none.
    pub fn schema_version(&self) -> Result<u32, Error> {
        if !self
            .tables(&self.database)?
            .iter()
            .any(|t| t == "schema_version")
        {
            return Ok(0);
        }
        let out = self.sql(&format!(
            "SELECT COALESCE(MAX(version), 0) FROM `{}`.schema_version",
            self.database
        ))?;
        out.trim()
            .parse()
            .map_err(|_| Error::Db(format!("schema_version is {:?}", out.trim())))
    }

    /// A consistent dump of the database (one transaction, no dump date,
    /// no database name inside: it loads into any database) into `out`.
    pub fn dump(&self, out: File) -> Result<(), Error> {
        self.client("mariadb-dump")
            .arg("--single-transaction")
            .arg("--skip-dump-date")
            .arg("--skip-comments")
            .arg("--hex-blob")
            .arg("--no-tablespaces")
            .arg(&self.database)
            .run(None, Out::File(out))?;
        Ok(())
    }

    /// A fresh, empty `<db>_restore`.
    pub fn prepare_restore(&self) -> Result<(), Error> {
        let r = self.restore_name();
        self.sql(&format!(
            "DROP DATABASE IF EXISTS `{r}`; CREATE DATABASE `{r}`"
        ))?;
        Ok(())
    }

    /// An empty `<db>_previous` for the switch to move the current tables to.
    pub fn prepare_previous(&self) -> Result<(), Error> {
        let p = self.previous_name();
        self.sql(&format!(
            "DROP DATABASE IF EXISTS `{p}`; CREATE DATABASE `{p}`"
        ))?;
        Ok(())
    }

    fn checksums(&self, database: &str) -> Result<Vec<(String, String)>, Error> {
        let tables = self.tables(database)?;
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = tables
            .iter()
            .map(|t| format!("`{database}`.`{t}`"))
            .collect();
        let out = self.sql(&format!("CHECKSUM TABLE {} EXTENDED", list.join(", ")))?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let (name, sum) = l.split_once('\t')?;
                let table = name.split_once('.').map_or(name, |(_, t)| t);
                Some((table.to_owned(), sum.to_owned()))
            })
            .collect())
    }

    /// Whether `<db>` already holds exactly what `<db>_restore` holds (the
    /// same tables with the same row checksums): then there is nothing to
    /// switch, and `<db>_previous` keeps what it has.
    pub fn restore_is_current(&self) -> Result<bool, Error> {
        let restored = self.checksums(&self.restore_name())?;
        Ok(!restored.is_empty() && restored == self.checksums(&self.database)?)
    }

    /// Loads a dump into `<db>_restore`.
    pub fn load(&self, dump: &Path) -> Result<(), Error> {
        self.client("mariadb")
            .arg("--batch")
            .arg(format!("--database={}", self.restore_name()))
            .run(Some(dump), Out::Capture)?;
        Ok(())
    }

    /// Drops `<db>_restore` (a roll-back, or the empty shell after a switch).
    pub fn drop_restore(&self) -> Result<(), Error> {
        self.sql(&format!(
            "DROP DATABASE IF EXISTS `{}`",
            self.restore_name()
        ))?;
        Ok(())
    }

    /// The switch: one `RENAME TABLE` moves every current table to
    /// `<db>_previous` and every restored one into `<db>`. Idempotent: when
    /// `<db>_restore` has no tables any more, the switch has happened.
    pub fn switch(&self) -> Result<bool, Error> {
        let (db, r, p) = (&self.database, self.restore_name(), self.previous_name());
        let restored = self.tables(&r)?;
        if restored.is_empty() {
            return Ok(false);
        }
        let mut parts: Vec<String> = self
            .tables(db)?
            .iter()
            .map(|t| format!("`{db}`.`{t}` TO `{p}`.`{t}`"))
            .collect();
        parts.extend(
            restored
                .iter()
                .map(|t| format!("`{r}`.`{t}` TO `{db}`.`{t}`")),
        );
        self.sql(&format!("RENAME TABLE {}", parts.join(", ")))?;
        Ok(true)
    }
}
