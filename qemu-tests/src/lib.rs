//! End-to-end tests that boot our images in QEMU.
//!
//! Layers, each importing only the ones below it:
//!
//! 1. [`harness`]: QEMU command lines as data ([`qemu::VmConfig`]), the one
//!    place that starts processes ([`child::Vm`], killed on drop, serial log
//!    per scenario), the installer's typed event stream
//!    ([`protocol::Event`]) and prompts ([`session`]), ISO media, test disks;
//! 2. [`servers`]: what guests talk to (HTTP, nginx, the flaky server, the
//!    test vendor's serials);
//! 3. [`scenario`]: scenarios as data (what each needs) and the runner;
//! 4. [`steps`]: steps the suites share; [`install_run`]: one whole
//!    install; [`reference_boot`]: the installed reference appliance's
//!    boots and checks, on top of them; [`otp_checks`]: its OTP service,
//!    MariaDB and FreeRADIUS from outside; [`wizard_flow`] and
//!    [`wizard_after`]: the set-up wizard's values (its steps are
//!    `browser_test::wizard`) and the checks after its activation;
//! 5. [`suites`]: one file per family, never importing each other;
//! 6. [`catalog`]: every scenario.
//!
//! `cargo xtask qemu-test` is the entry point; logs stay under
//! `target/qemu-tests/<scenario>/`.

pub mod catalog;
pub mod harness;
pub mod install_run;
pub mod otp_checks;
pub mod otp_flow;
pub mod reference_boot;
pub mod scenario;
pub mod servers;
pub mod setup_claim;
pub mod steps;
pub mod suites;
pub mod wizard_after;
pub mod wizard_flow;
pub mod wizard_run;

pub use harness::{child, events, media, qemu, session, text};
pub use servers::{flaky, http, nginx, vendor};
