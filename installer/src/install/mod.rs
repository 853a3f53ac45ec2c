//! Installing to disk: the pure plan (which disk, which table, where every
//! partition goes), the boot loader pieces, the verified download, and the
//! one module that writes disks ([`apply`], with [`table`]).

pub mod apply;
pub mod bootloader;
pub mod bundle;
pub mod download;
pub mod efiboot;
pub mod error;
pub mod identity;
pub mod local;
pub mod ops;
pub mod pipe;
pub mod plan;
pub mod rawcopy;
pub mod system;
pub mod table;
pub mod verify_io;

pub use error::{Cause, ComponentError, Failure, InstallError};
pub use ops::{Hardware, InstallOps, Installed, Job, Progress};
pub use protocol::stage::{DiskState, Stage, StageAt};
