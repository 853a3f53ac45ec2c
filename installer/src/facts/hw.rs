//! Network adapters (`/sys/class/net`) and disks (`/sys/block`).

use serde::Serialize;
use std::path::Path;

/// One network adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetAdapter {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Kernel driver bound to the device, e.g. `e1000`, if any.
    pub driver: Option<String>,
    /// MAC address, e.g. `52:54:00:12:34:56`.
    pub mac: String,
    /// Carrier: `Some(true)` link up, `Some(false)` no link, `None` unknown
    /// (the kernel refuses to report carrier while the interface is down).
    pub link: Option<bool>,
}

impl NetAdapter {
    /// `up`, `down` or `unknown (interface not up yet)`.
    pub fn link_label(&self) -> &'static str {
        match self.link {
            Some(true) => "link up",
            Some(false) => "no link",
            None => "link unknown (interface not up yet)",
        }
    }
}

/// One disk-like block device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    /// Device name, e.g. `sda`, `nvme0n1`, `sr0`.
    pub name: String,
    /// Size in bytes (`size` × 512).
    pub size_bytes: u64,
    /// Vendor and model from `device/vendor` and `device/model`, trimmed.
    pub model: String,
    /// `removable` is 1.
    pub removable: bool,
    /// Bus guessed from the sysfs path: usb, nvme, virtio, ata, scsi or other.
    pub bus: &'static str,
    /// The disk's serial number, when the device reports one.
    pub serial: String,
    /// `ro` is 1.
    pub read_only: bool,
    /// Bytes per logical sector (`queue/logical_block_size`, 512 if unknown).
    pub logical_sector: u64,
}

