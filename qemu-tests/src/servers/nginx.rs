//! nginx as the test vendor backend: serves a directory over HTTPS on a
//! loopback port (QEMU guests reach the host's 127.0.0.1 as 10.0.2.2 through
//! user networking).
//!
//! [`Nginx::start`] writes its own `nginx.conf` into a work directory (pid,
//! logs and temp paths all inside it; nothing under `/etc/nginx` or
//! `/var/log/nginx` is used), runs `/usr/sbin/nginx` in the foreground as a
//! single process through [`crate::harness::child::Daemon`], waits until the port
//! answers a TLS ClientHello, and kills it when dropped. Static files only;
//! Range requests are served (nginx's default); directories are not listed;
//! missing files get a plain-text 404.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::harness::child::{last_lines, Daemon};

/// Where Debian installs nginx.
pub const NGINX: &str = "/usr/sbin/nginx";

/// How long [`Nginx::start`] waits for the port to speak TLS.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// What to serve, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxConfig {
    /// The directory served as `/`.
    pub root: PathBuf,
    /// The server certificate (PEM; may include the chain).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// The address to listen on, e.g. `127.0.0.1:18443`.
    pub listen: SocketAddr,
    /// A directory for `nginx.conf`, the pid file, logs and temp files (created if missing).
    pub work_dir: PathBuf,
}

/// One line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The request URI as sent (path and query).
    pub uri: String,
    /// The response status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The `Range` request header, if any.
    pub range: Option<String>,
}

/// A running nginx; killed when dropped.
pub struct Nginx {
    daemon: Daemon,
    listen: SocketAddr,
    work_dir: PathBuf,
}

impl Nginx {
    /// Writes the configuration, starts nginx and waits until `listen` speaks TLS.
    pub fn start(config: &NginxConfig) -> Result<Nginx> {
        if !Path::new(NGINX).exists() {
            bail!(
                "{NGINX} not found: the HTTPS test backend needs nginx \
                 (Debian package nginx-light; see .ci/install-deps)"
            );
        }
        let work_dir = std::path::absolute(&config.work_dir)
            .with_context(|| format!("resolving {}", config.work_dir.display()))?;
        fs::create_dir_all(work_dir.join("tmp"))
            .with_context(|| format!("creating {}", work_dir.display()))?;
        for stale in ["access.log", "error.log", "nginx.out", "nginx.pid"] {
            let path = work_dir.join(stale);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
            }
        }
        let conf = render_config(config, &work_dir)?;
        let conf_path = work_dir.join("nginx.conf");
        fs::write(&conf_path, conf).with_context(|| format!("writing {}", conf_path.display()))?;

        let args = vec![
            "-p".to_string(),
            format!("{}/", work_dir.display()),
            "-c".to_string(),
            conf_path.display().to_string(),
            "-e".to_string(),
            work_dir.join("error.log").display().to_string(),
        ];
        let daemon = Daemon::spawn(NGINX, &args, &work_dir.join("nginx.out"))?;
        let mut nginx = Nginx {
            daemon,
            listen: config.listen,
            work_dir,
        };
        nginx.wait_ready(START_TIMEOUT)?;
        Ok(nginx)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.daemon.try_wait()? {
                bail!(
                    "nginx exited ({status}) before serving https://{}/\n{}",
                    self.listen,
                    self.log_tails()
                );
            }
            if speaks_tls(self.listen) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "nginx did not answer TLS on {} within {timeout:?}\n{}",
                    self.listen,
                    self.log_tails()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tails(&self) -> String {
        let tail = |name: &str| {
            let text = fs::read_to_string(self.work_dir.join(name)).unwrap_or_default();
            format!("--- {name} (last lines) ---\n{}", last_lines(&text, 20))
        };
        format!("{}\n{}", tail("error.log"), tail("nginx.out"))
    }

