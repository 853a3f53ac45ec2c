//! `appliance-backup create`: the chosen components of the running
//! appliance into one file, or the key and the rest into two.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use appliance_backup::{
    write_backup, BackupInput, ComponentId, Content, InputComponent, InputFile, Manifest,
    SecretString, Selection,
};

use crate::layout::{Appliance, DUMP_FILE};
use crate::Error;

/// What `create` is asked for.
pub struct CreateOptions<'a> {
    pub components: Vec<ComponentId>,
    pub out: PathBuf,
    /// With it, `db-key` goes into this file alone and the rest into `out`.
    pub key_out: Option<PathBuf>,
    pub passphrase: &'a SecretString,
    pub work_factor: u8,
    /// Seconds since the epoch (the manifest's `created`, every mtime).
    pub created: u64,
}

/// Removes the temporary dump however `create` ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn private_file(p: &Path) -> Result<File, Error> {
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(p)
        .map_err(Error::io("creating", p))
}

/// Writes the backup file(s); returns each file with its manifest.
pub fn create(app: &Appliance, o: &CreateOptions<'_>) -> Result<Vec<(PathBuf, Manifest)>, Error> {
    if o.key_out.is_some() && !o.components.contains(&ComponentId::DbKey) {
        return Err(Error::Usage(
            "--key-out: the key-only file needs the db-key component in --components".into(),
        ));
    }
    let needs_key = o.components.iter().any(|c| c.has_key_check());
    let key_check = if needs_key {
        Some(app.key_check()?.ok_or_else(|| {
            Error::Usage(format!(
                "db-key/token-db: this appliance has no database key ({}) yet",
                app.under(appliance_config::paths::DB_KEY).display()
            ))
        })?)
    } else {
        None
    };
    let mut dump = None;
    let mut db_schema = 1;
    if o.components.contains(&ComponentId::TokenDb) {
        let db = app.db.as_ref().ok_or_else(|| {
            Error::Usage("token-db: no database given (--db-socket, --db-name)".into())
        })?;
        if let (Some(stored), Some(k)) = (db.key_check(&db.database)?, &key_check) {
            if !stored.starts_with(k.as_str()) {
                return Err(Error::KeyMismatch {
                    key: k.clone(),
                    db: stored.chars().take(16).collect(),
                    hint: "the token database was made with another key; nothing was written",
                });
            }
        }
        db_schema = db.schema_version()?.max(1);
        let p = app
            .work_dir()
            .join(format!("dump-{}.sql", std::process::id()));
        let tmp = TempFile(p.clone());
        db.dump(private_file(&p)?)?;
        dump = Some(tmp);
    }

    let mut components = Vec::new();
    for &id in &o.components {
        let files: Vec<InputFile<'static>> = if id == ComponentId::TokenDb {
            let p = dump.as_ref().map(|d| d.0.clone()).unwrap_or_default();
            vec![InputFile {
                path: DUMP_FILE.into(),
                mode: 0o600,
                content: Content::path(p),
            }]
        } else {
            app.files(id)?
                .into_iter()
                .map(|f| InputFile {
                    path: f.name,
                    mode: f.mode,
                    content: Content::path(f.path),
                })
                .collect()
        };
        if files.is_empty() {
            return Err(Error::Usage(format!(
                "component {id}: nothing to back up on this appliance"
            )));
        }
        components.push(InputComponent {
            id,
            schema: if id == ComponentId::TokenDb {
                db_schema
            } else {
                1
            },
            key_check: if id.has_key_check() {
                key_check.clone()
            } else {
                None
            },
            files,
        });
    }
    let input = BackupInput {
        created: o.created,
        source: app.source()?,
        components,
    };
    let mut jobs = vec![];
    match &o.key_out {
        Some(k) => {
            jobs.push((k.clone(), Selection::KeyOnly));
            if o.components.len() > 1 {
                jobs.push((o.out.clone(), Selection::DataOnly));
            }
        }
        None => jobs.push((o.out.clone(), Selection::All)),
    }
    let mut written = Vec::new();
    for (path, sel) in jobs {
        let tmp = path.with_file_name(format!(
            ".{}.part",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        let guard = TempFile(tmp.clone());
        let out = BufWriter::with_capacity(256 * 1024, private_file(&tmp)?);
        let (mut out, m) = write_backup(out, o.passphrase, o.work_factor, &input, sel)?;
        out.flush().map_err(Error::io("writing", &tmp))?;
        let f = out
            .into_inner()
            .map_err(|e| Error::io("writing", &tmp)(e.into_error()))?;
        f.sync_all().map_err(Error::io("writing", &tmp))?;
        fs::rename(&tmp, &path).map_err(Error::io("renaming to", &path))?;
        std::mem::forget(guard);
        written.push((path, m));
    }
    Ok(written)
}
