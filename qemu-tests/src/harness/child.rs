//! The one place in qemu-tests that starts processes: a running QEMU whose
//! first serial port is our stdin/stdout pipe. Every byte it prints is kept in
//! memory and appended to the scenario's `serial.log` (and, line by line with
//! the seconds since QEMU started, escape sequences removed, to the same name
//! with `.times` added: where a boot spends its time); the VM is killed when
//! the handle is dropped, so a failing test never leaves QEMU behind.
//! [`Daemon`] starts background services the tests need (nginx), with the same
//! kill-on-drop guarantee.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::text::strip_ansi;

/// Writes each complete line it is fed as `seconds text` (seconds since
/// `start`, when the line ended; escape sequences removed).
struct TimedLines<W: Write> {
    out: W,
    start: Instant,
    line: Vec<u8>,
}

impl<W: Write> TimedLines<W> {
    fn new(out: W, start: Instant) -> Self {
        TimedLines {
            out,
            start,
            line: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let at = self.start.elapsed().as_secs_f64();
        for &b in bytes {
            if b == b'\n' {
                let text = strip_ansi(&self.line);
                let _ = writeln!(self.out, "{at:8.3} {}", text.trim_end_matches('\r'));
                self.line.clear();
            } else {
                self.line.push(b);
            }
        }
    }
}

/// A running VM.
pub struct Vm {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<Vec<u8>>>,
    started: Instant,
    /// Offset in the ANSI-stripped output up to which `expect` has consumed.
    cursor: usize,
}

impl Vm {
    /// Starts `program args…`, logging the serial output to `log`.
    pub fn spawn(program: &str, args: &[String], log: &Path) -> Result<Vm> {
        #[allow(clippy::disallowed_methods)] // the one allowed place in this crate
        let mut cmd = std::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| {
            format!("could not start {program} (install qemu-system-x86 and qemu-utils)")
        })?;
        let started = Instant::now();
        let stdin = child.stdin.take();
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut log_file =
            File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut times_path = log.as_os_str().to_owned();
        times_path.push(".times");
        let times_path = std::path::PathBuf::from(times_path);
        let mut times = TimedLines::new(
            File::create(&times_path)
                .with_context(|| format!("creating {}", times_path.display()))?,
            started,
        );
        if let Some(mut out) = child.stdout.take() {
            let sink = Arc::clone(&output);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let _ = log_file.write_all(&buf[..n]);
                    times.feed(&buf[..n]);
                    if let Ok(mut o) = sink.lock() {
                        o.extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
        if let Some(mut err) = child.stderr.take() {
            let sink = Arc::clone(&output);
            thread::spawn(move || {
                let mut text = Vec::new();
                let _ = err.read_to_end(&mut text);
                if !text.is_empty() {
                    if let Ok(mut o) = sink.lock() {
                        o.extend_from_slice(b"\n[qemu stderr] ");
                        o.extend_from_slice(&text);
                    }
                }
            });
        }
        Ok(Vm {
            child,
            stdin,
            output,
            started,
            cursor: 0,
        })
    }

    /// QEMU's process id (for reading its CPU time in `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills QEMU at once (SIGKILL: the guest gets no chance to write
    /// anything, as in a power cut) and waits until it is gone, so its
    /// disk can be used again.
    pub fn kill(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill().context("killing QEMU")?;
        }
        self.child.wait().context("waiting for the killed QEMU")?;
        Ok(())
    }

    /// Time since the VM was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything printed so far, escape sequences removed.
    pub fn text(&self) -> String {
        match self.output.lock() {
            Ok(o) => strip_ansi(&o),
            Err(_) => String::new(),
        }
    }

    /// Waits until `needle` appears after the previous match; returns the text
    /// from the previous match up to and including this one.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text();
            let from = self.cursor.min(text.len());
            if let Some(pos) = text[from..].find(needle) {
                let end = from + pos + needle.len();
                self.cursor = end;
                return Ok(text[from..end].to_string());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "QEMU exited ({status}) before printing {needle:?}; last output:\n{}",
                    last_lines(&text, 25)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{needle:?} did not appear within {:?}; last output:\n{}",
                    timeout,
                    last_lines(&text, 25)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fails when QEMU has already exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "QEMU exited ({status}); last output:\n{}",
                last_lines(&self.text(), 25)
            );
        }
        Ok(())
    }

    /// Types `bytes` on the first serial port.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the VM's serial input is closed")?;
        stdin.write_all(bytes)?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits for QEMU to exit on its own (power off, or reboot with -no-reboot).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "QEMU still running {:?} after the power-off request; last output:\n{}",
                    timeout,
                    last_lines(&self.text(), 25)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A background service (e.g. nginx) whose stdout and stderr go to a log
