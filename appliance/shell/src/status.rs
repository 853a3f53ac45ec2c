//! `status`: the facts it shows, their text (pure), and the small parsers
//! of the system files the facts come from (pure; [`gather`] reads them).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use appliance_config::fsutil::under;
use appliance_config::generation::Store;
use appliance_config::keys::{self, Fingerprints};
use appliance_config::{console, issue};

/// Where the name servers in use are listed.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The kernel's IPv4 routing table.
pub const PROC_ROUTE: &str = "/proc/net/route";
/// The time zone's link (`…/zoneinfo/Europe/Berlin`).
pub const LOCALTIME: &str = "/etc/localtime";
/// The host name as the kernel has it.
pub const PROC_HOSTNAME: &str = "/proc/sys/kernel/hostname";

/// Everything `status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Product name (from the desired state), or empty.
    pub product: String,
    /// Release version, or empty.
    pub version: String,
    /// The running host name.
    pub hostname: String,
    /// The DNS domain of the desired state, if any.
    pub domain: Option<String>,
    /// The addresses the console text shows too.
    pub addresses: Vec<IpAddr>,
    /// The IPv4 default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Name servers in use.
    pub dns: Vec<String>,
    /// Local time as `date` prints it, or `None` when it could not be read.
    pub time: Option<String>,
    /// The time zone's tzdata name.
    pub time_zone: Option<String>,
    /// Key fingerprints.
    pub fingerprints: Fingerprints,
    /// Whether the set-up wizard has finished.
    pub setup_done: bool,
    /// Problems met while gathering (shown, never fatal).
    pub notes: Vec<String>,
}

/// The status text.
pub fn render(f: &Facts) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<17} {v}\n"));
    let product = if f.product.is_empty() {
        "(unknown product)"
    } else {
        &f.product
    };
    line("Product", product);
    line(
        "Version",
        if f.version.is_empty() {
            "(unknown)"
        } else {
            &f.version
        },
    );
    let host = match &f.domain {
        Some(d) => format!("{} ({}.{d})", f.hostname, f.hostname),
        None => f.hostname.clone(),
    };
    line("Host name", &host);
    if f.addresses.is_empty() {
        line("Addresses", "none");
    } else {
        for (i, a) in f.addresses.iter().enumerate() {
            let k = if i == 0 { "Addresses" } else { "" };
            line(k, &format!("{a}  {}", issue::url(a)));
        }
    }
    line(
        "Gateway",
        &f.gateway.map_or("none".to_string(), |g| g.to_string()),
    );
    line(
        "DNS servers",
        &if f.dns.is_empty() {
            "none".to_string()
        } else {
            f.dns.join(", ")
        },
    );
    line("Time", f.time.as_deref().unwrap_or("(could not be read)"));
    line("Time zone", f.time_zone.as_deref().unwrap_or("(not set)"));
    let fp = &f.fingerprints;
    line(
        "TLS SHA-256",
        &fp.tls_colon().unwrap_or_else(|| "(no certificate)".into()),
    );
    if let Some(s) = &fp.spki_sha256_b64 {
        line("TLS public key", &format!("SHA-256 {s}"));
    }
    if fp.ssh.is_empty() {
        line("SSH host keys", "(none)");
    }
    for (alg, sum) in &fp.ssh {
        line(&format!("SSH {alg}"), sum);
    }
    line(
        "Set-up",
        if f.setup_done {
            "done"
        } else {
            "not done (open an address above in a browser; the setup code is at the login prompt)"
        },
    );
    for n in &f.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// The `nameserver` entries of a resolv.conf.
pub fn parse_resolv(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next()) {
                (Some("nameserver"), Some(a)) => Some(a.to_string()),
                _ => None,
            }
        })
        .collect()
}

/// The IPv4 default gateway of `/proc/net/route` (destination and mask
/// 0, the gateway flag set; addresses in the kernel's byte order as hex).
pub fn parse_proc_route(text: &str) -> Option<Ipv4Addr> {
    const RTF_UP: u32 = 0x1;
    const RTF_GATEWAY: u32 = 0x2;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 8 {
            return None;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (dest, gw, flags, mask) = (hex(f[1])?, hex(f[2])?, hex(f[3])?, hex(f[7])?);
        let want = RTF_UP | RTF_GATEWAY;
        (dest == 0 && mask == 0 && flags & want == want).then(|| Ipv4Addr::from(gw.to_le_bytes()))
    })
}

/// The tzdata name of `/etc/localtime`'s link target
/// (`/usr/share/zoneinfo/Europe/Berlin` → `Europe/Berlin`).
pub fn zone_of_link(target: &str) -> Option<String> {
    let (_, name) = target.split_once("zoneinfo/")?;
    (!name.is_empty()).then(|| name.to_string())
}

/// Reads the facts below `root` (`/` on the appliance); `time` is the
/// local time as the caller got it. Nothing here fails: what cannot be
/// read is shown as missing, with a note.
pub fn gather(root: &Path, time: Option<String>) -> Facts {
    let mut notes = Vec::new();
    let state = match Store::new(root).current() {
        Ok(Some((_, st))) => Some(st),
        Ok(None) => {
            notes.push("no configuration generation yet (first boot not finished)".into());
            None
        }
        Err(e) => {
            notes.push(format!("the desired state cannot be read: {e}"));
            None
        }
    };
    let read = |rel: &str| std::fs::read_to_string(under(root, rel)).ok();
    let hostname = read(PROC_HOSTNAME)
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| state.as_ref().map(|s| s.hostname.clone()))
        .unwrap_or_else(|| "(unknown)".into());
    let time_zone = std::fs::read_link(under(root, LOCALTIME))
        .ok()
        .and_then(|t| zone_of_link(&t.to_string_lossy()))
        .or_else(|| state.as_ref().map(|s| s.time_zone.clone()));
    // The live addresses only make sense for the running system.
    let addresses = if root == Path::new("/") {
        console::addresses()
    } else {
        Vec::new()
    };
    Facts {
        product: state
            .as_ref()
            .map(|s| s.identity.product.clone())
            .unwrap_or_default(),
        version: state
            .as_ref()
            .map(|s| s.identity.version.clone())
            .unwrap_or_default(),
        hostname,
        domain: state.as_ref().and_then(|s| s.domain.clone()),
        addresses,
        gateway: read(PROC_ROUTE).and_then(|t| parse_proc_route(&t)),
        dns: read(RESOLV_CONF)
            .map(|t| parse_resolv(&t))
            .unwrap_or_default(),
        time,
        time_zone,
        fingerprints: keys::fingerprints(root),
        setup_done: keys::setup_done(root),
        notes,
    }
}
