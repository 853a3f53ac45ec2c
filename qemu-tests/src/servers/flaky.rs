//! A fault-injecting HTTPS file server for download tests: serves a directory
//! (hand-written HTTP/1.1 GET, one request per connection, single byte
//! ranges `bytes=a-b`, `a-`, `-n` answered with 206) and, driven by a seeded
//! PRNG, breaks the first [`FlakyConfig::drops`] body-carrying responses after
//! a random number of body bytes: it closes the connection (with or without a
//! TLS close_notify, also chosen at random) or, in [`Fault::Stall`] mode,
//! stops sending and holds it open. Later responses behave. It can also
//! ignore or misanswer ranges, and flip one byte of one file.
//!
//! Every request is recorded ([`Flaky::log`]) with its range and what was
//! decided for it, before the first header byte is sent, so assertions made
//! after the client returns never race the server. Binds the given address
//! (QEMU guests reach the host's 127.0.0.1:<port> as 10.0.2.2:<port>); stops
//! when dropped.

use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use vendor_repo::http::{self, resolve};

/// How a response is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection after the cut.
    Drop,
    /// Send nothing more after the cut, for this long (or until the server
    /// stops), then close.
    Stall(Duration),
}

/// How `Range` requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranges {
    /// 206 with the range asked for.
    Supported,
    /// Ignored: 200 with the whole file.
    Ignored,
    /// 206, but starting one byte before the offset asked for.
    Misaligned,
}

/// One byte of one file is served altered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The request path, e.g. `/objects/sha256/…`.
    pub path: String,
    /// The offset of the byte (XORed with 0xff).
    pub offset: u64,
}

/// What to serve and how to misbehave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlakyConfig {
    /// The directory served as `/`.
    pub root: PathBuf,
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// Where to listen (port 0: any free port; see [`Flaky::listen`]).
    pub listen: SocketAddr,
    /// Seeds the PRNG that picks the cut points.
    pub seed: u64,
    /// How many body-carrying responses (200/206) are broken, from the first.
    pub drops: usize,
    /// A broken response is cut after `rand % (min(body, max_cut + 1))` body
    /// bytes: always before its end; `0` cuts before the first body byte.
    pub max_cut: u64,
    /// Close or stall.
    pub fault: Fault,
    /// How ranges are answered.
    pub ranges: Ranges,
    /// A byte to flip.
    pub corrupt: Option<Corruption>,
    /// Break only responses whose path starts with this (e.g. `/objects/`,
    /// so metadata is served intact); `None`: any.
    pub drop_prefix: Option<String>,
    /// A broken response sends at least this many body bytes first
    /// (responses not longer than this are never broken).
    pub min_cut: u64,
    /// Send every body `(bytes, pause)`: that many bytes, then a pause; a
    /// slow server that is never idle for longer than the pause.
    pub trickle: Option<(usize, Duration)>,
    /// Files served only to a request with credentials (see [`Guarded`]).
    pub guarded: Option<Guarded>,
}

/// A second directory whose files are served only to a request carrying
/// `Authorization: Basic base64(user:password)` and the query `?query`
/// exactly (a credentialed URL); anything else gets 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guarded {
    /// The directory served as `/`.
    pub root: PathBuf,
    /// `user:password`.
    pub userinfo: String,
    /// The query string required, without `?`.
    pub query: String,
}

impl FlakyConfig {
    /// Serves `root` honestly: no drops, ranges supported, seed 1,
    /// `max_cut` unbounded (anywhere in the body).
    pub fn new(root: &Path, cert: &Path, key: &Path, listen: SocketAddr) -> FlakyConfig {
        FlakyConfig {
            root: root.to_path_buf(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            listen,
            seed: 1,
            drops: 0,
            max_cut: u64::MAX,
            fault: Fault::Drop,
            ranges: Ranges::Supported,
            corrupt: None,
            drop_prefix: None,
            min_cut: 0,
            trickle: None,
            guarded: None,
        }
    }
}

/// What the server did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The request path.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status sent.
    pub status: u16,
    /// Offset of the first body byte sent.
    pub first: u64,
    /// Body bytes in the response as announced (Content-Length).
    pub length: u64,
    /// Body bytes after which the response was broken, if it was.
    pub cut: Option<u64>,
    /// The corrupted byte was inside what was sent.
    pub corrupted: bool,
}

