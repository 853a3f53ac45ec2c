//! `cargo xtask appliance-reference`: the reference appliance's components,
//! ready for `repo publish` (`release.json` next to them):
//! - `vmlinuz` — the pinned Debian kernel, byte for byte;
//! - `initrd.img` — newc cpio + zstd: the static `appliance-init` as
//!   `/init` (stage 1) and the disk and file system modules with their
//!   closure and index;
//! - `root.squashfs` — the root image of `cargo xtask appliance-root`
//!   (Debian from the pinned packages, plus our programs, units and the
//!   runtime kernel modules: [`crate::debroot::ours`]).
//!
//! The layout ([`partitions`]): the FAT boot partition, the root image's
//! partition, and a data partition the installer leaves `empty` and stage
//! 1 formats on first boot. Stage 1 finds root and data by their numbers on
//! the boot partition's disk, which the kernel command line carries
//! ([`cmdline`], made from the same list, so the two cannot disagree).
//!
//! A separate command from `cargo xtask appliance` (the small test payload)
//! because it needs root and minutes (mmdebstrap), while the installer's
//! fast fault matrix needs the small payload without either.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::inputs::{self, Inputs};
use crate::{appliance, debroot, epoch, project};

/// The channel the reference appliance is published on (the model is the
/// sample's, so the test serials entitle it).
pub const CHANNEL: &str = "reference";
/// The release version.
pub const VERSION: &str = "1.0.0";
/// Size of the root image's partition: room for the image (≤ 80 MiB) to
/// grow threefold.
pub const ROOT_PARTITION_MIB: u64 = 256;
// The root image's limit fits its partition.
const _: () = assert!(debroot::MAX_IMAGE_BYTES <= ROOT_PARTITION_MIB << 20);

/// The data partition's minimum; it takes the rest of the disk.
pub const DATA_MIN_MIB: u64 = 256;
/// The smallest disk.
pub const MIN_DISK_MIB: u64 = 1024;
/// The smallest RAM.
pub const MIN_RAM_MIB: u64 = 1024;

/// Kernel modules of the initramfs: disk controllers and the file systems
/// stage 1 mounts (network adapters are loaded by the running system from
/// the root image).
pub const INITRD_MODULES: &[&str] = &[
    "ahci",
    "ata_piix",
    "sd_mod",
    "virtio_blk",
    "virtio_pci",
    "virtio_scsi",
    "mptsas",
    "vmw_pvscsi",
    "hv_storvsc",
    "nvme",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859_1",
    "nls_utf8",
    "squashfs",
    "ext4",
    "overlay",
];

/// One partition of the layout, as the release description spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// How components refer to it.
    pub name: &'static str,
    /// FAT label and GPT partition name.
    pub label: &'static str,
    /// `boot`, `root` or `linux`.
    pub kind: &'static str,
    /// `vfat`, `none` or `empty`.
    pub filesystem: &'static str,
    /// MiB (the minimum when it grows).
    pub size_mib: u64,
    /// Takes the rest of the disk.
    pub grow: bool,
}

/// The layout, in disk order (partition n is the n-th entry).
pub fn partitions() -> [Part; 3] {
    [
        Part {
            name: "boot",
            label: handover::BOOT_LABEL,
            kind: "boot",
            filesystem: "vfat",
            size_mib: appliance::BOOT_PARTITION_BYTES >> 20,
            grow: false,
        },
        Part {
            name: "root",
            label: "APPROOT",
            kind: "root",
            filesystem: "none",
            size_mib: ROOT_PARTITION_MIB,
            grow: false,
        },
        Part {
            name: "data",
            label: "APPDATA",
            kind: "linux",
            filesystem: "empty",
            size_mib: DATA_MIN_MIB,
            grow: true,
        },
    ]
}

/// The kernel parameters of the release (the installer adds the console and
/// `appliance.boot_volume=`): where stage 1 finds root and data, and
/// `quiet`: the kernel prints only warnings and errors and systemd only
/// failures and slow units, which shortens the boot under emulation (every
/// character on the serial console is an emulated I/O exit). Stage 1's
/// lines and the console text are written to the console directly and
/// still show.
pub fn cmdline(parts: &[Part]) -> String {
    let number = |name: &str| {
        parts
            .iter()
            .position(|p| p.name == name)
            .map_or(0, |i| i + 1)
    };
    format!(
        "appliance.root={} appliance.data={} quiet",
        number("root"),
        number("data")
    )
}

