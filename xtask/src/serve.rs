//! `cargo xtask repo serve`: a development server for a repository
//! directory — GET and HEAD, single byte ranges (`Range: bytes=a-b`, `a-`,
//! `-n`) answered with 206, HTTPS with a given certificate or plain HTTP.
//! Production repositories use any web server or CDN (static files); this
//! one exists so a vendor can try a release without setting one up.
//! Hand-written: a few dozen lines of HTTP/1.1 on std and rustls.

use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vendor_repo::http::{parse_range, resolve, Range};

/// TLS settings.
pub struct Tls {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
}

fn respond(stream: &mut dyn ReadWrite, root: &Path) -> Result<()> {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    drop(reader);
    let head = method == "HEAD";
    if method != "GET" && !head {
        return write_status(stream, "405 Method Not Allowed");
    }
    let Some(path) = resolve(root, target) else {
        eprintln!("{method} {target} 404");
        return write_status(stream, "404 Not Found");
    };
    let mut file = fs::File::open(&path)?;
    let len = file.metadata()?.len();
    let (status, first, count, extra) = match parse_range(range.as_deref(), len) {
        Range::All => ("200 OK", 0, len, String::new()),
        Range::Part(a, b) => (
            "206 Partial Content",
            a,
            b - a + 1,
            format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
        ),
        Range::Unsatisfiable => {
            let msg = format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return Ok(stream.write_all(msg.as_bytes())?);
        }
    };
    eprintln!("{method} {target} {status} ({count} bytes)");
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {count}\r\nAccept-Ranges: bytes\r\n{extra}Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )?;
    if !head {
        file.seek(SeekFrom::Start(first))?;
        std::io::copy(&mut file.take(count), stream)?;
    }
    stream.flush()?;
    Ok(())
}

fn write_status(stream: &mut dyn ReadWrite, status: &str) -> Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    Ok(())
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn tls_config(tls: &Tls) -> Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .with_context(|| format!("reading {}", tls.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", tls.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .with_context(|| format!("reading {}", tls.key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

fn handle(mut tcp: TcpStream, root: &Path, tls: Option<&Arc<rustls::ServerConfig>>) -> Result<()> {
    match tls {
        None => respond(&mut tcp, root),
        Some(config) => {
            let conn = rustls::ServerConnection::new(config.clone())?;
            let mut s = rustls::StreamOwned::new(conn, tcp);
            respond(&mut s, root)?;
            s.conn.send_close_notify();
            let _ = s.flush();
            Ok(())
        }
    }
}

/// Serves `root` on `listen` until killed.
pub fn serve(root: &Path, listen: &str, tls: Option<Tls>) -> Result<()> {
    if !root.is_dir() {
        bail!("{}: not a directory", root.display());
    }
    let config = tls.as_ref().map(tls_config).transpose()?;
    let listener = TcpListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
    println!(
        "serving {} on {}://{}/ (Ctrl-C stops)",
        root.display(),
        if config.is_some() { "https" } else { "http" },
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (root, config) = (root.to_path_buf(), config.clone());
        std::thread::spawn(move || {
            if let Err(e) = handle(stream, &root, config.as_ref()) {
                eprintln!("connection: {e:#}");
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_a_range_over_plain_http() {
        let root = std::env::temp_dir().join(format!("xtask-serve-http-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("f"), b"0123456789").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let r = root.clone();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            handle(s, &r, None).unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=3-5\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 206"), "{out}");
        assert!(out.contains("Content-Range: bytes 3-5/10"), "{out}");
        assert!(out.ends_with("\r\n\r\n345"), "{out}");
        let _ = fs::remove_dir_all(&root);
    }
}
