//! Test support: compare our closures with `modprobe --show-depends` on the real
//! Debian kernel (the table below). Hidden from the docs; meant to be
//! called by xtask when a real `lib/modules/<kver>` tree has been unpacked.

use std::collections::BTreeSet;
use std::path::Path;

use super::db::ModuleDb;
use super::error::KmodError;
use super::index::{normalize_name, ModuleIndex};

/// `(root, closure in modprobe load order)` measured on linux-image-6.1.0-56-amd64
/// (`pata_acpi`, absent from that kernel, left out).
pub const APPENDIX_A: &[(&str, &[&str])] = &[
    ("e1000", &["e1000"]),
    ("e1000e", &["e1000e"]),
    ("tulip", &["tulip"]),
    ("hv_netvsc", &["hv_vmbus", "hv_netvsc"]),
    ("vmxnet3", &["vmxnet3"]),
    (
        "virtio_net",
        &[
            "virtio_ring",
            "virtio",
            "failover",
            "net_failover",
            "virtio_net",
        ],
    ),
    (
        "virtio_pci",
        &[
            "virtio_ring",
            "virtio",
            "virtio_pci_modern_dev",
            "virtio_pci_legacy_dev",
            "virtio_pci",
        ],
    ),
    (
        "ata_piix",
        &["scsi_common", "scsi_mod", "libata", "ata_piix"],
    ),
    (
        "ahci",
        &["scsi_common", "scsi_mod", "libata", "libahci", "ahci"],
    ),
    ("sr_mod", &["cdrom", "scsi_common", "scsi_mod", "sr_mod"]),
    ("cdrom", &["cdrom"]),
    ("isofs", &["cdrom", "isofs"]),
    ("vfat", &["fat", "vfat"]),
    ("nls_cp437", &["nls_cp437"]),
    ("nls_iso8859_1", &["nls_iso8859-1"]),
    ("nls_utf8", &["nls_utf8"]),
    ("nls_ascii", &["nls_ascii"]),
    ("virtio_blk", &["virtio_ring", "virtio", "virtio_blk"]),
    (
        "virtio_scsi",
        &[
            "virtio_ring",
            "virtio",
            "scsi_common",
            "scsi_mod",
            "virtio_scsi",
        ],
    ),
    (
        "nvme",
        &[
            "crct10dif_common",
            "crc64",
            "crct10dif-pclmul",
            "crct10dif_generic",
            "crc-t10dif",
            "crc64-rocksoft",
            "t10-pi",
            "nvme-core",
            "nvme",
        ],
    ),
    (
        "hv_storvsc",
        &[
            "hv_vmbus",
            "scsi_common",
            "scsi_mod",
            "scsi_transport_fc",
            "hv_storvsc",
        ],
    ),
    ("hv_vmbus", &["hv_vmbus"]),
    ("vmw_pvscsi", &["scsi_common", "scsi_mod", "vmw_pvscsi"]),
    (
        "mptspi",
        &[
            "scsi_common",
            "scsi_mod",
            "scsi_transport_spi",
            "mptbase",
            "mptscsih",
            "mptspi",
        ],
    ),
    (
        "sd_mod",
        &[
            "crct10dif_common",
            "crc64",
            "crct10dif-pclmul",
            "crct10dif_generic",
            "crc-t10dif",
            "scsi_common",
            "scsi_mod",
            "crc64-rocksoft",
            "t10-pi",
            "sd_mod",
        ],
    ),
    (
        "usb_storage",
        &[
            "usb-common",
            "usbcore",
            "scsi_common",
            "scsi_mod",
            "usb-storage",
        ],
    ),
    (
        "uas",
        &[
            "usb-common",
            "usbcore",
            "scsi_common",
            "scsi_mod",
            "usb-storage",
            "uas",
        ],
    ),
    (
        "xhci_pci",
        &["usb-common", "usbcore", "xhci-hcd", "xhci-pci"],
    ),
    ("xhci_hcd", &["usb-common", "usbcore", "xhci-hcd"]),
    (
        "ehci_pci",
        &["usb-common", "usbcore", "ehci-hcd", "ehci-pci"],
    ),
    ("ehci_hcd", &["usb-common", "usbcore", "ehci-hcd"]),
    (
        "ohci_pci",
        &[
            "usb-common",
            "usbcore",
            "ehci-hcd",
            "ohci-hcd",
            "ehci-pci",
            "ohci-pci",
        ],
    ),
    // A first measurement listed uhci_hcd without ehci-pci, but uhci-hcd.ko has
    // `softdep=pre: ehci_pci` and kmod 30's `modprobe -C /dev/null -d <root>
    // --show-depends uhci_hcd` (after `depmod -b`) does list ehci-pci: corrected here.
    (
        "uhci_hcd",
        &["usb-common", "usbcore", "ehci-hcd", "ehci-pci", "uhci-hcd"],
    ),
    (
        "ext4",
        &[
            "crc32c-intel",
            "crc32c_generic",
            "jbd2",
            "mbcache",
            "crc16",
            "ext4",
        ],
    ),
    ("crc32c_intel", &["crc32c-intel"]),
    ("crc32c_generic", &["crc32c_generic"]),
    ("squashfs", &["squashfs"]),
    ("loop", &["loop"]),
    ("overlay", &["overlay"]),
    ("hid_generic", &["hid", "hid-generic"]),
    ("usbhid", &["usb-common", "usbcore", "hid", "usbhid"]),
    ("hyperv_keyboard", &["hv_vmbus", "hyperv-keyboard"]),
    ("hid_hyperv", &["hv_vmbus", "hid", "hid-hyperv"]),
    (
        "ata_generic",
        &["scsi_common", "scsi_mod", "libata", "ata_generic"],
    ),
    (
        "sym53c8xx",
        &["scsi_common", "scsi_mod", "scsi_transport_spi", "sym53c8xx"],
    ),
    ("BusLogic", &["scsi_common", "scsi_mod", "BusLogic"]),
    (
        "mptsas",
        &[
            "scsi_common",
            "scsi_mod",
            "scsi_transport_sas",
            "mptbase",
            "mptscsih",
            "mptsas",
        ],
    ),
    ("megaraid_sas", &["scsi_common", "scsi_mod", "megaraid_sas"]),
    (
        "virtio_console",
        &["virtio_ring", "virtio", "virtio_console"],
    ),
    ("efivarfs", &["efivarfs"]),
];

