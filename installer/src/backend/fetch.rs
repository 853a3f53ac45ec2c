//! Blocking HTTPS fetches from the vendor backend, trusting only the vendor CA.
//!
//! [`Client`] wraps reqwest (rustls, no built-in roots): the CA given to
//! [`Client::new`] is the only trust anchor, and only `https://` URLs are
//! accepted. [`Client::get`] is for small metadata files: it refuses a body
//! larger than `max_bytes` while reading it, not after.
//!
//! Failures are classified into [`FetchError`] by walking the error's
//! `source()` chain (and the payload of `std::io::Error`s) down to the
//! `std::io::ErrorKind` or the `rustls::Error` that caused it. Every variant
//! names the URL and has a [`FetchError::hint`] saying what to do next.
//!
//! [`clock_problem`] comes first: with a clock earlier than the ISO's build
//! time, certificate checks fail for a reason the user fixes in the firmware.

use std::error::Error as StdError;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::CertificateError;

use crate::net::doctor::utc;

/// Connection and idle time limits. Nothing limits a whole request: a
/// body that keeps arriving, however slowly, is never cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect (per address tried).
    pub connect: Duration,
    /// The longest wait for the response headers, and for each read of the
    /// body (reqwest's blocking client timeout, which applies per wait).
    pub idle: Duration,
}

impl Default for Timeouts {
    /// 10 s to connect, 60 s without data.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

impl From<Duration> for Timeouts {
    /// The same limit for connecting and for each wait for data.
    fn from(limit: Duration) -> Self {
        Timeouts {
            connect: limit,
            idle: limit,
        }
    }
}

/// Which way a certificate's validity period and the clock disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertTime {
    /// The clock is after `notAfter`.
    Expired {
        /// The time the check used (seconds since 1970), when TLS reported it.
        now: Option<u64>,
        /// The certificate's `notAfter`, when TLS reported it.
        not_after: Option<u64>,
    },
    /// The clock is before `notBefore`.
    NotYetValid {
        /// The time the check used (seconds since 1970), when TLS reported it.
        now: Option<u64>,
        /// The certificate's `notBefore`, when TLS reported it.
        not_before: Option<u64>,
    },
}

/// Why a fetch failed: one variant per cause the user acts on differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The vendor CA (pinned in the ISO) is not a usable PEM certificate.
    #[error("the vendor CA certificate is unusable: {reason}")]
    BadCa {
        /// What is wrong with it.
        reason: String,
    },
    /// The URL is malformed or not `https://`.
    #[error("{url}: not a usable backend URL: {detail}")]
    BadUrl {
        /// The URL.
        url: String,
        /// The parser's complaint.
        detail: String,
    },
    /// The host name could not be resolved.
    #[error("{url}: cannot resolve the host name {host}: {detail}")]
    Dns {
        /// The URL.
        url: String,
        /// The host that did not resolve.
        host: String,
        /// The resolver's message.
        detail: String,
    },
    /// The host refused the TCP connection (nothing listens on the port).
    #[error("{url}: connection refused")]
    Refused {
        /// The URL.
        url: String,
    },
    /// No route to the host or network.
    #[error("{url}: host or network unreachable: {detail}")]
    Unreachable {
        /// The URL.
        url: String,
        /// The system's message.
        detail: String,
    },
    /// Connecting or the transfer took longer than the time limit.
    #[error("{url}: timed out")]
    Timeout {
        /// The URL.
        url: String,
    },
    /// The server's certificate is not signed by the vendor CA.
    #[error("{url}: TLS: the server's certificate is not trusted (not signed by the vendor CA): {detail}")]
    TlsUntrusted {
        /// The URL.
        url: String,
        /// The TLS library's reason.
        detail: String,
    },
    /// The server's certificate is expired or not yet valid by this machine's clock.
    #[error("{url}: TLS: the server's certificate {} (check the clock)", match .problem {
        CertTime::Expired { .. } => "has expired",
        CertTime::NotYetValid { .. } => "is not valid yet",
    })]
    TlsExpired {
        /// The URL.
        url: String,
        /// Which way, and the times if known.
        problem: CertTime,
    },
    /// The certificate is the vendor's but not for this host name or address.
    #[error("{url}: TLS: the server's certificate is not valid for {host}")]
    TlsWrongName {
        /// The URL.
        url: String,
        /// The host in the URL.
        host: String,
    },
    /// Any other TLS failure (handshake, protocol, alert).
    #[error("{url}: TLS error: {detail}")]
    TlsOther {
        /// The URL.
        url: String,
        /// The TLS library's message.
        detail: String,
    },
    /// HTTP 404.
    #[error("{url}: not found (HTTP 404)")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// Any other non-success HTTP status.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than the caller allows.
    #[error("{url}: the response is larger than {max_bytes} bytes{}",
        .declared.map(|d| format!(" ({d} bytes announced)")).unwrap_or_default())]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        max_bytes: u64,
        /// The Content-Length the server announced, if any.
        declared: Option<u64>,
    },
    /// The connection failed in some other way (reset, broken during the transfer).
    #[error("{url}: I/O error: {detail}")]
    Io {
        /// The URL.
        url: String,
        /// The error chain.
        detail: String,
    },
}

