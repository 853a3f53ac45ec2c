//! Installer-flow scenarios: the main menu (M)anual / (D)HCP / (E)xit, DHCP
//! and manual networking on the NICs of VMware and Hyper-V Gen1, the keyboard
//! choice, bad input, and unattended installs from answer files.

use anyhow::Result;
use protocol::{ids, Check, Event, NetConfig, NetSource};

use crate::expect_event;
use crate::harness::qemu::{Firmware, Medium, Network, Nic};
use crate::harness::session::{check, Session, STEP_TIMEOUT};
use crate::scenario::{IsoVariant, Scenario, Script};
use crate::steps::{
    exit_via_menu, no_disk_then_power_off, serial_event, serial_unreachable_then_exit,
    serial_verified, stop_and_power_off, type_manual,
};

fn nic(model: &str, network: Network) -> Option<Nic> {
    Some(Nic {
        model: model.to_string(),
        network,
    })
}

fn flow(
    name: &str,
    model: &str,
    network: Network,
    script: fn(&mut Session) -> Result<()>,
) -> Scenario {
    let mut s = Scenario::boot(name.to_string(), Firmware::Bios, Medium::Cd);
    s.nic = nic(model, network);
    s.script = Script::Flow(script);
    s
}

/// The flow scenarios.
pub fn scenarios() -> Vec<Scenario> {
    let mut v = vec![
        flow(
            "flow-exit",
            "e1000",
            Network::User,
            exit_cancel_then_confirm,
        ),
        flow(
            "flow-dhcp-e1000",
            "e1000",
            Network::User,
            dhcp_then_keyboard,
        ),
        flow(
            "flow-dhcp-tulip",
            "tulip",
            Network::User,
            dhcp_then_keyboard,
        ),
        flow("flow-manual-e1000", "e1000", Network::User, manual_slirp),
        flow("flow-manual-tulip", "tulip", Network::User, manual_slirp),
        flow(
            "flow-dhcp-vmxnet3",
            "vmxnet3",
            Network::User,
            dhcp_then_keyboard,
        ),
        flow(
            "flow-dhcp-virtio",
            "virtio-net-pci",
            Network::User,
            dhcp_then_keyboard,
        ),
        flow(
            "flow-no-dhcp-then-manual",
            "e1000",
            Network::Isolated,
            no_dhcp_then_manual,
        ),
        flow("flow-bad-inputs", "e1000", Network::Isolated, bad_inputs),
        flow(
            "flow-rescue-shell",
            "e1000",
            Network::Isolated,
            rescue_shell,
        ),
        flow(
            "flow-rescue-boot-entry",
            "e1000",
            Network::Isolated,
            rescue_shell_boot_entry,
        ),
        flow(
            "flow-unattended-iso",
            "e1000",
            Network::User,
            unattended_iso,
        ),
        flow(
            "flow-unattended-http",
            "e1000",
            Network::User,
            unattended_http,
        ),
        flow(
            "flow-answers-malformed",
            "e1000",
            Network::User,
            answers_malformed,
        ),
        flow(
            "flow-answers-unauthenticated",
            "e1000",
            Network::User,
            answers_unauthenticated,
        ),
    ];
    let set = |v: &mut Vec<Scenario>, name: &str, f: &dyn Fn(&mut Scenario)| {
        if let Some(s) = v.iter_mut().find(|s| s.name == name) {
            f(s);
        }
    };
    set(&mut v, "flow-unattended-iso", &|s| {
        s.iso = IsoVariant::Answers("unattended-dhcp.json")
    });
    set(&mut v, "flow-unattended-http", &|s| {
        s.direct = Some(
            "installer.answers={http}/answers.json installer.answers_sha256={sha256:/answers.json} installer.unattended",
        );
        s.http_files = &[("/answers.json", "unattended-manual.json")];
    });
    set(&mut v, "flow-answers-malformed", &|s| {
        s.direct =
            Some("installer.answers={http}/bad.json installer.answers_sha256={sha256:/bad.json}");
        s.http_files = &[("/bad.json", "malformed.json")];
    });
    // The same complete answers, unpinned over plain http: refused unfetched.
    set(&mut v, "flow-answers-unauthenticated", &|s| {
        s.direct = Some("installer.answers={http}/answers.json installer.unattended");
        s.http_files = &[("/answers.json", "unattended-manual.json")];
    });
    set(&mut v, "flow-rescue-boot-entry", &|s| {
        s.direct = Some("installer.mode=shell")
    });
    for s in &mut v {
        s.representative = matches!(
            s.name.as_str(),
            "flow-dhcp-e1000"
                | "flow-manual-tulip"
                | "flow-rescue-shell"
                | "flow-bad-inputs"
                | "flow-unattended-iso"
                | "flow-answers-malformed"
        );
    }
    v
}

