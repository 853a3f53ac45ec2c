//! The one place in this crate that spawns subprocesses (clippy.toml
//! forbids `std::process::Command::new` elsewhere): `systemctl`,
//! `cp`, the image's `freeradius -XC`, `hostname`, `date` and `appliance-otp`.
//! Commands are data; a failure carries the command line (no secret is
//! ever passed on it) and the tail of its output.

use std::ffi::OsString;
use std::process::Stdio;

/// A subprocess that failed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The program could not be started (missing, not executable).
    #[error("`{cmd}` could not be started: {source}")]
    Start {
        /// The command line.
        cmd: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The program ran and failed.
    #[error("`{cmd}` failed ({status}): {output}")]
    Failed {
        /// The command line.
        cmd: String,
        /// Exit status.
        status: String,
        /// The last lines of stdout and stderr.
        output: String,
    },
}

/// A command to run: program, arguments, extra environment.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

/// Lines of output a failure keeps.
const TAIL_LINES: usize = 15;

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

impl Cmd {
    /// `program` with no arguments.
    pub fn new(program: impl Into<OsString>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cmd {
        self.env.push((key.into(), value.into()));
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

    /// Runs the command to its end; returns stdout and stderr together.
    /// Fails on a non-zero exit with the tail of the output.
    pub fn run(&self) -> Result<String, CmdError> {
        #[allow(clippy::disallowed_methods)] // this module is the one allowed place
        let mut c = std::process::Command::new(&self.program);
        c.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        let out = c.output().map_err(|source| CmdError::Start {
            cmd: self.render(),
            source,
        })?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            Ok(text)
        } else {
            Err(CmdError::Failed {
                cmd: self.render(),
                status: out.status.to_string(),
                output: tail(&text),
            })
        }
    }
}

/// `systemctl <verb> <units…>`.
pub fn systemctl(verb: &str, units: &[&str]) -> Result<String, CmdError> {
    let mut c = Cmd::new("systemctl").arg(verb);
    for u in units {
        c = c.arg(*u);
    }
    c.run()
}
