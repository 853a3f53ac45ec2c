//! The installer flow: one state machine for the interactive console, answer
//! files (full or partial) and tests. It is pure: every effect goes through
//! the traits in [`Ports`] (terminal, events, network, keyboard, host), so
//! tests drive it with scripted input and fakes.
//!
//! Order: main menu (M)anual / (D)HCP / (E)xit,
//! plus (K)eyboard and rescue (S)hell → network (interface, values, confirm,
//! apply, doctor) → serial number (verified with the backend) → keyboard layout → the
//! "ready" screen with (R)eboot / (P)ower off.

pub mod choice;
mod finish;
pub mod ids;
pub mod install;
mod install_text;
mod network;
mod serial;
pub mod text;
pub mod validate;

use crate::answers::{AnswerFile, KeyError, Loaded, Mode, Rejected};
use crate::event::{Emit, Event};
use crate::keyboard::KeyboardOps;
use crate::net::{NetConfig, NetOps};
use crate::power::PowerAction;
use crate::vendor::{VendorOps, Verified};
use choice::{MenuChoice, StopChoice};
use validate::InputError;

/// Where the flow reads input and writes text.
pub trait Terminal {
    /// Shows text as is (the flow ends its lines with `\n`; prompts have none).
    fn show(&mut self, text: &str);
    /// Waits for one line of input, without its line end. `None` means no
    /// input will ever come (a finished test script); the real console waits.
    fn read_line(&mut self) -> Option<String>;
    /// Secret input on or off. While on, what is typed is not echoed (the
    /// console shows one `*` per character). The flow switches it on before
    /// it announces the prompt, so nothing typed early is echoed either.
    fn set_secret(&mut self, _on: bool) {}
}

/// Effects that are neither network nor keyboard.
pub trait Host {
    /// Runs the rescue shell on the console; returns when it exits.
    fn rescue_shell(&mut self) -> Result<(), String>;
    /// Stores the collected answers (JSON text); returns where they went.
    fn save_answers(&mut self, json: &str) -> Result<String, String>;
}

/// Everything the flow may touch.
pub struct Ports<'a> {
    /// The console.
    pub term: &'a mut dyn Terminal,
    /// The event stream.
    pub events: &'a mut dyn Emit,
    /// Network operations.
    pub net: &'a mut dyn NetOps,
    /// Keyboard operations.
    pub keyboard: &'a mut dyn KeyboardOps,
    /// Shell and answer storage.
    pub host: &'a mut dyn Host,
    /// The vendor backend.
    pub vendor: &'a mut dyn VendorOps,
    /// Disks and the install itself.
    pub install: &'a mut dyn crate::install::InstallOps,
}

/// The answer file situation at the start.
// Made once per run and moved into the flow: the size difference is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswersInput {
    /// No answer file.
    None,
    /// A file that parsed and passed the value checks.
    Loaded(Loaded),
    /// A file (or source) that cannot be used.
    Rejected(Rejected),
}

/// How the flow runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Never ask for values (`installer.unattended`): what the answers lack
    /// and cannot default stops the run with its key path.
    pub unattended: bool,
    /// The console is a VT (keyboard layouts apply to it), not serial.
    pub on_vt: bool,
    /// The answer file, if any.
    pub answers: AnswersInput,
}

/// How the flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Reboot or power off (the UI exits with the matching code).
    Power(PowerAction),
    /// The terminal reported that no more input will come.
    InputClosed,
}

/// Hostname used when a DHCP lease has none and the answers give none.
pub const DEFAULT_HOSTNAME: &str = "appliance";
/// Layout used when nothing else is chosen.
pub const DEFAULT_LAYOUT: &str = "us";
/// The message for a key an unattended run needs but the answers lack.
pub const REQUIRED_UNATTENDED: &str = "this key is required for an unattended installation";

/// A state of the flow.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Start,
    Menu,
    KeyboardHotkey,
    Shell { back_to_stop: Option<Box<State>> },
    Exit,
    Manual,
    Dhcp,
    Apply(NetConfig),
    SerialNumber,
    KeyboardStep,
    Install,
    Stop(Stop),
    Done(PowerAction),
}

/// Why the run cannot go on without a human.
#[derive(Debug, Clone, PartialEq)]
struct Stop {
    /// One line saying what happened.
    title: String,
    /// The key paths and reasons.
    errors: Vec<KeyError>,
    /// True if nothing on the machine has been changed yet.
    unchanged: bool,
    /// Emit the errors as `answers-error` events (answer problems, the
    /// first time the screen is shown).
    report: bool,
}

impl Stop {
    /// A stop caused by the answer file (reported as `answers-error`).
    fn answers(title: impl Into<String>, errors: Vec<KeyError>, unchanged: bool) -> Self {
        Stop {
            title: title.into(),
            errors,
            unchanged,
            report: true,
        }
    }
}

