//! The boot sequence: API mounts, drivers, the boot partition, the handover
//! record, the network, the TLS identity and the announcement. Each step
//! that fails becomes a problem shown on the consoles and on the page; none
//! stops the sequence.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image_builder::kmod::index::ModuleIndex;
use installer::cmdline::KernelCmdline;
use installer::modload::{self, Coldplug, KernelLoader, Timing};
use installer::net::{NetConfig, SystemNet};

use crate::bootpart::{self, BootSpec, RecordError};
use crate::tls;
use crate::view::{self, View};

/// Where the appliance keeps its state (tmpfs): log, key, certificate, token.
pub const RUN_DIR: &str = "/run/appliance";
/// Mount point of the boot partition.
pub const BOOT_MOUNT: &str = "/boot";
/// Modules loaded by name (SCSI disks, whose controllers may find them
/// after coldplug settled, and file systems); the rest come from coldplug.
pub const NAMED_MODULES: &[&str] = &[
    "sd_mod",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859_1",
    "nls_utf8",
];
/// How long to wait for the boot partition to appear.
const BOOT_WAIT: Duration = Duration::from_secs(20);

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

/// What the boot produced: what to show and the TLS material to serve with.
pub struct Ready {
    /// Consoles and page content.
    pub view: View,
    /// Certificate and key; `None` if they could not be made.
    pub identity: Option<tls::Identity>,
    /// The consoles, for later messages.
    pub consoles: Consoles,
}

/// Mounts the API file systems and points fds 0–2 at `/dev/console`.
pub fn early_setup() {
    for spec in installer::sys::mount::api_mounts() {
        if let Err(e) = installer::sys::mount::mount_one(&spec) {
            if !spec.optional {
                eprintln!("sample-appliance: {e}");
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
        .create(RUN_DIR);
    installer::log::init(&installer::log::LogConfig {
        tag: "appliance".into(),
        file: Path::new(RUN_DIR).join("appliance.log"),
        kmsg: true,
        echo_min: None,
    });
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        installer::log::warn(&format!("cannot disable Ctrl-Alt-Del: {e}"));
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
                installer::log::warn(&format!(
                    "getrandom failed: {}",
                    std::io::Error::last_os_error()
                ));
            } else {
                installer::log::info(&format!(
                    "kernel random number generator ready after {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
            }
        });
    if let Err(e) = spawned {
        installer::log::warn(&format!("cannot start the entropy thread: {e}"));
    }
}

/// Drivers: module index, file systems by name, then coldplug.
fn drivers<'a>(
    index: &'a ModuleIndex,
    cmdline: &'a KernelCmdline,
    module_dir: &Path,
) -> Coldplug<'a, KernelLoader> {
    let loader = KernelLoader {
        module_dir: module_dir.to_path_buf(),
    };
    let mut cp = Coldplug::new(index, cmdline, loader);
    for m in NAMED_MODULES {
        if let Err(e) = cp.load_by_name(m) {
            installer::log::warn(&format!("{m}: {e}"));
        }
    }
    modload::run_coldplug(&mut cp, sys_modaliases, Timing::default());
    installer::log::info(&format!(
        "drivers: {} modules loaded, {} failed",
        cp.loaded_count(),
        cp.failures().len()
    ));
    cp
}

fn sys_modaliases() -> BTreeSet<String> {
    modload::scan_modaliases(Path::new("/sys/devices"))
}

