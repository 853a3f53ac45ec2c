//! `sample-appliance`: a minimal appliance that runs as `/init` (PID 1) of
//! its initramfs. It reads the installer's handover record from the boot
//! partition (label `APPBOOT`), configures the network, makes its own TLS
//! certificate and setup token, announces the URL on every console and
//! serves a placeholder setup page over HTTPS on port 8443.
//!
//! It reuses the installer's library for mounts, module loading, netlink,
//! DHCP and logging. As PID 1 it never exits: errors become problems shown
//! on the consoles and the page, panics are caught, children are reaped.
//!
//! Outside PID 1: `sample-appliance check-handover FILE` checks a record.

mod firstboot;
mod netsetup;
mod server;
mod tls;
mod view;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

fn main() {
    if std::process::id() == 1 {
        pid1();
    }
    match cli(std::env::args().skip(1).collect()) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("sample-appliance: {e:#}");
            std::process::exit(1);
        }
    }
}

const HELP: &str = "\
sample-appliance                      as PID 1: boot the appliance (not useful elsewhere)
sample-appliance check-handover FILE  check a handover record (docs/handover.md)
sample-appliance --version
";

fn cli(args: Vec<String>) -> Result<()> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["check-handover", file] => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
            let h = handover::Handover::parse(&text).with_context(|| file.to_string())?;
            println!(
                "{file}: ok ({} {} for serial {}, network {:?} on {})",
                h.release.model,
                h.release.version,
                h.masked_serial(),
                h.network.mode,
                h.network.mac
            );
            Ok(())
        }
        ["--version"] => {
            println!("sample-appliance {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        [] | ["--help"] | ["-h"] | ["help"] => {
            print!("{HELP}");
            Ok(())
        }
        _ => bail!("unknown arguments {words:?}\n{HELP}"),
    }
}

/// PID 1: boot, serve in a thread, reap forever.
fn pid1() -> ! {
    installer::log::install_panic_hook();
    if catch_unwind(firstboot::early_setup).is_err() {
        installer::log::error("the early setup panicked; carrying on");
    }
    let ready = match catch_unwind(firstboot::run) {
        Ok(r) => Some(r),
        Err(_) => {
            installer::log::error("the first boot sequence panicked");
            None
        }
    };
    match ready {
        Some(firstboot::Ready {
            view,
            identity: Some(id),
            mut consoles,
        }) => {
            let page = Arc::new(view::page(&view));
            let spawned = std::thread::Builder::new()
                .name("https-accept".into())
                .spawn(move || serve_forever(id, page));
            if let Err(e) = spawned {
                consoles.say(&format!("PROBLEM: cannot start the HTTPS server: {e}"));
            }
        }
        Some(_) => {}
        None => {
            let _ = std::fs::write(
                "/dev/console",
                "PROBLEM: the appliance's boot sequence failed; see /run/appliance/appliance.log\n",
            );
        }
    }
    reap_forever()
}

/// Listens on 0.0.0.0:8443 and serves; retries every 5 s if the port
/// cannot be opened or the loop panics.
fn serve_forever(id: tls::Identity, page: Arc<String>) {
    let tls = match server::tls_config(id.cert_der.clone(), id.key_der.clone()) {
        Ok(t) => t,
        Err(e) => {
            installer::log::error(&e.to_string());
            return;
        }
    };
    let addr = format!("0.0.0.0:{}", view::PORT);
    loop {
        let r = catch_unwind(AssertUnwindSafe(|| match server::listen(&addr) {
            Ok(l) => {
                installer::log::info(&format!("serving HTTPS on {addr}"));
                server::serve(l, Arc::clone(&tls), Arc::clone(&page))
            }
            Err(e) => installer::log::error(&e.to_string()),
        }));
        if r.is_err() {
            installer::log::error("the HTTPS server panicked; restarting it");
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// Reaps every child forever (orphans are re-parented to PID 1).
fn reap_forever() -> ! {
    loop {
        match nix::sys::wait::waitpid(None::<nix::unistd::Pid>, None) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}
