//! `appliance-firstboot request`'s backup and restore requests from the
//! dashboard (System → Backup, System → Restore): `backup.json`,
//! `restore-inspect.json` and `restore.json` in the web's requests
//! directory. Each request carries the passphrase (the file is 0600 and
//! removed right after reading; the passphrase is never logged) and is
//! done with the functions of `appliance-backup` (crate
//! `appliance-backup-cli`): `create`, `inspect`, `restore`. Progress and
//! results go to `/run/appliance/backup.json` and
//! `/run/appliance/restore.json` (0644, no secrets), echoing the request's
//! `id` so the web knows the status answers its own request.
//!
//! The web service owns its state directory: the root side never follows
//! a link there. Uploaded files must be plain regular files named in the
//! request by a bare name; a backup is written in the root side's own
//! directory, given to `appliance-web` (the owner of its state directory)
//! and renamed into `backups/` (a rename replaces a link, never follows it).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use appliance_backup::{ComponentId, Manifest, SecretString};
use appliance_backup::{DEFAULT_MAX_WORK_FACTOR, DEFAULT_WORK_FACTOR};
use appliance_backup_cli::create::{self, CreateOptions};
use appliance_backup_cli::db::Db;
use appliance_backup_cli::layout::Appliance;
use appliance_backup_cli::parse_components;
use appliance_backup_cli::restore::{self, ReadRequest};
use appliance_config::fsutil::{self, under};
use appliance_config::paths;
use serde::Deserialize;

use crate::system::System;

/// The backup's status for the web.
pub const BACKUP_STATUS: &str = "/run/appliance/backup.json";
/// The restore's (inspection and restore) status for the web.
pub const RESTORE_STATUS: &str = "/run/appliance/restore.json";
/// Where finished backups wait for their download (the web's).
pub const BACKUPS_DIR: &str = "/var/lib/appliance-web/backups";
/// Where the web streams uploaded backups.
pub const UPLOADS_DIR: &str = "/var/lib/appliance-web/restore";
/// The request kinds, in the order they are handled.
pub const KINDS: [&str; 3] = ["backup", "restore-inspect", "restore"];
/// A request file is small; a larger one is refused unread.
const MAX_REQUEST: u64 = 64 * 1024;

/// How the jobs reach the appliance.
pub struct Jobs {
    pub app: Appliance,
    /// The model backups must be of (`None`: this appliance's).
    pub model: Option<String>,
    pub work_factor: u8,
    pub max_work_factor: u8,
}

impl Jobs {
    /// The running appliance: `/`, MariaDB's socket, database `otp`.
    pub fn production(root: &Path) -> Jobs {
        Jobs {
            app: Appliance {
                root: root.to_owned(),
                db: Some(Db {
                    socket: PathBuf::from("/run/mysqld/mysqld.sock"),
                    user: "root".into(),
                    database: "otp".into(),
                }),
            },
            model: None,
            work_factor: DEFAULT_WORK_FACTOR,
            max_work_factor: DEFAULT_MAX_WORK_FACTOR,
        }
    }

    fn root(&self) -> &Path {
        &self.app.root
    }
}

/// One request file. No `Debug`: it holds the passphrase.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    request: String,
    /// Echoed in the status (the web's random id of this request).
    id: String,
    #[serde(default)]
    #[allow(dead_code)]
    requested_at: String,
    passphrase: String,
    /// `backup`, `restore`: component names (`all` for every one).
    #[serde(default)]
    components: Vec<String>,
    /// `backup`: the key alone and the rest as two files.
    #[serde(default)]
    split: bool,
    /// `restore-inspect`, `restore`: bare names in the uploads directory.
    #[serde(default)]
    files: Vec<String>,
}

pub use appliance_config::jobs::{
    ComponentProgress, ComponentSize, FileSummary, JobState, JobStatus,
};

fn status_path(root: &Path, kind: &str) -> PathBuf {
    under(
        root,
        if kind == "backup" {
            BACKUP_STATUS
        } else {
            RESTORE_STATUS
        },
    )
}

/// Writes a status file (0644).
pub fn write_status(root: &Path, kind: &str, s: &JobStatus) -> std::io::Result<()> {
    let mut json = serde_json::to_string_pretty(s).map_err(std::io::Error::other)?;
    json.push('\n');
    fsutil::write_atomic(&status_path(root, kind), json.as_bytes(), 0o644)
}

