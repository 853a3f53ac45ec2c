//! The flow driven by answer files: complete (unattended), partial (the rest
//! is asked), and broken ones, which must stop before anything is changed.

mod support;

use installer::answers::{self, Loaded, Rejected};
use installer::event::Event;
use installer::flow::{AnswersInput, Outcome};
use installer::power::PowerAction;
use std::net::Ipv4Addr;
use support::{options, slirp_lease, FakeNet, Run, GOOD_SERIAL};

fn loaded(json: &str) -> AnswersInput {
    AnswersInput::Loaded(Loaded {
        source: "/etc/installer/answers.json (in the initramfs)".into(),
        origin: installer::answers::Origin::Embedded,
        file: answers::parse(json).expect("a valid answer file"),
    })
}

const FULL_MANUAL: &str = r#"{
  "version": 1,
  "network": {"mode": "manual", "interface": "eth1", "address": "192.0.2.10/24",
              "gateway": "192.0.2.1", "dns": ["192.0.2.53", "198.51.100.53"],
              "hostname": "appliance", "domain": "example.com", "search": ["example.com"]},
  "serial": "7K3M-Q9TD-2XWB-HV5B",
  "erase_disk": true,
  "keyboard": "de",
  "finish": "poweroff"
}"#;

fn answers_errors(r: &Run) -> Vec<(String, String)> {
    r.events
        .iter()
        .filter_map(|e| match e {
            Event::AnswersError { key, message } => Some((key.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_complete_file_runs_unattended_without_a_single_prompt() {
    let r = Run::go(
        &[] as &[&str],
        FakeNet::with(&["eth0", "eth1"]),
        options(loaded(FULL_MANUAL), true),
    );
    assert_eq!(r.outcome, Outcome::Power(PowerAction::PowerOff));
    assert!(r.prompts().is_empty(), "{:?}", r.prompts());
    assert_eq!(
        r.names(),
        [
            "first-screen",
            "answers",
            "network",
            "doctor",
            "serial",
            "keyboard",
            "disks",
            "install",
            "install-progress",
            "installed",
            "power"
        ]
    );
    let c = &r.net.applied[0];
    assert_eq!(c.interface, "eth1");
    assert_eq!(
        c.dns,
        [
            Ipv4Addr::new(192, 0, 2, 53),
            Ipv4Addr::new(198, 51, 100, 53)
        ]
    );
    assert_eq!(c.search, ["example.com"]);
    assert_eq!(r.keyboard.applied, ["de"]);
    assert_eq!(
        r.events[1],
        Event::Answers {
            source: "/etc/installer/answers.json (in the initramfs)".into()
        }
    );
    // What was collected reads back as the same network answers.
    let saved = answers::parse(r.host.saved.as_deref().unwrap()).unwrap();
    let original = answers::parse(FULL_MANUAL).unwrap();
    assert_eq!(saved.network, original.network);
}

#[test]
fn a_partial_file_asks_only_what_is_missing() {
    let json = r#"{"version": 1, "keyboard": "fr",
                   "network": {"mode": "manual", "address": "192.0.2.10/24", "gateway": "192.0.2.1"}}"#;
    let input = [
        "192.0.2.53",
        "appliance",
        "",
        "",
        "y",
        "s",
        GOOD_SERIAL,
        "",
        "y",
        "",
    ];
    let r = Run::go(
        &input,
        FakeNet::with(&["eth0"]),
        options(loaded(json), false),
    );
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    assert_eq!(
        r.prompts(),
        [
            "manual.dns",
            "manual.hostname",
            "manual.domain",
            "manual.search",
            "manual.confirm",
            "serial.menu",
            "serial.number",
            "serial.continue",
            "install.agree",
            "install.start"
        ]
    );
    assert_eq!(r.net.applied[0].gateway, Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(
        r.keyboard.applied,
        ["fr"],
        "the keyboard came from the file"
    );
}

#[test]
fn an_answer_that_does_not_fit_a_typed_value_is_shown_and_asked() {
    // The address is typed; the gateway from the file is outside its subnet.
    let json = r#"{"version": 1, "network": {"mode": "manual", "gateway": "10.0.0.1"}}"#;
    let input = [
        "192.0.2.10/24",
        "192.0.2.1",
        "192.0.2.53",
        "appliance",
        "",
        "",
        "y",
        "",
        "p",
    ];
    let r = Run::go(
        &input,
        FakeNet::with(&["eth0"]),
        options(loaded(json), false),
    );
    assert!(r
        .term
        .out
        .contains("  ! network.gateway: 10.0.0.1 is outside 192.0.2.0/24\n"));
    assert_eq!(r.prompts()[..2], ["manual.address", "manual.gateway"]);
    assert_eq!(r.net.applied[0].gateway, Some(Ipv4Addr::new(192, 0, 2, 1)));
}

#[test]
fn a_malformed_file_stops_before_any_change() {
    let text = r#"{"version": 1, "network": {"mode": "manual", "adress": "192.0.2.10/24"}}"#;
    let errors = answers::parse(text).unwrap_err();
    let input = AnswersInput::Rejected(Rejected {
        source: "volume ANSWERS on /dev/sdb1".into(),
        errors,
    });
    let r = Run::go(
        &["x", "s", "p"],
        FakeNet::with(&["eth0"]),
        options(input, false),
    );
    assert_eq!(r.outcome, Outcome::Power(PowerAction::PowerOff));
    assert!(r.net.applied.is_empty() && r.net.dhcp_calls.is_empty());
    assert!(r.keyboard.applied.is_empty());
    let e = answers_errors(&r);
    assert_eq!(e.len(), 1, "reported once, not again after the shell");
    assert_eq!(e[0].0, "network.adress");
    assert!(
        e[0].1.starts_with("unknown field, expected one of `mode`"),
        "{e:?}"
    );
    assert_eq!(r.prompts(), ["stop.action", "stop.action", "stop.action"]);
    assert_eq!(r.host.shells, 1);
    let out = &r.term.out;
    assert!(out.contains(
        "The installation cannot continue: the answer file from volume ANSWERS on /dev/sdb1 cannot be used."
    ));
    assert!(out.contains("  network.adress: unknown field, expected one of"));
    assert!(out.contains("Nothing on this machine has been changed."));
    assert!(!r.names().contains(&"answers".to_string()));
}

#[test]
fn a_file_that_does_not_fit_the_machine_stops_before_any_change() {
    let r = Run::go(
        &["r"],
        FakeNet::with(&["eth0"]),
        options(loaded(FULL_MANUAL), false),
    );
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    assert_eq!(
        answers_errors(&r),
        [(
            "network.interface".to_string(),
            "eth1 does not exist; adapters: eth0".to_string()
        )]
    );
    assert!(r.net.applied.is_empty());
    assert!(r.keyboard.applied.is_empty());
}

#[test]
fn unattended_gaps_stop_with_the_missing_key_paths() {
    let json = r#"{"version": 1, "network": {"mode": "manual", "address": "192.0.2.10/24"}}"#;
    let r = Run::go(
        &["p"],
        FakeNet::with(&["eth0"]),
        options(loaded(json), true),
    );
    let keys: Vec<String> = answers_errors(&r).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "network.gateway",
            "network.dns",
            "network.hostname",
            "serial",
            "erase_disk"
        ]
    );
    assert!(answers_errors(&r)
        .iter()
        .all(|(_, m)| m == "this key is required for an unattended installation"));
    assert!(r.net.applied.is_empty() && r.net.dhcp_calls.is_empty());
    assert_eq!(r.prompts(), ["stop.action"]);

    let r = Run::go(
        &["p"],
        FakeNet::with(&["eth0"]),
        options(AnswersInput::None, true),
    );
    assert_eq!(answers_errors(&r)[0].0, "installer.answers");
    assert!(r.net.applied.is_empty());
}

#[test]
fn unattended_dhcp_with_name_overrides_and_reboot() {
    let json = r#"{"version": 1, "network": {"mode": "dhcp", "hostname": "edge1", "domain": "corp.example"},
                   "serial": "7K3M-Q9TD-2XWB-HV5B", "erase_disk": true, "finish": "reboot"}"#;
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Ok(slirp_lease("eth0")));
    let r = Run::go(&[] as &[&str], net, options(loaded(json), true));
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    let c = &r.net.applied[0];
    assert_eq!(c.hostname, "edge1");
    assert_eq!(c.domain.as_deref(), Some("corp.example"));
    assert_eq!(r.keyboard.applied, ["us"], "unattended default layout");
    assert!(r.prompts().is_empty());
}

#[test]
fn unattended_dhcp_failure_stops_without_asking_for_values() {
    let json = r#"{"version": 1, "network": {"mode": "dhcp"}, "serial": "7K3M-Q9TD-2XWB-HV5B", "erase_disk": true}"#;
    let r = Run::go(
        &["p"],
        FakeNet::with(&["eth0"]),
        options(loaded(json), true),
    );
    assert_eq!(r.prompts(), ["stop.action"]);
    assert!(r.names().contains(&"dhcp-failed".to_string()));
    assert!(answers_errors(&r).is_empty(), "not an answer-file problem");
    assert!(r
        .term
        .out
        .contains("The installation cannot continue: DHCP on eth0 failed"));
}

#[test]
fn the_embedded_file_feeds_the_flow() {
    let root = std::env::temp_dir().join(format!("installer-flow-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/installer")).unwrap();
    std::fs::write(
        root.join(answers::EMBEDDED_FILE),
        FULL_MANUAL.replace("eth1", "eth0"),
    )
    .unwrap();
    let cmdline = installer::cmdline::KernelCmdline::parse("installer.unattended");
    let mut net = FakeNet::with(&["eth0"]);
    let got = answers::source::load(&root, &cmdline, &mut net, &mut |_| {});
    let _ = std::fs::remove_dir_all(&root);
    let input = match got {
        Some(Ok(l)) => AnswersInput::Loaded(l),
        other => panic!("expected the embedded file, got {other:?}"),
    };
    let r = Run::go(&[] as &[&str], net, options(input, true));
    assert_eq!(r.outcome, Outcome::Power(PowerAction::PowerOff));
    assert_eq!(r.net.applied.len(), 1);
}

#[test]
fn unattended_serial_retries_transient_problems_then_stops_naming_the_key() {
    use installer::vendor::{Problem, SerialCheck};
    use support::FakeVendor;
    let json = r#"{"version": 1, "network": {"mode": "dhcp"}, "serial": "7K3M-Q9TD-2XWB-HV5B", "erase_disk": true}"#;
    let down = || {
        SerialCheck::Problem(Problem {
            kind: "unreachable",
            detail: "connection refused by 10.0.2.2:18443".into(),
            hint: "is the backend running?".into(),
        })
    };
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Ok(slirp_lease("eth0")));
    let vendor = FakeVendor {
        verdicts: [down(), down(), down()].into(),
        ..FakeVendor::default()
    };
    let r = Run::go_with(&["p"], net, vendor, options(loaded(json), true));
    assert_eq!(r.vendor.asked.len(), 3, "three attempts");
    assert_eq!(r.vendor.pauses, [5, 10]);
    assert_eq!(answers_errors(&r)[0].0, "serial");
    assert!(answers_errors(&r)[0].1.contains("connection refused"));
    assert_eq!(r.prompts(), ["stop.action"]);
    assert!(
        r.keyboard.applied.is_empty(),
        "nothing after the serial step ran"
    );

    // A refusal is not retried.
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Ok(slirp_lease("eth0")));
    let vendor = FakeVendor {
        verdicts: [SerialCheck::NoSupport {
            detail: "this serial number is for other-appliance".into(),
        }]
        .into(),
        ..FakeVendor::default()
    };
    let r = Run::go_with(&["p"], net, vendor, options(loaded(json), true));
    assert_eq!(r.vendor.asked.len(), 1);
    assert!(answers_errors(&r)[0]
        .1
        .starts_with("Backend has no support for this Appliance"));
}
