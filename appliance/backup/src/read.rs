//! The reader: sniffs the file, opens the age header with a capped scrypt
//! work factor, streams the tar into the staging directory while hashing,
//! and only returns when every byte has been authenticated and every file
//! matches the manifest. A damaged payload is diagnosed (truncation,
//! trailing garbage, a corrupt chunk) with the file key already unwrapped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use age::secrecy::{ExposeSecret, SecretString};
use age_core::format::{FileKey, Stanza};
use sha2::{Digest, Sha256};

use crate::filter::{self, EntryKind};
use crate::manifest::{Manifest, ManifestError, MAX_MANIFEST};
use crate::{BackupError, MANIFEST_NAME};

/// The largest scrypt work factor the reader accepts by default
/// (N = 2^18: 256 MiB of memory).
pub const DEFAULT_MAX_WORK_FACTOR: u8 = 18;

/// age's STREAM: 64 KiB of plaintext per chunk plus a 16-byte tag.
const CHUNK: u64 = 64 * 1024;
const ENC_CHUNK: u64 = CHUNK + 16;
const NONCE: u64 = 16;
const AGE_MAGIC: &[u8] = b"age-encryption.org/";
const AGE_V1: &[u8] = b"age-encryption.org/v1\n";
const ARMOR: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// What the caller fixes for one read.
pub struct ReadOptions<'a> {
    /// The model of this appliance; a backup of another model is refused.
    pub expected_model: &'a str,
    /// The largest accepted scrypt work factor (`DEFAULT_MAX_WORK_FACTOR`).
    pub max_work_factor: u8,
    /// An existing, empty directory; the files land in
    /// `components/<id>/<path>` below it (mode 0600). Emptied again on refusal.
    pub staging: &'a Path,
}

/// A fully checked backup.
#[derive(Debug, Clone)]
pub struct Summary {
    pub manifest: Manifest,
    /// Where the files are (`staging/components/<id>/<path>`).
    pub staged: PathBuf,
}

impl Summary {
    /// The staged copy of one file of a component.
    pub fn staged_file(&self, id: crate::ComponentId, path: &str) -> PathBuf {
        self.staged.join("components").join(id.as_str()).join(path)
    }
}

/// Decrypts and checks a backup file; see the module documentation.
pub fn read_backup(
    file: &Path,
    passphrase: &SecretString,
    opts: &ReadOptions<'_>,
) -> Result<Summary, BackupError> {
    if passphrase.expose_secret().is_empty() {
        return Err(BackupError::EmptyPassphrase);
    }
    let staging_err = |e| BackupError::Io {
        what: format!("staging directory {}", opts.staging.display()),
        source: e,
    };
    if fs::read_dir(opts.staging)
        .map_err(staging_err)?
        .next()
        .is_some()
    {
        return Err(BackupError::StagingNotEmpty(opts.staging.to_owned()));
    }
    let result = read_inner(file, passphrase, opts);
    if result.is_err() {
        clear(opts.staging);
    }
    result
}

fn clear(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

fn io_err(what: &str) -> impl Fn(io::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        what: what.to_owned(),
        source: e,
    }
}

fn read_inner(
    path: &Path,
    passphrase: &SecretString,
    opts: &ReadOptions<'_>,
) -> Result<Summary, BackupError> {
    let mut f = File::open(path).map_err(io_err("opening the backup"))?;
    let file_len = f.metadata().map_err(io_err("reading the backup"))?.len();
    if file_len == 0 {
        return Err(BackupError::EmptyFile);
    }
    let mut prefix = Vec::new();
    (&mut f)
        .take(64 * 1024)
        .read_to_end(&mut prefix)
        .map_err(io_err("reading the backup"))?;
    let hdr_len = sniff(&prefix)?;
    f.seek(SeekFrom::Start(0))
        .map_err(io_err("reading the backup"))?;

    let dec =
        age::Decryptor::new(BufReader::new(f)).map_err(|e| map_age(e, opts.max_work_factor))?;
    if !dec.is_scrypt() {
        return Err(BackupError::NotPassphrase);
    }
    let mut inner = age::scrypt::Identity::new(passphrase.clone());
    inner.set_max_work_factor(opts.max_work_factor);
    let id = CachingIdentity {
        inner,
        key: Mutex::new(None),
    };
    let stream = dec
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .map_err(|e| map_age(e, opts.max_work_factor))?;

    let failure = Rc::new(RefCell::new(None));
    let rec = Recording {
        inner: stream,
        pos: 0,
        failure: failure.clone(),
    };
    match unpack(rec, opts) {
        Ok(m) => Ok(Summary {
            manifest: m,
            staged: opts.staging.to_owned(),
        }),
        Err(e) => {
            let recorded = failure.borrow_mut().take();
            match recorded {
                Some((kind, pos)) => Err(diagnose(path, &id, hdr_len, file_len, kind, pos)),
                None => Err(e),
            }
        }
    }
}