/// Finds and mounts the boot partition and reads the record, loading
/// drivers for devices that appear meanwhile.
fn record(
    cmdline: &KernelCmdline,
    cp: Option<&mut Coldplug<'_, KernelLoader>>,
) -> Result<handover::Handover, String> {
    let spec = BootSpec::from_cmdline(
        cmdline.get(bootpart::PARAM_BOOT),
        cmdline.get(bootpart::PARAM_BOOT_VOLUME),
    )?;
    let start = Instant::now();
    let mut cp = cp;
    let dev = loop {
        if let Some(d) = bootpart::find(&spec, Path::new("/sys"), Path::new("/dev"))? {
            break d;
        }
        if start.elapsed() >= BOOT_WAIT {
            let seen = bootpart::block_devices(Path::new("/sys")).join(", ");
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
    };
    installer::log::info(&format!("boot partition: {}", dev.display()));
    bootpart::mount_ro(&dev, BOOT_MOUNT).map_err(|e| e.to_string())?;
    bootpart::read_record(Path::new(BOOT_MOUNT)).map_err(|e| e.to_string())
}

/// Writes `data` to `<RUN_DIR>/<name>` with `mode`.
fn store(name: &str, data: &[u8], mode: u32) -> std::io::Result<()> {
    let path = Path::new(RUN_DIR).join(name);
    let _ = std::fs::remove_file(&path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&path)?;
    f.write_all(data)
}

fn fill_network(view: &mut View, c: &NetConfig) {
    view.hostname = c.hostname.clone();
    view.address = Some(format!("{}/{}", c.address.addr, c.address.prefix));
    view.gateway = c.gateway.map(|g| g.to_string());
    view.dns = c.dns.iter().map(ToString::to_string).collect();
}

/// The whole boot after [`early_setup`].
pub fn run() -> Ready {
    let cmdline = installer::facts::read_cmdline(Path::new("/"));
    let mut consoles = Consoles::open(&cmdline);
    consoles.say(&format!(
        "\n{} (sample appliance {}) starting.",
        view::PRODUCT,
        env!("CARGO_PKG_VERSION")
    ));
    let mut view = View {
        product: view::PRODUCT.into(),
        hostname: "appliance".into(),
        ..View::default()
    };

    let release = installer::facts::kernel_release(Path::new("/")).unwrap_or_default();
    let module_dir = Path::new("/lib/modules").join(release);
    let index = modload::load_index(&module_dir);
    let mut cp = match &index {
        Ok(index) => Some(drivers(index, &cmdline, &module_dir)),
        Err(e) => {
            view.problems.push(format!("no drivers can be loaded: {e}"));
            None
        }
    };

    let record = record(&cmdline, cp.as_mut());
    let mut net = SystemNet::new(None);
    let mut say = |s: &str| consoles.say(s);
    let applied = match &record {
        Ok(h) => {
            view.product = h.installer.product.clone();
            view.release = Some(format!(
                "{} ({}, {})",
                h.release.version, h.release.model, h.release.channel
            ));
            view.hostname = h.network.hostname.clone();
            view.network_mode = Some(
                match h.network.mode {
                    handover::NetMode::Dhcp => "DHCP",
                    handover::NetMode::Manual => "manual",
                }
                .into(),
            );
            view.keyboard = Some(h.keyboard.layout.clone());
            view.serial_masked = Some(h.masked_serial());
            crate::netsetup::apply_record(&mut net, &h.network, &mut say)
        }
        Err(problem) => {
            say(&format!("PROBLEM with the handover record: {problem}"));
            view.problems.push(problem.clone());
            crate::netsetup::fallback_dhcp(&mut net, &mut say)
        }
    };
    for line in &net.last_apply_log {
        installer::log::info(line);
    }
    match &applied {
        Ok(c) => fill_network(&mut view, c),
        Err(e) => view.problems.push(format!("network: {e}")),
    }

    let ip = applied.as_ref().ok().map(|c| c.address.addr);
    consoles.say("Making the TLS certificate and the setup token...");
    let identity = match tls::generate(&view.hostname, ip) {
        Ok(id) => {
            if let Err(e) = store("tls-key.pem", id.key_pem.as_bytes(), 0o600)
                .and_then(|()| store("tls-cert.pem", id.cert_pem.as_bytes(), 0o644))
            {
                installer::log::warn(&format!("cannot store the TLS key in {RUN_DIR}: {e}"));
            }
            Some(id)
        }
        Err(e) => {
            view.problems.push(e.to_string());
            None
        }
    };
    let token = match tls::new_token() {
        Ok(t) => {
            if let Err(e) = store("setup-token", t.as_bytes(), 0o600) {
                installer::log::warn(&format!("cannot store the setup token: {e}"));
            }
            t
        }
        Err(e) => {
            view.problems.push(e.to_string());
            "(none)".into()
        }
    };
    match &identity {
        Some(id) => {
            let colons = tls::fingerprint_colons(&id.cert_der);
            let hex = tls::fingerprint_hex(&id.cert_der);
            installer::log::info(&format!("TLS certificate SHA256 {colons}"));
            consoles.say(&view::announcement(&view, &colons, &token));
            consoles.say(&view::ready_event(&view, &hex));
        }
        None => consoles.say(&format!(
            "PROBLEM: no TLS certificate, the setup page is not served: {}",
            view.problems.join("; ")
        )),
    }
    Ready {
        view,
        identity,
        consoles,
    }
}
