//! The stage 1 sequence, in order. Every step that fails returns a
//! [`Stage1Error`]; `main` shows it and waits (stage 1 never exits).
//!
//! 1. drivers (coldplug with the initramfs's module index, plus the disk
//!    and file system modules by name);
//! 2. the boot partition by the FAT volume id the installer recorded, its
//!    handover record (read, checked), then unmounted;
//! 3. root and data: partitions `appliance.root=` / `appliance.data=` of
//!    the boot partition's disk;
//! 4. the root image (squashfs, read-only) on `/sysroot`; `/dev`, `/proc`,
//!    `/sys` and `/run` moved into it (so tools of the image run in it);
//! 5. the data partition: formatted with the image's `mke2fs` only when
//!    blank ([`crate::blank`]), mounted on `/sysroot/data`;
//! 6. `/etc` and `/var` overlaid from it ([`crate::persist`]), a tmpfs on
//!    `/tmp`;
//! 7. the handover record copied to `/run/appliance/handover.json` (0600);
//! 8. `switch_root` to `/sysroot`, exec `/sbin/init` (systemd).

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use installer::bootpart::early::{self, Consoles};
use installer::bootpart::{self};
use installer::cmdline::KernelCmdline;
use installer::modload;
use installer::sys::cmd::{self, Cmd};
use installer::sys::mount;

use crate::blank::{self, Contents};
use crate::error::Stage1Error;
use crate::params::Params;
use crate::persist::{self, DataDirs, VarLayout};

/// Stage 1's own state directory (tmpfs; moved into the new root with `/run`).
pub const RUN_DIR: &str = "/run/appliance";
/// Where the handover record is for the appliance's services (the file
/// contract with first boot, docs/appliance.md).
pub const HANDOVER_TARGET: &str = "/sysroot/run/appliance/handover.json";
/// The new root.
pub const SYSROOT: &str = "/sysroot";
/// The data partition in the new root.
pub const DATA_MOUNT: &str = "/sysroot/data";
/// The boot partition, while the record is read.
const BOOT_MOUNT: &str = "/boot";
/// The init of the root image.
pub const INIT: &str = "/sbin/init";
/// The data file system's label.
pub const DATA_LABEL: &str = "APPDATA";
/// The tests' marker file on the data partition.
pub const TEST_MARKER_FILE: &str = "/sysroot/data/test-marker";
/// Modules loaded by name: disks behind SCSI, the boot partition's FAT,
/// the root image's squashfs, the data partition's ext4 and the overlay.
pub const NAMED_MODULES: &[&str] = &[
    "sd_mod",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859_1",
    "nls_utf8",
    "squashfs",
    "ext4",
    "overlay",
];
/// How long to wait for the boot partition to appear.
const BOOT_WAIT: Duration = Duration::from_secs(20);

