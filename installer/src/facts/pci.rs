//! Every network and disk controller on the PCI bus, with its IDs, the driver
//! bound (or none) and the link state; and the firmware files drivers asked
//! for and did not get (from the kernel log). A bare-metal failure report
//! then says what the machine has.

use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

use super::hw::{read_attr, sorted_entries};

/// What a controller does, from its PCI base class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControllerKind {
    /// Base class 0x02.
    Network,
    /// Base class 0x01 (SCSI, IDE, SATA, RAID, NVMe, …).
    Storage,
    /// Base class 0x08, subclass 0x05: an SD host controller.
    SdHost,
}

/// One controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Controller {
    /// PCI address, e.g. `0000:00:03.0`.
    pub address: String,
    /// Network, storage or SD host.
    pub kind: ControllerKind,
    /// `vvvv:dddd`, lower-case hex, e.g. `10ec:8168`.
    pub id: String,
    /// The bound driver, if any.
    pub driver: Option<String>,
    /// For a NIC: its interfaces with their link (`eth0 link up`); empty
    /// when no driver made one.
    pub links: Vec<String>,
}

impl Controller {
    /// One line: `0000:00:03.0 network 10ec:8168 r8169 eth0 link up`.
    pub fn line(&self) -> String {
        let kind = match self.kind {
            ControllerKind::Network => "network",
            ControllerKind::Storage => "storage",
            ControllerKind::SdHost => "sd-host",
        };
        let mut s = format!(
            "{} {kind:<7} {} {}",
            self.address,
            self.id,
            self.driver.as_deref().unwrap_or("no driver")
        );
        if self.kind == ControllerKind::Network {
            if self.links.is_empty() {
                s.push_str(" (no interface)");
            }
            for l in &self.links {
                let _ = write!(s, " {l}");
            }
        }
        s
    }
}

/// The kind of a PCI `class` value (`0x020000`), if it is a controller we list.
pub fn kind_of_class(class: &str) -> Option<ControllerKind> {
    let v = u32::from_str_radix(class.trim().trim_start_matches("0x"), 16).ok()?;
    match (v >> 16, (v >> 8) & 0xff) {
        (0x02, _) => Some(ControllerKind::Network),
        (0x01, _) => Some(ControllerKind::Storage),
        (0x08, 0x05) => Some(ControllerKind::SdHost),
        _ => None,
    }
}

