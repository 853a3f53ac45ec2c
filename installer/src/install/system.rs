//! The real [`InstallOps`]: sysfs and /proc for the hardware, the vendor
//! repository over HTTPS for the components (verified while streaming by
//! [`super::download`]), the block device opened exclusively, and
//! [`super::apply`] to write it.

use super::apply::{self, ComponentError, Components, Extras, RootFs};
use super::download::{self, RetryPolicy};
use super::error::Cause;
use super::{Failure, Hardware, InstallError, InstallOps, Installed, Job, Progress, Stage};
use crate::backend::fetch::Client;
use crate::facts::{self, Firmware};
use crate::vendor::config::ConfigError;
use crate::vendor::VendorConfig;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use vendor_repo::manifest::Component;

/// Downloads components from the vendor repository.
pub struct HttpsComponents {
    client: Client,
    base_url: String,
    policy: RetryPolicy,
}

impl Components for HttpsComponents {
    fn fetch(
        &mut self,
        c: &Component,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<u64, ComponentError> {
        let url = format!("{}{}", self.base_url, c.object_path());
        crate::sys::lowmem::log_mem_available(&format!("before downloading {}", c.name));
        let stats = download::download(&self.client, &url, c, sink, &self.policy, &mut |p| {
            progress(&Progress {
                stage: Stage::Download,
                component: Some(c.name.clone()),
                done: p.done,
                total: p.total,
                line: download::render_progress(p),
            })
        })?;
        let line = stats.render(&c.name);
        crate::log::info(&format!("downloaded {line}"));
        progress(&Progress {
            stage: Stage::Download,
            component: None,
            done: 0,
            total: 0,
            line,
        });
        Ok(stats.stored_bytes)
    }
}

/// The installer's disk access.
pub struct SystemInstall {
    medium: Option<String>,
    /// The installer's ISO volume id (build information), if known.
    volume_id: Option<String>,
    /// The partition GUIDs the target had before this installer overwrote
    /// it (every attempt adds what it found).
    previous_guids: Vec<[u8; 16]>,
    vendor: Result<VendorConfig, ConfigError>,
    installer_version: String,
}

impl SystemInstall {
    /// `medium`: the install medium's device; `vendor`: the settings the
    /// serial step uses too (loaded once by the UI).
    pub fn new(
        medium: Option<String>,
        vendor: Result<VendorConfig, ConfigError>,
        installer_version: String,
    ) -> Self {
        let volume_id = crate::buildinfo::BuildInfo::load(Path::new("/"))
            .ok()
            .map(|b| b.volume_id);
        SystemInstall {
            medium,
            volume_id,
            previous_guids: Vec::new(),
            vendor,
            installer_version,
        }
    }
}

/// Where the install medium is mounted when it carries components.
pub const MEDIUM_MOUNT: &str = "/run/installer/medium";

impl SystemInstall {
    /// Mounts the install medium read-only (once) and returns its root if it
    /// carries a repository (`cargo xtask iso --offline`).
    fn medium_repo(&self) -> Option<std::path::PathBuf> {
        let root = Path::new(MEDIUM_MOUNT);
        if super::local::has_repo(root) {
            return Some(root.to_path_buf());
        }
        let dev = self.medium.as_deref()?;
        if root.join(image_builder::kmod::pack::MODULES_DIR).is_dir() {
            // Mounted already for the module pack, and carries no repository.
            return None;
        }
        if let Err(e) = crate::sys::mount::mount_medium(dev, MEDIUM_MOUNT) {
            crate::log::info(&format!(
                "install medium {dev} not mounted ({e}): components are downloaded"
            ));
            return None;
        }
        super::local::has_repo(root).then(|| root.to_path_buf())
    }
}

/// `MemTotal` in KiB from /proc/meminfo text.
pub fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `N` random bytes from the kernel. PID 1 seeded the kernel RNG at start,
/// so this does not block.
fn random<const N: usize>() -> Result<[u8; N], InstallError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b)
        .map_err(|e| InstallError::new(Stage::Prepare, Cause::Random(e)))?;
    Ok(b)
}

// BLKRRPART: ask the kernel to re-read the partition table.
nix::ioctl_none!(blkrrpart, 0x12, 95);
// BLKGETSIZE64: the device's size in bytes.
nix::ioctl_read!(blkgetsize64, 0x12, 114, u64);