impl FetchError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            FetchError::BadCa { .. } => {
                "the installer image is damaged or was built with a wrong vendor CA file; \
                 download the ISO again or rebuild it with the vendor's CA certificate"
                    .into()
            }
            FetchError::BadUrl { .. } => {
                "correct the backend URL; it must start with https://".into()
            }
            FetchError::Dns { host, .. } => format!(
                "check the DNS servers in the network settings and the spelling of {host} \
                 in the backend URL, then retry"
            ),
            FetchError::Refused { .. } => {
                "the host answered but nothing accepts connections on that port: check the \
                 port in the backend URL, the firewall, and that the backend is running; then retry"
                    .into()
            }
            FetchError::Unreachable { .. } => {
                "check the gateway and the network settings, and any firewall between this \
                 machine and the backend; then retry"
                    .into()
            }
            FetchError::Timeout { .. } => {
                "check the backend URL, the firewall and whether a proxy is needed; then retry"
                    .into()
            }
            FetchError::TlsUntrusted { .. } => {
                "the server is not the vendor backend, or something between (a TLS-inspecting \
                 proxy or firewall) replaces its certificate: check the backend URL and let \
                 the connection through unmodified"
                    .into()
            }
            FetchError::TlsExpired { problem, .. } => clock_hint(problem),
            FetchError::TlsWrongName { host, .. } => format!(
                "the vendor's certificate does not cover {host}: use the backend's official \
                 host name in the backend URL"
            ),
            FetchError::TlsOther { .. } => {
                "check the backend URL and whether a proxy or firewall interferes with TLS; \
                 then retry"
                    .into()
            }
            FetchError::NotFound { .. } => {
                "the backend has no such file: check the path in the backend URL and that the \
                 release is published"
                    .into()
            }
            FetchError::Status { status, .. } if *status >= 500 => {
                "the backend has a problem; retry later".into()
            }
            FetchError::Status { .. } => {
                "the backend refused the request: check the backend URL".into()
            }
            FetchError::TooLarge { .. } => {
                "this is not the expected file: check the backend URL".into()
            }
            FetchError::Io { .. } => "the connection broke; retry".into(),
        }
    }
}

