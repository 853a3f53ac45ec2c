//! Installer-flow scenarios: the main menu (M)anual / (D)HCP / (E)xit, DHCP
//! and manual networking on the NICs of VMware and Hyper-V Gen1, the keyboard
//! choice, bad input, and unattended installs from answer files.

use anyhow::Result;

use crate::qemu::{Firmware, Medium, Network, Nic};
use crate::scenario::{Scenario, Script};
use crate::session::{check, Session, STEP_TIMEOUT};

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
            "flow-no-dhcp-then-manual",
            "e1000",
            Network::Isolated,
            no_dhcp_then_manual,
        ),
    ];
    v[1].representative = true;
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

fn keyboard_and_finish(s: &mut Session) -> Result<()> {
    s.answer("keyboard.layout", "de")?;
    let k = s.expect_event("keyboard", STEP_TIMEOUT)?;
    check(s, k["layout"] == "de", &format!("keyboard event: {k}"))?;
    s.expect_event("ready", STEP_TIMEOUT)?;
    s.answer("ready.action", "p")?;
    s.expect_event("power", STEP_TIMEOUT)?;
    s.expect_exit()
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
    keyboard_and_finish(s)
}