/// Reads a status file (tests, the console).
pub fn read_status(root: &Path, kind: &str) -> Option<JobStatus> {
    let b = fsutil::read_if_exists(&status_path(root, kind)).ok()??;
    serde_json::from_slice(&b).ok()
}

/// Puts a restored `etc` or `tls` into effect, given the configuration
/// generation current before the restore; returns the sentence for the
/// job's message (`crate::restored::put_into_effect` in production).
pub type ApplyEtc<'a> = dyn Fn(Option<u64>) -> Result<String, String> + 'a;

/// Handles every backup request present; returns (kind, outcome).
pub fn handle_all(
    jobs: &Jobs,
    sys: &dyn System,
    apply_etc: &ApplyEtc<'_>,
) -> std::io::Result<Vec<(String, String)>> {
    let _lock = crate::request::lock(jobs.root())?;
    let dir = under(jobs.root(), paths::REQUESTS_DIR);
    let mut out = Vec::new();
    for kind in KINDS {
        let file = dir.join(format!("{kind}.json"));
        let Ok(meta) = fs::symlink_metadata(&file) else {
            continue;
        };
        let bytes = if meta.is_file() && meta.len() <= MAX_REQUEST {
            fs::read(&file).ok()
        } else {
            None
        };
        // Removed right after reading: the passphrase does not stay on disk.
        fs::remove_file(&file)?;
        let outcome = match bytes {
            None => refuse(
                jobs,
                kind,
                "",
                &format!("{kind}.json is not a regular file of at most 64 KiB; ignored"),
            ),
            Some(b) => handle_one(jobs, sys, apply_etc, kind, &b),
        };
        println!("{kind}: {outcome}");
        out.push((kind.to_string(), outcome));
    }
    Ok(out)
}

fn refuse(jobs: &Jobs, kind: &str, id: &str, message: &str) -> String {
    let s = JobStatus::new(kind, id, JobState::Failed, message);
    if let Err(e) = write_status(jobs.root(), kind, &s) {
        eprintln!("cannot write the {kind} status: {e}");
    }
    format!("failed: {message}")
}

fn handle_one(
    jobs: &Jobs,
    sys: &dyn System,
    apply_etc: &ApplyEtc<'_>,
    kind: &str,
    bytes: &[u8],
) -> String {
    let r: Request = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(e) => {
            // The id, when readable, so the page shows the refusal.
            let id = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned))
                .unwrap_or_default();
            return refuse(jobs, kind, &id, &format!("{kind}.json: {e}"));
        }
    };
    if r.request != kind {
        return refuse(
            jobs,
            kind,
            &r.id,
            &format!(
                "{kind}.json: key `request` is {:?}, not {kind:?}",
                r.request
            ),
        );
    }
    if r.passphrase.is_empty() {
        return refuse(
            jobs,
            kind,
            &r.id,
            &format!("{kind}.json: key `passphrase` is empty"),
        );
    }
    let pass = SecretString::from(r.passphrase.clone());
    let running = JobStatus::new(kind, &r.id, JobState::Running, "working");
    if let Err(e) = write_status(jobs.root(), kind, &running) {
        eprintln!("cannot write the {kind} status: {e}");
    }
    let result = match kind {
        "backup" => backup(jobs, &r, &pass),
        "restore-inspect" => inspect(jobs, &r, &pass),
        _ => restore_job(jobs, sys, apply_etc, &r, &pass),
    };
    let status = match result {
        Ok(s) => s,
        Err(message) => {
            if kind != "backup" {
                remove_uploads(jobs, &r.files);
            }
            JobStatus::new(kind, &r.id, JobState::Failed, message)
        }
    };
    if let Err(e) = write_status(jobs.root(), kind, &status) {
        eprintln!("cannot write the {kind} status: {e}");
    }
    match status.state {
        JobState::Failed => format!("failed: {}", status.message),
        _ => status.message,
    }
}

fn components_of(list: &[String]) -> Result<Vec<ComponentId>, String> {
    parse_components(&list.join(","))
        .map_err(|e| e.to_string().replace("--components", "key `components`"))
}

