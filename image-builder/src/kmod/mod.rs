//! Linux kernel modules.
//!
//! * Build side (runs on the build host, in xtask): [`ModuleDb::scan`] reads every
//!   `.ko` of a `lib/modules/<kver>` tree ([`modinfo`] decodes `.modinfo`),
//!   [`ModuleDb::closure`] computes what to ship for a list of root modules, and
//!   [`ModuleDb::render_index`] writes `modules.dep`/`.alias`/`.softdep`/`.builtin`
//!   in depmod's text formats for that set.
//! * Run time (the installer as PID 1): [`index::ModuleIndex`] parses those files back
//!   and answers "which modules for this modalias" and "in which order to load".
//!
//! Module names are normalised with `-` → `_` everywhere they are compared.

mod db;
mod error;
pub mod glob;
pub mod index;
pub mod modinfo;
pub mod pack;
#[doc(hidden)]
pub mod reference;
mod render;

pub use db::{Closure, ModuleDb, ModuleRecord, ModuleRef};
pub use error::KmodError;
pub use index::{glob_match, normalize_name, LoadStep, ModuleIndex};
pub use modinfo::ModInfo;
pub use render::IndexFiles;
