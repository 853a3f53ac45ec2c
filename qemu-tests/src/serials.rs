//! Serial-number scenarios against the test backend (nginx over HTTPS with
//! the test CA, reached as 10.0.2.2): every verdict the installer names, with its
//! message, and both Retry branches.

use anyhow::Result;

use crate::qemu::{Firmware, Medium, Network, Nic};
use crate::scenario::{Scenario, Script};
use crate::session::{check, Session, STEP_TIMEOUT};
use crate::vendor;
use vendor_repo::serial::SerialError;

/// The installer's words for a serial the backend does not support.
pub const NO_SUPPORT: &str = "Backend has no support for this Appliance";

fn scenario(name: &str, script: fn(&mut Session) -> Result<()>) -> Scenario {
    let mut s = Scenario::boot(name.to_string(), Firmware::Bios, Medium::Cd);
    s.nic = Some(Nic {
        model: "e1000".into(),
        network: Network::User,
    });
    s.script = Script::Flow(script);
    s
}

/// The serial scenarios.
pub fn all() -> Vec<Scenario> {
    let mut outcomes = scenario("flow-serial-outcomes", outcomes);
    outcomes.representative = true;
    let mut down = scenario("flow-serial-backend-down", backend_down);
    // Nothing listens on 18444: the installer's backend URL is replaced
    // (keys and CA stay pinned) so the connection is refused.
    down.direct = Some("installer.backend=https://10.0.2.2:18444/");
    down.representative = true;
    vec![outcomes, down]
}

fn serial_event(s: &mut Session, outcome: &str) -> Result<serde_json::Value> {
    let e = s.expect_event("serial", STEP_TIMEOUT)?;
    check(
        s,
        e["outcome"] == outcome,
        &format!("want serial outcome {outcome}, got {e}"),
    )?;
    Ok(e)
}

/// Mistyped (offline check) → unknown → another model's serial ("Backend
/// has no support for this Appliance", Retry y then n) → an ended
/// entitlement → the entitled serial, verified; then on to the keyboard.
fn outcomes(s: &mut Session) -> Result<()> {
    s.answer("menu", "d")?;
    s.expect_event("doctor", STEP_TIMEOUT)?;
    s.answer("serial.menu", "s")?;
    s.refused(
        "serial.number",
        &vendor::mistyped(),
        &SerialError::Check.to_string(),
    )?;

    s.answer("serial.number", &vendor::unknown().to_string())?;
    serial_event(s, "unknown")?;

    s.answer("serial.number", &vendor::other_model().to_string())?;
    let e = serial_event(s, "no-support")?;
    check(
        s,
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(NO_SUPPORT) && m.contains(vendor::OTHER_MODEL)),
        &format!("no-support message: {e}"),
    )?;
    s.vm.expect(NO_SUPPORT, STEP_TIMEOUT)?;
    s.vm.expect("Retry? [y/n]", STEP_TIMEOUT)?;
    // y: the backend is asked again and says the same.
    s.answer("serial.retry", "y")?;
    serial_event(s, "no-support")?;
    // n: back to correcting the serial.
    s.answer("serial.retry", "n")?;

    s.answer("serial.number", &vendor::ended().to_string())?;
    let e = serial_event(s, "ended")?;
    check(
        s,
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("2020-01-01")),
        &format!("ended message: {e}"),
    )?;
    s.answer("serial.retry", "n")?;

    s.answer("serial.number", &vendor::entitled().to_string())?;
    let e = serial_event(s, "verified")?;
    check(
        s,
        e["serial"] == format!("XXXX-XXXX-XXXX-{}", &vendor::entitled().to_string()[15..]),
        &format!("the event must carry the masked serial only: {e}"),
    )?;
    s.vm.expect("Release:   1.0.0 will be installed", STEP_TIMEOUT)?;
    s.answer("serial.continue", "")?;
    s.answer("keyboard.layout", "")?;
    crate::flows::no_disk_then_power_off(s)
}

/// Backend down: the cause with a hint, Retry y (asked again, same
/// answer), n, back to the screen, exit.
fn backend_down(s: &mut Session) -> Result<()> {
    s.answer("menu", "d")?;
    s.expect_event("doctor", STEP_TIMEOUT)?;
    s.answer("serial.menu", "s")?;
    s.answer("serial.number", &vendor::entitled().to_string())?;
    let e = serial_event(s, "unreachable")?;
    check(
        s,
        e["message"].as_str().is_some_and(|m| m.contains("18444")),
        &format!("the message must name the backend: {e}"),
    )?;
    s.answer("serial.retry", "y")?;
    serial_event(s, "unreachable")?;
    s.answer("serial.retry", "n")?;
    s.answer("serial.number", "")?;
    s.answer("serial.menu", "e")?;
    s.answer("exit.confirm", "y")?;
    s.answer("exit.action", "p")?;
    s.expect_event("power", STEP_TIMEOUT)?;
    s.expect_exit()
}
