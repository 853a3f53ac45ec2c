//! The UI child (`/init ui`), started by PID 1: takes over the real console,
//! loads drivers, finds the install medium, shows the first screen, reads an
//! answer file if there is one, and runs the installer [`flow`] with the real
//! network, keyboard, console and host. Its exit code tells PID 1 what to do
//! ([`crate::power`]).

mod drivers;
mod host;
mod terminal;

use crate::answers;
use crate::buildinfo::BuildInfo;
use crate::cmdline::KernelCmdline;
use crate::console::{self, ConsoleKind, ConsoleLayout};
use crate::event::{Event, EventSink};
use crate::facts::{self, Facts, Firmware};
use crate::flow::{self, AnswersInput, Outcome, Ports};
use crate::keyboard::SystemKeyboard;
use crate::log;
use crate::medium::{self, Scan};
use crate::net::SystemNet;
use crate::power::EXIT_UI_ERROR;
use crate::screen;
use crate::sys::mount;
use crate::vendor::system::SystemVendor;
use drivers::Drivers;
pub use host::{run_shell, SystemHost, SHELL};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Environment variable PID 1 sets for its UI child.
pub const UI_CHILD_ENV: &str = "INSTALLER_UI_CHILD";
/// How long to wait for the install medium unless `installer.media_timeout=` says otherwise.
pub const DEFAULT_MEDIA_TIMEOUT: Duration = Duration::from_secs(30);
/// Exit code used when the UI is started outside PID 1's care.
pub const EXIT_NOT_UI_CHILD: i32 = EXIT_UI_ERROR;
/// Kernel parameter: `installer.mode=shell` starts a rescue shell first.
pub const PARAM_MODE: &str = "installer.mode";
/// Kernel parameter: never ask; what the answers lack stops the run.
pub const PARAM_UNATTENDED: &str = "installer.unattended";
/// Disk and CD drivers, loaded after coldplug whatever it found: SAS and
/// some SCSI controllers (mptsas) discover their disks seconds after the
/// controller's own modalias was handled, and without udev nobody would load
/// `sd_mod` for them.
pub const STORAGE_CLASS_MODULES: [&str; 2] = ["sd_mod", "sr_mod"];
/// Modules needed to mount an `ANSWERS` volume (FAT needs its code pages).
pub const ANSWERS_MODULES: [&str; 5] = ["vfat", "nls_cp437", "nls_utf8", "nls_ascii", "isofs"];

/// True if this process was started by PID 1 as its UI child.
pub fn is_ui_child() -> bool {
    std::env::var_os(UI_CHILD_ENV).is_some() && nix::unistd::getppid().as_raw() == 1
}

