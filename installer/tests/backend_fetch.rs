//! `backend::fetch` against a real nginx (Debian package nginx-light) on
//! loopback, with TEST-ONLY certificates generated here: one nginx serves the
//! same files on several ports, each with a different server certificate.
//! Fails (does not skip) when nginx is missing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use installer::backend::fetch::{CertTime, Client, FetchError, Timeouts};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

const NGINX: &str = "/usr/sbin/nginx";

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(cn: &str) -> Ca {
    let now = OffsetDateTime::from(SystemTime::now());
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    p.not_before = now - time::Duration::days(30);
    p.not_after = now + time::Duration::days(30);
    let key = KeyPair::generate().unwrap();
    let pem = p.self_signed(&key).unwrap().pem();
    Ca {
        pem,
        issuer: Issuer::new(p, key),
    }
}

/// A server certificate signed by `ca`, written as `<name>.pem` / `<name>.key`.
fn server_cert(
    dir: &Path,
    name: &str,
    ca: &Ca,
    sans: &[SanType],
    valid: (OffsetDateTime, OffsetDateTime),
) -> (PathBuf, PathBuf) {
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "TEST ONLY backend");
    p.subject_alt_names = sans.to_vec();
    (p.not_before, p.not_after) = valid;
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    fs::write(&c, cert.pem()).unwrap();
    fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

