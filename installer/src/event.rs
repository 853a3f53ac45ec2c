//! Machine-readable progress events: one JSON object per line, written to
//! `/run/installer/events.jsonl` and, prefixed `INSTALLER-EVENT `, to the
//! second serial port (`/dev/ttyS1`), which the QEMU harness reads.
//! The event and field names are a contract with the harness.

use crate::facts::Firmware;
use crate::medium::MediumKind;
use crate::net::{Check, NetConfig};
use crate::power::PowerAction;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Prefix of event lines on the second serial port.
pub const SERIAL_PREFIX: &str = "INSTALLER-EVENT ";
/// The events file.
pub const EVENTS_FILE: &str = "/run/installer/events.jsonl";
/// The serial port the harness listens on.
pub const EVENTS_SERIAL: &str = "/dev/ttyS1";

/// A module that failed to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleFailure {
    /// Module name.
    pub name: String,
    /// Why, in words.
    pub error: String,
}

/// A disk as the install step saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskInfo {
    /// e.g. `/dev/sda`.
    pub device: String,
    /// Vendor and model.
    pub model: String,
    /// Serial number, may be empty.
    pub serial: String,
    /// Size.
    pub size_bytes: u64,
    /// ata, scsi, virtio, nvme, usb, other.
    pub bus: String,
    /// Why it is not offered; `null` when it is.
    pub refusal: Option<String>,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The UI child started and knows its surroundings.
    Started {
        /// Product version from build.json (the crate version without one).
        version: String,
        /// Console the installer runs on, e.g. `ttyS0`.
        console: String,
        /// bios or uefi.
        firmware: Firmware,
        /// Secure Boot known to be enabled.
        secure_boot: bool,
        /// `grub`, `isolinux` or null, from `installer.loader=`.
        loader: Option<String>,
        /// The kernel command line.
        cmdline: String,
    },
    /// Coldplug finished.
    Modules {
        /// Modules loaded (or found already loaded).
        loaded: usize,
        /// Modules that failed.
        failed: Vec<ModuleFailure>,
        /// Time spent, in seconds.
        seconds: f64,
    },
    /// The install medium was found.
    Medium {
        /// Device path, e.g. `/dev/sr0`.
        device: String,
        /// cdrom, usb or disk.
        kind: MediumKind,
    },
    /// No install medium within the timeout.
    MediumMissing {
        /// The block devices looked at.
        seen: Vec<String>,
    },
    /// The first screen is shown and waits for input.
    FirstScreen,
    /// The user chose to reboot or power off.
    Power {
        /// reboot or poweroff.
        action: PowerAction,
    },
    /// The installer waits for a line of input (emitted every time, also
    /// when the same prompt is shown again after invalid input).
    Prompt {
        /// Which prompt, e.g. `menu`, `manual.gateway` (docs/events.md lists them).
        id: String,
    },
    /// A line typed at a prompt was refused.
    Invalid {
        /// The prompt.
        id: String,
        /// What was typed (trimmed).
        input: String,
        /// The message shown, exactly.
        message: String,
    },
    /// DHCP got no lease.
    DhcpFailed {
        /// The interface DHCP ran on.
        interface: String,
        /// What was tried.
        tried: String,
        /// A way forward.
        hint: String,
    },
    /// A network configuration was applied.
    Network {
        /// The configuration, as applied.
        config: NetConfig,
    },
    /// The network doctor ran after applying a configuration.
    Doctor {
        /// Every check, in order.
        checks: Vec<Check>,
    },
    /// A keyboard layout was chosen (hotkey K, the keyboard step or the answers).
    Keyboard {
        /// Layout code, e.g. `de`.
        layout: String,
        /// True if applying it to the console keyboard succeeded (a serial
        /// console has nothing to apply and reports true).
        applied: bool,
    },
    /// An answer file was read and is used.
    Answers {
        /// Where it came from, e.g. `installer.answers=http://...`.
        source: String,
    },
    /// An answer file (or its source) is unusable; nothing was changed.
    AnswersError {
        /// The key path, e.g. `network.gateway`, or the kernel parameter.
        key: String,
        /// Why, exactly as shown on the screen.
        message: String,
    },
    /// The backend's verdict on a serial number (docs/events.md).
    Serial {
        /// `verified`, `unknown`, `no-support`, `ended`, or the problem kind
        /// (`clock`, `unreachable`, `tls`, `untrusted`, `not-configured`, `backend`).
        outcome: String,
        /// Only the last group: `XXXX-XXXX-XXXX-HV5B`.
        serial: String,
        /// The verdict as shown.
        message: String,
    },
    /// The disks the install step considered.
    Disks {
        /// Each with the reason it is not offered, if it is not.
        disks: Vec<DiskInfo>,
    },
    /// The install starts (after the agreement and the last look).
    Install {
        /// The target, e.g. `/dev/sda`.
        device: String,
        /// `gpt` or `mbr`.
        table: crate::install::plan::TableKind,
        /// The release installed.
        release: String,
    },
    /// Progress of the install (a few per second at most).
    InstallProgress {
        /// `wipe`, `download`, `copy`, `bootloader`, `partition-table`.
        stage: crate::install::Stage,
        /// The component, if any.
        component: Option<String>,
        /// Bytes done.
        done: u64,
        /// Bytes in total (0: unknown).
        total: u64,
    },
    /// The install finished; the disk is bootable.
    Installed {
        /// The handover record's install id.
        install_id: String,
        /// Seconds it took.
        seconds: f64,
        /// Bytes downloaded.
        downloaded: u64,
    },
    /// The install failed; the disk was left without a partition table.
    InstallFailed {
        /// What was being done, in words (`downloading rootfs`).
        stage: crate::install::StageAt,
        /// What happened.
        message: String,
        /// What to do.
        hint: String,
        /// Where the support bundle went, if one was written.
        bundle: Option<String>,
    },
}

