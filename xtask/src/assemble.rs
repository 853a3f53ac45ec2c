//! `cargo xtask iso`: builds the static installer, the initramfs, the ESP and
//! the hybrid ISO from the pinned boot inputs. All writers come from
//! `image-builder`; this module only decides what goes where.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use image_builder::iso::{BiosBoot, FileSource, IsoBuilder, Isohybrid};

use crate::cmd::Cmd;
use crate::epoch::build_epoch;
use crate::initramfs;
use crate::inputs::{self, Inputs};
use crate::lockfile::Role;
use crate::modpack;
use crate::product;
use crate::project;
use crate::tree::{overlay_files, TreeFile, TreeSource};
use crate::vendorcfg::{self, Vendor};

/// Upper bound for the ISO (issue: "the ISO is ≤ 48 MiB").
pub const MAX_ISO_BYTES: u64 = 48 << 20;

/// Options of `cargo xtask iso`.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    pub out: PathBuf,
    pub epoch: u64,
    /// An answer file for unattended installs, embedded in the initramfs.
    pub answers: Option<PathBuf>,
    /// Backend, model, channel, keys and CA.
    pub vendor: Vendor,
    /// Put the release's components on the ISO (`--offline`): the
    /// repository to take them from.
    pub offline: Option<PathBuf>,
}

impl IsoOptions {
    /// `out` or `target/iso/installer.iso`, the build epoch, and `vendor`.
    pub fn from_env(out: Option<PathBuf>, vendor: Vendor) -> Result<IsoOptions> {
        Ok(IsoOptions {
            out: out.unwrap_or_else(|| project::target_dir().join("iso").join("installer.iso")),
            epoch: build_epoch()?,
            answers: None,
            vendor,
            offline: None,
        })
    }
}

/// Everything that goes onto the ISO, plus the boot setup.
#[derive(Debug, Clone)]
pub struct IsoTree {
    pub files: Vec<TreeFile>,
    pub isohdpfx: Vec<u8>,
    pub epoch: u64,
}

/// Timings of one build, for `cargo xtask bench iso`.
#[derive(Debug, Clone, Default)]
pub struct BuildTimes {
    pub installer: Duration,
    pub initramfs: Duration,
    pub esp: Duration,
    /// The module pack (compression is cached; a cold build takes longer).
    pub pack: Duration,
    pub iso: Duration,
}

/// Builds the ISO and returns its path.
pub fn build(opts: &IsoOptions) -> Result<(PathBuf, BuildTimes)> {
    let mut times = BuildTimes::default();
    let inputs = inputs::ensure()?;
    let t = Instant::now();
    let installer = build_installer()?;
    times.installer = t.elapsed();
    let answers = match &opts.answers {
        Some(path) => Some(checked_answers(&installer, path)?),
        None => None,
    };
    let vendor = vendorcfg::files(&opts.vendor)?;
    let mut tree = iso_tree(
        &inputs, &installer, answers, &vendor, opts.epoch, &mut times,
    )?;
    if let Some(repo) = &opts.offline {
        tree.files.extend(offline_objects(repo, &opts.vendor)?);
        tree.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    let t = Instant::now();
    let size = write_iso(&tree, &opts.out)?;
    times.iso = t.elapsed();
    // An offline ISO carries the release itself; the limit is for the installer.
    if size > MAX_ISO_BYTES && opts.offline.is_none() {
        bail!(
            "the ISO is {} bytes, over the {} byte limit",
            size,
            MAX_ISO_BYTES
        );
    }
    Ok((opts.out.clone(), times))
}

/// `repo/objects/sha256/<hex>` for every component of the model's current
/// manifest in `repo` (read without verification: it is the vendor's own
/// repository; the installer verifies every byte it copies).
pub fn offline_objects(repo: &Path, vendor: &Vendor) -> Result<Vec<TreeFile>> {
    use base64::Engine;
    let path = repo.join(vendor_repo::manifest_path(&vendor.model, &vendor.channel));
    let env: vendor_repo::signed::Envelope = serde_json::from_slice(
        &fs::read(&path)
            .with_context(|| format!("reading {} (publish the release first)", path.display()))?,
    )
    .with_context(|| format!("{}: not a signed manifest", path.display()))?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env.payload)
        .with_context(|| format!("{}: payload is not base64", path.display()))?;
    let m: vendor_repo::Manifest = serde_json::from_slice(&payload)
        .with_context(|| format!("{}: payload is not a manifest", path.display()))?;
    let mut out = Vec::new();
    for c in &m.components {
        let src = repo.join(c.object_path());
        ensure!(
            src.is_file(),
            "{} is missing from {}",
            c.object_path(),
            repo.display()
        );
        out.push(TreeFile::from_path(
            src,
            &format!("repo/{}", c.object_path()),
        ));
    }
    Ok(out)
}

