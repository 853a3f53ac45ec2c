//! The release manifest of one appliance model and channel: what to install
//! and how the disk should look. Stored signed at
//! `models/<model>/<channel>/manifest.json` (docs/repository.md).

use crate::keys::TrustStore;
use crate::signed::{self, VerifyError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The envelope's `payload_type`.
pub const PAYLOAD_TYPE: &str = "manifest";
const WHAT: &str = "manifest";

/// A release manifest (the signed payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version ([`crate::FORMAT`]).
    pub format: u32,
    /// The appliance model, e.g. `example-appliance`.
    pub model: String,
    /// The channel, e.g. `stable`.
    pub channel: String,
    /// Grows with every publication; installers refuse older ones.
    pub metadata_version: u64,
    /// Unix time after which the manifest is refused.
    pub expires: u64,
    /// The key that signs this model's manifests is named in the envelope;
    /// this is the release's own version, e.g. `1.0.0`.
    pub release: String,
    /// Minimum RAM in MiB.
    pub min_ram_mib: u64,
    /// The disk layout.
    pub layout: Layout,
    /// What to download and where it goes.
    pub components: Vec<Component>,
    /// How the installed system boots.
    pub boot: Boot,
}

/// What the installer's boot loader configuration starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    /// The kernel's path in the boot partition, e.g. `/vmlinuz`.
    pub kernel: String,
    /// The initrd's path there, e.g. `/initrd.img`.
    pub initrd: String,
    /// Kernel parameters; the installer adds the console (`console=…`).
    pub cmdline: String,
}

/// The partitions the appliance wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Disks smaller than this are refused (MiB).
    pub min_disk_mib: u64,
    /// In disk order.
    pub partitions: Vec<Partition>,
}

/// What a partition is for (maps to GPT type GUIDs and MBR type bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    /// The EFI system partition (FAT).
    Esp,
    /// A FAT boot partition for kernel, initrd and the handover record.
    Boot,
    /// Linux data.
    Linux,
    /// The appliance's root file system image (GPT type "Linux root
    /// x86-64", so tools recognise it; MBR type 0x83 like `linux`).
    Root,
}

/// A filesystem the installer creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Filesystem {
    /// FAT32, made with fatfs.
    Vfat,
    /// Nothing: a partition image is written raw.
    None,
    /// Nothing, and no image either: the installer clears the partition's
    /// first and last MiB, so no earlier file system signature survives,
    /// and the appliance formats it on its first boot.
    Empty,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// How components refer to it, e.g. `boot`.
    pub name: String,
    /// The partition and filesystem label, e.g. `APPBOOT`.
    pub label: String,
    /// What it is.
    pub kind: PartitionKind,
    /// What the installer formats it with.
    pub filesystem: Filesystem,
    /// Size in MiB (the minimum when `grow`).
    pub size_mib: u64,
    /// Takes the rest of the disk (only the last partition).
    #[serde(default)]
    pub grow: bool,
}

/// How a component is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// As is.
    None,
    /// gzip; `content_size` is the size after decompression.
    Gzip,
}

/// What a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    /// A file in a FAT partition (kernel, initrd, …).
    BootFile,
    /// A raw image written to a whole partition.
    PartitionImage,
}

/// Where a component goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// The partition's `name`.
    pub partition: String,
    /// The file's absolute path inside it (boot files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// e.g. `kernel`.
    pub name: String,
    /// What it is.
    pub kind: ComponentKind,
    /// Size of the stored object in bytes.
    pub size: u64,
    /// SHA-256 of the stored object (its name under `objects/sha256/`).
    pub sha256: String,
    /// How it is stored.
    pub compression: Compression,
    /// Size after decompression (equal to `size` without compression).
    pub content_size: u64,
    /// Where it goes.
    pub destination: Destination,
    /// The SHA-256 of each fixed-size piece of the stored object: the
    /// installer checks each piece before any of its bytes are used.
    pub chunks: Chunks,
}

/// The chunk size `publish` uses (1 MiB): the installer buffers one chunk.
pub const CHUNK_SIZE: u64 = 1 << 20;
/// The smallest chunk size a manifest may name.
pub const MIN_CHUNK_SIZE: u64 = 4 << 10;
/// The largest chunk size a manifest may name (the installer's buffer).
pub const MAX_CHUNK_SIZE: u64 = 16 << 20;

