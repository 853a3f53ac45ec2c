//! The scenario families, one file each. A suite builds on
//! [`crate::steps`], [`crate::scenario`], [`crate::harness`] and
//! [`crate::servers`], never on another suite; the catalog lists them.

pub mod appliance;
pub mod boot;
pub mod faults;
pub mod flows;
pub mod hardware;
pub mod installed;
pub mod installs;
pub mod journey;
pub mod reference;
pub mod restore_moved;
pub mod restore_variants;
pub mod secrets;
pub mod serials;
pub mod wizard;
