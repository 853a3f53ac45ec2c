//! The PID 1 loop: start the UI child, reap, react to signals and exits,
//! and show the recovery menu after a crash.

use crate::log;
use crate::power::{self, classify_exit, ChildEnd, PowerAction};
use crate::sys::cmd::{self, Cmd};
use crate::ui::UI_CHILD_ENV;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// A choice in the recovery menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuChoice {
    /// Start the installer again.
    Restart,
    /// Start a rescue shell on the console.
    Shell,
    /// Reboot or power off.
    Power(PowerAction),
}

/// Parses a recovery-menu line: `i` restart, `s` shell, `r` reboot, `p` power off.
pub fn parse_menu_choice(line: &str) -> Result<MenuChoice, String> {
    match line.trim().to_ascii_lowercase().as_str() {
        "i" | "restart" => Ok(MenuChoice::Restart),
        "s" | "shell" => Ok(MenuChoice::Shell),
        "r" | "reboot" => Ok(MenuChoice::Power(PowerAction::Reboot)),
        "p" | "poweroff" | "power off" => Ok(MenuChoice::Power(PowerAction::PowerOff)),
        "" => Err("Nothing typed.".to_string()),
        other => Err(format!(
            "\"{}\" is not a choice here.",
            other.chars().take(20).collect::<String>()
        )),
    }
}

const MENU_PROMPT: &str =
    "Type i and press Enter to restart the installer, s for a rescue shell,\r\nr to reboot, or p to power off: ";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Start (or restart) the UI child.
    StartUi,
    /// The UI child runs.
    Running(Pid),
    /// A rescue shell (`/init shell`) runs on the console.
    Shell(Pid),
    /// The UI is gone; the recovery menu is up.
    Menu,
}

/// PID 1 state. Lives outside `catch_unwind` so a panic resumes, not restarts.
pub struct Supervisor {
    signals: Option<SignalFd>,
    phase: Phase,
    input: Vec<u8>,
    stdin_retry_at: Option<Instant>,
    printk_quiet: bool,
}

impl Supervisor {
    pub(super) fn new(signals: Option<SignalFd>) -> Self {
        Supervisor {
            signals,
            phase: Phase::StartUi,
            input: Vec::new(),
            stdin_retry_at: None,
            printk_quiet: false,
        }
    }

    /// Runs forever.
    pub fn run(&mut self) -> Infallible {
        loop {
            match self.phase.clone() {
                Phase::StartUi => self.start_ui(),
                Phase::Running(_) | Phase::Shell(_) => self.wait_and_handle(false),
                Phase::Menu => self.wait_and_handle(true),
            }
        }
    }

    /// Starts `/init shell`: the same binary attaches to the console and
    /// runs the rescue shell; the menu returns when it ends.
    fn start_shell(&mut self) {
        let exe = std::env::current_exe().unwrap_or_else(|_| "/init".into());
        let cmd = Cmd::new(exe).arg("shell").env(UI_CHILD_ENV, "1");
        match cmd::spawn(&cmd) {
            Ok(pid) => {
                log::info(&format!("started a rescue shell as pid {pid}"));
                self.phase = Phase::Shell(pid);
            }
            Err(e) => self.show_menu(&e.to_string()),
        }
    }

    fn start_ui(&mut self) {
        if !self.printk_quiet {
            super::low_memory_limits();
            // `installer.debug` keeps kernel messages on the console.
            let cmdline = crate::facts::read_cmdline(std::path::Path::new("/"));
            if !cmdline.has("installer.debug") {
                super::quiet_printk();
            }
            self.printk_quiet = true;
        }
        let exe = std::env::current_exe().unwrap_or_else(|_| "/init".into());
        let cmd = Cmd::new(exe).arg("ui").env(UI_CHILD_ENV, "1");
        match cmd::spawn(&cmd) {
            Ok(pid) => {
                log::info(&format!(
                    "started the installer UI ({}) as pid {pid}",
                    cmd.render()
                ));
                self.phase = Phase::Running(pid);
            }
            Err(e) => self.show_menu(&e.to_string()),
        }
    }

