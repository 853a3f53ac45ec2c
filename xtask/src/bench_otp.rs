//! `cargo xtask bench otp`: `validate/check` throughput and p99 latency
//! with 10,000 HOTP tokens, our service next to privacyIDEA 3.14 (PyPI, in
//! a venv under target/), both on one MariaDB server the benchmark starts,
//! driven by the same load generator in one run. Prints figures and
//! ratios; never fails on speed (it fails when a server answers wrongly).
//!
//! Fairness: the same 10,000 users (one passwd-format file read by both
//! servers' flat-file resolvers), the same seeds, tokens without PIN (a
//! PIN costs each server its own hash), the same clients and duration.
//! privacyIDEA runs under gunicorn (4 gthread workers of one thread each,
//! keep-alive: with 8 threads a worker its database pool of 5+10
//! connections ran dry and requests waited 60 s), its audit entries
//! unsigned (`PI_AUDIT_NO_SIGN`), as ours are.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use appliance_otp::hotp::{self, Algorithm};
use sha2::{Digest, Sha256};

use crate::cmd::{Background, Cmd};
use crate::mariadb::Mariadb;
use crate::project;

const TOKENS: usize = 10_000;
const CLIENTS: usize = 16;
const SECONDS: u64 = 20;
const OURS: &str = "127.0.0.1:18501";
const THEIRS: &str = "127.0.0.1:18502";
const PRIVACYIDEA: &str = "privacyidea==3.14.*";

struct BenchUser {
    login: String,
    seed: Vec<u8>,
}

fn users() -> Vec<BenchUser> {
    (0..TOKENS)
        .map(|i| BenchUser {
            login: format!("u{i:05}"),
            // TEST seeds, derived so both servers get the same ones.
            seed: Sha256::digest(format!("TEST-bench-seed-{i}").as_bytes())[..20].to_vec(),
        })
        .collect()
}

/// A minimal HTTP/1.1 client on one keep-alive connection (reconnects
/// when the server closes it).
struct Conn {
    addr: SocketAddr,
    reader: Option<BufReader<TcpStream>>,
}

struct Reply {
    status: u16,
    set_cookie: Option<String>,
    body: Vec<u8>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn { addr, reader: None }
    }

    fn request(&mut self, method: &str, path: &str, headers: &str, body: &str) -> Result<Reply> {
        for attempt in 0..2 {
            if self.reader.is_none() {
                let stream = TcpStream::connect(self.addr)
                    .with_context(|| format!("connect to {}", self.addr))?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(Duration::from_secs(60)))?;
                self.reader = Some(BufReader::new(stream));
            }
            match self.exchange(method, path, headers, body) {
                Ok(reply) => return Ok(reply),
                Err(e) if attempt == 0 => {
                    // A keep-alive connection the server had closed.
                    self.reader = None;
                    let _ = e;
                }
                Err(e) => return Err(e),
            }
        }
        bail!("unreachable")
    }

    fn exchange(&mut self, method: &str, path: &str, headers: &str, body: &str) -> Result<Reply> {
        let reader = self.reader.as_mut().context("no connection")?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{headers}\r\n{body}",
            self.addr,
            body.len()
        );
        reader.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            bail!("connection closed");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let (mut length, mut close, mut set_cookie, mut chunked) = (0usize, false, None, false);
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse()?,
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "set-cookie" => {
                    set_cookie = Some(value.split(';').next().unwrap_or("").to_string())
                }
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
        if chunked {
            bail!("chunked responses are not supported by the benchmark's client");
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        if close {
            self.reader = None;
        }
        Ok(Reply {
            status,
            set_cookie,
            body,
        })
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `result.value` of a `validate/check` answer.
fn accepted(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v["result"]["value"] == true)
        .unwrap_or(false)
}