/// Runs the UI; returns the process exit code.
pub fn run() -> i32 {
    let root = Path::new("/");
    let cmdline = facts::read_cmdline(root);
    let layout = start(&cmdline);
    let mut out = std::io::stdout();
    let build = load_build(root, &mut out);
    let title = screen::title(build.as_ref());
    let _ = writeln!(out, "\nStarting {title} on {}.", layout.primary.describe());
    let mut events = EventSink::open();

    let started = Instant::now();
    let module_dir = Path::new("/lib/modules").join(kernel_release(root, build.as_ref()));
    let index = drivers::load_index(&module_dir);
    if let Err(e) = &index {
        let _ = writeln!(out, "Error: {e}; no drivers can be loaded.");
    }
    let mut drivers = Drivers::new(index.as_ref().map_err(Clone::clone), &cmdline, &module_dir);

    let firmware = Firmware::detect(root);
    if firmware == Firmware::Uefi {
        drivers.by_name("efivarfs");
        if let Err(e) = mount::mount_one(&mount::efivarfs_mount()) {
            log::warn(&e.to_string());
        }
    }
    drivers.by_name("isofs");
    events.emit(&crate::event::started(
        build
            .as_ref()
            .map_or(env!("CARGO_PKG_VERSION"), |b| b.version.as_str())
            .to_string(),
        layout.primary.name.clone(),
        firmware,
        facts::secure_boot(root, firmware).is_enabled(),
        &cmdline,
    ));

    let _ = writeln!(out, "Loading drivers...");
    let _ = out.flush();
    let volume_id = build.as_ref().map(|b| b.volume_id.as_str());
    // Finding the medium (and switching to its module pack) is done in
    // coldplug's pauses when the medium is there by then, as a CD is.
    let found_early = drivers.coldplug(volume_id.map(|v| (root, v)));
    for m in STORAGE_CLASS_MODULES {
        drivers.by_name(m);
    }
    let coldplug_time = started.elapsed();
    let summary = drivers.summary(coldplug_time);
    events.emit(&Event::Modules {
        loaded: summary.loaded,
        failed: summary.failed,
        seconds: summary.seconds,
    });

    let scan = match (found_early, volume_id) {
        (Some(scan), _) => scan,
        (None, Some(v)) => {
            let timeout = cmdline.media_timeout().unwrap_or(DEFAULT_MEDIA_TIMEOUT);
            wait_for_medium(root, v, timeout, &mut drivers, &mut out)
        }
        (None, None) => Scan::default(),
    };
    events.emit(&match &scan.found {
        Some(m) => Event::Medium {
            device: m.device.clone(),
            kind: m.kind.into(),
        },
        None => Event::MediumMissing {
            seen: scan.seen.iter().map(|d| d.device.clone()).collect(),
        },
    });

    let scan_medium = scan.found.as_ref().map(|m| m.device.clone());
    if let Some(device) = &scan_medium {
        load_pack(device, &module_dir, &mut drivers, &mut out);
    }
    let mut facts = Facts::gather(root, &cmdline, &layout, None);
    facts.medium = scan;
    // Drivers loaded while waiting for the medium count too; the time stays coldplug's.
    let summary = drivers.summary(coldplug_time);
    let _ = write!(
        out,
        "\n{}\n",
        screen::render(&title, &facts, Some(&summary), volume_id)
    );
    let _ = out.flush();

    let on_vt = layout.primary.kind == ConsoleKind::Vt;
    let mut host = SystemHost {
        term: layout.primary.term(),
    };
    if cmdline.get(PARAM_MODE) == Some("shell") {
        rescue_mode(&mut host, &mut out);
    }
    let mut net = SystemNet::new(build.as_ref());
    let mut keyboard = SystemKeyboard::new(on_vt);
    for m in ANSWERS_MODULES {
        drivers.by_name(m);
    }
    let answers = load_answers(root, &cmdline, &mut net, &mut out);
    let vendor_config = crate::vendor::VendorConfig::load(
        Path::new("/"),
        cmdline.get(crate::vendor::config::PARAM_BACKEND),
    );
    let mut vendor = SystemVendor::new(
        build
            .as_ref()
            .map_or(String::from("appliance"), |b| b.product.clone()),
        build.as_ref().map_or(0, |b| b.build_epoch),
        vendor_config.clone(),
    );
    if let Some(url) = cmdline.get(crate::vendor::config::PARAM_BACKEND) {
        net.doctor.backend_url = Some(crate::vendor::config::normalize_url(url));
    }
    let mut install = crate::install::system::SystemInstall::new(
        scan_medium,
        vendor_config,
        build.as_ref().map_or(String::new(), |b| b.version.clone()),
    );
    let mut term = terminal::ConsoleTerm::default();
    let outcome = flow::run(
        Ports {
            term: &mut term,
            events: &mut events,
            net: &mut net,
            keyboard: &mut keyboard,
            host: &mut host,
            vendor: &mut vendor,
            install: &mut install,
        },
        flow::Options {
            unattended: cmdline.has(PARAM_UNATTENDED),
            on_vt,
            answers,
        },
    );
    match outcome {
        Outcome::Power(action) => {
            log::info(&format!("user chose to {}", action.verb()));
            action.exit_code()
        }
        // The console never reports the end of input; keep PID 1 informed anyway.
        Outcome::InputClosed => {
            log::error("the console input ended");
            EXIT_UI_ERROR
        }
    }
}

/// Loads what the module pack on the medium has for this machine (the
/// second coldplug stage, unless coldplug already did), then frees the
/// loaded modules' files from the initramfs.
fn load_pack(device: &str, module_dir: &Path, drivers: &mut Drivers<'_>, out: &mut impl Write) {
    if let Ok(n) = drivers.load_pack(device) {
        if n > 0 {
            let _ = writeln!(out, "Loaded {n} more drivers from the installation medium.");
        }
    }
    // The initramfs is never freed: drop the files of loaded modules.
    let (files, bytes) =
        crate::sys::lowmem::free_loaded_modules(module_dir, Path::new("/sys/module"));
    log::info(&format!(
        "freed {files} loaded modules' files from the initramfs ({} KiB)",
        bytes / 1024
    ));
    crate::sys::lowmem::log_mem_available("after the module pack");
}

