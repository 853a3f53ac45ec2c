//! The applier against a temporary root: generations, the switch, installed
//! files with their modes and groups, root's shadow line, the confirmation,
//! the rollback (by the waiting service and at boot), refusals.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use appliance_activate::apply::{self, at_boot};
use appliance_activate::status::{self, Phase};
use appliance_activate::{plan, secrets};
use appliance_config::paths;
use support::{appliance, ctx, facts, gen_current, path, snapshot, Fake};

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).expect("exists").permissions().mode() & 0o7777
}

#[test]
fn activation_without_address_change_is_final_at_once() {
    let dir = appliance("192.0.2.10/24");
    let root = dir.path();
    let before = snapshot(root);
    let sys = Fake::default();
    let cx = ctx(root, &sys, support::now(), true);
    let s = apply::activate(&cx, &facts(Some("192.0.2.10/24"))).expect("activates");
    assert_eq!(s.state, Phase::Done, "{s:?}");
    assert_eq!(gen_current(root), 2);
    assert!(status::read_record(root).expect("record").is_none());
    assert_eq!(status::read(root).expect("status").state, Phase::Done);

    // Keys, credentials, clients.conf, licence: new, with their modes.
    let after = snapshot(root);
    for ((p, old), (_, new)) in before.iter().zip(&after) {
        if p.contains("setup-code") {
            assert!(new.is_none(), "{p}: the setup code is gone");
        } else if p != "/etc/chrony/chrony.conf" || old.is_some() {
            assert_ne!(old, new, "{p} changed");
        }
    }
    assert_eq!(mode(&path(root, paths::APPLIANCE_ADMIN)), 0o640);
    assert_eq!(mode(&path(root, paths::RADIUS_CLIENTS)), 0o640);
    assert_eq!(
        mode(&path(root, paths::TLS_KEY)),
        0o640,
        "as appliance-web's unit keeps it"
    );
    assert_eq!(mode(&path(root, paths::DB_KEY)), 0o400);
    let creds: serde_json::Value =
        serde_json::from_slice(&fs::read(path(root, paths::APPLIANCE_ADMIN)).expect("credentials"))
            .expect("json");
    assert_eq!(creds["login"], "appadmin");
    assert!(creds["password_hash"]
        .as_str()
        .expect("hash")
        .starts_with("$argon2id$"));
    // root's hash verifies the TEST password; other lines are unchanged.
    let shadow = fs::read_to_string(path(root, "/etc/shadow")).expect("shadow");
    let root_line = shadow.lines().next().expect("line");
    let hash = root_line.split(':').nth(1).expect("field");
    let parts: Vec<&str> = hash.split('$').collect();
    let params = sha_crypt::Sha512Params::new(secrets::ROOT_CRYPT_ROUNDS).expect("params");
    assert_eq!(
        sha_crypt::sha512_crypt_b64(b"R00t-Password#", parts[3].as_bytes(), &params)
            .expect("crypt"),
        parts[4]
    );
    assert!(root_line.ends_with(":20794:0:99999:7:::"), "{root_line}");
    assert!(shadow.ends_with("daemon:*:19000:0:99999:7:::\n"));
    // The rendered state: host name, chrony's servers.
    assert_eq!(
        fs::read_to_string(path(root, "/etc/hostname")).expect("hostname"),
        "otp1\n"
    );
    let chrony = fs::read_to_string(path(root, paths::CHRONY_CONF)).expect("chrony");
    assert!(chrony.contains("server pool.ntp.org iburst\nserver 192.0.2.123 iburst\n"));
    // The wizard's file keeps no password.
    let w = fs::read_to_string(path(root, paths::WIZARD_STATE)).expect("wizard");
    assert!(
        !w.contains("R00t-Password#") && !w.contains("Appliance-Adm1n"),
        "{w}"
    );
    assert!(w.contains("appadmin"));
    assert!(path(root, paths::SETUP_DONE).exists());
    assert_eq!(
        sys.calls(),
        [
            "check clients.conf (2 clients)",
            "hostname otp1",
            "restart appliance-otp.service chrony.service freeradius.service ssh.service systemd-networkd.service",
            "reload appliance-web.service",
            "rotate db passwords",
            "restart appliance-otp.service",
        ]
    );
    // A second activation is refused.
    let e = apply::activate(&cx, &facts(Some("192.0.2.10/24"))).expect_err("set up");
    assert!(e.to_string().contains("set up already"), "{e}");
}

