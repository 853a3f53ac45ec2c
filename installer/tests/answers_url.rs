//! Fetching the answer file from `installer.answers=http://...`: DHCP and
//! apply on the chosen adapter first, then the fetch from a local HTTP
//! server, the SHA-256 check, and errors naming the parameter. A file over
//! plain http without `installer.answers_sha256=` is refused unfetched.

mod support;

use installer::answers::source::load;
use installer::answers::Origin;
use installer::cmdline::KernelCmdline;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use support::{iface, slirp_lease, FakeNet};

const ANSWERS: &str = r#"{"version": 1, "network": {"mode": "dhcp"}, "keyboard": "de"}"#;

/// Serves `status` and `body` to every request on 127.0.0.1; returns the port.
fn serve(status: &'static str, body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().expect("local address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            // Read the request head up to the empty line.
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            let mut s = reader.into_inner();
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn net() -> FakeNet {
    let mut n = FakeNet::with(&["eth0", "eth1"]);
    n.interfaces[0].link = Some(false);
    n.leases.push_back(Ok(slirp_lease("eth1")));
    n
}

fn temp_root(label: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("installer-url-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("create the fake root");
    p
}

#[test]
fn the_url_is_fetched_after_dhcp_on_the_adapter_with_link() {
    let port = serve("200 OK", ANSWERS);
    let sha: String = Sha256::digest(ANSWERS.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cmdline = KernelCmdline::parse(&format!(
        "installer.answers=http://127.0.0.1:{port}/answers.json installer.answers_sha256={sha}"
    ));
    let mut n = net();
    let mut lines = Vec::new();
    let got = load(&temp_root("ok"), &cmdline, &mut n, &mut |l| {
        lines.push(l.to_string())
    });
    let loaded = got.expect("a source").expect("a valid file");
    assert_eq!(
        loaded.source,
        format!("installer.answers=http://127.0.0.1:{port}/answers.json")
    );
    assert_eq!(loaded.file.keyboard.as_deref(), Some("de"));
    assert_eq!(loaded.origin, Origin::Network);
    assert_eq!(n.dhcp_calls, ["eth1"], "eth0 has no link");
    assert_eq!(n.applied.len(), 1, "the lease is applied before fetching");
    assert!(
        lines.iter().any(|l| l.contains("configuring eth1 by DHCP")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| *l == format!("  fetched {} bytes", ANSWERS.len())),
        "{lines:?}"
    );
}

#[test]
fn a_hash_mismatch_is_an_error_naming_the_parameter() {
    let port = serve("200 OK", ANSWERS);
    let cmdline = KernelCmdline::parse(&format!(
        "installer.answers=http://127.0.0.1:{port}/a.json installer.answers_sha256={} installer.answers_interface=eth0",
        "0".repeat(64)
    ));
    let mut n = net();
    let rejected = load(&temp_root("sha"), &cmdline, &mut n, &mut |_| {})
        .expect("a source")
        .expect_err("the hash differs");
    assert_eq!(n.dhcp_calls, ["eth0"], "installer.answers_interface wins");
    assert_eq!(rejected.errors.len(), 1);
    let e = &rejected.errors[0];
    assert_eq!(e.key, "installer.answers_sha256");
    assert!(e.message.starts_with(&format!(
        "the file at http://127.0.0.1:{port}/a.json has SHA-256 "
    )));
}

#[test]
fn not_found_is_reported_at_once_and_dhcp_failure_names_the_adapter() {
    let port = serve("404 Not Found", "no");
    let cmdline = KernelCmdline::parse(&format!(
        "installer.answers=http://127.0.0.1:{port}/missing.json installer.answers_sha256={}",
        "0".repeat(64)
    ));
    let started = std::time::Instant::now();
    let rejected = load(&temp_root("404"), &cmdline, &mut net(), &mut |_| {})
        .expect("a source")
        .expect_err("404");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "no retries on 404"
    );
    assert_eq!(
        rejected.errors[0].to_string(),
        format!("installer.answers: http://127.0.0.1:{port}/missing.json answered 404 Not Found")
    );

    let mut failing = FakeNet::with(&["eth0"]);
    failing.interfaces = vec![iface("eth0")];
    let rejected = load(&temp_root("nodhcp"), &cmdline, &mut failing, &mut |_| {})
        .expect("a source")
        .expect_err("no lease");
    assert_eq!(
        rejected.errors[0].to_string(),
        format!(
            "installer.answers: cannot fetch http://127.0.0.1:{port}/missing.json: DHCP on eth0 failed: no scripted lease; script one"
        )
    );
    assert!(failing.applied.is_empty());
}

#[test]
fn an_unpinned_http_file_is_refused_without_touching_the_network() {
    let port = serve(
        "200 OK",
        r#"{"version": 1, "disk": {"path": "/dev/sdb"}, "erase_disk": true}"#,
    );
    let cmdline = KernelCmdline::parse(&format!(
        "installer.answers=http://user:pw@127.0.0.1:{port}/a.json?token=t0ken installer.unattended"
    ));
    let mut n = net();
    let rejected = load(&temp_root("unpinned"), &cmdline, &mut n, &mut |_| {})
        .expect("a source")
        .expect_err("not authenticated");
    assert!(n.dhcp_calls.is_empty() && n.applied.is_empty());
    assert_eq!(
        rejected.source,
        format!("installer.answers=http://***@127.0.0.1:{port}/a.json?***")
    );
    assert_eq!(rejected.errors.len(), 1);
    let e = &rejected.errors[0];
    assert_eq!(e.key, "installer.answers");
    assert_eq!(
        e.message,
        format!(
            "http://***@127.0.0.1:{port}/a.json?*** is not authenticated: add \
             installer.answers_sha256=<SHA-256 of the file>, or serve it over https with a \
             certificate from the vendor CA (or one pinned with \
             installer.answers_cert_sha256=<SHA-256 of the certificate>)"
        )
    );
}
