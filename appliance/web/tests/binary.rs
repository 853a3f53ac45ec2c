//! The `appliance-web` binary itself: it serves the files it was given,
//! SIGHUP makes it serve rewritten ones, and a missing file stops it with
//! a message that names the file.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The running binary; killed when dropped.
struct Service {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// The next stderr line that contains `what`, within 20 s.
    fn line_with(&self, what: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line with {what:?} on stderr"));
            if line.contains(what) {
                return line;
            }
        }
    }
}

#[allow(clippy::disallowed_methods)] // the test runs the crate's own binary
fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_appliance-web"));
    c.args(args);
    c
}

fn start(args: &[&str]) -> Service {
    let mut child = command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start appliance-web");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Service { child, lines }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_makes_the_binary_serve_the_rewritten_certificate() {
    let dir = support::temp_dir("binary-hup");
    let (cert, key) = support::write_pair(&dir);
    let service = start(&[
        "--listen",
        "127.0.0.1:0",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let line = service.line_with("serving https://");
    let addr: SocketAddr = line
        .split("https://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let before = support::get(Ipv4Addr::LOCALHOST, addr, "/").await.unwrap();
    assert_eq!(before.status, "HTTP/1.1 200 OK");
    assert!(
        line.contains(&before.cert_sha256),
        "the start line names the served certificate"
    );
    assert!(before.text.contains(&before.cert_sha256));

    support::write_pair(&dir);
    let pid = nix::unistd::Pid::from_raw(service.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    let reloaded = service.line_with("certificate reloaded");

    let after = support::get(Ipv4Addr::LOCALHOST, addr, "/").await.unwrap();
    assert_ne!(after.cert_sha256, before.cert_sha256);
    assert!(reloaded.contains(&after.cert_sha256), "{reloaded}");
    assert!(after.text.contains(&after.cert_sha256));

    // A broken pair on SIGHUP: the old certificate stays in service.
    std::fs::write(&key, "not a key").unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    let failed = service.line_with("reload failed");
    assert!(failed.contains("key.pem"), "{failed}");
    let still = support::get(Ipv4Addr::LOCALHOST, addr, "/").await.unwrap();
    assert_eq!(still.cert_sha256, after.cert_sha256);
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_key_stops_the_binary_with_the_path_named() {
    let dir = support::temp_dir("binary-missing");
    let (cert, _) = support::write_pair(&dir);
    let missing = dir.join("absent.pem");
    let out = command(&[
        "--listen",
        "127.0.0.1:0",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        missing.to_str().unwrap(),
    ])
    .output()
    .expect("run appliance-web");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot read {}", missing.display())),
        "{stderr}"
    );
    assert!(stderr.contains("appliance-firstboot.service"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_are_refused() {
    for (args, says) in [
        (&["--listen", "nowhere"][..], "can't parse `--listen`"),
        (
            &["--per-client-connections", "0"][..],
            "--per-client-connections must be at least 1",
        ),
        (
            &["--connections", "0"][..],
            "--connections must be at least 1",
        ),
    ] {
        let out = command(args).output().expect("run appliance-web");
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
