//! `appliance-backup inspect` and `restore`. Both decrypt and check the
//! whole file(s) into the staging directory first (`read_backup`); a
//! refusal leaves the appliance as it was. `restore` then prepares every
//! chosen component next to the current one, commits through the journal
//! and switches (see `journal`).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use appliance_backup::{
    read_backup, Component, ComponentId, Manifest, ReadOptions, SecretString, Summary,
};
use appliance_config::{keys, paths, DesiredState};
use sha2::{Digest, Sha256};

use crate::journal::{self, checkpoint, sync_dir, Journal, Phase, Recovered, Rename};
use crate::layout::{self, Appliance, DB_KEY_FILE, DUMP_FILE, STATE_FILE};
use crate::Error;

/// What `inspect` and `restore` are given.
pub struct ReadRequest<'a> {
    /// One file, or the key-only and the data-only file of one backup.
    pub files: Vec<PathBuf>,
    pub passphrase: &'a SecretString,
    pub max_work_factor: u8,
    /// The model backups must be of (`None`: this appliance's, from the
    /// handover record).
    pub model: Option<String>,
}

/// One or two checked files, staged.
pub struct Staged {
    pub summaries: Vec<Summary>,
    /// Each component: which summary holds it.
    pub components: BTreeMap<ComponentId, usize>,
}

impl Staged {
    pub fn component(&self, id: ComponentId) -> Option<(&Summary, &Component)> {
        let s = &self.summaries[*self.components.get(&id)?];
        Some((s, s.manifest.component(id)?))
    }

    pub fn manifests(&self) -> impl Iterator<Item = &Manifest> {
        self.summaries.iter().map(|s| &s.manifest)
    }
}

/// Decrypts and checks every file into `staging/<i>/`. On a refusal the
/// staging directory is removed again (and the command's directory, when
/// this call made it): nothing on the data partition changed.
pub fn stage(app: &Appliance, r: &ReadRequest<'_>) -> Result<Staged, Error> {
    if r.files.is_empty() || r.files.len() > 2 {
        return Err(Error::Usage(
            "give one backup file, or the key-only and the data-only file of one backup".into(),
        ));
    }
    let model = match &r.model {
        Some(m) => m.clone(),
        None => app.handover()?.release.model,
    };
    let made = missing_dirs(app);
    let result = stage_inner(app, r, &model);
    if result.is_err() {
        let _ = journal::clear_staging(app);
        remove_dirs(&made);
    }
    result
}

/// Decrypts and checks the file(s) and returns their manifests; the
/// staging directory is emptied again and nothing stays behind.
pub fn inspect(app: &Appliance, r: &ReadRequest<'_>) -> Result<Vec<Manifest>, Error> {
    let made = missing_dirs(app);
    let staged = stage(app, r);
    let _ = journal::clear_staging(app);
    remove_dirs(&made);
    Ok(staged?.manifests().cloned().collect())
}

/// The command's directory and its missing parents (created by `stage`,
/// removed again after a refusal: nothing on the data partition changes).
fn missing_dirs(app: &Appliance) -> Vec<PathBuf> {
    let mut made = Vec::new();
    let mut d = app.work_dir();
    while !d.exists() {
        made.push(d.clone());
        if !d.pop() {
            break;
        }
    }
    made
}

fn remove_dirs(made: &[PathBuf]) {
    for d in made {
        let _ = fs::remove_dir(d);
    }
}

