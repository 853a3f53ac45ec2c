//! The activation plan as a table: address change or not, each key choice,
//! shut down, the manual clock; what it writes, restarts and reloads.

mod support;

use appliance_activate::plan::{self, DbPasswords, SecretToMake};
use appliance_config::paths;
use appliance_config::state::KeyKind;
use appliance_wizard::network::Addressing;
use appliance_wizard::state::Completed;
use appliance_wizard::time::Clock;

fn completed() -> Completed {
    support::wizard().completed().expect("completed")
}

/// (case, current state's address, address the system has, wizard's
/// addressing, change?, kept old address, new URL)
type Case = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Addressing,
    bool,
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
fn address_change_or_not() {
    // (case, current state's address, address the system has, wizard's
    // addressing, change?, confirmation needed?, kept old address, new URL)
    let stat = |a: &str| Addressing::Static {
        address: a.parse().expect("ip"),
        prefix: 24,
        gateway: None,
    };
    let cases: Vec<Case> = vec![
        (
            "same static address",
            "192.0.2.10/24",
            Some("192.0.2.10/24"),
            stat("192.0.2.10"),
            false,
            None,
            Some("https://192.0.2.10:8443/"),
        ),
        (
            "new static address",
            "10.0.2.15/24",
            Some("10.0.2.15/24"),
            stat("192.0.2.10"),
            true,
            Some("10.0.2.15/24"),
            Some("https://192.0.2.10:8443/"),
        ),
        (
            "lease now, static later",
            "10.0.2.15/24",
            Some("10.0.2.99/24"),
            stat("10.0.2.99"),
            false,
            None,
            Some("https://10.0.2.99:8443/"),
        ),
        (
            "no address yet",
            "10.0.2.15/24",
            None,
            stat("10.0.2.15"),
            false,
            None,
            Some("https://10.0.2.15:8443/"),
        ),
        (
            "static to DHCP",
            "10.0.2.15/24",
            Some("10.0.2.15/24"),
            Addressing::Dhcp,
            true,
            Some("10.0.2.15/24"),
            None,
        ),
    ];
    for (case, before, has, addressing, change, old, url) in cases {
        let mut c = completed();
        c.network.addressing = addressing;
        let p = plan::plan(&c, &support::before(before), &support::facts(has)).expect(case);
        assert_eq!(p.address_change.is_some(), change, "{case}");
        assert_eq!(p.needs_confirm, change, "{case}");
        assert_eq!(
            p.address_change
                .as_ref()
                .and_then(|a| a.old)
                .map(|a| a.to_string())
                .as_deref(),
            old,
            "{case}"
        );
        assert_eq!(p.new_url.as_deref(), url, "{case}");
        if change {
            assert!(
                p.restart.contains(&plan::NETWORKD),
                "{case}: {:?}",
                p.restart
            );
            assert!(
                p.touched_paths().contains(&plan::grace_dropin("lan0")),
                "{case}"
            );
        }
    }
}

#[test]
fn key_choices() {
    // (ssh, tls, db key, db passwords, otp tool present) → keys, restart
    // ssh?, reload web?, database passwords
    let cases = [
        (
            true,
            true,
            true,
            true,
            true,
            vec![
                KeyKind::SshEd25519,
                KeyKind::SshEcdsa,
                KeyKind::Tls,
                KeyKind::DbKey,
            ],
            true,
            true,
            DbPasswords::Rotate,
        ),
        (
            false,
            true,
            false,
            false,
            true,
            vec![KeyKind::Tls],
            false,
            true,
            DbPasswords::Keep,
        ),
        (
            true,
            false,
            false,
            false,
            true,
            vec![KeyKind::SshEd25519, KeyKind::SshEcdsa],
            true,
            false,
            DbPasswords::Keep,
        ),
        (
            false,
            false,
            true,
            false,
            true,
            vec![KeyKind::DbKey],
            false,
            false,
            DbPasswords::Keep,
        ),
        (
            false,
            false,
            false,
            true,
            false,
            vec![],
            false,
            false,
            DbPasswords::SkipNoTool,
        ),
        (
            false,
            false,
            false,
            false,
            false,
            vec![],
            false,
            false,
            DbPasswords::Keep,
        ),
    ];
    for (ssh, tls, db_key, db_pw, tool, keys, sshd, web, dbp) in cases {
        let mut c = completed();
        c.keys.ssh = ssh;
        c.keys.tls = tls;
        c.keys.db_key = db_key;
        c.keys.db_passwords = db_pw;
        let mut facts = support::facts(Some("192.0.2.10/24"));
        facts.otp_tool = tool;
        let p = plan::plan(&c, &support::before("192.0.2.10/24"), &facts).expect("plan");
        let case = format!("{:?}", c.keys);
        assert_eq!(p.regenerate, keys, "{case}");
        assert_eq!(p.restart.contains(&plan::SSHD), sshd, "{case}");
        assert_eq!(p.reload == [plan::WEB], web, "{case}");
        assert_eq!(p.db_passwords, dbp, "{case}");
        assert!(p.restart.contains(&plan::FREERADIUS), "{case}");
        for k in keys {
            for path in plan::key_paths(k) {
                assert!(p.touched_paths().contains(&path), "{case}: {path}");
            }
        }
    }
}

