//! A generation's own files and their way onto the system. An activation's
//! generation directory holds, besides `state.json`:
//! - `files/` (0700): every file it installs, at its absolute path, with
//!   its final mode — new keys (made by `appliance_config::keys::ensure`
//!   into this tree), credentials, `clients.conf`, the licence;
//! - `install.json`: those paths with their group owner, and whether root's
//!   password is set; `root.crypt` (0600) holds its hash;
//! - `undo/` + `undo.json`: what every path it touches held before
//!   (contents, mode, owner, or absence) and root's old password field —
//!   what a rollback puts back.
//!
//! All of it is written before the directory gets its number; installing
//! is idempotent (only what differs is written), so it runs again at every
//! boot from the current generation and a power cut after the switch is
//! finished then.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use appliance_config::fsutil::{self, under};
use serde::{Deserialize, Serialize};

use crate::secrets;

/// Where `/etc/shadow`, `/etc/group` are.
pub const SHADOW: &str = "/etc/shadow";
/// See [`SHADOW`].
pub const GROUP: &str = "/etc/group";

/// One installed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallEntry {
    /// Absolute path inside the appliance.
    pub path: String,
    /// Group owner (`None`: root).
    pub group: Option<String>,
}

/// `install.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    /// Files under `files/`.
    pub files: Vec<InstallEntry>,
    /// Whether `root.crypt` is root's new password hash.
    pub root_password: bool,
}

/// What a path held before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndoEntry {
    /// Absolute path inside the appliance.
    pub path: String,
    /// `file`, `symlink` or `absent`.
    pub kind: String,
    /// Permission bits of a file.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// A symbolic link's target.
    pub link: Option<String>,
}

/// `undo.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undo {
    /// Every touched path.
    pub entries: Vec<UndoEntry>,
    /// root's password and last-change fields before (`None`: not changed).
    pub root_password_field: Option<(String, String)>,
}

/// The `files/` tree of a generation directory.
pub fn files_dir(gen_dir: &Path) -> PathBuf {
    gen_dir.join("files")
}

fn write_json<T: Serialize>(path: &Path, v: &T, mode: u32) -> io::Result<()> {
    let mut json = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
    json.push('\n');
    fsutil::write_atomic(path, json.as_bytes(), mode)
}

fn read_json<T: for<'a> Deserialize<'a>>(path: &Path) -> io::Result<Option<T>> {
    match fsutil::read_if_exists(path)? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
    }
}

/// Writes `install.json` and `root.crypt` into a staging directory.
pub fn write_install(gen_dir: &Path, install: &Install, root_hash: Option<&str>) -> io::Result<()> {
    if let Some(h) = root_hash {
        fsutil::write_atomic(
            &gen_dir.join("root.crypt"),
            format!("{h}\n").as_bytes(),
            0o600,
        )?;
    }
    write_json(&gen_dir.join("install.json"), install, 0o600)
}

/// Records what `paths` (and root's password field, when `root_password`)
/// hold now below `root`, into `gen_dir/undo`.
pub fn snapshot(
    root: &Path,
    gen_dir: &Path,
    paths: &[String],
    root_password: bool,
) -> io::Result<()> {
    let undo_files = gen_dir.join("undo");
    fs::create_dir_all(&undo_files)?;
    fs::set_permissions(&undo_files, fs::Permissions::from_mode(0o700))?;
    let mut undo = Undo::default();
    for p in paths {
        let live = under(root, p);
        let entry = match fs::symlink_metadata(&live) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => UndoEntry {
                path: p.clone(),
                kind: "absent".into(),
                mode: 0,
                uid: 0,
                gid: 0,
                link: None,
            },
            Err(e) => return Err(e),
            Ok(m) if m.file_type().is_symlink() => UndoEntry {
                path: p.clone(),
                kind: "symlink".into(),
                mode: 0,
                uid: m.uid(),
                gid: m.gid(),
                link: Some(fs::read_link(&live)?.to_string_lossy().into_owned()),
            },
            Ok(m) => {
                let copy = under(&undo_files, p);
                fsutil::write_atomic(&copy, &fs::read(&live)?, 0o600)?;
                UndoEntry {
                    path: p.clone(),
                    kind: "file".into(),
                    mode: m.permissions().mode() & 0o7777,
                    uid: m.uid(),
                    gid: m.gid(),
                    link: None,
                }
            }
        };
        undo.entries.push(entry);
    }
    if root_password {
        let shadow = fs::read_to_string(under(root, SHADOW))?;
        let (_, old, day) = secrets::set_shadow_password(&shadow, "root", "x", None)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        undo.root_password_field = Some((old, day));
    }
    write_json(&gen_dir.join("undo.json"), &undo, 0o600)
}