/// The release description `repo publish` reads (docs/repository.md);
/// files are named relative to it.
pub fn release_description() -> serde_json::Value {
    let parts = partitions();
    let layout: Vec<serde_json::Value> = parts
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name, "label": p.label, "kind": p.kind,
                "filesystem": p.filesystem, "size_mib": p.size_mib, "grow": p.grow,
            })
        })
        .collect();
    serde_json::json!({
        "model": appliance::MODEL,
        "channel": CHANNEL,
        "release": VERSION,
        "min_ram_mib": MIN_RAM_MIB,
        "layout": {"min_disk_mib": MIN_DISK_MIB, "partitions": layout},
        "components": [
            {"name": "kernel", "kind": "boot-file", "file": "vmlinuz", "compression": "none",
             "destination": {"partition": "boot", "path": "/vmlinuz"}},
            {"name": "initrd", "kind": "boot-file", "file": "initrd.img", "compression": "none",
             "destination": {"partition": "boot", "path": "/initrd.img"}},
            // Already zstd inside: gzip would gain nothing.
            {"name": "root", "kind": "partition-image", "file": "root.squashfs",
             "compression": "none", "destination": {"partition": "root"}},
        ],
        "boot": {"kernel": "/vmlinuz", "initrd": "/initrd.img", "cmdline": cmdline(&parts)},
    })
}

/// `target/appliance-reference`.
pub fn default_dir() -> PathBuf {
    project::target_dir().join("appliance-reference")
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The directory.
    pub dir: PathBuf,
    /// `release.json` in it.
    pub release: PathBuf,
}

/// Builds everything into `out` (default [`default_dir`]). Needs root (the
/// root image). `keep_root`: reuse the root image an earlier build left in
/// `out` (for work on stage 1).
pub fn build(out: Option<PathBuf>, keep_root: bool, licence_key: Option<PathBuf>) -> Result<Built> {
    let dir = out.unwrap_or_else(default_dir);
    let epoch = epoch::build_epoch()?;
    let inputs = inputs::ensure()?;
    let init = appliance::build_static("appliance-init")?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let kernel = inputs.vmlinuz()?;
    fs::copy(&kernel, dir.join("vmlinuz"))
        .with_context(|| format!("copying {}", kernel.display()))?;
    let initrd = initrd(&inputs, &init, epoch)?;
    fs::write(dir.join("initrd.img"), &initrd)?;
    let root = dir.join("root.squashfs");
    let root_bytes = if keep_root && root.is_file() {
        fs::metadata(&root)?.len()
    } else {
        let image = debroot::build(Some(dir.join("root")), licence_key)?;
        let _ = fs::remove_file(&root);
        if fs::hard_link(&image.path, &root).is_err() {
            fs::copy(&image.path, &root)?;
        }
        image.size
    };
    let release = dir.join("release.json");
    fs::write(
        &release,
        serde_json::to_string_pretty(&release_description())? + "\n",
    )?;
    eprintln!(
        "reference appliance: initrd.img {} bytes, root.squashfs {} bytes",
        initrd.len(),
        root_bytes
    );
    Ok(Built { dir, release })
}

/// The zstd-compressed newc initramfs of stage 1.
pub fn initrd(inputs: &Inputs, init: &Path, epoch: u64) -> Result<Vec<u8>> {
    let dirs = ["dev", "proc", "sys", "run", "tmp", "boot", "sysroot"];
    appliance::stage1_initrd(inputs, init, epoch, &dirs, INITRD_MODULES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_is_a_valid_manifest_with_an_empty_data_partition() {
        let mut d = release_description();
        // What `repo publish` adds from the files.
        for c in d["components"].as_array_mut().unwrap() {
            let obj = c.as_object_mut().unwrap();
            obj.remove("file");
            obj.insert("size".into(), 50_000_000.into());
            obj.insert("content_size".into(), 50_000_000.into());
            obj.insert("sha256".into(), "ab".repeat(32).into());
            let chunks = vec!["cd".repeat(32); 50_000_000usize.div_ceil(1 << 20)];
            obj.insert(
                "chunks".into(),
                serde_json::json!({"size": 1 << 20, "sha256": chunks}),
            );
        }
        let obj = d.as_object_mut().unwrap();
        obj.insert("format".into(), 1.into());
        obj.insert("metadata_version".into(), 1.into());
        obj.insert("expires".into(), u64::MAX.into());
        let m: vendor_repo::Manifest = serde_json::from_value(d).unwrap();
        m.validate().unwrap();
        let kinds: Vec<_> = m
            .layout
            .partitions
            .iter()
            .map(|p| (p.name.as_str(), p.kind, p.filesystem))
            .collect();
        use vendor_repo::manifest::{Filesystem, PartitionKind};
        assert_eq!(
            kinds,
            [
                ("boot", PartitionKind::Boot, Filesystem::Vfat),
                ("root", PartitionKind::Root, Filesystem::None),
                ("data", PartitionKind::Linux, Filesystem::Empty),
            ]
        );
        assert!(m.layout.partitions[2].grow);
        assert_eq!(m.boot.cmdline, "appliance.root=2 appliance.data=3 quiet");
        assert_eq!(m.channel, CHANNEL);
    }

    #[test]
    fn the_command_line_follows_the_layout_order() {
        let mut parts = partitions().to_vec();
        parts.swap(1, 2);
        assert_eq!(cmdline(&parts), "appliance.root=3 appliance.data=2 quiet");
    }

    #[test]
    fn the_partitions_fit_the_smallest_disk() {
        let total: u64 = 1 + partitions().iter().map(|p| p.size_mib).sum::<u64>();
        assert!(total <= MIN_DISK_MIB);
    }
}
