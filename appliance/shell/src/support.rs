//! `support`: the support file, a `.tar.gz` of the status, the network,
//! this boot's journal and the configuration **without secrets**, written
//! to [`SUPPORT_DIR`] (0700) as a 0600 file. The configuration is an
//! allow-list ([`CONFIG_FILES`], [`CONFIG_DIRS`]); [`is_secret`] is checked
//! on top of it, so a secret never enters the file even if a listed
//! directory holds one.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use appliance_config::fsutil::under;
use appliance_config::generation::Store;
use sha2::{Digest, Sha256};

/// Where support files go (on the data partition through `/var`).
pub const SUPPORT_DIR: &str = "/var/lib/appliance/support";

/// Configuration files copied as they are (those that exist).
pub const CONFIG_FILES: &[&str] = &[
    "/etc/os-release",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/timezone",
    "/etc/default/keyboard",
    "/etc/default/console-setup",
    "/etc/chrony/chrony.conf",
    "/etc/ssh/sshd_config",
    "/etc/ssh/ssh_host_ed25519_key.pub",
    "/etc/ssh/ssh_host_ecdsa_key.pub",
    "/etc/appliance/rendered.json",
    "/etc/appliance/tls/cert.pem",
    "/run/appliance/resolv.conf",
    "/run/appliance/activation.json",
];

/// Directories whose regular files are copied (one level, sorted).
pub const CONFIG_DIRS: &[&str] = &[
    "/etc/systemd/network",
    "/etc/chrony/conf.d",
    "/etc/chrony/sources.d",
    "/etc/ssh/sshd_config.d",
];

/// Whether a path may hold a secret (a private key, a password or its
/// hash, a shared secret, the setup code's material, the wizard's state).
pub fn is_secret(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".pub") || lower == "cert.pem" {
        return false;
    }
    let key = lower.ends_with("key") || lower.ends_with(".key") || lower.contains("key.pem");
    key || [
        "secret",
        "shadow",
        "gshadow",
        "passwd",
        "password",
        "credential",
        "token",
        "setup-code",
        "wizard",
        "clients.conf",
        ".keytab",
        ".p12",
        ".pfx",
    ]
    .iter()
    .any(|w| lower.contains(w))
        || path.contains("/credentials/")
        || path.contains("/private/")
}

/// One file of the support file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name inside the archive (relative).
    pub name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
}

impl Entry {
    /// A text entry.
    pub fn text(name: &str, text: &str) -> Entry {
        Entry {
            name: name.to_string(),
            bytes: text.as_bytes().to_vec(),
        }
    }
}

/// The configuration entries below `root`, as `config/<absolute path>`,
/// plus the current desired state (which holds no secrets) as
/// `config/state.json`. Unreadable files are listed in `notes`.
pub fn config_entries(root: &Path, notes: &mut Vec<String>) -> Vec<Entry> {
    let mut paths: Vec<String> = CONFIG_FILES.iter().map(|p| p.to_string()).collect();
    for dir in CONFIG_DIRS {
        let Ok(rd) = fs::read_dir(under(root, dir)) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
            .collect();
        names.sort();
        paths.extend(names);
    }
    let mut out = Vec::new();
    for p in paths.iter().filter(|p| !is_secret(p)) {
        match fs::read(under(root, p)) {
            Ok(bytes) => out.push(Entry {
                name: format!("config{p}"),
                bytes,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => notes.push(format!("{p}: {e}")),
        }
    }
    match Store::new(root).current() {
        Ok(Some((n, st))) => match serde_json::to_string_pretty(&st) {
            Ok(json) => out.push(Entry::text("config/state.json", &format!("{json}\n"))),
            Err(e) => notes.push(format!("desired state {n}: {e}")),
        },
        Ok(None) => notes.push("no desired state yet".into()),
        Err(e) => notes.push(format!("desired state: {e}")),
    }
    out
}

/// `support-<host>-<YYYYMMDDTHHMMSSZ>.tar.gz`; the host name keeps only
/// letters, digits and hyphens.
pub fn file_name(hostname: &str, now: time::OffsetDateTime) -> String {
    let host: String = hostname
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(63)
        .collect();
    let host = if host.is_empty() { "appliance" } else { &host };
    let t = now.to_offset(time::UtcOffset::UTC);
    format!(
        "support-{host}-{:04}{:02}{:02}T{:02}{:02}{:02}Z.tar.gz",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A written support file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Where it is.
    pub path: PathBuf,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Writes `entries` as `<dir>/<name>` (a gzip'd ustar, entries 0600 with
/// time stamp `mtime`): the directory is made 0700, the file 0600 under a
/// temporary name, synced and renamed, so a half-written file never has
/// the final name.
pub fn write_bundle(dir: &Path, name: &str, entries: &[Entry], mtime: u64) -> io::Result<Written> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let stem = name.strip_suffix(".tar.gz").unwrap_or(name);
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(e.bytes.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{stem}/{}", e.name), e.bytes.as_slice())?;
    }
    let mut file = tar.into_inner()?.finish()?;
    file.flush()?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, &path)?;
    let bytes = fs::read(&path)?;
    Ok(Written {
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        path,
    })
}