/// A running server; stops when dropped.
pub struct Flaky {
    listen: SocketAddr,
    stop: Arc<AtomicBool>,
    healed: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Served>>>,
    handle: Option<JoinHandle<()>>,
}

struct Shared {
    config: FlakyConfig,
    tls: Arc<rustls::ServerConfig>,
    stop: Arc<AtomicBool>,
    /// Set by [`Flaky::heal`]: the corruption is no longer applied.
    healed: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Served>>>,
    /// PRNG state and how many responses were broken so far.
    state: Mutex<(u64, usize)>,
}

impl Flaky {
    /// Binds `config.listen` and serves until dropped.
    pub fn start(config: FlakyConfig) -> Result<Flaky> {
        let tls = tls_config(&config.cert, &config.key)?;
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("listening on {}", config.listen))?;
        listener.set_nonblocking(true)?;
        let listen = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let healed = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            state: Mutex::new((config.seed, 0)),
            config,
            tls,
            stop: Arc::clone(&stop),
            healed: Arc::clone(&healed),
            log: Arc::clone(&log),
        });
        let handle = std::thread::spawn(move || {
            while !shared.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let shared = Arc::clone(&shared);
                        std::thread::spawn(move || {
                            if let Err(e) = connection(tcp, &shared) {
                                eprintln!("flaky server: {e:#}");
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Flaky {
            listen,
            stop,
            healed,
            log,
            handle: Some(handle),
        })
    }

    /// From now on the corrupted byte is served intact.
    pub fn heal(&self) {
        self.healed.store(true, Ordering::Relaxed);
    }

    /// The bound address.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// `https://<listen>`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.listen)
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<Served> {
        lock(&self.log).clone()
    }

    /// How many responses were broken.
    pub fn drops(&self) -> usize {
        self.log().iter().filter(|s| s.cut.is_some()).count()
    }

    /// The `Range` headers received, in order (`None`: no header).
    pub fn ranges(&self) -> Vec<Option<String>> {
        self.log().into_iter().map(|s| s.range).collect()
    }
}

impl Drop for Flaky {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// splitmix64: small, seeded, good enough to scatter cut points.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// `Some((first, last))` for a satisfiable single range, `None` otherwise
/// (then the whole file is sent: this server never answers 416).
fn parse_range(header: Option<&str>, len: u64) -> Option<(u64, u64)> {
    match http::parse_range(header, len) {
        http::Range::Part(first, last) => Some((first, last)),
        http::Range::All | http::Range::Unsatisfiable => None,
    }
}

fn connection(tcp: TcpStream, shared: &Shared) -> Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ServerConnection::new(Arc::clone(&shared.tls))?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let (target, range, authorization) = read_head(&mut s)?;
    let config = &shared.config;
    let guarded = config.guarded.as_ref().and_then(|g| {
        resolve(&g.root, &target).map(|p| (p, g.allows(&target, authorization.as_deref())))
    });
    if let Some((_, false)) = guarded {
        record(shared, &target, range.clone(), 401, 0, 0, None, false);
        s.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return close(s, true);
    }
    let Some(path) = guarded
        .map(|(p, _)| p)
        .or_else(|| resolve(&config.root, &target))
    else {
        record(shared, &target, range.clone(), 404, 0, 0, None, false);
        s.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n",
        )?;
        return close(s, true);
    };
    let mut file = fs::File::open(&path)?;
    let len = file.metadata()?.len();
    let wanted = parse_range(range.as_deref(), len);
    let (status, first, count, extra) = match (wanted, config.ranges) {
        (None, _) | (Some(_), Ranges::Ignored) => (200, 0, len, String::new()),
        (Some((a, b)), Ranges::Supported) => (206, a, b - a + 1, format!("{a}-{b}/{len}")),
        (Some((a, b)), Ranges::Misaligned) => {
            let a = a.saturating_sub(1);
            (206, a, b - a + 1, format!("{a}-{b}/{len}"))
        }
    };
    let (cut, close_notify) = {
        let mut state = lock(&shared.state);
        let (rng, dropped) = &mut *state;
        let eligible = config
            .drop_prefix
            .as_deref()
            .is_none_or(|p| target.starts_with(p));
        let span = count.min(config.max_cut.saturating_add(1));
        if *dropped < config.drops && count > 0 && eligible && span > config.min_cut {
            *dropped += 1;
            let cut = config.min_cut + next(rng) % (span - config.min_cut);
            (Some(cut), next(rng).is_multiple_of(2))
        } else {
            (None, true)
        }
    };
    let flip = config
        .corrupt
        .as_ref()
        .filter(|_| !shared.healed.load(Ordering::Relaxed))
        .filter(|c| c.path == target && c.offset >= first && c.offset < first + count)
        .map(|c| c.offset - first);
    let sent = cut.unwrap_or(count);
    record(
        shared,
        &target,
        range,
        status,
        first,
        count,
        cut,
        flip.is_some_and(|f| f < sent),
    );
    let (reason, extra) = match status {
        206 => (
            "Partial Content",
            format!("Content-Range: bytes {extra}\r\n"),
        ),
        _ => ("OK", String::new()),
    };
    write!(
        s,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {count}\r\nAccept-Ranges: bytes\r\n{extra}\
         Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )?;
    file.seek(SeekFrom::Start(first))?;
    let step = config.trickle.map_or(64 * 1024, |(bytes, _)| bytes.max(1));
    let mut buf = vec![0u8; step];
    let mut done = 0u64;
    while done < sent {
        if let Some((_, pause)) = config.trickle.filter(|_| done > 0) {
            let _ = s.flush();
            std::thread::sleep(pause);
        }
        let want = (sent - done).min(buf.len() as u64) as usize;
        let chunk = &mut buf[..want];
        file.read_exact(chunk)?;
        if let Some(f) = flip.filter(|f| (done..done + want as u64).contains(f)) {
            chunk[(f - done) as usize] ^= 0xff;
        }
        if s.write_all(chunk).is_err() {
            return Ok(()); // the client went away
        }
        done += want as u64;
    }
    if cut.is_some() {
        if let Fault::Stall(d) = config.fault {
            let _ = s.flush();
            let until = Instant::now() + d;
            while Instant::now() < until && !shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    close(s, close_notify)
}

fn close(
    mut s: rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    close_notify: bool,
) -> Result<()> {
    if close_notify {
        s.conn.send_close_notify();
    }
    let _ = s.flush();
    let _ = s.sock.shutdown(Shutdown::Both);
    Ok(())
}

impl Guarded {
    /// True if the request carries the credentials and the query.
    fn allows(&self, target: &str, authorization: Option<&str>) -> bool {
        use base64::Engine;
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(&self.userinfo)
        );
        let query = target.split_once('?').map(|(_, q)| q);
        authorization == Some(want.as_str()) && query == Some(self.query.as_str())
    }
}

/// The request target, `Range` and `Authorization` headers of a GET (other
/// methods are served as GET; the tests send only GETs).
fn read_head(s: &mut dyn Read) -> Result<(String, Option<String>, Option<String>)> {
    let mut reader = BufReader::new(s.take(16 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).context("reading the request")?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            } else if k.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_string());
            }
        }
    }
    Ok((target, range, authorization))
}

#[allow(clippy::too_many_arguments)]
fn record(
    shared: &Shared,
    path: &str,
    range: Option<String>,
    status: u16,
    first: u64,
    length: u64,
    cut: Option<u64>,
    corrupted: bool,
) {
    lock(&shared.log).push(Served {
        path: path.to_string(),
        range,
        status,
        first,
        length,
        cut,
        corrupted,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsatisfiable_ranges_get_the_whole_file() {
        assert_eq!(parse_range(Some("bytes=2-5"), 10), Some((2, 5)));
        assert_eq!(parse_range(Some("bytes=10-"), 10), None);
        assert_eq!(parse_range(Some("bytes=0-"), 0), None);
    }

    #[test]
    fn the_prng_is_seeded() {
        let (mut a, mut b, mut c) = (7, 7, 8);
        let xs: Vec<u64> = (0..4).map(|_| next(&mut a)).collect();
        assert_eq!(xs, (0..4).map(|_| next(&mut b)).collect::<Vec<_>>());
        assert_ne!(xs, (0..4).map(|_| next(&mut c)).collect::<Vec<_>>());
    }
}