/// Identifies the opened device again ([`super::identity::check`]): its size
/// from the kernel, its serial from sysfs, its block 16 from the device.
fn reidentify(
    disk: &std::fs::File,
    path: &str,
    planned: &facts::hw::Disk,
    volume_id: Option<&str>,
) -> Result<(), InstallError> {
    let fail = |e: std::io::Error| InstallError::new(Stage::OpenDisk, e);
    let mut size = 0u64;
    // SAFETY: BLKGETSIZE64 writes one u64; the fd is an open block device.
    unsafe { blkgetsize64(std::os::fd::AsRawFd::as_raw_fd(disk), &mut size) }
        .map_err(|e| fail(std::io::Error::from(e)))?;
    let serial = facts::hw::serial_of(Path::new("/"), &planned.name);
    let block =
        read_at(disk, super::identity::PVD_OFFSET, super::identity::PVD_LEN).map_err(fail)?;
    let found = super::identity::Found {
        size_bytes: size,
        serial: &serial,
        block16: &block,
    };
    super::identity::check(path, planned, &found, volume_id)
        .map_err(InstallError::at(Stage::OpenDisk))
}

/// Lets the kernel see the new partitions (not needed to boot; a failure
/// is only logged).
fn reread_partitions(disk: &std::fs::File, path: &str) {
    // SAFETY: BLKRRPART takes no argument; the fd is an open block device.
    if let Err(e) = unsafe { blkrrpart(std::os::fd::AsRawFd::as_raw_fd(disk)) } {
        crate::log::info(&format!(
            "{path}: the kernel did not re-read the partition table ({e})"
        ));
    }
}

/// Reads `len` bytes at `offset` (fewer at the end of the device).
fn read_at(disk: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match disk.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The partition GUIDs of the GPT the disk carries before it is
/// overwritten: boot entries pointing at them are this disk's
/// ([`super::efiboot::plan`]). Empty without a readable GPT.
fn previous_gpt_guids(disk: &std::fs::File) -> Vec<[u8; 16]> {
    const SECTOR: u64 = super::plan::SECTOR;
    let Ok(header) = read_at(disk, SECTOR, SECTOR as usize) else {
        return Vec::new();
    };
    let Some((lba, count, size)) = super::efiboot::gpt_entries_location(&header) else {
        return Vec::new();
    };
    let len = u64::from(count) * u64::from(size);
    if len > 1 << 20 {
        return Vec::new();
    }
    read_at(disk, lba.saturating_mul(SECTOR), len as usize)
        .map(|entries| super::efiboot::gpt_partition_guids(&header, &entries))
        .unwrap_or_default()
}

/// What the install needs before the first write.
struct Prepared {
    components: super::local::LocalFirst<HttpsComponents>,
    install_id: String,
    extras: Extras,
    disk: std::fs::File,
    path: String,
}

impl SystemInstall {
    /// Everything up to opening the disk; nothing is written.
    fn prepare(&self, job: &Job) -> Result<Prepared, InstallError> {
        let config = self
            .vendor
            .clone()
            .map_err(InstallError::at(Stage::Prepare))?;
        let policy = RetryPolicy::default();
        let client = Client::new(&config.ca_pem, policy.timeouts())
            .map_err(InstallError::at(Stage::Prepare))?;
        let components = super::local::LocalFirst {
            root: self.medium_repo(),
            remote: HttpsComponents {
                client,
                base_url: config.backend_url.clone(),
                policy,
            },
            used: Vec::new(),
        };
        let id: [u8; 16] = random()?;
        let mut handover = job.handover.clone();
        handover.install_id = hex::encode(id);
        handover.installed_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        handover.installer.version = self.installer_version.clone();
        let handover_json = handover
            .to_json_pretty()
            .map_err(InstallError::at(Stage::Prepare))?;
        // Written redacted; scrubbed again for every spelling of the serial.
        let log = std::fs::read(crate::log::LOG_FILE).unwrap_or_default();
        let log = super::bundle::redact(&String::from_utf8_lossy(&log), &job.handover.serial);
        let extras = Extras {
            handover_json,
            installer_log: log.into_bytes(),
            volume_id: u32::from_le_bytes([id[0], id[1], id[2], id[3]]),
            disk_id: random()?,
        };
        let path = format!("/dev/{}", job.disk.name);
        let disk = open_target(&path).map_err(|source| {
            InstallError::new(
                Stage::OpenDisk,
                Cause::OpenDisk {
                    path: path.clone(),
                    source,
                },
            )
        })?;
        reidentify(&disk, &path, &job.disk, self.volume_id.as_deref())?;
        Ok(Prepared {
            components,
            install_id: handover.install_id,
            extras,
            disk,
            path,
        })
    }
}

/// Opens the target disk for reading and writing, exclusively (`O_EXCL`:
/// the kernel refuses while anything on it is mounted). The install and
/// `installer raw-copy` (`super::rawcopy`) write through this handle only.
pub fn open_target(path: &str) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
        .open(path)
}