    /// The address nginx listens on.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// nginx's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// `https://<listen>` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("https://{}", self.listen)
    }

    /// The work directory (configuration, logs).
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The raw access log: one line per request, fields
    /// `method uri status bytes range` (`-` when there is no Range header).
    pub fn access_log(&self) -> Result<String> {
        let path = self.work_dir.join("access.log");
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The access log, parsed.
    pub fn requests(&self) -> Result<Vec<AccessEntry>> {
        self.access_log()?.lines().map(parse_access_line).collect()
    }

    /// The access log once it holds at least `count` requests, or as it is
    /// after `wait`: nginx writes a request's line after the response went
    /// out, so a client that just got its answer can be ahead of the log.
    pub fn requests_at_least(&self, count: usize, wait: Duration) -> Result<Vec<AccessEntry>> {
        let deadline = Instant::now() + wait;
        loop {
            let seen = self.requests()?;
            if seen.len() >= count || Instant::now() >= deadline {
                return Ok(seen);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The error log (for test failure messages).
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.work_dir.join("error.log")).unwrap_or_default()
    }
}

/// Parses one access-log line written with our `log_format`.
pub fn parse_access_line(line: &str) -> Result<AccessEntry> {
    let mut f = line.split('\t');
    let mut next = |what: &str| {
        f.next()
            .with_context(|| format!("access log line without {what}: {line:?}"))
    };
    let method = next("method")?.to_string();
    let uri = next("uri")?.to_string();
    let status = next("status")?
        .parse()
        .with_context(|| format!("bad status in {line:?}"))?;
    let bytes = next("bytes")?
        .parse()
        .with_context(|| format!("bad byte count in {line:?}"))?;
    let range = match next("range")? {
        "-" => None,
        r => Some(r.to_string()),
    };
    Ok(AccessEntry {
        method,
        uri,
        status,
        bytes,
        range,
    })
}

/// A path as an nginx string literal (double-quoted); refuses characters that
/// would need escaping.
fn quoted(path: &Path) -> Result<String> {
    let abs = std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    let s = abs
        .to_str()
        .with_context(|| format!("{} is not UTF-8", abs.display()))?;
    if s.chars()
        .any(|c| c == '"' || c == '\\' || c == '$' || c.is_control())
    {
        bail!("{s:?}: nginx paths must not contain quotes, backslashes, `$` or control characters");
    }
    Ok(format!("\"{s}\""))
}

/// The `nginx.conf` for `config`, with everything writable inside `work_dir`.
pub fn render_config(config: &NginxConfig, work_dir: &Path) -> Result<String> {
    let w = |name: &str| quoted(&work_dir.join(name));
    // Running as root, nginx would switch workers to `nobody`; a single
    // process (master_process off) never switches user, so files under
    // target/ stay readable and no `user` directive is needed.
    Ok(format!(
        r#"# Written by qemu-tests::nginx; regenerated on every start.
daemon off;
master_process off;
worker_processes 1;
pid {pid};
error_log {error_log} info;

events {{
    worker_connections 64;
}}

http {{
    log_format tests '$request_method\t$request_uri\t$status\t$body_bytes_sent\t$http_range';
    access_log {access_log} tests;
    client_body_temp_path {tmp_body};
    proxy_temp_path {tmp_proxy};
    fastcgi_temp_path {tmp_fastcgi};
    uwsgi_temp_path {tmp_uwsgi};
    scgi_temp_path {tmp_scgi};

    types {{
        application/json json;
        text/plain txt;
    }}
    default_type application/octet-stream;
    sendfile on;
    server_tokens off;
    keepalive_timeout 10s;

    server {{
        listen {listen} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;

        root {root};
        autoindex off;
        error_page 404 @missing;

        location / {{
            try_files $uri =404;
        }}
        location @missing {{
            default_type text/plain;
            return 404 "not found\n";
        }}
    }}
}}
"#,
        pid = w("nginx.pid")?,
        error_log = w("error.log")?,
        access_log = w("access.log")?,
        tmp_body = w("tmp/client_body")?,
        tmp_proxy = w("tmp/proxy")?,
        tmp_fastcgi = w("tmp/fastcgi")?,
        tmp_uwsgi = w("tmp/uwsgi")?,
        tmp_scgi = w("tmp/scgi")?,
        listen = config.listen,
        cert = quoted(&config.cert)?,
        key = quoted(&config.key)?,
        root = quoted(&config.root)?,
    ))
}

/// A TLS 1.2 ClientHello (ECDHE with AES-GCM, P-256/X25519, ECDSA/RSA
/// signatures): enough for any TLS server to answer with a handshake record.
const CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x00, 0x5c, // record: handshake, TLS 1.0 framing, 92 bytes
    0x01, 0x00, 0x00, 0x58, // ClientHello, 88 bytes
    0x03, 0x03, // TLS 1.2
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,   // random
    0x00, // no session id
    0x00, 0x08, 0xc0, 0x2b, 0xc0, 0x2c, 0xc0, 0x2f, 0xc0, 0x30, // 4 ECDHE-GCM suites
    0x01, 0x00, // compression: null
    0x00, 0x27, // extensions, 39 bytes
    0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x1d, // groups: P-256, X25519
    0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
    0x00, 0x0d, 0x00, 0x0a, 0x00, 0x08, 0x04, 0x03, 0x05, 0x03, 0x08, 0x04, 0x04,
    0x01, // sig algs: ecdsa p256/p384 sha256/384, rsa-pss sha256, rsa pkcs1 sha256
    0xff, 0x01, 0x00, 0x01, 0x00, // renegotiation_info (empty)
    0x00, 0x17, 0x00, 0x00, // extended_master_secret
];