/// Why a step ended early.
#[derive(Debug)]
enum Halt {
    /// No more input.
    InputClosed,
    /// Stop with this reason.
    Stop(Stop),
}

type Step<T> = Result<T, Halt>;

/// Runs the flow to its end.
pub fn run(ports: Ports<'_>, options: Options) -> Outcome {
    let mut flow = Flow::new(ports, options);
    let mut state = State::Start;
    loop {
        state = match flow.step(state) {
            Ok(State::Done(action)) => {
                flow.p.events.emit(&Event::Power {
                    action: action.into(),
                });
                flow.show(&format!("Chosen: {}.\n", action.verb()));
                return Outcome::Power(action);
            }
            Ok(next) => next,
            Err(Halt::InputClosed) => return Outcome::InputClosed,
            Err(Halt::Stop(stop)) => State::Stop(stop),
        }
    }
}

/// The flow's memory between states.
struct Flow<'a> {
    p: Ports<'a>,
    unattended: bool,
    on_vt: bool,
    input: Option<AnswersInput>,
    /// The checked answer file (empty when there is none).
    answers: AnswerFile,
    /// The answers' `erase_disk: true` stands for the user's agreement (see
    /// [`crate::answers::Origin::may_consent`]).
    answers_consent: bool,
    /// Where the answers came from, for messages.
    answers_source: String,
    /// Values from the answers are used on the first network pass only.
    answers_fresh: bool,
    /// Values typed in the last manual pass, offered as defaults.
    draft: network::Draft,
    /// The applied network configuration and how it was made.
    network: Option<(Mode, NetConfig)>,
    /// The layout chosen with K or in the keyboard step.
    layout: Option<String>,
    /// The answers' serial is tried once.
    serial_fresh: bool,
    /// The verified serial number.
    serial: Option<Verified>,
}

impl<'a> Flow<'a> {
    fn new(p: Ports<'a>, options: Options) -> Self {
        Flow {
            p,
            unattended: options.unattended,
            on_vt: options.on_vt,
            input: Some(options.answers),
            answers: AnswerFile::default(),
            answers_consent: false,
            answers_source: String::new(),
            answers_fresh: true,
            draft: network::Draft::default(),
            network: None,
            layout: None,
            serial_fresh: true,
            serial: None,
        }
    }

    fn show(&mut self, text: &str) {
        self.p.term.show(text);
    }

    fn emit(&mut self, event: Event) {
        self.p.events.emit(&event);
    }

    fn step(&mut self, state: State) -> Step<State> {
        match state {
            State::Start => self.start(),
            State::Menu => self.menu(),
            State::KeyboardHotkey => {
                self.choose_layout()?;
                Ok(State::Menu)
            }
            State::Shell { back_to_stop } => {
                self.shell();
                Ok(back_to_stop.map_or(State::Menu, |s| *s))
            }
            State::Exit => self.exit(),
            State::Manual => self.manual(),
            State::Dhcp => self.dhcp(),
            State::Apply(config) => self.apply_and_check(config),
            State::SerialNumber => self.serial_step(),
            State::KeyboardStep => {
                self.keyboard_step()?;
                Ok(State::Install)
            }
            State::Install => self.install_step(),
            State::Stop(stop) => self.stop(stop),
            State::Done(action) => Ok(State::Done(action)),
        }
    }

    /// Shows `prompt` and reads lines until `parse` accepts one. Every wait
    /// emits `prompt`; every refusal emits `invalid` and shows the message.
    fn ask<T>(
        &mut self,
        id: &str,
        prompt: &str,
        parse: impl Fn(&str) -> Result<T, InputError>,
    ) -> Step<T> {
        self.ask_as(id, prompt, parse, false)
    }

    /// [`Flow::ask`] for a secret (the serial number): not echoed, every
    /// line typed registered as a secret in all its spellings
    /// ([`crate::secret::register_serial`]), and a refused line reported
    /// only in its masked form ([`crate::secret::mask_typed`]).
    fn ask_secret<T>(
        &mut self,
        id: &str,
        prompt: &str,
        parse: impl Fn(&str) -> Result<T, InputError>,
    ) -> Step<T> {
        self.p.term.set_secret(true);
        let answer = self.ask_as(id, prompt, parse, true);
        self.p.term.set_secret(false);
        answer
    }