impl InstallOps for SystemInstall {
    fn hardware(&mut self) -> Hardware {
        let root = Path::new("/");
        if self.medium.is_none() {
            // The first scan may have timed out before the medium appeared.
            if let Some(v) = &self.volume_id {
                self.medium = crate::medium::scan(root, v).found.map(|m| m.device);
            }
        }
        Hardware {
            disks: facts::hw::disks(root),
            mem_total_kib: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|t| mem_total_kib(&t))
                .unwrap_or(0),
            firmware: Firmware::detect(root),
            medium: self.medium.clone(),
            platform: ["sys_vendor", "product_name"]
                .iter()
                .filter_map(|f| std::fs::read_to_string(root.join("sys/class/dmi/id").join(f)).ok())
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    fn install(
        &mut self,
        job: &Job,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Installed, Failure> {
        let started = Instant::now();
        let Prepared {
            mut components,
            install_id,
            extras,
            mut disk,
            path,
        } = self.prepare(job).map_err(Failure::untouched)?;
        // Kept across attempts: a failed attempt wipes the table it read.
        for g in previous_gpt_guids(&disk) {
            if !self.previous_guids.contains(&g) {
                self.previous_guids.push(g);
            }
        }
        let downloaded =
            match apply::run(job, &mut disk, &mut components, &RootFs, &extras, progress) {
                Ok(n) => n,
                Err(mut f) => {
                    let hw = self.hardware();
                    f.bundle = super::bundle::write(&f, &hw, &job.handover.serial, &install_id);
                    return Err(f);
                }
            };
        reread_partitions(&disk, &path);
        Ok(Installed {
            install_id,
            seconds: started.elapsed().as_secs_f64(),
            downloaded,
        })
    }

    fn boot_next(&mut self, job: &Job) -> Result<String, String> {
        match job.firmware {
            Firmware::Bios => Ok(format!(
                "BIOS: the next boot uses /dev/{} if it comes first in the boot order.",
                job.disk.name
            )),
            Firmware::Uefi => {
                let path = format!("/dev/{}", job.disk.name);
                let boot = job
                    .layout
                    .boot()
                    .ok_or("the layout has no boot partition")?;
                let esp = match job.layout.table {
                    super::plan::TableKind::Gpt => {
                        let g = gpt::GptConfig::new()
                            .writable(false)
                            .open(&path)
                            .map_err(|e| format!("reading the GPT of {path}: {e}"))?;
                        let p = g
                            .partitions()
                            .get(&boot.number)
                            .ok_or("the boot partition is not in the GPT")?;
                        super::efiboot::EspRef {
                            number: boot.number,
                            start: boot.first_lba,
                            size: boot.sectors,
                            guid_le: p.part_guid.to_bytes_le(),
                        }
                    }
                    super::plan::TableKind::Mbr => {
                        return Err("BootNext is set for GPT disks only; this MBR disk boots through the removable path".into())
                    }
                };
                let n = super::efiboot::write(
                    Path::new(super::efiboot::EFIVARS),
                    &job.handover.installer.product,
                    &esp,
                    &self.previous_guids,
                )?;
                Ok(format!(
                    "UEFI: boot entry Boot{n:04X} created for /dev/{} and set as BootNext.",
                    job.disk.name
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let t = "MemTotal:        1004412 kB\nMemFree:          900000 kB\n";
        assert_eq!(mem_total_kib(t), Some(1_004_412));
        assert_eq!(mem_total_kib("nothing"), None);
    }
}