fn exit_cancel_then_confirm(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "e")?;
    s.answer(ids::EXIT_CONFIRM, "n")?;
    exit_via_menu(s)
}

fn expect_network(s: &mut Session) -> Result<NetConfig> {
    expect_event!(s, STEP_TIMEOUT, Event::Network { config } => config.clone())
}

fn expect_doctor(s: &mut Session) -> Result<Vec<Check>> {
    expect_event!(s, STEP_TIMEOUT, Event::Doctor { checks } => checks.clone())
}

fn expect_keyboard(s: &mut Session) -> Result<String> {
    expect_event!(s, STEP_TIMEOUT, Event::Keyboard { layout, .. } => layout.clone())
}

fn expect_answers(s: &mut Session) -> Result<String> {
    expect_event!(s, STEP_TIMEOUT, Event::Answers { source } => source.clone())
}

/// Whether the doctor's gateway check passed (`None`: no such check).
fn gateway_ok(checks: &[Check]) -> Option<bool> {
    checks.iter().find(|c| c.name == "gateway").map(|c| c.ok)
}

/// Checks the `network` event against QEMU user networking's DHCP lease;
/// `manual` says which source it must name.
fn check_slirp_network(s: &mut Session, manual: bool) -> Result<()> {
    let c = expect_network(s)?;
    check(
        s,
        matches!(c.source, NetSource::Manual) == manual,
        &format!(
            "network source is not {}: {c:?}",
            if manual { "manual" } else { "dhcp" }
        ),
    )?;
    check(
        s,
        c.address.addr.to_string() == "10.0.2.15" && c.address.prefix == 24,
        &format!("address: {c:?}"),
    )?;
    check(
        s,
        c.gateway.map(|g| g.to_string()).as_deref() == Some("10.0.2.2"),
        &format!("gateway: {c:?}"),
    )?;
    check(
        s,
        c.dns.first().map(|d| d.to_string()).as_deref() == Some("10.0.2.3"),
        &format!("dns: {c:?}"),
    )?;
    let checks = expect_doctor(s)?;
    check(
        s,
        gateway_ok(&checks) == Some(true),
        &format!("the gateway check did not pass: {checks:?}"),
    )?;
    Ok(())
}

fn keyboard_and_finish(s: &mut Session) -> Result<()> {
    serial_verified(s)?;
    s.answer(ids::KEYBOARD_LAYOUT, "de")?;
    let layout = expect_keyboard(s)?;
    check(s, layout == "de", &format!("keyboard event: {layout}"))?;
    no_disk_then_power_off(s)
}

/// Only the stop screen (no disk to install on) asked for input.
fn only_the_stop_screen_prompted(s: &mut Session) -> Result<()> {
    let others: Vec<&str> = s
        .seen
        .iter()
        .filter_map(|e| match e {
            Event::Prompt { id } if id != ids::STOP_ACTION => Some(id.as_str()),
            _ => None,
        })
        .collect();
    check(
        s,
        others.is_empty(),
        &format!("an unattended run asked for input: {others:?}"),
    )
}

fn dhcp_then_keyboard(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "d")?;
    check_slirp_network(s, false)?;
    keyboard_and_finish(s)
}

fn manual_slirp(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "m")?;
    type_manual(s)?;
    check_slirp_network(s, true)?;
    keyboard_and_finish(s)
}

fn no_dhcp_then_manual(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "d")?;
    let interface =
        expect_event!(s, STEP_TIMEOUT, Event::DhcpFailed { interface, .. } => interface.clone())?;
    check(
        s,
        interface == "eth0",
        &format!("dhcp-failed names no interface: {interface:?}"),
    )?;
    s.answer(ids::MENU, "m")?;
    type_manual(s)?;
    let c = expect_network(s)?;
    check(s, c.source == NetSource::Manual, &format!("network: {c:?}"))?;
    let checks = expect_doctor(s)?;
    check(
        s,
        gateway_ok(&checks) == Some(false),
        &format!("nobody is on this network, yet the gateway check passed: {checks:?}"),
    )?;
    serial_unreachable_then_exit(s)
}

/// The bad-input corpus shared with the installer's unit tests: every entry
/// is typed over the serial console and must be refused with its exact message.
const BAD_INPUTS: &str = include_str!("../../../installer/tests/bad_inputs.json");

/// One round through the manual screens: for each prompt, the context under
/// which corpus entries are typed there, and the value typed afterwards
/// (empty = keep the default offered from the previous round).
struct Round {
    steps: &'static [(&'static str, &'static str, &'static str)],
    confirm: &'static str,
}