/// Whether `addr` answers a ClientHello with a TLS record (handshake or alert).
fn speaks_tls(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(CLIENT_HELLO).is_err() {
        return false;
    }
    let mut head = [0u8; 3];
    match s.read_exact(&mut head) {
        // Content type handshake (22) or alert (21), protocol major version 3.
        Ok(()) => matches!(head, [0x16 | 0x15, 0x03, _]),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_lengths_are_consistent() {
        let record = u16::from_be_bytes([CLIENT_HELLO[3], CLIENT_HELLO[4]]) as usize;
        assert_eq!(record + 5, CLIENT_HELLO.len());
        let hs = u32::from_be_bytes([0, CLIENT_HELLO[6], CLIENT_HELLO[7], CLIENT_HELLO[8]]);
        assert_eq!(hs as usize + 4, record);
        // 2 version + 32 random + 1 sid + 2+8 suites + 2 compression + 2 ext length
        let ext_len = u16::from_be_bytes([CLIENT_HELLO[56], CLIENT_HELLO[57]]) as usize;
        assert_eq!(58 + ext_len, CLIENT_HELLO.len());
    }

    #[test]
    fn config_keeps_everything_in_the_work_dir() {
        let config = NginxConfig {
            root: "/srv/repo".into(),
            cert: "/t/server.pem".into(),
            key: "/t/server.key".into(),
            listen: "127.0.0.1:18443".parse().unwrap(),
            work_dir: "/w".into(),
        };
        let conf = render_config(&config, Path::new("/w")).unwrap();
        assert!(conf.contains("listen 127.0.0.1:18443 ssl;"));
        assert!(conf.contains("ssl_certificate \"/t/server.pem\";"));
        assert!(conf.contains("root \"/srv/repo\";"));
        assert!(conf.contains("autoindex off;"));
        assert!(conf.contains("daemon off;"));
        for line in conf
            .lines()
            .filter(|l| l.contains("_path ") || l.contains("log "))
        {
            if !line.contains("log_format") {
                assert!(line.contains("\"/w/"), "{line}");
            }
        }
        assert!(!conf.contains("user "), "no user switch");

        let bad = NginxConfig {
            root: "/srv/\"x".into(),
            ..config
        };
        assert!(render_config(&bad, Path::new("/w")).is_err());
    }

    #[test]
    fn access_lines_parse() {
        let e = parse_access_line("GET\t/pool/a.deb?x=1\t206\t10\tbytes=0-9").unwrap();
        assert_eq!(e.method, "GET");
        assert_eq!(e.uri, "/pool/a.deb?x=1");
        assert_eq!((e.status, e.bytes), (206, 10));
        assert_eq!(e.range.as_deref(), Some("bytes=0-9"));
        let e = parse_access_line("GET\t/missing\t404\t10\t-").unwrap();
        assert_eq!(e.range, None);
        assert!(parse_access_line("GET /x").is_err());
    }
}
