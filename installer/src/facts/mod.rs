//! Facts about the machine for the first screen, read from a root directory
//! (`/` on the target; a fake tree in tests and `installer facts --root`).
//! Nothing here changes the system.

mod firmware;
pub mod hw;
pub mod pci;

pub use firmware::{
    decode_secure_boot_var, parse_lockdown, secure_boot, Firmware, SecureBoot, SECURE_BOOT_VAR,
};
pub use hw::{disks, human_size, net_adapters, Disk, NetAdapter};
pub use pci::{controllers, missing_firmware, Controller, MissingFirmware};

use crate::cmdline::KernelCmdline;
use crate::console::ConsoleLayout;
use crate::medium::Scan;
use serde::Serialize;
use std::path::Path;

/// Everything the first screen shows about the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// Secure Boot state.
    pub secure_boot: SecureBoot,
    /// `grub`/`isolinux` from `installer.loader=`.
    pub loader: Option<String>,
    /// The console the installer runs on (e.g. `ttyS0`).
    pub console: String,
    /// Other active consoles.
    pub other_consoles: Vec<String>,
    /// The kernel command line, masked ([`KernelCmdline::masked`]): the
    /// facts screen shows it.
    pub cmdline: String,
    /// `uname -r` (from `/proc/sys/kernel/osrelease`), empty if unknown.
    pub kernel_release: String,
    /// Network adapters, sorted by name.
    pub net: Vec<NetAdapter>,
    /// Disks, sorted by name.
    pub disks: Vec<Disk>,
    /// Network and disk controllers on the PCI bus, sorted by address.
    pub controllers: Vec<Controller>,
    /// Firmware files drivers asked for and did not get (kernel log).
    pub missing_firmware: Vec<MissingFirmware>,
    /// The install medium search.
    pub medium: Scan,
}

/// Reads the kernel release from `<root>/proc/sys/kernel/osrelease`.
pub fn kernel_release(root: &Path) -> Option<String> {
    hw::read_attr(&root.join("proc/sys/kernel/osrelease"))
}

/// Reads `<root>/proc/cmdline` (empty if unreadable).
pub fn read_cmdline(root: &Path) -> KernelCmdline {
    KernelCmdline::parse(&std::fs::read_to_string(root.join("proc/cmdline")).unwrap_or_default())
}

impl Facts {
    /// Gathers the facts under `root`. `volume_id` is the medium to look for
    /// (one scan, no waiting); `None` skips the search.
    pub fn gather(
        root: &Path,
        cmdline: &KernelCmdline,
        consoles: &ConsoleLayout,
        volume_id: Option<&str>,
    ) -> Self {
        let firmware = Firmware::detect(root);
        Facts {
            firmware,
            secure_boot: secure_boot(root, firmware),
            loader: cmdline.loader().map(str::to_string),
            console: consoles.primary.name.clone(),
            other_consoles: consoles.others.iter().map(|c| c.name.clone()).collect(),
            cmdline: cmdline.masked(),
            kernel_release: kernel_release(root).unwrap_or_default(),
            net: net_adapters(root),
            disks: disks(root),
            controllers: controllers(root),
            missing_firmware: missing_firmware(&pci::read_kernel_log(root)),
            medium: volume_id
                .map(|v| crate::medium::scan(root, v))
                .unwrap_or_default(),
        }
    }

    /// Re-reads the hardware lists (after modules were loaded).
    pub fn refresh_hardware(&mut self, root: &Path) {
        self.net = net_adapters(root);
        self.disks = disks(root);
        self.controllers = controllers(root);
        self.missing_firmware = missing_firmware(&pci::read_kernel_log(root));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::resolve_active;
    use crate::testutil::TempTree;

    #[test]
    fn gather_reads_a_fake_root() {
        let t = TempTree::new("facts");
        t.write(
            "proc/cmdline",
            b"console=tty0 console=ttyS0,115200n8 installer.loader=isolinux\n",
        );
        t.write("proc/sys/kernel/osrelease", b"6.1.0-56-amd64\n");
        t.write("sys/class/net/eth0/address", b"52:54:00:12:34:56\n");
        let cmdline = read_cmdline(t.path());
        let consoles = resolve_active("tty0 ttyS0").unwrap();
        let f = Facts::gather(t.path(), &cmdline, &consoles, Some("APPLIANCE_INSTALL"));
        assert_eq!(f.firmware, Firmware::Bios);
        assert!(!f.secure_boot.is_enabled());
        assert_eq!(f.loader.as_deref(), Some("isolinux"));
        assert_eq!(f.console, "ttyS0");
        assert_eq!(f.other_consoles, ["tty1"]);
        assert_eq!(
            f.cmdline,
            "console=tty0 console=ttyS0,115200n8 installer.loader=isolinux"
        );
        assert_eq!(f.kernel_release, "6.1.0-56-amd64");
        assert_eq!(f.net.len(), 1);
        assert!(f.disks.is_empty());
        assert_eq!(f.medium.found, None);
    }
}
