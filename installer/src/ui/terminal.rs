//! The real [`Terminal`]: stdout and stdin of the UI child, which are the
//! console it attached to. A closed input never ends the flow: the UI waits
//! a second and reads again, as a console can come back.

use crate::flow::Terminal;
use std::io::{BufRead, Write};
use std::time::Duration;

/// The console as the flow's terminal.
#[derive(Debug, Default)]
pub struct ConsoleTerm {
    eof_reported: bool,
}

impl Terminal for ConsoleTerm {
    fn show(&mut self, text: &str) {
        let mut out = std::io::stdout();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn read_line(&mut self) -> Option<String> {
        let stdin = std::io::stdin();
        loop {
            let mut buf = Vec::new();
            match stdin.lock().read_until(b'\n', &mut buf) {
                Ok(n) if n > 0 => {
                    self.eof_reported = false;
                    let line = String::from_utf8_lossy(&buf);
                    return Some(line.trim_end_matches(['\r', '\n']).to_string());
                }
                Ok(_) | Err(_) => {
                    if !self.eof_reported {
                        crate::log::warn("console input closed; waiting for input");
                        self.eof_reported = true;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}
