//! IPv4 values: the appliance's address (CIDR, or address then netmask), the
//! default gateway and the DNS servers.

use super::{shown, InputError, ListError, MAX_DNS, MAX_PREFIX, MIN_PREFIX};
use crate::net::Ipv4Cidr;
use std::net::Ipv4Addr;

/// What the address prompt accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressInput {
    /// `192.0.2.10/24`: complete.
    Cidr(Ipv4Cidr),
    /// `192.0.2.10`: the netmask is asked next.
    Bare(Ipv4Addr),
}

/// Parses a dotted-quad IPv4 address strictly: exactly four decimal numbers
/// 0-255 without leading zeros (`010` would be octal to some tools).
pub fn parse_ipv4(input: &str) -> Result<Ipv4Addr, InputError> {
    let t = input.trim();
    let parts: Vec<&str> = t.split('.').collect();
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !parts.iter().any(|p| numeric(p)) {
        return Err(InputError::NotIpv4 { input: shown(t) });
    }
    if parts.len() != 4 {
        if parts.iter().all(|p| p.is_empty() || numeric(p)) {
            return Err(InputError::PartCount {
                input: shown(t),
                parts: parts.len(),
            });
        }
        return Err(InputError::NotIpv4 { input: shown(t) });
    }
    let mut octets = [0u8; 4];
    for (slot, part) in octets.iter_mut().zip(&parts) {
        if part.is_empty() {
            return Err(InputError::EmptyPart { input: shown(t) });
        }
        if !numeric(part) {
            return Err(InputError::PartNotNumber {
                input: shown(t),
                part: shown(part),
            });
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err(InputError::PartLeadingZero {
                input: shown(t),
                part: shown(part),
            });
        }
        *slot = part.parse::<u8>().map_err(|_| InputError::PartTooLarge {
            input: shown(t),
            part: shown(part),
        })?;
    }
    Ok(Ipv4Addr::from(octets))
}

/// Why `addr` cannot be a host address, gateway or (if `dns`) a DNS server.
fn unusable(addr: Ipv4Addr, dns: bool) -> Result<(), InputError> {
    let kind = if addr.is_unspecified() {
        Some("the unspecified")
    } else if addr.is_broadcast() {
        Some("the broadcast")
    } else if addr.octets()[0] == 0 || addr.octets()[0] >= 240 {
        Some("a reserved")
    } else if addr.is_loopback() {
        Some("a loopback")
    } else if addr.is_multicast() {
        Some("a multicast")
    } else if addr.is_link_local() && !dns {
        Some("a link-local")
    } else {
        None
    };
    match kind {
        Some(kind) => Err(InputError::Unusable {
            addr: addr.to_string(),
            kind,
        }),
        None => Ok(()),
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

/// The subnet of `cidr` as text, e.g. `192.0.2.0/24`.
pub fn subnet(cidr: &Ipv4Cidr) -> String {
    let net = Ipv4Addr::from(u32::from(cidr.addr) & mask(cidr.prefix));
    format!("{net}/{}", cidr.prefix)
}

/// Refuses `addr` if it is the network or broadcast address of `cidr`'s subnet.
fn host_in_subnet(addr: Ipv4Addr, cidr: &Ipv4Cidr) -> Result<(), InputError> {
    let m = mask(cidr.prefix);
    let net = u32::from(cidr.addr) & m;
    let a = u32::from(addr);
    if a == net {
        return Err(InputError::NetworkAddress {
            addr: addr.to_string(),
            net: subnet(cidr),
        });
    }
    if a == net | !m {
        return Err(InputError::BroadcastAddress {
            addr: addr.to_string(),
            net: subnet(cidr),
        });
    }
    Ok(())
}

/// A prefix length typed after `/` (or alone at the netmask prompt).
fn prefix(text: &str) -> Result<u8, InputError> {
    let t = text.trim();
    let n: u32 = if !t.is_empty() && t.len() <= 9 && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().unwrap_or(u32::MAX)
    } else {
        return Err(InputError::PrefixNotNumber { input: shown(t) });
    };
    match u8::try_from(n) {
        Ok(p) if (MIN_PREFIX..=MAX_PREFIX).contains(&p) => Ok(p),
        _ => Err(InputError::PrefixRange { prefix: n }),
    }
}

/// The appliance's address: `192.0.2.10/24`, or a bare `192.0.2.10` (then
/// [`netmask`] completes it).
pub fn address(input: &str) -> Result<AddressInput, InputError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(InputError::AddressRequired);
    }
    let (a, p) = match t.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (t, None),
    };
    let addr = parse_ipv4(a)?;
    unusable(addr, false)?;
    match p {
        None => Ok(AddressInput::Bare(addr)),
        Some(p) => {
            let cidr = Ipv4Cidr {
                addr,
                prefix: prefix(p)?,
            };
            host_in_subnet(addr, &cidr)?;
            Ok(AddressInput::Cidr(cidr))
        }
    }
}

