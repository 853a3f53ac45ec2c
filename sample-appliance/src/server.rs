//! The HTTPS setup page: rustls (ring provider) over a plain TCP listener,
//! one thread per connection (at most [`MAX_CONNECTIONS`] at once), a
//! minimal HTTP/1.1 request reader, `Connection: close` on every answer.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Connections served at the same time; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 16;
/// The longest request head we read.
const MAX_HEAD: usize = 16 * 1024;

/// Errors setting the server up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The port could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A response: status line and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// e.g. `200 OK`.
    pub status: &'static str,
    /// `text/html; charset=utf-8` or `text/plain; charset=utf-8`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Whether to send the body (not for HEAD).
    pub send_body: bool,
}

impl Response {
    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
             X-Content-Type-Options: nosniff\r\nConnection: close\r\n{}\r\n",
            self.status,
            self.content_type,
            self.body.len(),
            if self.status.starts_with("405") {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            }
        )
        .into_bytes();
        if self.send_body {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Answers one request head (request line and headers) with `page` for `/`.
pub fn respond(head: &str, page: &str) -> Response {
    let text = |status, body: &str, send_body| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: format!("{body}\n"),
        send_body,
    };
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target, version) = (words.next(), words.next(), words.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return text("400 Bad Request", "bad request line", true);
    };
    if !version.starts_with("HTTP/1.") {
        return text("505 HTTP Version Not Supported", "HTTP/1.x only", true);
    }
    let path = target.split('?').next().unwrap_or(target);
    let send_body = method != "HEAD";
    match (method, path) {
        ("GET" | "HEAD", "/" | "/index.html") => Response {
            status: "200 OK",
            content_type: "text/html; charset=utf-8",
            body: page.to_string(),
            send_body,
        },
        ("GET" | "HEAD", _) => text("404 Not Found", "not found", send_body),
        ("POST", "/setup") => text(
            "501 Not Implemented",
            "the setup wizard is a later milestone",
            true,
        ),
        _ => text("405 Method Not Allowed", "method not allowed", true),
    }
}

/// The rustls configuration for `cert_der` and its PKCS#8 key.
pub fn tls_config(
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert_der)],
            PrivateKeyDer::Pkcs8(key_der.into()),
        )?;
    Ok(Arc::new(cfg))
}

/// Opens the listener on `addr` (e.g. `0.0.0.0:8443`).
pub fn listen(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).map_err(|source| ServerError::Listen {
        addr: addr.to_string(),
        source,
    })
}

/// Serves forever. `page` is rendered once; errors of single connections
/// are logged and never end the loop.
pub fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, page: Arc<String>) -> ! {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                installer::log::warn(&format!("https: accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        while active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            std::thread::sleep(Duration::from_millis(20));
        }
        active.fetch_add(1, Ordering::AcqRel);
        let (tls, page, done) = (Arc::clone(&tls), Arc::clone(&page), Arc::clone(&active));
        let spawned = std::thread::Builder::new()
            .name("https".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle(stream, tls, &page)
                }));
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => installer::log::debug(&format!("https: {e}")),
                    Err(_) => installer::log::error("https: a connection handler panicked"),
                }
                done.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::AcqRel);
            installer::log::warn(&format!("https: cannot start a thread: {e}"));
        }
    }
}

/// One connection: handshake, read the head, answer, close.
fn handle(tcp: TcpStream, tls: Arc<rustls::ServerConfig>, page: &str) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(15)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(15)))?;
    let conn = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            let r = Response {
                status: "431 Request Header Fields Too Large",
                content_type: "text/plain; charset=utf-8",
                body: "request head too large\n".into(),
                send_body: true,
            };
            stream.write_all(&r.to_bytes())?;
            break;
        }
    }
    if head.len() <= MAX_HEAD {
        let response = respond(&String::from_utf8_lossy(&head), page);
        stream.write_all(&response.to_bytes())?;
    }
    stream.conn.send_close_notify();
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = respond("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "<p>page</p>");
        assert_eq!(r.status, "200 OK");
        let bytes = String::from_utf8(r.to_bytes()).unwrap();
        assert!(bytes.starts_with(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 11\r\n"
        ));
        assert!(bytes.ends_with("\r\n\r\n<p>page</p>"));
        let head = respond("HEAD /?x=1 HTTP/1.1\r\n\r\n", "<p>page</p>");
        assert_eq!(head.status, "200 OK");
        assert!(String::from_utf8(head.to_bytes())
            .unwrap()
            .ends_with("\r\n\r\n"));
        assert_eq!(
            respond("GET /x HTTP/1.1\r\n\r\n", "").status,
            "404 Not Found"
        );
        assert_eq!(
            respond("POST /setup HTTP/1.1\r\n\r\n", "").status,
            "501 Not Implemented"
        );
        let m = respond("DELETE / HTTP/1.1\r\n\r\n", "");
        assert_eq!(m.status, "405 Method Not Allowed");
        assert!(String::from_utf8(m.to_bytes())
            .unwrap()
            .contains("Allow: GET, HEAD\r\n"));
        assert_eq!(respond("garbage\r\n\r\n", "").status, "400 Bad Request");
        assert!(respond("GET / SPDY/3\r\n\r\n", "")
            .status
            .starts_with("505"));
    }
}