#[test]
fn an_address_change_waits_for_its_confirmation() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let sys = Fake::default();
    let cx = ctx(root, &sys, support::now(), true);
    let s = apply::activate(&cx, &facts(Some("10.0.2.15/24"))).expect("activates");
    assert_eq!(s.state, Phase::PendingConfirm, "{s:?}");
    assert_eq!(s.new_url, "https://192.0.2.10:8443/");
    assert_eq!(s.confirm_deadline, "2026-12-07T12:10:00Z");
    assert!(!s.spki_sha256.is_empty() && s.tls_sha256.contains(':'));
    let dropin = path(root, &plan::grace_dropin("lan0"));
    assert!(fs::read_to_string(&dropin)
        .expect("drop-in")
        .contains("Address=10.0.2.15/24\n"));
    assert!(
        !path(root, paths::SETUP_DONE).exists(),
        "/setup/confirm must still work"
    );
    assert!(
        path(root, paths::APPLIANCE_ADMIN).exists(),
        "confirm checks it"
    );
    assert!(sys.calls().contains(&"start rollback service".to_string()));
    assert!(!sys.calls().contains(&"rotate db passwords".to_string()));
    // Another activation meanwhile is refused.
    let e = apply::activate(&cx, &facts(None)).expect_err("pending");
    assert!(e.to_string().contains("until 2026-12-07T12:10:00Z"), "{e}");

    let s = apply::confirm(&cx).expect("confirms").expect("was pending");
    assert_eq!(s.state, Phase::Done);
    assert!(!dropin.exists());
    assert!(path(root, paths::SETUP_DONE).exists());
    assert!(status::read_record(root).expect("record").is_none());
    assert_eq!(gen_current(root), 2);
    assert!(sys.calls().ends_with(&[
        "restart systemd-networkd.service".to_string(),
        "rotate db passwords".to_string(),
        "restart appliance-otp.service".to_string()
    ]));
    // Nothing to confirm any more.
    assert!(apply::confirm(&cx).expect("no error").is_none());
}

#[test]
fn an_unconfirmed_change_rolls_back_everything_at_its_deadline() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let before = snapshot(root);
    let wizard_before = fs::read(path(root, paths::WIZARD_STATE)).expect("wizard");
    let sys = Fake::default();
    let cx = ctx(root, &sys, support::now(), true);
    apply::activate(&cx, &facts(Some("10.0.2.15/24"))).expect("activates");
    assert_ne!(snapshot(root), before);

    // Before the deadline the boot keeps the new configuration.
    let boot = ctx(
        root,
        &sys,
        support::now() + time::Duration::minutes(5),
        false,
    );
    let s = at_boot(&boot).expect("boot").expect("pending");
    assert_eq!(s.state, Phase::PendingConfirm);
    assert_eq!(gen_current(root), 2);

    // After it (the machine was off across the deadline) the boot rolls back.
    let late = ctx(
        root,
        &sys,
        support::now() + time::Duration::minutes(11),
        false,
    );
    let s = at_boot(&late).expect("boot").expect("rolled back");
    assert_eq!(s.state, Phase::RolledBack, "{s:?}");
    assert!(s.message.contains("not confirmed in time"), "{}", s.message);
    assert_eq!(gen_current(root), 1);
    assert_eq!(
        snapshot(root),
        before,
        "every file as before, byte for byte"
    );
    assert!(!path(root, &plan::grace_dropin("lan0")).exists());
    assert!(!path(root, paths::APPLIANCE_ADMIN).exists());
    assert!(status::read_record(root).expect("record").is_none());
    // The passwords stay in the wizard's file: Activate can run again.
    assert_eq!(
        fs::read(path(root, paths::WIZARD_STATE)).expect("wizard"),
        wizard_before
    );
    // A boot afterwards changes nothing.
    assert!(at_boot(&late).expect("boot").is_none());
    assert_eq!(snapshot(root), before);
    // And a new activation works (generation 3).
    let again = ctx(
        root,
        &sys,
        support::now() + time::Duration::minutes(12),
        true,
    );
    let s = apply::activate(&again, &facts(Some("10.0.2.15/24"))).expect("again");
    assert_eq!(s.state, Phase::PendingConfirm);
    assert_eq!(gen_current(root), 3);
}

#[test]
fn the_waiting_service_rolls_back_when_running() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let before = snapshot(root);
    let sys = Fake::default();
    // An activation whose deadline is already over (grace 0).
    let cx = ctx(root, &sys, time::OffsetDateTime::now_utc(), true);
    let mut f = facts(Some("10.0.2.15/24"));
    f.grace_seconds = 0;
    apply::activate(&cx, &f).expect("activates");
    let s = appliance_activate::request::await_confirmation(root, &[], &sys)
        .expect("waits")
        .expect("rolled back");
    assert_eq!(s.state, Phase::RolledBack);
    assert_eq!(snapshot(root), before);
    assert!(sys.calls().ends_with(&[
        "hostname appliance".to_string(),
        "restart systemd-networkd.service chrony.service freeradius.service ssh.service"
            .to_string(),
        "reload appliance-web.service".to_string(),
    ]));
}

