//! Step 2, network: DHCP or a static IPv4 address, host name, domain, search
//! list and name servers.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::names::{domain_problem, hostname_problem};
use crate::{shown, split_list, FieldError};

/// The most name servers.
pub const MAX_DNS: usize = 3;
/// The most search domains (resolv.conf's limit).
pub const MAX_SEARCH: usize = 6;
/// The port the wizard and the dashboard answer on.
pub const HTTPS_PORT: u16 = 8443;

/// The network form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkForm {
    /// `dhcp` or `static`.
    pub mode: String,
    /// IPv4 address, optionally with `/prefix`.
    pub address: String,
    /// Netmask: dotted (`255.255.255.0`) or prefix (`/24` or `24`).
    pub netmask: String,
    /// Default gateway (optional).
    pub gateway: String,
    /// Host name.
    pub hostname: String,
    /// DNS domain (optional).
    pub domain: String,
    /// Search domains, separated by spaces or commas.
    pub search: String,
    /// Name servers, separated by spaces or commas.
    pub dns: String,
}

/// How the appliance gets its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Addressing {
    /// From a DHCP server.
    Dhcp,
    /// Fixed.
    Static {
        /// The address.
        address: Ipv4Addr,
        /// Prefix length, 8–32.
        prefix: u8,
        /// Default gateway.
        gateway: Option<Ipv4Addr>,
    },
}

/// A valid network step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Addressing.
    pub addressing: Addressing,
    /// Host name, lower case.
    pub hostname: String,
    /// Domain, lower case, without a final dot.
    pub domain: Option<String>,
    /// Search domains.
    pub search: Vec<String>,
    /// Name servers.
    pub dns: Vec<IpAddr>,
}

impl Network {
    /// Where the wizard's pages will be after activation (static only).
    pub fn url_after_activation(&self) -> Option<String> {
        match self.addressing {
            Addressing::Static { address, .. } => Some(format!("https://{address}:{HTTPS_PORT}/")),
            Addressing::Dhcp => None,
        }
    }
}

fn mask_bits(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// Reads a netmask: `255.255.255.0`, `/24` or `24`.
fn parse_netmask(text: &str) -> Result<u8, String> {
    let t = text.trim();
    let digits = t.strip_prefix('/').unwrap_or(t);
    if !digits.is_empty() && digits.len() <= 2 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let p: u8 = digits.parse().map_err(|_| String::new())?;
        return if (8..=32).contains(&p) {
            Ok(p)
        } else {
            Err(format!(
                "Netmask /{p} is out of range: use a prefix between /8 and /32"
            ))
        };
    }
    let Ok(mask) = t.parse::<Ipv4Addr>() else {
        return Err(format!(
            "Netmask {} is neither a dotted netmask nor a prefix: write e.g. 255.255.255.0 or /24",
            shown(t)
        ));
    };
    let bits = u32::from(mask);
    let prefix = bits.leading_ones() as u8;
    if mask_bits(prefix) != bits {
        return Err(format!(
            "Netmask {t} has gaps: its one-bits must be contiguous from the left, e.g. 255.255.255.0"
        ));
    }
    if prefix < 8 {
        return Err(format!(
            "Netmask {t} is out of range: use a prefix between /8 and /32"
        ));
    }
    Ok(prefix)
}

/// Why `a` cannot be a host's address, or `None`.
fn special_v4(a: Ipv4Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("is the unspecified address")
    } else if a.is_loopback() {
        Some("is a loopback address")
    } else if a.is_multicast() {
        Some("is a multicast address")
    } else if a.octets()[0] >= 240 {
        Some("is a reserved or broadcast address")
    } else {
        None
    }
}

fn static_part(form: &NetworkForm, errors: &mut Vec<FieldError>) -> Option<Addressing> {
    let (addr_text, inline_prefix) = match form.address.trim().split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (form.address.trim(), None),
    };
    if addr_text.is_empty() {
        errors.push(FieldError::new(
            "address",
            "IP address is required for a static configuration: enter e.g. 192.168.1.10",
        ));
        return None;
    }
    let Ok(address) = addr_text.parse::<Ipv4Addr>() else {
        errors.push(FieldError::new(
            "address",
            format!(
                "IP address {} is not an IPv4 address: write four numbers 0-255 separated by dots, e.g. 192.168.1.10",
                shown(addr_text)
            ),
        ));
        return None;
    };
    if let Some(p) = special_v4(address) {
        errors.push(FieldError::new(
            "address",
            format!("IP address {address} {p}: enter the appliance's own address"),
        ));
        return None;
    }
    let prefix = match (inline_prefix, form.netmask.trim()) {
        (Some(_), m) if !m.is_empty() => {
            errors.push(FieldError::new(
                "netmask",
                "Netmask is given twice (after the address and in its field): keep one",
            ));
            return None;
        }
        (Some(p), _) => parse_netmask(p),
        (None, "") => {
            errors.push(FieldError::new(
                "netmask",
                "Netmask is required for a static configuration: enter e.g. 255.255.255.0 or /24",
            ));
            return None;
        }
        (None, m) => parse_netmask(m),
    };
    let prefix = match prefix {
        Ok(p) => p,
        Err(m) => {
            errors.push(FieldError::new("netmask", m));
            return None;
        }
    };
    let mask = mask_bits(prefix);
    let net = u32::from(address) & mask;
    let broadcast = net | !mask;
    if prefix < 31 && u32::from(address) == net {
        errors.push(FieldError::new(
            "address",
            format!("IP address {address} is the network address of /{prefix}: choose a host address inside the subnet"),
        ));
        return None;
    }
    if prefix < 31 && u32::from(address) == broadcast {
        errors.push(FieldError::new(
            "address",
            format!("IP address {address} is the broadcast address of /{prefix}: choose a host address inside the subnet"),
        ));
        return None;
    }
    let gw_text = form.gateway.trim();
    let gateway = if gw_text.is_empty() {
        None
    } else {
        let Ok(gw) = gw_text.parse::<Ipv4Addr>() else {
            errors.push(FieldError::new(
                "gateway",
                format!(
                    "Gateway {} is not an IPv4 address: enter the router's address, e.g. 192.168.1.1, or leave it empty",
                    shown(gw_text)
                ),
            ));
            return None;
        };
        let g = u32::from(gw);
        if gw == address {
            errors.push(FieldError::new(
                "gateway",
                format!("Gateway {gw} is the appliance's own address: enter the router's address"),
            ));
            return None;
        }
        if prefix == 32 {
            errors.push(FieldError::new(
                "gateway",
                format!("Gateway {gw}: a /32 address has no subnet to reach a gateway in: use a shorter netmask or leave the gateway empty"),
            ));
            return None;
        }
        if g & mask != net {
            errors.push(FieldError::new(
                "gateway",
                format!(
                    "Gateway {gw} is outside the subnet {}/{prefix}: enter a router inside it",
                    Ipv4Addr::from(net)
                ),
            ));
            return None;
        }
        if prefix < 31 && (g == net || g == broadcast) {
            errors.push(FieldError::new(
                "gateway",
                format!("Gateway {gw} is the network or broadcast address of the subnet: enter the router's address"),
            ));
            return None;
        }
        Some(gw)
    };
    Some(Addressing::Static {
        address,
        prefix,
        gateway,
    })
}

