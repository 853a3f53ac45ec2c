//! Console keyboard layouts: the list shipped in the initramfs, applying one to
//! the VGA console, and the record written for the installed system.

use serde::{Deserialize, Serialize};

pub mod apply;
pub mod bkeymap;
pub mod system;
pub mod target;

pub use system::SystemKeyboard;

/// A layout the user can choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Our code, e.g. "de", "de-ch", "us".
    pub code: String,
    /// Shown in the list, e.g. "German (no dead keys)".
    pub name: String,
    /// XKB layout and variant for `/etc/default/keyboard` on the target.
    pub xkb_layout: String,
    pub xkb_variant: String,
}

/// The effectful keyboard operations the installer flow needs; tests use a fake.
pub trait KeyboardOps {
    /// Every shipped layout, "us" first.
    fn layouts(&mut self) -> Vec<Layout>;
    /// Loads `code` into the VGA console keyboard (no-op with Ok on serial,
    /// where the remote terminal translates keys). Err names the cause.
    fn apply(&mut self, code: &str) -> Result<(), String>;
}
