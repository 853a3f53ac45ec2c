//! The set-up wizard's **activation** on the appliance, as one transaction
//! over the desired state's generations (docs/appliance.md, "Activation"):
//! a pure plan from the wizard's completed state (`plan`), one applier that
//! stages a complete generation — state, new keys, credentials, root's
//! password hash, `clients.conf`, licence, and what every touched path held
//! before — and switches to it with one rename (`apply`, `stage`), the
//! confirmation of an address change or its rollback at the deadline, and
//! the web service's requests (`request`). The binary `appliance-firstboot`
//! (first boot, the console watcher, requests, the rollback wait) lives
//! here because activation needs both `appliance-config` and
//! `appliance-wizard`, which itself depends on `appliance-config`.

pub mod apply;
pub mod backup;
pub mod check;
pub mod cmd;
pub mod plan;
pub mod request;
pub mod restored;
pub mod secrets;
pub mod stage;
pub mod status;
pub mod system;