/// A component's chunk list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunks {
    /// Bytes per chunk (the last one may be shorter).
    pub size: u64,
    /// SHA-256 of each chunk of the stored object, in order.
    pub sha256: Vec<String>,
}

impl Chunks {
    /// The chunk list of `bytes` (tests and small objects; `publish`
    /// streams with [`ChunkHasher`]).
    pub fn of(bytes: &[u8], size: u64) -> Chunks {
        let mut h = ChunkHasher::new(size);
        h.update(bytes);
        h.finish()
    }
}

/// Computes a chunk list from bytes fed in any pieces.
pub struct ChunkHasher {
    size: u64,
    filled: u64,
    current: sha2::Sha256,
    done: Vec<String>,
}

impl ChunkHasher {
    /// Chunks of `size` bytes.
    pub fn new(size: u64) -> ChunkHasher {
        ChunkHasher {
            size: size.max(1),
            filled: 0,
            current: sha2::Sha256::default(),
            done: Vec::new(),
        }
    }

    /// The next bytes of the object.
    pub fn update(&mut self, mut bytes: &[u8]) {
        use sha2::Digest;
        while !bytes.is_empty() {
            let room = usize::try_from(self.size - self.filled).unwrap_or(usize::MAX);
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.current.update(now);
            self.filled += now.len() as u64;
            bytes = rest;
            if self.filled == self.size {
                let h = std::mem::take(&mut self.current).finalize();
                self.done.push(hex::encode(h));
                self.filled = 0;
            }
        }
    }

    /// The list (the last, shorter chunk included).
    pub fn finish(mut self) -> Chunks {
        use sha2::Digest;
        if self.filled > 0 {
            self.done.push(hex::encode(self.current.finalize()));
        }
        Chunks {
            size: self.size,
            sha256: self.done,
        }
    }
}

impl Component {
    /// The object's path relative to the repository root.
    pub fn object_path(&self) -> String {
        crate::object_path(&self.sha256)
    }
}

use crate::is_sha256_hex;

