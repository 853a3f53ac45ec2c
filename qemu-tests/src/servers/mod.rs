//! What the guests talk to: a loopback file server ([`http`]), nginx as the
//! HTTPS test backend ([`nginx`]), a fault-injecting HTTPS server
//! ([`flaky`]), and the test vendor's serial numbers ([`vendor`]).
//! Built on [`crate::harness`] only.

pub mod flaky;
pub mod http;
pub mod nginx;
pub mod vendor;
