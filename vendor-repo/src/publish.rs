//! Writing a repository: objects, signed manifests and serial records. Used
//! by `cargo xtask repo`. Every file is written under a temporary name and
//! renamed into place, so a server never serves half a file, and metadata is
//! written after the objects it names.

use crate::keys::{PublicKey, SecretKey};
use crate::manifest::{
    ChunkHasher, Chunks, Component, ComponentKind, Compression, Destination, Layout, Manifest,
    CHUNK_SIZE,
};
use crate::registry::{Entitlement, SerialRecord};
use crate::serial::Serial;
use crate::signed::Envelope;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Errors while publishing.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// File system trouble, with the path.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The release description is not valid.
    #[error("invalid release: {0}")]
    Invalid(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `root/rel` atomically.
pub fn write_file(root: &Path, rel: &str, bytes: &[u8]) -> Result<PathBuf, PublishError> {
    let path = root.join(rel);
    let dir = path.parent().unwrap_or(root);
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    Ok(path)
}

/// A component to publish (an entry of a release description's
/// `components`; docs/repository.md).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentInput {
    /// Its name in the manifest.
    pub name: String,
    /// What it is.
    pub kind: ComponentKind,
    /// The file (relative paths are relative to the description file).
    pub file: PathBuf,
    /// Store it gzip-compressed.
    #[serde(default = "no_compression")]
    pub compression: Compression,
    /// Where it goes.
    pub destination: Destination,
}

fn no_compression() -> Compression {
    Compression::None
}

/// A release to publish: the release description file (docs/repository.md).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    /// The model.
    pub model: String,
    /// The channel.
    pub channel: String,
    /// The release version.
    pub release: String,
    /// Minimum RAM.
    pub min_ram_mib: u64,
    /// Disk layout.
    pub layout: Layout,
    /// Components.
    pub components: Vec<ComponentInput>,
    /// How the installed system boots.
    pub boot: crate::manifest::Boot,
}

struct HashWriter<W> {
    inner: W,
    hash: Sha256,
    chunks: ChunkHasher,
    size: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.chunks.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A stored object: what the manifest says about it.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// SHA-256 of the stored bytes (its name).
    pub sha256: String,
    /// Stored size.
    pub size: u64,
    /// Size after decompression.
    pub content_size: u64,
    /// The chunk list of the stored bytes ([`CHUNK_SIZE`]).
    pub chunks: Chunks,
}

/// Stores `file` (compressed if asked) under `objects/sha256/`, streaming.
pub fn add_object(
    root: &Path,
    file: &Path,
    compression: Compression,
) -> Result<StoredObject, PublishError> {
    let dir = root.join("objects/sha256");
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let tmp = dir.join(format!(".incoming.{}", std::process::id()));
    let mut input = fs::File::open(file).map_err(io_err(file))?;
    let out = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    let mut w = HashWriter {
        inner: io::BufWriter::new(out),
        hash: Sha256::new(),
        chunks: ChunkHasher::new(CHUNK_SIZE),
        size: 0,
    };
    let content = match compression {
        Compression::None => io::copy(&mut input, &mut w).map_err(io_err(file))?,
        Compression::Gzip => {
            let mut gz = flate2::GzBuilder::new().write(&mut w, flate2::Compression::new(6));
            let n = io::copy(&mut input, &mut gz).map_err(io_err(file))?;
            gz.finish().map_err(io_err(&tmp))?;
            n
        }
    };
    w.flush().map_err(io_err(&tmp))?;
    let sha = hex::encode(w.hash.finalize());
    let size = w.size;
    let chunks = w.chunks.finish();
    let dest = root.join(crate::object_path(&sha));
    fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    Ok(StoredObject {
        sha256: sha,
        size,
        content_size: content,
        chunks,
    })
}

/// The `metadata_version` in an existing file's payload, read without
/// verification (it is the publisher's own repository): the next
/// publication must be higher.
pub fn current_version(root: &Path, rel: &str) -> Option<u64> {
    let bytes = fs::read(root.join(rel)).ok()?;
    let env: Envelope = serde_json::from_slice(&bytes).ok()?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env.payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    v.get("metadata_version")?.as_u64()
}