/// Recognises the kind of file from its first bytes; returns the age
/// header's length for a binary age v1 file.
fn sniff(prefix: &[u8]) -> Result<u64, BackupError> {
    if prefix.starts_with(ARMOR) {
        return Err(BackupError::Armored);
    }
    if !prefix.starts_with(AGE_MAGIC) {
        if prefix.len() >= 262 && &prefix[257..262] == b"ustar" {
            return Err(BackupError::PlainTar);
        }
        return Err(BackupError::NotAgeFile);
    }
    if !prefix.starts_with(AGE_V1) {
        return Err(BackupError::UnknownAgeVersion);
    }
    let mac = prefix
        .windows(5)
        .position(|w| w == b"\n--- ")
        .ok_or(BackupError::HeaderDamaged)?;
    let end = prefix[mac + 1..]
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(BackupError::HeaderDamaged)?;
    Ok((mac + 1 + end + 1) as u64)
}

fn map_age(e: age::DecryptError, max: u8) -> BackupError {
    use age::DecryptError as D;
    match e {
        D::ExcessiveWork { required, .. } => BackupError::ExcessiveWork { required, max },
        D::DecryptionFailed | D::KeyDecryptionFailed => BackupError::WrongPassphrase,
        D::InvalidMac => BackupError::HeaderMacInvalid,
        D::InvalidHeader => BackupError::HeaderDamaged,
        D::NoMatchingKeys => BackupError::NotPassphrase,
        // The version line was checked by `sniff`: age reports a header it
        // cannot parse past that line as an unknown format.
        D::UnknownFormat => BackupError::HeaderDamaged,
        D::Io(e) => BackupError::Io {
            what: "reading the age header".into(),
            source: e,
        },
    }
}

/// The passphrase identity, keeping the unwrapped file key so that the
/// payload diagnosis does not repeat the scrypt work.
struct CachingIdentity {
    inner: age::scrypt::Identity,
    key: Mutex<Option<Box<[u8; 16]>>>,
}

impl age::Identity for CachingIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        let mut cached = self.key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cached.as_ref() {
            if stanza.tag == "scrypt" {
                return Some(Ok(FileKey::new(k.clone())));
            }
        }
        let r = self.inner.unwrap_stanza(stanza)?;
        if let Ok(k) = &r {
            *cached = Some(Box::new(*k.expose_secret()));
        }
        Some(r)
    }
}

/// Remembers the first error of the decrypting stream (the tar reader
/// rewords errors) and the plaintext position it happened at.
struct Recording<R> {
    inner: R,
    pos: u64,
    failure: Rc<RefCell<Option<(io::ErrorKind, u64)>>>,
}

impl<R: Read> Read for Recording<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.pos += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failure
                    .borrow_mut()
                    .get_or_insert((e.kind(), self.pos));
                Err(e)
            }
        }
    }
}

/// Why the authenticated stream failed. With the file key cached, each
/// try costs one chunk's decryption.
fn diagnose(
    path: &Path,
    id: &CachingIdentity,
    hdr_len: u64,
    file_len: u64,
    kind: io::ErrorKind,
    pos: u64,
) -> BackupError {
    if kind == io::ErrorKind::UnexpectedEof {
        return BackupError::Truncated { mid_chunk: false };
    }
    let chunk = pos / CHUNK;
    // The plaintext (a tar) is a multiple of 512 bytes: the genuine end lies
    // at one of these lengths inside the failing chunk, or just before it
    // (a last chunk of a full 64 KiB).
    let start = hdr_len + NONCE + chunk * ENC_CHUNK;
    let boundary = (chunk > 0).then_some(start);
    let inside = (0..=(CHUNK / 512)).map(|k| start + 16 + k * 512);
    for t in boundary.into_iter().chain(inside) {
        if t >= file_len {
            break;
        }
        if ends_at(path, id, t) {
            return BackupError::TrailingGarbage {
                bytes: file_len - t,
            };
        }
    }
    let payload = file_len.saturating_sub(hdr_len + NONCE);
    let rem = payload % ENC_CHUNK;
    let consistent = if rem == 0 {
        payload > 0
    } else {
        rem >= 16 && (rem - 16).is_multiple_of(512)
    };
    if !consistent {
        return BackupError::Truncated { mid_chunk: true };
    }
    BackupError::PayloadCorrupt { chunk }
}