    fn ask_as<T>(
        &mut self,
        id: &str,
        prompt: &str,
        parse: impl Fn(&str) -> Result<T, InputError>,
        secret: bool,
    ) -> Step<T> {
        loop {
            self.emit(Event::Prompt { id: id.to_string() });
            self.show(prompt);
            let line = self.p.term.read_line().ok_or(Halt::InputClosed)?;
            let input = line.trim().to_string();
            if secret {
                crate::secret::register_serial(&input);
            }
            match parse(&input) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let message = e.to_string();
                    self.emit(Event::Invalid {
                        id: id.to_string(),
                        input: if secret {
                            crate::secret::mask_typed(&input)
                        } else {
                            input
                        },
                        message: message.clone(),
                    });
                    self.show(&format!("  ! {message}\n"));
                }
            }
        }
    }

    /// Stops the run when nobody can be asked for `key`.
    fn missing(&self, key: &str) -> Halt {
        Halt::Stop(Stop::answers(
            "the answer file lacks a value and no one can be asked",
            vec![KeyError::new(key, REQUIRED_UNATTENDED)],
            self.network.is_none(),
        ))
    }

    fn start(&mut self) -> Step<State> {
        self.emit(Event::FirstScreen);
        match self.input.take().unwrap_or(AnswersInput::None) {
            AnswersInput::None if self.unattended => {
                return Err(Halt::Stop(Stop::answers(
                    "installer.unattended is set, but there is no answer file",
                    vec![KeyError::new(
                        crate::answers::source::PARAM_URL,
                        "no answer file was found (kernel command line, a volume labelled ANSWERS, /etc/installer/answers.json)",
                    )],
                    true,
                )))
            }
            AnswersInput::None => return Ok(State::Menu),
            AnswersInput::Rejected(r) => {
                return Err(Halt::Stop(Stop::answers(
                    format!("the answer file from {} cannot be used", r.source),
                    r.errors,
                    true,
                )))
            }
            AnswersInput::Loaded(l) => {
                self.emit(Event::Answers {
                    source: l.source.clone(),
                });
                self.show(&format!("Using the answer file from {}.\n", l.source));
                self.answers_consent =
                    l.file.erase_disk == Some(true) && l.origin.may_consent(self.unattended);
                self.answers_source = l.source;
                self.answers = l.file;
            }
        }
        let interfaces = self.p.net.interfaces();
        let layouts = self.p.keyboard.layouts();
        let errors = crate::answers::check_environment(&self.answers, &interfaces, &layouts);
        if !errors.is_empty() {
            return Err(Halt::Stop(Stop::answers(
                "the answer file does not fit this machine",
                errors,
                true,
            )));
        }
        if self.unattended {
            let gaps = crate::answers::unattended_gaps(&self.answers, &interfaces);
            if !gaps.is_empty() {
                return Err(Halt::Stop(Stop::answers(
                    "the answer file lacks values and no one can be asked",
                    gaps.iter()
                        .map(|k| KeyError::new(k, REQUIRED_UNATTENDED))
                        .collect(),
                    true,
                )));
            }
        }
        Ok(match self.answers.network.as_ref().and_then(|n| n.mode) {
            Some(Mode::Manual) => State::Manual,
            Some(Mode::Dhcp) => State::Dhcp,
            None => State::Menu,
        })
    }

    fn menu(&mut self) -> Step<State> {
        // Values in the answers were for the first pass only.
        self.answers_fresh = false;
        let layout = self.layout.clone().unwrap_or(DEFAULT_LAYOUT.into());
        self.show(&text::menu(&layout));
        let choice = self.ask(ids::MENU, text::MENU_PROMPT, choice::menu)?;
        Ok(match choice {
            MenuChoice::Manual => State::Manual,
            MenuChoice::Dhcp => State::Dhcp,
            MenuChoice::Exit => State::Exit,
            MenuChoice::Keyboard => State::KeyboardHotkey,
            MenuChoice::Shell => State::Shell { back_to_stop: None },
        })
    }

    fn exit(&mut self) -> Step<State> {
        if !self.ask(ids::EXIT_CONFIRM, text::EXIT_CONFIRM_PROMPT, choice::yes_no)? {
            return Ok(State::Menu);
        }
        let action = self.ask(ids::EXIT_ACTION, text::POWER_PROMPT, choice::power)?;
        Ok(State::Done(action))
    }

    fn shell(&mut self) {
        self.show("Starting a rescue shell. Type exit to return to the installer.\n");
        match self.p.host.rescue_shell() {
            Ok(()) => self.show("The rescue shell ended.\n"),
            Err(e) => self.show(&format!("  ! cannot start the rescue shell: {e}\n")),
        }
    }

    fn stop(&mut self, stop: Stop) -> Step<State> {
        if stop.report {
            for e in &stop.errors {
                self.emit(Event::AnswersError {
                    key: e.key.clone(),
                    message: e.message.clone(),
                });
            }
        }
        self.show(&text::stop(&stop.title, &stop.errors, stop.unchanged));
        match self.ask(ids::STOP_ACTION, text::STOP_PROMPT, choice::stop)? {
            StopChoice::Power(action) => Ok(State::Done(action)),
            // After the shell the same screen comes back, without new events.
            StopChoice::Shell => Ok(State::Shell {
                back_to_stop: Some(Box::new(State::Stop(Stop {
                    report: false,
                    ..stop
                }))),
            }),
        }
    }
}