const ADDR24: &str = r#"{"address":"192.0.2.10/24"}"#;
const ADDR24_GW: &str = r#"{"address":"192.0.2.10/24","gateway":"192.0.2.1"}"#;
const ADDR24_GW_DNS: &str =
    r#"{"address":"192.0.2.10/24","gateway":"192.0.2.1","dns":"192.0.2.53"}"#;
const ADDR24_GW_DNS_HOST: &str = r#"{"address":"192.0.2.10/24","gateway":"192.0.2.1","dns":"192.0.2.53","hostname":"appliance"}"#;
const ADDR24_ALL: &str = r#"{"address":"192.0.2.10/24","gateway":"192.0.2.1","dns":"192.0.2.53","hostname":"appliance","domain":"example.com"}"#;

const ROUNDS: &[Round] = &[
    // First round: nothing entered yet, so empty input is refused as missing.
    Round {
        steps: &[
            (ids::MANUAL_ADDRESS, "{}", "192.0.2.10"),
            (
                ids::MANUAL_NETMASK,
                r#"{"address":"192.0.2.10"}"#,
                "255.255.255.0",
            ),
            (ids::MANUAL_GATEWAY, ADDR24, "192.0.2.1"),
            (ids::MANUAL_DNS, ADDR24_GW, "192.0.2.53"),
            (ids::MANUAL_HOSTNAME, ADDR24_GW_DNS, "appliance"),
            (ids::MANUAL_DOMAIN, ADDR24_GW_DNS_HOST, "example.com"),
            (ids::MANUAL_SEARCH, ADDR24_ALL, ""),
        ],
        confirm: "n",
    },
    Round {
        steps: &[
            (ids::MANUAL_ADDRESS, "-", "192.0.2.0"),
            (
                ids::MANUAL_NETMASK,
                r#"{"address":"192.0.2.0"}"#,
                "255.255.0.0",
            ),
        ],
        confirm: "n",
    },
    Round {
        steps: &[
            (ids::MANUAL_ADDRESS, "-", "192.0.2.127"),
            (
                ids::MANUAL_NETMASK,
                r#"{"address":"192.0.2.127"}"#,
                "255.255.0.0",
            ),
        ],
        confirm: "n",
    },
    Round {
        steps: &[
            (ids::MANUAL_ADDRESS, "-", "10.0.0.5/30"),
            (
                ids::MANUAL_GATEWAY,
                r#"{"address":"10.0.0.5/30"}"#,
                "10.0.0.6",
            ),
        ],
        confirm: "y",
    },
];

fn bad_inputs(s: &mut Session) -> Result<()> {
    let corpus: Vec<serde_json::Value> = serde_json::from_str(BAD_INPUTS)?;
    let mut typed = vec![false; corpus.len()];
    s.answer(ids::MENU, "m")?;
    for round in ROUNDS {
        loop {
            let id = s.next_prompt()?;
            if id == ids::MANUAL_CONFIRM {
                s.type_line(round.confirm)?;
                break;
            }
            let step = round.steps.iter().find(|(p, _, _)| *p == id);
            let (ctx, value) = match step {
                Some((_, ctx, value)) => (*ctx, *value),
                None => ("-", ""),
            };
            let ctx: Option<serde_json::Value> = serde_json::from_str(ctx).ok();
            let mut first = true;
            // Corpus entries (installer/tests/bad_inputs.json), not events.
            for (i, entry) in corpus.iter().enumerate() {
                if entry["id"] != id.as_str() || ctx.as_ref() != Some(&entry["context"]) {
                    continue;
                }
                if !first {
                    let again = s.next_prompt()?;
                    check(
                        s,
                        again == id,
                        &format!("after an invalid {id}, the installer asks for {again}"),
                    )?;
                }
                first = false;
                let input = entry["input"].as_str().unwrap_or_default();
                s.type_line(input)?;
                let (inv_id, message) = s.expect_invalid()?;
                check(
                    s,
                    inv_id == id && entry["message"] == message.as_str(),
                    &format!(
                        "typed {input:?} at {id}: want {}, got {message:?} at {inv_id}",
                        entry["message"]
                    ),
                )?;
                typed[i] = true;
            }
            if !first {
                let again = s.next_prompt()?;
                check(
                    s,
                    again == id,
                    &format!("after an invalid {id}, the installer asks for {again}"),
                )?;
            }
            s.type_line(value)?;
        }
    }
    let missed: Vec<String> = corpus
        .iter()
        .zip(&typed)
        .filter(|(_, t)| !**t)
        .map(|(entry, _)| format!("{} {} {:?}", entry["id"], entry["context"], entry["input"]))
        .collect();
    check(
        s,
        missed.is_empty(),
        &format!("corpus entries no round reached: {missed:?}"),
    )?;
    let c = expect_network(s)?;
    check(
        s,
        c.address.addr.to_string() == "10.0.0.5",
        &format!("network: {c:?}"),
    )?;
    expect_doctor(s)?;
    serial_unreachable_then_exit(s)
}