fn stage_inner(app: &Appliance, r: &ReadRequest<'_>, model: &str) -> Result<Staged, Error> {
    let work = app.work_dir();
    fs::create_dir_all(&work).map_err(Error::io("creating", &work))?;
    fs::set_permissions(&work, fs::Permissions::from_mode(0o700))
        .map_err(Error::io("setting the mode of", &work))?;
    journal::clear_staging(app)?;
    let mut summaries = Vec::new();
    let mut components = BTreeMap::new();
    for (i, f) in r.files.iter().enumerate() {
        let dir = app.staging().join(i.to_string());
        fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        let s = read_backup(
            f,
            r.passphrase,
            &ReadOptions {
                expected_model: model,
                max_work_factor: r.max_work_factor,
                staging: &dir,
            },
        )?;
        for c in &s.manifest.components {
            if components.insert(c.id, i).is_some() {
                return Err(Error::Usage(format!(
                    "component {} is in both files; give the key-only and the data-only file \
                     of one backup",
                    c.id
                )));
            }
        }
        summaries.push(s);
    }
    let staged = Staged {
        summaries,
        components,
    };
    // The key and the data of one backup carry the same key check.
    let checks: Vec<&String> = staged
        .manifests()
        .flat_map(|m| m.components.iter().filter_map(|c| c.key_check.as_ref()))
        .collect();
    if let Some(first) = checks.first() {
        if let Some(other) = checks.iter().find(|c| c != &first) {
            return Err(Error::KeyMismatch {
                key: (*first).clone(),
                db: (*other).clone(),
                hint: "these files are not the key and the data of one backup",
            });
        }
    }
    if let Some((s, c)) = staged.component(ComponentId::DbKey) {
        let bytes = read_file(&s.staged_file(ComponentId::DbKey, DB_KEY_FILE))?;
        let real = layout::key_check_of(&bytes).map_err(|message| Error::Invalid {
            path: r.files[staged.components[&ComponentId::DbKey]].clone(),
            message: format!("db-key: {message}"),
        })?;
        if c.key_check.as_deref() != Some(real.as_str()) {
            return Err(Error::KeyMismatch {
                key: real,
                db: c.key_check.clone().unwrap_or_default(),
                hint: "the backup's key does not match its own manifest",
            });
        }
    }
    Ok(staged)
}

fn read_file(p: &Path) -> Result<Vec<u8>, Error> {
    fs::read(p).map_err(Error::io("reading", p))
}

/// The result of `restore`, one line per component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// An interrupted restore found at the start, and how it ended.
    pub recovered: Option<String>,
    pub lines: Vec<(ComponentId, String)>,
}

fn backup_id(files: &[PathBuf]) -> Result<String, Error> {
    let mut all = Sha256::new();
    for f in files {
        let mut h = Sha256::new();
        let mut file = fs::File::open(f).map_err(Error::io("reading", f))?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(Error::io("reading", f))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        all.update(h.finalize());
    }
    Ok(hex::encode(all.finalize()))
}

/// A step of a restore, for a progress display: the component it works on
/// (`None`: the backup as a whole) and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub component: Option<ComponentId>,
    pub what: &'static str,
}

/// Restores `requested` (`None`: every component the backup holds).
pub fn restore(
    app: &Appliance,
    r: &ReadRequest<'_>,
    requested: Option<Vec<ComponentId>>,
) -> Result<Report, Error> {
    restore_with_progress(app, r, requested, &|_| {})
}

/// [`restore`], telling `progress` each step as it starts.
pub fn restore_with_progress(
    app: &Appliance,
    r: &ReadRequest<'_>,
    requested: Option<Vec<ComponentId>>,
    progress: &dyn Fn(Step),
) -> Result<Report, Error> {
    let id = backup_id(&r.files)?;
    let recovered = match journal::recover(app)? {
        None => None,
        Some(Recovered::RolledBack) => {
            Some("an interrupted restore was rolled back (nothing of it was applied)".to_owned())
        }
        Some(Recovered::Completed(j)) => {
            if j.backup == id && j.requested == requested {
                let lines = j
                    .components
                    .iter()
                    .map(|c| {
                        (
                            *c,
                            "restored (the interrupted restore was completed)".into(),
                        )
                    })
                    .collect();
                return Ok(Report {
                    recovered: Some("an interrupted restore of this backup was completed".into()),
                    lines,
                });
            }
            Some("an interrupted restore of another backup was completed first".to_owned())
        }
    };
    let made = missing_dirs(app);
    progress(Step {
        component: None,
        what: "decrypting the backup and checking every file",
    });
    let staged = stage(app, r)?;
    let result = apply(app, &staged, &id, requested, progress);
    let _ = journal::clear_staging(app);
    if result.is_err() {
        remove_dirs(&made);
    }
    result.map(|lines| Report { recovered, lines })
}

