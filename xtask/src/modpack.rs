//! The module pack on the medium: every driver under `product::PACK_DIRS`
//! (plus `product::PACK_MODULES`) with its dependency closure, each module
//! compressed on its own with zstd, an index that covers the pack and the
//! initramfs, and the firmware files those drivers name, as the firmware
//! packages have them. Layout:
//! `image_builder::kmod::pack`.
//!
//! Compressed files are cached by the SHA-256 of their input under
//! `<cache>/compressed/` (the same input and level give the same bytes, so
//! the cache keeps builds reproducible and fast).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image_builder::kmod::{pack, ModuleDb, ModuleRef};
use sha2::{Digest, Sha256};

use crate::inputs::Inputs;
use crate::lockfile::Role;
use crate::product;
use crate::project;
use crate::tree::{TreeFile, TreeSource};

/// zstd level of packed modules (one frame each; the installer decompresses
/// one module at a time into memory).
const MODULE_ZSTD_LEVEL: i32 = 19;
/// xz preset of packed firmware.
const FIRMWARE_XZ_PRESET: u32 = 9;

/// What a build put into the pack, for the build's report and the tests.
#[derive(Debug, Clone, Default)]
pub struct Pack {
    /// The files to add to the ISO, sorted by path.
    pub files: Vec<TreeFile>,
    /// Modules stored in the pack (not counting the initramfs's).
    pub modules: usize,
    /// Firmware files stored.
    pub firmware: usize,
    /// Bytes of every file of the pack (compressed).
    pub bytes: u64,
    /// `(module, firmware)` names a packed driver asks for that no pinned
    /// firmware package has, sorted.
    pub missing_firmware: Vec<(String, String)>,
}

/// The module sets of an ISO: what the initramfs carries and what the pack
/// adds. Both are closed over dependencies.
#[derive(Debug, Clone)]
pub struct ModuleSets {
    pub initramfs: Vec<ModuleRef>,
    /// The pack's own modules (without the initramfs's).
    pub pack: Vec<ModuleRef>,
}

impl ModuleSets {
    /// Computes both sets from a scan of the pinned kernel's modules.
    pub fn compute(db: &ModuleDb) -> Result<ModuleSets> {
        let initramfs = db
            .closure(product::ROOT_MODULES)
            .context("resolving the initramfs module set")?;
        let mut roots: Vec<&str> = db
            .modules()
            .filter(|m| {
                product::PACK_DIRS
                    .iter()
                    .any(|d| m.path.starts_with(&format!("{d}/")))
            })
            .map(|m| m.name.as_str())
            .collect();
        roots.extend(product::PACK_MODULES);
        let all = db
            .closure(&roots)
            .context("resolving the module pack's set")?;
        let inside: BTreeSet<&str> = initramfs.iter().map(|m| m.name.as_str()).collect();
        let pack = all
            .into_iter()
            .filter(|m| !inside.contains(m.name.as_str()))
            .collect();
        Ok(ModuleSets { initramfs, pack })
    }

    /// Every module of the ISO, sorted by name.
    pub fn union(&self) -> Vec<ModuleRef> {
        let mut all: Vec<ModuleRef> = self.initramfs.iter().chain(&self.pack).cloned().collect();
        all.sort();
        all.dedup();
        all
    }
}