impl Manifest {
    /// Checks what signatures cannot: names unique, destinations exist and
    /// fit the component kind, sizes consistent. Returns the key path and
    /// reason of the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let parts: BTreeSet<&str> = self
            .layout
            .partitions
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        if parts.len() != self.layout.partitions.len() {
            return Err("layout.partitions: two partitions share a name".into());
        }
        if self.layout.partitions.is_empty() {
            return Err("layout.partitions: empty".into());
        }
        let last = self.layout.partitions.len() - 1;
        let mut total = 1u64; // alignment gap at the start
        for (i, p) in self.layout.partitions.iter().enumerate() {
            if p.grow && i != last {
                return Err(format!(
                    "layout.partitions[{i}].grow: only the last partition may grow"
                ));
            }
            if p.size_mib == 0 {
                return Err(format!("layout.partitions[{i}].size_mib: must be > 0"));
            }
            if p.label.is_empty()
                || p.label.len() > 11
                || !p
                    .label
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(format!(
                    "layout.partitions[{i}].label: 1-11 of A-Z, 0-9, _ (a FAT label)"
                ));
            }
            total = total.saturating_add(p.size_mib);
        }
        if total > self.layout.min_disk_mib {
            return Err(format!(
                "layout.min_disk_mib: {} is less than the partitions need ({total})",
                self.layout.min_disk_mib
            ));
        }
        let mut names = BTreeSet::new();
        let mut whole = BTreeSet::new();
        for (field, path) in [
            ("boot.kernel", &self.boot.kernel),
            ("boot.initrd", &self.boot.initrd),
        ] {
            let provided = self.components.iter().any(|c| {
                c.kind == ComponentKind::BootFile && c.destination.path.as_ref() == Some(path)
            });
            if !provided {
                return Err(format!(
                    "{field}: no boot-file component is installed at {path:?}"
                ));
            }
        }
        for (i, c) in self.components.iter().enumerate() {
            let at = |field: &str| format!("components[{i}].{field}");
            if !names.insert(c.name.as_str()) {
                return Err(format!("{}: {:?} appears twice", at("name"), c.name));
            }
            if !is_sha256_hex(&c.sha256) {
                return Err(format!(
                    "{}: expected 64 lowercase hex digits",
                    at("sha256")
                ));
            }
            if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&c.chunks.size) {
                return Err(format!(
                    "{}: {} is not between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes",
                    at("chunks.size"),
                    c.chunks.size
                ));
            }
            let count = c.size.div_ceil(c.chunks.size);
            if c.chunks.sha256.len() as u64 != count {
                return Err(format!(
                    "{}: {} entries, but {} bytes in chunks of {} make {count}",
                    at("chunks.sha256"),
                    c.chunks.sha256.len(),
                    c.size,
                    c.chunks.size
                ));
            }
            if let Some(j) = c.chunks.sha256.iter().position(|h| !is_sha256_hex(h)) {
                return Err(format!(
                    "{}[{j}]: expected 64 lowercase hex digits",
                    at("chunks.sha256")
                ));
            }
            if c.compression == Compression::None && c.content_size != c.size {
                return Err(format!(
                    "{}: must equal size without compression",
                    at("content_size")
                ));
            }
            let Some(p) = self
                .layout
                .partitions
                .iter()
                .find(|p| p.name == c.destination.partition)
            else {
                return Err(format!(
                    "{}: no partition named {:?}",
                    at("destination.partition"),
                    c.destination.partition
                ));
            };
            match c.kind {
                ComponentKind::BootFile => {
                    if p.filesystem != Filesystem::Vfat {
                        return Err(format!(
                            "{}: boot files need a vfat partition",
                            at("destination.partition")
                        ));
                    }
                    match &c.destination.path {
                        Some(path)
                            if path.starts_with('/') && !path.split('/').any(|s| s == "..") => {}
                        _ => {
                            return Err(format!(
                                "{}: an absolute path without `..`",
                                at("destination.path")
                            ))
                        }
                    }
                }
                ComponentKind::PartitionImage => {
                    if c.destination.path.is_some() {
                        return Err(format!(
                            "{}: partition images take no path",
                            at("destination.path")
                        ));
                    }
                    if p.filesystem != Filesystem::None {
                        return Err(format!(
                            "{}: partition images need `filesystem: none` (an `empty` partition receives nothing)",
                            at("destination.partition")
                        ));
                    }
                    if !whole.insert(p.name.as_str()) {
                        return Err(format!(
                            "{}: two images for one partition",
                            at("destination.partition")
                        ));
                    }
                    if c.content_size > p.size_mib * 1024 * 1024 && !p.grow {
                        return Err(format!(
                            "{}: {} bytes do not fit {} MiB",
                            at("content_size"),
                            c.content_size,
                            p.size_mib
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Signs the manifest (after [`Manifest::validate`]).
    pub fn sign(&self, keys: &[&crate::keys::SecretKey]) -> Result<Vec<u8>, String> {
        self.validate()?;
        let payload = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        Ok(signed::sign(PAYLOAD_TYPE, &payload, keys))
    }

    /// Verifies a stored manifest: signature, format, expiry, rollback
    /// (`minimum` is the larger of the ISO's floor and the newest seen), that
    /// it is the `model`/`channel` asked for, and [`Manifest::validate`].
    pub fn verify(
        bytes: &[u8],
        trust: &TrustStore,
        now: u64,
        minimum: u64,
        model: &str,
        channel: &str,
    ) -> Result<Manifest, VerifyError> {
        let m: Manifest =
            signed::open_payload(bytes, trust, now, minimum.max(trust.min_manifest_version))?;
        if m.model != model || m.channel != channel {
            return Err(VerifyError::Mismatch {
                what: WHAT,
                expected: format!("{model}/{channel}"),
                found: format!("{}/{}", m.model, m.channel),
            });
        }
        m.validate()
            .map_err(|reason| VerifyError::Invalid { what: WHAT, reason })?;
        Ok(m)
    }
}

impl signed::Payload for Manifest {
    const TYPE: &'static str = PAYLOAD_TYPE;
    const WHAT: &'static str = WHAT;
    fn header(&self) -> (u32, u64, u64) {
        (self.format, self.expires, self.metadata_version)
    }
}