/// `YYYYmmdd-HHMMSSZ` of a time.
fn stamp(unix: u64) -> String {
    let t = appliance_backup::manifest::format_time(unix);
    let (date, time) = t.split_once('T').unwrap_or((&t, ""));
    format!("{}-{}", date.replace('-', ""), time.replace(':', ""))
}

/// The web's directory `rel`, made by root if missing, never a link;
/// returns it with its owner (the web's user and group).
fn web_dir(jobs: &Jobs, rel: &str) -> Result<(PathBuf, u32, u32), String> {
    let dir = under(jobs.root(), rel);
    let state = dir.parent().unwrap_or(&dir).to_owned();
    let owner = fs::symlink_metadata(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(_) => {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid()))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    Ok((dir, owner.uid(), owner.gid()))
}

fn backup(jobs: &Jobs, r: &Request, pass: &SecretString) -> Result<JobStatus, String> {
    let components = components_of(&r.components)?;
    if r.split && !components.contains(&ComponentId::DbKey) {
        return Err("key `split`: the key-only file needs the db-key component".into());
    }
    let (dir, uid, gid) = web_dir(jobs, BACKUPS_DIR)?;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let host: String = jobs
        .app
        .source()
        .map_err(|e| e.to_string())?
        .hostname
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    let all = components.len() == ComponentId::ALL.len();
    let what = match (r.split, all) {
        (true, _) => "data".to_owned(),
        (false, true) => "all".to_owned(),
        (false, false) => components
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("+"),
    };
    let name = |what: &str| format!("{host}_{}_{what}.backup.age", stamp(created));
    let work = jobs.app.work_dir().join("out");
    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let out = work.join(name(&what));
    let key_out = r.split.then(|| work.join(name("key")));
    let written = create::create(
        &jobs.app,
        &CreateOptions {
            components,
            out,
            key_out,
            passphrase: pass,
            work_factor: jobs.work_factor,
            created,
        },
    );
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = fs::remove_dir_all(&work);
            return Err(e.to_string());
        }
    };
    let mut files = Vec::new();
    for (path, _) in &written {
        let file_name = path.file_name().unwrap_or_default().to_owned();
        let target = dir.join(&file_name);
        let moved = std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .and_then(|()| fs::rename(path, &target));
        if let Err(e) = moved {
            let _ = fs::remove_dir_all(&work);
            return Err(format!("moving the backup to {}: {e}", target.display()));
        }
        files.push(file_name.to_string_lossy().into_owned());
    }
    let _ = fs::remove_dir_all(&work);
    let mut s = JobStatus::new(
        "backup",
        &r.id,
        JobState::Done,
        format!("backup written: {}", files.join(", ")),
    );
    s.files = files;
    Ok(s)
}

/// The uploaded files named in a request: bare names of regular files.
fn uploads(jobs: &Jobs, names: &[String]) -> Result<Vec<PathBuf>, String> {
    if names.is_empty() || names.len() > 2 {
        return Err("key `files`: name one uploaded backup, or its key and its data file".into());
    }
    let dir = under(jobs.root(), UPLOADS_DIR);
    let mut out = Vec::new();
    for n in names {
        let bare = !n.is_empty()
            && !n.starts_with('.')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !bare {
            return Err(format!("key `files`: {n:?} is not a bare file name"));
        }
        let p = dir.join(n);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => out.push(p),
            Ok(_) => return Err(format!("key `files`: {n} is not a regular file")),
            Err(e) => return Err(format!("the uploaded file {n}: {e}; upload it again")),
        }
    }
    Ok(out)
}

fn remove_uploads(jobs: &Jobs, names: &[String]) {
    if let Ok(paths) = uploads(jobs, names) {
        for p in paths {
            let _ = fs::remove_file(p);
        }
    }
}

fn read_request<'a>(jobs: &Jobs, files: Vec<PathBuf>, pass: &'a SecretString) -> ReadRequest<'a> {
    ReadRequest {
        files,
        passphrase: pass,
        max_work_factor: jobs.max_work_factor,
        model: jobs.model.clone(),
    }
}

/// What a manifest shows on the summary.
pub fn summary_of(m: &Manifest) -> FileSummary {
    FileSummary {
        created: m.created.clone(),
        hostname: m.source.hostname.clone(),
        model: m.source.model.clone(),
        release: m.source.release.clone(),
        install_id: m.source.install_id.clone(),
        components: m
            .components
            .iter()
            .map(|c| ComponentSize {
                id: c.id.as_str().into(),
                files: c.files.len(),
                bytes: c.files.iter().map(|f| f.size).sum(),
            })
            .collect(),
    }
}