/// Runs the sequence; returns only on failure (success execs systemd).
pub fn run(cmdline: &KernelCmdline, consoles: &mut Consoles) -> Stage1Error {
    match run_steps(cmdline, consoles) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

fn run_steps(cmdline: &KernelCmdline, consoles: &mut Consoles) -> Result<Never, Stage1Error> {
    let params = Params::from_cmdline(cmdline).map_err(Stage1Error::Params)?;

    // 1. Drivers.
    let release = installer::facts::kernel_release(Path::new("/")).unwrap_or_default();
    let module_dir = Path::new("/lib/modules").join(release);
    let index =
        modload::load_index(&module_dir).map_err(|e| Stage1Error::Modules(e.to_string()))?;
    let mut cp = early::drivers(&index, cmdline, &module_dir, NAMED_MODULES);

    // 2. The boot partition and the record.
    let boot_dev = early::wait_for_boot_partition(&params.boot, BOOT_WAIT, Some(&mut cp))
        .map_err(Stage1Error::BootPartition)?;
    installer::log::info(&format!("boot partition: {}", boot_dev.display()));
    bootpart::mount_ro(&boot_dev, BOOT_MOUNT).map_err(|e| Stage1Error::Record(e.to_string()))?;
    let record = read_record_text(Path::new(BOOT_MOUNT));
    if let Err(e) = mount::unmount(BOOT_MOUNT) {
        installer::log::warn(&e.to_string());
    }
    let (record_text, record) = record?;

    // 3. Root and data on the same disk.
    let boot_name = dev_name(&boot_dev);
    let sibling = |n: u32| {
        bootpart::partition_on_same_disk(Path::new("/sys"), &boot_name, n)
            .map_err(Stage1Error::Partition)
    };
    let (root_name, data_name) = (sibling(params.root)?, sibling(params.data)?);
    installer::log::info(&format!(
        "root image: {root_name}, data: {data_name} (partitions {} and {} of {boot_name}'s disk)",
        params.root, params.data
    ));

    // 4. The root image, and the API file systems moved into it.
    let root_dev = PathBuf::from("/dev").join(&root_name);
    if !is_squashfs(&root_dev)? {
        return Err(Stage1Error::NotSquashfs {
            dev: root_dev.display().to_string(),
        });
    }
    mount::mount_squashfs(&root_dev, SYSROOT)?;
    if let Err(e) = mount::unmount_or_detach("/tmp") {
        installer::log::warn(&e.to_string());
    }
    for (from, to) in [
        ("/dev", "/sysroot/dev"),
        ("/proc", "/sysroot/proc"),
        ("/sys", "/sysroot/sys"),
        ("/run", "/sysroot/run"),
    ] {
        mount::move_mount_to(from, to)?;
    }

    // 5. The data partition: formatted only when blank.
    let data_dev = PathBuf::from("/sysroot/dev").join(&data_name);
    let shown = format!("/dev/{data_name}");
    let contents = blank::check(&data_dev).map_err(|source| Stage1Error::Read {
        dev: shown.clone(),
        source,
    })?;
    let formatted = match contents {
        Contents::Blank => {
            consoles.say(&format!(
                "The data partition {shown} is blank: making an ext4 file system on it."
            ));
            format_data(&data_name)?;
            true
        }
        Contents::Used { offset } => {
            installer::log::info(&format!(
                "data partition {shown} is in use (non-zero byte at {offset}); not formatted"
            ));
            false
        }
    };
    mount::mount_ext4(&data_dev, DATA_MOUNT).map_err(|source| Stage1Error::MountData {
        dev: shown.clone(),
        source,
    })?;
    consoles.say(&format!(
        "APPLIANCE-STAGE1 data={} device={shown}",
        if formatted { "formatted" } else { "kept" }
    ));

    // 6. /etc and /var from the data partition.
    let dirs = DataDirs::under(Path::new(DATA_MOUNT));
    let var = persist::prepare(&dirs).map_err(Stage1Error::Persist)?;
    mount::mount_overlay(
        Path::new("/sysroot/etc"),
        &dirs.etc_upper,
        &dirs.etc_work,
        "/sysroot/etc",
    )?;
    match &var {
        VarLayout::Overlay { upper, work } => {
            mount::mount_overlay(Path::new("/sysroot/var"), upper, work, "/sysroot/var")?
        }
        VarLayout::Bound(dir) => {
            installer::log::info(&format!(
                "{} is a copy an earlier stage 1 made: bound on /var",
                dir.display()
            ));
            mount::bind(dir, "/sysroot/var")?
        }
    }
    // The image's /tmp is read-only; Debian mounts no tmpfs there itself.
    mount::mount_tmp("/sysroot/tmp")?;

    // 7. The record for the appliance's services.
    write_private(HANDOVER_TARGET, record_text.as_bytes()).map_err(|source| {
        Stage1Error::Handover {
            path: "/run/appliance/handover.json",
            source,
        }
    })?;
    if params.test_marker {
        test_marker(&record.install_id, consoles).map_err(Stage1Error::TestMarker)?;
    }

    // 8. systemd.
    consoles.say(&format!(
        "{} {}: starting the system.",
        record.installer.product, record.release.version
    ));
    mount::switch_root(SYSROOT)?;
    Err(Stage1Error::Exec(cmd::exec(&Cmd::new(INIT))))
}

/// The record's text (handed on byte for byte) and its parsed form.
fn read_record_text(mountpoint: &Path) -> Result<(String, handover::Handover), Stage1Error> {
    let record =
        bootpart::read_record(mountpoint).map_err(|e| Stage1Error::Record(e.to_string()))?;
    let path = mountpoint.join(handover::HANDOVER_PATH.trim_start_matches('/'));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Stage1Error::Record(format!("{}: {e}", path.display())))?;
    Ok((text, record))
}

