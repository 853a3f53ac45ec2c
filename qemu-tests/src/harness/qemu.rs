//! QEMU command lines as data. Nothing here starts a process.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Which firmware boots the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS (QEMU's default BIOS) on the `pc` machine.
    Bios,
    /// OVMF on `q35`, Secure Boot off.
    Uefi,
    /// OVMF with Microsoft keys enrolled and Secure Boot enforced (q35, SMM).
    SecureBoot,
}

impl Firmware {
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
            Firmware::SecureBoot => "sb",
        }
    }
}

/// How the image is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// An IDE/AHCI CD-ROM drive.
    Cd,
    /// A USB stick (`usb-storage` on an xHCI controller) holding the image as written by dd.
    Usb,
    /// A raw hard disk (IDE on `pc`, AHCI on `q35`).
    Disk,
}

impl Medium {
    pub fn name(self) -> &'static str {
        match self {
            Medium::Cd => "cd",
            Medium::Usb => "usb",
            Medium::Disk => "disk",
        }
    }
}

/// Where the firmware files come from (Debian's `ovmf` package by default).
#[derive(Debug, Clone)]
pub struct FirmwarePaths {
    pub ovmf_code: PathBuf,
    pub ovmf_vars: PathBuf,
    pub ovmf_code_secure: PathBuf,
    pub ovmf_vars_ms: PathBuf,
}

impl Default for FirmwarePaths {
    fn default() -> Self {
        let dir = Path::new("/usr/share/OVMF");
        FirmwarePaths {
            ovmf_code: dir.join("OVMF_CODE_4M.fd"),
            ovmf_vars: dir.join("OVMF_VARS_4M.fd"),
            ovmf_code_secure: dir.join("OVMF_CODE_4M.ms.fd"),
            ovmf_vars_ms: dir.join("OVMF_VARS_4M.ms.fd"),
        }
    }
}

impl FirmwarePaths {
    /// The template for the writable variable store of `fw`, if it has one.
    pub fn vars_template(&self, fw: Firmware) -> Option<&Path> {
        match fw {
            Firmware::Bios => None,
            Firmware::Uefi => Some(&self.ovmf_vars),
            Firmware::SecureBoot => Some(&self.ovmf_vars_ms),
        }
    }
}

/// What the network adapter is plugged into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// QEMU user networking: DHCP server, gateway 10.0.2.2 (the host), DNS 10.0.2.3.
    User,
    /// A hub with nothing else on it: no DHCP server, nobody answers.
    Isolated,
    /// User networking plus TCP port forwards.
    UserForward(Vec<Forward>),
    /// User networking plus TCP or UDP port forwards to given guest
    /// addresses (a guest that moves to a static address of its own in
    /// 10.0.2.0/24: QEMU finds it there by ARP).
    UserForwardTo(Vec<(Proto, Forward, Ipv4Addr)>),
}

/// A forward's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    /// RADIUS.
    Udp,
}

/// A TCP port forward from the host's `127.0.0.1:host` to the guest's
/// `10.0.2.15:guest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub host: u16,
    pub guest: u16,
}

/// A network adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// QEMU device model: e1000, tulip, vmxnet3, virtio-net-pci, …
    pub model: String,
    pub network: Network,
}

/// Direct kernel boot (QEMU loads kernel and initramfs itself; no boot menu).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectKernel {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
}

/// A VM to start.
#[derive(Debug, Clone)]
pub struct VmConfig {
    pub firmware: Firmware,
    pub medium: Medium,
    /// The image; attached copy-on-write (`snapshot=on`), never modified.
    pub image: PathBuf,
    pub memory_mib: u32,
    pub kvm: bool,
    /// Writable copy of the UEFI variable store (required for UEFI firmware).
    pub vars: Option<PathBuf>,
    /// File that receives the second serial port (the installer's event stream).
    pub events: PathBuf,
    pub paths: FirmwarePaths,
    pub nic: Option<Nic>,
    pub kernel: Option<DirectKernel>,
    /// Boot index of the medium (0: first). Ignored with direct kernel boot.
    pub medium_bootindex: u32,
    /// More drives, in this order after the medium.
    pub drives: Vec<Drive>,
    /// SMBIOS system (type 1) strings the guest sees in DMI.
    pub dmi: Option<Dmi>,
    /// A Unix socket for QEMU's human monitor (`sendkey`, …), if any.
    pub monitor: Option<PathBuf>,
}