/// The controllers under `<root>/sys/bus/pci/devices`, sorted by address.
pub fn controllers(root: &Path) -> Vec<Controller> {
    let base = root.join("sys/bus/pci/devices");
    let mut out = Vec::new();
    for address in sorted_entries(&base) {
        let dir = base.join(&address);
        let Some(kind) = read_attr(&dir.join("class")).and_then(|c| kind_of_class(&c)) else {
            continue;
        };
        let hex = |name: &str| {
            read_attr(&dir.join(name))
                .map(|v| v.trim_start_matches("0x").to_ascii_lowercase())
                .unwrap_or_else(|| "????".into())
        };
        let driver = std::fs::read_link(dir.join("driver"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let links = if kind == ControllerKind::Network {
            sorted_entries(&dir.join("net"))
                .into_iter()
                .map(|iface| {
                    let n = dir.join("net").join(&iface);
                    let state = match read_attr(&n.join("carrier")).as_deref() {
                        Some("1") => "link up".to_string(),
                        Some("0") => "no link".to_string(),
                        _ => match read_attr(&n.join("operstate")) {
                            Some(s) if s != "unknown" => format!("link {s}"),
                            _ => "link unknown (interface not up yet)".to_string(),
                        },
                    };
                    format!("{iface} {state}")
                })
                .collect()
        } else {
            Vec::new()
        };
        out.push(Controller {
            address,
            kind,
            id: format!("{}:{}", hex("vendor"), hex("device")),
            driver,
            links,
        });
    }
    out
}

/// A firmware file a driver asked for and the kernel did not find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingFirmware {
    /// The driver, e.g. `r8169`.
    pub driver: String,
    /// The device, e.g. `0000:00:03.0`.
    pub device: String,
    /// The file, e.g. `rtl_nic/rtl8168h-2.fw`.
    pub file: String,
}

impl MissingFirmware {
    /// `rtl_nic/rtl8168h-2.fw for 0000:00:03.0 (r8169)`.
    pub fn describe(&self) -> String {
        format!("{} for {} ({})", self.file, self.device, self.driver)
    }
}

/// The firmware load failures in kernel log text (`/dev/kmsg` records or
/// `dmesg` lines): `<driver> <device>: Direct firmware load for <file>
/// failed with error <n>`, in order, duplicates merged.
pub fn missing_firmware(log: &str) -> Vec<MissingFirmware> {
    // Upstream's wording, and Debian's (its kernel logs every failure as
    // `firmware: failed to load <file> (<n>)`).
    const MARKS: [(&str, &str); 2] = [
        ("Direct firmware load for ", " failed with error"),
        ("firmware: failed to load ", " ("),
    ];
    let mut out: Vec<MissingFirmware> = Vec::new();
    for line in log.lines() {
        let text = strip_dmesg_time(strip_kmsg_header(line));
        let Some((prefix, rest, end)) = MARKS
            .iter()
            .find_map(|(mark, end)| text.split_once(mark).map(|(p, r)| (p, r, *end)))
        else {
            continue;
        };
        let file = rest.split(end).next().unwrap_or(rest);
        let mut words = prefix.trim_end().trim_end_matches(':').split_whitespace();
        let m = MissingFirmware {
            driver: words.next().unwrap_or_default().to_string(),
            device: words.next().unwrap_or_default().to_string(),
            file: file.trim().to_string(),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// `prio,seq,time,flags;text` (a `/dev/kmsg` record) → `text`.
fn strip_kmsg_header(line: &str) -> &str {
    match line.split_once(';') {
        Some((head, rest))
            if head.split(',').count() >= 3
                && head
                    .split(',')
                    .take(3)
                    .all(|f| f.bytes().all(|b| b.is_ascii_digit())) =>
        {
            rest
        }
        _ => line,
    }
}

/// `[    1.234567] text` → `text`.
fn strip_dmesg_time(line: &str) -> &str {
    let t = line.trim_start();
    match t.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((time, rest)) if time.trim().bytes().all(|c| c.is_ascii_digit() || c == b'.') => rest,
        _ => line,
    }
}

/// The controllers and the missing firmware as text, one per line (the
/// support bundle's section).
pub fn report(controllers: &[Controller], missing: &[MissingFirmware]) -> String {
    let mut s = String::new();
    if controllers.is_empty() {
        s.push_str("(no network or disk controller on the PCI bus)\n");
    }
    for c in controllers {
        let _ = writeln!(s, "{}", c.line());
    }
    for m in missing {
        let _ = writeln!(s, "missing firmware: {}", m.describe());
    }
    s
}

/// [`report`] for the running system.
pub fn system_report() -> String {
    let root = Path::new("/");
    report(
        &controllers(root),
        &missing_firmware(&read_kernel_log(root)),
    )
}

/// Reads the kernel log from `<root>/dev/kmsg` (every record still in the
/// buffer, without waiting for new ones); empty if it cannot be opened.
pub fn read_kernel_log(root: &Path) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(root.join("dev/kmsg"))
    else {
        return String::new();
    };
    let mut out = String::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.push_str(&String::from_utf8_lossy(&buf[..n]));
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            // EPIPE: a record was overwritten meanwhile; carry on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;

    fn pci(
        t: &TempTree,
        addr: &str,
        class: &str,
        vendor: &str,
        device: &str,
        driver: Option<&str>,
    ) {
        let d = format!("sys/bus/pci/devices/{addr}");
        t.write(&format!("{d}/class"), format!("{class}\n").as_bytes());
        t.write(&format!("{d}/vendor"), format!("{vendor}\n").as_bytes());
        t.write(&format!("{d}/device"), format!("{device}\n").as_bytes());
        if let Some(drv) = driver {
            t.mkdir(&format!("sys/bus/pci/drivers/{drv}"));
            t.symlink(&format!("{d}/driver"), &format!("../../drivers/{drv}"));
        }
    }

    #[test]
    fn nics_and_disk_controllers_are_listed_with_ids_driver_and_link() {
        let t = TempTree::new("pci");
        pci(
            &t,
            "0000:00:03.0",
            "0x020000",
            "0x10EC",
            "0x8168",
            Some("r8169"),
        );
        t.write("sys/bus/pci/devices/0000:00:03.0/net/eth0/carrier", b"1\n");
        pci(&t, "0000:00:04.0", "0x020000", "0x14e4", "0x1657", None);
        pci(
            &t,
            "0000:00:05.0",
            "0x010700",
            "0x1000",
            "0x0097",
            Some("mpt3sas"),
        );
        pci(&t, "0000:00:06.0", "0x080501", "0x1b36", "0x0007", None);
        pci(
            &t,
            "0000:00:01.0",
            "0x030000",
            "0x1234",
            "0x1111",
            Some("bochs"),
        );
        let c = controllers(t.path());
        let lines: Vec<String> = c.iter().map(Controller::line).collect();
        assert_eq!(
            lines,
            [
                "0000:00:03.0 network 10ec:8168 r8169 eth0 link up",
                "0000:00:04.0 network 14e4:1657 no driver (no interface)",
                "0000:00:05.0 storage 1000:0097 mpt3sas",
                "0000:00:06.0 sd-host 1b36:0007 no driver",
            ]
        );
    }

    #[test]
    fn the_report_has_one_line_each() {
        let t = TempTree::new("pci-report");
        pci(&t, "0000:00:05.0", "0x010700", "0x1000", "0x0097", None);
        let m = missing_firmware(
            "qla2xxx 0000:00:05.0: Direct firmware load for ql2500_fw.bin failed with error -2\n",
        );
        assert_eq!(
            report(&controllers(t.path()), &m),
            "0000:00:05.0 storage 1000:0097 no driver\nmissing firmware: ql2500_fw.bin for 0000:00:05.0 (qla2xxx)\n"
        );
        assert!(report(&[], &[]).starts_with("(no network or disk controller"));
    }

    #[test]
    fn classes() {
        assert_eq!(kind_of_class("0x020000"), Some(ControllerKind::Network));
        assert_eq!(kind_of_class("0x010802"), Some(ControllerKind::Storage));
        assert_eq!(kind_of_class("0x080501"), Some(ControllerKind::SdHost));
        assert_eq!(kind_of_class("0x080000"), None);
        assert_eq!(kind_of_class("junk"), None);
    }

    #[test]
    fn missing_firmware_is_read_from_kmsg_records_and_dmesg_lines() {
        let log = "\
4,512,3021881,-;r8169 0000:00:03.0: Direct firmware load for rtl_nic/rtl8168h-2.fw failed with error -2
 SUBSYSTEM=pci
 DEVICE=+pci:0000:00:03.0
6,513,3021900,-;r8169 0000:00:03.0 eth0: unable to load firmware patch rtl_nic/rtl8168h-2.fw (-2)
[    4.100000] bnx2x 0000:05:00.0: Direct firmware load for bnx2x/bnx2x-e2-7.13.21.0.fw failed with error -2
[    9.303122] e100 0000:00:03.0: firmware: failed to load e100/d101s_ucode.bin (-2)
4,514,3021999,-;r8169 0000:00:03.0: Direct firmware load for rtl_nic/rtl8168h-2.fw failed with error -2
";
        let m = missing_firmware(log);
        assert_eq!(
            m,
            [
                MissingFirmware {
                    driver: "r8169".into(),
                    device: "0000:00:03.0".into(),
                    file: "rtl_nic/rtl8168h-2.fw".into(),
                },
                MissingFirmware {
                    driver: "bnx2x".into(),
                    device: "0000:05:00.0".into(),
                    file: "bnx2x/bnx2x-e2-7.13.21.0.fw".into(),
                },
                MissingFirmware {
                    driver: "e100".into(),
                    device: "0000:00:03.0".into(),
                    file: "e100/d101s_ucode.bin".into(),
                },
            ]
        );
        assert_eq!(
            m[0].describe(),
            "rtl_nic/rtl8168h-2.fw for 0000:00:03.0 (r8169)"
        );
        assert!(missing_firmware("6,1,2,-;nothing to see\n").is_empty());
    }

    #[test]
    fn the_kernel_log_is_read_under_the_root() {
        let t = TempTree::new("kmsg");
        assert_eq!(read_kernel_log(t.path()), "");
        t.write(
            "dev/kmsg",
            b"4,1,2,-;e100 0000:00:04.0: Direct firmware load for e100/d101m_ucode.bin failed with error -2\n",
        );
        let m = missing_firmware(&read_kernel_log(t.path()));
        assert_eq!(
            m[0].describe(),
            "e100/d101m_ucode.bin for 0000:00:04.0 (e100)"
        );
    }
}
