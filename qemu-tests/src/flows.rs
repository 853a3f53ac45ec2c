//! Installer-flow scenarios: the main menu (M)anual / (D)HCP / (E)xit, DHCP
//! and manual networking on the NICs of VMware and Hyper-V Gen1, the keyboard
//! choice, bad input, and unattended installs from answer files.

use anyhow::Result;

use crate::qemu::{Firmware, Medium, Network, Nic};
use crate::scenario::{IsoVariant, Scenario, Script};
use crate::session::{check, Session, STEP_TIMEOUT};
use crate::vendor;

/// E at the main menu, confirm, power off; QEMU must exit.
pub fn exit_via_menu(s: &mut Session) -> Result<()> {
    s.answer("menu", "e")?;
    s.answer("exit.confirm", "y")?;
    s.answer("exit.action", "p")?;
    let p = s.expect_event("power", STEP_TIMEOUT)?;
    check(s, p["action"] == "poweroff", "power event is not poweroff")?;
    s.expect_exit()
}

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
pub fn all() -> Vec<Scenario> {
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
        s.direct = Some("installer.answers={http}/answers.json installer.unattended");
        s.http_files = &[("/answers.json", "unattended-manual.json")];
    });
    set(&mut v, "flow-answers-malformed", &|s| {
        s.direct = Some("installer.answers={http}/bad.json");
        s.http_files = &[("/bad.json", "malformed.json")];
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
    v.extend(crate::serials::all());
    v
}

fn exit_cancel_then_confirm(s: &mut Session) -> Result<()> {
    s.answer("menu", "e")?;
    s.answer("exit.confirm", "n")?;
    exit_via_menu(s)
}

/// Checks the `network` event against QEMU user networking's DHCP lease.
fn check_slirp_network(s: &mut Session, source: &str) -> Result<()> {
    let n = s.expect_event("network", STEP_TIMEOUT)?;
    let c = &n["config"];
    check(
        s,
        c["source"]["kind"] == source,
        &format!("network source is not {source}: {n}"),
    )?;
    check(
        s,
        c["address"]["addr"] == "10.0.2.15" && c["address"]["prefix"] == 24,
        &format!("address: {n}"),
    )?;
    check(s, c["gateway"] == "10.0.2.2", &format!("gateway: {n}"))?;
    check(s, c["dns"][0] == "10.0.2.3", &format!("dns: {n}"))?;
    let d = s.expect_event("doctor", STEP_TIMEOUT)?;
    let gw = d["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "gateway"))
        .cloned();
    check(
        s,
        gw.as_ref().is_some_and(|g| g["ok"] == true),
        &format!("the gateway check did not pass: {d}"),
    )?;
    Ok(())
}

/// The serial step with the entitled test serial: verified by the backend.
pub fn serial_verified(s: &mut Session) -> Result<()> {
    s.answer("serial.menu", "s")?;
    s.answer("serial.number", &vendor::entitled().to_string())?;
    let e = s.expect_event("serial", STEP_TIMEOUT)?;
    check(s, e["outcome"] == "verified", &format!("serial: {e}"))?;
    s.answer("serial.continue", "")
}

/// The serial step where the backend cannot be reached (an isolated
/// network): the cause, Retry n, back to the number, Enter, exit.
fn serial_unreachable_then_exit(s: &mut Session) -> Result<()> {
    s.answer("serial.menu", "s")?;
    s.answer("serial.number", &vendor::entitled().to_string())?;
    let e = s.expect_event("serial", STEP_TIMEOUT)?;
    check(s, e["outcome"] == "unreachable", &format!("serial: {e}"))?;
    s.answer("serial.retry", "n")?;
    s.answer("serial.number", "")?;
    s.answer("serial.menu", "e")?;
    s.answer("exit.confirm", "y")?;
    s.answer("exit.action", "p")?;
    s.expect_event("power", STEP_TIMEOUT)?;
    s.expect_exit()
}

fn keyboard_and_finish(s: &mut Session) -> Result<()> {
    serial_verified(s)?;
    s.answer("keyboard.layout", "de")?;
    let k = s.expect_event("keyboard", STEP_TIMEOUT)?;
    check(s, k["layout"] == "de", &format!("keyboard event: {k}"))?;
    no_disk_then_power_off(s)
}

/// These VMs have no disk besides the ISO: the install step lists the CD
/// drive as not offered and stops; power off from the stop screen.
pub fn no_disk_then_power_off(s: &mut Session) -> Result<()> {
    let d = s.expect_event("disks", STEP_TIMEOUT)?;
    let medium_refused = d["disks"].as_array().is_some_and(|a| {
        a.iter()
            .any(|x| x["refusal"] == "it holds the installation medium")
    });
    check(
        s,
        medium_refused,
        &format!("the install medium must not be offered: {d}"),
    )?;
    s.answer("stop.action", "p")?;
    s.expect_event("power", STEP_TIMEOUT)?;
    s.expect_exit()
}

/// Only the stop screen (no disk to install on) asked for input.
fn only_the_stop_screen_prompted(s: &mut Session) -> Result<()> {
    let others: Vec<String> = s
        .seen
        .iter()
        .filter(|e| e["event"] == "prompt" && e["id"] != "stop.action")
        .map(|e| e["id"].to_string())
        .collect();
    check(
        s,
        others.is_empty(),
        &format!("an unattended run asked for input: {others:?}"),
    )
}

fn dhcp_then_keyboard(s: &mut Session) -> Result<()> {
    s.answer("menu", "d")?;
    check_slirp_network(s, "dhcp")?;
    keyboard_and_finish(s)
}

fn type_manual(s: &mut Session) -> Result<()> {
    s.answer("manual.address", "10.0.2.15/24")?;
    s.answer("manual.gateway", "10.0.2.2")?;
    s.answer("manual.dns", "10.0.2.3")?;
    s.answer("manual.hostname", "appliance")?;
    s.answer("manual.domain", "example.test")?;
    s.answer("manual.search", "")?;
    s.answer("manual.confirm", "y")
}

fn manual_slirp(s: &mut Session) -> Result<()> {
    s.answer("menu", "m")?;
    type_manual(s)?;
    check_slirp_network(s, "manual")?;
    keyboard_and_finish(s)
}

fn no_dhcp_then_manual(s: &mut Session) -> Result<()> {
    s.answer("menu", "d")?;
    let f = s.expect_event("dhcp-failed", STEP_TIMEOUT)?;
    check(
        s,
        f["interface"] == "eth0",
        &format!("dhcp-failed names no interface: {f}"),
    )?;
    s.answer("menu", "m")?;
    type_manual(s)?;
    let n = s.expect_event("network", STEP_TIMEOUT)?;
    check(
        s,
        n["config"]["source"]["kind"] == "manual",
        &format!("network: {n}"),
    )?;
    let d = s.expect_event("doctor", STEP_TIMEOUT)?;
    let gw = d["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "gateway"))
        .cloned();
    check(
        s,
        gw.as_ref().is_some_and(|g| g["ok"] == false),
        &format!("nobody is on this network, yet the gateway check passed: {d}"),
    )?;
    serial_unreachable_then_exit(s)
}

/// The bad-input corpus shared with the installer's unit tests: every entry
/// is typed over the serial console and must be refused with its exact message.
const BAD_INPUTS: &str = include_str!("../../installer/tests/bad_inputs.json");

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
            ("manual.address", "{}", "192.0.2.10"),
            (
                "manual.netmask",
                r#"{"address":"192.0.2.10"}"#,
                "255.255.255.0",
            ),
            ("manual.gateway", ADDR24, "192.0.2.1"),
            ("manual.dns", ADDR24_GW, "192.0.2.53"),
            ("manual.hostname", ADDR24_GW_DNS, "appliance"),
            ("manual.domain", ADDR24_GW_DNS_HOST, "example.com"),
            ("manual.search", ADDR24_ALL, ""),
        ],
        confirm: "n",
    },
    Round {
        steps: &[
            ("manual.address", "-", "192.0.2.0"),
            (
                "manual.netmask",
                r#"{"address":"192.0.2.0"}"#,
                "255.255.0.0",
            ),
        ],
        confirm: "n",
    },
    Round {
        steps: &[
            ("manual.address", "-", "192.0.2.127"),
            (
                "manual.netmask",
                r#"{"address":"192.0.2.127"}"#,
                "255.255.0.0",
            ),
        ],
        confirm: "n",
    },
    Round {
        steps: &[
            ("manual.address", "-", "10.0.0.5/30"),
            ("manual.gateway", r#"{"address":"10.0.0.5/30"}"#, "10.0.0.6"),
        ],
        confirm: "y",
    },
];

fn bad_inputs(s: &mut Session) -> Result<()> {
    let corpus: Vec<serde_json::Value> = serde_json::from_str(BAD_INPUTS)?;
    let mut typed = vec![false; corpus.len()];
    s.answer("menu", "m")?;
    for round in ROUNDS {
        loop {
            let id = s.next_prompt()?;
            if id == "manual.confirm" {
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
            for (i, e) in corpus.iter().enumerate() {
                if e["id"] != id.as_str() || ctx.as_ref() != Some(&e["context"]) {
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
                let input = e["input"].as_str().unwrap_or_default();
                s.type_line(input)?;
                let inv = s.expect_event("invalid", STEP_TIMEOUT)?;
                check(
                    s,
                    inv["id"] == id.as_str() && inv["message"] == e["message"],
                    &format!("typed {input:?} at {id}: want {}, got {inv}", e["message"]),
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
        .map(|(e, _)| format!("{} {} {:?}", e["id"], e["context"], e["input"]))
        .collect();
    check(
        s,
        missed.is_empty(),
        &format!("corpus entries no round reached: {missed:?}"),
    )?;
    let n = s.expect_event("network", STEP_TIMEOUT)?;
    check(
        s,
        n["config"]["address"]["addr"] == "10.0.0.5",
        &format!("network: {n}"),
    )?;
    s.expect_event("doctor", STEP_TIMEOUT)?;
    serial_unreachable_then_exit(s)
}

/// Answers embedded in the ISO: DHCP, keyboard `de`, power off — no prompt.
fn unattended_iso(s: &mut Session) -> Result<()> {
    let a = s.expect_event("answers", STEP_TIMEOUT)?;
    check(
        s,
        a["source"]
            .as_str()
            .is_some_and(|x| x.contains("/etc/installer/answers.json")),
        &format!("answers: {a}"),
    )?;
    check_slirp_network(s, "dhcp")?;
    let e = s.expect_event("serial", STEP_TIMEOUT)?;
    check(s, e["outcome"] == "verified", &format!("serial: {e}"))?;
    let k = s.expect_event("keyboard", STEP_TIMEOUT)?;
    check(s, k["layout"] == "de", &format!("keyboard: {k}"))?;
    no_disk_then_power_off(s)?;
    only_the_stop_screen_prompted(s)
}

/// Answers fetched over HTTP (`installer.answers=` on the kernel command line):
/// manual network with the file's hostname, keyboard `fr-ch`, power off.
fn unattended_http(s: &mut Session) -> Result<()> {
    let a = s.expect_event("answers", STEP_TIMEOUT)?;
    check(
        s,
        a["source"]
            .as_str()
            .is_some_and(|x| x.contains("installer.answers=http://10.0.2.2:")),
        &format!("answers: {a}"),
    )?;
    let n = loop {
        let n = s.expect_event("network", STEP_TIMEOUT)?;
        if n["config"]["source"]["kind"] == "manual" {
            break n;
        }
    };
    check(
        s,
        n["config"]["hostname"] == "appliance-7",
        &format!("network: {n}"),
    )?;
    let e = s.expect_event("serial", STEP_TIMEOUT)?;
    check(s, e["outcome"] == "verified", &format!("serial: {e}"))?;
    let k = s.expect_event("keyboard", STEP_TIMEOUT)?;
    check(s, k["layout"] == "fr-ch", &format!("keyboard: {k}"))?;
    no_disk_then_power_off(s)?;
    only_the_stop_screen_prompted(s)
}

/// A misspelt key: the run stops naming the key path, before the answers
/// configure anything, and offers reboot / power off / shell.
fn answers_malformed(s: &mut Session) -> Result<()> {
    let e = s.expect_event("answers-error", STEP_TIMEOUT)?;
    check(
        s,
        e["key"].as_str().is_some_and(|k| k.contains("adress")),
        &format!("answers-error: {e}"),
    )?;
    s.answer("stop.action", "p")?;
    s.expect_event("power", STEP_TIMEOUT)?;
    s.expect_exit()?;
    let configured_from_answers = s
        .seen
        .iter()
        .any(|e| e["event"] == "network" && e["config"]["source"]["kind"] == "manual");
    check(
        s,
        !configured_from_answers,
        "the malformed answers configured the network",
    )?;
    let keyboard = s.saw("keyboard")?;
    check(s, !keyboard, "the malformed answers set the keyboard")
}

/// (S) at the main menu: busybox's shell on the installer's console; `exit`
/// returns to the menu.
fn rescue_shell(s: &mut Session) -> Result<()> {
    s.answer("menu", "s")?;
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
    s.answer("menu", "e")?;
    s.answer("exit.confirm", "y")?;
    s.answer("exit.action", "p")?;
    s.expect_event("power", STEP_TIMEOUT)?;
    s.expect_exit()
}
