//! The appliance's **desired state**: one typed value that says how the
//! system should be configured (network, host name, DNS, keyboard, consoles,
//! time zone, which keys exist). Writers produce a new state and nothing
//! else; [`crate::render`] turns it into files and [`crate::apply`] writes
//! them. First boot makes the first state from the handover record with
//! [`from_handover`] (pure).

use std::net::Ipv4Addr;

use handover::{Console, Handover, Ipv4Cidr, MacAddr, NetMode};
use serde::{Deserialize, Serialize};

/// The format of [`DesiredState`] this crate reads and writes.
pub const STATE_FORMAT: u32 = 1;
/// The time zone when nobody chose one.
pub const DEFAULT_TIME_ZONE: &str = "Etc/UTC";
/// The host name of the fallback state (no handover record).
pub const FALLBACK_HOSTNAME: &str = "appliance";

/// Everything the renderer needs. Serialized as `state.json` of a generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredState {
    /// Always [`STATE_FORMAT`].
    pub format: u32,
    /// What this appliance is (from the handover record; shown on the console).
    pub identity: Identity,
    /// Host name (one RFC 1123 label).
    pub hostname: String,
    /// DNS domain, if any.
    pub domain: Option<String>,
    /// Interfaces, name servers and search domains.
    pub network: NetworkState,
    /// Console keyboard.
    pub keyboard: KeyboardState,
    /// Where a login prompt runs.
    pub consoles: Vec<ConsoleKind>,
    /// tzdata name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// The keys first boot makes if missing (sorted, each once).
    pub keys: Vec<KeyKind>,
    /// The NTP servers chrony uses (host names or addresses), set by the
    /// setup wizard: `None` keeps the image's chrony configuration, an
    /// empty list means no time source (the clock was set by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntp_servers: Option<Vec<String>>,
}

/// What the appliance is; informative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Product name, e.g. `Example Appliance`.
    pub product: String,
    /// Model, e.g. `example-appliance`.
    pub model: String,
    /// Release version installed.
    pub version: String,
    /// The installation's id (32 hex digits), empty for the fallback state.
    pub install_id: String,
}

/// The network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkState {
    /// The configured interfaces.
    pub interfaces: Vec<Interface>,
    /// Static name servers (at most three). With DHCP the lease's servers
    /// are used in addition.
    pub dns: Vec<Ipv4Addr>,
    /// DNS search domains.
    pub search: Vec<String>,
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// The name the appliance gives the adapter (`lan0`); also the stem of
    /// its systemd-networkd files.
    pub name: String,
    /// How the adapter is found.
    #[serde(rename = "match")]
    pub matches: Match,
    /// How it gets its address.
    pub addressing: Addressing,
}

/// How an interface is found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by", content = "value")]
pub enum Match {
    /// By MAC address (names can change between kernels); the adapter is
    /// renamed to [`Interface::name`].
    Mac(MacAddr),
    /// Every Ethernet adapter (the fallback state; not renamed).
    AnyEthernet,
}

/// How an interface gets its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Addressing {
    /// Ask a DHCP server.
    Dhcp,
    /// A fixed address.
    Manual {
        /// Address and prefix, `10.0.2.15/24`.
        address: Ipv4Cidr,
        /// Default gateway, inside the subnet, or none.
        gateway: Option<Ipv4Addr>,
    },
}

/// The console keyboard (Debian's keyboard-configuration values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyboardState {
    /// The installer's code for the layout, e.g. `de`.
    pub code: String,
    /// XKB layout, e.g. `de`.
    pub xkb_layout: String,
    /// XKB variant, e.g. `nodeadkeys`, or empty.
    pub xkb_variant: String,
}

/// A console with a login prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsoleKind {
    /// The first virtual terminal (VGA/framebuffer), `tty1`.
    Vga,
    /// The first serial port, `ttyS0` at 115200 baud.
    Serial,
}

/// A key the appliance holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// `/etc/ssh/ssh_host_ed25519_key`.
    SshEd25519,
    /// `/etc/ssh/ssh_host_ecdsa_key` (NIST P-256).
    SshEcdsa,
    /// `/etc/appliance/tls/{key.pem,cert.pem}` for port 8443.
    Tls,
    /// `/etc/appliance/db.key`, 96 bytes.
    DbKey,
    /// The one-time setup code (secret, counter, hash).
    SetupCode,
}

impl KeyKind {
    /// Every kind, in order.
    pub const ALL: [KeyKind; 5] = [
        KeyKind::SshEd25519,
        KeyKind::SshEcdsa,
        KeyKind::Tls,
        KeyKind::DbKey,
        KeyKind::SetupCode,
    ];
}

