//! The boot sequence: API mounts, drivers, the boot partition, the handover
//! record, the network, the TLS identity and the announcement. Each step
//! that fails becomes a problem shown on the consoles and on the page; none
//! stops the sequence.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use installer::bootpart::early::{self, Consoles};
use installer::bootpart::{self, BootSpec};
use installer::cmdline::KernelCmdline;
use installer::modload::{self, Coldplug, KernelLoader};
use installer::net::{NetConfig, SystemNet};

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
    early::early_setup("appliance", RUN_DIR);
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
    let dev = early::wait_for_boot_partition(&spec, BOOT_WAIT, cp)?;
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
        Ok(index) => Some(early::drivers(index, &cmdline, &module_dir, NAMED_MODULES)),
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