fn wait_for_port(addr: SocketAddr, server: &mut Background, what: &str) -> Result<()> {
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        server.check_running().with_context(|| what.to_string())?;
        if start.elapsed() > Duration::from_secs(180) {
            bail!("{what} did not listen on {addr} within 180 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    Ok(())
}

/// Our service: built in release mode, configured, enrolled over its API.
fn start_ours(
    dir: &Path,
    socket: &Path,
    users_file: &Path,
    users: &[BenchUser],
) -> Result<Background> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Cmd::new(&cargo)
        .args([
            "build",
            "--release",
            "-p",
            "appliance-otp-web",
            "--bin",
            "appliance-otp",
        ])
        .cwd(project::root())
        .run()?;
    let bin = project::target_dir().join("release/appliance-otp");
    let ours = dir.join("ours");
    fs::create_dir_all(&ours)?;
    let mut key = vec![0u8; 96];
    fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    write_private(&ours.join("encKey"), &key)?;
    write_private(&ours.join("db-password"), b"TEST-otp-db\n")?;
    write_private(&ours.join("admin-password"), b"TEST-bench-admin\n")?;
    let admin = Cmd::new(&bin)
        .args(["hash-password", "--login", "admin", "--password-file"])
        .arg(ours.join("admin-password"))
        .read()?;
    write_private(&ours.join("admin.json"), admin.stdout.as_bytes())?;
    let config = serde_json::json!({
        "listen": OURS,
        "issuer": "bench",
        "database": {"socket": socket, "database": "otp", "user": "otp",
                     "password_file": ours.join("db-password"), "pool": 16},
        "key_file": ours.join("encKey"),
        "admin_file": ours.join("admin.json"),
        "audit_file": ours.join("audit.jsonl"),
        "resolvers": {"bench": {"type": "flatfile", "file": users_file}},
        "realms": [{"name": "bench", "resolvers": ["bench"], "default": true}],
    });
    fs::write(
        ours.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    let mut server = Cmd::new(&bin)
        .args(["serve", "--config"])
        .arg(ours.join("config.json"))
        .spawn(&ours.join("server.log"))?;
    let addr: SocketAddr = OURS.parse()?;
    wait_for_port(addr, &mut server, "appliance-otp serve")?;
    let mut conn = Conn::new(addr);
    let login = conn.request(
        "POST",
        "/admin/login",
        "",
        &form(&[("login", "admin"), ("password", "TEST-bench-admin")]),
    )?;
    let cookie = login
        .set_cookie
        .context("no session cookie from /admin/login")?;
    let csrf: serde_json::Value = serde_json::from_slice(&login.body)?;
    let csrf = csrf["result"]["value"]["csrf"]
        .as_str()
        .context("no CSRF token")?
        .to_string();
    let headers = format!("Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n");
    let t = Instant::now();
    for (i, u) in users.iter().enumerate() {
        let serial = format!("BENCH{i:05}");
        let key = hex::encode(&u.seed);
        let r = conn.request(
            "POST",
            "/admin/init",
            &headers,
            &form(&[("serial", &serial), ("otpkey", &key), ("user", &u.login)]),
        )?;
        if r.status != 200 {
            bail!(
                "enrolling {serial}: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    eprintln!(
        "enrolled {} tokens in ours in {:.1} s",
        users.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(server)
}

/// privacyIDEA 3.14 in a venv under target/, its own database, the same
/// users and seeds, under gunicorn.
fn start_privacyidea(
    dir: &Path,
    socket: &Path,
    users_file: &Path,
    users: &[BenchUser],
) -> Result<Background> {
    let venv = project::target_dir().join("privacyidea-venv");
    if !venv.join("bin/pi-manage").exists() {
        Cmd::new("python3").args(["-m", "venv"]).arg(&venv).run()?;
    }
    Cmd::new(venv.join("bin/pip"))
        .args(["install", "-q", PRIVACYIDEA, "PyMySQL", "gunicorn"])
        .run()?;
    let pi = dir.join("privacyidea");
    fs::create_dir_all(&pi)?;
    let cfg = pi.join("pi.cfg");
    fs::write(
        &cfg,
        format!(
            "SQLALCHEMY_DATABASE_URI = 'mysql+pymysql://pi:TEST-pi-db@localhost/pi?unix_socket={socket}&charset=utf8mb4'\n\
             SECRET_KEY = 'TEST-bench-secret-key'\n\
             PI_PEPPER = 'TEST-bench-pepper'\n\
             PI_ENCFILE = '{d}/enckey'\n\
             PI_AUDIT_KEY_PRIVATE = '{d}/audit-private.pem'\n\
             PI_AUDIT_KEY_PUBLIC = '{d}/audit-public.pem'\n\
             PI_AUDIT_NO_SIGN = True\n\
             PI_LOGFILE = '{d}/privacyidea.log'\n\
             PI_LOGLEVEL = 30\n",
            socket = socket.display(),
            d = pi.display()
        ),
    )?;
    let manage = |args: &[&str]| {
        Cmd::new(venv.join("bin/pi-manage"))
            .args(args)
            .env("PRIVACYIDEA_CONFIGFILE", &cfg)
            .read()
    };
    manage(&["setup", "create_enckey"])?;
    manage(&["setup", "create_audit_keys"])?;
    manage(&["setup", "create_tables"])?;
    fs::write(
        pi.join("resolver.conf"),
        format!("{{'fileName': '{}'}}", users_file.display()),
    )?;
    let resolver_conf = pi.join("resolver.conf").display().to_string();
    manage(&[
        "config",
        "resolver",
        "create",
        "bench",
        "passwdresolver",
        &resolver_conf,
    ])?;
    manage(&["config", "realm", "create", "bench", "bench"])?;
    manage(&["config", "realm", "set_default", "bench"])?;
    // `pi-manage token import` creates a token a request at a time (about
    // 4 a second here); the same rows are written with privacyIDEA's own
    // models (its encryption of the seeds) in one transaction instead.
    let mut rows = String::new();
    for (i, u) in users.iter().enumerate() {
        let _ = writeln!(
            rows,
            "{} {} PI{i:05} {}",
            u.login,
            10_000 + i,
            hex::encode(&u.seed)
        );
    }
    fs::write(pi.join("tokens.txt"), rows)?;
    fs::write(
        pi.join("import_tokens.py"),
        format!(
            "from privacyidea.app import create_app\n\
             from privacyidea.models import db, Token, TokenOwner, TokenRealm, Realm\n\
             app = create_app(config_name='production', config_file='{cfg}', silent=True)\n\
             with app.app_context():\n\
             \x20   realm = Realm.query.filter_by(name='bench').one()\n\
             \x20   rows = [line.split() for line in open('{rows}')]\n\
             \x20   tokens = [Token(serial, tokentype='hotp', otpkey=key, otplen=6) for _, _, serial, key in rows]\n\
             \x20   db.session.add_all(tokens)\n\
             \x20   db.session.flush()\n\
             \x20   for (login, uid, _, _), t in zip(rows, tokens):\n\
             \x20       db.session.add(TokenOwner(token_id=t.id, user_id=uid, resolver='bench', realm_id=realm.id))\n\
             \x20       db.session.add(TokenRealm(realm_id=realm.id, token_id=t.id))\n\
             \x20   db.session.commit()\n\
             \x20   print(len(tokens))\n",
            cfg = cfg.display(),
            rows = pi.join("tokens.txt").display()
        ),
    )?;
    let t = Instant::now();
    let out = Cmd::new(venv.join("bin/python"))
        .arg(pi.join("import_tokens.py"))
        .env("PRIVACYIDEA_CONFIGFILE", &cfg)
        .read()?;
    if out.stdout.trim() != users.len().to_string() {
        bail!(
            "privacyIDEA token import wrote {:?} tokens, not {}",
            out.stdout.trim(),
            users.len()
        );
    }
    eprintln!(
        "imported {} tokens into privacyIDEA in {:.1} s",
        users.len(),
        t.elapsed().as_secs_f64()
    );
    fs::write(
        pi.join("wsgi.py"),
        format!(
            "from privacyidea.app import create_app\napplication = create_app(config_name='production', config_file='{}', silent=True)\n",
            cfg.display()
        ),
    )?;
    let mut server = Cmd::new(venv.join("bin/gunicorn"))
        .args([
            "--workers",
            "4",
            "--threads",
            "1",
            "--worker-class",
            "gthread",
            "--keep-alive",
            "30",
            "--bind",
            THEIRS,
        ])
        .arg("--chdir")
        .arg(&pi)
        .arg("wsgi:application")
        .env("PRIVACYIDEA_CONFIGFILE", &cfg)
        .spawn(&pi.join("gunicorn.log"))?;
    wait_for_port(THEIRS.parse()?, &mut server, "privacyIDEA (gunicorn)")?;
    Ok(server)
}

#[derive(Default)]
struct Stats {
    first_error: Option<String>,
    requests: usize,
    accepted: usize,
    errors: usize,
    latencies_us: Vec<u64>,
    seconds: f64,
}

impl Stats {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 * p).ceil() as usize)
            .clamp(1, self.latencies_us.len())
            - 1;
        self.latencies_us[i] as f64 / 1000.0
    }
}

/// `CLIENTS` threads, each its own keep-alive connection and its own
/// slice of users, send `validate/check` with each user's next OTP for
/// `SECONDS`.
fn load(addr: SocketAddr, users: &Arc<Vec<BenchUser>>) -> Result<Stats> {
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let start = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let users = Arc::clone(users);
            std::thread::spawn(move || -> Stats {
                let mut stats = Stats::default();
                let mine: Vec<usize> = (c..users.len()).step_by(CLIENTS).collect();
                let mut counters = vec![0u64; mine.len()];
                let mut conn = Conn::new(addr);
                let mut k = 0;
                while Instant::now() < deadline {
                    let u = &users[mine[k]];
                    let pass = hotp::hotp(Algorithm::Sha1, &u.seed, counters[k], 6);
                    counters[k] += 1;
                    let body = form(&[("user", &u.login), ("pass", &pass)]);
                    let t = Instant::now();
                    match conn.request("POST", "/validate/check", "", &body) {
                        Ok(r) => {
                            stats.latencies_us.push(t.elapsed().as_micros() as u64);
                            stats.requests += 1;
                            if r.status == 200 && accepted(&r.body) {
                                stats.accepted += 1;
                            }
                        }
                        Err(e) => {
                            stats.first_error.get_or_insert_with(|| format!("{e:#}"));
                            stats.errors += 1;
                            conn = Conn::new(addr);
                        }
                    }
                    k = (k + 1) % mine.len();
                }
                stats
            })
        })
        .collect();
    let mut all = Stats::default();
    for t in threads {
        let s = t
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))?;
        all.requests += s.requests;
        all.accepted += s.accepted;
        all.errors += s.errors;
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
        all.latencies_us.extend(s.latencies_us);
    }
    all.seconds = start.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    Ok(all)
}

