//! Networking: the configuration types every path shares, and the one place
//! that changes the system's network state.
//!
//! Both ways to configure the network end in the same value: the manual screens
//! (or an answer file) validate into a [`NetConfig`], and a DHCP lease is turned
//! into a [`NetConfig`] too. [`NetOps::apply`] is the only code that configures
//! interfaces, routes, `/etc/resolv.conf` and `/etc/hosts`.

use serde::{Deserialize, Serialize};

pub mod apply;
pub mod cli;
pub mod dhcp;
pub mod doctor;
pub mod lease;
pub mod link;
pub mod netlink;
pub mod packet;
pub mod probe;
pub mod raw;
pub mod render;
pub mod system;

pub use system::SystemNet;

// The configuration types are the event contract's own (`protocol`): a
// configuration goes into the `network` event as it is, so there is one
// definition and no conversion.
pub use protocol::event::{Check, Ipv4Cidr, NetConfig, NetSource as Source, Route};

/// A network adapter as the user sees it in a choice list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub driver: Option<String>,
    pub mac: String,
    /// `Some(true)` carrier, `Some(false)` no carrier, `None` the driver does not say (tulip).
    pub link: Option<bool>,
}

/// What DHCP tried when it got no lease, for the user's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpFailure {
    pub interface: String,
    /// e.g. "sent 4 DISCOVERs over 30 s, no OFFER received"
    pub tried: String,
    /// e.g. "is the VM's network adapter connected?"
    pub hint: String,
}

/// The effectful network operations the installer flow needs. The real
/// implementation lives in this module; tests of the flow use a fake.
pub trait NetOps {
    /// Adapters, sorted by name, `lo` excluded.
    fn interfaces(&mut self) -> Vec<Interface>;
    /// Brings `interface` up, waits for carrier (bounded; proceeds without it
    /// when the driver never reports link), runs DHCP and returns the lease as
    /// a configuration (not yet applied). `progress` receives one line per step.
    fn dhcp(
        &mut self,
        interface: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<NetConfig, DhcpFailure>;
    /// Applies `config`: link up, address, MTU, routes, resolv.conf, hosts, hostname.
    fn apply(&mut self, config: &NetConfig) -> Result<(), String>;
    /// Runs the network doctor against the applied configuration.
    fn doctor(&mut self, config: &NetConfig) -> Vec<Check>;
}

/// The configuration most network tests start from: 192.0.2.10/24 on eth0,
/// gateway .1, one name server, hostname `node7`, typed by hand.
#[cfg(test)]
pub(crate) fn sample_config() -> NetConfig {
    use std::net::Ipv4Addr;
    NetConfig {
        interface: "eth0".into(),
        address: Ipv4Cidr {
            addr: Ipv4Addr::new(192, 0, 2, 10),
            prefix: 24,
        },
        gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
        dns: vec![Ipv4Addr::new(192, 0, 2, 53)],
        hostname: "node7".into(),
        domain: None,
        search: vec![],
        mtu: None,
        routes: vec![],
        source: Source::Manual,
    }
}