/// Whether the first `len` bytes of the file are a complete age file
/// (its last chunk authenticates as the last one).
fn ends_at(path: &Path, id: &CachingIdentity, len: u64) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let w = Window {
        inner: BufReader::new(f),
        len,
        pos: 0,
    };
    let Ok(dec) = age::Decryptor::new(w) else {
        return false;
    };
    let Ok(mut r) = dec.decrypt(std::iter::once(id as &dyn age::Identity)) else {
        return false;
    };
    r.seek(SeekFrom::End(0)).is_ok()
}

/// The first `len` bytes of a file, seekable.
struct Window<R> {
    inner: R,
    len: u64,
    pos: u64,
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        self.pos = self.inner.seek(SeekFrom::Start(target))?;
        Ok(self.pos)
    }
}

/// Reads the tar: the manifest first, then every file into staging.
fn unpack<R: Read>(r: R, opts: &ReadOptions<'_>) -> Result<Manifest, BackupError> {
    let terr = io_err("reading the backup's contents");
    let mut ar = tar::Archive::new(r);
    let mut entries = ar.entries().map_err(&terr)?;
    let manifest = {
        let Some(first) = entries.next() else {
            return Err(BackupError::ManifestMissing);
        };
        let mut first = first.map_err(&terr)?;
        let raw = first.path_bytes().into_owned();
        if raw != MANIFEST_NAME.as_bytes() {
            let first_name = String::from_utf8_lossy(&raw).into_owned();
            for e in entries.by_ref() {
                if e.map_err(&terr)?.path_bytes().as_ref() == MANIFEST_NAME.as_bytes() {
                    return Err(BackupError::ManifestNotFirst { first: first_name });
                }
            }
            return Err(BackupError::ManifestMissing);
        }
        let kind = EntryKind::from_type_byte(first.header().entry_type().as_byte());
        if kind != EntryKind::Regular || first.size() > MAX_MANIFEST {
            return Err(BackupError::ManifestMalformed(ManifestError::Field(
                format!("not a regular file of at most {MAX_MANIFEST} bytes"),
            )));
        }
        let mut buf = Vec::new();
        (&mut first)
            .take(MAX_MANIFEST)
            .read_to_end(&mut buf)
            .map_err(&terr)?;
        Manifest::parse(&buf).map_err(|e| match e {
            ManifestError::Newer { found, supported } => {
                BackupError::NewerFormat { found, supported }
            }
            e => BackupError::ManifestMalformed(e),
        })?
    };
    if manifest.source.model != opts.expected_model {
        return Err(BackupError::OtherModel {
            found: manifest.source.model.clone(),
            expected: opts.expected_model.to_owned(),
        });
    }
    let mut expected: HashMap<String, (&str, u64, bool)> = HashMap::new();
    for c in &manifest.components {
        for f in &c.files {
            expected.insert(
                format!("components/{}/{}", c.id, f.path),
                (&f.sha256, f.size, false),
            );
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    for e in entries {
        let mut e = e.map_err(&terr)?;
        let raw = e.path_bytes().into_owned();
        let kind = EntryKind::from_type_byte(e.header().entry_type().as_byte());
        let name = match filter::check_entry(&raw, kind) {
            Ok(None) => continue,
            Ok(Some(n)) => n.to_owned(),
            Err(reason) => {
                return Err(BackupError::UnsafeEntry {
                    path: String::from_utf8_lossy(&raw).into_owned(),
                    reason,
                })
            }
        };
        let Some((sha, size, seen)) = expected.get_mut(&name) else {
            return Err(BackupError::UnlistedFile { path: name });
        };
        if *seen {
            return Err(BackupError::DuplicateFile { path: name });
        }
        *seen = true;
        if e.size() != *size {
            return Err(BackupError::SizeMismatch {
                path: name,
                manifest: *size,
                tar: e.size(),
            });
        }
        let dest = opts.staging.join(&name);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err("creating a staging directory"))?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&dest)
            .map_err(io_err("creating a staged file"))?;
        let mut h = Sha256::new();
        loop {
            let n = e.read(&mut buf).map_err(&terr)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io_err("writing a staged file"))?;
        }
        out.sync_all().map_err(io_err("writing a staged file"))?;
        if hex::encode(h.finalize()) != *sha {
            return Err(BackupError::HashMismatch { path: name });
        }
    }
    let mut missing: Vec<&String> = expected
        .iter()
        .filter(|(_, v)| !v.2)
        .map(|(k, _)| k)
        .collect();
    missing.sort();
    if let Some(p) = missing.first() {
        return Err(BackupError::MissingFile { path: (*p).clone() });
    }
    // Read the stream to its authenticated end: only then is every byte,
    // including the last chunk, known to be genuine.
    let mut rest = ar.into_inner();
    loop {
        let n = rest.read(&mut buf).map_err(&terr)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(BackupError::TrailingTarData);
        }
    }
    Ok(manifest)
}
