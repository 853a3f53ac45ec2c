//! The desired state from the handover record (pure), its checks (every
//! error names the field), and the applier (only changed files, stale ones
//! removed, the units to restart).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use appliance_config::apply::apply;
use appliance_config::render::{self, resolv_conf};
use appliance_config::state::{self, Addressing, ConsoleKind, DesiredState, KeyKind};
use handover::Handover;

fn example() -> Handover {
    Handover::parse(handover::EXAMPLE_JSON).unwrap()
}

fn state_of(h: &Handover) -> DesiredState {
    state::from_handover(h, &[]).0
}

#[test]
fn the_example_record_gives_manual_network_serial_console_and_every_key() {
    let (st, warnings) = state::from_handover(&example(), &[]);
    // "de" is not in an empty list; it is a plain layout name and is used as such.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("keyboard.layout:"), "{warnings:?}");
    assert_eq!(st.keyboard.xkb_layout, "de");
    assert_eq!(st.consoles, [ConsoleKind::Vga, ConsoleKind::Serial]);
    assert_eq!(st.keys, KeyKind::ALL);
    assert_eq!(st.fqdn(), "appliance.example.test");
    let itf = &st.network.interfaces[0];
    assert_eq!(itf.name, "lan0");
    assert!(matches!(
        itf.addressing,
        Addressing::Manual {
            gateway: Some(_),
            ..
        }
    ));
    assert_eq!(st.network.dns.len(), 1);
    st.validate().unwrap();
}

#[test]
fn with_dhcp_the_lease_servers_win_and_an_unknown_code_falls_back_to_us() {
    let mut h = example();
    h.network.mode = handover::NetMode::Dhcp;
    h.keyboard.layout = "fr-ca".into();
    h.console = handover::Console::Vga;
    let (st, warnings) = state::from_handover(&h, &[]);
    assert_eq!(st.network.interfaces[0].addressing, Addressing::Dhcp);
    assert!(st.network.dns.is_empty());
    assert_eq!(st.consoles, [ConsoleKind::Vga]);
    assert_eq!(
        (st.keyboard.xkb_layout.as_str(), st.keyboard.code.as_str()),
        ("us", "us")
    );
    assert!(
        warnings.iter().any(|w| w.contains("\"fr-ca\"")),
        "{warnings:?}"
    );
}

#[test]
fn every_invalid_value_is_refused_with_its_field() {
    let base = state_of(&example());
    let cases: Vec<(&str, Box<dyn Fn(&mut DesiredState)>)> = vec![
        ("hostname", Box::new(|s| s.hostname = "-bad".into())),
        ("domain", Box::new(|s| s.domain = Some("a..b".into()))),
        (
            "network.interfaces",
            Box::new(|s| s.network.interfaces.clear()),
        ),
        (
            "network.interfaces[0].name",
            Box::new(|s| s.network.interfaces[0].name = "a name".into()),
        ),
        (
            "network.interfaces[1].name",
            Box::new(|s| {
                let again = s.network.interfaces[0].clone();
                s.network.interfaces.push(again);
            }),
        ),
        (
            "network.interfaces[0].addressing.gateway",
            Box::new(|s| {
                s.network.interfaces[0].addressing = Addressing::Manual {
                    address: "10.0.2.15/24".parse().unwrap(),
                    gateway: Some("10.0.3.1".parse().unwrap()),
                }
            }),
        ),
        (
            "network.dns",
            Box::new(|s| s.network.dns = vec!["10.0.0.1".parse().unwrap(); 4]),
        ),
        (
            "network.search[0]",
            Box::new(|s| s.network.search = vec!["bad domain".into()]),
        ),
        (
            "keyboard.xkb_layout",
            Box::new(|s| s.keyboard.xkb_layout = "de\"; rm".into()),
        ),
        (
            "keyboard.xkb_variant",
            Box::new(|s| s.keyboard.xkb_variant = "x y".into()),
        ),
        (
            "time_zone",
            Box::new(|s| s.time_zone = "../../etc/shadow".into()),
        ),
        ("consoles", Box::new(|s| s.consoles.clear())),
        ("format", Box::new(|s| s.format = 2)),
    ];
    for (field, change) in cases {
        let mut s = base.clone();
        change(&mut s);
        let e = s.validate().unwrap_err();
        assert_eq!(e.path, field, "{e}");
        // An invalid state renders nothing.
        assert!(render::render(&s).is_err());
    }
}