/// Checks every [`APPENDIX_A`] closure against `modules_dir` (a `lib/modules/<kver>`
/// directory of the Debian kernel, e.g. `/tmp/kroot/lib/modules/6.1.0-56-amd64`), twice:
/// 1. [`ModuleDb::closure`] must give exactly the reference set;
/// 2. the index files rendered for the union of all closures, parsed back with
///    [`ModuleIndex::parse`], must give the same set from `load_order`, with every
///    hard dependency before its user.
///
/// Returns the number of roots checked; the first difference is an error
/// ([`KmodError::ReferenceMismatch`]).
pub fn check_appendix_a(modules_dir: &Path) -> Result<usize, KmodError> {
    let db = ModuleDb::scan(modules_dir)?;
    let roots: Vec<&str> = APPENDIX_A.iter().map(|(root, _)| *root).collect();
    for (root, expected) in APPENDIX_A {
        let ours: BTreeSet<String> = db.closure(&[root])?.into_iter().map(|m| m.name).collect();
        compare(root, expected, &ours)?;
    }
    let union = db.closure(&roots)?;
    let files = db.render_index(&union)?;
    let index = ModuleIndex::parse(&files.dep, &files.alias, &files.softdep, &files.builtin)?;
    for (root, expected) in APPENDIX_A {
        let steps = index.load_order(root)?;
        let ours: BTreeSet<String> = steps.iter().map(|s| s.name.clone()).collect();
        compare(root, expected, &ours)?;
        for (i, step) in steps.iter().enumerate() {
            let Some(record) = db.get(&step.name) else {
                continue;
            };
            for dep in &record.info.depends {
                let dep = normalize_name(dep);
                if let Some(pos) = steps.iter().position(|s| s.name == dep) {
                    if pos > i {
                        return Err(KmodError::ReferenceMismatch {
                            root: (*root).to_owned(),
                            missing: vec![format!("{dep} before {}", step.name)],
                            extra: Vec::new(),
                        });
                    }
                }
            }
        }
    }
    Ok(APPENDIX_A.len())
}

fn compare(root: &str, expected: &[&str], ours: &BTreeSet<String>) -> Result<(), KmodError> {
    let expected: BTreeSet<String> = expected.iter().map(|m| normalize_name(m)).collect();
    if &expected == ours {
        return Ok(());
    }
    Err(KmodError::ReferenceMismatch {
        root: root.to_owned(),
        missing: expected.difference(ours).cloned().collect(),
        extra: ours.difference(&expected).cloned().collect(),
    })
}