#[test]
fn shutting_down_needs_no_confirmation() {
    let mut c = completed();
    c.keys.shutdown = true;
    let p = plan::plan(
        &c,
        &support::before("10.0.2.15/24"),
        &support::facts(Some("10.0.2.15/24")),
    )
    .expect("plan");
    assert!(p.shutdown);
    assert!(p.address_change.is_some());
    assert!(!p.needs_confirm);
}

#[test]
fn state_files_and_secrets() {
    let c = completed();
    let before = support::before("192.0.2.10/24");
    let p = plan::plan(&c, &before, &support::facts(Some("192.0.2.10/24"))).expect("plan");
    assert_eq!(p.state.hostname, "otp1");
    assert_eq!(p.state.time_zone, "Europe/Berlin");
    assert_eq!(
        p.state.ntp_servers.as_deref(),
        Some(&["pool.ntp.org".to_string(), "192.0.2.123".to_string()][..])
    );
    assert_eq!(p.set_hostname.as_deref(), Some("otp1"));
    assert_eq!(p.set_clock, None);
    // chrony reads the new servers; the address stays, but networkd's file
    // changes (gateway, DNS, domains); the OTP service binds the new
    // database key.
    assert_eq!(
        p.restart,
        [
            plan::OTP,
            plan::CHRONY,
            plan::FREERADIUS,
            plan::SSHD,
            plan::NETWORKD
        ]
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    let files: Vec<(&str, u32, Option<&str>)> =
        p.files.iter().map(|f| (f.path, f.mode, f.group)).collect();
    assert_eq!(
        files,
        [
            (paths::RADIUS_CLIENTS, 0o640, Some("freerad")),
            (paths::LICENCE, 0o644, None),
            (paths::UPDATE_KEY, 0o644, None),
        ]
    );
    let conf = String::from_utf8(p.files[0].bytes.clone()).expect("utf-8");
    assert!(conf.contains("client vpn {"), "{conf}");
    assert!(conf.contains("client wlan-ctrl {"), "{conf}");
    let made: Vec<String> = p
        .secrets
        .iter()
        .map(|s| match s {
            SecretToMake::RootPassword(_) => "root".to_string(),
            SecretToMake::Credentials { path, login, .. } => format!("{path} {login}"),
        })
        .collect();
    assert_eq!(
        made,
        [
            "root".to_string(),
            format!("{} appadmin", paths::APPLIANCE_ADMIN),
            format!("{} admin", paths::OTP_ADMIN),
        ]
    );
    // The plan's Debug output shows no password.
    let debug = format!("{p:?}");
    assert!(!debug.contains("R00t-Password#"), "secret in Debug output");
}

#[test]
fn a_manual_clock_sets_the_time_and_leaves_chrony_without_servers() {
    let mut c = completed();
    c.time.clock = Clock::Manual {
        date: appliance_wizard::date::Date::parse("2026-12-24").expect("date"),
        time: appliance_wizard::date::TimeOfDay::parse("18:30").expect("time"),
    };
    let p = plan::plan(&c, &support::before("192.0.2.10/24"), &support::facts(None)).expect("plan");
    assert_eq!(p.set_clock.as_deref(), Some("2026-12-24 18:30:00"));
    assert_eq!(p.state.ntp_servers, Some(Vec::new()));
}