/// The file renames and the generation a restore needs; `prepare` makes them.
struct Plan {
    renames: Vec<(ComponentId, Rename, PathBuf, u32, Owner)>,
    generation: Option<(u64, bool, PathBuf)>,
    db: bool,
}

fn apply(
    app: &Appliance,
    staged: &Staged,
    id: &str,
    requested: Option<Vec<ComponentId>>,
    progress: &dyn Fn(Step),
) -> Result<Vec<(ComponentId, String)>, Error> {
    let chosen: Vec<ComponentId> = match &requested {
        Some(list) => list.clone(),
        None => staged.components.keys().copied().collect(),
    };
    let held = staged
        .components
        .keys()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    for c in &chosen {
        if !staged.components.contains_key(c) {
            return Err(Error::NotInBackup(*c, held));
        }
    }
    check_keys(app, staged, &chosen)?;
    let plan = plan(app, staged, &chosen)?;

    let mut j = Journal {
        phase: Phase::Prepare,
        backup: id.to_owned(),
        requested,
        components: chosen.clone(),
        renames: plan.renames.iter().map(|r| r.1.clone()).collect(),
        generation: plan.generation.as_ref().map(|g| g.0),
        generation_created: plan.generation.as_ref().is_some_and(|g| g.1),
        db: if plan.db { app.db.clone() } else { None },
    };
    j.write(app)?;
    checkpoint();
    let db_switch = match prepare(app, staged, &plan, progress) {
        Ok(s) => s,
        Err(e) => {
            j.roll_back(app)?;
            return Err(e);
        }
    };
    progress(Step {
        component: None,
        what: "switching every chosen component to the restored one",
    });
    j.phase = Phase::Commit;
    j.write(app)?;
    checkpoint();
    j.roll_forward(app)?;
    Ok(report(app, &chosen, &plan, db_switch))
}

/// Refuses a key and a database that do not belong together, before
/// anything is changed.
fn check_keys(app: &Appliance, staged: &Staged, chosen: &[ComponentId]) -> Result<(), Error> {
    let backup_key = staged
        .component(ComponentId::DbKey)
        .and_then(|(_, c)| c.key_check.clone());
    if chosen.contains(&ComponentId::TokenDb) {
        let db_check = staged
            .component(ComponentId::TokenDb)
            .and_then(|(_, c)| c.key_check.clone())
            .unwrap_or_default();
        let (key, hint) = if chosen.contains(&ComponentId::DbKey) {
            (backup_key.clone(), "the backup's key and database differ")
        } else {
            (
                app.key_check()?,
                "this appliance's database key is not the one the backup's database was made \
                 with: restore the db-key component (or the key-only file) of the same backup too",
            )
        };
        let key = key.unwrap_or_else(|| "none".into());
        if key != db_check {
            return Err(Error::KeyMismatch {
                key,
                db: db_check,
                hint,
            });
        }
    } else if chosen.contains(&ComponentId::DbKey) {
        if let (Some(db), Some(k)) = (&app.db, &backup_key) {
            if let Some(stored) = db.key_check(&db.database)? {
                if !stored.starts_with(k.as_str()) {
                    return Err(Error::KeyMismatch {
                        key: k.clone(),
                        db: stored.chars().take(16).collect(),
                        hint: "restoring this key alone would leave the current token database \
                               unreadable: restore the token-db component of the same backup too",
                    });
                }
            }
        }
    }
    Ok(())
}

fn same_file(target: &Path, staged: &Path, mode: u32) -> bool {
    let Ok(m) = fs::symlink_metadata(target) else {
        return false;
    };
    m.file_type().is_file()
        && m.permissions().mode() & 0o777 == mode
        && fs::read(target).ok() == fs::read(staged).ok()
}