/// One entry of the installer's keyboard list (the `index.json` that the
/// image carries at [`crate::paths::KEYMAP_INDEX`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutEntry {
    /// The installer's code.
    pub code: String,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// XKB layout.
    pub xkb_layout: String,
    /// XKB variant.
    #[serde(default)]
    pub xkb_variant: String,
}

/// A value of a state that cannot be rendered. `path` names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StateError {
    /// The field, e.g. `network.interfaces[0].name`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> StateError {
    StateError {
        path: path.into(),
        message: message.into(),
    }
}

/// The name the first interface gets.
pub const FIRST_INTERFACE: &str = "lan0";

/// The keyboard state for the installer's `code`: looked up in `layouts`;
/// a code that is not listed but is a plain XKB layout name (`us`, `pl`)
/// is taken as that layout; anything else falls back to `us`. The second
/// value is a warning for the console when the code was not found.
pub fn keyboard_for(code: &str, layouts: &[LayoutEntry]) -> (KeyboardState, Option<String>) {
    if let Some(l) = layouts.iter().find(|l| l.code == code) {
        return (
            KeyboardState {
                code: code.to_string(),
                xkb_layout: l.xkb_layout.clone(),
                xkb_variant: l.xkb_variant.clone(),
            },
            None,
        );
    }
    let plain = !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase());
    let (layout, note) = if plain {
        (
            code,
            format!("keyboard.layout: {code:?} is not in the keyboard list; using the XKB layout {code:?}"),
        )
    } else {
        (
            "us",
            format!("keyboard.layout: {code:?} is not in the keyboard list; using \"us\""),
        )
    };
    (
        KeyboardState {
            code: layout.to_string(),
            xkb_layout: layout.to_string(),
            xkb_variant: String::new(),
        },
        Some(note),
    )
}

/// The first desired state, from the handover record (pure). `layouts`
/// maps the installer's keyboard codes to XKB. Returns the state and the
/// warnings to show (e.g. an unknown keyboard code).
pub fn from_handover(h: &Handover, layouts: &[LayoutEntry]) -> (DesiredState, Vec<String>) {
    let mut warnings = Vec::new();
    let n = &h.network;
    let addressing = match (n.mode, n.address) {
        (NetMode::Manual, Some(address)) => Addressing::Manual {
            address,
            gateway: n.gateway,
        },
        // A valid record has an address in manual mode; DHCP otherwise.
        _ => Addressing::Dhcp,
    };
    let (keyboard, note) = keyboard_for(&h.keyboard.layout, layouts);
    warnings.extend(note);
    let mut consoles = vec![ConsoleKind::Vga];
    if h.console == Console::Serial {
        consoles.push(ConsoleKind::Serial);
    }
    let state = DesiredState {
        format: STATE_FORMAT,
        identity: Identity {
            product: h.installer.product.clone(),
            model: h.release.model.clone(),
            version: h.release.version.clone(),
            install_id: h.install_id.clone(),
        },
        hostname: n.hostname.to_ascii_lowercase(),
        domain: n.domain.clone(),
        network: NetworkState {
            interfaces: vec![Interface {
                name: FIRST_INTERFACE.to_string(),
                matches: Match::Mac(n.mac),
                addressing,
            }],
            // With DHCP the lease's servers win (docs/handover.md).
            dns: if n.mode == NetMode::Manual {
                n.dns.clone()
            } else {
                Vec::new()
            },
            search: n.search.clone(),
        },
        keyboard,
        consoles,
        time_zone: DEFAULT_TIME_ZONE.to_string(),
        keys: KeyKind::ALL.to_vec(),
        ntp_servers: None,
    };
    (state, warnings)
}

