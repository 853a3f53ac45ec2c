//! Pure-Rust writers for the pieces of a bootable installer image.
//!
//! Invariant: nothing in this crate needs root, spawns a process or touches the
//! network; every writer is deterministic for a given input and build epoch.
//! Tests may run reference tools (xorriso, isoinfo, cpio, fsck.vfat) to check
//! the bytes we produce.

pub mod cpio;
pub mod date;
pub mod fat;
pub mod iso;
pub mod kmod;
