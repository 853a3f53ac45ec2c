//! `appliance-init`: stage 1 of the reference appliance, `/init` (PID 1) of
//! its initramfs. It finds the installed disk through the boot partition's
//! recorded FAT volume id, mounts the read-only root image and the data
//! partition (formatting the latter only when blank), makes `/etc` and
//! `/var` persistent, hands the installer's record on and `switch_root`s
//! into systemd ([`stage`] has the sequence).
//!
//! It reuses the installer's library for mounts, module loading, consoles
//! and logging. As PID 1 it never exits: a failure is shown on every
//! console with what to do, and Enter restarts the machine.
//!
//! Outside PID 1: `appliance-init check-cmdline 'LINE'` checks a kernel
//! command line.

mod blank;
mod error;
mod params;
mod persist;
mod stage;

use std::io::BufRead;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use installer::bootpart::early::{self, Consoles};
use installer::cmdline::KernelCmdline;
use installer::power::{self, PowerAction};

use error::Stage1Error;

fn main() {
    if std::process::id() == 1 {
        pid1();
    }
    match cli(std::env::args().skip(1).collect()) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("appliance-init: {e:#}");
            std::process::exit(1);
        }
    }
}

const HELP: &str = "\
appliance-init                         as PID 1: stage 1 of the appliance (not useful elsewhere)
appliance-init check-cmdline 'LINE'    check the appliance's kernel parameters in LINE
appliance-init --version
";

fn cli(args: Vec<String>) -> Result<()> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["check-cmdline", line] => {
            match params::Params::from_cmdline(&KernelCmdline::parse(line)) {
                Ok(p) => {
                    println!(
                        "ok: boot partition {}, root = partition {}, data = partition {}{}",
                        p.boot.describe(),
                        p.root,
                        p.data,
                        if p.test_marker {
                            " (with the test-only marker hook)"
                        } else {
                            ""
                        }
                    );
                    Ok(())
                }
                Err(e) => bail!("{e}"),
            }
        }
        ["--version"] => {
            println!("appliance-init {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        [] | ["--help"] | ["-h"] | ["help"] => {
            print!("{HELP}");
            Ok(())
        }
        _ => bail!("unknown arguments {words:?}\n{HELP}"),
    }
}

/// PID 1: the sequence; on failure show it and wait, never exit.
fn pid1() -> ! {
    installer::log::install_panic_hook();
    if catch_unwind(|| early::early_setup("appliance-init", stage::RUN_DIR)).is_err() {
        installer::log::error("the early setup panicked; carrying on");
    }
    // The installer's early setup makes its state directory 0700. Here the
    // directory stays for the running system and holds files other users
    // read by name: resolv.conf (every process), the activation status
    // (the web service). Its secrets carry their own modes
    // (handover.json 0600), so the directory itself is 0755.
    if let Err(e) = std::fs::set_permissions(
        stage::RUN_DIR,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    ) {
        installer::log::error(&format!("{}: mode 0755: {e}", stage::RUN_DIR));
    }
    let cmdline = installer::facts::read_cmdline(Path::new("/"));
    let mut consoles = Consoles::open(&cmdline);
    consoles.say(&format!(
        "\nappliance-init {}: starting the appliance.",
        env!("CARGO_PKG_VERSION")
    ));
    let error = match catch_unwind(AssertUnwindSafe(|| stage::run(&cmdline, &mut consoles))) {
        Ok(e) => e,
        Err(p) => Stage1Error::Panic(
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into()),
        ),
    };
    stopped(&error, &mut consoles)
}

/// The text shown when stage 1 stops.
fn problem_text(e: &Stage1Error) -> String {
    format!(
        "\nPROBLEM: the appliance cannot start.\n  {e}\nWhat to do: {}\n\
         Press Enter to restart the machine.\n",
        e.way_forward()
    )
}

/// Shows the problem on every console (again every minute, for a console
/// attached later) and restarts the machine on Enter.
fn stopped(e: &Stage1Error, consoles: &mut Consoles) -> ! {
    let text = problem_text(e);
    installer::log::error(&e.to_string());
    consoles.say(&text);
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = std::thread::Builder::new()
        .name("console-input".into())
        .spawn(move || {
            let mut line = String::new();
            if std::io::stdin()
                .lock()
                .read_line(&mut line)
                .is_ok_and(|n| n > 0)
            {
                let _ = tx.send(());
            }
        });
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {
                consoles.say("Restarting.");
                let err = power::shutdown(PowerAction::Reboot);
                consoles.say(&format!(
                    "Restarting failed ({err}); switch the machine off."
                ));
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => consoles.say(&text),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // No console input: show it periodically, forever.
                std::thread::sleep(Duration::from_secs(60));
                consoles.say(&text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_text_has_the_cause_and_the_way_forward() {
        let t = problem_text(&Stage1Error::NotSquashfs {
            dev: "/dev/sda2".into(),
        });
        assert!(t.contains("/dev/sda2 holds no root image"), "{t}");
        assert!(
            t.contains("What to do: the installed disk is incomplete"),
            "{t}"
        );
        assert!(t.contains("Press Enter to restart"), "{t}");
    }

    #[test]
    fn the_command_line_check_names_the_bad_parameter() {
        let e = cli(vec!["check-cmdline".into(), "appliance.root=2".into()]).unwrap_err();
        assert!(
            e.to_string().starts_with("appliance.data= is missing"),
            "{e}"
        );
        cli(vec![
            "check-cmdline".into(),
            "appliance.root=2 appliance.data=3".into(),
        ])
        .unwrap();
    }
}