impl Default for VmConfig {
    /// BIOS, a CD, 1 GiB, TCG, no NIC, no extra drives; `image` and
    /// `events` are empty and must be set.
    fn default() -> Self {
        VmConfig {
            firmware: Firmware::Bios,
            medium: Medium::Cd,
            image: PathBuf::new(),
            memory_mib: 1024,
            kvm: false,
            vars: None,
            events: PathBuf::new(),
            paths: FirmwarePaths::default(),
            nic: None,
            kernel: None,
            medium_bootindex: 0,
            drives: Vec::new(),
            dmi: None,
            monitor: None,
        }
    }
}

/// Where a drive is plugged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// IDE (`pc`) or AHCI (`q35`): bus `ide.<bus>`, and a unit on it if
    /// given. The medium sits on `ide.0`; q35's AHCI ports take one unit each.
    Ide { bus: u8, unit: Option<u8> },
    /// VMware paravirtual SCSI (one `pvscsi` controller per drive).
    Pvscsi,
    /// virtio-blk.
    Virtio,
    /// A SCSI host adapter of this QEMU model (`megasas`, `lsi53c895a`,
    /// `am53c974`, …), one per drive, with the drive as `scsi-hd`/`scsi-cd`.
    Scsi(&'static str),
    /// An NVMe controller, one per drive.
    Nvme,
    /// An SD host controller (`sdhci-pci`) with the drive as its SD card
    /// (one per VM).
    SdCard,
}

/// What a drive is to the guest, and whether the file changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// A read-only CD-ROM.
    Cdrom,
    /// A hard disk whose writes stay in QEMU (`snapshot=on`).
    Snapshot,
    /// A hard disk the guest writes through to the file.
    Writable,
}

/// One more drive next to the boot medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    /// QEMU's drive id; unique in the VM (`boot` is the medium's).
    pub id: String,
    pub image: PathBuf,
    pub contents: Contents,
    pub controller: Controller,
    /// The serial number the guest reads.
    pub serial: Option<String>,
    /// Firmware boot order; none: the firmware does not try it.
    pub bootindex: Option<u32>,
}

impl Drive {
    /// `-drive` and `-device` arguments.
    fn args(&self) -> Vec<String> {
        let img = self.image.display();
        let id = &self.id;
        let access = match self.contents {
            Contents::Cdrom => "media=cdrom,readonly=on,",
            Contents::Snapshot => "snapshot=on,",
            Contents::Writable => "",
        };
        let mut a = vec![
            "-drive".to_string(),
            format!("if=none,id={id},format=raw,{access}file={img}"),
        ];
        let cd = self.contents == Contents::Cdrom;
        let mut device = match self.controller {
            Controller::Ide { bus, unit } => {
                let kind = if cd { "ide-cd" } else { "ide-hd" };
                let unit = unit.map(|u| format!(",unit={u}")).unwrap_or_default();
                format!("{kind},drive={id},bus=ide.{bus}{unit}")
            }
            Controller::Pvscsi => {
                a.push("-device".into());
                a.push(format!("pvscsi,id={id}-hba"));
                let kind = if cd { "scsi-cd" } else { "scsi-hd" };
                format!("{kind},drive={id},bus={id}-hba.0")
            }
            Controller::Virtio => format!("virtio-blk-pci,drive={id}"),
            Controller::Scsi(model) => {
                a.push("-device".into());
                a.push(format!("{model},id={id}-hba"));
                let kind = if cd { "scsi-cd" } else { "scsi-hd" };
                format!("{kind},drive={id},bus={id}-hba.0")
            }
            Controller::Nvme => format!("nvme,drive={id}"),
            Controller::SdCard => {
                a.push("-device".into());
                a.push("sdhci-pci".into());
                // The controller's bus is named `sd-bus` whatever its id; with
                // one SD controller QEMU puts the card on it.
                format!("sd-card,drive={id}")
            }
        };
        // An SD card has neither a serial property nor a boot index.
        let sd = self.controller == Controller::SdCard;
        if let Some(s) = self.serial.as_ref().filter(|_| !sd) {
            device.push_str(&format!(",serial={s}"));
        }
        if let Some(i) = self.bootindex.filter(|_| !sd) {
            device.push_str(&format!(",bootindex={i}"));
        }
        a.push("-device".into());
        a.push(device);
        a
    }
}

