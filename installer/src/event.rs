//! Machine-readable progress events: one JSON object per line, written to
//! `/run/installer/events.jsonl` and, prefixed `INSTALLER-EVENT `, to the
//! second serial port (`/dev/ttyS1`), which the QEMU harness reads.
//! The types are the `protocol` crate's (the contract with the harness);
//! this module converts the installer's own types into them and writes them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub use protocol::event::*;
pub use protocol::SERIAL_PREFIX;

/// The events file.
pub const EVENTS_FILE: &str = "/run/installer/events.jsonl";
/// The serial port the harness listens on.
pub const EVENTS_SERIAL: &str = "/dev/ttyS1";

impl From<crate::facts::Firmware> for Firmware {
    fn from(f: crate::facts::Firmware) -> Self {
        match f {
            crate::facts::Firmware::Bios => Firmware::Bios,
            crate::facts::Firmware::Uefi => Firmware::Uefi,
        }
    }
}

impl From<crate::medium::MediumKind> for MediumKind {
    fn from(k: crate::medium::MediumKind) -> Self {
        use crate::medium::MediumKind as K;
        match k {
            K::Cdrom => MediumKind::Cdrom,
            K::Usb => MediumKind::Usb,
            K::Disk => MediumKind::Disk,
        }
    }
}

impl From<crate::power::PowerAction> for PowerAction {
    fn from(a: crate::power::PowerAction) -> Self {
        match a {
            crate::power::PowerAction::Reboot => PowerAction::Reboot,
            crate::power::PowerAction::PowerOff => PowerAction::PowerOff,
        }
    }
}

impl From<crate::install::plan::TableKind> for TableKind {
    fn from(t: crate::install::plan::TableKind) -> Self {
        match t {
            crate::install::plan::TableKind::Gpt => TableKind::Gpt,
            crate::install::plan::TableKind::Mbr => TableKind::Mbr,
        }
    }
}

/// The `started` event. The command line goes in masked
/// ([`crate::cmdline::KernelCmdline::masked`]): it may carry an answers URL
/// with a password or a token.
pub fn started(
    version: String,
    console: String,
    firmware: crate::facts::Firmware,
    secure_boot: bool,
    cmdline: &crate::cmdline::KernelCmdline,
) -> Event {
    Event::Started {
        version,
        console,
        firmware: firmware.into(),
        secure_boot,
        loader: cmdline.loader().map(str::to_string),
        cmdline: cmdline.masked(),
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

    /// Writes one event; failures are logged, never fatal. The events are
    /// made with masked values; any registered secret that still slipped
    /// in is masked here ([`crate::secret::redact_event_json`]), before the
    /// file, the port and the log see the line.
    pub fn emit(&mut self, event: &Event) {
        let json = crate::secret::redact_event_json(&event.to_json());
        crate::log::debug(&format!("event {json}"));
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(format!("{json}\n").as_bytes()) {
                crate::log::warn(&format!("cannot write {EVENTS_FILE}: {e}"));
            }
        }
        if let Some(s) = self.serial.as_mut() {
            let line = format!("{SERIAL_PREFIX}{json}\n");
            if let Err(e) = write_nonblocking(s, line.as_bytes()) {
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
    fn installer_types_convert_to_their_wire_form() {
        for (ours, wire) in [
            (crate::facts::Firmware::Bios, Firmware::Bios),
            (crate::facts::Firmware::Uefi, Firmware::Uefi),
        ] {
            assert_eq!(Firmware::from(ours), wire);
            assert_eq!(
                serde_json::to_value(ours).unwrap(),
                serde_json::to_value(wire).unwrap()
            );
        }
        for (ours, wire) in [
            (crate::medium::MediumKind::Cdrom, MediumKind::Cdrom),
            (crate::medium::MediumKind::Usb, MediumKind::Usb),
            (crate::medium::MediumKind::Disk, MediumKind::Disk),
        ] {
            assert_eq!(MediumKind::from(ours), wire);
            assert_eq!(
                serde_json::to_value(ours).unwrap(),
                serde_json::to_value(wire).unwrap()
            );
        }
        for (ours, wire) in [
            (crate::power::PowerAction::Reboot, PowerAction::Reboot),
            (crate::power::PowerAction::PowerOff, PowerAction::PowerOff),
        ] {
            assert_eq!(PowerAction::from(ours), wire);
            assert_eq!(
                serde_json::to_value(ours).unwrap(),
                serde_json::to_value(wire).unwrap()
            );
        }
        for (ours, wire) in [
            (crate::install::plan::TableKind::Gpt, TableKind::Gpt),
            (crate::install::plan::TableKind::Mbr, TableKind::Mbr),
        ] {
            assert_eq!(TableKind::from(ours), wire);
            assert_eq!(
                serde_json::to_value(ours).unwrap(),
                serde_json::to_value(wire).unwrap()
            );
        }
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
