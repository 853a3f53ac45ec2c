//! Encoding and decoding of the `NETLINK_ROUTE` messages the installer uses
//! (pure byte layout, tested byte for byte); the socket is in [`super`].
//!
//! Layout (host byte order, as the kernel expects): `nlmsghdr` (16 bytes:
//! len u32, type u16, flags u16, seq u32, pid u32), then the family header
//! (`ifinfomsg` 16 bytes, `ifaddrmsg` 8, `rtmsg` 12), then attributes
//! (`rtattr`: len u16, type u16, data, padded to 4 bytes).

use std::net::Ipv4Addr;

use super::NetlinkError;

/// `RTM_NEWLINK`: set link attributes.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_GETLINK`: query links.
pub const RTM_GETLINK: u16 = 18;
/// `RTM_NEWADDR`: add an address.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_DELADDR`: delete an address.
pub const RTM_DELADDR: u16 = 21;
/// `RTM_GETADDR`: query addresses.
pub const RTM_GETADDR: u16 = 22;
/// `RTM_NEWROUTE`: add or replace a route.
pub const RTM_NEWROUTE: u16 = 24;

/// `NLMSG_ERROR`: an error or, with errno 0, an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a multi-message answer.
pub const NLM_F_MULTI: u16 = 0x2;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_CARRIER: u16 = 33;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;

const AF_INET: u8 = libc::AF_INET as u8;
const RT_TABLE_MAIN: u8 = 254;
const RTN_UNICAST: u8 = 1;