#[test]
fn shut_down_after_activation_needs_no_confirmation() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let sys = Fake::default();
    let mut w = support::wizard();
    w.keys.as_mut().expect("keys").shutdown = true;
    support::write_wizard(root, &w);
    let cx = ctx(root, &sys, support::now(), true);
    let s = apply::activate(&cx, &facts(Some("10.0.2.15/24"))).expect("activates");
    assert_eq!(s.state, Phase::Done);
    assert!(s.shutdown);
    assert!(!path(root, &plan::grace_dropin("lan0")).exists());
    assert_eq!(sys.calls().last().map(String::as_str), Some("poweroff"));
    assert!(!sys.calls().iter().any(|c| c.starts_with("restart")));
}

#[test]
fn refusals_name_the_problem_and_change_nothing() {
    let dir = appliance("192.0.2.10/24");
    let root = dir.path();
    let before = snapshot(root);
    let refused = |sys: &Fake, want: &str| {
        let cx = ctx(root, sys, support::now(), true);
        let e = apply::activate(&cx, &facts(Some("192.0.2.10/24"))).expect_err(want);
        assert!(e.to_string().contains(want), "{e}");
        assert_eq!(gen_current(root), 1);
        assert_eq!(snapshot(root), before);
    };
    let bad_radius = Fake {
        radius_error: Some("FreeRADIUS does not accept the RADIUS clients: line 3".into()),
        ..Fake::default()
    };
    refused(
        &bad_radius,
        "checking clients.conf: FreeRADIUS does not accept the RADIUS clients",
    );

    let mut w = support::wizard();
    w.roles = None;
    support::write_wizard(root, &w);
    refused(
        &Fake::default(),
        "the step \"User Roles and Passwords\" is not done",
    );

    let mut w = support::wizard();
    w.roles.as_mut().expect("roles").root.password.0 = "otp1".into();
    support::write_wizard(root, &w);
    refused(&Fake::default(), "Root Administrator");

    let mut w = support::wizard();
    w.licence.as_mut().expect("licence").licence.token_num = 5000;
    w.licence.as_mut().expect("licence").licence.signed_text = w
        .licence
        .as_ref()
        .expect("l")
        .licence
        .signed_text
        .replace("token-num = 50", "token-num = 5000");
    support::write_wizard(root, &w);
    refused(
        &Fake::default(),
        "not signed by this product's vendor licence key",
    );

    let mut w = support::wizard();
    w.time.as_mut().expect("time").time_zone = "Europe/Paris".into();
    support::write_wizard(root, &w);
    refused(&Fake::default(), "time zone \"Europe/Paris\"");

    fs::write(path(root, paths::WIZARD_STATE), "{").expect("write");
    refused(&Fake::default(), "go through the wizard again");
}

/// A failure after the switch (a service that does not restart) returns to
/// the previous configuration as a whole.
#[test]
fn a_failure_after_the_switch_goes_back() {
    /// The first restart fails.
    struct FailingRestart(Fake, std::cell::Cell<bool>);
    impl appliance_activate::system::System for FailingRestart {
        fn check_clients_conf(
            &self,
            r: &std::path::Path,
            c: &std::path::Path,
        ) -> Result<(), String> {
            self.0.check_clients_conf(r, c)
        }
        fn restart(&self, units: &[&str]) -> Result<(), String> {
            if !self.1.replace(true) {
                return Err("Job for freeradius.service failed".into());
            }
            self.0.restart(units)
        }
        fn reload(&self, units: &[&str]) -> Result<(), String> {
            self.0.reload(units)
        }
        fn set_hostname(&self, name: &str) -> Result<(), String> {
            self.0.set_hostname(name)
        }
        fn set_clock(&self, local: &str, zone: &str) -> Result<(), String> {
            self.0.set_clock(local, zone)
        }
        fn rotate_db_passwords(&self) -> Result<(), String> {
            self.0.rotate_db_passwords()
        }
        fn start_rollback_service(&self) -> Result<(), String> {
            self.0.start_rollback_service()
        }
        fn poweroff(&self) -> Result<(), String> {
            self.0.poweroff()
        }
    }
    let dir = appliance("192.0.2.10/24");
    let root = dir.path();
    let before = snapshot(root);
    let sys = FailingRestart(Fake::default(), std::cell::Cell::new(false));
    let cx = appliance_activate::apply::Ctx {
        root,
        consoles: &[],
        sys: &sys,
        now: support::now(),
        running: true,
    };
    let e = apply::activate(&cx, &facts(Some("192.0.2.10/24"))).expect_err("fails");
    assert!(
        e.to_string().contains("Job for freeradius.service failed")
            && e.to_string().contains("the previous configuration is back"),
        "{e}"
    );
    assert_eq!(gen_current(root), 1);
    assert_eq!(snapshot(root), before);
    assert!(status::read_record(root).expect("record").is_none());
    assert!(!path(root, paths::SETUP_DONE).exists());
    assert_eq!(status::read(root).expect("status").state, Phase::RolledBack);
}
