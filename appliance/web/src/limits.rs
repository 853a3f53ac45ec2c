//! The limits that keep slow or greedy clients from starving others.
//! Values and reasons are listed in ARCHITECTURE.md and docs/appliance.md.

use std::time::Duration;

/// Every limit of the service in one place; [`Limits::default`] is what
/// the appliance runs with, tests shorten the clocks.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From accept to a finished TLS handshake.
    pub handshake: Duration,
    /// From the moment the server waits for a request head (right after the
    /// handshake, and again after each response) to its last byte. It is
    /// also the keep-alive idle timeout: an idle connection is closed when
    /// no next head has arrived in this time.
    pub head: Duration,
    /// From a complete head to the response, body upload included.
    pub request: Duration,
    /// Open connections from one client: one IPv4 address or one IPv6 /64.
    pub per_client: usize,
    /// Open connections in total.
    pub global: usize,
    /// Request body bytes (but System → Restore's upload, capped by its
    /// own setting).
    pub body: usize,
    /// From a complete head to the response of System → Restore's upload.
    pub upload: Duration,
    /// Bytes of one request head (hyper's read buffer; at least 8192).
    pub head_bytes: usize,
    /// Header fields in one request head.
    pub headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake: Duration::from_secs(10),
            head: Duration::from_secs(10),
            request: Duration::from_secs(30),
            per_client: 16,
            global: 256,
            body: 64 * 1024,
            upload: Duration::from_secs(30 * 60),
            head_bytes: 16 * 1024,
            headers: 64,
        }
    }
}
