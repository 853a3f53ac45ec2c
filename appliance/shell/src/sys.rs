//! The one place in this crate that starts processes (clippy.toml forbids
//! `std::process::Command::new` elsewhere): the console's programs run
//! with the terminal (`ping`, `ip`, `systemctl`), run for their output
//! (`date`, `journalctl` for the support file), or replace the console
//! (`bash` of the unsupported mode).

use std::os::unix::process::CommandExt;
use std::process::Stdio;

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::plan::Invocation;

/// A program that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error("`{cmd}` could not be started: {source}")]
    Start { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed ({status})")]
    Failed { cmd: String, status: String },
    #[error("`{cmd}` failed ({status}): {stderr}")]
    FailedWith {
        cmd: String,
        status: String,
        stderr: String,
    },
}

/// What the executor needs from the system; [`System`] is the real one,
/// tests use a recording double.
pub trait Runner {
    /// Runs the program on the terminal (stdin, stdout and stderr shared)
    /// and waits for it; an exit status other than 0 is an error.
    fn run(&mut self, inv: &Invocation) -> Result<(), SysError>;
    /// Runs the program without input and returns its standard output.
    fn capture(&mut self, inv: &Invocation) -> Result<String, SysError>;
    /// Replaces this process with the program; returns only on failure.
    fn exec(&mut self, inv: &Invocation, env: &[(&str, &str)]) -> SysError;
}

/// The running system.
#[derive(Debug, Default)]
pub struct System;

fn command(inv: &Invocation) -> std::process::Command {
    #[allow(clippy::disallowed_methods)] // this module is the one allowed place
    let mut c = std::process::Command::new(inv.program);
    c.args(&inv.args);
    c
}

fn start(inv: &Invocation) -> impl FnOnce(std::io::Error) -> SysError + '_ {
    move |source| SysError::Start {
        cmd: inv.render(),
        source,
    }
}

impl Runner for System {
    fn run(&mut self, inv: &Invocation) -> Result<(), SysError> {
        let status = command(inv).status().map_err(start(inv))?;
        if status.success() {
            Ok(())
        } else {
            Err(SysError::Failed {
                cmd: inv.render(),
                status: status.to_string(),
            })
        }
    }

    fn capture(&mut self, inv: &Invocation) -> Result<String, SysError> {
        let out = command(inv)
            .stdin(Stdio::null())
            .output()
            .map_err(start(inv))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            return Err(SysError::FailedWith {
                cmd: inv.render(),
                status: out.status.to_string(),
                stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn exec(&mut self, inv: &Invocation, env: &[(&str, &str)]) -> SysError {
        let mut c = command(inv);
        for (k, v) in env {
            c.env(k, v);
        }
        default_signals();
        let source = c.exec();
        SysError::Start {
            cmd: inv.render(),
            source,
        }
    }
}

extern "C" fn ignore_signal(_: std::ffi::c_int) {}

fn set_signal(sig: Signal, handler: SigHandler) {
    let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: the handlers are a no-op function, SIG_IGN and SIG_DFL; none
    // touches memory, so no state can be seen half-changed.
    let _ = unsafe { sigaction(sig, &action) };
}

/// The interactive console's signals: Ctrl-C and Ctrl-\ reach the program
/// it runs (a caught signal is reset to the default by exec, so `ping`
/// stops) but do not end the console; Ctrl-Z is ignored by the console and
/// what it runs (a stopped child would hold the console forever).
pub fn console_signals() {
    set_signal(Signal::SIGINT, SigHandler::Handler(ignore_signal));
    set_signal(Signal::SIGQUIT, SigHandler::Handler(ignore_signal));
    set_signal(Signal::SIGTSTP, SigHandler::SigIgn);
}

/// The default signals again (before `bash` replaces the console: an
/// ignored signal would stay ignored in it).
fn default_signals() {
    for sig in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTSTP] {
        set_signal(sig, SigHandler::SigDfl);
    }
}