fn gid_of(root: &Path, group: Option<&str>) -> io::Result<u32> {
    let Some(g) = group else { return Ok(0) };
    let text = fs::read_to_string(under(root, GROUP))?;
    secrets::group_id(&text, g).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("the group {g:?} is not in /etc/group; the image's package or sysusers entry makes it"),
        )
    })
}

fn differs(live: &Path, bytes: &[u8], mode: u32, gid: u32) -> io::Result<bool> {
    match fs::symlink_metadata(live) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
        Ok(m) => Ok(!m.file_type().is_file()
            || m.permissions().mode() & 0o7777 != mode
            || m.gid() != gid
            || fs::read(live)? != bytes),
    }
}

/// Writes one file atomically and gives it `uid` (`None`: the writer, root
/// on the appliance) and `gid` when they differ from the writer's.
fn put(live: &Path, bytes: &[u8], mode: u32, uid: Option<u32>, gid: u32) -> io::Result<()> {
    fsutil::write_atomic(live, bytes, mode)?;
    let m = fs::symlink_metadata(live)?;
    let uid = uid.filter(|u| *u != m.uid());
    if uid.is_some() || m.gid() != gid {
        std::os::unix::fs::chown(live, uid, Some(gid))?;
    }
    Ok(())
}

/// Installs generation `gen_dir`'s files below `root` (only what differs).
/// `day` is today (days since 1970) for root's password change date.
/// Returns the paths written. A generation without `install.json` (one
/// first boot made) installs nothing.
pub fn install(root: &Path, gen_dir: &Path, day: u64) -> io::Result<Vec<String>> {
    let Some(inst) = read_json::<Install>(&gen_dir.join("install.json"))? else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    let files = files_dir(gen_dir);
    for e in &inst.files {
        let src = under(&files, &e.path);
        let bytes = fs::read(&src)?;
        let mode = fs::metadata(&src)?.permissions().mode() & 0o7777;
        let gid = gid_of(root, e.group.as_deref())?;
        let live = under(root, &e.path);
        if differs(&live, &bytes, mode, gid)? {
            put(&live, &bytes, mode, None, gid)?;
            written.push(e.path.clone());
        }
    }
    if inst.root_password {
        let hash = fs::read_to_string(gen_dir.join("root.crypt"))?;
        if set_root_field(root, hash.trim(), Some(&day.to_string()))? {
            written.push(SHADOW.into());
        }
    }
    Ok(written)
}

/// Sets root's password field in `/etc/shadow` (keeping the file's mode
/// and owner); false when it already is `field`.
fn set_root_field(root: &Path, field: &str, day: Option<&str>) -> io::Result<bool> {
    let path = under(root, SHADOW);
    let text = fs::read_to_string(&path)?;
    let (new, old, old_day) = secrets::set_shadow_password(&text, "root", field, day)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    if old == field && day.is_none_or(|d| d == old_day) {
        return Ok(false);
    }
    let m = fs::metadata(&path)?;
    put(
        &path,
        new.as_bytes(),
        m.permissions().mode() & 0o7777,
        Some(m.uid()),
        m.gid(),
    )?;
    Ok(true)
}

/// Puts back what generation `gen_dir`'s undo record holds (idempotent).
pub fn restore(root: &Path, gen_dir: &Path) -> io::Result<()> {
    let Some(undo) = read_json::<Undo>(&gen_dir.join("undo.json"))? else {
        return Ok(());
    };
    let saved = gen_dir.join("undo");
    for e in &undo.entries {
        let live = under(root, &e.path);
        match e.kind.as_str() {
            "absent" => match fs::remove_file(&live) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            },
            "symlink" => fsutil::symlink_atomic(&live, e.link.as_deref().unwrap_or(""))?,
            _ => {
                let bytes = fs::read(under(&saved, &e.path))?;
                put(&live, &bytes, e.mode, Some(e.uid), e.gid)?;
            }
        }
    }
    if let Some((field, day)) = &undo.root_password_field {
        set_root_field(root, field, Some(day))?;
    }
    Ok(())
}