fn clock_hint(problem: &CertTime) -> String {
    let reads = |now: &Option<u64>| now.map(|n| format!(" It reads {}.", utc(n)));
    match problem {
        CertTime::Expired { now, not_after } => format!(
            "is the machine's clock right?{} The vendor certificate {}. Set the date and time \
             in the firmware setup (or the hypervisor) and retry; if the clock is right, the \
             backend's certificate has expired and the vendor must renew it",
            reads(now).unwrap_or_default(),
            not_after.map_or("has expired".into(), |t| format!("expired {}", utc(t))),
        ),
        CertTime::NotYetValid { now, not_before } => format!(
            "is the machine's clock right?{} The vendor certificate {}. Set the date and time \
             in the firmware setup (or the hypervisor) and retry",
            reads(now).unwrap_or_default(),
            not_before.map_or("is not valid yet".into(), |t| format!(
                "is valid from {}",
                utc(t)
            )),
        ),
    }
}

/// The clock is earlier than the ISO's build time (`build_epoch`, seconds
/// since 1970): returns what to tell the user, with the way forward.
pub fn clock_problem(now: SystemTime, build_epoch: u64) -> Option<String> {
    let secs = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs(),
        Err(_) => 0,
    };
    (secs < build_epoch).then(|| {
        format!(
            "the clock reads {}, earlier than this installer was built ({}): certificates \
             cannot be checked with a wrong clock. Set the date and time in the firmware setup \
             (or in the hypervisor) and retry",
            utc(secs),
            utc(build_epoch)
        )
    })
}

/// An HTTPS client that trusts only the vendor CA.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client trusting only the certificates in `ca_pem` (one or more PEM
    /// `CERTIFICATE` blocks; no built-in roots), only for `https://` URLs.
    pub fn new(ca_pem: &[u8], timeouts: impl Into<Timeouts>) -> Result<Client, FetchError> {
        let timeouts = timeouts.into();
        let bad = |reason: String| FetchError::BadCa { reason };
        let mut builder = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .https_only(true)
            .connect_timeout(timeouts.connect)
            // Per wait in the blocking client (headers, then each read), never
            // a limit on the whole body; a per-request `.timeout()` would be.
            .timeout(timeouts.idle)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("appliance-installer/", env!("CARGO_PKG_VERSION")));
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let der = cert.map_err(|e| bad(format!("not valid PEM: {e}")))?;
            roots
                .add(der.clone())
                .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
            let cert = reqwest::Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        if roots.is_empty() {
            return Err(bad("no PEM CERTIFICATE block found".into()));
        }
        let http = builder.build().map_err(|e| bad(chain(&e)))?;
        Ok(Client { http })
    }

    /// GETs `url` and returns the body, refusing more than `max_bytes`.
    pub fn get(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, FetchError> {
        let response = self.http.get(url).send().map_err(|e| classify(url, &e))?;
        check_status(url, response.status())?;
        let too_large = |declared| FetchError::TooLarge {
            url: url.into(),
            max_bytes,
            declared,
        };
        let declared = response.content_length();
        if declared.is_some_and(|n| n > max_bytes) {
            return Err(too_large(declared));
        }
        let mut body = Vec::new();
        response
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| classify(url, &e))?;
        if body.len() as u64 > max_bytes {
            return Err(too_large(declared));
        }
        Ok(body)
    }

    /// GETs `url` for streaming: returns once the headers are in, and the
    /// body is read with [`Stream::read`]. With `range_start > 0` it asks for
    /// `Range: bytes=<range_start>-`; judging the answer (206 and its
    /// `Content-Range`, or a 200) is the caller's job. The client's
    /// [`Timeouts::idle`] bounds the wait for the headers and for each read,
    /// so a stalled transfer ends with [`FetchError::Timeout`] while a slow
    /// but steady one runs as long as it takes.
    pub fn get_stream(&self, url: &str, range_start: u64) -> Result<Stream, FetchError> {
        let mut request = self.http.get(url);
        if range_start > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={range_start}-"));
        }
        let response = request.send().map_err(|e| classify(url, &e))?;
        check_status(url, response.status())?;
        Ok(Stream {
            url: url.into(),
            response,
        })
    }
}

/// A 404 is [`FetchError::NotFound`], any other status but a success
/// [`FetchError::Status`].
fn check_status(url: &str, status: reqwest::StatusCode) -> Result<(), FetchError> {
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(FetchError::NotFound { url: url.into() });
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.into(),
            status: status.as_u16(),
        });
    }
    Ok(())
}