/// `installer.mode=shell` (the boot menu's "Rescue shell"): a shell first,
/// then the normal installer.
fn rescue_mode(host: &mut SystemHost, out: &mut impl Write) {
    let _ = writeln!(
        out,
        "Rescue shell (installer.mode=shell). Type exit to continue to the installer."
    );
    let _ = out.flush();
    if let Err(e) = run_shell(host.term) {
        log::error(&e);
        let _ = writeln!(out, "Error: {e}");
    }
}

/// Reads the answer file, if any, showing progress lines.
fn load_answers(
    root: &Path,
    cmdline: &KernelCmdline,
    net: &mut SystemNet,
    out: &mut impl Write,
) -> AnswersInput {
    let mut say = |line: &str| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    match answers::source::load(root, cmdline, net, &mut say) {
        None => AnswersInput::None,
        Some(Ok(loaded)) => {
            log::info(&format!("answer file from {}", loaded.source));
            AnswersInput::Loaded(loaded)
        }
        Some(Err(rejected)) => {
            for e in &rejected.errors {
                log::error(&format!("answer file from {}: {e}", rejected.source));
            }
            AnswersInput::Rejected(rejected)
        }
    }
}

/// Logging, then the real console: returns where the installer runs.
fn start(cmdline: &KernelCmdline) -> ConsoleLayout {
    // `installer.debug` echoes the whole log on the console.
    let echo_min = cmdline.has("installer.debug").then_some(log::Level::Debug);
    log::init(&log::LogConfig {
        tag: "installer-ui".into(),
        file: log::LOG_FILE.into(),
        kmsg: true,
        echo_min,
    });
    log::install_panic_hook();
    // Credentials and tokens on the command line never reach a log line or
    // an event, whatever message they might end up in.
    for value in cmdline.secret_values() {
        crate::secret::register(&value);
    }
    let layout = console::resolve(Path::new("/"), &cmdline.consoles());
    match console::attach(&layout.primary) {
        Ok(()) => log::info(&format!("running on {}", layout.primary.describe())),
        Err(e) => log::warn(&format!("{e}; staying on the inherited console")),
    }
    let pointed = console::point_other_consoles(&layout);
    if !pointed.is_empty() {
        log::info(&format!(
            "pointed {} to {}",
            pointed.join(", "),
            layout.primary.name
        ));
    }
    layout
}

/// Reads build.json; a failure is logged and shown, and the UI carries on.
fn load_build(root: &Path, out: &mut impl Write) -> Option<BuildInfo> {
    match BuildInfo::load(root) {
        Ok(b) => Some(b),
        Err(e) => {
            log::error(&e.to_string());
            let _ = writeln!(out, "Warning: {e}");
            None
        }
    }
}

/// `uname -r`, falling back to the release in build.json; warns on a mismatch.
fn kernel_release(root: &Path, build: Option<&BuildInfo>) -> String {
    let running = facts::kernel_release(root);
    if let (Some(r), Some(b)) = (&running, build) {
        if *r != b.kernel_release {
            log::warn(&format!(
                "running kernel {r}, but the image was built for {}",
                b.kernel_release
            ));
        }
    }
    running
        .or_else(|| build.map(|b| b.kernel_release.clone()))
        .unwrap_or_default()
}

/// Scans for the medium every half second until found or `timeout`,
/// loading drivers for devices that appear meanwhile.
fn wait_for_medium(
    root: &Path,
    volume_id: &str,
    timeout: Duration,
    drivers: &mut Drivers<'_>,
    out: &mut impl Write,
) -> Scan {
    let start = Instant::now();
    let mut next_note = Duration::ZERO;
    loop {
        let scan = medium::scan(root, volume_id);
        let waited = start.elapsed();
        if let Some(m) = &scan.found {
            log::info(&format!(
                "install medium {volume_id:?} found on {} after {:.1} s",
                m.device,
                waited.as_secs_f64()
            ));
            return scan;
        }
        if waited >= timeout {
            log::warn(&format!(
                "install medium {volume_id:?} not found within {} s",
                timeout.as_secs()
            ));
            return scan;
        }
        if waited >= next_note {
            let _ = if next_note.is_zero() {
                writeln!(
                    out,
                    "Looking for the installation medium {volume_id:?} (up to {} s)...",
                    timeout.as_secs()
                )
            } else {
                writeln!(
                    out,
                    "  still looking ({} s left)",
                    timeout.saturating_sub(waited).as_secs()
                )
            };
            let _ = out.flush();
            next_note += Duration::from_secs(5);
        }
        drivers.pass();
        std::thread::sleep(Duration::from_millis(500));
    }
}
