//! The real [`Probes`] of the network doctor: netlink for link and
//! addresses, a UDP datagram plus `/proc/net/arp` for the gateway, the
//! system resolver (static glibc reads /etc/hosts and /etc/resolv.conf), the
//! system clock, and reqwest (blocking, rustls) for HTTPS.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::doctor::{HttpsFailure, Probes};
use super::link::link_state;
use super::netlink::Netlink;
use super::Ipv4Cidr;

/// Where the installer looks for CA certificates (PEM) to trust for HTTPS.
pub const CA_FILES: [&str; 2] = [
    "/etc/installer/backend-ca.pem",
    "/etc/ssl/certs/ca-certificates.crt",
];

/// `ATF_COM`: the ARP entry is complete.
const ATF_COM: u32 = 0x2;

/// The MAC of a complete `/proc/net/arp` entry for `ip` on `device`.
pub fn arp_lookup(table: &str, ip: Ipv4Addr, device: &str) -> Option<String> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[0].parse::<Ipv4Addr>().ok()? != ip || f[5] != device {
            return None;
        }
        let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
        (flags & ATF_COM != 0 && f[3] != "00:00:00:00:00:00").then(|| f[3].to_string())
    })
}

/// The system's probes.
#[derive(Debug)]
pub struct SystemProbes {
    /// How long to wait for the gateway's ARP reply.
    pub arp_timeout: Duration,
    /// HTTPS timeout (connect + first response).
    pub https_timeout: Duration,
    /// CA files to trust, when present.
    pub ca_files: Vec<PathBuf>,
}

impl Default for SystemProbes {
    fn default() -> Self {
        SystemProbes {
            arp_timeout: Duration::from_secs(3),
            https_timeout: Duration::from_secs(10),
            ca_files: CA_FILES.iter().map(PathBuf::from).collect(),
        }
    }
}

fn netlink() -> Result<Netlink, String> {
    Netlink::open().map_err(|e| e.to_string())
}

/// The chain of error sources as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Whether an error in the chain comes from the TCP connection or name lookup
/// (as opposed to the TLS handshake that follows it).
fn is_tcp_or_dns(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::TimedOut
            ) {
                return true;
            }
        }
        let text = err.to_string();
        if text.starts_with("tcp connect error") || text.starts_with("dns error") {
            return true;
        }
        cur = err.source();
    }
    false
}

fn classify(e: &reqwest::Error) -> HttpsFailure {
    let text = chain(e);
    if e.is_timeout() {
        HttpsFailure::Timeout(text)
    } else if e.is_connect() && is_tcp_or_dns(e) {
        HttpsFailure::Connect(text)
    } else if e.is_connect() {
        // Connected, then the TLS layer failed (handshake, certificate, not TLS at all).
        HttpsFailure::Tls(text)
    } else {
        HttpsFailure::Other(text)
    }
}

fn load_roots(files: &[PathBuf]) -> Vec<reqwest::Certificate> {
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|pem| reqwest::Certificate::from_pem_bundle(&pem).ok())
        .flatten()
        .collect()
}

impl Probes for SystemProbes {
    fn link(&mut self, interface: &str) -> Result<Option<bool>, String> {
        let link = netlink()?
            .link_by_name(interface)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no interface named {interface}"))?;
        Ok(link_state(&link))
    }