/// SMBIOS type 1 (system) strings, e.g. a hypervisor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dmi {
    pub manufacturer: String,
    pub product: String,
}

impl VmConfig {
    /// `qemu-system-x86_64` arguments. The first serial port is stdio.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        if self.kvm {
            push(&["-accel", "kvm", "-cpu", "host"]);
        } else {
            push(&["-accel", "tcg"]);
        }
        match self.firmware {
            Firmware::Bios => push(&["-machine", "pc"]),
            Firmware::Uefi => push(&["-machine", "q35"]),
            Firmware::SecureBoot => push(&[
                "-machine",
                "q35,smm=on",
                "-global",
                "driver=cfi.pflash01,property=secure,value=on",
            ]),
        }
        let vars = self
            .vars
            .as_ref()
            .map(|v| v.display().to_string())
            .unwrap_or_default();
        match self.firmware {
            Firmware::Bios => {}
            Firmware::Uefi | Firmware::SecureBoot => {
                let code = if self.firmware == Firmware::Uefi {
                    &self.paths.ovmf_code
                } else {
                    &self.paths.ovmf_code_secure
                };
                a.push("-drive".into());
                a.push(format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={}",
                    code.display()
                ));
                a.push("-drive".into());
                a.push(format!("if=pflash,format=raw,unit=1,file={vars}"));
            }
        }
        a.push("-m".into());
        a.push(self.memory_mib.to_string());
        for s in ["-display", "none", "-no-reboot", "-serial", "stdio"] {
            a.push(s.into());
        }
        if let Some(m) = &self.monitor {
            a.push("-monitor".into());
            a.push(format!("unix:{},server=on,wait=off", m.display()));
        }
        match &self.nic {
            None => {
                a.push("-nic".into());
                a.push("none".into());
            }
            Some(nic) => {
                a.push("-netdev".into());
                a.push(match &nic.network {
                    Network::User => "user,id=n0".to_string(),
                    Network::Isolated => "hubport,id=n0,hubid=7".to_string(),
                    Network::UserForward(forwards) => {
                        let mut s = "user,id=n0".to_string();
                        for Forward { host, guest } in forwards {
                            s.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
                        }
                        s
                    }
                    Network::UserForwardTo(forwards) => {
                        let mut s = "user,id=n0".to_string();
                        for (proto, Forward { host, guest }, addr) in forwards {
                            let proto = match proto {
                                Proto::Tcp => "tcp",
                                Proto::Udp => "udp",
                            };
                            s.push_str(&format!(
                                ",hostfwd={proto}:127.0.0.1:{host}-{addr}:{guest}"
                            ));
                        }
                        s
                    }
                });
                a.push("-device".into());
                a.push(format!("{},netdev=n0", nic.model));
            }
        }
        if let Some(k) = &self.kernel {
            a.push("-kernel".into());
            a.push(k.kernel.display().to_string());
            a.push("-initrd".into());
            a.push(k.initrd.display().to_string());
            a.push("-append".into());
            a.push(k.cmdline.clone());
        }
        a.push("-serial".into());
        a.push(format!("file:{}", self.events.display()));
        let img = self.image.display();
        // With -kernel, QEMU's option ROM takes boot index 0.
        let bootindex = if self.kernel.is_some() {
            String::new()
        } else {
            format!(",bootindex={}", self.medium_bootindex)
        };
        match self.medium {
            Medium::Cd => {
                a.push("-drive".into());
                a.push(format!(
                    "if=none,id=boot,format=raw,media=cdrom,readonly=on,file={img}"
                ));
                a.push("-device".into());
                a.push(format!("ide-cd,drive=boot{bootindex}"));
            }
            Medium::Usb => {
                a.push("-device".into());
                a.push("qemu-xhci,id=xhci".into());
                a.push("-drive".into());
                a.push(format!("if=none,id=boot,format=raw,snapshot=on,file={img}"));
                a.push("-device".into());
                a.push(format!(
                    "usb-storage,bus=xhci.0,drive=boot,removable=on{bootindex}"
                ));
            }
            Medium::Disk => {
                a.push("-drive".into());
                a.push(format!("if=none,id=boot,format=raw,snapshot=on,file={img}"));
                a.push("-device".into());
                a.push(format!("ide-hd,drive=boot{bootindex}"));
            }
        }
        if let Some(d) = &self.dmi {
            a.push("-smbios".into());
            a.push(format!(
                "type=1,manufacturer={},product={}",
                d.manufacturer, d.product
            ));
        }
        for d in &self.drives {
            a.extend(d.args());
        }
        a
    }

    /// The whole command as a shell line, for logs and for reproducing a run by hand.
    pub fn render(&self) -> String {
        std::iter::once("qemu-system-x86_64".to_string())
            .chain(
                self.args()
                    .into_iter()
                    .map(|s| if s.contains(' ') { format!("'{s}'") } else { s }),
            )
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(firmware: Firmware, medium: Medium) -> VmConfig {
        VmConfig {
            firmware,
            medium,
            image: "/t/i.iso".into(),
            vars: Some("/t/vars.fd".into()),
            events: "/t/ev.log".into(),
            ..VmConfig::default()
        }
    }

    #[test]
    fn nics_and_direct_kernel_boot() {
        let mut c = cfg(Firmware::Bios, Medium::Cd);
        c.nic = Some(Nic {
            model: "tulip".into(),
            network: Network::User,
        });
        c.kernel = Some(DirectKernel {
            kernel: "/k".into(),
            initrd: "/i".into(),
            cmdline: "console=ttyS0 a=b".into(),
        });
        let r = c.render();
        assert!(
            r.contains("-netdev user,id=n0 -device tulip,netdev=n0"),
            "{r}"
        );
        assert!(
            r.contains("-kernel /k -initrd /i -append 'console=ttyS0 a=b'"),
            "{r}"
        );
        assert!(!r.contains("-nic none"), "{r}");
        c.nic = Some(Nic {
            model: "e1000".into(),
            network: Network::Isolated,
        });
        assert!(c
            .render()
            .contains("-netdev hubport,id=n0,hubid=7 -device e1000,netdev=n0"));
        c.nic = Some(Nic {
            model: "e1000".into(),
            network: Network::UserForward(vec![
                Forward {
                    host: 18443,
                    guest: 8443,
                },
                Forward {
                    host: 18022,
                    guest: 22,
                },
            ]),
        });
        assert!(c.render().contains(
            "-netdev user,id=n0,hostfwd=tcp:127.0.0.1:18443-:8443,hostfwd=tcp:127.0.0.1:18022-:22 -device e1000,netdev=n0"
        ));
        c.nic = Some(Nic {
            model: "e1000".into(),
            network: Network::UserForwardTo(vec![
                (
                    Proto::Tcp,
                    Forward {
                        host: 18443,
                        guest: 8443,
                    },
                    Ipv4Addr::new(10, 0, 2, 20),
                ),
                (
                    Proto::Udp,
                    Forward {
                        host: 11812,
                        guest: 1812,
                    },
                    Ipv4Addr::new(10, 0, 2, 20),
                ),
            ]),
        });
        assert!(c.render().contains(
            "-netdev user,id=n0,hostfwd=tcp:127.0.0.1:18443-10.0.2.20:8443,hostfwd=udp:127.0.0.1:11812-10.0.2.20:1812 -device e1000,netdev=n0"
        ));
        assert!(!c.render().contains("-monitor"));
        c.monitor = Some("/t/mon.sock".into());
        assert!(c
            .render()
            .contains("-monitor unix:/t/mon.sock,server=on,wait=off"));
    }

    #[test]
    fn secure_boot_cd_command() {
        assert_eq!(
            cfg(Firmware::SecureBoot, Medium::Cd).render(),
            "qemu-system-x86_64 -accel tcg -machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on \
             -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.ms.fd \
             -drive if=pflash,format=raw,unit=1,file=/t/vars.fd -m 1024 -display none -no-reboot \
             -serial stdio -nic none -serial file:/t/ev.log \
             -drive if=none,id=boot,format=raw,media=cdrom,readonly=on,file=/t/i.iso -device ide-cd,drive=boot,bootindex=0"
        );
    }

    #[test]
    fn bios_usb_uses_xhci_and_no_pflash() {
        let r = cfg(Firmware::Bios, Medium::Usb).render();
        assert!(r.contains("-machine pc "), "{r}");
        assert!(!r.contains("pflash"), "{r}");
        assert!(r.contains("-device qemu-xhci,id=xhci"), "{r}");
        assert!(r.contains("usb-storage,bus=xhci.0,drive=boot"), "{r}");
        assert!(
            r.contains("snapshot=on"),
            "the image must never be modified: {r}"
        );
    }

    #[test]
    fn extra_drives_dmi_and_boot_order_are_data() {
        let mut c = cfg(Firmware::Bios, Medium::Cd);
        c.medium_bootindex = 1;
        c.dmi = Some(Dmi {
            manufacturer: "Microsoft Corporation".into(),
            product: "Virtual Machine".into(),
        });
        let drive = |id: &str, contents, controller, serial: Option<&str>, bootindex| Drive {
            id: id.into(),
            image: format!("/t/{id}.img").into(),
            contents,
            controller,
            serial: serial.map(String::from),
            bootindex,
        };
        c.drives = vec![
            drive(
                "iso",
                Contents::Cdrom,
                Controller::Ide { bus: 1, unit: None },
                None,
                None,
            ),
            drive(
                "target",
                Contents::Writable,
                Controller::Ide { bus: 1, unit: None },
                Some("TARGET0001"),
                Some(0),
            ),
            drive(
                "target2",
                Contents::Writable,
                Controller::Ide {
                    bus: 0,
                    unit: Some(1),
                },
                Some("TARGET0002"),
                None,
            ),
            drive("hd", Contents::Snapshot, Controller::Pvscsi, None, Some(2)),
            drive(
                "vd",
                Contents::Writable,
                Controller::Virtio,
                Some("V1"),
                None,
            ),
        ];
        let r = c.render();
        let tail = r
            .split_once("-device ide-cd,drive=boot,bootindex=1 ")
            .map(|(_, t)| t)
            .unwrap_or_else(|| panic!("{r}"));
        assert_eq!(
            tail,
            "-smbios 'type=1,manufacturer=Microsoft Corporation,product=Virtual Machine' \
             -drive if=none,id=iso,format=raw,media=cdrom,readonly=on,file=/t/iso.img -device ide-cd,drive=iso,bus=ide.1 \
             -drive if=none,id=target,format=raw,file=/t/target.img -device ide-hd,drive=target,bus=ide.1,serial=TARGET0001,bootindex=0 \
             -drive if=none,id=target2,format=raw,file=/t/target2.img -device ide-hd,drive=target2,bus=ide.0,unit=1,serial=TARGET0002 \
             -drive if=none,id=hd,format=raw,snapshot=on,file=/t/hd.img -device pvscsi,id=hd-hba -device scsi-hd,drive=hd,bus=hd-hba.0,bootindex=2 \
             -drive if=none,id=vd,format=raw,file=/t/vd.img -device virtio-blk-pci,drive=vd,serial=V1"
        );
    }

    #[test]
    fn kvm_is_opt_in() {
        assert!(cfg(Firmware::Uefi, Medium::Disk)
            .render()
            .contains("-accel tcg"));
        let mut c = cfg(Firmware::Uefi, Medium::Disk);
        c.kvm = true;
        assert!(c.render().contains("-accel kvm -cpu host"));
    }
}