/// Builds the pack from the pinned kernel and firmware packages.
pub fn build(inputs: &Inputs) -> Result<Pack> {
    let (modules_dir, release) = inputs.kernel_modules()?;
    let db = ModuleDb::scan(&modules_dir)
        .with_context(|| format!("indexing {}", modules_dir.display()))?;
    let sets = ModuleSets::compute(&db)?;
    let base = pack::release_dir(&release);
    let mut files = Vec::new();

    let index = db
        .render_index(&sets.union())
        .context("rendering the module pack's index")?;
    for (name, text) in index.files() {
        files.push(TreeFile {
            path: format!("{base}/{name}"),
            source: TreeSource::Bytes(text.as_bytes().to_vec()),
            mode: 0o444,
        });
    }

    let jobs: Vec<(PathBuf, String, Codec)> = sets
        .pack
        .iter()
        .map(|m| {
            (
                modules_dir.join(&m.path),
                format!("{base}/{}", pack::module_file(&m.name)),
                Codec::Zstd,
            )
        })
        .collect();
    let modules = jobs.len();

    let (firmware_jobs, missing_firmware) = firmware_jobs(inputs, &db, &sets)?;
    let firmware = firmware_jobs.len();
    for (path, tree_path) in compress_all(&jobs)? {
        files.push(TreeFile::from_path(path, &tree_path));
    }
    // Firmware stays uncompressed: under QEMU the Debian kernel did not load
    // `.xz` firmware from the medium, and plain files cost 3.4 MiB more.
    for (src, tree_path, _) in firmware_jobs {
        files.push(TreeFile::from_path(src, &tree_path));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut bytes = 0;
    for f in &files {
        bytes += match &f.source {
            TreeSource::Bytes(b) => b.len() as u64,
            TreeSource::Path(p) => fs::metadata(p)?.len(),
        };
    }
    Ok(Pack {
        files,
        modules,
        firmware,
        bytes,
        missing_firmware,
    })
}

/// The firmware files the pack's and the initramfs's drivers name, found in
/// the pinned firmware packages (`lib/firmware/<name>`, symlinks followed
/// inside the package), each as a compression job; and the names no package
/// has.
#[allow(clippy::type_complexity)]
fn firmware_jobs(
    inputs: &Inputs,
    db: &ModuleDb,
    sets: &ModuleSets,
) -> Result<(Vec<(PathBuf, String, Codec)>, Vec<(String, String)>)> {
    let roots: Vec<PathBuf> = Role::FIRMWARE
        .iter()
        .map(|r| inputs.root(*r).join("lib/firmware"))
        .collect();
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for m in sets.union() {
        if let Some(record) = db.get(&m.name) {
            for fw in &record.info.firmware {
                wanted.entry(fw.clone()).or_insert_with(|| m.name.clone());
            }
        }
    }
    let mut jobs = Vec::new();
    let mut missing = Vec::new();
    for (name, module) in wanted {
        if !pack::firmware_name_is_safe(&name) {
            bail!(
                "module {module} names the firmware {name:?}, which is not a plain relative path"
            );
        }
        match find_firmware(&roots, &name) {
            Some(src) => jobs.push((
                src,
                format!("{}/{}", pack::FIRMWARE_DIR, pack::firmware_file(&name)),
                Codec::Xz,
            )),
            None => missing.push((module, name)),
        }
    }
    missing.sort();
    Ok((jobs, missing))
}

/// The first package root holding `name` as a regular file (after symlinks,
/// which must stay inside that root).
fn find_firmware(roots: &[PathBuf], name: &str) -> Option<PathBuf> {
    roots.iter().find_map(|root| {
        let path = root.join(name);
        let real = fs::canonicalize(&path).ok()?;
        let root_real = fs::canonicalize(root).ok()?;
        (real.starts_with(&root_real) && real.is_file()).then_some(real)
    })
}

#[derive(Debug, Clone, Copy)]
enum Codec {
    Zstd,
    Xz,
}

impl Codec {
    fn tag(self) -> String {
        match self {
            Codec::Zstd => format!("zst{MODULE_ZSTD_LEVEL}"),
            Codec::Xz => format!("xz{FIRMWARE_XZ_PRESET}crc32d1m"),
        }
    }

    fn compress(self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            Codec::Zstd => {
                let mut enc = zstd::stream::Encoder::new(Vec::new(), MODULE_ZSTD_LEVEL)?;
                enc.include_checksum(true)?;
                enc.set_pledged_src_size(Some(data.len() as u64))?;
                enc.include_contentsize(true)?;
                enc.write_all(data)?;
                Ok(enc.finish()?)
            }
            Codec::Xz => {
                // The kernel's xz decoder knows CRC32 and no check only, and
                // allocates the dictionary the header names: 1 MiB, as the
                // kernel's own module compression uses, not preset 9's 64 MiB.
                let mut lzma = xz2::stream::LzmaOptions::new_preset(FIRMWARE_XZ_PRESET)?;
                lzma.dict_size(1 << 20);
                let mut filters = xz2::stream::Filters::new();
                filters.lzma2(&lzma);
                let stream =
                    xz2::stream::Stream::new_stream_encoder(&filters, xz2::stream::Check::Crc32)?;
                let mut enc = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
                enc.write_all(data)?;
                Ok(enc.finish()?)
            }
        }
    }
}

