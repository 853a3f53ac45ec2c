//! The restore's journal (`/var/lib/appliance-backup/journal.json`, 0600)
//! and the two ways out of an interrupted restore.
//!
//! A restore writes the journal in phase `prepare` *before* it creates
//! anything, listing everything it will create: each new file as
//! `.<name>.restore-new` next to its target, the new generation of the
//! desired state, the side database `<db>_restore`. Once all of that is
//! complete and synced, the journal is rewritten in phase `commit` (an
//! atomic rename: the commit point). Then the renames, the generation
//! switch and the database switch run; each is idempotent, so they can be
//! repeated after a crash. `recover` runs first in every restore and at boot: a
//! `prepare` journal is rolled back (what it lists is removed: the old
//! state stays), a `commit` journal is rolled forward.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use appliance_backup::ComponentId;
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::layout::Appliance;
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Prepare,
    Commit,
}

/// One file switched in by a rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    pub from: PathBuf,
    pub to: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub phase: Phase,
    /// SHA-256 over the backup files' SHA-256 values, in order.
    pub backup: String,
    /// The components asked for (`None`: all in the backup).
    pub requested: Option<Vec<ComponentId>>,
    /// The components restored.
    pub components: Vec<ComponentId>,
    pub renames: Vec<Rename>,
    /// The desired state's generation to make current.
    pub generation: Option<u64>,
    /// Whether the restore creates that generation (a roll-back removes it).
    pub generation_created: bool,
    /// The token database to switch.
    pub db: Option<Db>,
}

/// How an interrupted restore ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// Stopped before its commit point: everything it made is removed.
    RolledBack,
    /// Stopped after its commit point: completed.
    Completed(Journal),
}

static CHECKPOINTS: AtomicU64 = AtomicU64::new(0);

/// Test-only crash hook: with `APPLIANCE_BACKUP_TEST_CRASH_AT=n` the
/// process kills itself (SIGKILL, no clean-up) at its n-th checkpoint.
pub fn checkpoint() {
    let n = CHECKPOINTS.fetch_add(1, Ordering::SeqCst) + 1;
    if let Ok(v) = std::env::var("APPLIANCE_BACKUP_TEST_CRASH_AT") {
        if v.parse::<u64>().ok() == Some(n) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("syncing", dir))
}

/// Writes `bytes` to `target` through a synced temporary file and a rename.
pub(crate) fn write_atomic(target: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    let tmp = dir.join(format!(
        ".{}.tmp",
        target.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(Error::io("creating", &tmp))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(Error::io("writing", &tmp))?;
    fs::rename(&tmp, target).map_err(Error::io("renaming to", target))?;
    sync_dir(dir)
}

impl Journal {
    pub fn read(app: &Appliance) -> Result<Option<Journal>, Error> {
        let p = app.journal();
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading", p)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Invalid {
                path: p,
                message: format!("the restore journal is damaged ({e}); see docs/backup.md"),
            })
    }

    pub fn write(&self, app: &Appliance) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Invalid {
            path: app.journal(),
            message: e.to_string(),
        })?;
        write_atomic(&app.journal(), &bytes, 0o600)
    }

    fn generation_dir(app: &Appliance, n: u64) -> PathBuf {
        app.under(appliance_config::paths::STATE_DIR)
            .join(n.to_string())
    }

    /// Removes everything a `prepare` journal lists, then the journal.
    pub fn roll_back(&self, app: &Appliance) -> Result<(), Error> {
        for r in &self.renames {
            remove_if_present(&r.from)?;
        }
        if let (Some(n), true) = (self.generation, self.generation_created) {
            let dir = Self::generation_dir(app, n);
            let tmp = dir.with_file_name(format!(".new-{n}"));
            for d in [tmp, dir] {
                if d.exists() {
                    fs::remove_dir_all(&d).map_err(Error::io("removing", &d))?;
                }
            }
        }
        if let Some(db) = &self.db {
            db.drop_restore()?;
        }
        finish(app)
    }

    /// Performs the switch of a `commit` journal (idempotent), then
    /// removes the journal.
    pub fn roll_forward(&self, app: &Appliance) -> Result<(), Error> {
        for r in &self.renames {
            if fs::symlink_metadata(&r.from).is_ok() {
                fs::rename(&r.from, &r.to).map_err(Error::io("renaming to", &r.to))?;
                sync_dir(r.to.parent().unwrap_or(Path::new("/")))?;
            }
            checkpoint();
        }
        if let Some(n) = self.generation {
            app.generations().switch(n).map_err(|e| Error::Invalid {
                path: Self::generation_dir(app, n),
                message: e.to_string(),
            })?;
            sync_dir(&app.under(appliance_config::paths::STATE_DIR))?;
            checkpoint();
        }
        if let Some(db) = &self.db {
            db.switch()?;
            checkpoint();
            db.drop_restore()?;
        }
        finish(app)
    }
}

fn remove_if_present(p: &Path) -> Result<(), Error> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", p)(e)),
    }
}

/// Removes the journal (the end of a restore, either way) and the staging
/// directory's contents.
fn finish(app: &Appliance) -> Result<(), Error> {
    remove_if_present(&app.journal())?;
    sync_dir(&app.work_dir())?;
    clear_staging(app)
}

pub fn clear_staging(app: &Appliance) -> Result<(), Error> {
    let s = app.staging();
    if s.exists() {
        fs::remove_dir_all(&s).map_err(Error::io("removing", &s))?;
    }
    Ok(())
}

/// Ends an interrupted restore, if there is one (see the module text).
pub fn recover(app: &Appliance) -> Result<Option<Recovered>, Error> {
    let Some(j) = Journal::read(app)? else {
        return Ok(None);
    };
    match j.phase {
        Phase::Prepare => {
            j.roll_back(app)?;
            Ok(Some(Recovered::RolledBack))
        }
        Phase::Commit => {
            j.roll_forward(app)?;
            Ok(Some(Recovered::Completed(j)))
        }
    }
}
