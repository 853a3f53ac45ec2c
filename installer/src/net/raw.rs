//! The real DHCP transport: one `AF_PACKET`/`SOCK_DGRAM` socket bound to the
//! interface for `ETH_P_IP`. It sends hand-built IPv4+UDP datagrams
//! (0.0.0.0:68 → 255.255.255.255:67) to the Ethernet broadcast address and
//! receives every IPv4 packet on the link, keeping UDP datagrams to port 68.
//! This sees replies whether the server broadcasts or unicasts them to the
//! not-yet-configured address, and needs no bound UDP port.
//!
//! The UDP checksum of received packets is not verified: on veth and with
//! checksum offload the kernel hands AF_PACKET readers packets whose UDP
//! checksum is not filled in yet. The IPv4 header checksum is verified.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::dhcp::Transport;

/// DHCP client port.
pub const CLIENT_PORT: u16 = 68;
/// DHCP server port.
pub const SERVER_PORT: u16 = 67;
const ETH_P_IP: u16 = 0x0800;
const IPPROTO_UDP: u8 = 17;

/// The ones' complement sum of RFC 1071, folded.
fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in chunks {
        let mut it = chunk.chunks_exact(2);
        for pair in &mut it {
            sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = it.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 (20-byte header, TTL 64, DF clear) + UDP datagram around `payload`.
pub fn frame(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = (8 + payload.len()) as u16;
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0x10]); // version 4, IHL 5; TOS low delay (as udhcpc)
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]); // id 0, no fragmentation flags
    p.extend_from_slice(&[64, IPPROTO_UDP, 0, 0]); // TTL, protocol, checksum placeholder
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let ip_sum = checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());

    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, IPPROTO_UDP]);
    pseudo.extend_from_slice(&udp_len.to_be_bytes());
    let mut udp_sum = checksum(&[&pseudo, &udp]);
    if udp_sum == 0 {
        udp_sum = 0xFFFF; // 0 means "no checksum" in UDP over IPv4
    }
    udp[6..8].copy_from_slice(&udp_sum.to_be_bytes());
    p.extend_from_slice(&udp);
    p
}

/// The UDP payload of `packet` if it is an unfragmented IPv4/UDP datagram to
/// `dport` with a valid IPv4 header checksum, and its source address.
pub fn unframe(packet: &[u8], dport: u16) -> Option<(Ipv4Addr, &[u8])> {
    let first = *packet.first()?;
    let ihl = usize::from(first & 0x0F) * 4;
    if first >> 4 != 4 || ihl < 20 || packet.len() < ihl + 8 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if total < ihl + 8 || total > packet.len() {
        return None;
    }
    let frag = u16::from_be_bytes([packet[6], packet[7]]);
    if frag & 0x3FFF != 0 || packet[9] != IPPROTO_UDP {
        return None; // fragments (MF or an offset) and non-UDP are not ours
    }
    if checksum(&[&packet[..ihl]]) != 0 {
        return None;
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let udp = &packet[ihl..total];
    if u16::from_be_bytes([udp[2], udp[3]]) != dport {
        return None;
    }
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len < 8 || udp_len > udp.len() {
        return None;
    }
    Some((src, &udp[8..udp_len]))
}

/// A raw socket on one interface.
#[derive(Debug)]
pub struct PacketTransport {
    fd: OwnedFd,
    ifindex: i32,
}

fn sockaddr_ll(ifindex: i32, broadcast: bool) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = ETH_P_IP.to_be();
    sa.sll_ifindex = ifindex;
    if broadcast {
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&[0xFF; 6]);
    }
    sa
}

impl PacketTransport {
    /// Opens a packet socket bound to interface `ifindex` (needs `CAP_NET_RAW`).
    pub fn open(ifindex: u32) -> io::Result<PacketTransport> {
        let ifindex =
            i32::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_IP.to_be()),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sa = sockaddr_ll(ifindex, false);
        // SAFETY: `sa` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketTransport { fd, ifindex })
    }

    fn poll_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Round up so a sub-millisecond remainder does not turn into a busy loop.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(err);
        }
        Ok(rc > 0)
    }
}

