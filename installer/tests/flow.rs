//! The interactive flow with scripted input and fake network, keyboard and
//! host: the menu paths M, D (success and failure), E, K and S.

mod support;

use installer::event::Event;
use installer::flow::Outcome;
use installer::net::{DhcpFailure, Ipv4Cidr, Source};
use installer::power::PowerAction;
use std::net::Ipv4Addr;
use support::{slirp_lease, FakeNet, Run, GOOD_SERIAL};

/// The serial step: s, the number, Enter after "verified".
const SERIAL: [&str; 3] = ["s", GOOD_SERIAL, ""];
/// The install step: agree, then Enter at the last look.
const INSTALL: [&str; 2] = ["y", ""];
/// The prompts of the serial step.
const SERIAL_PROMPTS: [&str; 3] = ["serial.menu", "serial.number", "serial.continue"];

/// The manual values QEMU's user network accepts, as the harness types them.
const MANUAL: [&str; 7] = [
    "10.0.2.15/24",
    "10.0.2.2",
    "10.0.2.3",
    "appliance",
    "example.test",
    "",
    "y",
];

fn script(parts: &[&[&str]]) -> Vec<String> {
    parts.concat().iter().map(|s| s.to_string()).collect()
}

#[test]
fn manual_path_applies_checks_and_installs() {
    let input = script(&[&["m"], &MANUAL, &SERIAL, &["de"], &INSTALL]);
    let r = Run::interactive(&input, FakeNet::with(&["eth0"]));
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    let expected = [
        &[
            "menu",
            "manual.address",
            "manual.gateway",
            "manual.dns",
            "manual.hostname",
            "manual.domain",
            "manual.search",
            "manual.confirm",
        ][..],
        &SERIAL_PROMPTS,
        &["keyboard.layout", "install.agree", "install.start"],
    ]
    .concat();
    assert_eq!(r.prompts(), expected);
    assert_eq!(r.net.applied.len(), 1, "applied exactly once");
    let c = &r.net.applied[0];
    assert_eq!(c.interface, "eth0");
    assert_eq!(
        c.address,
        Ipv4Cidr {
            addr: Ipv4Addr::new(10, 0, 2, 15),
            prefix: 24
        }
    );
    assert_eq!(c.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
    assert_eq!(c.dns, [Ipv4Addr::new(10, 0, 2, 3)]);
    assert_eq!(c.domain.as_deref(), Some("example.test"));
    assert!(c.search.is_empty());
    assert_eq!(c.source, Source::Manual);
    assert_eq!(
        r.net.doctored, r.net.applied,
        "the doctor checks what was applied"
    );
    assert_eq!(r.keyboard.applied, ["de"]);
    // Event order: the harness relies on it.
    let names = r.names();
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert_eq!(names[0], "first-screen");
    assert!(pos("network") < pos("doctor"));
    assert!(pos("doctor") < pos("serial"));
    assert!(pos("serial") < pos("keyboard"));
    assert!(pos("keyboard") < pos("install"));
    assert!(pos("install") < pos("installed"));
    // The install got the disk, the layout and a handover record with the
    // network, serial and keyboard of this run.
    let job = &r.install.jobs[0];
    assert_eq!(job.disk.name, "sda");
    assert_eq!(job.handover.keyboard.layout, "de");
    assert_eq!(job.handover.serial, GOOD_SERIAL);
    assert_eq!(job.handover.network.hostname, "appliance");
    assert_eq!(job.handover.network.mac.to_string(), "52:54:00:12:34:56");
    assert_eq!(names.last().map(String::as_str), Some("power"));
    // The collected answers are a complete, valid answer file.
    let saved = r.host.saved.as_deref().unwrap();
    let file = installer::answers::parse(saved).unwrap();
    let n = file.network.unwrap();
    assert_eq!(n.address.as_deref(), Some("10.0.2.15/24"));
    assert_eq!(n.gateway.as_deref(), Some("10.0.2.2"));
    assert_eq!(n.domain.as_deref(), Some("example.test"));
    assert_eq!(n.search, Some(vec![]));
    assert_eq!(file.keyboard.as_deref(), Some("de"));
    assert!(r
        .term
        .out
        .contains("Your answers were saved to /run/installer/answers.json"));
    assert!(r
        .term
        .out
        .contains("The installation on /dev/sda is complete"));
    assert_eq!(file.erase_disk, Some(true));
    assert_eq!(file.disk.and_then(|d| d.serial).as_deref(), Some("QM00001"));
}

#[test]
fn bad_manual_input_is_refused_with_its_message_and_asked_again() {
    let input = [
        "m",
        "192.0.2.10",
        "255.0.255.0",
        "255.255.255.0",
        "",
        "10.0.0.1",
        "192.0.2.1",
        "192.0.2.53 192.0.2.53",
        "192.0.2.53",
        "web_1",
        "web1",
        "",
        "",
        "maybe",
        "y",
        "s",
        GOOD_SERIAL,
        "",
        "",
        "y",
        "",
    ];
    let r = Run::interactive(&input, FakeNet::with(&["eth0"]));
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    let inv = r.invalid();
    let want = [
        ("manual.netmask", "255.0.255.0", "255.0.255.0 is not a valid netmask: its one-bits must be contiguous (e.g. 255.255.255.0)"),
        ("manual.gateway", "", "the default gateway is required; type none if this network has no gateway"),
        ("manual.gateway", "10.0.0.1", "10.0.0.1 is outside 192.0.2.0/24"),
        ("manual.dns", "192.0.2.53 192.0.2.53", "192.0.2.53 is listed twice"),
        ("manual.hostname", "web_1", "\"web_1\" contains \"_\"; only letters a-z, digits and hyphens are allowed"),
        ("manual.confirm", "maybe", "\"maybe\" is not a choice here; type y or n and press Enter"),
    ];
    assert_eq!(inv.len(), want.len(), "{inv:?}");
    for (got, (id, input, message)) in inv.iter().zip(want) {
        assert_eq!(
            (got.0.as_str(), got.1.as_str(), got.2.as_str()),
            (id, input, message)
        );
    }
    // Each refusal shows the message and asks the same prompt again.
    let p = r.prompts();
    assert_eq!(p.iter().filter(|id| *id == "manual.gateway").count(), 3);
    assert!(r
        .term
        .out
        .contains("  ! 10.0.0.1 is outside 192.0.2.0/24\n"));
    let c = &r.net.applied[0];
    assert_eq!(c.address.prefix, 24, "netmask 255.255.255.0 is /24");
    assert_eq!(c.hostname, "web1");
    assert_eq!(c.domain, None);
    assert_eq!(
        r.keyboard.applied,
        ["us"],
        "Enter keeps the preselected layout"
    );
}

#[test]
fn several_adapters_are_listed_and_one_is_chosen() {
    let input = script(&[&["m", "3", "eth1"], &MANUAL, &["", "p"]]);
    let r = Run::interactive(&input, FakeNet::with(&["eth0", "eth1"]));
    assert_eq!(r.prompts()[1..3], ["manual.interface", "manual.interface"]);
    assert_eq!(
        r.invalid()[0].2,
        "\"3\" is not in the list; type a number from 1 to 2 or an adapter name"
    );
    assert!(r
        .term
        .out
        .contains("   1) eth0       e1000        52:54:00:12:34:56  link up"));
    assert_eq!(r.net.applied[0].interface, "eth1");
}

#[test]
fn answering_n_edits_again_with_the_previous_values_as_defaults() {
    let input = script(&[
        &["m"],
        &MANUAL[..6],
        &["n", "", "", "", "web2", "-", "", "y", "", "p"],
    ]);
    let r = Run::interactive(&input, FakeNet::with(&["eth0"]));
    assert_eq!(
        r.net.applied.len(),
        1,
        "nothing is applied before the final y"
    );
    let c = &r.net.applied[0];
    assert_eq!(c.address.addr, Ipv4Addr::new(10, 0, 2, 15));
    assert_eq!(c.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
    assert_eq!(c.hostname, "web2");
    assert_eq!(c.domain, None, "- clears the optional domain");
    assert!(r
        .term
        .out
        .contains("Hostname, e.g. appliance [appliance]: "));
    assert!(r.term.out.contains("[example.test; - for none]: "));
}

#[test]
fn dhcp_success_shows_the_lease_and_applies_it() {
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Ok(slirp_lease("eth0")));
    let r = Run::interactive(&script(&[&["d"], &SERIAL, &["fr"], &INSTALL]), net);
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    let expected = [
        &["menu"][..],
        &SERIAL_PROMPTS,
        &["keyboard.layout", "install.agree", "install.start"],
    ]
    .concat();
    assert_eq!(r.prompts(), expected);
    assert_eq!(r.net.dhcp_calls, ["eth0"]);
    let c = &r.net.applied[0];
    assert_eq!(
        c.hostname, "appliance",
        "a lease without hostname gets the default"
    );
    let out = &r.term.out;
    assert!(
        out.contains("  DISCOVER sent\n"),
        "progress lines are shown:\n{out}"
    );
    assert!(out.contains("Received from the DHCP server:"));
    assert!(out.contains("  Address:     10.0.2.15/24"));
    assert!(out.contains("  MTU:         1500"));
    assert!(out.contains("  Lease time:  86400 s (server 10.0.2.2)"));
    let saved = installer::answers::parse(r.host.saved.as_deref().unwrap()).unwrap();
    let n = saved.network.unwrap();
    assert_eq!(n.mode, Some(installer::answers::Mode::Dhcp));
    assert_eq!(
        n.address, None,
        "a DHCP run records the mode, not the lease"
    );
}

#[test]
fn dhcp_failure_returns_to_the_menu_and_manual_still_works() {
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Err(DhcpFailure {
        interface: "eth0".into(),
        tried: "sent 4 DISCOVERs over 30 s, no OFFER received".into(),
        hint: "is the VM's network adapter connected?".into(),
    }));
    let input = script(&[&["d", "m"], &MANUAL, &["", "p"]]);
    let r = Run::interactive(&input, net);
    let failed = r
        .events
        .iter()
        .find(|e| matches!(e, Event::DhcpFailed { .. }))
        .unwrap();
    assert_eq!(
        failed,
        &Event::DhcpFailed {
            interface: "eth0".into(),
            tried: "sent 4 DISCOVERs over 30 s, no OFFER received".into(),
            hint: "is the VM's network adapter connected?".into(),
        }
    );
    assert_eq!(r.prompts()[..3], ["menu", "menu", "manual.address"]);
    assert!(r.term.out.contains(
        "  ! DHCP on eth0 failed: sent 4 DISCOVERs over 30 s, no OFFER received\n    Hint: is the VM's network adapter connected?\n"
    ));
    assert_eq!(r.net.applied.len(), 1);
    assert_eq!(r.net.applied[0].source, Source::Manual);
}

