//! QEMU's human monitor on a Unix socket ([`super::qemu::VmConfig::monitor`]):
//! one command per connection, e.g. `sendkey ctrl-alt-delete`, the keys a
//! person presses on the machine's own keyboard.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The monitor's prompt, after its greeting and after every answer.
const PROMPT: &str = "(qemu) ";

/// Reads until the prompt; returns what came before it.
fn until_prompt(s: &mut UnixStream, deadline: Instant) -> Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(i) = text.rfind(PROMPT) {
            return Ok(text[..i].to_string());
        }
        if Instant::now() >= deadline {
            bail!("the QEMU monitor did not answer: {text:?}");
        }
        match s.read(&mut buf) {
            Ok(0) => bail!("the QEMU monitor closed the connection: {text:?}"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Runs one monitor command on the socket at `path` and returns its
/// answer (QEMU's echo of the command included). Waits up to 10 s for the
/// socket to accept (QEMU creates it when it starts).
pub fn command(path: &Path, cmd: &str) -> Result<String> {
    let mut s = connect(path, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    until_prompt(&mut s, deadline).context("waiting for the monitor's greeting")?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    until_prompt(&mut s, deadline).with_context(|| format!("monitor command {cmd:?}"))
}

/// Connects to the socket, retrying for up to `wait`.
fn connect(path: &Path, wait: Duration) -> Result<UnixStream> {
    let deadline = Instant::now() + wait;
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e).with_context(|| format!("connecting to {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A monitor that greets, reads one line and answers it: the command
    /// goes out whole and the answer is what came before the next prompt.
    #[test]
    fn a_command_gets_the_answer_before_the_next_prompt() {
        let dir = std::env::temp_dir().join(format!("qt-monitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mon.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.write_all(b"QEMU 7.2.0 monitor - type 'help'\r\n(qemu) ")
                .unwrap();
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while c.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
                line.push(b[0]);
            }
            let reply = format!("{}\r\nok\r\n(qemu) ", String::from_utf8(line).unwrap());
            c.write_all(reply.as_bytes()).unwrap();
        });
        let answer = command(&path, "sendkey ctrl-alt-delete").unwrap();
        assert_eq!(answer, "sendkey ctrl-alt-delete\r\nok\r\n");
        server.join().unwrap();
        let none = dir.join("none.sock");
        let err = format!(
            "{:#}",
            connect(&none, Duration::from_millis(300)).unwrap_err()
        );
        assert!(err.contains("none.sock"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
