//! The one place in this crate that spawns subprocesses (clippy.toml
//! forbids `std::process::Command::new` elsewhere): MariaDB's client tools.
//! Commands are data; a failure carries the command line (no secrets are
//! ever passed on it) and the tail of stderr.

use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Stdio};

/// A subprocess that failed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("`{cmd}` could not be started: {source}")]
    Start { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Failed {
        cmd: String,
        status: String,
        stderr: String,
    },
}

/// A command to run: program and arguments.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
}

/// Where the child's stdout goes.
pub enum Out {
    /// Captured and returned (small outputs: query results).
    Capture,
    /// Into this file (dumps).
    File(File),
}

impl Cmd {
    pub fn new(program: impl Into<OsString>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    /// The command as a shell line.
    pub fn render(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn spawn(&self, stdin: Option<&Path>, stdout: Stdio) -> Result<Child, CmdError> {
        let start = |source| CmdError::Start {
            cmd: self.render(),
            source,
        };
        let stdin = match stdin {
            Some(p) => Stdio::from(File::open(p).map_err(start)?),
            None => Stdio::null(),
        };
        #[allow(clippy::disallowed_methods)] // this module is the one allowed place
        let mut c = std::process::Command::new(&self.program);
        c.args(&self.args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped());
        c.spawn().map_err(start)
    }

    /// Runs the command, stdin from `stdin` (or nothing); returns stdout
    /// when captured. Fails on a non-zero exit with the tail of stderr.
    pub fn run(&self, stdin: Option<&Path>, out: Out) -> Result<String, CmdError> {
        let (stdout, capture) = match out {
            Out::Capture => (Stdio::piped(), true),
            Out::File(f) => (Stdio::from(f), false),
        };
        let child = self.spawn(stdin, stdout)?;
        let output = child.wait_with_output().map_err(|source| CmdError::Start {
            cmd: self.render(),
            source,
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            return Err(CmdError::Failed {
                cmd: self.render(),
                status: output.status.to_string(),
                stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            });
        }
        Ok(if capture {
            String::from_utf8_lossy(&output.stdout).into_owned()
        } else {
            String::new()
        })
    }
}
