//! Where each component lives on the appliance (every path below a root
//! directory, `/` in production) and where the command keeps its own
//! state: `/var/lib/appliance-backup/` on the data partition (`staging/`,
//! `journal.json`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use appliance_backup::{ComponentId, Source};
use appliance_config::{fsutil, generation, paths};

use crate::db::Db;
use crate::Error;

/// The command's directory on the data partition (`/var` is bound from it).
pub const WORK_DIR: &str = "/var/lib/appliance-backup";

/// In the `etc` component: the current desired state, restored as a new
/// generation.
pub const STATE_FILE: &str = "appliance/state.json";

/// Files of the `etc` component besides the desired state, relative to
/// `/etc`, taken when present: SSH host keys, the RADIUS clients, NTP.
pub const ETC_FILES: &[&str] = &[
    "ssh/ssh_host_ed25519_key",
    "ssh/ssh_host_ed25519_key.pub",
    "ssh/ssh_host_ecdsa_key",
    "ssh/ssh_host_ecdsa_key.pub",
    "freeradius/3.0/clients.conf",
    "systemd/timesyncd.conf",
];

/// Directories of the `etc` component (every regular file below them),
/// relative to `/etc`: RADIUS clients, NTP servers, scheduled backups,
/// update settings and the licence as the appliance keeps them.
pub const ETC_DIRS: &[&str] = &[
    "appliance/radius",
    "appliance/licence",
    "appliance/schedule",
    "appliance/update",
    "systemd/timesyncd.conf.d",
];

/// In the `db-key`, `tls` and `token-db` components.
pub const DB_KEY_FILE: &str = "db.key";
pub const TLS_CERT_FILE: &str = "cert.pem";
pub const TLS_KEY_FILE: &str = "key.pem";
pub const DUMP_FILE: &str = "dump.sql";

/// The appliance the command works on.
#[derive(Debug, Clone)]
pub struct Appliance {
    pub root: PathBuf,
    /// The token database (`None`: the component is not available).
    pub db: Option<Db>,
}

/// One file of a component on the appliance.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name inside the component.
    pub name: String,
    pub path: PathBuf,
    pub mode: u32,
}

impl Appliance {
    pub fn under(&self, abs: &str) -> PathBuf {
        fsutil::under(&self.root, abs)
    }

    pub fn work_dir(&self) -> PathBuf {
        self.under(WORK_DIR)
    }

    pub fn staging(&self) -> PathBuf {
        self.work_dir().join("staging")
    }

    pub fn journal(&self) -> PathBuf {
        self.work_dir().join("journal.json")
    }

    pub fn generations(&self) -> generation::Store {
        generation::Store::new(&self.root)
    }

    /// The installed release (the handover record stage 1 leaves in /run).
    pub fn handover(&self) -> Result<handover::Handover, Error> {
        let p = self.under(paths::HANDOVER);
        let text = fs::read_to_string(&p).map_err(Error::io("reading", &p))?;
        handover::Handover::parse(&text).map_err(|e| Error::Invalid {
            path: p,
            message: e.to_string(),
        })
    }

