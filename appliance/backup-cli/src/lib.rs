//! The appliance's `appliance-backup` command (docs/backup.md): takes a
//! backup of the running appliance's components, shows what a backup
//! holds, and restores chosen components as a staged, journaled, crash-safe
//! switch. The file format is the pure library `appliance-backup`; this
//! crate adds where the components live on the appliance (`layout`), the
//! token database through MariaDB's client tools (`db`, spawned only by
//! `sys`), and the restore's journal (`journal`, `restore`).

pub mod create;
pub mod db;
pub mod journal;
pub mod layout;
pub mod passphrase;
pub mod restore;
pub mod sys;

use std::path::PathBuf;

use appliance_backup::{BackupError, ComponentId};

/// Every way a command of this crate fails.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cmd(#[from] sys::CmdError),
    #[error("token database: {0}")]
    Db(String),
    #[error("{0}")]
    Usage(String),
    #[error(
        "the database key and the token database do not belong together (key check {key} vs \
         {db}); {hint}"
    )]
    KeyMismatch {
        key: String,
        db: String,
        hint: &'static str,
    },
    #[error("component {0} is not in the backup (it holds: {1})")]
    NotInBackup(ComponentId, String),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Error {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}

/// Parses `etc,tls,db-key,token-db` (or `all`).
pub fn parse_components(list: &str) -> Result<Vec<ComponentId>, Error> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "all" {
            return Ok(ComponentId::ALL.to_vec());
        }
        let id = ComponentId::ALL
            .into_iter()
            .find(|c| c.as_str() == part)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--components: unknown component {part:?}; known: all, etc, db-key, tls, token-db"
                ))
            })?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(
            "--components: empty; name at least one of etc, db-key, tls, token-db (or all)".into(),
        ));
    }
    out.sort();
    Ok(out)
}