fn plan(app: &Appliance, staged: &Staged, chosen: &[ComponentId]) -> Result<Plan, Error> {
    let mut renames = Vec::new();
    let mut generation = None;
    for &id in chosen {
        let Some((s, c)) = staged.component(id) else {
            continue;
        };
        for f in &c.files {
            let src = s.staged_file(id, &f.path);
            match app.target(id, &f.path)? {
                Some(to) if !same_file(&to, &src, f.mode) => {
                    let name = to.file_name().unwrap_or_default().to_string_lossy();
                    let from = to.with_file_name(format!(".{name}.restore-new"));
                    let owner = owner_for(&to);
                    renames.push((id, Rename { from, to }, src, f.mode, owner));
                }
                None if f.path == STATE_FILE => {
                    generation = plan_generation(app, &src)?;
                }
                Some(_) | None => {}
            }
        }
    }
    let db = chosen.contains(&ComponentId::TokenDb);
    if db && app.db.is_none() {
        return Err(Error::Usage(
            "token-db: no database given (--db-socket, --db-name)".into(),
        ));
    }
    Ok(Plan {
        renames,
        generation,
        db,
    })
}

/// The generation that holds the backup's desired state: none when the
/// current one equals it; an existing newer one with the same bytes (left
/// by an interrupted restore); else the next number, to be created.
fn plan_generation(app: &Appliance, src: &Path) -> Result<Option<(u64, bool, PathBuf)>, Error> {
    let bytes = read_file(src)?;
    let state: DesiredState = serde_json::from_slice(&bytes).map_err(|e| Error::Invalid {
        path: PathBuf::from(format!("etc/{STATE_FILE}")),
        message: format!("the backup's desired state does not parse: {e}"),
    })?;
    state.validate().map_err(|e| Error::Invalid {
        path: PathBuf::from(format!("etc/{STATE_FILE}")),
        message: e.to_string(),
    })?;
    let store = app.generations();
    let err = |e: appliance_config::generation::GenerationError| Error::Invalid {
        path: app.under(paths::STATE_DIR),
        message: e.to_string(),
    };
    let current = store.current_number().map_err(err)?;
    let dir = app.under(paths::STATE_DIR);
    let file_of = |n: u64| dir.join(n.to_string()).join("state.json");
    let numbers = store.numbers().map_err(err)?;
    for &n in &numbers {
        if fs::read(file_of(n)).ok().as_deref() == Some(&bytes[..]) {
            if Some(n) == current {
                return Ok(None);
            }
            if Some(n) > current {
                return Ok(Some((n, false, src.to_owned())));
            }
        }
    }
    let n = numbers.last().map_or(1, |l| l + 1);
    Ok(Some((n, true, src.to_owned())))
}

/// The owner and group a restored file gets.
type Owner = (u32, u32);

/// A restored file keeps the owner and group of the file it replaces
/// (`clients.conf` stays readable by FreeRADIUS's group, which a backup
/// does not record); a file that did not exist gets root and its
/// directory's group.
fn owner_for(target: &Path) -> Owner {
    if let Ok(m) = fs::symlink_metadata(target) {
        if m.file_type().is_file() {
            return (m.uid(), m.gid());
        }
    }
    let dir_gid = target
        .parent()
        .and_then(|d| fs::metadata(d).ok())
        .map_or(0, |m| m.gid());
    (0, dir_gid)
}

fn copy_private(src: &Path, to: &Path, mode: u32, owner: Option<Owner>) -> Result<(), Error> {
    let _ = fs::remove_file(to);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)
        .map_err(Error::io("creating", to))?;
    if let Some((uid, gid)) = owner {
        // Skipped when it is already so, so that tests as a user without
        // CAP_CHOWN still run.
        let m = out.metadata().map_err(Error::io("reading", to))?;
        if (m.uid(), m.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(&out, Some(uid), Some(gid))
                .map_err(Error::io("setting the owner of", to))?;
        }
    }
    out.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(Error::io("setting the mode of", to))?;
    let mut inp = fs::File::open(src).map_err(Error::io("reading", src))?;
    std::io::copy(&mut inp, &mut out).map_err(Error::io("writing", to))?;
    out.sync_all().map_err(Error::io("writing", to))
}

