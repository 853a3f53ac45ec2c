//! The executor: carries out a [`Plan`] (asks its question, runs its
//! action) and reads lines in a loop. Its effects go through a
//! [`Runner`] (processes) and the support file's writer; its input and
//! output are any reader and writer, so tests drive it with strings.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use appliance_config::fsutil::under;

use crate::parse::{self, Command};
use crate::plan::{self, Action, Invocation, Plan};
use crate::status;
use crate::support::{self, Entry};
use crate::sys::{Runner, SysError};

/// A command that did not do what it should.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("writing the support file in {dir}: {source}")]
    Support { dir: String, source: io::Error },
    #[error("the terminal: {0}")]
    Terminal(#[from] io::Error),
}

/// What comes after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next line.
    Continue,
    /// Leave the console.
    Exit,
}

/// How `date` prints the time for `status`.
pub const DATE_FORMAT: &str = "+%Y-%m-%d %H:%M:%S %Z (UTC%:z)";
/// How many journal lines of this boot the support file takes.
pub const JOURNAL_LINES: &str = "5000";

/// The console: a root directory (`/` on the appliance), a terminal and
/// the system.
pub struct Console<R, W, S> {
    pub root: PathBuf,
    pub input: R,
    pub out: W,
    pub sys: S,
}

impl<R: BufRead, W: Write, S: Runner> Console<R, W, S> {
    /// Asks a yes/no question; no (and end of input) unless `y`/`yes`.
    fn confirm(&mut self, question: &str) -> Result<bool, ExecError> {
        write!(self.out, "{question} [y/N] ")?;
        self.out.flush()?;
        let mut answer = Vec::new();
        if self.input.read_until(b'\n', &mut answer)? == 0 {
            writeln!(self.out)?;
            return Ok(false);
        }
        Ok(plan::is_yes(&String::from_utf8_lossy(&answer)))
    }

    /// Carries out one plan.
    pub fn execute(&mut self, p: &Plan) -> Result<Next, ExecError> {
        if let Some(w) = p.warning {
            writeln!(self.out, "{w}")?;
        }
        if let Some(q) = p.confirm {
            if !self.confirm(q)? {
                writeln!(self.out, "Nothing done.")?;
                return Ok(Next::Continue);
            }
        }
        match &p.action {
            Action::Print(text) => write!(self.out, "{text}")?,
            Action::Status => {
                let text = self.status_text();
                write!(self.out, "{text}")?;
            }
            Action::Run(steps) => {
                for (heading, inv) in steps {
                    if !heading.is_empty() {
                        writeln!(self.out, "{heading}:")?;
                    }
                    self.out.flush()?;
                    self.sys.run(inv)?;
                }
            }
            Action::Support => self.support()?,
            Action::Exec(inv) => {
                // An audit line in the journal; a failure does not stop the shell.
                let _ = self
                    .sys
                    .capture(&plan::audit("root started the unsupported shell"));
                self.out.flush()?;
                return Err(self.sys.exec(inv, &[("SHELL", inv.program)]).into());
            }
            Action::Exit => return Ok(Next::Exit),
        }
        self.out.flush()?;
        Ok(Next::Continue)
    }

    fn status_text(&mut self) -> String {
        let time = self
            .sys
            .capture(&Invocation::new(plan::DATE, &[DATE_FORMAT]))
            .ok()
            .map(|t| t.trim().to_string());
        status::render(&status::gather(&self.root, time))
    }

    /// Gathers, writes and reports the support file.
    fn support(&mut self) -> Result<(), ExecError> {
        writeln!(
            self.out,
            "Collecting status, network, journal and configuration…"
        )?;
        self.out.flush()?;
        let mut notes = Vec::new();
        let mut entries = vec![Entry::text("status.txt", &self.status_text())];
        let captures: [(&str, Invocation); 5] = [
            (
                "network/link.txt",
                Invocation::new(plan::IP, &["-details", "link"]),
            ),
            (
                "network/address.txt",
                Invocation::new(plan::IP, &["address"]),
            ),
            (
                "network/route.txt",
                Invocation::new(plan::IP, &["route", "show", "table", "all"]),
            ),
            (
                "services.txt",
                Invocation::new(plan::SYSTEMCTL, &["--no-pager", "--all", "list-units"]),
            ),
            (
                "journal.txt",
                Invocation::new(
                    plan::JOURNALCTL,
                    &[
                        "--boot",
                        "--no-pager",
                        "--output",
                        "short-iso-precise",
                        "--lines",
                        JOURNAL_LINES,
                    ],
                ),
            ),
        ];
        for (name, inv) in &captures {
            match self.sys.capture(inv) {
                Ok(text) => entries.push(Entry::text(name, &text)),
                Err(e) => notes.push(format!("{name}: {e}")),
            }
        }
        entries.extend(support::config_entries(&self.root, &mut notes));
        if !notes.is_empty() {
            entries.push(Entry::text("notes.txt", &(notes.join("\n") + "\n")));
        }
        let now = time::OffsetDateTime::now_utc();
        let hostname = status::gather(&self.root, None).hostname;
        let dir = under(&self.root, support::SUPPORT_DIR);
        let name = support::file_name(&hostname, now);
        let mtime = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        let written = support::write_bundle(&dir, &name, &entries, mtime).map_err(|source| {
            ExecError::Support {
                dir: dir.display().to_string(),
                source,
            }
        })?;
        writeln!(self.out, "Support file: {}", written.path.display())?;
        writeln!(
            self.out,
            "Size:         {} bytes, {} files",
            written.size,
            entries.len()
        )?;
        writeln!(self.out, "SHA-256:      {}", written.sha256)?;
        for n in &notes {
            writeln!(self.out, "note: {n}")?;
        }
        Ok(())
    }

    /// Parses and carries out one line; errors are written to `err`.
    /// Returns what comes next and whether the line succeeded.
    pub fn line(&mut self, line: &str, err: &mut impl Write) -> (Next, bool) {
        match parse::parse(line) {
            Ok(None) => (Next::Continue, true),
            Ok(Some(cmd)) => self.command(&cmd, err),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                (Next::Continue, false)
            }
        }
    }

    fn command(&mut self, cmd: &Command, err: &mut impl Write) -> (Next, bool) {
        match self.execute(&plan::plan(cmd)) {
            Ok(next) => (next, true),
            Err(e) => {
                let _ = self.out.flush();
                let _ = writeln!(err, "error: {e}");
                (Next::Continue, false)
            }
        }
    }

    /// Reads and runs lines until `exit` or the end of input (Ctrl-D),
    /// showing `prompt` before each when it is given. Returns whether
    /// every line succeeded.
    pub fn run(&mut self, prompt: Option<&str>, err: &mut impl Write) -> bool {
        let mut all_ok = true;
        loop {
            if let Some(p) = prompt {
                let _ = write!(self.out, "{p}");
                let _ = self.out.flush();
            }
            let mut bytes = Vec::new();
            match self.input.read_until(b'\n', &mut bytes) {
                Ok(0) => {
                    if prompt.is_some() {
                        let _ = writeln!(self.out);
                    }
                    return all_ok;
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = writeln!(err, "error: reading the terminal: {e}");
                    return false;
                }
            }
            // Bytes that are not UTF-8 become U+FFFD: an unknown word, not an error of the terminal.
            let line = String::from_utf8_lossy(&bytes);
            let (next, ok) = self.line(&line, err);
            all_ok &= ok;
            if next == Next::Exit {
                return all_ok;
            }
        }
    }
}