/// Completes a bare address with a netmask: `255.255.255.0`, `/24` or `24`.
pub fn netmask(input: &str, addr: Ipv4Addr) -> Result<Ipv4Cidr, InputError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(InputError::NetmaskRequired);
    }
    let prefix = if let Some(p) = t.strip_prefix('/') {
        prefix(p)?
    } else if t.bytes().all(|b| b.is_ascii_digit()) {
        prefix(t)?
    } else {
        let bits = u32::from(parse_ipv4(t)?);
        let ones = bits.leading_ones();
        // The ones count is at most 32, so it fits a u8.
        let p = u8::try_from(ones).unwrap_or(32);
        if bits != mask(p) {
            return Err(InputError::NetmaskNotContiguous { input: shown(t) });
        }
        if !(MIN_PREFIX..=MAX_PREFIX).contains(&p) {
            return Err(InputError::NetmaskRange {
                input: shown(t),
                prefix: p,
            });
        }
        p
    };
    let cidr = Ipv4Cidr { addr, prefix };
    host_in_subnet(addr, &cidr)?;
    Ok(cidr)
}

/// The default gateway for `cidr`: inside its subnet, not its network or
/// broadcast address, not the address itself. `none` means no gateway.
pub fn gateway(input: &str, cidr: &Ipv4Cidr) -> Result<Option<Ipv4Addr>, InputError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(InputError::GatewayRequired);
    }
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    if t.contains('/') {
        return Err(InputError::GatewayWithPrefix { input: shown(t) });
    }
    let g = parse_ipv4(t)?;
    unusable(g, false)?;
    let m = mask(cidr.prefix);
    if u32::from(g) & m != u32::from(cidr.addr) & m {
        return Err(InputError::GatewayOutside {
            gateway: g.to_string(),
            net: subnet(cidr),
        });
    }
    host_in_subnet(g, cidr)?;
    if g == cidr.addr {
        return Err(InputError::GatewayIsSelf {
            gateway: g.to_string(),
        });
    }
    Ok(Some(g))
}

