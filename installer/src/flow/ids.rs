//! The ids of the `prompt` and `invalid` events: one per place the flow
//! waits for input. They are a contract with the QEMU harness
//! (docs/events.md) and live in the `protocol` crate, which both build on.

pub use protocol::ids::*;
