//! Turning a DHCPACK into a [`NetConfig`], with these rules:
//! option 121 present → option 3 ignored (RFC 3442 §3), MTU below 576
//! ignored, hostname from option 12 (default [`DEFAULT_HOSTNAME`]), domain
//! from option 15, search list from option 119, at most 3 name servers.
//! Everything that was dropped or guessed is reported as a warning line.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, OptionCode};

use super::{Ipv4Cidr, NetConfig, Route, Source};

/// The hostname used when the lease carries none.
pub const DEFAULT_HOSTNAME: &str = "appliance";
/// The smallest MTU accepted from option 26 (RFC 2132 §5.1).
pub const MIN_MTU: u16 = 576;
/// Leases shorter than this get a warning: the installer does not renew yet.
pub const SHORT_LEASE_SECONDS: u32 = 2 * 3600;
/// glibc reads at most three `nameserver` lines.
pub const MAX_DNS: usize = 3;

/// Why an ACK cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// `yiaddr` is 0.0.0.0 or otherwise not a host address.
    #[error("the DHCPACK from {server} assigns no usable address ({yiaddr})")]
    NoAddress {
        /// The server.
        server: Ipv4Addr,
        /// What it put in `yiaddr`.
        yiaddr: Ipv4Addr,
    },
}

/// A lease as configuration plus the notes the user should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The configuration to apply.
    pub config: NetConfig,
    /// Human-readable warnings (ignored options, short lease, …).
    pub warnings: Vec<String>,
}

/// Prefix length of a contiguous netmask, `None` for e.g. 255.0.255.0.
pub fn mask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let prefix = m.leading_ones();
    (m.checked_shl(prefix).unwrap_or(0) == 0).then_some(prefix as u8)
}

/// Whether `s` is one RFC 1123 label: 1–63 letters, digits and inner hyphens.
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a domain name made of RFC 1123 labels (trailing dot allowed).
pub fn is_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label)
}

fn classful_prefix(addr: Ipv4Addr) -> u8 {
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

/// Converts an ACK from `server` into a configuration of `interface`.
pub fn from_ack(interface: &str, ack: &Message, server: Ipv4Addr) -> Result<Lease, LeaseError> {
    let opts = ack.opts();
    let yiaddr = ack.yiaddr();
    if yiaddr.is_unspecified() || yiaddr.is_broadcast() || yiaddr.is_multicast() {
        return Err(LeaseError::NoAddress { server, yiaddr });
    }
    let mut warnings = Vec::new();

    let prefix = match opts.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(mask)) => mask_to_prefix(*mask).unwrap_or_else(|| {
            let p = classful_prefix(yiaddr);
            warnings.push(format!(
                "ignored the non-contiguous subnet mask {mask} (option 1); using /{p}"
            ));
            p
        }),
        _ => {
            let p = classful_prefix(yiaddr);
            warnings.push(format!(
                "the lease has no subnet mask (option 1); using /{p}"
            ));
            p
        }
    };

    let mut gateway = None;
    let mut routes = Vec::new();
    let routers = match opts.get(OptionCode::Router) {
        Some(DhcpOption::Router(r)) => r.clone(),
        _ => Vec::new(),
    };
    if let Some(DhcpOption::ClasslessStaticRoute(list)) = opts.get(OptionCode::ClasslessStaticRoute)
    {
        if !routers.is_empty() {
            warnings.push(
                "ignored the router option 3 because classless static routes (option 121) are present (RFC 3442)"
                    .to_string(),
            );
        }
        for (net, gw) in list {
            let destination = Ipv4Cidr {
                addr: net.network(),
                prefix: net.prefix_len(),
            };
            if destination.prefix == 0 {
                if gateway.is_none() && !gw.is_unspecified() {
                    gateway = Some(*gw);
                }
            } else {
                routes.push(Route {
                    destination,
                    gateway: *gw,
                });
            }
        }
    } else {
        gateway = routers.first().copied();
    }
    if let Some(gw) = gateway {
        if !same_subnet(gw, yiaddr, prefix) {
            warnings.push(format!(
                "the gateway {gw} is outside {yiaddr}/{prefix}; it will be added as an on-link route"
            ));
        }
    }

    let mut dns = match opts.get(OptionCode::DomainNameServer) {
        Some(DhcpOption::DomainNameServer(list)) => list.clone(),
        _ => Vec::new(),
    };
    if dns.is_empty() {
        warnings.push("the lease names no DNS server (option 6)".to_string());
    } else if dns.len() > MAX_DNS {
        warnings.push(format!(
            "using the first {MAX_DNS} of {} DNS servers",
            dns.len()
        ));
        dns.truncate(MAX_DNS);
    }

    let mut domain = match opts.get(OptionCode::DomainName) {
        Some(DhcpOption::DomainName(d)) => {
            let d = d.trim_end_matches('\0').trim();
            if is_domain(d) {
                Some(d.trim_end_matches('.').to_ascii_lowercase())
            } else {
                warnings.push(format!("ignored the invalid domain name {d:?} (option 15)"));
                None
            }
        }
        _ => None,
    };

    let hostname = match opts.get(OptionCode::Hostname) {
        Some(DhcpOption::Hostname(h)) => {
            let h = h.trim_end_matches('\0').trim().trim_end_matches('.');
            match h.split_once('.') {
                Some((host, rest)) if is_label(host) && is_domain(rest) => {
                    if domain.is_none() {
                        domain = Some(rest.to_ascii_lowercase());
                    }
                    host.to_ascii_lowercase()
                }
                None if is_label(h) => h.to_ascii_lowercase(),
                _ => {
                    warnings.push(format!(
                        "ignored the invalid hostname {h:?} (option 12); using {DEFAULT_HOSTNAME:?}"
                    ));
                    DEFAULT_HOSTNAME.to_string()
                }
            }
        }
        _ => DEFAULT_HOSTNAME.to_string(),
    };

    let search = match opts.get(OptionCode::DomainSearch) {
        Some(DhcpOption::DomainSearch(names)) => names
            .iter()
            .map(|n| n.to_ascii().trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| is_domain(n))
            .collect(),
        _ => Vec::new(),
    };

    let mtu = match opts.get(OptionCode::InterfaceMtu) {
        Some(DhcpOption::InterfaceMtu(m)) if *m >= MIN_MTU => Some(*m),
        Some(DhcpOption::InterfaceMtu(m)) => {
            warnings.push(format!(
                "ignored the MTU {m} (option 26): below the minimum of {MIN_MTU}"
            ));
            None
        }
        _ => None,
    };

    let lease_seconds = match opts.get(OptionCode::AddressLeaseTime) {
        Some(DhcpOption::AddressLeaseTime(s)) => *s,
        _ => u32::MAX,
    };
    if lease_seconds < SHORT_LEASE_SECONDS {
        warnings.push(format!(
            "the lease lasts only {} (under 2 h) and the installer does not renew it; a long download may lose the address",
            human_duration(lease_seconds)
        ));
    }

    Ok(Lease {
        config: NetConfig {
            interface: interface.to_string(),
            address: Ipv4Cidr {
                addr: yiaddr,
                prefix,
            },
            gateway,
            dns,
            hostname,
            domain,
            search,
            mtu,
            routes,
            source: Source::Dhcp {
                server,
                lease_seconds,
            },
        },
        warnings,
    })
}