    /// The manifest's `source`.
    pub fn source(&self) -> Result<Source, Error> {
        let h = self.handover()?;
        let hostname = match self.generations().current() {
            Ok(Some((_, s))) => s.hostname,
            _ => fs::read_to_string(self.under("/etc/hostname"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "appliance".into()),
        };
        Ok(Source {
            hostname,
            model: h.release.model,
            release: h.release.version,
            install_id: h.install_id,
        })
    }

    /// The database key's check value as the manifest carries it (the first
    /// 16 hex digits of `DbKey::key_check`), `None` without a key file.
    pub fn key_check(&self) -> Result<Option<String>, Error> {
        let p = self.under(paths::DB_KEY);
        match fs::read(&p) {
            Ok(bytes) => key_check_of(&bytes)
                .map(Some)
                .map_err(|message| Error::Invalid { path: p, message }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading", p)(e)),
        }
    }

    /// The files of a component as they are now (db-key, tls, etc); the
    /// token database is dumped by `create`.
    pub fn files(&self, id: ComponentId) -> Result<Vec<SourceFile>, Error> {
        let mut out = Vec::new();
        match id {
            ComponentId::Etc => {
                if let Some(n) =
                    self.generations()
                        .current_number()
                        .map_err(|e| Error::Invalid {
                            path: self.under(paths::STATE_DIR),
                            message: e.to_string(),
                        })?
                {
                    let p = self
                        .under(paths::STATE_DIR)
                        .join(n.to_string())
                        .join("state.json");
                    push(&mut out, STATE_FILE, &p)?;
                }
                for f in ETC_FILES {
                    push(&mut out, f, &self.under(&format!("/etc/{f}")))?;
                }
                for d in ETC_DIRS {
                    walk(&mut out, d, &self.under(&format!("/etc/{d}")))?;
                }
            }
            ComponentId::DbKey => push(&mut out, DB_KEY_FILE, &self.under(paths::DB_KEY))?,
            ComponentId::Tls => {
                push(&mut out, TLS_CERT_FILE, &self.under(paths::TLS_CERT))?;
                push(&mut out, TLS_KEY_FILE, &self.under(paths::TLS_KEY))?;
            }
            ComponentId::TokenDb => {}
        }
        Ok(out)
    }

    /// Where a file of a restored component goes (`None` for the desired
    /// state and the dump, which are not plain files). A name outside what
    /// the component may hold is refused.
    pub fn target(&self, id: ComponentId, name: &str) -> Result<Option<PathBuf>, Error> {
        let refuse = || {
            Error::Usage(format!(
                "component {id}: the backup holds {name:?}, which this release does not restore"
            ))
        };
        Ok(match (id, name) {
            (ComponentId::Etc, STATE_FILE) => None,
            (ComponentId::Etc, n) => {
                let allowed = ETC_FILES.contains(&n)
                    || ETC_DIRS
                        .iter()
                        .any(|d| n.strip_prefix(d).is_some_and(|r| r.starts_with('/')));
                if !allowed {
                    return Err(refuse());
                }
                Some(self.under(&format!("/etc/{n}")))
            }
            (ComponentId::DbKey, DB_KEY_FILE) => Some(self.under(paths::DB_KEY)),
            (ComponentId::Tls, TLS_CERT_FILE) => Some(self.under(paths::TLS_CERT)),
            (ComponentId::Tls, TLS_KEY_FILE) => Some(self.under(paths::TLS_KEY)),
            (ComponentId::TokenDb, DUMP_FILE) => None,
            _ => return Err(refuse()),
        })
    }
}

/// The manifest's key-check value of a key file's bytes.
pub fn key_check_of(bytes: &[u8]) -> Result<String, String> {
    let key = appliance_otp::crypto::DbKey::from_bytes(bytes).map_err(|e| e.to_string())?;
    Ok(key.key_check()[..16].to_owned())
}

fn push(out: &mut Vec<SourceFile>, name: &str, path: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => {
            out.push(SourceFile {
                name: name.to_owned(),
                path: path.to_owned(),
                mode: m.permissions().mode() & 0o777,
            });
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("reading", path)(e)),
    }
}

fn walk(out: &mut Vec<SourceFile>, name: &str, dir: &Path) -> Result<(), Error> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("reading", dir)(e)),
    };
    let mut entries: Vec<_> = rd
        .collect::<Result<_, _>>()
        .map_err(Error::io("reading", dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let n = format!("{name}/{}", e.file_name().to_string_lossy());
        let p = e.path();
        let ft = e.file_type().map_err(Error::io("reading", &p))?;
        if ft.is_dir() {
            walk(out, &n, &p)?;
        } else {
            push(out, &n, &p)?;
        }
    }
    Ok(())
}