fn inspect(jobs: &Jobs, r: &Request, pass: &SecretString) -> Result<JobStatus, String> {
    let files = uploads(jobs, &r.files)?;
    let manifests =
        restore::inspect(&jobs.app, &read_request(jobs, files, pass)).map_err(|e| e.to_string())?;
    let mut s = JobStatus::new(
        "restore-inspect",
        &r.id,
        JobState::Inspected,
        "the passphrase is correct and every file checked",
    );
    s.summaries = manifests.iter().map(summary_of).collect();
    Ok(s)
}

fn restore_job(
    jobs: &Jobs,
    sys: &dyn System,
    apply_etc: &ApplyEtc<'_>,
    r: &Request,
    pass: &SecretString,
) -> Result<JobStatus, String> {
    let files = uploads(jobs, &r.files)?;
    let chosen = components_of(&r.components)?;
    let mut s = JobStatus::new("restore", &r.id, JobState::Running, "restoring");
    s.components = chosen
        .iter()
        .map(|c| ComponentProgress {
            id: c.as_str().into(),
            state: "waiting".into(),
            message: "waiting".into(),
        })
        .collect();
    if let Err(e) = write_status(jobs.root(), "restore", &s) {
        eprintln!("cannot write the restore status: {e}");
    }
    // The configuration current before the restore (what an unconfirmed
    // address change of the restored one returns to).
    let before = jobs.app.generations().current_number().ok().flatten();
    // Each step as it starts: the component's line says what is being
    // done to it, the job's message says the step.
    let shown = std::cell::RefCell::new(s.clone());
    let progress = |step: restore::Step| {
        let mut now = shown.borrow_mut();
        now.message = step.what.into();
        if let Some(id) = step.component {
            for c in now.components.iter_mut().filter(|c| c.id == id.as_str()) {
                c.state = "working".into();
                c.message = step.what.into();
            }
        }
        if let Err(e) = write_status(jobs.root(), "restore", &now) {
            eprintln!("cannot write the restore status: {e}");
        }
    };
    let result = restore::restore_with_progress(
        &jobs.app,
        &read_request(jobs, files, pass),
        Some(chosen.clone()),
        &progress,
    );
    remove_uploads(jobs, &r.files);
    let report = match result {
        Ok(rep) => rep,
        Err(e) => {
            for c in &mut s.components {
                c.state = "not-restored".into();
                c.message = "not restored: nothing was changed".into();
            }
            s.state = JobState::Failed;
            s.message = e.to_string();
            return Ok(s);
        }
    };
    s.components = report
        .lines
        .iter()
        .map(|(id, line)| ComponentProgress {
            id: id.as_str().into(),
            state: "restored".into(),
            message: line.clone(),
        })
        .collect();
    let mut notes: Vec<String> = report.recovered.into_iter().collect();
    // The restored configuration is put into effect (files, host name,
    // network, time, RADIUS, SSH, and the console's text with the
    // fingerprints of a restored certificate); then the running services
    // read the restored files.
    if chosen
        .iter()
        .any(|c| matches!(c, ComponentId::Etc | ComponentId::Tls))
    {
        match apply_etc(before) {
            Ok(note) => notes.push(note),
            Err(e) => notes.push(format!(
                "the restored configuration takes effect at the next start: applying it now failed: {e}"
            )),
        }
    }
    if chosen.contains(&ComponentId::Tls) {
        match sys.reload(&["appliance-web"]) {
            Ok(()) => notes.push("the web service serves the restored certificate".into()),
            Err(e) => notes.push(format!("reloading the web service failed: {e}")),
        }
    }
    if chosen
        .iter()
        .any(|c| matches!(c, ComponentId::DbKey | ComponentId::TokenDb))
    {
        match sys.restart(&["appliance-otp"]) {
            Ok(()) => notes.push("the OTP service was restarted".into()),
            Err(e) => notes.push(format!("restarting the OTP service failed: {e}")),
        }
    }
    s.state = JobState::Done;
    s.message = if notes.is_empty() {
        "the restore is complete".into()
    } else {
        format!("the restore is complete; {}", notes.join("; "))
    };
    Ok(s)
}
