//! The nginx harness against a real nginx (Debian package nginx-light): TLS
//! with a CA generated here, static files, Range requests, plain 404s, the
//! access log, and no nginx left behind after drop. Fails (does not skip)
//! when nginx is not installed.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;
use common::{free_port, tls};

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use qemu_tests::nginx::{Nginx, NginxConfig};

#[test]
#[ignore = "needs nginx"]
fn serves_files_ranges_and_404_over_tls() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nginx-harness");
    let _ = fs::remove_dir_all(&dir);
    let root = dir.join("root");
    fs::create_dir_all(root.join("dists")).unwrap();
    let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    fs::write(root.join("dists/Release"), &body).unwrap();
    let (ca_pem, cert, key) = tls(&dir);

    let listen = free_port();
    let nginx = Nginx::start(&NginxConfig {
        root: root.clone(),
        cert,
        key,
        listen,
        work_dir: dir.join("work"),
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(nginx.base_url(), format!("https://{listen}"));

    let client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("{}/dists/Release", nginx.base_url());

    let r = client.get(&url).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), body.as_slice());

    let r = client
        .get(&url)
        .header("Range", "bytes=1000-1099")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        "bytes 1000-1099/5000"
    );
    assert_eq!(r.bytes().unwrap().as_ref(), &body[1000..1100]);

    let r = client
        .get(format!("{}/dists/missing", nginx.base_url()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().unwrap(), "not found\n");

    // A directory is not listed.
    let r = client
        .get(format!("{}/dists/", nginx.base_url()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);

    let requests = nginx
        .requests_at_least(4, std::time::Duration::from_secs(5))
        .unwrap();
    let seen: Vec<_> = requests
        .iter()
        .map(|e| (e.uri.as_str(), e.status, e.range.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("/dists/Release", 200, None),
            ("/dists/Release", 206, Some("bytes=1000-1099")),
            ("/dists/missing", 404, None),
            ("/dists/", 404, None),
        ],
        "access log:\n{}",
        nginx.access_log().unwrap()
    );
    assert_eq!(requests[1].bytes, 100);

    drop(nginx);
    assert!(
        TcpStream::connect_timeout(&listen, Duration::from_secs(1)).is_err(),
        "nginx is gone after drop"
    );
}

#[test]
#[ignore = "needs nginx"]
fn a_busy_port_fails_with_the_error_log() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nginx-busy");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("root")).unwrap();
    let (_, cert, key) = tls(&dir);
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Nginx::start(&NginxConfig {
        root: dir.join("root"),
        cert,
        key,
        listen: busy.local_addr().unwrap(),
        work_dir: dir.join("work"),
    })
    .err()
    .expect("the port is taken");
    let msg = format!("{err:#}");
    assert!(msg.contains("nginx exited"), "{msg}");
    assert!(msg.contains("Address already in use"), "{msg}");
}