/// Makes everything the journal lists, synced; the current state is not
/// touched.
/// Returns whether the token database needs its switch.
fn prepare(
    app: &Appliance,
    staged: &Staged,
    plan: &Plan,
    progress: &dyn Fn(Step),
) -> Result<bool, Error> {
    let mut db_switch = false;
    let mut told = None;
    for (id, r, src, mode, owner) in &plan.renames {
        if told != Some(*id) {
            told = Some(*id);
            progress(Step {
                component: Some(*id),
                what: "writing the restored files next to the current ones",
            });
        }
        let dir = r.to.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        copy_private(src, &r.from, *mode, Some(*owner))?;
        sync_dir(dir)?;
        checkpoint();
    }
    if let Some((n, true, src)) = &plan.generation {
        progress(Step {
            component: Some(ComponentId::Etc),
            what: "writing the restored configuration as a new generation",
        });
        let dir = app.under(paths::STATE_DIR);
        let tmp = dir.join(format!(".new-{n}"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(Error::io("creating", &tmp))?;
        // 0644 as every generation's: no secret, and the dashboard reads it.
        copy_private(src, &tmp.join("state.json"), 0o644, None)?;
        sync_dir(&tmp)?;
        let fin = dir.join(n.to_string());
        fs::rename(&tmp, &fin).map_err(Error::io("renaming to", &fin))?;
        sync_dir(&dir)?;
        checkpoint();
    }
    if plan.db {
        let db = app
            .db
            .as_ref()
            .ok_or_else(|| Error::Db("no database".into()))?;
        let (s, c) = staged
            .component(ComponentId::TokenDb)
            .ok_or_else(|| Error::Db("no token-db component".into()))?;
        progress(Step {
            component: Some(ComponentId::TokenDb),
            what: "loading the token database into a new copy next to the current one",
        });
        db.prepare_restore()?;
        checkpoint();
        db.load(&s.staged_file(ComponentId::TokenDb, DUMP_FILE))?;
        checkpoint();
        if let (Some(stored), Some(k)) = (db.key_check(&db.restore_name())?, &c.key_check) {
            if !stored.starts_with(k.as_str()) {
                return Err(Error::KeyMismatch {
                    key: k.clone(),
                    db: stored.chars().take(16).collect(),
                    hint: "the dump's own key check differs from its manifest; nothing was changed",
                });
            }
        }
        if db.restore_is_current()? {
            // Already restored (e.g. the same restore run again after it
            // completed): nothing to switch, the previous tables stay.
            db.drop_restore()?;
        } else {
            db.prepare_previous()?;
            db_switch = true;
        }
        checkpoint();
    }
    Ok(db_switch)
}

fn report(
    app: &Appliance,
    chosen: &[ComponentId],
    plan: &Plan,
    db_switch: bool,
) -> Vec<(ComponentId, String)> {
    let mut out = Vec::new();
    for &id in chosen {
        let n = plan.renames.iter().filter(|r| r.0 == id).count();
        let mut line = match n {
            0 => "restored (the files were already identical)".to_owned(),
            n => format!("restored ({n} file(s) switched)"),
        };
        match id {
            ComponentId::Etc => {
                if let Some((g, _, _)) = &plan.generation {
                    line = format!("{line}; desired state generation {g} is current");
                }
                line.push_str("; takes effect with `appliance-firstboot run` or a reboot");
            }
            ComponentId::Tls => {
                if let Some((hex, spki)) = fs::read_to_string(app.under(paths::TLS_CERT))
                    .ok()
                    .and_then(|p| keys::tls_fingerprints(&p))
                {
                    line = format!(
                        "{line}; certificate SHA-256 {}, SPKI {spki}",
                        keys::colon_hex(&hex)
                    );
                }
            }
            ComponentId::DbKey => {}
            ComponentId::TokenDb if !db_switch => {
                line = "restored (the database already held exactly this data)".into();
            }
            ComponentId::TokenDb => {
                line = "restored (switched in by one RENAME TABLE; the previous tables stay in \
                        `<db>_previous` until the next restore)"
                    .into();
            }
        }
        out.push((id, line));
    }
    out
}
