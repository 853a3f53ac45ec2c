//! The contract between the installer and whoever watches it (the QEMU
//! harness, a log collector): the events it emits as JSON lines
//! (docs/events.md) and the ids of the prompts where it waits for input.
//!
//! The installer builds [`Event`] values and writes [`Event::serial_line`];
//! the harness reads them back with [`Event::from_serial_line`] and matches
//! on the variants. Both sides compile against these types, so a renamed
//! event, field or prompt id breaks the build rather than a test run.
//! The payload types here are the wire form; the installer converts its own
//! types into them.

pub mod event;
pub mod ids;
pub mod stage;

pub use event::{
    Check, DiskInfo, Event, Firmware, Ipv4Cidr, MediumKind, ModuleFailure, NetConfig, NetSource,
    PowerAction, Route, TableKind,
};

/// Prefix of event lines on the second serial port.
pub const SERIAL_PREFIX: &str = "INSTALLER-EVENT ";
