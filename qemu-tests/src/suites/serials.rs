//! Serial-number scenarios against the test backend (nginx over HTTPS with
//! the test CA, reached as 10.0.2.2): every verdict the installer names, with its
//! message, and both Retry branches.

use anyhow::Result;
use protocol::{ids, Event};
use vendor_repo::serial::SerialError;

use crate::expect_event;
use crate::harness::qemu::{Firmware, Medium, Network, Nic};
use crate::harness::session::{check, Session, STEP_TIMEOUT};
use crate::scenario::{Scenario, Script};
use crate::servers::vendor;
use crate::steps;

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
pub fn scenarios() -> Vec<Scenario> {
    let mut outcomes = scenario("flow-serial-outcomes", outcomes);
    outcomes.representative = true;
    let mut down = scenario("flow-serial-backend-down", backend_down);
    // Nothing listens on 18444: the installer's backend URL is replaced
    // (keys and CA stay pinned) so the connection is refused.
    down.direct = Some("installer.backend=https://10.0.2.2:18444/");
    down.representative = true;
    vec![outcomes, down]
}

/// The `serial` event's (serial, message); fails unless its outcome is `outcome`.
fn serial_event(s: &mut Session, outcome: &str) -> Result<(String, String)> {
    let (got, serial, message) = steps::serial_event(s)?;
    check(
        s,
        got == outcome,
        &format!("want serial outcome {outcome}, got {got}: {message}"),
    )?;
    Ok((serial, message))
}

/// Mistyped (offline check) → unknown → another model's serial ("Backend
/// has no support for this Appliance", Retry y then n) → an ended
/// entitlement → the entitled serial, verified; then on to the keyboard.
fn outcomes(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "d")?;
    expect_event!(s, STEP_TIMEOUT, Event::Doctor { .. } => ())?;
    s.answer(ids::SERIAL_MENU, "s")?;
    s.refused(
        ids::SERIAL_NUMBER,
        &vendor::mistyped(),
        &SerialError::Check.to_string(),
    )?;

    s.answer(ids::SERIAL_NUMBER, &vendor::unknown().to_string())?;
    serial_event(s, "unknown")?;

    s.answer(ids::SERIAL_NUMBER, &vendor::other_model().to_string())?;
    let (_, message) = serial_event(s, "no-support")?;
    check(
        s,
        message.starts_with(NO_SUPPORT) && message.contains(vendor::OTHER_MODEL),
        &format!("no-support message: {message}"),
    )?;
    s.vm.expect(NO_SUPPORT, STEP_TIMEOUT)?;
    s.vm.expect("Retry? [y/n]", STEP_TIMEOUT)?;
    // y: the backend is asked again and says the same.
    s.answer(ids::SERIAL_RETRY, "y")?;
    serial_event(s, "no-support")?;
    // n: back to correcting the serial.
    s.answer(ids::SERIAL_RETRY, "n")?;

    s.answer(ids::SERIAL_NUMBER, &vendor::ended().to_string())?;
    let (_, message) = serial_event(s, "ended")?;
    check(
        s,
        message.contains("2020-01-01"),
        &format!("ended message: {message}"),
    )?;
    s.answer(ids::SERIAL_RETRY, "n")?;

    s.answer(ids::SERIAL_NUMBER, &vendor::entitled().to_string())?;
    let (serial, _) = serial_event(s, "verified")?;
    check(
        s,
        serial == format!("XXXX-XXXX-XXXX-{}", &vendor::entitled().to_string()[15..]),
        &format!("the event must carry the masked serial only: {serial}"),
    )?;
    s.vm.expect("Release:   1.0.0 will be installed", STEP_TIMEOUT)?;
    s.answer(ids::SERIAL_CONTINUE, "")?;
    s.answer(ids::KEYBOARD_LAYOUT, "")?;
    steps::no_disk_then_power_off(s)
}

/// Backend down: the cause with a hint, Retry y (asked again, same
/// answer), n, back to the screen, exit.
fn backend_down(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "d")?;
    expect_event!(s, STEP_TIMEOUT, Event::Doctor { .. } => ())?;
    steps::serial_backend_down_then_exit(s)
}
