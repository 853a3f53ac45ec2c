//! Driving the installer through its prompts: wait for a `prompt` event with
//! a given id, type the answer on the serial console, and check the events
//! that follow. Events are `protocol::Event` values; scripts match on them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use protocol::Event;

use super::child::{last_lines, Vm};
use super::events;

/// A running VM plus a cursor over its event stream.
pub struct Session {
    pub vm: Vm,
    events_path: PathBuf,
    /// Events read so far, in order.
    pub seen: Vec<Event>,
    /// Index into `seen` of the first event not yet consumed by an `expect`.
    cursor: usize,
    /// When the `first-screen` event was first seen, as time since QEMU started.
    pub first_screen_at: Option<Duration>,
}

/// How long the installer may take between two steps (TCG; DHCP and the
/// network doctor have their own bounded timeouts inside).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(180);

/// Waits for the next event matching a pattern and evaluates to what the
/// arm makes of it: `expect_event!(s, STEP_TIMEOUT, Event::Power { action } => *action)`.
/// See [`Session::expect`].
#[macro_export]
macro_rules! expect_event {
    ($session:expr, $timeout:expr, $pat:pat => $out:expr) => {
        $session.expect(stringify!($pat), $timeout, |e| match e {
            $pat => Some($out),
            #[allow(unreachable_patterns)]
            _ => None,
        })
    };
}

impl Session {
    pub fn new(vm: Vm, events_path: PathBuf) -> Session {
        Session {
            vm,
            events_path,
            seen: Vec::new(),
            cursor: 0,
            first_screen_at: None,
        }
    }

    fn refresh(&mut self) -> Result<()> {
        self.seen = events::read(&self.events_path)?;
        if self.first_screen_at.is_none() && self.seen.contains(&Event::FirstScreen) {
            self.first_screen_at = Some(self.vm.elapsed());
        }
        Ok(())
    }

    /// Waits for the next event `pick` takes (returns `Some` for) and returns
    /// what it made of it. Events in between are skipped, except that a
    /// `prompt` `pick` does not take is an error: the installer waits for
    /// input the script did not plan for. `what` names the event in errors.
    pub fn expect<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            self.refresh()?;
            while self.cursor < self.seen.len() {
                let i = self.cursor;
                self.cursor += 1;
                if let Some(t) = pick(&self.seen[i]) {
                    return Ok(t);
                }
                if let Event::Prompt { id } = &self.seen[i] {
                    bail!(
                        "waiting for {what}, the installer asks for {id:?} instead; {}",
                        self.context()
                    );
                }
            }
            self.vm.check_running()?;
            if Instant::now() >= deadline {
                bail!("no {what} event within {timeout:?}; {}", self.context());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the `first-screen` event.
    pub fn expect_first_screen(&mut self, timeout: Duration) -> Result<()> {
        expect_event!(self, timeout, Event::FirstScreen => ())
    }

    /// Waits for the next prompt and returns its id.
    pub fn next_prompt(&mut self) -> Result<String> {
        expect_event!(self, STEP_TIMEOUT, Event::Prompt { id } => id.clone())
    }

    /// Types `input` and Enter (after a prompt was seen).
    pub fn type_line(&mut self, input: &str) -> Result<()> {
        // Let the prompt text reach the terminal before typing, like a person.
        std::thread::sleep(Duration::from_millis(200));
        self.vm.send(format!("{input}\r").as_bytes())
    }

    /// Waits for the prompt `id` (one of `protocol::ids`), then types
    /// `input` and Enter.
    pub fn answer(&mut self, id: &str, input: &str) -> Result<()> {
        let got = self.next_prompt()?;
        if got != id {
            bail!(
                "expected prompt {id:?}, the installer asks for {got:?}; {}",
                self.context()
            );
        }
        self.type_line(input)
    }

    /// Waits for the next `invalid` event; returns its id and message.
    pub fn expect_invalid(&mut self) -> Result<(String, String)> {
        expect_event!(self, STEP_TIMEOUT, Event::Invalid { id, message, .. } => (id.clone(), message.clone()))
    }

    /// Types `input` at prompt `id` and expects it to be refused with `message`.
    pub fn refused(&mut self, id: &str, input: &str, message: &str) -> Result<()> {
        self.answer(id, input)?;
        let (got_id, got) = self.expect_invalid()?;
        if got_id != id || got != message {
            bail!("typed {input:?} at {id}: want invalid {message:?}, got {got:?} at {got_id}");
        }
        Ok(())
    }

    /// True when an event `which` accepts arrived at any time.
    pub fn saw(&mut self, which: impl Fn(&Event) -> bool) -> Result<bool> {
        self.refresh()?;
        Ok(self.seen.iter().any(which))
    }

    /// Waits for QEMU to exit cleanly (power off or reboot with -no-reboot).
    pub fn expect_exit(&mut self) -> Result<()> {
        let status = self.vm.wait_exit(STEP_TIMEOUT)?;
        if !status.success() {
            bail!("QEMU exited with {status}");
        }
        Ok(())
    }

    /// Event names seen and the serial tail, for error messages.
    pub fn context(&self) -> String {
        format!(
            "events: [{}]\nserial tail:\n{}",
            events::names(&self.seen),
            last_lines(&self.vm.text(), 25)
        )
    }
}

/// Fails with the session context when `cond` is false.
pub fn check(s: &Session, cond: bool, what: &str) -> Result<()> {
    if !cond {
        bail!("{what}; {}", s.context());
    }
    Ok(())
}