/// Answers embedded in the ISO: DHCP, keyboard `de`, power off — no prompt.
fn unattended_iso(s: &mut Session) -> Result<()> {
    let source = expect_answers(s)?;
    check(
        s,
        source.contains("/etc/installer/answers.json"),
        &format!("answers: {source}"),
    )?;
    check_slirp_network(s, false)?;
    let (outcome, _, message) = serial_event(s)?;
    check(
        s,
        outcome == "verified",
        &format!("serial: {outcome}: {message}"),
    )?;
    let layout = expect_keyboard(s)?;
    check(s, layout == "de", &format!("keyboard: {layout}"))?;
    no_disk_then_power_off(s)?;
    only_the_stop_screen_prompted(s)
}

/// Answers fetched over HTTP (`installer.answers=` on the kernel command line):
/// manual network with the file's hostname, keyboard `fr-ch`, power off.
fn unattended_http(s: &mut Session) -> Result<()> {
    let source = expect_answers(s)?;
    check(
        s,
        source.contains("installer.answers=http://10.0.2.2:"),
        &format!("answers: {source}"),
    )?;
    let c = loop {
        let c = expect_network(s)?;
        if c.source == NetSource::Manual {
            break c;
        }
    };
    check(s, c.hostname == "appliance-7", &format!("network: {c:?}"))?;
    let (outcome, _, message) = serial_event(s)?;
    check(
        s,
        outcome == "verified",
        &format!("serial: {outcome}: {message}"),
    )?;
    let layout = expect_keyboard(s)?;
    check(s, layout == "fr-ch", &format!("keyboard: {layout}"))?;
    no_disk_then_power_off(s)?;
    only_the_stop_screen_prompted(s)
}

/// A misspelt key: the run stops naming the key path, before the answers
/// configure anything, and offers reboot / power off / shell.
fn answers_malformed(s: &mut Session) -> Result<()> {
    let key = expect_event!(s, STEP_TIMEOUT, Event::AnswersError { key, .. } => key.clone())?;
    check(s, key.contains("adress"), &format!("answers-error: {key}"))?;
    stop_and_power_off(s)?;
    let configured_from_answers = s
        .seen
        .iter()
        .any(|e| matches!(e, Event::Network { config } if config.source == NetSource::Manual));
    check(
        s,
        !configured_from_answers,
        "the malformed answers configured the network",
    )?;
    let keyboard = s.saw(|e| matches!(e, Event::Keyboard { .. }))?;
    check(s, !keyboard, "the malformed answers set the keyboard")
}

/// Complete answers over plain http without `installer.answers_sha256=`:
/// refused before they are fetched, with the fix named; nothing is configured
/// from them and the run stops.
fn answers_unauthenticated(s: &mut Session) -> Result<()> {
    let (key, message) = expect_event!(s, STEP_TIMEOUT, Event::AnswersError { key, message } => (key.clone(), message.clone()))?;
    check(
        s,
        key == "installer.answers"
            && message.contains("is not authenticated")
            && message.contains("installer.answers_sha256="),
        &format!("answers-error: {key}: {message}"),
    )?;
    stop_and_power_off(s)?;
    let used = s.saw(|e| {
        matches!(
            e,
            Event::Answers { .. } | Event::Keyboard { .. } | Event::Install { .. }
        ) || matches!(e, Event::Network { config } if config.source == NetSource::Manual)
    })?;
    check(s, !used, "the unauthenticated answers were used")
}

/// (S) at the main menu: busybox's shell on the installer's console; `exit`
/// returns to the menu.
fn rescue_shell(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "s")?;
    shell_then_exit(s)
}

/// The boot entry "Rescue shell" (`installer.mode=shell`): the shell comes
/// first; `exit` continues to the installer's menu.
fn rescue_shell_boot_entry(s: &mut Session) -> Result<()> {
    shell_then_exit(s)
}

fn shell_then_exit(s: &mut Session) -> Result<()> {
    s.vm.expect("rescue#", STEP_TIMEOUT)?;
    // busybox ash asks the terminal for the cursor position (ESC [6n) and
    // waits for the answer a real terminal sends; answer it like one.
    std::thread::sleep(std::time::Duration::from_millis(500));
    s.vm.send(b"\x1b[24;1R")?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.vm.send(b"echo SHELL-$((6*7)); exit\r")?;
    s.vm.expect("SHELL-42", STEP_TIMEOUT)?;
    s.answer(ids::MENU, "e")?;
    s.answer(ids::EXIT_CONFIRM, "y")?;
    s.answer(ids::EXIT_ACTION, "p")?;
    expect_event!(s, STEP_TIMEOUT, Event::Power { .. } => ())?;
    s.expect_exit()
}
