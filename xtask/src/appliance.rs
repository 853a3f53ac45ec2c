//! `cargo xtask appliance`: the sample appliance's components, ready to be
//! published into the vendor repository and written by the installer.
//!
//! Output (default `target/appliance/`):
//! - `vmlinuz` — the pinned Debian kernel, byte for byte;
//! - `initrd.img` — newc cpio + zstd: the static `sample-appliance` as
//!   `/init`, the disk/FAT/NIC modules with their closure and index;
//! - `rootfs.img` — a raw 64 MiB FAT32 partition image (label `APPDATA`)
//!   with `release.json` and a pseudo-random `payload.bin`;
//! - `components.json` — the components (name, kind, file, size, sha256,
//!   destination), the partition layout and the kernel command lines.
//!
//! Everything is deterministic given `SOURCE_DATE_EPOCH`.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};
use image_builder::cpio::Archive;
use serde::Serialize;

use crate::cmd::Cmd;
use crate::inputs::{self, Inputs};
use crate::project;
use crate::{epoch, kmodset};

/// The appliance model the components belong to.
pub const MODEL: &str = "example-appliance";
/// The appliance release version.
pub const VERSION: &str = "1.0.0";
/// The release channel.
pub const CHANNEL: &str = "stable";
/// Size of `rootfs.img`, exactly.
pub const ROOTFS_BYTES: u64 = 64 << 20;
/// Size of `payload.bin` inside it.
pub const PAYLOAD_BYTES: usize = 16 << 20;
/// Label of the data partition image.
pub const ROOTFS_LABEL: &str = "APPDATA";
/// Size of the boot partition the appliance wants.
pub const BOOT_PARTITION_BYTES: u64 = 256 << 20;
/// The smallest disk the appliance installs on.
pub const MIN_DISK_BYTES: u64 = 1 << 30;
/// Boot-loader command line for the serial console.
pub const CMDLINE_SERIAL: &str = "console=ttyS0,115200 appliance.boot=LABEL=APPBOOT";
/// Boot-loader command line for the VGA console.
pub const CMDLINE_VGA: &str = "console=tty0 appliance.boot=LABEL=APPBOOT";

/// Kernel modules of the appliance initramfs (with their closure).
pub const MODULES: &[&str] = &[
    // disks
    "ahci",
    "ata_piix",
    "sd_mod",
    "virtio_blk",
    "virtio_pci",
    "virtio_scsi",
    "mptsas",
    "vmw_pvscsi",
    "nvme",
    // the boot partition
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859_1",
    "nls_utf8",
    // network adapters
    "e1000",
    "e1000e",
    "tulip",
    "vmxnet3",
    "virtio_net",
];

/// Options of `cargo xtask appliance`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output directory.
    pub out: PathBuf,
    /// SOURCE_DATE_EPOCH.
    pub epoch: u64,
}

impl Options {
    /// `--out` or `target/appliance`, and the build epoch.
    pub fn from_env(out: Option<PathBuf>) -> Result<Options> {
        Ok(Options {
            out: out.unwrap_or_else(default_dir),
            epoch: epoch::build_epoch()?,
        })
    }
}

/// `target/appliance`.
pub fn default_dir() -> PathBuf {
    project::target_dir().join("appliance")
}

/// Builds everything into `opts.out`; returns the parsed `components.json`.
pub fn build(opts: &Options) -> Result<Components> {
    let inputs = inputs::ensure()?;
    let init = build_static("sample-appliance")?;
    fs::create_dir_all(&opts.out).with_context(|| format!("creating {}", opts.out.display()))?;
    let write = |name: &str, data: &[u8]| -> Result<PathBuf> {
        let p = opts.out.join(name);
        fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    };
    let kernel = inputs.vmlinuz()?;
    let kernel_bytes =
        fs::read(&kernel).with_context(|| format!("reading {}", kernel.display()))?;
    write("vmlinuz", &kernel_bytes)?;
    write("initrd.img", &initrd(&inputs, &init, opts.epoch)?)?;
    write("rootfs.img", &rootfs(opts.epoch)?)?;
    let components = Components::describe(&opts.out, opts.epoch)?;
    let mut json = serde_json::to_string_pretty(&components)?;
    json.push('\n');
    write("components.json", json.as_bytes())?;
    Ok(components)
}

