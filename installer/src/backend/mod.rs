//! The vendor backend: the HTTPS repository the installer verifies
//! the appliance against and downloads from.
//!
//! - [`fetch`] — a small blocking HTTPS client that trusts only the vendor CA
//!   pinned in the ISO, with one typed error per cause the user must act on
//!   differently (and a hint for each), plus the clock check that comes first.

pub mod fetch;