/// Splits a typed list on commas and white space (`a, b c` → `[a, b, c]`).
pub fn split_list(input: &str) -> Vec<&str> {
    input
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One to three DNS servers, each a unicast address, none twice.
pub fn dns_servers(items: &[&str]) -> Result<Vec<Ipv4Addr>, ListError> {
    if items.is_empty() {
        return Err(ListError::whole(InputError::DnsRequired));
    }
    if items.len() > MAX_DNS {
        return Err(ListError::whole(InputError::TooManyDns {
            count: items.len(),
        }));
    }
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let a = parse_ipv4(item).map_err(|e| ListError::at(i, e))?;
        unusable(a, true).map_err(|e| ListError::at(i, e))?;
        if out.contains(&a) {
            return Err(ListError::at(
                i,
                InputError::Duplicate {
                    item: a.to_string(),
                },
            ));
        }
        out.push(a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(a: [u8; 4], prefix: u8) -> Ipv4Cidr {
        Ipv4Cidr {
            addr: Ipv4Addr::from(a),
            prefix,
        }
    }

    fn msg<T: std::fmt::Debug>(r: Result<T, InputError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn strict_dotted_quads() {
        assert_eq!(parse_ipv4(" 192.0.2.1 "), Ok(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            msg(parse_ipv4("999.1.1.1")),
            "999.1.1.1 is not an IPv4 address: 999 is greater than 255"
        );
        assert_eq!(
            msg(parse_ipv4("192.0.2")),
            "192.0.2 is not an IPv4 address: it has 3 parts, an IPv4 address has 4"
        );
        assert_eq!(
            msg(parse_ipv4("192.0..1")),
            "192.0..1 is not an IPv4 address: it has an empty part"
        );
        assert_eq!(
            msg(parse_ipv4("192.168.01.1")),
            "192.168.01.1 is not an IPv4 address: 01 has a leading zero"
        );
        assert_eq!(
            msg(parse_ipv4("192.0.2.x")),
            "192.0.2.x is not an IPv4 address: \"x\" is not a number"
        );
        assert!(msg(parse_ipv4("dns.google")).starts_with("\"dns.google\" is not an IPv4 address"));
        assert_eq!(parse_ipv4("0.0.0.0"), Ok(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn address_in_cidr_or_bare_form() {
        assert_eq!(
            address("192.0.2.10/24"),
            Ok(AddressInput::Cidr(cidr([192, 0, 2, 10], 24)))
        );
        assert_eq!(
            address("10.1.2.3"),
            Ok(AddressInput::Bare(Ipv4Addr::new(10, 1, 2, 3)))
        );
        assert_eq!(msg(address("  ")), "the IPv4 address is required");
        assert_eq!(
            msg(address("192.0.2.10/31")),
            "/31 is not allowed: the prefix length must be from /8 to /30"
        );
        assert_eq!(
            msg(address("192.0.2.0/24")),
            "192.0.2.0 is the network address of 192.0.2.0/24; choose a host address"
        );
        assert_eq!(
            msg(address("192.0.2.255/24")),
            "192.0.2.255 is the broadcast address of 192.0.2.0/24; choose a host address"
        );
        assert_eq!(
            msg(address("127.0.0.1/8")),
            "127.0.0.1 is a loopback address and cannot be used here"
        );
        assert_eq!(
            msg(address("169.254.3.4/16")),
            "169.254.3.4 is a link-local address and cannot be used here"
        );
        assert!(msg(address("192.0.2.1/x")).starts_with("\"x\" after the /"));
    }

    #[test]
    fn netmask_forms_and_contiguity() {
        let a = Ipv4Addr::new(192, 0, 2, 10);
        assert_eq!(netmask("255.255.255.0", a), Ok(cidr([192, 0, 2, 10], 24)));
        assert_eq!(netmask("/16", a), Ok(cidr([192, 0, 2, 10], 16)));
        assert_eq!(netmask("20", a), Ok(cidr([192, 0, 2, 10], 20)));
        assert_eq!(
            msg(netmask("255.0.255.0", a)),
            "255.0.255.0 is not a valid netmask: its one-bits must be contiguous (e.g. 255.255.255.0)"
        );
        assert_eq!(
            msg(netmask("255.255.255.255", a)),
            "netmask 255.255.255.255 (/32) is not allowed: use 255.0.0.0 (/8) to 255.255.255.252 (/30)"
        );
        assert_eq!(msg(netmask("", a)), "the netmask is required");
        assert_eq!(
            msg(netmask("255.255.255.0", Ipv4Addr::new(192, 0, 2, 0))),
            "192.0.2.0 is the network address of 192.0.2.0/24; choose a host address"
        );
    }

    #[test]
    fn gateway_rules() {
        let c = cidr([192, 0, 2, 10], 24);
        assert_eq!(
            gateway("192.0.2.1", &c),
            Ok(Some(Ipv4Addr::new(192, 0, 2, 1)))
        );
        assert_eq!(gateway("NONE", &c), Ok(None));
        assert_eq!(
            msg(gateway("", &c)),
            "the default gateway is required; type none if this network has no gateway"
        );
        assert_eq!(
            msg(gateway("10.0.0.1", &c)),
            "10.0.0.1 is outside 192.0.2.0/24"
        );
        assert_eq!(
            msg(gateway("192.0.2.10", &c)),
            "192.0.2.10 is this appliance's own address; enter the router's address"
        );
        assert!(msg(gateway("192.0.2.0", &c)).starts_with("192.0.2.0 is the network address"));
        assert!(msg(gateway("192.0.2.255", &c)).starts_with("192.0.2.255 is the broadcast address"));
        assert!(msg(gateway("192.0.2.1/24", &c)).contains("has a prefix length"));
    }

    #[test]
    fn dns_lists() {
        let ok = dns_servers(&split_list("192.0.2.53, 198.51.100.53")).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(split_list(" a,b  c ,"), vec!["a", "b", "c"]);
        let e = dns_servers(&[]).unwrap_err();
        assert_eq!(e.index, None);
        assert_eq!(e.error, InputError::DnsRequired);
        let e = dns_servers(&["1.1.1.1", "1.1.1.1"]).unwrap_err();
        assert_eq!(e.index, Some(1));
        assert_eq!(e.error.to_string(), "1.1.1.1 is listed twice");
        let e = dns_servers(&["1.1.1.1", "8.8.8.8", "9.9.9.9", "8.8.4.4"]).unwrap_err();
        assert_eq!(
            e.error.to_string(),
            "at most 3 DNS servers are allowed, 4 were given"
        );
        // Link-local resolvers exist (cloud metadata); loopback ones do not here.
        assert!(dns_servers(&["169.254.169.254"]).is_ok());
        assert_eq!(
            dns_servers(&["127.0.0.53"]).unwrap_err().error.to_string(),
            "127.0.0.53 is a loopback address and cannot be used here"
        );
    }
}
