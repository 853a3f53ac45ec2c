//! The first screen: what the installer found (pure rendering). The menu and
//! the prompts that follow it are the [`crate::flow`]'s.

use crate::buildinfo::BuildInfo;
use crate::event::ModuleFailure;
use crate::facts::{human_size, Facts};
use std::fmt::Write as _;

/// Result of the module loading, for the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct ModulesSummary {
    /// Modules loaded.
    pub loaded: usize,
    /// Required modules that failed.
    pub failed: Vec<ModuleFailure>,
    /// Seconds spent.
    pub seconds: f64,
}

/// `<product> installer <version>`, or a generic title without build info.
pub fn title(build: Option<&BuildInfo>) -> String {
    match build {
        Some(b) => format!("{} installer {}", b.product, b.version),
        None => format!(
            "Installer {} (build information missing)",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// Renders the facts block of the first screen.
pub fn render(
    title: &str,
    facts: &Facts,
    modules: Option<&ModulesSummary>,
    volume_id: Option<&str>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{title}");
    let _ = writeln!(s, "{}", "=".repeat(title.chars().count()));
    let _ = writeln!(s, "Firmware:      {}", facts.firmware.label());
    let _ = writeln!(s, "Secure Boot:   {}", facts.secure_boot.describe());
    let _ = writeln!(
        s,
        "Boot loader:   {}",
        facts
            .loader
            .as_deref()
            .unwrap_or("unknown (no installer.loader=)")
    );
    let others = if facts.other_consoles.is_empty() {
        String::new()
    } else {
        format!(" (also active: {})", facts.other_consoles.join(", "))
    };
    let _ = writeln!(s, "Console:       {}{others}", facts.console);
    let kernel = if facts.kernel_release.is_empty() {
        "unknown"
    } else {
        facts.kernel_release.as_str()
    };
    let _ = writeln!(s, "Kernel:        {kernel}");
    let _ = writeln!(s, "Command line:  {}", facts.cmdline);
    if let Some(m) = modules {
        let _ = writeln!(
            s,
            "Drivers:       {} loaded in {:.1} s, {} failed",
            m.loaded,
            m.seconds,
            m.failed.len()
        );
        for f in &m.failed {
            let _ = writeln!(s, "               failed: {}: {}", f.name, f.error);
        }
    }
    render_medium(&mut s, facts, modules, volume_id);
    let _ = writeln!(s, "Network adapters:");
    if facts.net.is_empty() {
        let _ = writeln!(s, "  (none found)");
    }
    for n in &facts.net {
        let driver = n.driver.as_deref().unwrap_or("no driver");
        let _ = writeln!(
            s,
            "  {:<10} {:<12} {}  {}",
            n.name,
            driver,
            n.mac,
            n.link_label()
        );
    }
    let _ = writeln!(s, "Controllers:");
    if facts.controllers.is_empty() {
        let _ = writeln!(s, "  (none found)");
    }
    for c in &facts.controllers {
        let _ = writeln!(s, "  {}", c.line());
    }
    for m in &facts.missing_firmware {
        let _ = writeln!(s, "  missing firmware: {}", m.describe());
    }
    let _ = writeln!(s, "Disks:");
    if facts.disks.is_empty() {
        let _ = writeln!(s, "  (none found)");
    }
    for d in &facts.disks {
        let model = if d.model.is_empty() {
            "unknown model"
        } else {
            d.model.as_str()
        };
        let removable = if d.removable { "removable" } else { "fixed" };
        let _ = writeln!(
            s,
            "  {:<10} {:>10}  {:<6} {removable:<9} {model}",
            d.name,
            human_size(d.size_bytes),
            d.bus
        );
    }
    s
}

fn render_medium(
    s: &mut String,
    facts: &Facts,
    modules: Option<&ModulesSummary>,
    volume_id: Option<&str>,
) {
    let Some(volume_id) = volume_id else {
        let _ = writeln!(
            s,
            "Install medium: not searched (no volume id in the build information)"
        );
        return;
    };
    match &facts.medium.found {
        Some(m) => {
            let kind = serde_json::to_value(m.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            let _ = writeln!(
                s,
                "Install medium: {} ({})",
                m.device,
                kind.unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "Install medium: NOT FOUND - no block device has the volume id {volume_id:?}."
            );
            if facts.medium.seen.is_empty() {
                let _ = writeln!(
                    s,
                    "  No CD-ROM, USB or disk block devices were found at all."
                );
            } else {
                let _ = writeln!(s, "  Block devices seen:");
                for d in &facts.medium.seen {
                    let _ = writeln!(s, "    {:<14} {}", d.device, d.status);
                }
            }
            match modules.map(|m| m.failed.as_slice()) {
                Some(failed) if !failed.is_empty() => {
                    let names: Vec<&str> = failed.iter().map(|f| f.name.as_str()).collect();
                    let _ = writeln!(s, "  Drivers that failed to load: {}", names.join(", "));
                }
                _ => {}
            }
            let _ = writeln!(
                s,
                "  Attach the installer ISO (CD-ROM or USB stick) and reboot."
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::resolve_active;
    use crate::facts::{Disk, Firmware, NetAdapter, SecureBoot};
    use crate::medium::{Medium, MediumKind, Scan, SeenDevice};

    fn facts() -> Facts {
        let c = resolve_active("tty0 ttyS0").unwrap();
        Facts {
            firmware: Firmware::Uefi,
            secure_boot: SecureBoot::Enabled("efivar".into()),
            loader: Some("grub".into()),
            console: c.primary.name,
            other_consoles: vec!["tty1".into()],
            cmdline: "console=tty0 console=ttyS0,115200n8".into(),
            kernel_release: "6.1.0-56-amd64".into(),
            net: vec![NetAdapter {
                name: "eth0".into(),
                driver: Some("e1000".into()),
                mac: "52:54:00:12:34:56".into(),
                link: None,
            }],
            disks: vec![Disk {
                name: "sda".into(),
                size_bytes: 20 << 30,
                model: "ATA QEMU HARDDISK".into(),
                removable: false,
                bus: "ata",
                serial: "QM00001".into(),
                read_only: false,
                logical_sector: 512,
            }],
            controllers: vec![crate::facts::Controller {
                address: "0000:00:03.0".into(),
                kind: crate::facts::pci::ControllerKind::Network,
                id: "10ec:8168".into(),
                driver: Some("r8169".into()),
                links: vec!["eth0 no link".into()],
            }],
            missing_firmware: vec![crate::facts::MissingFirmware {
                driver: "r8169".into(),
                device: "0000:00:03.0".into(),
                file: "rtl_nic/rtl8168h-2.fw".into(),
            }],
            medium: Scan {
                found: Some(Medium {
                    device: "/dev/sr0".into(),
                    kind: MediumKind::Cdrom,
                }),
                seen: vec![],
            },
        }
    }

    #[test]
    fn title_uses_product_and_version() {
        let b = BuildInfo {
            product: "Example Appliance".into(),
            version: "0.1.0".into(),
            volume_id: "APPLIANCE_INSTALL".into(),
            build_epoch: 1,
            kernel_release: "k".into(),
        };
        assert_eq!(title(Some(&b)), "Example Appliance installer 0.1.0");
        assert!(title(None).contains("build information missing"));
    }

    #[test]
    fn screen_shows_every_fact() {
        let m = ModulesSummary {
            loaded: 12,
            failed: vec![],
            seconds: 2.04,
        };
        let s = render(
            "Example Appliance installer 0.1.0",
            &facts(),
            Some(&m),
            Some("APPLIANCE_INSTALL"),
        );
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "Example Appliance installer 0.1.0");
        assert_eq!(lines[1], "=".repeat(33));
        for want in [
            "Firmware:      UEFI",
            "Secure Boot:   enabled (from efivar)",
            "Boot loader:   grub",
            "Console:       ttyS0 (also active: tty1)",
            "Kernel:        6.1.0-56-amd64",
            "Command line:  console=tty0 console=ttyS0,115200n8",
            "Drivers:       12 loaded in 2.0 s, 0 failed",
            "Install medium: /dev/sr0 (cdrom)",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in\n{s}");
        }
        assert!(
            s.contains("eth0       e1000        52:54:00:12:34:56"),
            "{s}"
        );
        assert!(
            s.contains("sda          20.0 GiB  ata    fixed     ATA QEMU HARDDISK"),
            "{s}"
        );
        assert!(
            lines.contains(&"  0000:00:03.0 network 10ec:8168 r8169 eth0 no link"),
            "{s}"
        );
        assert!(
            lines.contains(&"  missing firmware: rtl_nic/rtl8168h-2.fw for 0000:00:03.0 (r8169)"),
            "{s}"
        );
    }

    #[test]
    fn missing_medium_lists_devices_and_failed_modules() {
        let mut f = facts();
        f.medium = Scan {
            found: None,
            seen: vec![SeenDevice {
                device: "/dev/sda".into(),
                status: "not ISO 9660".into(),
            }],
        };
        let m = ModulesSummary {
            loaded: 3,
            failed: vec![ModuleFailure {
                name: "sr_mod".into(),
                error: "signature rejected (EKEYREJECTED)".into(),
            }],
            seconds: 1.0,
        };
        let s = render("T", &f, Some(&m), Some("APPLIANCE_INSTALL"));
        assert!(s.contains("Install medium: NOT FOUND - no block device has the volume id \"APPLIANCE_INSTALL\"."), "{s}");
        assert!(s.contains("/dev/sda       not ISO 9660"), "{s}");
        assert!(s.contains("Drivers that failed to load: sr_mod"), "{s}");
        assert!(
            s.contains("failed: sr_mod: signature rejected (EKEYREJECTED)"),
            "{s}"
        );
    }
}
