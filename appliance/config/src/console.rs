//! The effectful side of the console text: the machine's addresses, the
//! issue file, agetty's reload trigger, and writing to the consoles.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::fsutil::{self, under};
use crate::paths;

/// The addresses to show: every IPv4 and global IPv6 address on an
/// interface that is up, except loopback and link-local; sorted, IPv4
/// first.
pub fn addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let Ok(list) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for ifa in list {
        if !ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(addr) = ifa.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if shown(&ip) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out.sort_by_key(|a| (a.is_ipv6(), *a));
    out
}

/// Whether an address belongs on the console (not loopback, link-local,
/// unspecified or multicast).
pub fn shown(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_loopback() || a.is_link_local() || a.is_unspecified() || a.is_multicast())
        }
        IpAddr::V6(a) => {
            let link_local = (a.segments()[0] & 0xffc0) == 0xfe80;
            !(a.is_loopback() || a.is_unspecified() || a.is_multicast() || link_local)
        }
    }
}

/// Writes the issue file (0644) when its text changed. Returns whether it
/// changed; [`reload_gettys`] then makes the prompts show it.
pub fn write_issue(root: &Path, text: &str) -> std::io::Result<bool> {
    let path = under(root, paths::ISSUE);
    if fsutil::read_if_exists(&path)?.as_deref() == Some(text.as_bytes()) {
        return Ok(false);
    }
    fsutil::write_atomic(&path, text.as_bytes(), 0o644)?;
    Ok(true)
}

/// Makes the running gettys draw the issue and their prompt again, as
/// `agetty --reload` does. Called after anything printed on the consoles,
/// so the last thing on a console is a whole prompt under the current
/// text (a getty drawing its prompt while the text was printed would
/// otherwise leave it split around the text).
pub fn reload_gettys(root: &Path) -> std::io::Result<()> {
    touch(&under(root, paths::AGETTY_RELOAD))
}

/// What `agetty --reload` does: create the file and update its times
/// (agetty watches it with inotify).
fn touch(path: &Path) -> std::io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    f.set_modified(std::time::SystemTime::now())
}

/// The kernel's consoles (`/sys/class/tty/console/active`, e.g.
/// `tty0 ttyS0`) as device paths; `/dev/console` when that cannot be read.
pub fn kernel_consoles() -> Vec<PathBuf> {
    match std::fs::read_to_string("/sys/class/tty/console/active") {
        Ok(s) if !s.trim().is_empty() => s
            .split_whitespace()
            .map(|n| Path::new("/dev").join(n))
            .collect(),
        _ => vec![PathBuf::from("/dev/console")],
    }
}

/// Writes `text` to each console (non-blocking: a console nobody reads
/// never holds the boot). Line ends become CR LF for terminals. Errors are
/// returned per console, never fatal.
pub fn print(consoles: &[PathBuf], text: &str) -> Vec<(PathBuf, std::io::Error)> {
    let bytes = text.replace('\n', "\r\n");
    let mut errors = Vec::new();
    for c in consoles {
        let r = OpenOptions::new()
            .append(true)
            .create(false)
            .custom_flags(libc_flags())
            .open(c)
            .and_then(|mut f| f.write_all(bytes.as_bytes()));
        if let Err(e) = r {
            errors.push((c.clone(), e));
        }
    }
    errors
}

fn libc_flags() -> i32 {
    nix::fcntl::OFlag::O_NOCTTY.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits()
}
