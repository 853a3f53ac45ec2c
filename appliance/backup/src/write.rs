//! The writer: hashes every file (pass one), then streams the
//! deterministic tar through age (pass two). Nothing but the output is
//! written.

use std::io::{self, Read, Write};

use age::secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::manifest::{self, Component, ComponentId, FileEntry, Manifest, Source};
use crate::{BackupError, MANIFEST_NAME};

/// The scrypt work factor written by default: N = 2^17 (128 MiB, about half
/// a second on the appliance's CPU). Readers cap it (see `DEFAULT_MAX_WORK_FACTOR`).
pub const DEFAULT_WORK_FACTOR: u8 = 17;

type Opener<'a> = Box<dyn Fn() -> io::Result<Box<dyn Read + 'a>> + 'a>;

/// A file's contents: bytes in memory, or a reader that can be opened twice
/// (once to hash it for the manifest, once to write it), e.g. a file on disk.
pub enum Content<'a> {
    Bytes(Vec<u8>),
    Reader(Opener<'a>),
}

impl<'a> Content<'a> {
    /// A file on disk (opened once per pass).
    pub fn path(p: impl Into<std::path::PathBuf>) -> Content<'a> {
        let p = p.into();
        Content::Reader(Box::new(move || {
            Ok(Box::new(std::fs::File::open(&p)?) as Box<dyn Read>)
        }))
    }

    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        match self {
            Content::Bytes(b) => Ok(Box::new(&b[..])),
            Content::Reader(f) => f(),
        }
    }
}

/// One file of a component, as the caller provides it.
pub struct InputFile<'a> {
    /// Relative to the component (`hostname`, `network/eth0.conf`).
    pub path: String,
    /// Permission bits (at most 0o777).
    pub mode: u32,
    pub content: Content<'a>,
}

/// One component as the caller provides it.
pub struct InputComponent<'a> {
    pub id: ComponentId,
    pub schema: u32,
    /// Required for `db-key` and `token-db`.
    pub key_check: Option<String>,
    pub files: Vec<InputFile<'a>>,
}

/// Which components go into one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Everything the caller provides.
    All,
    /// `db-key` alone (to be kept apart from the data).
    KeyOnly,
    /// Everything but `db-key`.
    DataOnly,
}

impl Selection {
    fn includes(self, id: ComponentId) -> bool {
        match self {
            Selection::All => true,
            Selection::KeyOnly => id == ComponentId::DbKey,
            Selection::DataOnly => id != ComponentId::DbKey,
        }
    }
}

/// Everything the writer needs besides the passphrase.
pub struct BackupInput<'a> {
    /// Seconds since the epoch; also every tar entry's mtime.
    pub created: u64,
    pub source: Source,
    pub components: Vec<InputComponent<'a>>,
}

/// Hashes every selected file and builds the manifest (pass one).
pub fn plan_manifest(
    input: &BackupInput<'_>,
    selection: Selection,
) -> Result<Manifest, BackupError> {
    let mut components = Vec::new();
    let mut chosen: Vec<&InputComponent<'_>> = input
        .components
        .iter()
        .filter(|c| selection.includes(c.id))
        .collect();
    chosen.sort_by_key(|c| c.id);
    for c in chosen {
        let mut files = Vec::new();
        for f in &c.files {
            let (sha256, size) = hash(f.content.open().map_err(|e| read_err(c.id, f, e))?)
                .map_err(|e| read_err(c.id, f, e))?;
            files.push(FileEntry {
                path: f.path.clone(),
                sha256,
                size,
                mode: f.mode,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        components.push(Component {
            id: c.id,
            schema: c.schema,
            key_check: c.key_check.clone(),
            files,
        });
    }
    if components.is_empty() {
        return Err(BackupError::NothingSelected);
    }
    let m = Manifest {
        format: manifest::FORMAT.to_owned(),
        format_version: manifest::FORMAT_VERSION,
        created: manifest::format_time(input.created),
        source: input.source.clone(),
        components,
    };
    m.validate().map_err(BackupError::InvalidInput)?;
    Ok(m)
}

fn read_err(id: ComponentId, f: &InputFile<'_>, e: io::Error) -> BackupError {
    BackupError::Io {
        what: format!("reading {id}/{}", f.path),
        source: e,
    }
}

fn hash(mut r: impl Read) -> io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

fn header(path: &str, size: u64, mode: u32, mtime: u64) -> Result<tar::Header, BackupError> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).map_err(|e| BackupError::Io {
        what: format!("tar name {path:?}"),
        source: e,
    })?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Writes the plaintext tar: `MANIFEST.json` first, then
/// `components/<id>/<path>` in manifest order; uid/gid 0, mtime = creation
/// time. Same inputs, same bytes.
pub fn write_tar<W: Write>(
    out: W,
    input: &BackupInput<'_>,
    selection: Selection,
) -> Result<(W, Manifest), BackupError> {
    let m = plan_manifest(input, selection)?;
    let json = serde_json::to_vec_pretty(&m).map_err(|e| BackupError::Io {
        what: "encoding the manifest".into(),
        source: io::Error::other(e),
    })?;
    let werr = |e| BackupError::Io {
        what: "writing the backup".into(),
        source: e,
    };
    let mut b = tar::Builder::new(out);
    b.append(
        &header(MANIFEST_NAME, json.len() as u64, 0o644, input.created)?,
        &json[..],
    )
    .map_err(werr)?;
    for mc in &m.components {
        let Some(ic) = input.components.iter().find(|c| c.id == mc.id) else {
            continue;
        };
        for mf in &mc.files {
            let Some(f) = ic.files.iter().find(|f| f.path == mf.path) else {
                continue;
            };
            let name = format!("components/{}/{}", mc.id, mf.path);
            let h = header(&name, mf.size, mf.mode, input.created)?;
            let mut r = Hashing {
                inner: f
                    .content
                    .open()
                    .map_err(|e| read_err(mc.id, f, e))?
                    .take(mf.size),
                hash: Sha256::new(),
                size: 0,
            };
            b.append(&h, &mut r).map_err(werr)?;
            if r.size != mf.size || hex::encode(r.hash.finalize()) != mf.sha256 {
                return Err(BackupError::InputChanged { path: name });
            }
        }
    }
    let out = b.into_inner().map_err(werr)?;
    Ok((out, m))
}

/// Writes an encrypted backup: age v1 with one scrypt (passphrase)
/// recipient at `work_factor` (log2 N; `DEFAULT_WORK_FACTOR` in
/// production), around `write_tar`'s bytes.
pub fn write_backup<W: Write>(
    out: W,
    passphrase: &SecretString,
    work_factor: u8,
    input: &BackupInput<'_>,
    selection: Selection,
) -> Result<(W, Manifest), BackupError> {
    if passphrase.expose_secret().is_empty() {
        return Err(BackupError::EmptyPassphrase);
    }
    if !(1..=crate::WORK_FACTOR_LIMIT).contains(&work_factor) {
        return Err(BackupError::BadWorkFactor(work_factor));
    }
    let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
    recipient.set_work_factor(work_factor);
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| BackupError::Io {
        what: "age".into(),
        source: io::Error::other(e.to_string()),
    })?;
    let werr = |e| BackupError::Io {
        what: "writing the backup".into(),
        source: e,
    };
    let stream = enc.wrap_output(out).map_err(werr)?;
    let (stream, m) = write_tar(stream, input, selection)?;
    let out = stream.finish().map_err(werr)?;
    Ok((out, m))
}
