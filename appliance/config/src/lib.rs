//! The reference appliance's configuration: one typed **desired state**
//! (`state`), kept as numbered generations (`generation`), rendered into
//! the files the system reads (`render`, pure) and written by one applier
//! (`apply`); the appliance's keys, made only if missing (`keys`,
//! `setup_code`); and the console text with URL, fingerprints and setup
//! code (`issue`, `console`), whose machine-readable line also carries the
//! VGA console's keymap as the kernel holds it (`keymap`). The binary
//! `appliance-firstboot` runs it at boot (`firstboot`) and refreshes the
//! console text when an address changes (`watch`); the dashboard's backup and restore job status both sides share (`jobs`). docs/appliance.md lists the files and their modes.

pub mod apply;
pub mod console;
pub mod der;
pub mod firstboot;
pub mod fsutil;
pub mod generation;
pub mod issue;
pub mod jobs;
pub mod keymap;
pub mod keys;
pub mod paths;
pub mod render;
pub mod setup_code;
pub mod state;
pub mod watch;

pub use state::DesiredState;