impl Event {
    /// The event as one line of JSON (no newline).
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail; keep a fallback anyway.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"event\":\"error\",\"error\":\"{e}\"}}"))
    }

    /// The line written to the serial port, with prefix and newline.
    pub fn serial_line(&self) -> String {
        format!("{SERIAL_PREFIX}{}\n", self.to_json())
    }
}

/// Where events go: the real [`EventSink`], or a list in tests.
pub trait Emit {
    /// Records one event.
    fn emit(&mut self, event: &Event);
}

impl Emit for Vec<Event> {
    fn emit(&mut self, event: &Event) {
        self.push(event.clone());
    }
}

impl Emit for EventSink {
    fn emit(&mut self, event: &Event) {
        EventSink::emit(self, event);
    }
}

/// Writes events to the file and the serial port (whichever could be opened).
#[derive(Debug, Default)]
pub struct EventSink {
    file: Option<File>,
    serial: Option<File>,
}

impl EventSink {
    /// Opens the events file (creating its directory) and `/dev/ttyS1`.
    /// Absent UARTs fail to open with EIO; that is ignored.
    pub fn open() -> Self {
        Self::open_at(Path::new(EVENTS_FILE), Some(Path::new(EVENTS_SERIAL)))
    }

    /// Opens the given events file and optional serial device.
    pub fn open_at(file: &Path, serial: Option<&Path>) -> Self {
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = OpenOptions::new().create(true).append(true).open(file).ok();
        let serial = serial.and_then(|p| {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
                .open(p)
                .ok()
        });
        EventSink { file, serial }
    }

    /// True if the serial port is open.
    pub fn has_serial(&self) -> bool {
        self.serial.is_some()
    }

    /// Writes one event; failures are logged, never fatal.
    pub fn emit(&mut self, event: &Event) {
        let json = event.to_json();
        crate::log::debug(&format!("event {json}"));
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(format!("{json}\n").as_bytes()) {
                crate::log::warn(&format!("cannot write {EVENTS_FILE}: {e}"));
            }
        }
        if let Some(s) = self.serial.as_mut() {
            if let Err(e) = write_nonblocking(s, event.serial_line().as_bytes()) {
                crate::log::warn(&format!("cannot write event to {EVENTS_SERIAL}: {e}"));
            }
        }
    }
}

