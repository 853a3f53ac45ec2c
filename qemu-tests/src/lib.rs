//! End-to-end tests that boot our images in QEMU.
//!
//! The harness builds each QEMU command as data ([`qemu::VmConfig`]), runs it
//! under TCG unless KVM is asked for, drives the first serial port
//! expect-style ([`child::Vm`]), reads the installer's machine-readable events
//! from the second serial port ([`events`]), kills QEMU on drop, and keeps each
//! scenario's logs under `target/qemu-tests/<scenario>/`.
//!
//! `cargo xtask qemu-test` is the entry point; see [`scenario`].

pub mod appliance;
pub mod child;
pub mod events;
pub mod flaky;
pub mod flows;
pub mod http;
pub mod install;
pub mod install_faults;
pub mod install_more;
pub mod installed;
pub mod media;
pub mod nginx;
pub mod qemu;
pub mod scenario;
pub mod serials;
pub mod session;
pub mod text;
pub mod vendor;