/// Publishes a release: objects first, then the signed manifest. The
/// manifest's version is one more than the one it replaces.
pub fn publish_release(
    root: &Path,
    input: &ReleaseInput,
    keys: &[&SecretKey],
    now: u64,
    valid_secs: u64,
) -> Result<Manifest, PublishError> {
    let mut components = Vec::new();
    for c in &input.components {
        let o = add_object(root, &c.file, c.compression)?;
        components.push(Component {
            name: c.name.clone(),
            kind: c.kind,
            size: o.size,
            sha256: o.sha256,
            compression: c.compression,
            content_size: o.content_size,
            destination: c.destination.clone(),
            chunks: o.chunks,
        });
    }
    let rel = crate::manifest_path(&input.model, &input.channel);
    let manifest = Manifest {
        format: crate::FORMAT,
        model: input.model.clone(),
        channel: input.channel.clone(),
        metadata_version: current_version(root, &rel).unwrap_or(0) + 1,
        expires: now + valid_secs,
        release: input.release.clone(),
        min_ram_mib: input.min_ram_mib,
        layout: input.layout.clone(),
        components,
        boot: input.boot.clone(),
    };
    let bytes = manifest.sign(keys).map_err(PublishError::Invalid)?;
    write_file(root, &rel, &bytes)?;
    for k in keys {
        write_public_key(root, &k.public())?;
    }
    Ok(manifest)
}

/// Adds or replaces a serial's record.
pub fn add_serial(
    root: &Path,
    serial: &Serial,
    entitlements: Vec<Entitlement>,
    keys: &[&SecretKey],
    now: u64,
    valid_secs: u64,
) -> Result<SerialRecord, PublishError> {
    let rel = crate::serial_path(serial);
    let record = SerialRecord {
        format: crate::FORMAT,
        serial_id: serial.registry_id(),
        metadata_version: current_version(root, &rel).unwrap_or(0) + 1,
        expires: now + valid_secs,
        entitlements,
    };
    let bytes = record.sign(keys).map_err(PublishError::Invalid)?;
    write_file(root, &rel, &bytes)?;
    Ok(record)
}

/// Files directly inside `dir` (sorted), or none when it does not exist.
fn list(dir: &Path) -> Result<Vec<PathBuf>, PublishError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries {
        out.push(e.map_err(io_err(dir))?.path());
    }
    out.sort();
    Ok(out)
}

/// The snapshot entry of the metadata file `root/rel` (its version read
/// without verification: it is the publisher's own repository).
fn entry(root: &Path, rel: &str) -> Result<crate::snapshot::Entry, PublishError> {
    let path = root.join(rel);
    let bytes = read(&path)?;
    let version = current_version(root, rel).ok_or_else(|| {
        PublishError::Invalid(format!(
            "{}: not a signed metadata file with a metadata_version",
            path.display()
        ))
    })?;
    Ok(crate::snapshot::Entry::of(version, &bytes))
}

/// Writes a new `snapshot.json` listing every manifest and serial record
/// as they are now; its version is one more than the one it replaces. Run
/// after every publication, and before the last one expires.
pub fn write_snapshot(
    root: &Path,
    keys: &[&SecretKey],
    now: u64,
    valid_secs: u64,
) -> Result<crate::Snapshot, PublishError> {
    let mut manifests = std::collections::BTreeMap::new();
    for model in list(&root.join("models"))? {
        for channel in list(&model)? {
            if !channel.join("manifest.json").is_file() {
                continue;
            }
            let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
            let (Some(m), Some(c)) = (name(&model), name(&channel)) else {
                continue;
            };
            let rel = crate::manifest_path(&m, &c);
            manifests.insert(rel.clone(), entry(root, &rel)?);
        }
    }
    let mut serials = std::collections::BTreeMap::new();
    for file in list(&root.join("serials"))? {
        let Some(id) = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        if !crate::is_sha256_hex(id) {
            continue;
        }
        serials.insert(id.to_string(), entry(root, &format!("serials/{id}.json"))?);
    }
    let snapshot = crate::Snapshot {
        format: crate::FORMAT,
        metadata_version: current_version(root, crate::snapshot::PATH).unwrap_or(0) + 1,
        expires: now + valid_secs,
        manifests,
        serials,
    };
    let bytes = snapshot.sign(keys).map_err(PublishError::Invalid)?;
    write_file(root, crate::snapshot::PATH, &bytes)?;
    Ok(snapshot)
}

/// Publishes a public key under `keys/` (informational: installers trust
/// only the keys built into them).
pub fn write_public_key(root: &Path, key: &PublicKey) -> Result<PathBuf, PublishError> {
    let name = key.id.replace(':', "-");
    write_file(
        root,
        &format!("keys/{name}.json"),
        key.to_json("").as_bytes(),
    )
}

/// Reads a file fully (helper for callers that verify what they published).
pub fn read(path: &Path) -> Result<Vec<u8>, PublishError> {
    let mut v = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut v))
        .map_err(io_err(path))?;
    Ok(v)
}
