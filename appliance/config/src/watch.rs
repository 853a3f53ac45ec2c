//! `appliance-firstboot watch`: keeps the console text and the DHCP name
//! servers current. It listens to the kernel's address events (netlink
//! multicast groups for IPv4 and IPv6 addresses; it only listens and
//! changes nothing) and also looks every 30 s, so a rotated setup code or
//! a finished setup shows up without an address change.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    bind, recv, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

use crate::console;
use crate::firstboot::{self, FirstBootError};
use crate::generation::Store;
use crate::state;

/// How long to wait without an event before looking again.
pub const PERIOD: Duration = Duration::from_secs(30);
/// Events come in bursts (address, then routes, then DNS in networkd's
/// state file): wait this long after the first before looking.
pub const SETTLE: Duration = Duration::from_millis(700);

/// Opens a netlink socket subscribed to address changes.
pub fn subscribe() -> nix::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        SockProtocol::NetlinkRoute,
    )?;
    let groups = (nix::libc::RTMGRP_IPV4_IFADDR | nix::libc::RTMGRP_IPV6_IFADDR) as u32;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
    Ok(fd)
}

fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
        if n == 0 {
            break;
        }
    }
}

/// Waits for an address event or [`PERIOD`].
fn wait(fd: Option<&OwnedFd>) {
    match fd {
        Some(fd) => {
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::try_from(PERIOD).unwrap_or(PollTimeout::MAX);
            if let Ok(n) = poll(&mut fds, timeout) {
                if n > 0 {
                    std::thread::sleep(SETTLE);
                    drain(fd);
                }
            }
        }
        None => std::thread::sleep(PERIOD),
    }
}

/// One look: the current state, addresses and keys → resolv.conf and the
/// console text (printed when it changed, or when `force`).
pub fn once(
    root: &std::path::Path,
    consoles: &[PathBuf],
    force: bool,
) -> Result<bool, FirstBootError> {
    let st = Store::new(root)
        .current()?
        .map(|(_, s)| s)
        .unwrap_or_else(state::fallback);
    firstboot::write_resolv(root, &st)?;
    firstboot::refresh(root, &st, &console::addresses(), consoles, force)
}

/// Runs forever: looks once (printing in any case), then on every event.
pub fn run(root: &std::path::Path, consoles: &[PathBuf]) -> Result<(), FirstBootError> {
    let fd = match subscribe() {
        Ok(fd) => Some(fd),
        Err(e) => {
            eprintln!(
                "cannot listen to address events ({e}); looking every {} s",
                PERIOD.as_secs()
            );
            None
        }
    };
    let mut force = true;
    loop {
        match once(root, consoles, force) {
            Ok(_) => force = false,
            Err(e) => eprintln!("cannot refresh the console text: {e}"),
        }
        wait(fd.as_ref());
    }
}
