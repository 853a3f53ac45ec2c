//! The first steps every appliance initramfs (`sample-appliance`,
//! `appliance-init`) takes as PID 1: API mounts, the consoles, the log,
//! drivers, and waiting for the boot partition the installer recorded.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image_builder::kmod::index::ModuleIndex;

use super::{BootSpec, RecordError};
use crate::cmdline::KernelCmdline;
use crate::modload::{self, Coldplug, KernelLoader, Timing};

/// Every console of the kernel command line (`console=ttyS0,115200` →
/// `/dev/ttyS0`), else `/dev/console`.
pub struct Consoles {
    files: Vec<File>,
}

impl Consoles {
    /// Opens the consoles named on `cmdline`.
    pub fn open(cmdline: &KernelCmdline) -> Consoles {
        let mut paths: Vec<PathBuf> = Vec::new();
        for name in cmdline.consoles() {
            let p = Path::new("/dev").join(&name);
            if !name.contains('/') && !paths.contains(&p) {
                paths.push(p);
            }
        }
        if paths.is_empty() {
            paths.push(PathBuf::from("/dev/console"));
        }
        let files = paths
            .iter()
            .filter_map(|p| {
                OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOCTTY)
                    .open(p)
                    .ok()
            })
            .collect();
        Consoles { files }
    }

    /// Writes `text` (newline added when missing) to every console.
    pub fn say(&mut self, text: &str) {
        let mut t = text.to_string();
        if !t.ends_with('\n') {
            t.push('\n');
        }
        for f in &mut self.files {
            let _ = f.write_all(t.as_bytes());
            let _ = f.flush();
        }
    }
}

/// Mounts the API file systems, points fds 0–2 at `/dev/console`, makes
/// `run_dir` (0700) and logs to `<run_dir>/<tag>.log` and the kernel log.
pub fn early_setup(tag: &str, run_dir: &str) {
    for spec in crate::sys::mount::api_mounts() {
        if let Err(e) = crate::sys::mount::mount_one(&spec) {
            if !spec.optional {
                eprintln!("{tag}: {e}");
            }
        }
    }
    if let Ok(f) = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/console")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            let _ = nix::unistd::dup2(f.as_raw_fd(), fd);
        }
    }
    // Only warnings and worse from the kernel on the consoles, so that its
    // messages do not split our lines.
    let _ = std::fs::write("/proc/sys/kernel/printk", "4 4 1 7");
    let _ = std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(run_dir);
    crate::log::init(&crate::log::LogConfig {
        tag: tag.into(),
        file: Path::new(run_dir).join(format!("{tag}.log")),
        kmsg: true,
        echo_min: None,
    });
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        crate::log::warn(&format!("cannot disable Ctrl-Alt-Del: {e}"));
    }
    seed_rng_in_background();
}

/// A blocking `getrandom(2)` in a thread, as the installer's PID 1 does:
/// some crates (dhcproto's transaction ids through `rand`) wait for the
/// kernel's pool by polling `/dev/random`, which never initialises it on a
/// VM without RDRAND or virtio-rng (QEMU TCG); a blocking `getrandom` makes
/// the kernel generate jitter entropy (about a second).
fn seed_rng_in_background() {
    let spawned = std::thread::Builder::new()
        .name("entropy".into())
        .spawn(|| {
            let start = Instant::now();
            let mut buf = [0u8; 16];
            // SAFETY: a valid buffer of the given length; flags 0 = block until ready.
            let rc = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
            if rc < 0 {
                crate::log::warn(&format!(
                    "getrandom failed: {}",
                    std::io::Error::last_os_error()
                ));
            } else {
                crate::log::info(&format!(
                    "kernel random number generator ready after {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
            }
        });
    if let Err(e) = spawned {
        crate::log::warn(&format!("cannot start the entropy thread: {e}"));
    }
}

/// Drivers: module index, `named` modules (SCSI disks, whose controllers
/// may find them after coldplug settled, and file systems), then coldplug.
pub fn drivers<'a>(
    index: &'a ModuleIndex,
    cmdline: &'a KernelCmdline,
    module_dir: &Path,
    named: &[&str],
) -> Coldplug<'a, KernelLoader> {
    let loader = KernelLoader {
        module_dir: module_dir.to_path_buf(),
    };
    let mut cp = Coldplug::new(index, cmdline, loader);
    for m in named {
        if let Err(e) = cp.load_by_name(m) {
            crate::log::warn(&format!("{m}: {e}"));
        }
    }
    modload::run_coldplug(&mut cp, sys_modaliases, Timing::default());
    crate::log::info(&format!(
        "drivers: {} modules loaded, {} failed",
        cp.loaded_count(),
        cp.failures().len()
    ));
    cp
}

/// The modaliases of every device sysfs lists.
pub fn sys_modaliases() -> BTreeSet<String> {
    modload::scan_modaliases(Path::new("/sys/devices"))
}

/// Waits up to `wait` for the boot partition `spec` names, loading
/// drivers for devices that appear meanwhile; returns its device node.
pub fn wait_for_boot_partition(
    spec: &BootSpec,
    wait: Duration,
    mut cp: Option<&mut Coldplug<'_, KernelLoader>>,
) -> Result<PathBuf, String> {
    let start = Instant::now();
    loop {
        if let Some(d) = super::find(spec, Path::new("/sys"), Path::new("/dev"))? {
            return Ok(d);
        }
        if start.elapsed() >= wait {
            let seen = super::block_devices(Path::new("/sys")).join(", ");
            return Err(RecordError::NoPartition(
                spec.describe(),
                if seen.is_empty() {
                    "no disks".into()
                } else {
                    seen
                },
            )
            .to_string());
        }
        if let Some(cp) = cp.as_deref_mut() {
            cp.pass(&sys_modaliases());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
