//! `appliance-firstboot`: the reference appliance's first-boot unit, the
//! console text's watcher, the web service's requests (activation,
//! confirmation, setup code rotation) and the rollback wait. See `--help`
//! and docs/appliance.md.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use appliance_activate::apply::{self, Ctx};
use appliance_activate::{backup, request, restored, system};
use appliance_config::{firstboot, keys, watch};

const HELP: &str = "\
appliance-firstboot: desired state, keys and console text of the appliance

USAGE:
  appliance-firstboot [run] [OPTIONS]      apply the desired state (the handover record
                                           the first time), make missing keys, show the
                                           console text (appliance-firstboot.service)
  appliance-firstboot watch [OPTIONS]      keep the console text and DHCP name servers
                                           current (appliance-console.service)
  appliance-firstboot setup-verifier [--root DIR]
                                           make the setup code's verifier (Argon2id) when
                                           it is missing (appliance-setup-verifier.service)
  appliance-firstboot rotate-setup-code [--root DIR]
                                           replace the setup code (the console shows the
                                           new one)
  appliance-firstboot request [--root DIR] handle the web service's requests in
                                           /var/lib/appliance-web/requests/ (activate,
                                           confirm, rotate-code, backup, restore-inspect,
                                           restore; appliance-request.service)
  appliance-firstboot await-confirmation [--root DIR]
                                           wait for an address change's confirmation, roll
                                           back at its deadline (appliance-rollback.service)

OPTIONS:
  --root DIR         the appliance's root directory (default /)
  --handover FILE    the handover record (default /run/appliance/handover.json)
  --console PATH     print the console text there (repeatable; default: the kernel's
                     consoles from /sys/class/tty/console/active)
  -h, --help         this text
";

struct Args {
    command: String,
    opts: firstboot::Options,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Option<Args>> {
    let mut command = None;
    let mut root = None;
    let mut handover = None;
    let mut consoles = Vec::new();
    let mut it = args;
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--root" => root = Some(PathBuf::from(value("--root")?)),
            "--handover" => handover = Some(PathBuf::from(value("--handover")?)),
            "--console" => consoles.push(PathBuf::from(value("--console")?)),
            "run" | "watch" | "rotate-setup-code" | "request" | "await-confirmation"
            | "setup-verifier"
                if command.is_none() =>
            {
                command = Some(a)
            }
            other => bail!("unknown argument {other:?}; see --help"),
        }
    }
    let mut opts = firstboot::Options::production();
    if let Some(r) = root {
        opts.root = r;
    }
    if let Some(h) = handover {
        opts.handover = h;
    }
    if !consoles.is_empty() {
        opts.consoles = consoles;
    }
    Ok(Some(Args {
        command: command.unwrap_or_else(|| "run".into()),
        opts,
    }))
}

fn main() -> Result<()> {
    let Some(args) = parse(std::env::args().skip(1))? else {
        print!("{HELP}");
        return Ok(());
    };
    let opts = &args.opts;
    let live = system::Live;
    let cx = Ctx {
        root: &opts.root,
        consoles: &opts.consoles,
        sys: &live,
        now: time::OffsetDateTime::now_utc(),
        running: args.command != "run",
    };
    match args.command.as_str() {
        "run" => {
            // An activation that is not final: finished, rolled back or
            // re-installed before the desired state is applied.
            {
                let _lock = request::lock(&opts.root)?;
                if let Some(s) = apply::at_boot(&cx)? {
                    println!("activation at boot: {:?}: {}", s.state, s.message);
                }
            }
            let out = firstboot::run(opts, time::OffsetDateTime::now_utc())?;
            for w in &out.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "desired state: generation {}{}",
                out.generation,
                if out.new_generation { " (new)" } else { "" }
            );
            if out.applied.changed.is_empty() {
                println!("files written: none (all current)");
            } else {
                println!("files written: {}", out.applied.changed.join(" "));
            }
            if !out.applied.removed.is_empty() {
                println!("files removed: {}", out.applied.removed.join(" "));
            }
            if !out.applied.restart.is_empty() {
                let units: Vec<&str> = out.applied.restart.iter().map(String::as_str).collect();
                println!("units reading changed files: {}", units.join(" "));
            }
            println!(
                "keys made: {:?}; kept: {:?}",
                out.keys.generated, out.keys.kept
            );
            println!("console keymap: {}", out.console_keymap);
        }
        "setup-verifier" => {
            if keys::ensure_setup_verifier(&opts.root)? {
                println!("the setup code's verifier was made");
            } else {
                println!("the setup code's verifier is there (or the setup is done)");
            }
        }
        "watch" => watch::run(&opts.root, &opts.consoles)?,
        "rotate-setup-code" => {
            keys::rotate_setup_code(&opts.root)?;
            watch::once(&opts.root, &opts.consoles, firstboot::Print::Always)?;
            println!("the setup code was replaced; the console shows the new one");
        }
        "request" => {
            let facts = request::live_facts(&opts.root);
            let handled = request::handle_all(&cx, &facts)?;
            let jobs = backup::Jobs::production(&opts.root);
            let apply_etc = |before: Option<u64>| {
                restored::put_into_effect(&cx, &facts, before)
                    .map(|a| a.note())
                    .map_err(|e| e.to_string())
            };
            let backups = backup::handle_all(&jobs, &live, &apply_etc)?;
            if handled.done.is_empty() && backups.is_empty() {
                println!("no request");
            }
        }
        "await-confirmation" => {
            match request::await_confirmation(&opts.root, &opts.consoles, &live)? {
                Some(s) => println!("{:?}: {}", s.state, s.message),
                None => println!("nothing waits for a confirmation"),
            }
        }
        other => bail!("unknown command {other:?}"),
    }
    Ok(())
}
