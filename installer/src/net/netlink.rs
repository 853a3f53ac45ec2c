//! A minimal, synchronous `NETLINK_ROUTE` client: the messages the installer
//! needs to list links and addresses and to configure one IPv4 interface.
//!
//! Why raw netlink messages instead of `rtnetlink` or `neli`: the installer
//! needs six request types (get links, get addresses, set link flags/MTU,
//! add/delete an address, replace a route). Encoding them is ~150 lines of
//! plain byte layout, unit-tested byte for byte in [`msg`], needs no async
//! runtime (rtnetlink needs tokio plus futures and changed its API with every
//! release) and no new dependency (neli is a large typed layer for the same
//! six structs). Everything runs synchronously in the UI child, with a receive
//! timeout so a silent kernel can never hang the installer.
//!
//! The messages are built and parsed in [`msg`]; this module owns the socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub mod msg;

pub use msg::{
    addr, attrs, error_code, get_addrs, get_links, replace_route, set_link, split, Addr, Link,
    NlMsg, Reply, RouteSpec, IFF_LOOPBACK, IFF_LOWER_UP, IFF_UP, IF_OPER_UNKNOWN, RTPROT_DHCP,
    RTPROT_STATIC, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE,
};
use msg::{
    NLMSG_DONE, NLMSG_ERROR, NLM_F_MULTI, RTM_DELADDR, RTM_GETADDR, RTM_GETLINK, RTM_NEWADDR,
    RTM_NEWLINK, RTM_NEWROUTE,
};

/// Errors talking to the kernel over netlink.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The socket could not be created, bound or configured.
    #[error("cannot open a netlink route socket: {0}")]
    Socket(io::Error),
    /// Sending or receiving failed (including the receive timeout).
    #[error("netlink {what} failed: {source}")]
    Io {
        /// "send" or "receive".
        what: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// The kernel refused the request.
    #[error("the kernel refused {request}: {source}")]
    Kernel {
        /// The request, in words.
        request: String,
        /// The errno the kernel answered with.
        source: io::Error,
    },
    /// The kernel's answer could not be parsed.
    #[error("malformed netlink message: {0}")]
    Malformed(&'static str),
}

impl NetlinkError {
    /// The errno of a kernel refusal, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// An open `NETLINK_ROUTE` socket.
#[derive(Debug)]
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

fn describe(kind: u16) -> &'static str {
    match kind {
        RTM_NEWLINK => "a link change",
        RTM_GETLINK => "a link query",
        RTM_NEWADDR => "adding an address",
        RTM_DELADDR => "deleting an address",
        RTM_GETADDR => "an address query",
        RTM_NEWROUTE => "adding a route",
        _ => "a request",
    }
}

impl Netlink {
    /// Opens and binds a route socket with a 5 s receive timeout.
    pub fn open() -> Result<Netlink, NetlinkError> {
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(NetlinkError::Socket(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; zeroed means pid 0 (kernel assigns), groups 0.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `sa` is a valid sockaddr_nl of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(NetlinkError::Socket(io::Error::last_os_error()));
        }
        set_recv_timeout(&fd, Duration::from_secs(5)).map_err(NetlinkError::Socket)?;
        Ok(Netlink { fd, seq: 1 })
    }

    fn send(&mut self, msg: NlMsg) -> Result<u32, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        // SAFETY: `bytes` is a valid buffer of the given length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
        if n < 0 {
            return Err(NetlinkError::Io {
                what: "send",
                source: io::Error::last_os_error(),
            });
        }
        Ok(seq)
    }

    fn recv(&mut self) -> Result<Vec<Reply>, NetlinkError> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: `buf` is a valid writable buffer of the given length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NetlinkError::Io {
                    what: "receive",
                    source: err,
                });
            }
            return split(&buf[..n as usize]);
        }
    }

    /// Sends a request with `NLM_F_ACK` and waits for the kernel's verdict.
    pub fn request(&mut self, msg: NlMsg) -> Result<(), NetlinkError> {
        let what = describe(msg.kind());
        let seq = self.send(msg)?;
        loop {
            for reply in self.recv()? {
                if reply.seq != seq || reply.kind != NLMSG_ERROR {
                    continue;
                }
                let errno = error_code(&reply.payload)
                    .ok_or(NetlinkError::Malformed("short error message"))?;
                if errno == 0 {
                    return Ok(());
                }
                return Err(NetlinkError::Kernel {
                    request: what.to_string(),
                    source: io::Error::from_raw_os_error(errno),
                });
            }
        }
    }

    /// Sends a dump request and collects the payloads until `NLMSG_DONE`.
    pub fn dump(&mut self, msg: NlMsg) -> Result<Vec<Vec<u8>>, NetlinkError> {
        let what = describe(msg.kind());
        let seq = self.send(msg)?;
        let mut out = Vec::new();
        loop {
            for reply in self.recv()? {
                if reply.seq != seq {
                    continue;
                }
                match reply.kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = error_code(&reply.payload).unwrap_or(0);
                        return Err(NetlinkError::Kernel {
                            request: what.to_string(),
                            source: io::Error::from_raw_os_error(errno),
                        });
                    }
                    _ => {
                        let multi = reply.flags & NLM_F_MULTI != 0;
                        out.push(reply.payload);
                        if !multi {
                            return Ok(out);
                        }
                    }
                }
            }
        }
    }

    /// Every link, sorted by index.
    pub fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        let mut links: Vec<Link> = self
            .dump(get_links())?
            .iter()
            .filter_map(|p| Link::parse(p))
            .collect();
        links.sort_by_key(|l| l.index);
        Ok(links)
    }

    /// The link named `name`, if any.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        Ok(self.links()?.into_iter().find(|l| l.name == name))
    }

    /// Every IPv4 address, in kernel order.
    pub fn addrs(&mut self) -> Result<Vec<Addr>, NetlinkError> {
        Ok(self
            .dump(get_addrs())?
            .iter()
            .filter_map(|p| Addr::parse(p))
            .collect())
    }
}

/// Sets `SO_RCVTIMEO` on a socket.
pub fn set_recv_timeout(fd: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: `tv` is a valid timeval of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_lists_the_loopback_link() {
        // Every network namespace has `lo` at index 1; no privileges needed to read it.
        let mut nl = Netlink::open().unwrap();
        let lo = nl.link_by_name("lo").unwrap().expect("lo exists");
        assert_eq!(lo.index, 1);
        assert!(lo.flags & IFF_LOOPBACK != 0);
    }
}
