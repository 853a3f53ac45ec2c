//! Reboot and power-off: the exit-code contract between the UI child and
//! PID 1, and the orderly shutdown PID 1 performs.

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::Serialize;
use std::time::{Duration, Instant};

/// UI child exit code: the user asked to reboot.
pub const EXIT_REBOOT: i32 = 10;
/// UI child exit code: the user asked to power off.
pub const EXIT_POWEROFF: i32 = 11;
/// UI child exit code: the UI hit an error it cannot recover from.
pub const EXIT_UI_ERROR: i32 = 2;
/// Exit code of a Rust process that panicked.
pub const EXIT_PANIC: i32 = 101;

/// What to do with the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerAction {
    /// Restart the machine.
    Reboot,
    /// Switch the machine off.
    PowerOff,
}

impl PowerAction {
    /// The UI child's exit code for this action.
    pub fn exit_code(self) -> i32 {
        match self {
            PowerAction::Reboot => EXIT_REBOOT,
            PowerAction::PowerOff => EXIT_POWEROFF,
        }
    }

    /// The action for a UI child exit code, if it is one.
    pub fn from_exit_code(code: i32) -> Option<Self> {
        match code {
            EXIT_REBOOT => Some(PowerAction::Reboot),
            EXIT_POWEROFF => Some(PowerAction::PowerOff),
            _ => None,
        }
    }

    /// `reboot` or `power off`.
    pub fn verb(self) -> &'static str {
        match self {
            PowerAction::Reboot => "reboot",
            PowerAction::PowerOff => "power off",
        }
    }
}

/// How the UI child ended, as PID 1 sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildEnd {
    /// It asked for a reboot or power-off.
    Power(PowerAction),
    /// It ended any other way; the text says how.
    Unexpected(String),
}

/// Interprets a wait status of the UI child. Returns `None` for statuses that
/// are not an end (stopped, continued).
pub fn classify_exit(status: WaitStatus) -> Option<ChildEnd> {
    match status {
        WaitStatus::Exited(_, code) => Some(match PowerAction::from_exit_code(code) {
            Some(action) => ChildEnd::Power(action),
            None => ChildEnd::Unexpected(describe_exit_code(code)),
        }),
        WaitStatus::Signaled(_, sig, core) => Some(ChildEnd::Unexpected(format!(
            "it was killed by signal {}{}",
            sig.as_str(),
            if core { " (core dumped)" } else { "" }
        ))),
        _ => None,
    }
}

fn describe_exit_code(code: i32) -> String {
    match code {
        0 => "it exited without choosing reboot or power off".to_string(),
        EXIT_PANIC => "it crashed (a Rust panic, exit status 101)".to_string(),
        EXIT_UI_ERROR => "it stopped on an error (exit status 2)".to_string(),
        n => format!("it exited with status {n}"),
    }
}

/// Reaps every exited child without blocking; returns the statuses seen.
pub fn reap_all() -> Vec<WaitStatus> {
    let mut seen = Vec::new();
    loop {
        match waitpid(
            Pid::from_raw(-1),
            Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
        ) {
            Ok(WaitStatus::StillAlive) | Err(_) => return seen,
            Ok(status) => seen.push(status),
        }
    }
}

/// Waits until no children are left (ECHILD) or `limit` has passed, reaping.
fn reap_until_gone(limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        match waitpid(
            Pid::from_raw(-1),
            Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
        ) {
            Err(nix::errno::Errno::ECHILD) => return true,
            Ok(WaitStatus::StillAlive) => {
                if start.elapsed() >= limit {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// Orderly reboot or power-off from PID 1: SIGTERM to every process, wait up
/// to 3 s, SIGKILL the rest, sync, `reboot(2)`. Returns only if `reboot(2)`
/// failed (then with the error).
pub fn shutdown(action: PowerAction) -> nix::Error {
    crate::log::info(&format!("{}: stopping all processes", action.verb()));
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    if !reap_until_gone(Duration::from_secs(3)) {
        crate::log::warn("processes left after SIGTERM; sending SIGKILL");
        let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        let _ = reap_until_gone(Duration::from_secs(2));
    }
    crate::log::info(&format!("{}: syncing disks", action.verb()));
    nix::unistd::sync();
    let mode = match action {
        PowerAction::Reboot => nix::sys::reboot::RebootMode::RB_AUTOBOOT,
        PowerAction::PowerOff => nix::sys::reboot::RebootMode::RB_POWER_OFF,
    };
    match nix::sys::reboot::reboot(mode) {
        Err(e) => {
            crate::log::error(&format!("{} failed: {e}", action.verb()));
            e
        }
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_round_trip() {
        for a in [PowerAction::Reboot, PowerAction::PowerOff] {
            assert_eq!(PowerAction::from_exit_code(a.exit_code()), Some(a));
        }
        assert_eq!(EXIT_REBOOT, 10);
        assert_eq!(EXIT_POWEROFF, 11);
        assert_eq!(PowerAction::from_exit_code(0), None);
        assert_eq!(PowerAction::from_exit_code(EXIT_PANIC), None);
    }

    #[test]
    fn wait_statuses_are_classified() {
        let pid = Pid::from_raw(42);
        assert_eq!(
            classify_exit(WaitStatus::Exited(pid, 10)),
            Some(ChildEnd::Power(PowerAction::Reboot))
        );
        assert_eq!(
            classify_exit(WaitStatus::Exited(pid, 11)),
            Some(ChildEnd::Power(PowerAction::PowerOff))
        );
        let Some(ChildEnd::Unexpected(why)) = classify_exit(WaitStatus::Exited(pid, 101)) else {
            panic!("exit 101 must be unexpected");
        };
        assert!(why.contains("panic"), "{why}");
        let Some(ChildEnd::Unexpected(why)) =
            classify_exit(WaitStatus::Signaled(pid, Signal::SIGSEGV, true))
        else {
            panic!("a signal must be unexpected");
        };
        assert_eq!(why, "it was killed by signal SIGSEGV (core dumped)");
        assert_eq!(
            classify_exit(WaitStatus::Stopped(pid, Signal::SIGSTOP)),
            None
        );
    }
}