/// `90` → "1 min 30 s", `7200` → "2 h".
pub fn human_duration(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::{MessageType, Opcode};

    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn ack(opts: Vec<DhcpOption>) -> Message {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(1, z, Ipv4Addr::new(192, 0, 2, 50), z, z, &[2; 6]);
        m.set_opcode(Opcode::BootReply);
        m.opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Ack));
        for o in opts {
            m.opts_mut().insert(o);
        }
        m
    }

    fn full() -> Vec<DhcpOption> {
        vec![
            DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)),
            DhcpOption::Router(vec![SERVER]),
            DhcpOption::DomainNameServer(vec![Ipv4Addr::new(192, 0, 2, 53)]),
            DhcpOption::DomainName("Example.COM".into()),
            DhcpOption::Hostname("node7".into()),
            DhcpOption::InterfaceMtu(1400),
            DhcpOption::AddressLeaseTime(86_400),
        ]
    }

    #[test]
    fn full_lease_becomes_config() {
        let lease = from_ack("eth0", &ack(full()), SERVER).unwrap();
        let c = &lease.config;
        assert_eq!(c.interface, "eth0");
        assert_eq!(c.address.addr, Ipv4Addr::new(192, 0, 2, 50));
        assert_eq!(c.address.prefix, 24);
        assert_eq!(c.gateway, Some(SERVER));
        assert_eq!(c.dns, vec![Ipv4Addr::new(192, 0, 2, 53)]);
        assert_eq!(c.domain.as_deref(), Some("example.com"));
        assert_eq!(c.hostname, "node7");
        assert_eq!(c.mtu, Some(1400));
        assert!(c.routes.is_empty());
        assert_eq!(
            c.source,
            Source::Dhcp {
                server: SERVER,
                lease_seconds: 86_400
            }
        );
        assert!(lease.warnings.is_empty(), "{:?}", lease.warnings);
    }

    #[test]
    fn option_121_overrides_option_3() {
        let mut opts = full();
        opts.push(DhcpOption::ClasslessStaticRoute(vec![
            ("10.0.0.0/8".parse().unwrap(), Ipv4Addr::new(192, 0, 2, 254)),
            ("0.0.0.0/0".parse().unwrap(), Ipv4Addr::new(192, 0, 2, 2)),
        ]));
        let lease = from_ack("eth0", &ack(opts), SERVER).unwrap();
        assert_eq!(lease.config.gateway, Some(Ipv4Addr::new(192, 0, 2, 2)));
        assert_eq!(
            lease.config.routes,
            vec![Route {
                destination: Ipv4Cidr {
                    addr: Ipv4Addr::new(10, 0, 0, 0),
                    prefix: 8
                },
                gateway: Ipv4Addr::new(192, 0, 2, 254)
            }]
        );
        assert!(lease.warnings.iter().any(|w| w.contains("RFC 3442")));
    }

    #[test]
    fn option_121_without_default_leaves_no_gateway() {
        let mut opts = full();
        opts.push(DhcpOption::ClasslessStaticRoute(vec![(
            "172.16.0.0/12".parse().unwrap(),
            Ipv4Addr::new(192, 0, 2, 254),
        )]));
        let lease = from_ack("eth0", &ack(opts), SERVER).unwrap();
        assert_eq!(lease.config.gateway, None);
        assert_eq!(lease.config.routes.len(), 1);
    }

    #[test]
    fn small_mtu_is_ignored_and_short_lease_warned() {
        let mut opts = full();
        opts.push(DhcpOption::InterfaceMtu(500));
        opts.push(DhcpOption::AddressLeaseTime(600));
        let lease = from_ack("eth0", &ack(opts), SERVER).unwrap();
        assert_eq!(lease.config.mtu, None);
        assert!(lease.warnings.iter().any(|w| w.contains("MTU 500")));
        assert!(lease
            .warnings
            .iter()
            .any(|w| w.contains("only 10 min") && w.contains("does not renew")));
    }

    #[test]
    fn defaults_when_options_are_missing() {
        let lease = from_ack("eth1", &ack(vec![]), SERVER).unwrap();
        let c = &lease.config;
        assert_eq!(c.hostname, DEFAULT_HOSTNAME);
        assert_eq!(c.address.prefix, 24); // classful guess for 192.0.2.50
        assert_eq!(c.gateway, None);
        assert_eq!(c.domain, None);
        assert_eq!(
            c.source,
            Source::Dhcp {
                server: SERVER,
                lease_seconds: u32::MAX
            }
        );
        assert!(lease.warnings.iter().any(|w| w.contains("no subnet mask")));
        assert!(lease.warnings.iter().any(|w| w.contains("no DNS server")));
    }

    #[test]
    fn fqdn_hostname_supplies_the_domain_and_bad_names_are_dropped() {
        let lease = from_ack(
            "eth0",
            &ack(vec![DhcpOption::Hostname("web1.lab.example".into())]),
            SERVER,
        )
        .unwrap();
        assert_eq!(lease.config.hostname, "web1");
        assert_eq!(lease.config.domain.as_deref(), Some("lab.example"));
        let bad = from_ack(
            "eth0",
            &ack(vec![DhcpOption::Hostname("bad_name!".into())]),
            SERVER,
        )
        .unwrap();
        assert_eq!(bad.config.hostname, DEFAULT_HOSTNAME);
        assert!(bad.warnings.iter().any(|w| w.contains("bad_name!")));
    }

    #[test]
    fn search_list_and_dns_limit() {
        let names = vec![
            dhcproto::Name::from_ascii("a.example.").unwrap(),
            dhcproto::Name::from_ascii("b.example").unwrap(),
        ];
        let dns = (1..=5).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
        let lease = from_ack(
            "eth0",
            &ack(vec![
                DhcpOption::DomainSearch(names),
                DhcpOption::DomainNameServer(dns),
            ]),
            SERVER,
        )
        .unwrap();
        assert_eq!(lease.config.search, vec!["a.example", "b.example"]);
        assert_eq!(lease.config.dns.len(), 3);
        assert!(lease.warnings.iter().any(|w| w.contains("first 3 of 5")));
    }

    #[test]
    fn no_address_is_an_error_naming_the_server() {
        let z = Ipv4Addr::UNSPECIFIED;
        let m = Message::new_with_id(1, z, z, z, z, &[2; 6]);
        let err = from_ack("eth0", &m, SERVER).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the DHCPACK from 192.0.2.1 assigns no usable address (0.0.0.0)"
        );
    }

    #[test]
    fn masks_and_labels() {
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(mask_to_prefix(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert!(is_label("a-1"));
        assert!(!is_label("-a"));
        assert!(!is_label(&"x".repeat(64)));
        assert!(is_domain("example.com."));
        assert!(!is_domain("exa mple.com"));
        assert_eq!(human_duration(7200), "2 h");
        assert_eq!(human_duration(90), "1 min 30 s");
    }
}