/// Writes everything to a non-blocking fd, waiting briefly when it is full.
fn write_nonblocking(f: &mut File, mut data: &[u8]) -> std::io::Result<()> {
    let mut waits = 0;
    while !data.is_empty() {
        match f.write(data) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "wrote nothing",
                ))
            }
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && waits < 200 => {
                waits += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;

    #[test]
    fn started_has_the_contract_fields_in_order() {
        let e = Event::Started {
            version: "0.1.0".into(),
            console: "ttyS0".into(),
            firmware: Firmware::Uefi,
            secure_boot: true,
            loader: Some("grub".into()),
            cmdline: "console=ttyS0,115200n8".into(),
        };
        assert_eq!(
            e.to_json(),
            r#"{"event":"started","version":"0.1.0","console":"ttyS0","firmware":"uefi","secure_boot":true,"loader":"grub","cmdline":"console=ttyS0,115200n8"}"#
        );
        let bios = Event::Started {
            version: "1".into(),
            console: "tty1".into(),
            firmware: Firmware::Bios,
            secure_boot: false,
            loader: None,
            cmdline: String::new(),
        };
        assert!(bios
            .to_json()
            .contains(r#""firmware":"bios","secure_boot":false,"loader":null"#));
    }

    #[test]
    fn other_events_render_exactly() {
        let m = Event::Modules {
            loaded: 7,
            failed: vec![ModuleFailure {
                name: "crct10dif_pclmul".into(),
                error: "no such device".into(),
            }],
            seconds: 2.5,
        };
        assert_eq!(
            m.to_json(),
            r#"{"event":"modules","loaded":7,"failed":[{"name":"crct10dif_pclmul","error":"no such device"}],"seconds":2.5}"#
        );
        let md = Event::Medium {
            device: "/dev/sr0".into(),
            kind: MediumKind::Cdrom,
        };
        assert_eq!(
            md.to_json(),
            r#"{"event":"medium","device":"/dev/sr0","kind":"cdrom"}"#
        );
        let mm = Event::MediumMissing {
            seen: vec!["/dev/sda".into()],
        };
        assert_eq!(
            mm.to_json(),
            r#"{"event":"medium-missing","seen":["/dev/sda"]}"#
        );
        assert_eq!(Event::FirstScreen.to_json(), r#"{"event":"first-screen"}"#);
        let p = Event::Power {
            action: PowerAction::PowerOff,
        };
        assert_eq!(p.to_json(), r#"{"event":"power","action":"poweroff"}"#);
        let r = Event::Power {
            action: PowerAction::Reboot,
        };
        assert_eq!(
            r.serial_line(),
            "INSTALLER-EVENT {\"event\":\"power\",\"action\":\"reboot\"}\n"
        );
    }

    #[test]
    fn flow_events_render_exactly() {
        use crate::net::{Check, Ipv4Cidr, NetConfig, Source};
        use std::net::Ipv4Addr;
        let cases = [
            (
                Event::Prompt { id: "menu".into() },
                r#"{"event":"prompt","id":"menu"}"#,
            ),
            (
                Event::Invalid {
                    id: "manual.gateway".into(),
                    input: "10.0.0.1".into(),
                    message: "10.0.0.1 is outside 192.0.2.0/24".into(),
                },
                r#"{"event":"invalid","id":"manual.gateway","input":"10.0.0.1","message":"10.0.0.1 is outside 192.0.2.0/24"}"#,
            ),
            (
                Event::DhcpFailed {
                    interface: "eth0".into(),
                    tried: "sent 4 DISCOVERs".into(),
                    hint: "is a cable connected?".into(),
                },
                r#"{"event":"dhcp-failed","interface":"eth0","tried":"sent 4 DISCOVERs","hint":"is a cable connected?"}"#,
            ),
            (
                Event::Doctor {
                    checks: vec![Check {
                        name: "gateway".into(),
                        ok: false,
                        detail: "no reply".into(),
                        hint: Some("check the cable".into()),
                    }],
                },
                r#"{"event":"doctor","checks":[{"name":"gateway","ok":false,"detail":"no reply","hint":"check the cable"}]}"#,
            ),
            (
                Event::Keyboard {
                    layout: "de".into(),
                    applied: true,
                },
                r#"{"event":"keyboard","layout":"de","applied":true}"#,
            ),
            (
                Event::Answers {
                    source: "/etc/installer/answers.json".into(),
                },
                r#"{"event":"answers","source":"/etc/installer/answers.json"}"#,
            ),
            (
                Event::AnswersError {
                    key: "network.gateway".into(),
                    message: "10.0.0.1 is outside 192.0.2.0/24".into(),
                },
                r#"{"event":"answers-error","key":"network.gateway","message":"10.0.0.1 is outside 192.0.2.0/24"}"#,
            ),
            (
                Event::InstallProgress {
                    stage: crate::install::Stage::PartitionTable,
                    component: None,
                    done: 0,
                    total: 0,
                },
                r#"{"event":"install-progress","stage":"partition-table","component":null,"done":0,"total":0}"#,
            ),
            (
                Event::InstallFailed {
                    stage: crate::install::StageAt {
                        stage: crate::install::Stage::Download,
                        component: Some("rootfs".into()),
                    },
                    message: "sha256 mismatch".into(),
                    hint: "retry".into(),
                    bundle: None,
                },
                r#"{"event":"install-failed","stage":"downloading rootfs","message":"sha256 mismatch","hint":"retry","bundle":null}"#,
            ),
        ];
        for (event, json) in cases {
            assert_eq!(event.to_json(), json);
        }
        let n = Event::Network {
            config: NetConfig {
                interface: "eth0".into(),
                address: Ipv4Cidr {
                    addr: Ipv4Addr::new(10, 0, 2, 15),
                    prefix: 24,
                },
                gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
                dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
                hostname: "appliance".into(),
                domain: None,
                search: vec![],
                mtu: None,
                routes: vec![],
                source: Source::Manual,
            },
        };
        let v: serde_json::Value = serde_json::from_str(&n.to_json()).unwrap();
        // The fields the QEMU harness reads.
        assert_eq!(v["event"], "network");
        assert_eq!(v["config"]["address"]["addr"], "10.0.2.15");
        assert_eq!(v["config"]["address"]["prefix"], 24);
        assert_eq!(v["config"]["gateway"], "10.0.2.2");
        assert_eq!(v["config"]["dns"][0], "10.0.2.3");
        assert_eq!(v["config"]["source"]["kind"], "manual");
    }

    #[test]
    fn a_vec_collects_emitted_events() {
        let mut v: Vec<Event> = Vec::new();
        Emit::emit(&mut v, &Event::FirstScreen);
        assert_eq!(v, vec![Event::FirstScreen]);
    }

    #[test]
    fn sink_appends_json_lines_to_both_targets() {
        let t = TempTree::new("events");
        let file = t.path().join("run/installer/events.jsonl");
        let serial = t.path().join("ttyS1");
        std::fs::write(&serial, b"").unwrap();
        let mut sink = EventSink::open_at(&file, Some(&serial));
        assert!(sink.has_serial());
        sink.emit(&Event::FirstScreen);
        sink.emit(&Event::Power {
            action: PowerAction::Reboot,
        });
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "{\"event\":\"first-screen\"}\n{\"event\":\"power\",\"action\":\"reboot\"}\n"
        );
        let ser = std::fs::read_to_string(&serial).unwrap();
        assert_eq!(ser.lines().count(), 2);
        assert!(ser.lines().all(|l| l.starts_with(SERIAL_PREFIX)));
    }

    #[test]
    fn missing_serial_port_is_not_an_error() {
        let t = TempTree::new("events-noserial");
        let mut sink = EventSink::open_at(
            &t.path().join("e.jsonl"),
            Some(&t.path().join("no-such-tty")),
        );
        assert!(!sink.has_serial());
        sink.emit(&Event::FirstScreen);
        assert_eq!(
            std::fs::read_to_string(t.path().join("e.jsonl")).unwrap(),
            "{\"event\":\"first-screen\"}\n"
        );
    }
}