    fn addresses(&mut self, interface: &str) -> Result<Vec<Ipv4Cidr>, String> {
        let mut nl = netlink()?;
        let link = nl
            .link_by_name(interface)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no interface named {interface}"))?;
        Ok(nl
            .addrs()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|a| a.index == link.index)
            .map(|a| Ipv4Cidr {
                addr: a.addr,
                prefix: a.prefix,
            })
            .collect())
    }

    fn arp(&mut self, interface: &str, gateway: Ipv4Addr) -> Result<Option<String>, String> {
        let table = Path::new("/proc/net/arp");
        let read = || std::fs::read_to_string(table).unwrap_or_default();
        if let Some(mac) = arp_lookup(&read(), gateway, interface) {
            return Ok(Some(mac));
        }
        // A datagram to the discard port makes the kernel resolve the next hop.
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        let start = Instant::now();
        let mut last_send = None::<Instant>;
        while start.elapsed() < self.arp_timeout {
            if last_send.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                match sock.send_to(b"", (gateway, 9)) {
                    Ok(_) => {}
                    // Unreachable until ARP completes, or refused by the gateway: both fine.
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::HostUnreachable | ErrorKind::ConnectionRefused
                        ) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EHOSTUNREACH) => {}
                    Err(e) => return Err(format!("cannot send to {gateway}: {e}")),
                }
                last_send = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(100));
            if let Some(mac) = arp_lookup(&read(), gateway, interface) {
                return Ok(Some(mac));
            }
        }
        Ok(None)
    }

    fn resolve(&mut self, host: &str) -> Result<Vec<IpAddr>, String> {
        let mut addrs: Vec<IpAddr> = (host, 443)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .map(|s| s.ip())
            .collect();
        addrs.sort();
        addrs.dedup();
        Ok(addrs)
    }

    fn now(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn https(&mut self, url: &str) -> Result<u16, HttpsFailure> {
        let roots = load_roots(&self.ca_files);
        let no_roots = roots.is_empty();
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(self.https_timeout)
            .connect_timeout(self.https_timeout)
            .tls_built_in_root_certs(false)
            .redirect(reqwest::redirect::Policy::none());
        for cert in roots {
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .build()
            .map_err(|e| HttpsFailure::Other(chain(&e)))?;
        client
            .head(url)
            .send()
            .map(|r| r.status().as_u16())
            .map_err(|e| match classify(&e) {
                // Without any trusted CA no certificate can verify: say so.
                HttpsFailure::Tls(t) if no_roots => HttpsFailure::Tls(format!(
                    "{t} (no CA certificates found in {})",
                    self.ca_files
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
                other => other,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         52:54:00:12:34:01     *        eth0
192.0.2.9        0x1         0x0         00:00:00:00:00:00     *        eth0
198.51.100.1     0x1         0x2         52:54:00:12:34:02     *        eth1
";

    #[test]
    fn arp_table_lookup() {
        let gw = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(
            arp_lookup(TABLE, gw, "eth0").as_deref(),
            Some("52:54:00:12:34:01")
        );
        assert_eq!(arp_lookup(TABLE, gw, "eth1"), None); // other device
                                                         // Incomplete entry (flags 0x0): the gateway did not answer.
        assert_eq!(arp_lookup(TABLE, Ipv4Addr::new(192, 0, 2, 9), "eth0"), None);
        assert_eq!(arp_lookup("", gw, "eth0"), None);
    }

    #[test]
    fn resolver_reads_localhost() {
        let mut p = SystemProbes::default();
        let addrs = p.resolve("localhost").unwrap();
        assert!(addrs.iter().any(|a| a.is_loopback()), "{addrs:?}");
    }

    #[test]
    fn https_to_a_closed_port_is_a_connect_failure() {
        // Port 1 on loopback is closed: the failure must be classified as
        // a connection problem, not TLS.
        let mut p = SystemProbes {
            https_timeout: Duration::from_secs(5),
            ..SystemProbes::default()
        };
        match p.https("https://127.0.0.1:1/") {
            Err(HttpsFailure::Connect(text)) => assert!(!text.is_empty()),
            other => panic!("expected a connect failure, got {other:?}"),
        }
    }

    #[test]
    fn plain_http_backend_reports_the_status() {
        // A backend_url with http:// is probed without TLS; any status counts.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            if let Ok((s, _)) = listener.accept() {
                let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = (&s).write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        });
        let mut p = SystemProbes::default();
        let r = p.https(&format!("http://127.0.0.1:{port}/"));
        t.join().unwrap();
        assert_eq!(r, Ok(204));
    }

    #[test]
    fn https_to_a_plain_http_server_is_a_tls_failure() {
        // The TCP connection succeeds, then the server answers in clear text.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            use std::io::Write;
            if let Ok((mut s, _)) = listener.accept() {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let mut p = SystemProbes::default();
        let r = p.https(&format!("https://127.0.0.1:{port}/"));
        t.join().unwrap();
        match r {
            Err(HttpsFailure::Tls(text)) => assert!(text.contains("corrupt message"), "{text}"),
            other => panic!("expected a TLS failure, got {other:?}"),
        }
    }

    #[test]
    fn https_to_a_plain_tcp_server_is_not_a_pass() {
        // A listener that accepts and closes: TLS cannot complete.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            if let Ok((s, _)) = listener.accept() {
                drop(s);
            }
        });
        let mut p = SystemProbes::default();
        let r = p.https(&format!("https://127.0.0.1:{port}/"));
        t.join().unwrap();
        assert!(r.is_err(), "{r:?}");
    }
}
