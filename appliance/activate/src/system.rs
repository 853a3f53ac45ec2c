//! The effects on the running system that are not files: the `freeradius
//! -XC` check, unit restarts and reloads, the kernel host name, the clock,
//! the database passwords, the rollback service and the power-off. A trait,
//! so the applier runs against a temporary root in tests with a recording
//! fake; [`Live`] is the appliance's, through [`crate::cmd`].

use std::path::Path;

use appliance_config::fsutil::under;
use appliance_config::paths;

use crate::cmd::{self, Cmd};

/// The program that rotates the internal database passwords.
pub const OTP_TOOL: &str = "/usr/bin/appliance-otp";
/// The service that rolls back an unconfirmed address change at its
/// deadline.
pub const ROLLBACK_UNIT: &str = "appliance-rollback.service";

/// Effects beyond files. Each error is a sentence for the status page.
pub trait System {
    /// Checks a staged `clients.conf` with the image's FreeRADIUS.
    fn check_clients_conf(&self, root: &Path, clients_conf: &Path) -> Result<(), String>;
    /// Restarts units (`systemctl restart`).
    fn restart(&self, units: &[&str]) -> Result<(), String>;
    /// Reloads units (`systemctl reload`).
    fn reload(&self, units: &[&str]) -> Result<(), String>;
    /// Sets the kernel's host name.
    fn set_hostname(&self, name: &str) -> Result<(), String>;
    /// Sets the clock to a local time in `zone`.
    fn set_clock(&self, local: &str, zone: &str) -> Result<(), String>;
    /// `appliance-otp provision --rotate-password`.
    fn rotate_db_passwords(&self) -> Result<(), String>;
    /// Starts the rollback service (it sleeps until the deadline).
    fn start_rollback_service(&self) -> Result<(), String>;
    /// Powers off (after the file systems are flushed).
    fn poweroff(&self) -> Result<(), String>;
}

/// The running appliance.
#[derive(Debug, Default)]
pub struct Live;

fn sentence(e: cmd::CmdError) -> String {
    e.to_string()
}

impl System for Live {
    fn check_clients_conf(&self, root: &Path, clients_conf: &Path) -> Result<(), String> {
        let raddb = under(root, "/etc/freeradius/3.0");
        let check = under(root, "/run/appliance/radius-check");
        let _ = std::fs::remove_dir_all(&check);
        if let Some(dir) = check.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Cmd::new("cp")
            .arg("-a")
            .arg(&raddb)
            .arg(&check)
            .run()
            .map_err(sentence)?;
        std::fs::copy(clients_conf, check.join("clients.conf"))
            .map_err(|e| format!("{}: {e}", check.display()))?;
        let result = Cmd::new("freeradius")
            .arg("-XC")
            .arg("-d")
            .arg(&check)
            .run();
        let _ = std::fs::remove_dir_all(&check);
        match result {
            Ok(out) if out.contains("Configuration appears to be OK") => Ok(()),
            Ok(out) => Err(format!(
                "FreeRADIUS does not accept the RADIUS clients: {}",
                out.lines().last().unwrap_or("")
            )),
            Err(cmd::CmdError::Failed { output, .. }) => Err(format!(
                "FreeRADIUS does not accept the RADIUS clients (freeradius -XC): {output}; correct them in the RADIUS clients step"
            )),
            Err(e) => Err(format!("cannot check the RADIUS clients: {e}")),
        }
    }

    fn restart(&self, units: &[&str]) -> Result<(), String> {
        if units.is_empty() {
            return Ok(());
        }
        cmd::systemctl("restart", units).map(drop).map_err(sentence)
    }

    fn reload(&self, units: &[&str]) -> Result<(), String> {
        if units.is_empty() {
            return Ok(());
        }
        cmd::systemctl("reload", units).map(drop).map_err(sentence)
    }

    fn set_hostname(&self, name: &str) -> Result<(), String> {
        // Debian's `hostname` (essential), as the first-boot unit uses it.
        Cmd::new("hostname")
            .arg(name)
            .run()
            .map(drop)
            .map_err(sentence)
    }

    fn set_clock(&self, local: &str, zone: &str) -> Result<(), String> {
        Cmd::new("date")
            .env("TZ", format!(":{zone}"))
            .arg("--set")
            .arg(local)
            .run()
            .map(drop)
            .map_err(sentence)
    }

    fn rotate_db_passwords(&self) -> Result<(), String> {
        Cmd::new(OTP_TOOL)
            .arg("provision")
            .arg("--rotate-password")
            .run()
            .map(drop)
            .map_err(sentence)
    }

    fn start_rollback_service(&self) -> Result<(), String> {
        cmd::systemctl("start", &["--no-block", ROLLBACK_UNIT])
            .map(drop)
            .map_err(sentence)
    }

    fn poweroff(&self) -> Result<(), String> {
        nix::unistd::sync();
        cmd::systemctl("poweroff", &[]).map(drop).map_err(sentence)
    }
}

/// Whether the image has `appliance-otp`.
pub fn otp_tool_present(root: &Path) -> bool {
    under(root, OTP_TOOL).exists()
}

/// The licence keys the image trusts (none when the file is missing).
pub fn licence_keys(root: &Path) -> Result<Vec<appliance_wizard::licence::LicenceKey>, String> {
    let path = under(root, paths::LICENCE_KEYS);
    match std::fs::read_to_string(&path) {
        Ok(t) => appliance_wizard::licence::LicenceKey::from_json(&t)
            .map(|k| vec![k])
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}
