//! The real [`Host`]: the rescue shell on the installer's console and the
//! collected answers under `/run/installer`.

use crate::answers::COLLECTED_FILE;
use crate::flow::Host;
use crate::log;
use crate::sys::cmd::{self, Cmd};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::termios::{tcgetattr, tcsetattr, SetArg};
use nix::sys::wait::{waitpid, WaitStatus};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The shell the initramfs provides (busybox).
pub const SHELL: &str = "/bin/sh";

/// Shell and answer storage on the real system.
#[derive(Debug)]
pub struct SystemHost {
    /// `TERM` for the shell (`linux` on a VT, `vt220` on serial).
    pub term: &'static str,
}

impl Host for SystemHost {
    fn rescue_shell(&mut self) -> Result<(), String> {
        run_shell(self.term)
    }

    fn save_answers(&mut self, json: &str) -> Result<String, String> {
        let path = Path::new(COLLECTED_FILE);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // Later answers may hold secrets: readable by root only.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot write {COLLECTED_FILE}: {e}"))?;
        f.write_all(json.as_bytes())
            .map_err(|e| format!("cannot write {COLLECTED_FILE}: {e}"))?;
        log::info(&format!("collected answers written to {COLLECTED_FILE}"));
        Ok(COLLECTED_FILE.to_string())
    }
}

/// Sets `sig` to `handler`, returning the previous one.
fn set_handler(sig: Signal, handler: SigHandler) -> Option<SigHandler> {
    // SAFETY: only SIG_IGN or a handler previously returned by signal() is
    // installed; neither runs Rust code in signal context.
    unsafe { signal(sig, handler) }.ok()
}

/// Runs [`SHELL`] as a child on the console and waits for it. While it runs
/// the UI ignores the terminal's Ctrl-C and Ctrl-\; afterwards it takes the
/// terminal back (the shell's job control may have left another process
/// group in front) and restores the terminal settings.
pub fn run_shell(term: &str) -> Result<(), String> {
    let saved = tcgetattr(std::io::stdin()).ok();
    let cmd = Cmd::new(SHELL).env("TERM", term).env("PS1", "rescue# ");
    let pid = cmd::spawn(&cmd).map_err(|e| e.to_string())?;
    log::info(&format!("rescue shell started as pid {pid}"));
    let ignored: Vec<(Signal, Option<SigHandler>)> =
        [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTTOU]
            .into_iter()
            .map(|s| (s, set_handler(s, SigHandler::SigIgn)))
            .collect();
    let result = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                log::info(&format!("rescue shell exited with status {code}"));
                break Ok(());
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                log::info(&format!("rescue shell killed by {}", sig.as_str()));
                break Ok(());
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => break Err(format!("cannot wait for the rescue shell: {e}")),
        }
    };
    // With SIGTTOU ignored this works from a background process group.
    if let Err(e) = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp()) {
        log::warn(&format!(
            "cannot take the terminal back after the shell: {e}"
        ));
    }
    if let Some(t) = saved {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &t);
    }
    for (sig, old) in ignored {
        if let Some(h) = old {
            set_handler(sig, h);
        }
    }
    result
}
