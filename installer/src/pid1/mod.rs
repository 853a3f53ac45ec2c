//! PID 1: a tiny supervisor. It mounts the API file systems, re-opens the
//! console, disables Ctrl-Alt-Del, reads signals through a signalfd, starts
//! the UI child and reaps every process. It acts on the UI's exit code
//! (reboot, power off) and, on a crash, offers restart / reboot / power off.
//! It never exits and never unwinds out of `main`: the kernel would panic.
//! The recovery menu also offers a rescue shell ([`shell_child`]).

mod supervise;

use crate::log;
use crate::sys::mount::{api_mounts, mount_one};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::convert::Infallible;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

pub use supervise::{parse_menu_choice, MenuChoice};

/// Signals PID 1 blocks and reads from its signalfd.
pub const HANDLED_SIGNALS: [Signal; 7] = [
    Signal::SIGCHLD,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGPWR,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The kernel log levels set once the UI starts: only warnings and worse
/// reach the console.
pub const PRINTK_QUIET: &str = "4 4 1 7";

/// Entry point when running as PID 1. Never returns.
pub fn main() -> ! {
    log::install_panic_hook();
    let mut supervisor: Option<supervise::Supervisor> = None;
    loop {
        let result = catch_unwind(AssertUnwindSafe(|| -> Infallible {
            let s = supervisor.get_or_insert_with(setup);
            s.run()
        }));
        match result {
            Ok(never) => match never {},
            Err(_) => {
                log::error("the PID 1 supervisor panicked; resuming it in 1 s");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Mounts, console, logging, Ctrl-Alt-Del and signals, in that order.
fn setup() -> supervise::Supervisor {
    let mut early: Vec<(bool, String)> = Vec::new();
    for spec in api_mounts() {
        if let Err(e) = mount_one(&spec) {
            early.push((spec.optional, e.to_string()));
        }
    }
    if let Err(e) = reopen_console() {
        early.push((false, e));
    }
    log::init(&log::LogConfig {
        tag: "installer".into(),
        file: log::LOG_FILE.into(),
        kmsg: true,
        echo_min: Some(log::Level::Warn),
    });
    log::info(&format!(
        "installer {} starting as PID 1",
        env!("CARGO_PKG_VERSION")
    ));
    for (optional, msg) in early {
        if optional {
            log::info(&msg);
        } else {
            log::error(&msg);
        }
    }
    match nix::sys::reboot::set_cad_enabled(false) {
        Ok(()) => log::debug("Ctrl-Alt-Del now sends SIGINT to PID 1"),
        Err(e) => log::warn(&format!("cannot disable Ctrl-Alt-Del: {e}")),
    }
    let signals = match block_signals() {
        Ok(fd) => Some(fd),
        Err(e) => {
            log::error(&format!(
                "cannot set up signalfd ({e}); polling for children instead"
            ));
            None
        }
    };
    wait_for_entropy_in_background();
    supervise::Supervisor::new(signals)
}

/// Asks the kernel for random bytes with a blocking `getrandom(2)`, in a
/// thread (created after the signal mask, so it inherits it).
///
/// Why: crates that need randomness (DHCP transaction ids, TLS) may wait for
/// the kernel's random pool by polling `/dev/random`, which never initialises
/// it. On a VM without RDRAND or virtio-rng (QEMU TCG), nothing else fills
/// the pool early and such a poll blocks forever. A blocking `getrandom`
/// makes the kernel generate jitter entropy, which takes about a second.
fn wait_for_entropy_in_background() {
    let spawned = std::thread::Builder::new()
        .name("entropy".into())
        .spawn(|| {
            let start = std::time::Instant::now();
            let mut buf = [0u8; 16];
            // SAFETY: a valid buffer of the given length; flags 0 = block until ready.
            let rc = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
            if rc < 0 {
                log::warn(&format!(
                    "getrandom failed: {}",
                    std::io::Error::last_os_error()
                ));
            } else {
                log::info(&format!(
                    "kernel random number generator ready after {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
            }
        });
    if let Err(e) = spawned {
        log::warn(&format!("cannot start the entropy thread: {e}"));
    }
}

/// Re-opens `/dev/console` from devtmpfs onto fds 0/1/2 (the kernel opened
/// the initramfs node, which tools like `tty` cannot resolve).
fn reopen_console() -> Result<(), String> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/console")
        .map_err(|e| format!("cannot re-open /dev/console: {e}"))?;
    for fd in 0..3 {
        nix::unistd::dup2(f.as_raw_fd(), fd)
            .map_err(|e| format!("cannot dup /dev/console onto fd {fd}: {e}"))?;
    }
    Ok(())
}

/// Blocks [`HANDLED_SIGNALS`] and returns a signalfd for them.
fn block_signals() -> nix::Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in HANDLED_SIGNALS {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
}

/// `/init shell`, started by PID 1 from its recovery menu: attaches to the
/// real console as the UI does and runs the rescue shell there. Returns the
/// exit code (0 once the shell has ended).
pub fn shell_child() -> i32 {
    log::init(&log::LogConfig {
        tag: "installer-shell".into(),
        file: log::LOG_FILE.into(),
        kmsg: true,
        echo_min: Some(log::Level::Warn),
    });
    let root = std::path::Path::new("/");
    let cmdline = crate::facts::read_cmdline(root);
    let layout = crate::console::resolve(root, &cmdline.consoles());
    if let Err(e) = crate::console::attach(&layout.primary) {
        log::warn(&format!("{e}; staying on the inherited console"));
    }
    eprintln!("\r\nRescue shell. Type exit to return to the menu.\r");
    match crate::ui::run_shell(layout.primary.term()) {
        Ok(()) => 0,
        Err(e) => {
            log::error(&e);
            1
        }
    }
}

/// Lowers the console log level so kernel messages do not garble the UI.
fn quiet_printk() {
    if let Err(e) = std::fs::write("/proc/sys/kernel/printk", PRINTK_QUIET) {
        log::warn(&format!("cannot set /proc/sys/kernel/printk: {e}"));
    }
}

/// Bounds socket and dirty page memory (`sys::lowmem::SYSCTLS`).
fn low_memory_limits() {
    for failed in crate::sys::lowmem::apply_sysctls(std::path::Path::new("/proc/sys")) {
        log::warn(&format!("cannot set /proc/sys/{failed}"));
    }
}
