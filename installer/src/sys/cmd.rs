//! The crate's single place that starts processes.
//!
//! PID 1 reaps every child with `waitpid(-1)`, so a `std::process::Child` must
//! never be waited on (its status would already be gone): [`spawn`] returns
//! only the pid and forgets the handle. Children start with an empty signal
//! mask, because PID 1 blocks the signals it reads through signalfd and a
//! blocked mask is inherited across exec.

use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// A command to run, as data (rendered for logs with [`Cmd::render`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// Program path.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<OsString>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Run inside this directory as its root (`chroot`), `None` for `/`.
    pub root: Option<PathBuf>,
}

/// Errors starting a process.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// fork/exec failed.
    #[error("cannot start {command}: {source}")]
    Spawn {
        /// The rendered command.
        command: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Cmd {
    /// A command with no arguments and the environment PID 1 gives its children.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: vec![
                ("HOME".into(), "/".into()),
                ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
                ("TERM".into(), "linux".into()),
            ],
            root: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable (replacing an earlier value).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Runs the program inside `dir` as its root (`program` is a path
    /// there), e.g. a tool of a mounted system image.
    pub fn chroot(mut self, dir: impl Into<PathBuf>) -> Self {
        self.root = Some(dir.into());
        self
    }

    /// The command as a shell-like line, for logs.
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        if let Some(root) = &self.root {
            parts.push(format!("chroot {}", root.display()));
        }
        parts.push(self.program.to_string_lossy().into_owned());
        parts.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        parts.join(" ")
    }
}

/// The `std` command for `cmd`: arguments, environment, and the root.
fn command(cmd: &Cmd) -> std::process::Command {
    #[allow(clippy::disallowed_methods)] // this module is the one allowed place
    let mut command = std::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k, v)));
    if let Some(root) = cmd.root.clone() {
        // SAFETY: chroot(2) and chdir(2) are async-signal-safe; the path
        // was converted before the fork.
        unsafe {
            command.pre_exec(move || {
                std::os::unix::fs::chroot(&root)?;
                std::env::set_current_dir("/")
            });
        }
    }
    command
}

/// Replaces this process with `cmd` (PID 1 handing over to the next init).
/// Returns only when that failed.
pub fn exec(cmd: &Cmd) -> CmdError {
    let source = command(cmd).exec();
    CmdError::Spawn {
        command: cmd.render(),
        source,
    }
}

/// Starts `cmd` with inherited stdin/stdout/stderr and returns its pid.
/// The caller reaps it with `waitpid`; nothing here waits.
pub fn spawn(cmd: &Cmd) -> Result<Pid, CmdError> {
    let mut command = command(cmd);
    // SAFETY: the closure only calls sigprocmask-equivalent pthread_sigmask
    // on a stack-allocated set, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = command.spawn().map_err(|source| CmdError::Spawn {
        command: cmd.render(),
        source,
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    // Dropping a Child neither waits nor kills; PID 1 reaps it.
    drop(child);
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_renders_and_replaces_env() {
        let c = Cmd::new("/init")
            .arg("ui")
            .env("TERM", "vt220")
            .env("X", "1");
        assert_eq!(c.render(), "/init ui");
        let term: Vec<_> = c.env.iter().filter(|(k, _)| k == "TERM").collect();
        assert_eq!(term.len(), 1);
        assert_eq!(term[0].1, OsString::from("vt220"));
        assert!(c.env.iter().any(|(k, v)| k == "HOME" && v == "/"));
        let c = Cmd::new("/sbin/mke2fs").arg("-q").chroot("/sysroot");
        assert_eq!(c.render(), "chroot /sysroot /sbin/mke2fs -q");
        assert_eq!(c.root, Some(PathBuf::from("/sysroot")));
    }

    #[test]
    fn child_starts_with_an_empty_signal_mask() {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal};
        use nix::sys::wait::{waitpid, WaitStatus};
        let mut set = SigSet::empty();
        set.add(Signal::SIGUSR1);
        set.add(Signal::SIGTERM);
        let mut old = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
            .unwrap();
        let cmd = Cmd::new("/bin/sh")
            .arg("-c")
            .arg("grep -q '^SigBlk:[[:space:]]*0*$' /proc/self/status");
        let pid = spawn(&cmd);
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None).unwrap();
        let status = waitpid(pid.unwrap(), None).unwrap();
        assert!(
            matches!(status, WaitStatus::Exited(_, 0)),
            "child saw a blocked signal: {status:?}"
        );
    }

    #[test]
    fn spawn_failure_names_the_command() {
        let err = spawn(&Cmd::new("/nonexistent/program").arg("x")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot start /nonexistent/program x:"),
            "{text}"
        );
    }
}
