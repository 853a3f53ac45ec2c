//! `appliance-firstboot request`: the web service's requests
//! (`/var/lib/appliance-web/requests/{activate,confirm,rotate-code}.json`,
//! dropped there by the unprivileged `appliance-web`), handled as root one
//! at a time under a lock and each removed first: a request file is only a
//! trigger; what to do comes from the root side's own reading of the
//! wizard's state. Also the rollback service's wait for the deadline.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use appliance_config::fsutil::under;
use appliance_config::generation::Store;
use appliance_config::state::Addressing;
use appliance_config::{firstboot, keys, paths, watch};
use handover::Ipv4Cidr;
use nix::fcntl::{Flock, FlockArg};

use crate::apply::{self, ActivationError, Ctx};
use crate::plan::{Facts, DEFAULT_GRACE_SECONDS};
use crate::status::{self, Phase, Status};
use crate::system::System;

/// The requests the web may make, in the order they are handled.
pub const KINDS: [&str; 3] = ["rotate-code", "activate", "confirm"];

/// Holds the activation lock until dropped.
pub struct Lock(#[allow(dead_code)] Flock<std::fs::File>);

/// Takes the lock (waits for another holder).
pub fn lock(root: &Path) -> std::io::Result<Lock> {
    let path = under(root, paths::ACTIVATION_LOCK);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map(Lock)
        .map_err(|(_, e)| std::io::Error::from(e))
}

/// The IPv4 address and prefix `interface` has now (getifaddrs).
pub fn interface_address(interface: &str) -> Option<Ipv4Cidr> {
    let list = nix::ifaddrs::getifaddrs().ok()?;
    for ifa in list {
        if ifa.interface_name != interface {
            continue;
        }
        let addr = ifa.address.as_ref()?.as_sockaddr_in().map(|s| s.ip());
        let mask = ifa
            .netmask
            .as_ref()
            .and_then(|m| m.as_sockaddr_in())
            .map(|s| s.ip());
        if let (Some(addr), Some(mask)) = (addr, mask) {
            let prefix = u8::try_from(u32::from(mask).count_ones()).unwrap_or(32);
            return Some(Ipv4Cidr { addr, prefix });
        }
    }
    None
}

/// Facts of the running appliance for a plan.
pub fn live_facts(root: &Path) -> Facts {
    let current = Store::new(root).current().ok().flatten();
    let interface = current
        .as_ref()
        .and_then(|(_, s)| s.network.interfaces.first())
        .map(|i| (i.name.clone(), i.addressing.clone()));
    let current_address = interface.as_ref().and_then(|(name, a)| {
        interface_address(name).or(match a {
            Addressing::Manual { address, .. } => Some(*address),
            Addressing::Dhcp => None,
        })
    });
    Facts {
        current_address,
        grace_seconds: DEFAULT_GRACE_SECONDS,
        otp_tool: crate::system::otp_tool_present(root),
    }
}

/// What one `request` run did.
#[derive(Debug, Default)]
pub struct Handled {
    /// (request, outcome sentence), in order.
    pub done: Vec<(String, String)>,
}

/// Handles every request file present (`facts` for an activation).
pub fn handle_all(cx: &Ctx, facts: &Facts) -> std::io::Result<Handled> {
    let _lock = lock(cx.root)?;
    let dir = under(cx.root, paths::REQUESTS_DIR);
    let mut out = Handled::default();
    for kind in KINDS {
        let file: PathBuf = dir.join(format!("{kind}.json"));
        if !file.exists() {
            continue;
        }
        // Removed first: a request that fails is not retried in a loop by
        // the path unit; the status file says what happened.
        std::fs::remove_file(&file)?;
        let outcome = match kind {
            "rotate-code" => rotate_code(cx),
            "activate" => match apply::activate(cx, facts) {
                Ok(s) => s.message,
                Err(e) => failed(cx, &e),
            },
            _ => match apply::confirm(cx) {
                Ok(Some(s)) => s.message,
                Ok(None) => "nothing waits for a confirmation; ignored".to_string(),
                Err(e) => failed(cx, &e),
            },
        };
        println!("{kind}: {outcome}");
        out.done.push((kind.to_string(), outcome));
    }
    Ok(out)
}

/// Reports a failure in the status file, unless an activation is still
/// waiting for its confirmation (its status stays what the page shows).
fn failed(cx: &Ctx, e: &ActivationError) -> String {
    if !matches!(status::read_record(cx.root), Ok(Some(_))) {
        let s = Status::new(Phase::Failed, e.step, e.message.clone());
        if let Err(w) = status::write(cx.root, &s) {
            eprintln!("cannot write the status: {w}");
        }
    }
    format!("failed: {e}")
}

fn rotate_code(cx: &Ctx) -> String {
    if keys::setup_done(cx.root) {
        return "the appliance is set up; there is no setup code to rotate".into();
    }
    match keys::rotate_setup_code(cx.root) {
        Ok(_) => {
            if let Err(e) = watch::once(cx.root, cx.consoles, firstboot::Print::Always) {
                eprintln!("cannot refresh the console text: {e}");
            }
            "the setup code was replaced; the console shows the new one".into()
        }
        Err(e) => format!("failed: {e}"),
    }
}

/// The rollback service: waits (checking every few seconds) until the
/// activation is confirmed (the record is gone: exits) or its deadline
/// passes (rolls back).
pub fn await_confirmation(
    root: &Path,
    consoles: &[PathBuf],
    sys: &dyn System,
) -> Result<Option<Status>, ActivationError> {
    let err = |message: String| ActivationError {
        step: "waiting for the confirmation",
        message,
    };
    loop {
        {
            let _lock = lock(root).map_err(|e| err(e.to_string()))?;
            let cx = Ctx {
                root,
                consoles,
                sys,
                now: time::OffsetDateTime::now_utc(),
                running: true,
            };
            let Some(r) = status::read_record(root).map_err(err)? else {
                return Ok(None);
            };
            if r.confirm_deadline.is_none() {
                return Ok(None);
            }
            if r.rolling_back || apply::expired(&r, cx.now) {
                return apply::rollback(&cx, &r, "The new address was not confirmed in time.")
                    .map(Some);
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