    /// Waits for a signal (and console input in the menu), then handles it.
    fn wait_and_handle(&mut self, menu: bool) {
        let now = Instant::now();
        let stdin_ok = menu && self.stdin_retry_at.is_none_or(|t| now >= t);
        let stdin = std::io::stdin();
        let (sig_ready, in_ready) = {
            let mut fds: Vec<PollFd<'_>> = Vec::new();
            if let Some(sfd) = &self.signals {
                fds.push(PollFd::new(sfd.as_fd(), PollFlags::POLLIN));
            }
            let stdin_fd: BorrowedFd<'_> = stdin.as_fd();
            if stdin_ok {
                fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
            }
            // Without a signalfd, poll every 200 ms and reap anyway.
            let timeout = if self.signals.is_none() || (menu && !stdin_ok) {
                200u16
            } else {
                1000u16
            };
            let _ = poll(&mut fds, PollTimeout::from(timeout));
            let ready = |fd: Option<&PollFd<'_>>| {
                fd.and_then(|f| f.revents()).is_some_and(|r| !r.is_empty())
            };
            let sig_idx = self.signals.as_ref().map(|_| 0);
            let in_idx = stdin_ok.then(|| fds.len() - 1);
            (
                sig_idx.is_some_and(|i| ready(fds.get(i))),
                in_idx.is_some_and(|i| ready(fds.get(i))),
            )
        };
        let mut signals = Vec::new();
        if sig_ready {
            if let Some(sfd) = &self.signals {
                while let Ok(Some(info)) = sfd.read_signal() {
                    if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                        signals.push((sig, info.ssi_pid));
                    }
                }
            }
        }
        // Reap on every wakeup: cheap, and covers coalesced SIGCHLDs.
        for status in power::reap_all() {
            self.on_child_status(status);
        }
        for (sig, from) in signals {
            self.on_signal(sig, from);
        }
        if in_ready && self.phase == Phase::Menu {
            self.read_menu_input();
        }
    }

    fn on_child_status(&mut self, status: WaitStatus) {
        let Some(pid) = status.pid() else {
            return;
        };
        if self.phase == Phase::Shell(pid) {
            if classify_exit(status).is_some() {
                log::info(&format!("the rescue shell ended: {status:?}"));
                self.show_menu("the rescue shell ended");
            }
            return;
        }
        if self.phase != Phase::Running(pid) {
            log::debug(&format!("reaped pid {pid}: {status:?}"));
            return;
        }
        match classify_exit(status) {
            Some(ChildEnd::Power(action)) => {
                log::info(&format!("the installer UI asked to {}", action.verb()));
                self.power(action);
            }
            Some(ChildEnd::Unexpected(why)) => {
                log::error(&format!("the installer UI stopped: {why}"));
                self.show_menu(&why);
            }
            None => {}
        }
    }

    fn on_signal(&mut self, sig: Signal, from: u32) {
        match sig {
            Signal::SIGCHLD => {}
            Signal::SIGINT => {
                log::warn(&format!("Ctrl-Alt-Del (SIGINT from pid {from}): rebooting"));
                self.power(PowerAction::Reboot);
            }
            Signal::SIGPWR => {
                log::warn(&format!(
                    "power-fail/shutdown request (SIGPWR from pid {from}): powering off"
                ));
                self.power(PowerAction::PowerOff);
            }
            other => log::info(&format!("ignoring {} from pid {from}", other.as_str())),
        }
    }

    /// Orderly shutdown; if reboot(2) fails, back to the menu.
    fn power(&mut self, action: PowerAction) {
        let err = power::shutdown(action);
        self.show_menu(&format!("{} failed: {err}", action.verb()));
    }

    fn show_menu(&mut self, reason: &str) {
        self.phase = Phase::Menu;
        self.input.clear();
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r\n\r\nThe installer stopped: {reason}.\r\nThe log is in {}.\r\n{MENU_PROMPT}",
            log::LOG_FILE
        );
        let _ = err.flush();
    }

    fn read_menu_input(&mut self) {
        let mut buf = [0u8; 256];
        match nix::unistd::read(0, &mut buf) {
            Ok(0) | Err(_) => {
                // EOF or error on the console: try again in a second, never spin.
                self.stdin_retry_at = Some(Instant::now() + Duration::from_secs(1));
            }
            Ok(n) => {
                self.stdin_retry_at = None;
                self.input.extend_from_slice(&buf[..n]);
                // The tty is in canonical mode with ICRNL: Enter arrives as \n.
                while let Some(pos) = self.input.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.input.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&line).into_owned();
                    self.on_menu_line(&line);
                    if self.phase != Phase::Menu {
                        self.input.clear();
                        return;
                    }
                }
            }
        }
    }

    fn on_menu_line(&mut self, line: &str) {
        match parse_menu_choice(line) {
            Ok(MenuChoice::Restart) => {
                log::info("restarting the installer UI");
                self.phase = Phase::StartUi;
            }
            Ok(MenuChoice::Shell) => self.start_shell(),
            Ok(MenuChoice::Power(action)) => self.power(action),
            Err(msg) => {
                let _ = write!(std::io::stderr(), "{msg}\r\n{MENU_PROMPT}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_choices() {
        assert_eq!(parse_menu_choice("i\n"), Ok(MenuChoice::Restart));
        assert_eq!(
            parse_menu_choice(" R "),
            Ok(MenuChoice::Power(PowerAction::Reboot))
        );
        assert_eq!(
            parse_menu_choice("p"),
            Ok(MenuChoice::Power(PowerAction::PowerOff))
        );
        assert_eq!(parse_menu_choice(""), Err("Nothing typed.".to_string()));
        assert_eq!(parse_menu_choice(" S "), Ok(MenuChoice::Shell));
        assert_eq!(parse_menu_choice("shell"), Ok(MenuChoice::Shell));
        assert_eq!(
            parse_menu_choice("sh"),
            Err("\"sh\" is not a choice here.".to_string())
        );
    }

    #[test]
    fn handled_signals_include_cad_and_children() {
        assert!(
            super::super::HANDLED_SIGNALS.contains(&Signal::SIGINT),
            "Ctrl-Alt-Del arrives as SIGINT"
        );
        assert!(super::super::HANDLED_SIGNALS.contains(&Signal::SIGCHLD));
    }
}