/// The unit serial number from a SCSI VPD page 0x80 (`device/vpd_pg80`):
/// a 4-byte header (byte 3 = length), then ASCII.
pub fn serial_from_vpd80(page: &[u8]) -> Option<String> {
    let len = usize::from(*page.get(3)?);
    let text = page.get(4..4 + len)?;
    let s: String = text
        .iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .map(|&b| b as char)
        .collect();
    let s = s.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The serial of the disk `name` under `<root>/sys/block` now, as the disk
/// list reads it (empty if the device reports none).
pub fn serial_of(root: &Path, name: &str) -> String {
    disk_serial(&root.join("sys/block").join(name))
}

fn disk_serial(dir: &Path) -> String {
    read_attr(&dir.join("device/serial"))
        .or_else(|| read_attr(&dir.join("serial")))
        .or_else(|| {
            std::fs::read(dir.join("device/vpd_pg80"))
                .ok()
                .and_then(|p| serial_from_vpd80(&p))
        })
        .unwrap_or_default()
}

/// Reads a sysfs attribute, trimmed; `None` if unreadable or empty.
pub(crate) fn read_attr(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Sorted names of the entries of a directory (empty if unreadable).
pub(crate) fn sorted_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Lists network adapters under `<root>/sys/class/net`, without `lo`, sorted by name.
pub fn net_adapters(root: &Path) -> Vec<NetAdapter> {
    let base = root.join("sys/class/net");
    sorted_entries(&base)
        .into_iter()
        .filter(|n| n != "lo")
        .map(|name| {
            let dir = base.join(&name);
            let driver = std::fs::read_link(dir.join("device/driver"))
                .ok()
                .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
            let mac = read_attr(&dir.join("address")).unwrap_or_default();
            let link = match read_attr(&dir.join("carrier")).as_deref() {
                Some("1") => Some(true),
                Some("0") => Some(false),
                _ => None,
            };
            NetAdapter {
                name,
                driver,
                mac,
                link,
            }
        })
        .collect()
}

/// Guesses the bus of a block device from its sysfs device path.
pub fn bus_from_sysfs_path(name: &str, path: &str) -> &'static str {
    if path.contains("/usb") {
        "usb"
    } else if name.starts_with("nvme") || path.contains("/nvme") {
        "nvme"
    } else if path.contains("/virtio") {
        "virtio"
    } else if path.contains("/ata") {
        "ata"
    } else if path.contains("/host") {
        "scsi"
    } else {
        "other"
    }
}

/// Block devices that are not disks: loop, ram, zram, device-mapper, md.
fn is_virtual_block(name: &str) -> bool {
    ["loop", "ram", "zram", "dm-", "md"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Lists disks under `<root>/sys/block`, sorted by name, without virtual devices.
pub fn disks(root: &Path) -> Vec<Disk> {
    let base = root.join("sys/block");
    sorted_entries(&base)
        .into_iter()
        .filter(|n| !is_virtual_block(n))
        .map(|name| {
            let dir = base.join(&name);
            let sectors: u64 = read_attr(&dir.join("size"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            // virtio exposes a numeric `vendor` (0x1af4), which is no name.
            let vendor = read_attr(&dir.join("device/vendor"))
                .filter(|v| !v.starts_with("0x"))
                .unwrap_or_default();
            let model = read_attr(&dir.join("device/model")).unwrap_or_default();
            let model = format!("{vendor} {model}").trim().to_string();
            let removable = read_attr(&dir.join("removable")).as_deref() == Some("1");
            let link = std::fs::read_link(&dir)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bus = bus_from_sysfs_path(&name, &link);
            Disk {
                serial: disk_serial(&dir),
                read_only: read_attr(&dir.join("ro")).as_deref() == Some("1"),
                logical_sector: read_attr(&dir.join("queue/logical_block_size"))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(512),
                name,
                size_bytes: sectors.saturating_mul(512),
                model,
                removable,
                bus,
            }
        })
        .collect()
}

/// Formats a byte count with a binary unit, one decimal: `20.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;

    #[test]
    fn net_adapters_read_driver_mac_and_carrier() {
        let t = TempTree::new("net");
        t.write("sys/class/net/lo/address", b"00:00:00:00:00:00\n");
        t.write("sys/class/net/eth1/address", b"52:54:00:00:00:02\n");
        t.write("sys/class/net/eth1/carrier", b"0\n");
        t.write("sys/class/net/eth0/address", b"52:54:00:12:34:56\n");
        t.write("sys/class/net/eth0/carrier", b"1\n");
        t.mkdir("sys/bus/pci/drivers/e1000");
        t.mkdir("sys/class/net/eth0/device");
        t.symlink(
            "sys/class/net/eth0/device/driver",
            "../../../../bus/pci/drivers/e1000",
        );
        let nets = net_adapters(t.path());
        assert_eq!(nets.len(), 2, "lo is skipped");
        assert_eq!(nets[0].name, "eth0");
        assert_eq!(nets[0].driver.as_deref(), Some("e1000"));
        assert_eq!(nets[0].mac, "52:54:00:12:34:56");
        assert_eq!(nets[0].link, Some(true));
        assert_eq!(nets[1].name, "eth1");
        assert_eq!(nets[1].driver, None);
        assert_eq!(nets[1].link, Some(false));
    }

    #[test]
    fn unreadable_carrier_is_unknown() {
        let t = TempTree::new("net-down");
        t.write("sys/class/net/ens3/address", b"52:54:00:aa:bb:cc\n");
        let nets = net_adapters(t.path());
        assert_eq!(nets[0].link, None);
        assert_eq!(nets[0].link_label(), "link unknown (interface not up yet)");
    }

    #[test]
    fn disks_read_size_model_removable_and_skip_loop() {
        let t = TempTree::new("disks");
        t.write(
            "sys/devices/pci0000:00/0000:00:01.1/ata1/host0/target0:0:0/0:0:0:0/block/sda/size",
            b"41943040\n",
        );
        t.write("sys/devices/pci0000:00/0000:00:01.1/ata1/host0/target0:0:0/0:0:0:0/block/sda/removable", b"0\n");
        t.write(
            "sys/devices/pci0000:00/0000:00:01.1/ata1/host0/target0:0:0/0:0:0:0/vendor",
            b"ATA     \n",
        );
        t.write(
            "sys/devices/pci0000:00/0000:00:01.1/ata1/host0/target0:0:0/0:0:0:0/model",
            b"QEMU HARDDISK   \n",
        );
        t.symlink(
            "sys/devices/pci0000:00/0000:00:01.1/ata1/host0/target0:0:0/0:0:0:0/block/sda/device",
            "../../../0:0:0:0",
        );
        t.mkdir("sys/block");
        t.symlink(
            "sys/block/sda",
            "../devices/pci0000:00/0000:00:01.1/ata1/host0/target0:0:0/0:0:0:0/block/sda",
        );
        t.write(
            "sys/devices/pci0000:00/0000:00:06.0/virtio2/block/vda/size",
            b"2048\n",
        );
        t.write(
            "sys/devices/pci0000:00/0000:00:06.0/virtio2/vendor",
            b"0x1af4\n",
        );
        t.symlink(
            "sys/devices/pci0000:00/0000:00:06.0/virtio2/block/vda/device",
            "../../../virtio2",
        );
        t.symlink(
            "sys/block/vda",
            "../devices/pci0000:00/0000:00:06.0/virtio2/block/vda",
        );
        t.write("sys/devices/virtual/block/loop0/size", b"0\n");
        t.symlink("sys/block/loop0", "../devices/virtual/block/loop0");
        let d = disks(t.path());
        assert_eq!(d.len(), 2, "loop0 is skipped");
        assert_eq!(d[1].name, "vda");
        assert_eq!(
            d[1].model, "",
            "a numeric virtio vendor id is not a model name"
        );
        assert_eq!(d[1].bus, "virtio");
        assert_eq!(d[0].name, "sda");
        assert_eq!(d[0].size_bytes, 41_943_040 * 512);
        assert_eq!(d[0].model, "ATA QEMU HARDDISK");
        assert!(!d[0].removable);
        assert_eq!(d[0].bus, "ata");
    }

    #[test]
    fn bus_guesses() {
        assert_eq!(
            bus_from_sysfs_path(
                "sdb",
                "../devices/pci0000:00/0000:00:04.0/usb2/2-1/2-1:1.0/host2/x"
            ),
            "usb"
        );
        assert_eq!(
            bus_from_sysfs_path(
                "nvme0n1",
                "../devices/pci0000:00/0000:00:05.0/nvme/nvme0/nvme0n1"
            ),
            "nvme"
        );
        assert_eq!(
            bus_from_sysfs_path(
                "vda",
                "../devices/pci0000:00/0000:00:06.0/virtio2/block/vda"
            ),
            "virtio"
        );
        assert_eq!(
            bus_from_sysfs_path(
                "sda",
                "../devices/pci0000:00/0000:00:07.0/host0/target0:0:0"
            ),
            "scsi"
        );
        assert_eq!(
            bus_from_sysfs_path("xyz", "../devices/platform/xyz"),
            "other"
        );
    }

    #[test]
    fn sizes_are_binary_units() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(41_943_040 * 512), "20.0 GiB");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
