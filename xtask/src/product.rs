//! What the image says about itself: product name, version, volume id, the
//! kernel modules the installer ships, and the vendor settings an ISO build
//! embeds when none are given.

/// Product name shown by the boot menus and the installer.
pub const PRODUCT: &str = "Example Appliance";
/// ISO 9660 volume id; the installer finds its medium by it.
pub const VOLUME_ID: &str = "APPLIANCE_INSTALLER";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The appliance model an ISO installs unless `--model` says otherwise: the
/// sample appliance.
pub const DEFAULT_MODEL: &str = "example-appliance";
/// The release channel unless `--channel` says otherwise.
pub const DEFAULT_CHANNEL: &str = "stable";
/// The backend unless `--backend` says otherwise: the development backend as
/// a QEMU guest reaches the host (`cargo xtask repo serve`, port 18443).
pub const DEFAULT_BACKEND_URL: &str = "https://10.0.2.2:18443/";

/// Kernel modules put into the initramfs, with their dependency closure:
/// what finds the medium and a first network on the common hypervisors and
/// on a USB stick or SATA/NVMe CD. Everything else lives in the module pack
/// on the medium ([`PACK_DIRS`]). Grouped by purpose; see ARCHITECTURE.md
/// for why each hypervisor needs which.
pub const ROOT_MODULES: &[&str] = &[
    // network adapters: VMware (e1000, e1000e, vmxnet3), Hyper-V (tulip = legacy
    // adapter, hv_netvsc = synthetic), QEMU/KVM (virtio_net)
    "e1000",
    "e1000e",
    "tulip",
    "vmxnet3",
    "hv_netvsc",
    "virtio_net",
    // storage controllers and disks
    "ata_piix",
    "ata_generic",
    "ahci",
    "sd_mod",
    "sr_mod",
    "nvme",
    "hv_storvsc",
    "hv_vmbus",
    "hv_utils",
    "vmw_pvscsi",
    "mptsas",
    "mptspi",
    "megaraid_sas",
    "sym53c8xx",
    "virtio_blk",
    "virtio_scsi",
    "virtio_pci",
    // USB sticks and keyboards
    "usb_storage",
    "uas",
    "xhci_pci",
    "ehci_pci",
    "ohci_pci",
    "uhci_hcd",
    "usbhid",
    "hid_generic",
    "hyperv_keyboard",
    "hid_hyperv",
    // file systems
    "isofs",
    "vfat",
    "nls_cp437",
    "nls_iso8859_1",
    "nls_utf8",
    "nls_ascii",
    "ext4",
    "efivarfs",
];

/// Directories of the pinned kernel's module tree (relative to
/// `lib/modules/<release>`) whose every driver goes into the module pack on
/// the medium, with their dependency closure. Loaded after the medium was
/// found, by a second coldplug pass.
pub const PACK_DIRS: &[&str] = &[
    "kernel/drivers/net/ethernet",
    "kernel/drivers/net/usb",
    "kernel/drivers/scsi",
    "kernel/drivers/message/fusion",
    "kernel/drivers/ata",
    "kernel/drivers/nvme",
    "kernel/drivers/mmc",
    "kernel/drivers/usb/host",
    "kernel/drivers/usb/storage",
    "kernel/drivers/hid",
];

/// Single modules of the pack outside [`PACK_DIRS`]: Intel VMD, which puts
/// NVMe drives behind its own PCI domain.
pub const PACK_MODULES: &[&str] = &["vmd"];
