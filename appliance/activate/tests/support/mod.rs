//! A temporary appliance root for activation tests: a current generation,
//! keys, `/etc/shadow`, `/etc/group`, tzdata's zone, a TEST licence key and
//! the wizard's completed state (TEST passwords, `tests/wizard-done.json`),
//! and a recording fake of the system's effects.

#![allow(clippy::unwrap_used, dead_code)] // test helpers outside #[test] functions

use std::cell::RefCell;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use appliance_activate::apply::Ctx;
use appliance_activate::plan::Facts;
use appliance_activate::system::System;
use appliance_config::fsutil::under;
use appliance_config::generation::Store;
use appliance_config::state::{self, Addressing, DesiredState};
use appliance_config::{keys, paths};
use appliance_wizard::licence;
use appliance_wizard::state::WizardState;
use handover::Ipv4Cidr;
use vendor_repo::SecretKey;

/// The TEST licence key (fixed seed, marked as a test key).
pub fn licence_key() -> SecretKey {
    SecretKey::from_seed([9; 32], true)
}

/// The completed wizard with a licence signed by the TEST key.
pub fn wizard() -> WizardState {
    let text = include_str!("../wizard-done.json");
    let mut w: WizardState = serde_json::from_str(text).unwrap();
    let fields: Vec<(&str, String)> = vec![
        ("comment", "TEST LICENCE: for tests only".into()),
        ("licensee", "Example Corp".into()),
        ("product", "example-appliance".into()),
        ("valid-from", "2026-01-01".into()),
        ("expire", "2027-12-31".into()),
        ("token-num", "50".into()),
        ("subscription", "standard".into()),
    ];
    let key = licence_key();
    let issued = licence::issue(&fields, |m| key.sign(m));
    w.licence.as_mut().unwrap().licence = licence::parse(&issued).unwrap();
    w
}

/// The state before activation: the first interface static on `address`.
pub fn before(address: &str) -> DesiredState {
    let mut s = state::fallback();
    s.network.interfaces[0].addressing = Addressing::Manual {
        address: address.parse().unwrap(),
        gateway: None,
    };
    s
}

/// The time of the tests.
pub fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-12-07 12:00 UTC)
}

pub const SHADOW: &str = "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n";

/// A root directory like the appliance's before activation.
pub fn appliance(address: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let st = before(address);
    Store::new(root).commit(&st).unwrap();
    keys::ensure(root, &st, &[], now()).unwrap();
    // The verifier (first boot makes it after the login prompt).
    keys::ensure_setup_verifier(root).unwrap();
    // What first boot renders.
    appliance_config::apply::apply(root, &appliance_config::render::render(&st).unwrap()).unwrap();
    let gid = std::os::unix::fs::MetadataExt::gid(&fs::metadata(root).unwrap());
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/shadow"), SHADOW).unwrap();
    fs::write(
        root.join("etc/group"),
        format!("root:x:0:\nappliance-web:x:{gid}:\nfreerad:x:{gid}:\n"),
    )
    .unwrap();
    let zone = root.join("usr/share/zoneinfo/Europe/Berlin");
    fs::create_dir_all(zone.parent().unwrap()).unwrap();
    fs::write(zone, "TZif test").unwrap();
    let key_file = under(root, paths::LICENCE_KEYS);
    fs::create_dir_all(key_file.parent().unwrap()).unwrap();
    fs::write(key_file, licence_key().public().to_json("TEST licence key")).unwrap();
    write_wizard(root, &wizard());
    dir
}

pub fn write_wizard(root: &Path, w: &WizardState) {
    let path = under(root, paths::WIZARD_STATE);
    appliance_config::fsutil::write_atomic(
        &path,
        serde_json::to_string_pretty(w).unwrap().as_bytes(),
        0o600,
    )
    .unwrap();
}

/// Facts with the address the appliance has now.
pub fn facts(address: Option<&str>) -> Facts {
    Facts {
        current_address: address.map(|a| a.parse::<Ipv4Cidr>().unwrap()),
        grace_seconds: 600,
        otp_tool: true,
    }
}

/// Records every effect; `radius_error` makes the clients.conf check fail.
#[derive(Default)]
pub struct Fake {
    pub calls: RefCell<Vec<String>>,
    pub radius_error: Option<String>,
}

impl Fake {
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
    fn log(&self, s: String) -> Result<(), String> {
        self.calls.borrow_mut().push(s);
        Ok(())
    }
}

impl System for Fake {
    fn check_clients_conf(&self, _root: &Path, clients_conf: &Path) -> Result<(), String> {
        let text = fs::read_to_string(clients_conf).unwrap();
        self.log(format!(
            "check clients.conf ({} clients)",
            text.matches("\nclient ").count()
        ))?;
        match &self.radius_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
    fn restart(&self, units: &[&str]) -> Result<(), String> {
        self.log(format!("restart {}", units.join(" ")))
    }
    fn reload(&self, units: &[&str]) -> Result<(), String> {
        self.log(format!("reload {}", units.join(" ")))
    }
    fn set_hostname(&self, name: &str) -> Result<(), String> {
        self.log(format!("hostname {name}"))
    }
    fn set_clock(&self, local: &str, zone: &str) -> Result<(), String> {
        self.log(format!("clock {local} {zone}"))
    }
    fn rotate_db_passwords(&self) -> Result<(), String> {
        self.log("rotate db passwords".into())
    }
    fn start_rollback_service(&self) -> Result<(), String> {
        self.log("start rollback service".into())
    }
    fn poweroff(&self) -> Result<(), String> {
        self.log("poweroff".into())
    }
}

/// A running appliance's context (no consoles).
pub fn ctx<'a>(root: &'a Path, sys: &'a Fake, now: time::OffsetDateTime, running: bool) -> Ctx<'a> {
    Ctx {
        root,
        consoles: &[],
        sys,
        now,
        running,
    }
}

/// The bytes of every file below `root` that activation may change, for
/// before/after comparisons.
pub fn snapshot(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    [
        "/etc/shadow",
        paths::SSH_ED25519,
        paths::TLS_CERT,
        paths::TLS_KEY,
        paths::DB_KEY,
        paths::APPLIANCE_ADMIN,
        paths::OTP_ADMIN,
        paths::RADIUS_CLIENTS,
        paths::SETUP_DONE,
        paths::SETUP_SECRET,
        "/etc/hostname",
        "/etc/systemd/network/10-appliance-lan0.network",
        "/etc/chrony/chrony.conf",
    ]
    .iter()
    .map(|p| (p.to_string(), fs::read(under(root, p)).ok()))
    .collect()
}

pub fn gen_current(root: &Path) -> u64 {
    Store::new(root).current_number().unwrap().unwrap()
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn path(root: &Path, p: &str) -> PathBuf {
    under(root, p)
}