impl Transport for PacketTransport {
    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let packet = frame(
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            CLIENT_PORT,
            SERVER_PORT,
            payload,
        );
        let sa = sockaddr_ll(self.ifindex, true);
        // SAFETY: valid buffer and sockaddr_ll of the sizes passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.poll_readable(left)? {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                continue;
            }
            // SAFETY: sockaddr_ll is plain data; zeroed is valid.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: valid buffer, sockaddr and length pointers.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => continue,
                    _ => return Err(err),
                }
            }
            if from.sll_pkttype == libc::PACKET_OUTGOING {
                continue; // our own DISCOVER/REQUEST looped back to the socket
            }
            if let Some((_, payload)) = unframe(&buf[..n as usize], CLIENT_PORT) {
                return Ok(Some(payload.to_vec()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_golden_header_fields() {
        let p = frame(
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            68,
            67,
            &[1, 2, 3],
        );
        assert_eq!(p.len(), 20 + 8 + 3);
        assert_eq!(p[0], 0x45); // 0x00: IPv4, IHL 5
        assert_eq!(&p[2..4], &31u16.to_be_bytes()); // 0x02: total length
        assert_eq!(&p[6..8], &[0, 0]); // 0x06: no fragmentation
        assert_eq!(p[8], 64); // 0x08: TTL
        assert_eq!(p[9], 17); // 0x09: protocol UDP
        assert_eq!(checksum(&[&p[..20]]), 0); // 0x0A: header checksum verifies
        assert_eq!(&p[12..16], &[0, 0, 0, 0]); // 0x0C: source 0.0.0.0
        assert_eq!(&p[16..20], &[255; 4]); // 0x10: destination broadcast
        assert_eq!(&p[20..22], &68u16.to_be_bytes()); // 0x14: UDP source port
        assert_eq!(&p[22..24], &67u16.to_be_bytes()); // 0x16: UDP destination port
        assert_eq!(&p[24..26], &11u16.to_be_bytes()); // 0x18: UDP length
        assert_eq!(&p[28..31], &[1, 2, 3]); // 0x1C: payload
                                            // 0x1A: UDP checksum verifies over the pseudo header.
        let pseudo = [0, 0, 0, 0, 255, 255, 255, 255, 0, 17, 0, 11];
        assert_eq!(checksum(&[&pseudo, &p[20..]]), 0);
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3 example bytes: sum 0xddf2, checksum = !0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&[&data]), !0xddf2);
    }

    #[test]
    fn unframe_round_trip_and_filters() {
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let p = frame(src, Ipv4Addr::BROADCAST, 67, 68, b"dhcp");
        assert_eq!(unframe(&p, 68), Some((src, &b"dhcp"[..])));
        assert_eq!(unframe(&p, 67), None); // other port
        let mut bad_sum = p.clone();
        bad_sum[8] = 63; // TTL changed, checksum stale
        assert_eq!(unframe(&bad_sum, 68), None);
        let mut fragment = p.clone();
        fragment[6] = 0x20; // MF set
        fragment[10..12].copy_from_slice(&[0, 0]);
        let s = checksum(&[&fragment[..20]]);
        fragment[10..12].copy_from_slice(&s.to_be_bytes());
        assert_eq!(unframe(&fragment, 68), None);
        let mut tcp = p.clone();
        tcp[9] = 6;
        assert_eq!(unframe(&tcp, 68), None);
        assert_eq!(unframe(&p[..25], 68), None); // truncated
    }

    #[test]
    fn unframe_trims_ethernet_padding() {
        let mut p = frame(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::BROADCAST,
            67,
            68,
            b"x",
        );
        p.extend_from_slice(&[0; 20]); // short frames arrive padded to 60 bytes
        assert_eq!(unframe(&p, 68).map(|(_, d)| d), Some(&b"x"[..]));
    }
}