/// nginx in the foreground, killed on drop.
struct Nginx {
    child: Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Starts nginx serving `root` on each `(port, cert, key)`.
fn start_nginx(work: &Path, root: &Path, servers: &[(u16, PathBuf, PathBuf)]) -> Nginx {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: install the Debian package nginx-light (see .ci/install-deps)"
    );
    fs::create_dir_all(work.join("tmp")).unwrap();
    let w = |f: &str| work.join(f).display().to_string();
    let mut conf = format!(
        "daemon off; master_process off; pid {pid}; error_log {err} info;\n\
         events {{ worker_connections 32; }}\n\
         http {{ access_log {acc}; client_body_temp_path {t}/b; proxy_temp_path {t}/p;\n\
         fastcgi_temp_path {t}/f; uwsgi_temp_path {t}/u; scgi_temp_path {t}/s;\n\
         default_type application/octet-stream;\n",
        pid = w("nginx.pid"),
        err = w("error.log"),
        acc = w("access.log"),
        t = w("tmp"),
    );
    for (port, cert, key) in servers {
        conf += &format!(
            "server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {}; ssl_certificate_key {};\n\
             root {}; location / {{ try_files $uri =404; }}\n\
             location /stream/ {{ ssi on; ssi_types *; }} }}\n",
            cert.display(),
            key.display(),
            root.display()
        );
    }
    conf += "}\n";
    fs::write(work.join("nginx.conf"), conf).unwrap();
    #[allow(clippy::disallowed_methods)] // the test's own nginx
    let child = std::process::Command::new(NGINX)
        .args(["-p", &w(""), "-c", &w("nginx.conf"), "-e", &w("error.log")])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut nginx = Nginx { child };
    let deadline = Instant::now() + Duration::from_secs(15);
    for (port, ..) in servers {
        let addr = SocketAddr::from(([127, 0, 0, 1], *port));
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!(
                    "nginx exited ({status}):\n{}",
                    fs::read_to_string(work.join("error.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    nginx
}

fn short() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_secs(10),
    }
}

#[test]
#[ignore = "needs nginx"]
fn fetch_outcomes_against_nginx() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("backend-fetch");
    let _ = fs::remove_dir_all(&dir);
    let root = dir.join("root");
    fs::create_dir_all(root.join("stream")).unwrap();
    fs::write(root.join("meta.json"), br#"{"ok":true}"#).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    fs::write(root.join("big.bin"), &big).unwrap();
    fs::write(root.join("stream/big.txt"), &big).unwrap();

    let vendor = ca("TEST ONLY vendor CA");
    let other = ca("TEST ONLY unrelated CA");
    let ip = SanType::IpAddress("127.0.0.1".parse().unwrap());
    let now = OffsetDateTime::from(SystemTime::now());
    let days = time::Duration::days;
    let current = (now - days(1), now + days(10));
    let ports = free_ports(5);
    let [good, expired, future, wrong_name, unused] = ports[..] else {
        unreachable!()
    };
    let servers = vec![
        (
            good,
            server_cert(&dir, "good", &vendor, std::slice::from_ref(&ip), current),
        ),
        (
            expired,
            server_cert(
                &dir,
                "expired",
                &vendor,
                std::slice::from_ref(&ip),
                (now - days(20), now - days(10)),
            ),
        ),
        (
            future,
            server_cert(
                &dir,
                "future",
                &vendor,
                std::slice::from_ref(&ip),
                (now + days(10), now + days(20)),
            ),
        ),
        (
            wrong_name,
            server_cert(
                &dir,
                "wrong-name",
                &vendor,
                &[SanType::DnsName("backend.example".try_into().unwrap())],
                current,
            ),
        ),
    ]
    .into_iter()
    .map(|(port, (c, k))| (port, c, k))
    .collect::<Vec<_>>();
    let _nginx = start_nginx(&dir.join("work"), &root, &servers);

    let client = Client::new(vendor.pem.as_bytes(), short()).unwrap();
    let url = |port: u16, path: &str| format!("https://127.0.0.1:{port}{path}");

    // ok
    assert_eq!(
        client.get(&url(good, "/meta.json"), 1024).unwrap(),
        br#"{"ok":true}"#
    );
    assert_eq!(client.get(&url(good, "/big.bin"), 200_000).unwrap(), big);

    // 404
    let u = url(good, "/missing.json");
    let e = client.get(&u, 1024).unwrap_err();
    assert_eq!(e, FetchError::NotFound { url: u.clone() });
    assert!(e.to_string().contains(&u), "{e}");
    assert!(e.hint().contains("path"), "{}", e.hint());

    // body too large: announced by Content-Length …
    let u = url(good, "/big.bin");
    let e = client.get(&u, 1000).unwrap_err();
    assert_eq!(
        e,
        FetchError::TooLarge {
            url: u,
            max_bytes: 1000,
            declared: Some(200_000)
        }
    );
    // … and without one (SSI makes nginx send it chunked): refused while reading.
    let u = url(good, "/stream/big.txt");
    let e = client.get(&u, 1000).unwrap_err();
    assert_eq!(
        e,
        FetchError::TooLarge {
            url: u.clone(),
            max_bytes: 1000,
            declared: None
        },
        "{e}"
    );
    assert_eq!(
        client.get(&u, 200_000).unwrap(),
        big,
        "exactly the limit is fine"
    );

    // wrong CA
    let wrong = Client::new(other.pem.as_bytes(), short()).unwrap();
    let e = wrong.get(&url(good, "/meta.json"), 1024).unwrap_err();
    assert!(matches!(e, FetchError::TlsUntrusted { .. }), "{e:?}");
    assert!(e.to_string().contains("not trusted"), "{e}");
    assert!(e.hint().contains("backend URL"), "{}", e.hint());

    // expired
    let e = client.get(&url(expired, "/meta.json"), 1024).unwrap_err();
    let FetchError::TlsExpired {
        problem:
            CertTime::Expired {
                now: Some(t),
                not_after: Some(na),
            },
        ..
    } = e
    else {
        panic!("expected an expired certificate: {e:?}");
    };
    assert_eq!(na as i64, (now - days(10)).unix_timestamp());
    assert!(t.abs_diff(now.unix_timestamp() as u64) < 60);
    assert!(e.to_string().contains("check the clock"), "{e}");
    assert!(e.hint().contains("It reads"), "{}", e.hint());

    // not yet valid
    let e = client.get(&url(future, "/meta.json"), 1024).unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::TlsExpired {
                problem: CertTime::NotYetValid {
                    not_before: Some(_),
                    ..
                },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.hint().contains("is valid from"), "{}", e.hint());

    // a vendor certificate for another name
    let e = client
        .get(&url(wrong_name, "/meta.json"), 1024)
        .unwrap_err();
    assert!(
        matches!(&e, FetchError::TlsWrongName { host, .. } if host == "127.0.0.1"),
        "{e:?}"
    );

    // nothing listening
    let u = url(unused, "/meta.json");
    let e = client.get(&u, 1024).unwrap_err();
    assert_eq!(e, FetchError::Refused { url: u }, "{e}");

    // plain http is refused before connecting
    let e = client
        .get(&format!("http://127.0.0.1:{good}/meta.json"), 1024)
        .unwrap_err();
    assert!(matches!(e, FetchError::BadUrl { .. }), "{e:?}");
}

#[test]
fn a_silent_server_times_out() {
    // Accepts TCP (the kernel completes the handshake) but never speaks TLS.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let client = Client::new(
        ca("TEST ONLY vendor CA").pem.as_bytes(),
        Timeouts {
            connect: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        },
    )
    .unwrap();
    let started = Instant::now();
    let u = format!("https://127.0.0.1:{port}/meta.json");
    let e = client.get(&u, 1024).unwrap_err();
    assert_eq!(e, FetchError::Timeout { url: u }, "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

#[test]
fn an_unknown_host_is_a_dns_failure() {
    // `.invalid` never resolves (RFC 6761); this needs the machine's resolver
    // to answer (NXDOMAIN or a resolver error) within the time limit.
    let limit = Timeouts {
        connect: Duration::from_secs(40),
        idle: Duration::from_secs(40),
    };
    let client = Client::new(ca("TEST ONLY vendor CA").pem.as_bytes(), limit).unwrap();
    let e = client
        .get("https://no-such-host.invalid/meta.json", 1024)
        .unwrap_err();
    assert!(
        matches!(&e, FetchError::Dns { host, .. } if host == "no-such-host.invalid"),
        "{e:?}"
    );
    assert!(e.hint().contains("DNS"), "{}", e.hint());
}

#[test]
fn ca_file_must_hold_a_certificate() {
    let e = Client::new(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        short(),
    )
    .unwrap_err();
    assert!(matches!(e, FetchError::BadCa { .. }), "{e:?}");
    assert!(matches!(
        Client::new(b"", short()),
        Err(FetchError::BadCa { .. })
    ));
}
