//! The bottom layer: QEMU command lines as data ([`qemu`]), the one place
//! that starts processes ([`child`]), the installer's event stream
//! ([`events`]) and prompts ([`session`]), the ISO's files and variants
//! ([`media`]), the installer's boot loader files from the ISO
//! ([`bootfiles`]), test disks and volumes ([`disk`]), the pinned TLS client
//! ([`tls`]), QEMU's monitor ([`monitor`]) and ANSI stripping ([`text`]).
//! Nothing here knows a scenario.

pub mod bootfiles;
pub mod child;
pub mod disk;
pub mod events;
pub mod media;
pub mod monitor;
pub mod qemu;
pub mod session;
pub mod text;
pub mod tls;