/// Compresses every job (cached), on as many threads as the machine has
/// cores; returns `(cached output, tree path)` in job order.
fn compress_all(jobs: &[(PathBuf, String, Codec)]) -> Result<Vec<(PathBuf, String)>> {
    let cache = project::cache_dir().join("compressed");
    fs::create_dir_all(&cache)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = jobs.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<(PathBuf, String)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let cache = &cache;
                s.spawn(move || {
                    part.iter()
                        .map(|(src, tree, codec)| {
                            Ok((compressed(cache, src, *codec)?, tree.clone()))
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a compression thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(jobs.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// The cached compressed form of `src`, made if missing (written to a
/// temporary name, then renamed).
fn compressed(cache: &Path, src: &Path, codec: Codec) -> Result<PathBuf> {
    let data = fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    let key = hex::encode(Sha256::digest(&data));
    let out = cache.join(format!("{key}.{}", codec.tag()));
    if out.is_file() {
        return Ok(out);
    }
    let bytes = codec
        .compress(&data)
        .with_context(|| format!("compressing {}", src.display()))?;
    let tmp = cache.join(format!(".tmp-{key}-{}", crate::inputs::unique()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, &out)?;
    Ok(out)
}

/// The list of common server devices (`xtask/data/server-pci-ids.txt`) and
/// the test that every one has a driver in the ISO.
#[cfg(test)]
mod server_ids {
    use super::*;

    /// One line of `xtask/data/server-pci-ids.txt`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ServerDevice {
        pub vendor: u16,
        pub device: u16,
        /// Base class, subclass, programming interface.
        pub class: [u8; 3],
        pub driver: String,
        pub what: String,
    }

    impl ServerDevice {
        /// The modalias the kernel gives the device (subsystem 0000:0000).
        pub fn modalias(&self) -> String {
            format!(
                "pci:v{:08X}d{:08X}sv00000000sd00000000bc{:02X}sc{:02X}i{:02X}",
                self.vendor, self.device, self.class[0], self.class[1], self.class[2]
            )
        }
    }

    /// The committed list of common server devices.
    pub const SERVER_PCI_IDS: &str = include_str!("../data/server-pci-ids.txt");

    /// Parses the list; errors name the line.
    pub fn server_devices(text: &str) -> Result<Vec<ServerDevice>> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| anyhow::anyhow!("server-pci-ids.txt line {}: {what}", i + 1);
            let mut words = line.split_whitespace();
            let (Some(id), Some(class), Some(driver)) = (words.next(), words.next(), words.next())
            else {
                return Err(bad("expected `vendor:device class driver description`"));
            };
            let (v, d) = id
                .split_once(':')
                .ok_or_else(|| bad("id is not vendor:device"))?;
            let hex16 = |s: &str| u16::from_str_radix(s, 16).map_err(|_| bad("id is not hex"));
            let c = u32::from_str_radix(class, 16)
                .ok()
                .filter(|_| class.len() == 6)
                .ok_or_else(|| bad("class is not 6 hex digits"))?;
            out.push(ServerDevice {
                vendor: hex16(v)?,
                device: hex16(d)?,
                class: [(c >> 16) as u8, (c >> 8) as u8, c as u8],
                driver: driver.to_string(),
                what: words.collect::<Vec<_>>().join(" "),
            });
        }
        Ok(out)
    }

    #[test]
    fn the_server_list_parses_and_is_long_enough() {
        let list = server_devices(SERVER_PCI_IDS).unwrap();
        let pairs: BTreeSet<(u16, u16)> = list.iter().map(|d| (d.vendor, d.device)).collect();
        assert!(pairs.len() >= 40, "{} devices", pairs.len());
        assert_eq!(pairs.len(), list.len(), "a device is listed twice");
        assert_eq!(
            list[0].modalias(),
            "pci:v000010ECd00008168sv00000000sd00000000bc02sc00i00"
        );
        let err = server_devices("10ec:8168 02 r8169\n").unwrap_err();
        assert!(err.to_string().contains("line 1: class"), "{err}");
    }

    #[test]
    #[ignore = "needs the pinned kernel (cargo xtask inputs: apt-get and the network on first use)"]
    fn every_listed_server_device_has_a_driver_in_the_iso() {
        let inputs = crate::inputs::ensure().unwrap();
        let (dir, _) = inputs.kernel_modules().unwrap();
        let db = ModuleDb::scan(&dir).unwrap();
        let sets = ModuleSets::compute(&db).unwrap();
        let shipped: BTreeSet<String> = sets.union().into_iter().map(|m| m.name).collect();
        let mut problems = Vec::new();
        for d in server_devices(SERVER_PCI_IDS).unwrap() {
            let alias = d.modalias();
            let matching = db.modules_matching_alias(&alias);
            if !matching.contains(&d.driver) {
                problems.push(format!(
                    "{} ({alias}): {} does not match; matching: {matching:?}",
                    d.what, d.driver
                ));
            } else if !shipped.contains(&d.driver) {
                problems.push(format!(
                    "{} ({alias}): {} is not in the ISO",
                    d.what, d.driver
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_round_trip_and_are_deterministic() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let z = Codec::Zstd.compress(&data).unwrap();
        assert_eq!(z, Codec::Zstd.compress(&data).unwrap());
        assert_eq!(zstd::stream::decode_all(&z[..]).unwrap(), data);
        let x = Codec::Xz.compress(&data).unwrap();
        assert_eq!(x, Codec::Xz.compress(&data).unwrap());
        // Stream flags (bytes 6..8 of the xz header): check type 1 = CRC32.
        assert_eq!(&x[..6], b"\xfd7zXZ\0");
        assert_eq!(x[7] & 0x0f, 1, "CRC32 check, which the kernel reads");
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut xz2::read::XzDecoder::new(&x[..]), &mut back).unwrap();
        assert_eq!(back, data);
    }
}
