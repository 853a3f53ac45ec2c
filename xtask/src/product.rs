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

/// Kernel modules put into the initramfs, with their dependency closure.
/// Grouped by purpose; see ARCHITECTURE.md for why each hypervisor needs which.
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