#[test]
fn exit_can_be_cancelled_then_confirmed() {
    let r = Run::interactive(
        &["e", "n", "x", "e", "y", "q", "r"],
        FakeNet::with(&["eth0"]),
    );
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    assert_eq!(
        r.prompts(),
        [
            "menu",
            "exit.confirm",
            "menu",
            "menu",
            "exit.confirm",
            "exit.action",
            "exit.action"
        ]
    );
    assert_eq!(
        r.invalid()[0].2,
        "\"x\" is not a choice here; type M, D, E, K or S and press Enter"
    );
    assert!(r.net.applied.is_empty() && r.net.dhcp_calls.is_empty());
    assert_eq!(
        r.events.last(),
        Some(&Event::Power {
            action: installer::event::PowerAction::Reboot
        })
    );
}

#[test]
fn keyboard_hotkey_applies_at_once_and_preselects_the_later_step() {
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Ok(slirp_lease("eth0")));
    let r = Run::interactive(&script(&[&["k", "2", "d"], &SERIAL, &[""], &INSTALL]), net);
    let expected = [
        &["menu", "keyboard.layout", "menu"][..],
        &SERIAL_PROMPTS,
        &["keyboard.layout", "install.agree", "install.start"],
    ]
    .concat();
    assert_eq!(r.prompts(), expected);
    assert_eq!(r.keyboard.applied, ["de", "de"]);
    assert!(r.term.out.contains("K  keyboard layout (now: de)"));
    assert!(r
        .term
        .out
        .contains("Keyboard layout (number or code) [de]: "));
    assert!(r.term.out.contains("*  2) de"));
    assert!(
        r.term
            .out
            .contains("the choice\napplies to the installed system only"),
        "serial note"
    );
    let kb: Vec<&Event> = r
        .events
        .iter()
        .filter(|e| matches!(e, Event::Keyboard { .. }))
        .collect();
    assert_eq!(
        kb,
        [
            &Event::Keyboard {
                layout: "de".into(),
                applied: true
            },
            &Event::Keyboard {
                layout: "de".into(),
                applied: true
            }
        ]
    );
}