/// The state used when there is no handover record and no generation:
/// DHCP on every Ethernet adapter, US keyboard, both consoles.
pub fn fallback() -> DesiredState {
    DesiredState {
        format: STATE_FORMAT,
        identity: Identity {
            product: "Appliance".to_string(),
            model: String::new(),
            version: String::new(),
            install_id: String::new(),
        },
        hostname: FALLBACK_HOSTNAME.to_string(),
        domain: None,
        network: NetworkState {
            interfaces: vec![Interface {
                name: FIRST_INTERFACE.to_string(),
                matches: Match::AnyEthernet,
                addressing: Addressing::Dhcp,
            }],
            dns: Vec::new(),
            search: Vec::new(),
        },
        keyboard: KeyboardState {
            code: "us".to_string(),
            xkb_layout: "us".to_string(),
            xkb_variant: String::new(),
        },
        consoles: vec![ConsoleKind::Vga, ConsoleKind::Serial],
        time_zone: DEFAULT_TIME_ZONE.to_string(),
        keys: KeyKind::ALL.to_vec(),
        ntp_servers: None,
    }
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_domain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// Characters safe in the shell-like files the renderer writes.
fn is_word(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl DesiredState {
    /// Checks every value the renderer writes into a file; the error names
    /// the field.
    pub fn validate(&self) -> Result<(), StateError> {
        if self.format != STATE_FORMAT {
            return Err(err(
                "format",
                format!("{} is not supported (expected {STATE_FORMAT})", self.format),
            ));
        }
        if !is_label(&self.hostname) {
            return Err(err(
                "hostname",
                format!(
                    "{:?} is not one label of 1-63 letters, digits and inner dashes",
                    self.hostname
                ),
            ));
        }
        if let Some(d) = &self.domain {
            if !is_domain(d) {
                return Err(err("domain", format!("{d:?} is not a DNS domain")));
            }
        }
        let net = &self.network;
        if net.interfaces.is_empty() {
            return Err(err(
                "network.interfaces",
                "at least one interface is needed",
            ));
        }
        for (i, itf) in net.interfaces.iter().enumerate() {
            let at = format!("network.interfaces[{i}]");
            if !is_word(&itf.name) || itf.name.is_empty() || itf.name.len() > 15 {
                return Err(err(
                    format!("{at}.name"),
                    format!(
                        "{:?} is not an interface name (1-15 letters, digits, - or _)",
                        itf.name
                    ),
                ));
            }
            if net.interfaces[..i].iter().any(|o| o.name == itf.name) {
                return Err(err(
                    format!("{at}.name"),
                    format!("{:?} is used twice", itf.name),
                ));
            }
            if let Addressing::Manual { address, gateway } = &itf.addressing {
                if address.prefix == 0 {
                    return Err(err(
                        format!("{at}.addressing.address"),
                        "prefix 0 is not an interface address",
                    ));
                }
                if let Some(gw) = gateway {
                    if !address.contains(*gw) || *gw == address.addr {
                        return Err(err(
                            format!("{at}.addressing.gateway"),
                            format!("{gw} is not another address inside {address}"),
                        ));
                    }
                }
            }
        }
        if net.dns.len() > 3 {
            return Err(err(
                "network.dns",
                format!("{} name servers; at most 3", net.dns.len()),
            ));
        }
        for (i, s) in net.search.iter().enumerate() {
            if !is_domain(s) {
                return Err(err(
                    format!("network.search[{i}]"),
                    format!("{s:?} is not a DNS domain"),
                ));
            }
        }
        let kb = &self.keyboard;
        if kb.xkb_layout.is_empty() || !is_word(&kb.xkb_layout) {
            return Err(err(
                "keyboard.xkb_layout",
                format!("{:?} is not an XKB layout name", kb.xkb_layout),
            ));
        }
        if !is_word(&kb.xkb_variant) {
            return Err(err(
                "keyboard.xkb_variant",
                format!("{:?} is not an XKB variant name", kb.xkb_variant),
            ));
        }
        let tz_ok = !self.time_zone.is_empty()
            && !self.time_zone.starts_with('/')
            && !self
                .time_zone
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
            && self
                .time_zone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b));
        if !tz_ok {
            return Err(err(
                "time_zone",
                format!(
                    "{:?} is not a tzdata name like Europe/Berlin",
                    self.time_zone
                ),
            ));
        }
        if self.consoles.is_empty() {
            return Err(err("consoles", "at least one console is needed"));
        }
        for (i, s) in self.ntp_servers.iter().flatten().enumerate() {
            if s.parse::<std::net::IpAddr>().is_err() && !is_domain(s) {
                return Err(err(
                    format!("ntp_servers[{i}]"),
                    format!("{s:?} is not a host name or an IP address"),
                ));
            }
        }
        Ok(())
    }

    /// The fully qualified name (`appliance.example.test`), or the host name.
    pub fn fqdn(&self) -> String {
        match &self.domain {
            Some(d) => format!("{}.{d}", self.hostname),
            None => self.hostname.clone(),
        }
    }

    /// The static IPv4 addresses of the state.
    pub fn static_addresses(&self) -> Vec<Ipv4Addr> {
        self.network
            .interfaces
            .iter()
            .filter_map(|i| match &i.addressing {
                Addressing::Manual { address, .. } => Some(address.addr),
                Addressing::Dhcp => None,
            })
            .collect()
    }

    /// Whether any interface uses DHCP.
    pub fn uses_dhcp(&self) -> bool {
        self.network
            .interfaces
            .iter()
            .any(|i| i.addressing == Addressing::Dhcp)
    }

    /// Whether the state asks for `kind`.
    pub fn wants(&self, kind: KeyKind) -> bool {
        self.keys.contains(&kind)
    }
}