/// Builds the installer as a static binary (it runs as PID 1 with no libc).
pub fn build_installer() -> Result<PathBuf> {
    let triple = "x86_64-unknown-linux-gnu";
    Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--release",
            "--package",
            "installer",
            "--target",
            triple,
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .cwd(project::root())
        .run()
        .context("building the static installer")?;
    let bin = project::target_dir()
        .join(triple)
        .join("release")
        .join("installer");
    if !bin.is_file() {
        bail!("cargo did not produce {}", bin.display());
    }
    Ok(bin)
}

/// Validates an answer file with the installer's own validator (the same code
/// that reads it at install time) and returns its bytes.
fn checked_answers(installer: &Path, path: &Path) -> Result<Vec<u8>> {
    Cmd::new(installer)
        .arg("validate-answers")
        .arg(path)
        .read()
        .with_context(|| format!("the answer file {} is not valid", path.display()))?;
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Collects the ISO tree: boot loaders, menus, kernel, initramfs, ESP image.
pub fn iso_tree(
    inputs: &Inputs,
    installer: &Path,
    answers: Option<Vec<u8>>,
    vendor: &[(String, Vec<u8>)],
    epoch: u64,
    times: &mut BuildTimes,
) -> Result<IsoTree> {
    let t = Instant::now();
    let initrd = initramfs::build(inputs, installer, answers, vendor, epoch)?;
    times.initramfs = t.elapsed();
    let t = Instant::now();
    let esp = build_esp(inputs, epoch)?;
    times.esp = t.elapsed();
    let t = Instant::now();
    let pack = modpack::build(inputs)?;
    times.pack = t.elapsed();
    eprintln!(
        "initramfs {:.1} MiB; module pack {:.1} MiB ({} modules, {} firmware files)",
        initrd.len() as f64 / 1048576.0,
        pack.bytes as f64 / 1048576.0,
        pack.modules,
        pack.firmware
    );
    if !pack.missing_firmware.is_empty() {
        // Mostly PCMCIA cards and NICs whose firmware is in other packages.
        let some: Vec<String> = pack
            .missing_firmware
            .iter()
            .take(3)
            .map(|(m, f)| format!("{f} ({m})"))
            .collect();
        eprintln!(
            "  {} firmware files named by packed drivers are in no pinned package, e.g. {}",
            pack.missing_firmware.len(),
            some.join(", ")
        );
    }

    let bios_dir = "usr/lib/syslinux/modules/bios";
    let mut files = vec![
        TreeFile::from_path(
            inputs.file(Role::Isolinux, "usr/lib/ISOLINUX/isolinux.bin")?,
            "isolinux/isolinux.bin",
        ),
        TreeFile::from_path(
            inputs.file(Role::SyslinuxCommon, &format!("{bios_dir}/ldlinux.c32"))?,
            "isolinux/ldlinux.c32",
        ),
        TreeFile::from_path(
            inputs.file(Role::SyslinuxCommon, &format!("{bios_dir}/menu.c32"))?,
            "isolinux/menu.c32",
        ),
        TreeFile::from_path(
            inputs.file(Role::SyslinuxCommon, &format!("{bios_dir}/libutil.c32"))?,
            "isolinux/libutil.c32",
        ),
        TreeFile::from_path(
            inputs.file(Role::SyslinuxCommon, &format!("{bios_dir}/libcom32.c32"))?,
            "isolinux/libcom32.c32",
        ),
        TreeFile::from_path(inputs.vmlinuz()?, "boot/vmlinuz"),
        TreeFile {
            path: "boot/initrd.img".into(),
            source: TreeSource::Bytes(initrd),
            mode: 0o444,
        },
        TreeFile {
            path: "boot/grub/efi.img".into(),
            source: TreeSource::Bytes(esp),
            mode: 0o444,
        },
        TreeFile {
            path: ".disk/info".into(),
            source: TreeSource::Bytes(
                format!(
                    "{} installer {} (built {})\n",
                    product::PRODUCT,
                    product::VERSION,
                    epoch
                )
                .into_bytes(),
            ),
            mode: 0o444,
        },
    ];
    files.extend(pack.files);
    files.extend(overlay_files(&project::overlay_dir().join("iso"))?);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let isohdpfx = fs::read(inputs.file(Role::Isolinux, "usr/lib/ISOLINUX/isohdpfx.bin")?)?;
    Ok(IsoTree {
        files,
        isohdpfx,
        epoch,
    })
}

/// The EFI system partition image: shim as the removable-media loader, and
/// Debian's signed GRUB (the CD build, prefix /boot/grub) beside it.
fn build_esp(inputs: &Inputs, epoch: u64) -> Result<Vec<u8>> {
    let shim = fs::read(inputs.file(Role::Shim, "usr/lib/shim/shimx64.efi.signed")?)?;
    let grub = fs::read(inputs.file(
        Role::GrubEfi,
        "usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed",
    )?)?;
    let files = vec![
        ("EFI/BOOT/BOOTX64.EFI".to_string(), shim),
        ("EFI/BOOT/grubx64.efi".to_string(), grub),
    ];
    let opts = image_builder::fat::EspOptions {
        volume_id: (epoch as u32) ^ 0x1550_0000,
        volume_label: "EFIBOOT".to_string(),
        epoch,
    };
    image_builder::fat::build_esp(&files, &opts).context("building the EFI system partition image")
}

/// Writes the ISO atomically (temporary file, then rename); returns its size.
pub fn write_iso(tree: &IsoTree, out: &Path) -> Result<u64> {
    let mut iso = IsoBuilder::new(product::VOLUME_ID, tree.epoch)?;
    for f in &tree.files {
        let source = match &f.source {
            TreeSource::Bytes(b) => FileSource::Bytes(b.clone()),
            TreeSource::Path(p) => FileSource::Path(p.clone()),
        };
        iso.add_file(&f.path, source, f.mode)
            .with_context(|| format!("adding {} to the ISO", f.path))?;
    }
    iso.set_bios_boot(BiosBoot {
        image: "isolinux/isolinux.bin".into(),
        catalog: "isolinux/boot.cat".into(),
        load_sectors: 4,
        boot_info_table: true,
    });
    iso.set_efi_boot("boot/grub/efi.img");
    iso.set_isohybrid(Isohybrid::new(&tree.isohdpfx, tree.epoch as u32)?);
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = out.with_extension("iso.partial");
    let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let result = iso.write_to(&mut w).context("writing the ISO");
    let result = result.and_then(|r| {
        use std::io::Write;
        w.flush()?;
        Ok(r)
    });
    match result {
        Ok(report) => {
            fs::rename(&tmp, out)?;
            Ok(report.total_bytes)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes the tree to a directory, for reference tools that build from one.
pub fn materialize(tree: &IsoTree, dir: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(dir);
    for f in &tree.files {
        let p = dir.join(&f.path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        match &f.source {
            TreeSource::Bytes(b) => fs::write(&p, b)?,
            TreeSource::Path(src) => {
                fs::copy(src, &p).with_context(|| format!("copying {}", src.display()))?;
            }
        }
    }
    Ok(())
}