/// Builds `package` as a static release binary for x86_64 (no libc at run time).
pub fn build_static(package: &str) -> Result<PathBuf> {
    build_static_bin(package, package)
}

/// Builds the binary `binary` of `package` statically (see [`build_static`]).
pub fn build_static_bin(package: &str, binary: &str) -> Result<PathBuf> {
    let triple = "x86_64-unknown-linux-gnu";
    Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--release", "--package", package])
        .args(["--target", triple])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .cwd(project::root())
        .run()
        .with_context(|| format!("building the static {package}"))?;
    let bin = project::target_dir()
        .join(triple)
        .join("release")
        .join(binary);
    if !bin.is_file() {
        bail!("cargo did not produce {}", bin.display());
    }
    Ok(bin)
}

/// The zstd-compressed newc initramfs.
pub fn initrd(inputs: &Inputs, init: &Path, epoch: u64) -> Result<Vec<u8>> {
    let dirs = ["dev", "proc", "sys", "run", "tmp", "etc", "boot", "root"];
    stage1_initrd(inputs, init, epoch, &dirs, MODULES)
}

/// A zstd-compressed newc initramfs with a static `init`: the empty
/// directories it mounts on, `/dev/console`, and `modules` with their
/// closure and index. The sample appliance and the reference appliance's
/// stage 1 differ only in those directories and modules.
pub fn stage1_initrd(
    inputs: &Inputs,
    init: &Path,
    epoch: u64,
    dirs: &[&str],
    modules: &[&str],
) -> Result<Vec<u8>> {
    let (modules_dir, release) = inputs.kernel_modules()?;
    let mut a = Archive::new(epoch)?;
    for dir in dirs {
        a.add_dir(dir, 0o755)?;
    }
    a.add_char_device("dev/console", 0o600, 5, 1)?;
    a.add_file_from_path("init", 0o755, init.to_path_buf())?;
    kmodset::add_modules(&mut a, &modules_dir, &release, modules)
        .with_context(|| format!("adding the kernel modules of {}", init.display()))?;
    let mut out = Vec::new();
    a.write_zstd_to(&mut out, image_builder::cpio::DEFAULT_ZSTD_LEVEL)
        .with_context(|| format!("writing the initramfs of {}", init.display()))?;
    Ok(out)
}

/// `n` bytes from a SplitMix64 stream seeded with `seed` (deterministic,
/// incompressible enough that the image is not trivially small).
pub fn payload(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// `release.json` inside the rootfs.
fn release_json(epoch: u64, payload: &[u8]) -> Vec<u8> {
    let v = serde_json::json!({
        "model": MODEL,
        "channel": CHANNEL,
        "version": VERSION,
        "build_epoch": epoch,
        "payload": {
            "file": "payload.bin",
            "size": payload.len(),
            "sha256": hex::encode(sha256(payload)),
        },
    });
    format!("{v:#}\n").into_bytes()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// The 64 MiB FAT32 data partition image (512-byte clusters, label
/// `APPDATA`, volume id and timestamps from `epoch`).
pub fn rootfs(epoch: u64) -> Result<Vec<u8>> {
    let payload = payload(0x5A17_0000_0000_0000 ^ epoch, PAYLOAD_BYTES);
    let files = [
        ("release.json", release_json(epoch, &payload)),
        ("payload.bin", payload),
    ];
    let mut label = [b' '; 11];
    label[..ROOTFS_LABEL.len()].copy_from_slice(ROOTFS_LABEL.as_bytes());
    let mut image = vec![0u8; ROOTFS_BYTES as usize];
    fatfs::format_volume(
        Cursor::new(&mut image[..]),
        FormatVolumeOptions::new()
            .fat_type(FatType::Fat32)
            .bytes_per_cluster(512)
            .volume_id(epoch as u32 ^ 0xA11C_E000)
            .volume_label(label),
    )
    .context("formatting rootfs.img")?;
    {
        let options = FsOptions::new()
            .update_accessed_date(false)
            .time_provider(image_builder::fat::epoch_clock(epoch));
        let fs = FileSystem::new(Cursor::new(&mut image[..]), options)
            .context("opening the new rootfs.img")?;
        {
            let root = fs.root_dir();
            for (name, data) in &files {
                let mut f = root
                    .create_file(name)
                    .with_context(|| format!("creating {name} in rootfs.img"))?;
                f.write_all(data)
                    .with_context(|| format!("writing {name} in rootfs.img"))?;
                f.flush()?;
            }
        }
        // Computing the statistics makes fatfs fill in the FSInfo free-cluster
        // count on unmount (fsck.vfat notes it when left "unknown").
        fs.stats().context("counting free clusters of rootfs.img")?;
        fs.unmount().context("closing rootfs.img")?;
    }
    Ok(image)
}

/// `components.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Components {
    /// Format of this description (1).
    pub format: u32,
    /// Appliance model.
    pub model: String,
    /// Release channel.
    pub channel: String,
    /// Release version.
    pub version: String,
    /// SOURCE_DATE_EPOCH of the build.
    pub build_epoch: u64,
    /// What a boot loader passes to the kernel.
    pub kernel_cmdline: KernelCmdlines,
    /// The disk layout the appliance wants.
    pub layout: Layout,
    /// The files.
    pub components: Vec<Component>,
}

/// Kernel command lines, per console.
#[derive(Debug, Clone, Serialize)]
pub struct KernelCmdlines {
    /// Serial console (ttyS0, 115200 baud).
    pub serial: String,
    /// VGA console.
    pub vga: String,
}

/// The partition layout.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    /// The smallest disk to install on.
    pub min_disk_bytes: u64,
    /// Partitions, in disk order.
    pub partitions: Vec<Partition>,
}

