//! Where the passphrase comes from: never the command line (it would be in
//! `ps` and the shell's history). A prompt on the terminal (echo off;
//! twice when a backup is written), a file descriptor (the web service
//! passes it through a pipe), or an environment variable (tests).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};

use appliance_backup::SecretString;
use nix::sys::termios::{self, LocalFlags, SetArg};

use crate::Error;

/// The passphrase source chosen on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Prompt,
    Fd(u32),
    Env(String),
}

/// One line from a reader, without its line end.
fn first_line(r: impl std::io::Read, what: &str) -> Result<String, Error> {
    let mut line = String::new();
    BufReader::new(r)
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("{what}: cannot read the passphrase: {e}")))?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

fn prompt(tty: &mut File, text: &str) -> Result<String, Error> {
    let err = |e: std::io::Error| Error::Usage(format!("the terminal: {e}"));
    let old = termios::tcgetattr(&*tty).map_err(|e| Error::Usage(format!("the terminal: {e}")))?;
    let mut quiet = old.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    termios::tcsetattr(&*tty, SetArg::TCSANOW, &quiet)
        .map_err(|e| Error::Usage(format!("the terminal: {e}")))?;
    let result = (|| {
        tty.write_all(text.as_bytes()).map_err(err)?;
        tty.flush().map_err(err)?;
        first_line(tty.try_clone().map_err(err)?, "the terminal")
    })();
    let _ = termios::tcsetattr(&*tty, SetArg::TCSANOW, &old);
    result
}

/// Reads the passphrase; `twice` asks a second time at a prompt and
/// refuses when the two differ. An empty passphrase is refused.
pub fn read(source: &Source, twice: bool) -> Result<SecretString, Error> {
    let text = match source {
        Source::Env(var) => std::env::var(var).map_err(|_| {
            Error::Usage(format!(
                "--passphrase-env: the environment variable {var} is not set"
            ))
        })?,
        Source::Fd(fd) => {
            let path = format!("/dev/fd/{fd}");
            let f = File::open(&path).map_err(|e| {
                Error::Usage(format!(
                    "--passphrase-fd {fd}: not an open descriptor ({e})"
                ))
            })?;
            first_line(f, "--passphrase-fd")?
        }
        Source::Prompt => {
            let mut tty = OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
                .map_err(|e| {
                    Error::Usage(format!(
                        "no terminal to ask for the passphrase ({e}); use --passphrase-fd N"
                    ))
                })?;
            let a = prompt(&mut tty, "Backup passphrase: ")?;
            if twice {
                let b = prompt(&mut tty, "The same passphrase again: ")?;
                if a != b {
                    return Err(Error::Usage(
                        "the two passphrases differ; nothing was written".into(),
                    ));
                }
            }
            a
        }
    };
    if text.is_empty() {
        return Err(Error::Usage("the passphrase is empty".into()));
    }
    Ok(SecretString::from(text))
}