pub fn otp() -> Result<()> {
    let dir = project::target_dir().join("bench-otp");
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let users = Arc::new(users());
    let users_file = dir.join("users");
    let mut passwd = String::new();
    for (i, u) in users.iter().enumerate() {
        let _ = writeln!(
            passwd,
            "{}:x:{}:{}:Bench user {i}:/nonexistent:/usr/sbin/nologin",
            u.login,
            10_000 + i,
            10_000 + i
        );
    }
    fs::write(&users_file, passwd)?;
    let db = Mariadb::start(&dir.join("mariadb"))?;
    let socket = db.socket.clone();
    db.sql(
        "CREATE DATABASE otp; CREATE USER 'otp'@'localhost' IDENTIFIED BY 'TEST-otp-db'; GRANT ALL ON otp.* TO 'otp'@'localhost'; \
         CREATE DATABASE pi CHARACTER SET utf8mb4; CREATE USER 'pi'@'localhost' IDENTIFIED BY 'TEST-pi-db'; GRANT ALL ON pi.* TO 'pi'@'localhost';",
    )?;
    let _ours = start_ours(&dir, &socket, &users_file, &users)?;
    let _theirs = start_privacyidea(&dir, &socket, &users_file, &users)?;

    // One untimed request each (a refused pass: no counter moves), so
    // lazy start-up work is not part of the figures.
    for addr in [OURS, THEIRS] {
        let body = form(&[("user", &users[TOKENS - 1].login), ("pass", "warm-up")]);
        let r = Conn::new(addr.parse()?).request("POST", "/validate/check", "", &body)?;
        eprintln!("warm-up {addr}: HTTP {}", r.status);
    }
    let ours = load(OURS.parse()?, &users)?;
    let theirs = load(THEIRS.parse()?, &users)?;
    let load_avg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("validate/check, {TOKENS} HOTP tokens, {CLIENTS} keep-alive clients, {SECONDS} s each, one MariaDB server");
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>9} {:>7}",
        "server", "requests", "req/s", "p50 ms", "p99 ms", "accepted", "errors"
    );
    for (name, s) in [("appliance-otp", &ours), ("privacyIDEA 3.14", &theirs)] {
        println!(
            "{:<22} {:>10} {:>10.0} {:>10.2} {:>10.2} {:>9} {:>7}",
            name,
            s.requests,
            s.throughput(),
            s.percentile(0.50),
            s.percentile(0.99),
            s.accepted,
            s.errors
        );
    }
    println!(
        "ratios: throughput {:.1}x (target >= 10x), p99 {:.3}x (target <= 0.1x)",
        ours.throughput() / theirs.throughput(),
        ours.percentile(0.99) / theirs.percentile(0.99)
    );
    println!("load average at the end: {}", load_avg.trim());
    for (name, s) in [("appliance-otp", &ours), ("privacyIDEA", &theirs)] {
        if s.accepted != s.requests || s.errors > 0 {
            bail!(
                "{name}: {} of {} checks accepted, {} errors (first: {}): the figures above are not comparable (see {})",
                s.accepted,
                s.requests,
                s.errors,
                s.first_error.as_deref().unwrap_or("none"),
                dir.display()
            );
        }
    }
    Ok(())
}