#[test]
fn a_state_from_a_file_with_an_unknown_key_is_refused_by_name() {
    let st = state_of(&example());
    let mut v = serde_json::to_value(&st).unwrap();
    v["network"]["gateway"] = serde_json::json!("10.0.2.2");
    let e = serde_json::from_value::<DesiredState>(v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("gateway"), "{e}");
}

fn inode(p: &Path) -> (u64, i64, i64) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

#[test]
fn the_applier_writes_only_changed_files_and_removes_stale_ones() {
    let root = tempfile::tempdir().unwrap();
    let st = state_of(&example());
    let first = apply(root.path(), &render::render(&st).unwrap()).unwrap();
    assert!(first.changed.contains(&"/etc/hostname".to_string()));
    assert!(first.daemon_reload);
    let hosts = root.path().join("etc/hosts");
    let before = inode(&hosts);

    // The same state again: nothing written, nothing to restart.
    let again = apply(root.path(), &render::render(&st).unwrap()).unwrap();
    assert!(
        again.changed.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );
    assert!(again.restart.is_empty() && !again.daemon_reload);
    assert_eq!(inode(&hosts), before);

    // A hand-edited file is put back; a changed mode too.
    fs::write(root.path().join("etc/hostname"), "edited\n").unwrap();
    let fixed = apply(root.path(), &render::render(&st).unwrap()).unwrap();
    assert_eq!(fixed.changed, ["/etc/hostname"]);
    assert_eq!(
        fs::read_to_string(root.path().join("etc/hostname")).unwrap(),
        "appliance\n"
    );

    // No serial console any more: its getty link and drop-in go; the
    // network changes: networkd is named.
    let mut next = st.clone();
    next.consoles = vec![ConsoleKind::Vga];
    next.network.interfaces[0].addressing = Addressing::Dhcp;
    let report = apply(root.path(), &render::render(&next).unwrap()).unwrap();
    assert_eq!(
        report.removed,
        [
            "/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
            "/etc/systemd/system/serial-getty@ttyS0.service.d/50-appliance.conf"
        ]
    );
    assert!(!root
        .path()
        .join("etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service")
        .exists());
    assert!(report.daemon_reload);
    let units: Vec<&str> = report.restart.iter().map(String::as_str).collect();
    assert_eq!(
        units,
        ["serial-getty@ttyS0.service", "systemd-networkd.service"]
    );
    assert!(
        report
            .changed
            .iter()
            .all(|p| p.ends_with(".network") || p == "/etc/hosts"),
        "{report:?}"
    );
}

#[test]
fn resolv_conf_merges_static_and_learnt_servers() {
    let st = state_of(&example());
    let text = resolv_conf(
        &st,
        &[
            "10.0.2.3".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        ],
        &["lab.example".into()],
    );
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "nameserver 10.0.2.3",
            "nameserver 192.0.2.1",
            "nameserver 192.0.2.2",
            "search example.test lab.example"
        ]
    );
    let (dns, domains) = render::parse_netif_link(
        "# This is private data. Do not parse.\nADMIN_STATE=configured\nDNS=192.0.2.53 2001:db8::53\nDOMAINS=corp.example\n",
    );
    assert_eq!(dns, ["192.0.2.53".parse::<std::net::Ipv4Addr>().unwrap()]);
    assert_eq!(domains, ["corp.example"]);
}
