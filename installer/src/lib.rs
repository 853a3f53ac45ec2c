//! The appliance installer. The binary runs as `/init` (PID 1) in the
//! installer initramfs; see `main.rs` for the modes.
//!
//! Layout: pure parsers and renderers ([`cmdline`], [`console`] resolution,
//! [`facts`], [`medium`] detection, [`event`], [`screen`]) are separated from
//! the effectful parts ([`pid1`], [`ui`], [`modload`]'s kernel loader,
//! [`power`]'s shutdown, [`sys`]). Only [`sys::cmd`] starts processes.

pub mod answers;
pub mod backend;
pub mod bootpart;
pub mod buildinfo;
pub mod cli;
pub mod cmdline;
pub mod console;
pub mod event;
pub mod facts;
pub mod flow;
pub mod install;
pub mod keyboard;
pub mod log;
pub mod medium;
pub mod modload;
pub mod net;
pub mod pid1;
pub mod power;
pub mod screen;
pub mod secret;
pub mod sys;
pub mod ui;
pub mod vendor;

#[cfg(test)]
pub(crate) mod testutil;
