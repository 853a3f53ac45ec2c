//! The one place in xtask that spawns subprocesses (clippy.toml forbids
//! `std::process::Command::new` elsewhere). Commands are data: they render to a
//! copy-pasteable string, and failures carry that string plus the tail of stderr.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context, Result};

/// A command to run: program, arguments, extra environment, working directory.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// What a finished command printed, with stdout kept byte for byte (binary output).
#[derive(Debug)]
pub struct RawOutput {
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Cmd {
    pub fn new(program: impl Into<OsString>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cmd {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The command as a shell line a person can paste.
    pub fn render(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(dir) = &self.cwd {
            parts.push(format!("cd {} &&", quote(&dir.to_string_lossy())));
        }
        for (k, v) in &self.env {
            parts.push(format!(
                "{}={}",
                k.to_string_lossy(),
                quote(&v.to_string_lossy())
            ));
        }
        parts.push(quote(&self.program.to_string_lossy()));
        parts.extend(self.args.iter().map(|a| quote(&a.to_string_lossy())));
        parts.join(" ")
    }

    fn command(&self) -> std::process::Command {
        #[allow(clippy::disallowed_methods)] // this module is the one allowed place
        let mut c = std::process::Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            c.current_dir(dir);
        }
        c
    }

    /// Runs the command with inherited stdio; fails on a non-zero exit.
    pub fn run(&self) -> Result<()> {
        eprintln!("$ {}", self.render());
        let status = self
            .command()
            .status()
            .with_context(|| not_started(&self.program, &self.render()))?;
        if !status.success() {
            bail!("`{}` failed: {}", self.render(), status);
        }
        Ok(())
    }

    /// Runs the command capturing its output; fails on a non-zero exit with the
    /// tail of stderr in the message.
    pub fn read(&self) -> Result<Output> {
        let raw = self.read_raw()?;
        Ok(Output {
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: raw.stderr,
        })
    }

    /// Like [`Cmd::read`], but keeps stdout as bytes (for binary output).
    pub fn read_raw(&self) -> Result<RawOutput> {
        let out = self
            .command()
            .stdin(Stdio::null())
            .output()
            .with_context(|| not_started(&self.program, &self.render()))?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!(
                "`{}` failed: {}\n{}",
                self.render(),
                out.status,
                tail(&stderr, 20)
            );
        }
        Ok(RawOutput {
            stdout: out.stdout,
            stderr,
        })
    }
}

impl Cmd {
    /// This command run by `wrapper` (e.g. `/usr/bin/time -o FILE`): the
    /// wrapper's program and arguments first, then this command's.
    pub fn under(self, wrapper: Cmd) -> Cmd {
        let mut args = wrapper.args;
        args.push(self.program);
        args.extend(self.args);
        let mut env = wrapper.env;
        env.extend(self.env);
        Cmd {
            program: wrapper.program,
            args,
            env,
            cwd: self.cwd.or(wrapper.cwd),
        }
    }

    /// Runs the command with `input` on its stdin, capturing its output;
    /// fails on a non-zero exit with the tail of stderr and stdout.
    pub fn read_with_input(&self, input: &[u8]) -> Result<Output> {
        use std::io::Write;
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| not_started(&self.program, &self.render()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input)?;
        }
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!(
                "`{}` failed: {}\n{}\n{}",
                self.render(),
                out.status,
                tail(&stdout, 10),
                tail(&stderr, 10)
            );
        }
        Ok(Output { stdout, stderr })
    }
}

/// A background process started by [`Cmd::spawn`]: killed and reaped on
/// drop, its output in a log file.
pub struct Background {
    child: std::process::Child,
    pub rendered: String,
}

impl Background {
    /// Whether it is still running (an exited process is reported with
    /// its status).
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("`{}` exited early: {status}", self.rendered);
        }
        Ok(())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cmd {
    /// Starts the command in the background, stdout and stderr appended to
    /// `log` (servers a benchmark runs against).
    pub fn spawn(&self, log: &Path) -> Result<Background> {
        eprintln!("$ {} &  (log: {})", self.render(), log.display());
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let err = out.try_clone()?;
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| not_started(&self.program, &self.render()))?;
        Ok(Background {
            child,
            rendered: self.render(),
        })
    }
}

fn not_started(program: &OsString, rendered: &str) -> String {
    format!(
        "could not start `{}` (is `{}` installed? `.ci/run` and the README set-up install the tools)",
        rendered,
        program.to_string_lossy()
    )
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_copy_pasteable_line() {
        let c = Cmd::new("apt-get")
            .arg("download")
            .arg("shim-signed=1.51~1+deb12u1")
            .arg("it's")
            .env("LC_ALL", "C")
            .cwd("/tmp/x y");
        assert_eq!(
            c.render(),
            "cd '/tmp/x y' && LC_ALL=C apt-get download 'shim-signed=1.51~1+deb12u1' 'it'\\''s'"
        );
    }

    #[test]
    fn missing_program_is_named() {
        let err = Cmd::new("no-such-tool-xyz").read().unwrap_err();
        assert!(
            format!("{err:#}").contains("is `no-such-tool-xyz` installed?"),
            "{err:#}"
        );
    }

    #[test]
    fn raw_output_keeps_bytes() {
        let out = Cmd::new("printf").arg(r"\377\000b").read_raw().unwrap();
        assert_eq!(out.stdout, vec![0xFF, 0x00, b'b']);
    }

    #[test]
    fn failure_carries_stderr_tail() {
        let err = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .read()
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("boom") && msg.contains("exit status: 3"),
            "{msg}"
        );
    }
}