/// One partition of the layout.
#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    /// `boot` or `data`.
    pub name: String,
    /// File system the installer makes (`fat32`), or `null` when a partition image fills it.
    pub filesystem: Option<String>,
    /// File system label, if the installer makes the file system.
    pub label: Option<String>,
    /// Exact size, if fixed.
    pub size_bytes: Option<u64>,
    /// Minimum size, if it may grow.
    pub min_size_bytes: Option<u64>,
}

/// One component file.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// `kernel`, `initrd`, `rootfs`.
    pub name: String,
    /// `boot-file` (copied into the boot file system) or `partition-image` (written raw).
    pub kind: String,
    /// File name next to `components.json`.
    pub file: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Where it goes: `{"partition":"boot","path":"/vmlinuz"}` or `{"partition":"data"}`.
    pub destination: serde_json::Value,
}

impl Components {
    /// Describes the files in `dir` (which must exist).
    pub fn describe(dir: &Path, epoch: u64) -> Result<Components> {
        let part = |name: &str, fs_: Option<&str>, label: Option<&str>, size, min| Partition {
            name: name.into(),
            filesystem: fs_.map(Into::into),
            label: label.map(Into::into),
            size_bytes: size,
            min_size_bytes: min,
        };
        let mut components = Vec::new();
        for (name, kind, file, dest) in [
            (
                "kernel",
                "boot-file",
                "vmlinuz",
                serde_json::json!({"partition": "boot", "path": "/vmlinuz"}),
            ),
            (
                "initrd",
                "boot-file",
                "initrd.img",
                serde_json::json!({"partition": "boot", "path": "/initrd.img"}),
            ),
            (
                "rootfs",
                "partition-image",
                "rootfs.img",
                serde_json::json!({"partition": "data"}),
            ),
        ] {
            let path = dir.join(file);
            let size = fs::metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            components.push(Component {
                name: name.into(),
                kind: kind.into(),
                file: file.into(),
                size,
                sha256: inputs::sha256_file(&path)?,
                destination: dest,
            });
        }
        Ok(Components {
            format: 1,
            model: MODEL.into(),
            channel: CHANNEL.into(),
            version: VERSION.into(),
            build_epoch: epoch,
            kernel_cmdline: KernelCmdlines {
                serial: CMDLINE_SERIAL.into(),
                vga: CMDLINE_VGA.into(),
            },
            layout: Layout {
                min_disk_bytes: MIN_DISK_BYTES,
                partitions: vec![
                    part(
                        "boot",
                        Some("fat32"),
                        Some(handover::BOOT_LABEL),
                        Some(BOOT_PARTITION_BYTES),
                        None,
                    ),
                    part("data", None, None, None, Some(ROOTFS_BYTES)),
                ],
            },
            components,
        })
    }
}

#[cfg(test)]
mod tests;