/// Checks the network step.
pub fn validate(form: &NetworkForm) -> Result<Network, Vec<FieldError>> {
    let mut errors = Vec::new();
    let addressing = match form.mode.trim() {
        "dhcp" => Some(Addressing::Dhcp),
        "static" => static_part(form, &mut errors),
        "" => {
            errors.push(FieldError::new(
                "mode",
                "Configuration is required: choose DHCP or static",
            ));
            None
        }
        other => {
            errors.push(FieldError::new(
                "mode",
                format!(
                    "Configuration {} is unknown: choose DHCP or static",
                    shown(other)
                ),
            ));
            None
        }
    };
    let hostname = form.hostname.trim().to_ascii_lowercase();
    if hostname.is_empty() {
        errors.push(FieldError::new(
            "hostname",
            "Host name is required: enter a name such as otp1 (letters, digits, hyphens)",
        ));
    } else if let Some(p) = hostname_problem(&hostname) {
        errors.push(FieldError::new(
            "hostname",
            format!("Host name {} {p}", shown(form.hostname.trim())),
        ));
    }
    let domain_text = form.domain.trim().to_ascii_lowercase();
    let domain = if domain_text.is_empty() {
        None
    } else if let Some(p) = domain_problem(&domain_text) {
        errors.push(FieldError::new(
            "domain",
            format!(
                "Domain {} {p}: enter e.g. example.com or leave it empty",
                shown(form.domain.trim())
            ),
        ));
        None
    } else {
        Some(domain_text.trim_end_matches('.').to_string())
    };
    let mut search: Vec<String> = Vec::new();
    let entries = split_list(&form.search);
    if entries.len() > MAX_SEARCH {
        errors.push(FieldError::new(
            "search",
            format!(
                "Search lists {} domains: enter at most {MAX_SEARCH}",
                entries.len()
            ),
        ));
    }
    for entry in entries.iter().take(MAX_SEARCH) {
        let d = entry.to_ascii_lowercase();
        if let Some(p) = domain_problem(&d) {
            errors.push(FieldError::new(
                "search",
                format!(
                    "Search: the entry {} {p}: enter domains such as example.com",
                    shown(entry)
                ),
            ));
        } else {
            let d = d.trim_end_matches('.').to_string();
            if search.contains(&d) {
                errors.push(FieldError::new(
                    "search",
                    format!("Search lists {d} twice: enter each domain once"),
                ));
            } else {
                search.push(d);
            }
        }
    }
    let mut dns: Vec<IpAddr> = Vec::new();
    let servers = split_list(&form.dns);
    let is_static = matches!(form.mode.trim(), "static");
    if servers.is_empty() && is_static {
        errors.push(FieldError::new(
            "dns",
            "DNS servers: enter 1 to 3 name server addresses for a static configuration",
        ));
    } else if servers.len() > MAX_DNS {
        errors.push(FieldError::new(
            "dns",
            format!(
                "DNS servers lists {} addresses: enter 1 to 3",
                servers.len()
            ),
        ));
    } else {
        for s in servers {
            match s.parse::<IpAddr>() {
                Ok(ip) if ip.is_unspecified() || ip.is_multicast() => errors.push(FieldError::new(
                    "dns",
                    format!("DNS servers: {ip} cannot be a name server: enter a unicast address"),
                )),
                Ok(ip) if dns.contains(&ip) => errors.push(FieldError::new(
                    "dns",
                    format!("DNS servers lists {ip} twice: enter each server once"),
                )),
                Ok(ip) => dns.push(ip),
                Err(_) => errors.push(FieldError::new(
                    "dns",
                    format!(
                        "DNS servers: {} is not an IPv4 or IPv6 address (names cannot be resolved before DNS works): enter e.g. 192.0.2.53",
                        shown(s)
                    ),
                )),
            }
        }
    }
    match addressing {
        Some(addressing) if errors.is_empty() => Ok(Network {
            addressing,
            hostname,
            domain,
            search,
            dns,
        }),
        // No addressing means an error was recorded.
        _ => Err(errors),
    }
}