fn dev_name(dev: &Path) -> String {
    dev.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// squashfs's magic, `hsqs`, at the start of the partition.
fn is_squashfs(dev: &Path) -> Result<bool, Stage1Error> {
    let mut magic = [0u8; 4];
    std::fs::File::open(dev)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|source| Stage1Error::Read {
            dev: dev.display().to_string(),
            source,
        })?;
    Ok(&magic == b"hsqs")
}

/// mke2fs's extended options: the inode tables and the journal are not
/// zeroed at format time (the kernel zeroes the inode tables in the
/// background; the journal's blocks carry checksums seeded by the new file
/// system's UUID, so stale blocks of an earlier file system are never
/// replayed), and no discard pass. On a 2 GiB partition this writes about
/// 1 MiB instead of 34 MiB, which under emulation is the bulk of the first
/// boot's formatting time.
pub const MKE2FS_EXTENDED: &str = "lazy_itable_init=1,lazy_journal_init=1,nodiscard";

/// The mke2fs command line, run in the root image (its own e2fsprogs).
pub fn mke2fs(data_name: &str) -> Cmd {
    Cmd::new("/sbin/mke2fs")
        .arg("-q")
        .arg("-t")
        .arg("ext4")
        .arg("-E")
        .arg(MKE2FS_EXTENDED)
        .arg("-L")
        .arg(DATA_LABEL)
        .arg(format!("/dev/{data_name}"))
        .chroot(SYSROOT)
}

fn format_data(data_name: &str) -> Result<(), Stage1Error> {
    let c = mke2fs(data_name);
    let failed = |reason: String| Stage1Error::Format {
        dev: format!("/dev/{data_name}"),
        reason,
    };
    installer::log::info(&c.render());
    let pid = cmd::spawn(&c).map_err(|e| failed(e.to_string()))?;
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => return Ok(()),
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => {
                return Err(failed(format!("{} exited with {code}", c.render())))
            }
            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => {
                return Err(failed(format!("{} was killed by {sig}", c.render())))
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(failed(format!("waiting for mke2fs: {e}"))),
        }
    }
}

/// Writes `data` to `path`, mode 0600, replacing an older file.
fn write_private(path: &str, data: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// TEST ONLY (`appliance.test_marker`): reports the marker on the data
/// partition, or writes it (the record's install id) when absent.
fn test_marker(install_id: &str, consoles: &mut Consoles) -> std::io::Result<()> {
    match std::fs::read_to_string(TEST_MARKER_FILE) {
        Ok(text) => consoles.say(&format!("APPLIANCE-TEST-MARKER present {text}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_private(TEST_MARKER_FILE, install_id.as_bytes())?;
            consoles.say(&format!("APPLIANCE-TEST-MARKER written {install_id}"));
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mke2fs_runs_in_the_root_image_on_the_data_partition() {
        assert_eq!(
            mke2fs("vda3").render(),
            "chroot /sysroot /sbin/mke2fs -q -t ext4 -E lazy_itable_init=1,lazy_journal_init=1,nodiscard -L APPDATA /dev/vda3"
        );
        assert_eq!(dev_name(Path::new("/dev/nvme0n1p1")), "nvme0n1p1");
    }
}
