//! Driving the installer through its prompts: wait for a `prompt` event with
//! a given id, type the answer on the serial console, and check the events
//! that follow.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::child::{last_lines, Vm};
use crate::events;

/// A running VM plus a cursor over its event stream.
pub struct Session {
    pub vm: Vm,
    events_path: PathBuf,
    /// Events read so far, in order.
    pub seen: Vec<Value>,
    /// Index into `seen` of the first event not yet consumed by an `expect_*`.
    cursor: usize,
    /// When the `first-screen` event was first seen, as time since QEMU started.
    pub first_screen_at: Option<Duration>,
}

/// How long the installer may take between two steps (TCG; DHCP and the
/// network doctor have their own bounded timeouts inside).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(180);

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
        let bytes = std::fs::read(&self.events_path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        self.seen = events::parse(complete)?;
        if self.first_screen_at.is_none() && self.seen.iter().any(|e| e["event"] == "first-screen")
        {
            self.first_screen_at = Some(self.vm.elapsed());
        }
        Ok(())
    }

    /// Waits for the next event called `name`; events in between are skipped,
    /// except that a `prompt` for something else is an error (the installer
    /// is waiting for input the script did not plan for).
    pub fn expect_event(&mut self, name: &str, timeout: Duration) -> Result<Value> {
        self.expect_any(&[name], timeout)
    }

    /// Like [`Session::expect_event`] for the first of several names.
    pub fn expect_any(&mut self, names: &[&str], timeout: Duration) -> Result<Value> {
        let name = names.join("|");
        let name = name.as_str();
        let deadline = Instant::now() + timeout;
        loop {
            self.refresh()?;
            while self.cursor < self.seen.len() {
                let e = self.seen[self.cursor].clone();
                self.cursor += 1;
                let ev = e["event"].as_str().unwrap_or("");
                if names.contains(&ev) {
                    return Ok(e);
                }
                if ev == "prompt" && !names.contains(&"prompt") {
                    bail!(
                        "waiting for a {name:?} event, the installer asks for {} instead; {}",
                        e["id"],
                        self.context()
                    );
                }
            }
            self.vm.check_running()?;
            if Instant::now() >= deadline {
                bail!("no {name:?} event within {timeout:?}; {}", self.context());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the next prompt and returns its id.
    pub fn next_prompt(&mut self) -> Result<String> {
        let p = self.expect_event("prompt", STEP_TIMEOUT)?;
        Ok(p["id"].as_str().unwrap_or_default().to_string())
    }

    /// Types `input` and Enter (after a prompt was seen).
    pub fn type_line(&mut self, input: &str) -> Result<()> {
        // Let the prompt text reach the terminal before typing, like a person.
        std::thread::sleep(Duration::from_millis(200));
        self.vm.send(format!("{input}\r").as_bytes())
    }

    /// Waits for the prompt `id`, then types `input` and Enter.
    pub fn answer(&mut self, id: &str, input: &str) -> Result<()> {
        let p = self.expect_event("prompt", STEP_TIMEOUT)?;
        if p["id"] != id {
            bail!(
                "expected prompt {id:?}, the installer asks for {}; {}",
                p["id"],
                self.context()
            );
        }
        // Let the prompt text reach the terminal before typing, like a person.
        std::thread::sleep(Duration::from_millis(200));
        self.vm.send(format!("{input}\r").as_bytes())
    }

    /// Types `input` at prompt `id` and expects it to be refused with `message`.
    pub fn refused(&mut self, id: &str, input: &str, message: &str) -> Result<()> {
        self.answer(id, input)?;
        let inv = self.expect_event("invalid", STEP_TIMEOUT)?;
        if inv["id"] != id || inv["message"] != message {
            bail!("typed {input:?} at {id}: want invalid {message:?}, got {inv}");
        }
        Ok(())
    }

    /// True when an event called `name` arrived at any time.
    pub fn saw(&mut self, name: &str) -> Result<bool> {
        self.refresh()?;
        Ok(self.seen.iter().any(|e| e["event"] == name))
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
        let names: Vec<String> = self
            .seen
            .iter()
            .map(|e| match e["event"].as_str() {
                Some("prompt") => format!("prompt:{}", e["id"].as_str().unwrap_or("?")),
                Some(n) => n.to_string(),
                None => "?".into(),
            })
            .collect();
        format!(
            "events: [{}]\nserial tail:\n{}",
            names.join(", "),
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

/// `event[key]` as a string, or an error naming the key.
pub fn field<'a>(e: &'a Value, path: &[&str]) -> Result<&'a Value> {
    let mut v = e;
    for k in path {
        v = v
            .get(k)
            .with_context(|| format!("event {e} has no {}", path.join(".")))?;
    }
    Ok(v)
}
