//! Why the DHCP exchange produced no lease, and the user-facing
//! [`DhcpFailure`] made from it.

use std::io;
use std::net::Ipv4Addr;

use crate::net::packet::PacketError;
use crate::net::DhcpFailure;

/// Why no lease was obtained.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// Sending or receiving failed.
    #[error("dhcp {what} failed: {source}")]
    Io {
        /// "send" or "receive".
        what: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// A message could not be encoded.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// No server offered anything.
    #[error("sent {} over {} s, no OFFER received", plural(*discovers, "DISCOVER"), seconds)]
    NoOffer {
        /// DISCOVERs sent.
        discovers: u32,
        /// The total timeout in seconds.
        seconds: u64,
    },
    /// A server offered an address but never acknowledged it.
    #[error("sent {} and {} over {} s; {server} offered {offered} but {}",
        plural(*discovers, "DISCOVER"), plural(*requests, "REQUEST"), seconds,
        if *naks > 0 { format!("refused the REQUEST (NAK) {}", plural(*naks, "time")) } else { "never acknowledged it".to_string() })]
    NoAck {
        /// DISCOVERs sent.
        discovers: u32,
        /// REQUESTs sent.
        requests: u32,
        /// NAKs received.
        naks: u32,
        /// The last offered address.
        offered: Ipv4Addr,
        /// The server that offered it.
        server: Ipv4Addr,
        /// The total timeout in seconds.
        seconds: u64,
    },
}

/// `3 DISCOVERs`, `1 REQUEST`.
pub fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl DhcpError {
    /// The error as the user-facing failure on `interface`.
    pub fn failure(&self, interface: &str) -> DhcpFailure {
        let hint = match self {
            DhcpError::Io { .. } | DhcpError::Packet(_) => format!(
                "the installer could not use {interface} for DHCP; configure the network manually (M) or try another adapter"
            ),
            DhcpError::NoOffer { .. } => format!(
                "no DHCP server answered on {interface} — is the VM's network adapter connected?"
            ),
            DhcpError::NoAck { naks, offered, .. } if *naks > 0 => format!(
                "the DHCP server on {interface} refuses to lease {offered}; check its configuration or configure the network manually (M)"
            ),
            DhcpError::NoAck { .. } => format!(
                "the DHCP server on {interface} answers but does not confirm the lease; check its log or configure the network manually (M)"
            ),
        };
        DhcpFailure {
            interface: interface.to_string(),
            tried: self.to_string(),
            hint,
        }
    }
}
