//! The real [`Terminal`]: stdout and stdin of the UI child, which are the
//! console it attached to. A closed input never ends the flow: the UI waits
//! a second and reads again, as a console can come back.
//!
//! Secret input (the serial number) switches the terminal's echo and line
//! editing off (termios) and reads byte by byte, showing one `*` per
//! character; Backspace and Ctrl-U edit. The typed text then never reaches
//! the console's output, which on a serial console is a transcript anyone
//! on the line (or the BMC's serial-over-LAN) can read.

use crate::flow::Terminal;
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use std::io::{BufRead, Read, Write};
use std::time::Duration;

/// The console as the flow's terminal.
#[derive(Default)]
pub struct ConsoleTerm {
    eof_reported: bool,
    /// The settings to restore when secret input ends (`Some`: echo is off).
    saved: Option<Termios>,
}

impl std::fmt::Debug for ConsoleTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleTerm")
            .field("eof_reported", &self.eof_reported)
            .field("secret", &self.saved.is_some())
            .finish()
    }
}

/// What one typed byte does to a secret line being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// The line is complete.
    Enter,
    /// Remove the last character.
    Erase,
    /// Remove everything typed.
    Kill,
    /// Part of the text.
    Text(u8),
    /// Ignored (other control characters).
    Ignore,
}

fn key(b: u8) -> Key {
    match b {
        b'\r' | b'\n' => Key::Enter,
        0x7f | 0x08 => Key::Erase,
        0x15 => Key::Kill,
        b if b < 0x20 => Key::Ignore,
        b => Key::Text(b),
    }
}

/// A UTF-8 byte that continues a character (no `*` of its own).
fn continues(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Applies one key to `line`; returns what to show and whether the line is
/// complete.
fn edit(line: &mut Vec<u8>, k: Key) -> (String, bool) {
    match k {
        Key::Enter => ("\n".into(), true),
        Key::Erase => {
            let mut shown = String::new();
            while let Some(b) = line.pop() {
                if !continues(b) {
                    shown.push_str("\x08 \x08");
                    break;
                }
            }
            (shown, false)
        }
        Key::Kill => {
            let chars = line.iter().filter(|b| !continues(**b)).count();
            line.clear();
            ("\x08 \x08".repeat(chars), false)
        }
        Key::Text(b) => {
            line.push(b);
            (if continues(b) { "" } else { "*" }.into(), false)
        }
        Key::Ignore => (String::new(), false),
    }
}

impl ConsoleTerm {
    fn wait_for_input(&mut self) {
        if !self.eof_reported {
            crate::log::warn("console input closed; waiting for input");
            self.eof_reported = true;
        }
        std::thread::sleep(Duration::from_secs(1));
    }

    /// Reads a line byte by byte with echo off, showing `*`s.
    fn read_secret(&mut self) -> String {
        let stdin = std::io::stdin();
        let mut line = Vec::new();
        loop {
            let mut b = [0u8; 1];
            let n = stdin.lock().read(&mut b);
            match n {
                Ok(1) => {
                    self.eof_reported = false;
                    let (shown, done) = edit(&mut line, key(b[0]));
                    self.show(&shown);
                    if done {
                        return String::from_utf8_lossy(&line).into_owned();
                    }
                }
                Ok(_) | Err(_) => self.wait_for_input(),
            }
        }
    }
}

impl Terminal for ConsoleTerm {
    fn show(&mut self, text: &str) {
        let mut out = std::io::stdout();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn read_line(&mut self) -> Option<String> {
        if self.saved.is_some() {
            return Some(self.read_secret());
        }
        let stdin = std::io::stdin();
        loop {
            let mut buf = Vec::new();
            match stdin.lock().read_until(b'\n', &mut buf) {
                Ok(n) if n > 0 => {
                    self.eof_reported = false;
                    let line = String::from_utf8_lossy(&buf);
                    return Some(line.trim_end_matches(['\r', '\n']).to_string());
                }
                Ok(_) | Err(_) => self.wait_for_input(),
            }
        }
    }

    fn set_secret(&mut self, on: bool) {
        let stdin = std::io::stdin();
        if !on {
            if let Some(t) = self.saved.take() {
                if let Err(e) = termios::tcsetattr(&stdin, SetArg::TCSANOW, &t) {
                    crate::log::warn(&format!("cannot switch the console echo back on: {e}"));
                }
            }
            return;
        }
        if self.saved.is_some() {
            return;
        }
        // Not a terminal (a pipe in tests): nothing echoes anyway.
        let Ok(t) = termios::tcgetattr(&stdin) else {
            return;
        };
        let mut quiet = t.clone();
        quiet
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ECHONL | LocalFlags::ICANON);
        quiet.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        quiet.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        match termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet) {
            Ok(()) => self.saved = Some(t),
            Err(e) => crate::log::warn(&format!("cannot switch the console echo off: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(bytes: &[u8]) -> (String, String) {
        let mut line = Vec::new();
        let mut shown = String::new();
        for &b in bytes {
            let (s, done) = edit(&mut line, key(b));
            shown.push_str(&s);
            if done {
                break;
            }
        }
        (String::from_utf8_lossy(&line).into_owned(), shown)
    }

    #[test]
    fn secret_input_shows_stars_only() {
        let (line, shown) = typed(b"7K3M-Q9TD\r");
        assert_eq!(line, "7K3M-Q9TD");
        assert_eq!(shown, "*********\n");
    }

    #[test]
    fn backspace_and_ctrl_u_edit_the_secret_line() {
        let (line, shown) = typed(b"AB\x7fC\x08D\n");
        assert_eq!(line, "AD");
        assert_eq!(shown, "**\x08 \x08*\x08 \x08*\n");
        let (line, shown) = typed(b"ABC\x15XY\x1b\n");
        assert_eq!(line, "XY");
        assert_eq!(shown, "***\x08 \x08\x08 \x08\x08 \x08**\n");
        // A two-byte character is one star and one erase.
        let (line, shown) = typed("aä\x7f\r".as_bytes());
        assert_eq!(line, "a");
        assert_eq!(shown, "**\x08 \x08\n");
    }
}
