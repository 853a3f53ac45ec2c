//! A tiny HTTP/1.0 file server on loopback for tests: QEMU's user networking
//! forwards the guest's 10.0.2.2:<port> to the host's 127.0.0.1:<port>.
//! Serves fixed bodies by path; bounded to the test's lifetime.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;

/// A running server; stops when dropped.
pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Request lines received, e.g. "GET /answers.json HTTP/1.1".
    pub requests: Arc<Mutex<Vec<String>>>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(files: BTreeMap<String, Vec<u8>>) -> Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop2, req2) = (Arc::clone(&stop), Arc::clone(&requests));
        let handle = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let mut reader = BufReader::new(match stream.try_clone() {
                            Ok(s) => s,
                            Err(_) => continue,
                        });
                        let mut line = String::new();
                        if reader.read_line(&mut line).is_err() {
                            continue;
                        }
                        // Skip the headers.
                        let mut h = String::new();
                        while reader.read_line(&mut h).map(|n| n > 2).unwrap_or(false) {
                            h.clear();
                        }
                        let line = line.trim_end().to_string();
                        if let Ok(mut r) = req2.lock() {
                            r.push(line.clone());
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                        let mut out = stream;
                        let _ = match files.get(&path) {
                            Some(body) => out
                                .write_all(
                                    format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n", body.len())
                                        .as_bytes(),
                                )
                                .and_then(|()| out.write_all(body)),
                            None => out.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                        };
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Ok(Server {
            port,
            stop,
            requests,
            handle: Some(handle),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn serves_known_paths_and_404s_others() {
        let mut files = BTreeMap::new();
        files.insert("/a.json".to_string(), b"{\"x\":1}".to_vec());
        let s = Server::start(files).unwrap();
        let get = |path: &str| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("/a.json");
        assert!(
            ok.starts_with("HTTP/1.0 200 OK") && ok.ends_with("{\"x\":1}"),
            "{ok}"
        );
        assert!(get("/b").starts_with("HTTP/1.0 404"));
        assert_eq!(s.requests.lock().unwrap().len(), 2);
    }
}
