//! The serial-number step (after the network, before the
//! keyboard layout): "s" and Enter, the number, the offline check, the
//! backend's verdict. Nothing on the disk is touched before it passed.

use super::{choice, ids, text, Flow, Halt, State, Step, Stop};
use crate::answers::KeyError;
use crate::event::Event;
use crate::vendor::{SerialCheck, Verified};
use vendor_repo::Serial;

/// Attempts an unattended run makes when the backend cannot be reached.
pub const UNATTENDED_ATTEMPTS: u32 = 3;
/// Seconds between unattended attempts (times the attempt number).
pub const UNATTENDED_PAUSE: u64 = 5;

/// The outcome names of the `serial` event (docs/events.md).
fn outcome(check: &SerialCheck) -> &'static str {
    match check {
        SerialCheck::Verified(_) => "verified",
        SerialCheck::Unknown => "unknown",
        SerialCheck::NoSupport { .. } => "no-support",
        SerialCheck::Ended { .. } => "ended",
        SerialCheck::Problem(p) => p.kind,
    }
}

impl Flow<'_> {
    /// The step: from the answers when they have a serial, else the screen.
    pub(super) fn serial_step(&mut self) -> Step<State> {
        if let Some(text) = self.answers.serial.clone().filter(|_| self.serial_fresh) {
            self.serial_fresh = false;
            crate::secret::register_serial(text.expose());
            // The answer file was checked at the start: this parses.
            if let Ok(serial) = Serial::parse(text.expose()) {
                if let Some(v) = self.answered_serial(&serial)? {
                    return self.accept(v, true);
                }
            }
        }
        if self.unattended {
            return Err(self.missing("serial"));
        }
        self.serial_screen()
    }

    /// Checks the answer file's serial; unattended, transient problems are
    /// retried and everything else stops the run naming the key.
    fn answered_serial(&mut self, serial: &Serial) -> Step<Option<Verified>> {
        let mut attempt = 1;
        loop {
            let check = self.check(serial);
            match check {
                SerialCheck::Verified(v) => return Ok(Some(v)),
                SerialCheck::Problem(p) if self.unattended && attempt < UNATTENDED_ATTEMPTS => {
                    self.show(&format!(
                        "  ! {}\n    Trying again in {} s (attempt {} of {UNATTENDED_ATTEMPTS}).\n",
                        p.detail,
                        UNATTENDED_PAUSE * u64::from(attempt),
                        attempt + 1
                    ));
                    self.p.vendor.pause(UNATTENDED_PAUSE * u64::from(attempt));
                    attempt += 1;
                }
                other if self.unattended => {
                    return Err(Halt::Stop(Stop::answers(
                        "the serial number from the answer file was not accepted",
                        vec![KeyError::new("serial", text::serial_verdict(&other))],
                        true,
                    )));
                }
                // Interactive: the screen shows the verdict and asks.
                _ => return Ok(None),
            }
        }
    }

    fn check(&mut self, serial: &Serial) -> SerialCheck {
        let url = crate::cmdline::mask_url(&self.p.vendor.backend_url());
        self.show(&format!(
            "Checking serial number {} with {url} ...\n",
            serial.masked()
        ));
        let check = self.p.vendor.check_serial(serial);
        self.emit(Event::Serial {
            outcome: outcome(&check).to_string(),
            serial: serial.masked(),
            message: text::serial_verdict(&check),
        });
        self.show(&text::serial_result(&check));
        check
    }

    fn serial_screen(&mut self) -> Step<State> {
        let product = self.p.vendor.product();
        loop {
            self.show(&text::serial_intro(&product));
            match self.ask(
                ids::SERIAL_MENU,
                text::SERIAL_MENU_PROMPT,
                choice::serial_menu,
            )? {
                choice::SerialMenu::Enter => {}
                choice::SerialMenu::Keyboard => {
                    self.choose_layout()?;
                    continue;
                }
                choice::SerialMenu::Network => return Ok(State::Menu),
                choice::SerialMenu::Exit => return Ok(State::Exit),
            }
            if let Some(v) = self.enter_and_check()? {
                return self.accept(v, false);
            }
        }
    }

    /// Reads serials until one verifies (`Some`) or an empty line (`None`).
    fn enter_and_check(&mut self) -> Step<Option<Verified>> {
        'entry: loop {
            let Some(serial) = self.ask_secret(ids::SERIAL_NUMBER, text::SERIAL_PROMPT, |s| {
                if s.is_empty() {
                    Ok(None)
                } else {
                    Serial::parse(s).map(Some).map_err(Into::into)
                }
            })?
            else {
                return Ok(None);
            };
            loop {
                match self.check(&serial) {
                    SerialCheck::Verified(v) => return Ok(Some(v)),
                    // Unknown: correct the number ("check it").
                    SerialCheck::Unknown => continue 'entry,
                    _ => {
                        // "Retry?" — y asks again, n goes back to
                        // correcting the serial.
                        if !self.ask(ids::SERIAL_RETRY, text::RETRY_PROMPT, choice::yes_no)? {
                            continue 'entry;
                        }
                    }
                }
            }
        }
    }

    /// Shows the verdict; "press Enter" only when the number was typed (a
    /// number from the answers needs nobody at the console).
    fn accept(&mut self, v: Verified, from_answers: bool) -> Step<State> {
        crate::secret::register_serial(&v.serial.to_string());
        self.show(&text::serial_verified(&self.p.vendor.product(), &v));
        if !self.unattended && !from_answers {
            self.ask(ids::SERIAL_CONTINUE, text::CONTINUE_PROMPT, |_| Ok(()))?;
        }
        self.serial = Some(v);
        Ok(State::KeyboardStep)
    }
}
