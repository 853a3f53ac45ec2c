//! Network adapters: listing them (netlink, plus the driver name from the
//! `ETHTOOL_GDRVINFO` ioctl — both are per network namespace, unlike a
//! sysfs that was mounted in another one) and waiting for carrier.
//!
//! Nothing here changes state; bringing a link up is [`super::apply::link_up`].

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::netlink::{Link, Netlink, NetlinkError, IFF_LOOPBACK, IFF_LOWER_UP, IF_OPER_UNKNOWN};
use super::Interface;

/// What the driver says about carrier on an up link: `Some(true)` carrier,
/// `Some(false)` none, `None` it does not say (down links, or operstate "unknown").
pub fn link_state(link: &Link) -> Option<bool> {
    if !link.is_up() || link.operstate == Some(IF_OPER_UNKNOWN) {
        return None;
    }
    Some(link.carrier.unwrap_or(link.flags & IFF_LOWER_UP != 0))
}

/// Whether `link` is an adapter the user may choose: not loopback, Ethernet-sized MAC.
pub fn is_adapter(link: &Link) -> bool {
    link.flags & IFF_LOOPBACK == 0 && link.mac.len() == 6 && !link.name.is_empty()
}

/// The adapters, sorted by name, `lo` excluded.
pub fn interfaces(nl: &mut Netlink) -> Result<Vec<Interface>, NetlinkError> {
    let mut out: Vec<Interface> = nl
        .links()?
        .into_iter()
        .filter(is_adapter)
        .map(|l| Interface {
            driver: driver_name(&l.name),
            mac: l.mac_string(),
            link: link_state(&l),
            name: l.name,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GDRVINFO: u32 = 0x3;

/// `struct ethtool_drvinfo` (linux/ethtool.h), 196 bytes.
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    counts: [u32; 5],
}

/// `struct ifreq` with the `ifr_data` member, 40 bytes on x86_64.
#[repr(C)]
struct IfReqData {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    pad: [u8; 16],
}

/// The kernel driver bound to `name` (e.g. `e1000`, `tulip`, `veth`), via ethtool.
pub fn driver_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: plain socket(2) call; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut info = DrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        version: [0; 32],
        fw_version: [0; 32],
        bus_info: [0; 32],
        erom_version: [0; 32],
        reserved2: [0; 12],
        counts: [0; 5],
    };
    let mut req = IfReqData {
        name: [0; libc::IFNAMSIZ],
        data: (&mut info as *mut DrvInfo).cast(),
        pad: [0; 16],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: SIOCETHTOOL reads `req` and writes at most size_of::<DrvInfo>() into `info`,
    // both alive for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL, &mut req as *mut IfReqData) };
    if rc < 0 {
        return None;
    }
    let end = info.driver.iter().position(|&c| c == 0).unwrap_or(32);
    let driver = String::from_utf8_lossy(&info.driver[..end]).into_owned();
    (!driver.is_empty()).then_some(driver)
}

/// How waiting for carrier ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// Carrier came up after this long.
    Up(Duration),
    /// The driver does not report link state (operstate "unknown").
    NotReported,
    /// No carrier within the timeout (the cable may be unplugged, or the
    /// driver never reports link, like tulip on Hyper-V).
    TimedOut(Duration),
}

/// Polls link `index` every `poll` until it has carrier, at most `timeout`.
pub fn wait_for_carrier(
    nl: &mut Netlink,
    index: u32,
    timeout: Duration,
    poll: Duration,
) -> Result<Carrier, NetlinkError> {
    let start = Instant::now();
    loop {
        let link = nl.links()?.into_iter().find(|l| l.index == index);
        let Some(link) = link else {
            return Err(NetlinkError::Kernel {
                request: format!("finding link {index}"),
                source: io::Error::from_raw_os_error(libc::ENODEV),
            });
        };
        let waited = start.elapsed();
        match link_state(&link) {
            Some(true) => return Ok(Carrier::Up(waited)),
            None if link.is_up() => return Ok(Carrier::NotReported),
            _ if waited >= timeout => return Ok(Carrier::TimedOut(waited)),
            _ => std::thread::sleep(poll.min(timeout.saturating_sub(waited))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netlink::IFF_UP;

    fn link(flags: u32, operstate: Option<u8>, carrier: Option<bool>) -> Link {
        Link {
            index: 2,
            name: "eth0".into(),
            flags,
            mac: vec![2, 0, 0, 0, 0, 1],
            mtu: Some(1500),
            operstate,
            carrier,
        }
    }

    #[test]
    fn link_state_rules() {
        // Down: the driver's carrier bit means nothing yet.
        assert_eq!(link_state(&link(0, Some(2), Some(false))), None);
        // Up with carrier.
        assert_eq!(link_state(&link(IFF_UP, Some(6), Some(true))), Some(true));
        // Up, operstate down, no carrier (cable out, or tulip on Hyper-V).
        assert_eq!(link_state(&link(IFF_UP, Some(2), Some(false))), Some(false));
        // Up, operstate unknown: the driver does not manage carrier.
        assert_eq!(link_state(&link(IFF_UP, Some(0), Some(true))), None);
        // Old kernels without IFLA_CARRIER: IFF_LOWER_UP decides.
        assert_eq!(
            link_state(&link(IFF_UP | IFF_LOWER_UP, Some(6), None)),
            Some(true)
        );
    }

    #[test]
    fn adapters_exclude_loopback_and_non_ethernet() {
        assert!(is_adapter(&link(IFF_UP, None, None)));
        assert!(!is_adapter(&link(IFF_LOOPBACK, None, None)));
        let mut sit = link(0, None, None);
        sit.mac = vec![0, 0, 0, 0]; // sit0 has a 4-byte address
        assert!(!is_adapter(&sit));
    }

    #[test]
    fn struct_sizes_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<DrvInfo>(), 196);
        assert_eq!(std::mem::size_of::<IfReqData>(), 40);
    }

    #[test]
    fn loopback_driver_query_does_not_fail_badly() {
        // `lo` has no ethtool driver info on most kernels; the call must not panic
        // and must answer None or a non-empty name.
        let d = driver_name("lo");
        assert!(d.as_deref().is_none_or(|s| !s.is_empty()));
        assert_eq!(driver_name(""), None);
        assert_eq!(driver_name("a-name-that-is-far-too-long"), None);
    }
}
