//! The parts of the record. Addresses are typed (they parse from and print
//! to their usual text form); everything else is checked in `validate`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which installer wrote the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallerInfo {
    /// Product name, e.g. `Example Appliance`.
    pub product: String,
    /// Installer version, e.g. `0.1.0`.
    pub version: String,
}

/// The installed release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Appliance model, e.g. `example-appliance`.
    pub model: String,
    /// Release channel, e.g. `stable`.
    pub channel: String,
    /// Release version, e.g. `1.0.0`.
    pub version: String,
    /// The components written to the disk, as verified by the installer.
    pub components: Vec<Component>,
}

/// One installed component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// Component name from the release manifest (`kernel`, `initrd`, `rootfs`).
    pub name: String,
    /// SHA-256 of the component as written, 64 lowercase hex digits.
    pub sha256: String,
}

/// What the serial number entitles to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// Models this serial number may run.
    pub models: Vec<String>,
    /// End of the entitlement (seconds since the Unix epoch), or `null` for none.
    pub expires: Option<u64>,
}

/// How the appliance configures its network on first boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Ask a DHCP server (the installer's lease is only informative).
    Dhcp,
    /// Use `address`, `gateway` and `dns` as given.
    Manual,
}

/// The network configuration chosen in the installer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// `dhcp` or `manual`.
    pub mode: NetMode,
    /// The interface name the installer saw (a fallback: names can change).
    pub interface: String,
    /// The adapter's MAC address; the appliance finds the adapter by it.
    pub mac: MacAddr,
    /// Address and prefix. Required for `manual`; for `dhcp` the installer's
    /// lease (informative) or `null`.
    pub address: Option<Ipv4Cidr>,
    /// Default gateway, inside the address's subnet, or `null` for none.
    pub gateway: Option<Ipv4Addr>,
    /// Name servers, at most three (may be omitted: none).
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    /// Host name (one RFC 1123 label).
    pub hostname: String,
    /// DNS domain, or `null`.
    pub domain: Option<String>,
    /// DNS search list (may be omitted: none).
    #[serde(default)]
    pub search: Vec<String>,
}

/// The console keyboard layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyboard {
    /// Layout name as in the installer's list, e.g. `us`, `de`, `fr`.
    pub layout: String,
}

/// The console the installer ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Console {
    /// First serial port, 115200 baud.
    #[serde(rename = "ttyS0")]
    Serial,
    /// The VGA/framebuffer console.
    #[serde(rename = "tty0")]
    Vga,
}

impl Console {
    /// The kernel command-line word for this console.
    pub fn kernel_arg(self) -> &'static str {
        match self {
            Console::Serial => "console=ttyS0,115200",
            Console::Vga => "console=tty0",
        }
    }
}

/// An Ethernet MAC address; text form `52:54:00:12:34:56` (lowercase when printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not a MAC address like 52:54:00:12:34:56");
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(err());
        }
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(err());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl TryFrom<String> for MacAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

/// An IPv4 address with prefix length; text form `10.0.2.15/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0–32.
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// Whether `ip` lies in this address's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not an address with prefix like 10.0.2.15/24");
        let (a, p) = s.split_once('/').ok_or_else(err)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| err())?;
        let prefix: u8 = p.parse().map_err(|_| err())?;
        if prefix > 32 || p.starts_with('+') {
            return Err(err());
        }
        Ok(Ipv4Cidr { addr, prefix })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Ipv4Cidr> for String {
    fn from(c: Ipv4Cidr) -> String {
        c.to_string()
    }
}