/// `IFF_UP`: the interface is administratively up.
pub const IFF_UP: u32 = 0x1;
/// `IFF_LOOPBACK`.
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_LOWER_UP`: the driver signals carrier.
pub const IFF_LOWER_UP: u32 = 0x1_0000;
/// RFC 2863 operstate "unknown": the driver does not manage carrier state.
pub const IF_OPER_UNKNOWN: u8 = 0;

/// Route scope "universe" (reached through a gateway).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
/// Route scope "link" (directly attached).
pub const RT_SCOPE_LINK: u8 = 253;
/// Address scope "host" (127.0.0.0/8).
pub const RT_SCOPE_HOST: u8 = 254;
/// Route protocol "static" (configured by hand).
pub const RTPROT_STATIC: u8 = 4;
/// Route protocol "dhcp".
pub const RTPROT_DHCP: u8 = 16;

/// A netlink request being built: header, family header, attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlMsg {
    buf: Vec<u8>,
}

impl NlMsg {
    /// A message of type `ty` with `flags`; length and sequence are filled by [`NlMsg::finish`].
    pub fn new(ty: u16, flags: u16) -> Self {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        NlMsg { buf }
    }

    /// Appends raw bytes (the family header).
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Appends an attribute, padded to 4 bytes.
    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
        self
    }

    /// The finished bytes with length and sequence number set.
    pub fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }

    /// The message type.
    pub fn kind(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    // family AF_UNSPEC (0), pad, type 0
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    h
}

/// Dump every link.
pub fn get_links() -> NlMsg {
    let mut m = NlMsg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
    m.push(&ifinfomsg(0, 0, 0));
    m
}

/// Set a link up or down and/or its MTU.
pub fn set_link(index: i32, up: Option<bool>, mtu: Option<u32>) -> NlMsg {
    let mut m = NlMsg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
    let (flags, change) = match up {
        Some(true) => (IFF_UP, IFF_UP),
        Some(false) => (0, IFF_UP),
        None => (0, 0),
    };
    m.push(&ifinfomsg(index, flags, change));
    if let Some(mtu) = mtu {
        m.attr(IFLA_MTU, &mtu.to_ne_bytes());
    }
    m
}

/// Dump every IPv4 address.
pub fn get_addrs() -> NlMsg {
    let mut m = NlMsg::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
    m.push(&[AF_INET, 0, 0, 0, 0, 0, 0, 0]);
    m
}

fn broadcast(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let host_bits = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
    Ipv4Addr::from(u32::from(addr) | host_bits)
}

/// Add (`add = true`, replacing an identical one) or delete an IPv4 address.
pub fn addr(add: bool, index: u32, addr: Ipv4Addr, prefix: u8) -> NlMsg {
    let (ty, flags) = if add {
        (
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        )
    } else {
        (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK)
    };
    let scope = if addr.is_loopback() {
        RT_SCOPE_HOST
    } else {
        RT_SCOPE_UNIVERSE
    };
    let mut m = NlMsg::new(ty, flags);
    let mut h = [AF_INET, prefix, 0, scope, 0, 0, 0, 0];
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    m.push(&h);
    m.attr(IFA_LOCAL, &addr.octets());
    m.attr(IFA_ADDRESS, &addr.octets());
    if add && prefix < 31 {
        m.attr(IFA_BROADCAST, &broadcast(addr, prefix).octets());
    }
    m
}

/// An IPv4 route in the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination network.
    pub destination: Ipv4Addr,
    /// Destination prefix length (0 = default route).
    pub prefix: u8,
    /// Next hop; `None` for an on-link route.
    pub gateway: Option<Ipv4Addr>,
    /// Outgoing interface index.
    pub oif: u32,
    /// `RTPROT_STATIC` or `RTPROT_DHCP`.
    pub protocol: u8,
}

/// Add or replace a route (`ip route replace`).
pub fn replace_route(r: &RouteSpec) -> NlMsg {
    let mut m = NlMsg::new(
        RTM_NEWROUTE,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
    );
    let scope = if r.gateway.is_some() {
        RT_SCOPE_UNIVERSE
    } else {
        RT_SCOPE_LINK
    };
    m.push(&[
        AF_INET,
        r.prefix,
        0,
        0,
        RT_TABLE_MAIN,
        r.protocol,
        scope,
        RTN_UNICAST,
        0,
        0,
        0,
        0,
    ]);
    if r.prefix > 0 {
        m.attr(RTA_DST, &r.destination.octets());
    }
    if let Some(gw) = r.gateway {
        m.attr(RTA_GATEWAY, &gw.octets());
    }
    m.attr(RTA_OIF, &r.oif.to_ne_bytes());
    m
}

/// One message from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// The bytes after the 16-byte header.
    pub payload: Vec<u8>,
}

fn ne_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn ne_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Splits a datagram into its netlink messages.
pub fn split(mut buf: &[u8]) -> Result<Vec<Reply>, NetlinkError> {
    let mut out = Vec::new();
    while buf.len() >= 16 {
        let len = ne_u32(buf, 0).ok_or(NetlinkError::Malformed("short header"))? as usize;
        if len < 16 || len > buf.len() {
            return Err(NetlinkError::Malformed("message length out of range"));
        }
        out.push(Reply {
            kind: ne_u16(buf, 4).unwrap_or(0),
            flags: ne_u16(buf, 6).unwrap_or(0),
            seq: ne_u32(buf, 8).unwrap_or(0),
            payload: buf[16..len].to_vec(),
        });
        let next = (len + 3) & !3;
        buf = buf.get(next..).unwrap_or(&[]);
    }
    Ok(out)
}

/// The verdict an `NLMSG_ERROR` payload carries: `Some(0)` acknowledges,
/// any other value is the errno (positive); `None` when the payload is too
/// short to hold one. The kernel sends `-errno`; a value that cannot be
/// negated (`i32::MIN`) becomes `i32::MAX`, an unknown errno, not an overflow.
pub fn error_code(payload: &[u8]) -> Option<i32> {
    Some((ne_u32(payload, 0)? as i32).saturating_neg())
}

/// Iterates over the attributes in `b`: (type, data).
pub fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = ne_u16(b, 0).unwrap_or(0) as usize;
        let ty = ne_u16(b, 2).unwrap_or(0) & 0x3FFF; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        let next = (len + 3) & !3;
        b = b.get(next..).unwrap_or(&[]);
    }
    out
}

/// A link as the kernel reports it (`RTM_NEWLINK` answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name, e.g. `eth0`.
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
    /// Hardware address (empty for links without one).
    pub mac: Vec<u8>,
    /// MTU.
    pub mtu: Option<u32>,
    /// RFC 2863 operstate (`IF_OPER_*`).
    pub operstate: Option<u8>,
    /// Carrier as the driver reports it.
    pub carrier: Option<bool>,
}

impl Link {
    /// Parses the payload of an `RTM_NEWLINK` message.
    pub fn parse(payload: &[u8]) -> Option<Link> {
        let index = ne_u32(payload, 4)?;
        let flags = ne_u32(payload, 8)?;
        let mut link = Link {
            index,
            name: String::new(),
            flags,
            mac: Vec::new(),
            mtu: None,
            operstate: None,
            carrier: None,
        };
        for (ty, data) in attrs(payload.get(16..)?) {
            match ty {
                IFLA_IFNAME => {
                    let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
                    link.name = String::from_utf8_lossy(&data[..end]).into_owned();
                }
                IFLA_ADDRESS => link.mac = data.to_vec(),
                IFLA_MTU => link.mtu = ne_u32(data, 0),
                IFLA_OPERSTATE => link.operstate = data.first().copied(),
                IFLA_CARRIER => link.carrier = data.first().map(|&c| c != 0),
                _ => {}
            }
        }
        Some(link)
    }

    /// Whether the interface is administratively up.
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// The MAC address as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// An IPv4 address as the kernel reports it (`RTM_NEWADDR` answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    /// Interface index.
    pub index: u32,
    /// The local address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Addr {
    /// Parses the payload of an `RTM_NEWADDR` message (IPv4 only).
    pub fn parse(payload: &[u8]) -> Option<Addr> {
        if *payload.first()? != AF_INET {
            return None;
        }
        let prefix = *payload.get(1)?;
        let index = ne_u32(payload, 4)?;
        let mut local = None;
        let mut address = None;
        for (ty, data) in attrs(payload.get(8..)?) {
            let ip = <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from);
            match ty {
                IFA_LOCAL => local = ip,
                IFA_ADDRESS => address = ip,
                _ => {}
            }
        }
        Some(Addr {
            index,
            addr: local.or(address)?,
            prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_of_every_errno_including_the_one_that_cannot_be_negated() {
        assert_eq!(error_code(&0i32.to_ne_bytes()), Some(0));
        assert_eq!(error_code(&(-17i32).to_ne_bytes()), Some(17));
        assert_eq!(error_code(&i32::MIN.to_ne_bytes()), Some(i32::MAX));
        assert_eq!(error_code(&[0, 0, 0]), None);
    }

    #[test]
    fn set_link_up_with_mtu_golden_bytes() {
        let b = set_link(3, Some(true), Some(1400)).finish(7);
        assert_eq!(b.len(), 40);
        assert_eq!(&b[0..4], &40u32.to_ne_bytes()); // 0x00: nlmsg_len
        assert_eq!(&b[4..6], &16u16.to_ne_bytes()); // 0x04: RTM_NEWLINK
        assert_eq!(&b[6..8], &5u16.to_ne_bytes()); // 0x06: NLM_F_REQUEST|NLM_F_ACK
        assert_eq!(&b[8..12], &7u32.to_ne_bytes()); // 0x08: seq
        assert_eq!(&b[12..16], &[0; 4]); // 0x0C: pid 0 = kernel
        assert_eq!(b[16], 0); // 0x10: ifi_family AF_UNSPEC
        assert_eq!(&b[20..24], &3i32.to_ne_bytes()); // 0x14: ifi_index
        assert_eq!(&b[24..28], &1u32.to_ne_bytes()); // 0x18: ifi_flags IFF_UP
        assert_eq!(&b[28..32], &1u32.to_ne_bytes()); // 0x1C: ifi_change IFF_UP
        assert_eq!(&b[32..34], &8u16.to_ne_bytes()); // 0x20: rta_len
        assert_eq!(&b[34..36], &4u16.to_ne_bytes()); // 0x22: IFLA_MTU
        assert_eq!(&b[36..40], &1400u32.to_ne_bytes()); // 0x24: the MTU
    }

    #[test]
    fn set_mtu_only_changes_no_flags() {
        let b = set_link(2, None, Some(1500)).finish(1);
        assert_eq!(&b[24..32], &[0; 8]); // 0x18: ifi_flags, ifi_change both 0
    }

    #[test]
    fn add_address_golden_bytes() {
        let b = addr(true, 2, Ipv4Addr::new(192, 0, 2, 10), 24).finish(9);
        assert_eq!(b.len(), 16 + 8 + 3 * 8);
        assert_eq!(&b[4..6], &20u16.to_ne_bytes()); // 0x04: RTM_NEWADDR
        assert_eq!(&b[6..8], &0x505u16.to_ne_bytes()); // 0x06: REQUEST|ACK|REPLACE|CREATE
        assert_eq!(b[16], 2); // 0x10: ifa_family AF_INET
        assert_eq!(b[17], 24); // 0x11: ifa_prefixlen
        assert_eq!(b[19], 0); // 0x13: ifa_scope universe
        assert_eq!(&b[20..24], &2u32.to_ne_bytes()); // 0x14: ifa_index
        assert_eq!(&b[26..28], &2u16.to_ne_bytes()); // 0x1A: IFA_LOCAL
        assert_eq!(&b[28..32], &[192, 0, 2, 10]); // 0x1C: local address
        assert_eq!(&b[34..36], &1u16.to_ne_bytes()); // 0x22: IFA_ADDRESS
        assert_eq!(&b[42..44], &4u16.to_ne_bytes()); // 0x2A: IFA_BROADCAST
        assert_eq!(&b[44..48], &[192, 0, 2, 255]); // 0x2C: broadcast address
    }

    #[test]
    fn loopback_address_has_host_scope_and_delete_has_no_broadcast() {
        let b = addr(true, 1, Ipv4Addr::new(127, 0, 0, 1), 8).finish(1);
        assert_eq!(b[19], RT_SCOPE_HOST); // 0x13: ifa_scope host
        assert_eq!(&b[44..48], &[127, 255, 255, 255]); // 0x2C: broadcast
        let d = addr(false, 4, Ipv4Addr::new(10, 0, 0, 1), 32).finish(1);
        assert_eq!(&d[4..6], &21u16.to_ne_bytes()); // 0x04: RTM_DELADDR
        assert_eq!(d.len(), 16 + 8 + 2 * 8); // no IFA_BROADCAST
    }

    #[test]
    fn default_route_golden_bytes() {
        let b = replace_route(&RouteSpec {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix: 0,
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
            oif: 5,
            protocol: RTPROT_DHCP,
        })
        .finish(3);
        assert_eq!(b.len(), 16 + 12 + 8 + 8);
        assert_eq!(&b[4..6], &24u16.to_ne_bytes()); // 0x04: RTM_NEWROUTE
        assert_eq!(b[16], 2); // 0x10: rtm_family AF_INET
        assert_eq!(b[17], 0); // 0x11: rtm_dst_len 0 = default
        assert_eq!(b[20], 254); // 0x14: rtm_table RT_TABLE_MAIN
        assert_eq!(b[21], 16); // 0x15: rtm_protocol RTPROT_DHCP
        assert_eq!(b[22], 0); // 0x16: rtm_scope universe
        assert_eq!(b[23], 1); // 0x17: rtm_type RTN_UNICAST
        assert_eq!(&b[30..32], &5u16.to_ne_bytes()); // 0x1E: RTA_GATEWAY (no RTA_DST)
        assert_eq!(&b[32..36], &[192, 0, 2, 1]); // 0x20: gateway
        assert_eq!(&b[38..40], &4u16.to_ne_bytes()); // 0x26: RTA_OIF
        assert_eq!(&b[40..44], &5u32.to_ne_bytes()); // 0x28: ifindex
    }

    #[test]
    fn on_link_route_has_destination_and_link_scope() {
        let b = replace_route(&RouteSpec {
            destination: Ipv4Addr::new(10, 1, 0, 0),
            prefix: 16,
            gateway: None,
            oif: 2,
            protocol: RTPROT_STATIC,
        })
        .finish(3);
        assert_eq!(b[17], 16); // 0x11: rtm_dst_len
        assert_eq!(b[22], RT_SCOPE_LINK); // 0x16: rtm_scope link
        assert_eq!(&b[30..32], &1u16.to_ne_bytes()); // 0x1E: RTA_DST
        assert_eq!(&b[32..36], &[10, 1, 0, 0]); // 0x20: destination
        assert_eq!(&b[38..40], &4u16.to_ne_bytes()); // 0x26: RTA_OIF, no gateway
    }

    fn link_payload() -> Vec<u8> {
        let mut m = NlMsg::new(RTM_NEWLINK, 0);
        m.push(&ifinfomsg(4, IFF_UP | IFF_LOWER_UP, 0));
        m.attr(IFLA_IFNAME, b"eth0\0");
        m.attr(IFLA_ADDRESS, &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        m.attr(IFLA_MTU, &1500u32.to_ne_bytes());
        m.attr(IFLA_OPERSTATE, &[6]);
        m.attr(IFLA_CARRIER, &[1]);
        m.finish(0)[16..].to_vec()
    }

    #[test]
    fn parses_a_link() {
        let link = Link::parse(&link_payload()).unwrap();
        assert_eq!(link.index, 4);
        assert_eq!(link.name, "eth0");
        assert_eq!(link.mac_string(), "52:54:00:12:34:56");
        assert_eq!(link.mtu, Some(1500));
        assert_eq!(link.operstate, Some(6));
        assert_eq!(link.carrier, Some(true));
        assert!(link.is_up());
    }

    #[test]
    fn splits_two_messages_and_parses_an_address() {
        let mut a = NlMsg::new(RTM_NEWADDR, NLM_F_MULTI);
        a.push(&[AF_INET, 24, 0, 0, 7, 0, 0, 0]);
        a.attr(IFA_ADDRESS, &[192, 0, 2, 10]);
        a.attr(IFA_LOCAL, &[192, 0, 2, 10]);
        let mut bytes = a.finish(5);
        bytes.extend(NlMsg::new(NLMSG_DONE, NLM_F_MULTI).finish(5));
        let replies = split(&bytes).unwrap();
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[1].kind, NLMSG_DONE);
        assert_eq!(replies[0].seq, 5);
        let addr = Addr::parse(&replies[0].payload).unwrap();
        assert_eq!(addr.index, 7);
        assert_eq!(addr.prefix, 24);
        assert_eq!(addr.addr, Ipv4Addr::new(192, 0, 2, 10));
    }

    #[test]
    fn truncated_message_is_malformed() {
        let mut bytes = get_links().finish(1);
        bytes[0] = 200; // claims 200 bytes, has 32
        assert!(matches!(split(&bytes), Err(NetlinkError::Malformed(_))));
    }
}
