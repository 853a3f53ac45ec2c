//! The serial-number step with a scripted backend: the offline check, the
//! backend's verdicts in the product's wording, and both Retry
//! branches.

mod support;

use installer::event::Event;
use installer::flow::Outcome;
use installer::power::PowerAction;
use installer::vendor::{Problem, SerialCheck};
use support::{slirp_lease, FakeNet, FakeVendor, Run, GOOD_SERIAL};
use vendor_repo::Serial;

fn dhcp() -> FakeNet {
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Ok(slirp_lease("eth0")));
    net
}

fn run(after_dhcp: &[&str], vendor: FakeVendor) -> Run {
    let mut input = vec!["d"];
    input.extend_from_slice(after_dhcp);
    Run::go_with(
        &input,
        dhcp(),
        vendor,
        support::options(installer::flow::AnswersInput::None, false),
    )
}

fn serial_events(r: &Run) -> Vec<String> {
    r.events
        .iter()
        .filter_map(|e| match e {
            Event::Serial { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

fn no_support() -> SerialCheck {
    SerialCheck::NoSupport {
        detail: "this serial number is for other-appliance, not example-appliance (stable)".into(),
    }
}

#[test]
fn a_verified_serial_continues_to_the_keyboard() {
    let r = run(&["s", GOOD_SERIAL, "", "", "y", ""], FakeVendor::default());
    assert_eq!(r.outcome, Outcome::Power(PowerAction::Reboot));
    assert_eq!(serial_events(&r), ["verified"]);
    assert!(r
        .term
        .out
        .contains("Type s and press Enter to enter the serial number"));
    assert!(r
        .term
        .out
        .contains("Serial number XXXX-XXXX-XXXX-HV5B verified."));
    // The number was typed at a secret prompt: the console shows stars.
    assert!(!r.term.out.contains(GOOD_SERIAL), "{}", r.term.out);
    assert!(r
        .term
        .out
        .contains(&format!("{}\n", "*".repeat(GOOD_SERIAL.len()))));
    assert!(r.term.out.contains("Release:   1.0.0 will be installed"));
    // The serial event carries only the last group.
    let masked = r.events.iter().find_map(|e| match e {
        Event::Serial { serial, .. } => Some(serial.clone()),
        _ => None,
    });
    assert_eq!(masked.as_deref(), Some("XXXX-XXXX-XXXX-HV5B"));
    let saved = installer::answers::parse(r.host.saved.as_deref().unwrap()).unwrap();
    // The collected answers (an answer file for the next run) keep it.
    assert_eq!(
        saved.serial.as_ref().map(installer::secret::Secret::expose),
        Some(GOOD_SERIAL)
    );
}

#[test]
fn typos_are_caught_offline_with_a_hint() {
    let yz = Serial::from_data(&[30, 1, 2, 31, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]).to_string();
    let swapped: String = yz
        .chars()
        .map(|c| match c {
            'Y' => 'Z',
            'Z' => 'Y',
            c => c,
        })
        .collect();
    let r = run(
        &[
            "x",
            "s",
            "7K3M-Q9TD-2XWB-HV5C",
            "7K3M-Q9TD",
            &swapped,
            GOOD_SERIAL,
            "",
            "",
            "p",
        ],
        FakeVendor::default(),
    );
    let inv = r.invalid();
    assert_eq!(inv[0].0, "serial.menu");
    assert_eq!(inv[1].0, "serial.number");
    assert!(
        inv[1].2.starts_with("this serial number contains a typo"),
        "{}",
        inv[1].2
    );
    assert!(inv[2].2.contains("this one has 8"), "{}", inv[2].2);
    assert!(
        inv[3]
            .2
            .contains("it is valid with the Y and Z at positions 1 and 4 swapped"),
        "{}",
        inv[3].2
    );
    // Neither the valid number nor what was typed is in the events.
    assert!(!inv[3].2.contains(&yz[5..]), "{}", inv[3].2);
    assert_eq!(inv[1].1, "*****************5C");
    assert_eq!(inv[2].1, "*********");
    assert_eq!(inv[3].1, format!("{}{}", "*".repeat(17), &swapped[17..]));
    assert_eq!(r.vendor.asked, [GOOD_SERIAL], "only the valid one was sent");
}

#[test]
fn unknown_serial_goes_back_to_the_number() {
    let unknown = Serial::from_data(&[3; 15]).to_string();
    let r = run(
        &["s", &unknown, GOOD_SERIAL, "", "", "p"],
        FakeVendor::default(),
    );
    assert_eq!(serial_events(&r), ["unknown", "verified"]);
    assert!(r.term.out.contains("does not know this serial number"));
    assert_eq!(
        r.prompts()[..5],
        [
            "menu",
            "serial.menu",
            "serial.number",
            "serial.number",
            "serial.continue"
        ]
    );
}

#[test]
fn no_support_shows_the_seed_message_and_both_retry_branches() {
    let vendor = FakeVendor {
        verdicts: [no_support(), no_support()].into(),
        ..FakeVendor::default()
    };
    // y: asked again (same serial, refused again); n: back to the number.
    let r = run(
        &["s", GOOD_SERIAL, "y", "n", GOOD_SERIAL, "", "", "p"],
        vendor,
    );
    assert_eq!(serial_events(&r), ["no-support", "no-support", "verified"]);
    assert_eq!(
        r.term
            .out
            .matches("  ! Backend has no support for this Appliance\n")
            .count(),
        2
    );
    assert_eq!(r.term.out.matches("Retry? [y/n]: ").count(), 2);
    assert_eq!(
        r.prompts()[1..7],
        [
            "serial.menu",
            "serial.number",
            "serial.retry",
            "serial.retry",
            "serial.number",
            "serial.continue"
        ]
    );
    assert_eq!(r.vendor.asked.len(), 3);
}

#[test]
fn backend_down_offers_retry_with_the_cause() {
    let down = SerialCheck::Problem(Problem {
        kind: "unreachable",
        detail: "cannot connect to https://10.0.2.2:18443/: connection refused".into(),
        hint: "check that the backend runs and no firewall blocks port 18443".into(),
    });
    let vendor = FakeVendor {
        verdicts: [down].into(),
        ..FakeVendor::default()
    };
    let r = run(&["s", GOOD_SERIAL, "y", "", "", "p"], vendor);
    assert_eq!(serial_events(&r), ["unreachable", "verified"]);
    assert!(r.term.out.contains("connection refused"));
    assert!(r.term.out.contains("no firewall blocks port 18443"));
}

#[test]
fn the_screen_reaches_keyboard_network_menu_and_exit() {
    let r = run(
        &["k", "2", "s", "", "m", "e", "y", "p"],
        FakeVendor::default(),
    );
    assert_eq!(
        r.prompts(),
        [
            "menu",
            "serial.menu",
            "keyboard.layout",
            "serial.menu",
            "serial.number",
            "serial.menu",
            "menu",
            "exit.confirm",
            "exit.action"
        ]
    );
    assert_eq!(r.keyboard.applied, ["de"]);
    assert!(r.vendor.asked.is_empty());
}

#[test]
fn an_answer_file_serial_that_fails_falls_back_to_the_screen() {
    let json = r#"{"version": 1, "network": {"mode": "dhcp"}, "serial": "7K3M-Q9TD-2XWB-HV5B"}"#;
    let vendor = FakeVendor {
        verdicts: [no_support()].into(),
        ..FakeVendor::default()
    };
    let r = Run::go_with(
        &["s", GOOD_SERIAL, "", "", "p"],
        dhcp(),
        vendor,
        support::options(
            installer::flow::AnswersInput::Loaded(installer::answers::Loaded {
                source: "test".into(),
                origin: installer::answers::Origin::Embedded,
                file: installer::answers::parse(json).unwrap(),
            }),
            false,
        ),
    );
    assert_eq!(serial_events(&r), ["no-support", "verified"]);
}