/// A response body read as it arrives (from [`Client::get_stream`]).
#[derive(Debug)]
pub struct Stream {
    url: String,
    response: reqwest::blocking::Response,
}

impl Stream {
    /// The HTTP status (a success: 200, 206, …).
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// The `Content-Range` header, if present and ASCII.
    pub fn content_range(&self) -> Option<&str> {
        self.response
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
    }

    /// The announced body length (of this response, i.e. of the range).
    pub fn content_length(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// Reads the next body bytes into `buf`; `Ok(0)` at the end of the body.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, FetchError> {
        self.response.read(buf).map_err(|e| classify(&self.url, &e))
    }
}

/// The error and its causes, `: `-separated.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in causes(err) {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// `err` and everything below it. `std::io::Error::source()` skips the error
/// it wraps, so that payload is visited explicitly.
fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e);
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => e.source(),
            },
            None => e.source(),
        };
        if out.len() > 32 {
            break;
        }
    }
    out
}

fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string())
}

/// Maps an error from reqwest (or from reading its body) to a [`FetchError`].
fn classify(url: &str, err: &(dyn StdError + 'static)) -> FetchError {
    let url_s = url.to_string();
    let all = causes(err);
    // The TLS verdict is the most specific cause there is.
    for e in &all {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return classify_tls(url, tls);
        }
    }
    for e in &all {
        if let Some(r) = e.downcast_ref::<reqwest::Error>() {
            if r.is_builder() {
                return FetchError::BadUrl {
                    url: url_s,
                    detail: chain(err),
                };
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return FetchError::Refused { url: url_s },
                K::TimedOut => return FetchError::Timeout { url: url_s },
                K::HostUnreachable | K::NetworkUnreachable => {
                    return FetchError::Unreachable {
                        url: url_s,
                        detail: io.to_string(),
                    }
                }
                _ => {}
            }
        }
        // hyper-util reports resolver failures as a ConnectError "dns error";
        // std's resolver says "failed to lookup address information".
        let text = e.to_string();
        if text == "dns error" || text.starts_with("failed to lookup address information") {
            return FetchError::Dns {
                url: url_s,
                host: host_of(url),
                detail: chain(err),
            };
        }
    }
    if all.iter().any(|e| {
        e.downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_timeout())
    }) {
        return FetchError::Timeout { url: url_s };
    }
    FetchError::Io {
        url: url_s,
        detail: chain(err),
    }
}

fn classify_tls(url: &str, tls: &rustls::Error) -> FetchError {
    let url_s = url.to_string();
    let Some(cert) = (match tls {
        rustls::Error::InvalidCertificate(c) => Some(c),
        _ => None,
    }) else {
        return FetchError::TlsOther {
            url: url_s,
            detail: tls.to_string(),
        };
    };
    let problem = match cert {
        CertificateError::Expired => CertTime::Expired {
            now: None,
            not_after: None,
        },
        CertificateError::ExpiredContext { time, not_after } => CertTime::Expired {
            now: Some(time.as_secs()),
            not_after: Some(not_after.as_secs()),
        },
        CertificateError::NotValidYet => CertTime::NotYetValid {
            now: None,
            not_before: None,
        },
        CertificateError::NotValidYetContext { time, not_before } => CertTime::NotYetValid {
            now: Some(time.as_secs()),
            not_before: Some(not_before.as_secs()),
        },
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            return FetchError::TlsUntrusted {
                url: url_s,
                detail: tls.to_string(),
            }
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            return FetchError::TlsWrongName {
                url: url_s,
                host: host_of(url),
            }
        }
        _ => {
            return FetchError::TlsOther {
                url: url_s,
                detail: tls.to_string(),
            }
        }
    };
    FetchError::TlsExpired {
        url: url_s,
        problem,
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