/// file; killed when dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `program args…` with stdin closed and stdout + stderr appended to `log`.
    pub fn spawn(program: &str, args: &[String], log: &Path) -> Result<Daemon> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("creating {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("duplicating {}", log.display()))?;
        #[allow(clippy::disallowed_methods)] // the one allowed place in this crate
        let mut cmd = std::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .with_context(|| format!("could not start {program} {}", args.join(" ")))?;
        Ok(Daemon { child })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs a host tool to its end and returns its standard output; fails with
/// its standard error when it fails, and names `package` when it is
/// missing (a missing tool is an error, never a skip).
pub fn tool(program: &str, args: &[&str], package: &str) -> Result<Vec<u8>> {
    let out = tool_output(program, args, package)?;
    if !out.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Runs a host tool and returns its exit status and output, whatever the
/// status (for tools whose failure is an answer, such as `radtest`'s
/// reject); a missing tool is still an error naming `package`.
pub fn tool_output(program: &str, args: &[&str], package: &str) -> Result<std::process::Output> {
    #[allow(clippy::disallowed_methods)] // the one allowed place in this crate
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    cmd.output()
        .with_context(|| format!("could not run {program} (install {package})"))
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_consumes_in_order_and_times_out() {
        let dir = std::env::temp_dir().join(format!("qt-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let args = vec![
            "-c".to_string(),
            "printf 'one\\r\\n\\033[1mtwo\\033[0m\\n'; read x; echo got-$x".to_string(),
        ];
        let mut vm = Vm::spawn("sh", &args, &dir.join("serial.log")).unwrap();
        assert!(vm
            .expect("one", Duration::from_secs(5))
            .unwrap()
            .ends_with("one"));
        vm.expect("two", Duration::from_secs(5)).unwrap();
        let err = vm
            .expect("one", Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not appear"), "{err}");
        vm.send(b"key\n").unwrap();
        vm.expect("got-key", Duration::from_secs(5)).unwrap();
        assert!(vm.wait_exit(Duration::from_secs(5)).unwrap().success());
        let log = std::fs::read(dir.join("serial.log")).unwrap();
        assert!(
            log.starts_with(b"one\r\n\x1b[1mtwo"),
            "the log keeps raw bytes"
        );
        let times = std::fs::read_to_string(dir.join("serial.log.times")).unwrap();
        let lines: Vec<(f64, &str)> = times
            .lines()
            .map(|l| {
                let (t, text) = l.trim_start().split_once(' ').unwrap();
                (t.parse().unwrap(), text)
            })
            .collect();
        let texts: Vec<&str> = lines.iter().map(|l| l.1).collect();
        assert_eq!(texts, ["one", "two", "got-key"], "{times}");
        assert!(lines.windows(2).all(|w| w[0].0 <= w[1].0), "{times}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timed_lines_split_across_reads_get_the_time_of_their_end() {
        let start = Instant::now() - Duration::from_secs(2);
        let mut t = TimedLines::new(Vec::new(), start);
        t.feed(b"ab");
        t.feed(b"c\r\n\x1b[1mde");
        t.feed(b"f\n tail");
        let out = String::from_utf8(t.out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines[0].ends_with(" abc") && lines[1].ends_with(" def"),
            "{out}"
        );
        let secs: f64 = lines[0]
            .trim_start()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((2.0..60.0).contains(&secs), "{out}");
    }

    #[test]
    fn tools_give_their_output_and_their_failures() {
        assert_eq!(tool("sh", &["-c", "echo hi"], "dash").unwrap(), b"hi\n");
        let err = format!(
            "{:#}",
            tool("sh", &["-c", "echo bad >&2; exit 3"], "dash").unwrap_err()
        );
        assert!(err.contains("bad") && err.contains('3'), "{err}");
        let err = format!(
            "{:#}",
            tool("no-such-tool-here", &[], "a-package").unwrap_err()
        );
        assert!(err.contains("install a-package"), "{err}");
    }
}