#[test]
fn rescue_shell_returns_to_the_menu() {
    let r = Run::interactive(&["s", "e", "y", "p"], FakeNet::with(&[]));
    assert_eq!(r.host.shells, 1);
    assert_eq!(r.prompts(), ["menu", "menu", "exit.confirm", "exit.action"]);
    assert!(r.term.out.contains("The rescue shell ended."));
}

#[test]
fn no_adapter_and_apply_failure_go_back_to_the_menu() {
    let r = Run::interactive(&["m", "e", "y", "p"], FakeNet::with(&[]));
    assert!(r.term.out.contains("No network adapter was found."));
    assert_eq!(r.prompts(), ["menu", "menu", "exit.confirm", "exit.action"]);

    let mut net = FakeNet::with(&["eth0"]);
    net.apply_error = Some("RTM_NEWADDR: permission denied".into());
    let input = script(&[&["m"], &MANUAL, &["e", "y", "p"]]);
    let r = Run::interactive(&input, net);
    assert!(r
        .term
        .out
        .contains("  ! the configuration could not be applied: RTM_NEWADDR: permission denied"));
    assert!(
        !r.names().contains(&"network".to_string()),
        "no network event without apply"
    );
    assert_eq!(r.prompts()[8], "menu");
}

#[test]
fn closed_input_ends_the_run() {
    let r = Run::interactive(&["m", "192.0.2.10/24"], FakeNet::with(&["eth0"]));
    assert_eq!(r.outcome, Outcome::InputClosed);
    assert!(r.net.applied.is_empty());
}

#[test]
fn dhcp_with_several_adapters_asks_which_one() {
    let mut net = FakeNet::with(&["eth0", "eth1"]);
    net.leases.push_back(Ok(slirp_lease("eth1")));
    let r = Run::interactive(&script(&[&["d", "eth1"], &SERIAL, &[""], &INSTALL]), net);
    let expected = [
        &["menu", "dhcp.interface"][..],
        &SERIAL_PROMPTS,
        &["keyboard.layout", "install.agree", "install.start"],
    ]
    .concat();
    assert_eq!(r.prompts(), expected);
    assert_eq!(r.net.dhcp_calls, ["eth1"]);
    assert_eq!(r.net.applied[0].interface, "eth1");
}
