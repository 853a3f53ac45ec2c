//! The support bundle written when an install fails: one text file with the
//! failure, the machine, the event stream, the collected answers and the
//! installer log — the serial number masked — for the vendor's support.
//! The events and the log are written redacted ([`crate::secret`]); the
//! collected answers get their serial masked when read; and the finished
//! text is scrubbed once more for every spelling of the serial number
//! ([`redact`]), whatever part it came from.
//! It always goes to `/run/installer/` (0600) and, when a FAT volume
//! labelled `SUPPORT` (or `ANSWERS`) is attached, onto it as well, so it
//! leaves the machine on the same USB stick that brought the answers.

use super::{Failure, Hardware};
use crate::answers::volume::{self, FsKind};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Where the bundle always goes.
pub const LOCAL: &str = "/run/installer/support-bundle.txt";
/// Volume labels the bundle is copied to (first found).
pub const LABELS: [&str; 2] = ["SUPPORT", "ANSWERS"];
/// Where such a volume is mounted while writing.
pub const MOUNT_POINT: &str = "/run/installer/support-volume";

/// Masks every secret this process registered and every spelling of
/// `serial` ([`crate::secret::serial_variants`]: grouped or not, any case,
/// Y and Z swapped). Also used for the log copied onto the installed disk.
pub fn redact(text: &str, serial: &str) -> String {
    let text = crate::secret::redact(text);
    if serial.trim().len() < 8 {
        return text;
    }
    crate::secret::scrub(&text, &crate::secret::serial_variants(serial))
}

/// The collected answers with their serial number masked (the file itself
/// keeps it: it is an answer file for the next run, readable by root only).
fn masked_answers(text: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_string();
    };
    if let Some(s) = v.get_mut("serial") {
        if let Some(serial) = s.as_str() {
            *s = serde_json::Value::String(handover::mask_serial(serial));
        }
    }
    serde_json::to_string_pretty(&v).map_or_else(|_| text.to_string(), |t| t + "\n")
}

/// The bundle's text.
pub fn render(f: &Failure, hw: &Hardware, serial: &str, parts: &[(&str, String)]) -> String {
    let mut s =
        String::from("Appliance installer support bundle\n==================================\n\n");
    let _ = writeln!(
        s,
        "Failed while: {}\nMessage:      {}\nHint:         {}\nDisk:         {}\n",
        f.stage(),
        f.message(),
        f.hint(),
        f.disk_state()
    );
    let _ = writeln!(
        s,
        "Stage:        {}\nDisk state:   {}",
        f.error.stage(),
        f.disk.as_str()
    );
    let mut cause = std::error::Error::source(&*f.error.cause);
    while let Some(c) = cause {
        let _ = writeln!(s, "Caused by:    {c}");
        cause = c.source();
    }
    s.push('\n');
    if serial.trim().len() >= 8 {
        let _ = writeln!(s, "Serial:   {}", handover::mask_serial(serial));
    }
    let _ = writeln!(
        s,
        "Firmware: {:?}\nPlatform: {}\nRAM:      {} KiB\nMedium:   {}",
        hw.firmware,
        hw.platform,
        hw.mem_total_kib,
        hw.medium.as_deref().unwrap_or("not found")
    );
    for d in &hw.disks {
        let _ = writeln!(s, "Disk:     {}", super::plan::describe(d));
    }
    for (title, body) in parts {
        let _ = write!(s, "\n--- {title} ---\n{body}");
        if !body.ends_with('\n') {
            s.push('\n');
        }
    }
    redact(&s, serial)
}

fn write_local(text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(LOCAL)
        .map_err(|e| format!("{LOCAL}: {e}"))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{LOCAL}: {e}"))
}

fn write_volume(text: &str, name: &str) -> Option<String> {
    use crate::sys::mount;
    let found = LABELS
        .iter()
        .find_map(|l| volume::find_label(Path::new("/"), l))
        .filter(|f| f.kind == FsKind::Fat)?;
    if let Err(e) = mount::mount_device(&found.device, MOUNT_POINT, "vfat", mount::writable_data())
    {
        crate::log::warn(&format!("support bundle: {}: {e}", found.device.display()));
        return None;
    }
    let path = Path::new(MOUNT_POINT).join(name);
    let ok = std::fs::write(&path, text).is_ok();
    nix::unistd::sync();
    if let Err(e) = mount::unmount(MOUNT_POINT) {
        crate::log::warn(&format!("support bundle: {e}"));
    }
    ok.then(|| format!("{}:/{name}", found.device.display()))
}

/// Writes the bundle; returns where it went (for the failure screen).
pub fn write(f: &Failure, hw: &Hardware, serial: &str, install_id: &str) -> Option<String> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_else(|e| format!("({p}: {e})\n"));
    let parts = [
        ("controllers", crate::facts::pci::system_report()),
        ("events", read(crate::event::EVENTS_FILE)),
        (
            "collected answers",
            masked_answers(&read(crate::answers::COLLECTED_FILE)),
        ),
        ("installer log", read(crate::log::LOG_FILE)),
    ];
    let text = render(f, hw, serial, &parts);
    let mut places = Vec::new();
    match write_local(&text) {
        Ok(()) => places.push(LOCAL.to_string()),
        Err(e) => crate::log::warn(&format!("support bundle: {e}")),
    }
    if let Some(p) = write_volume(&text, &format!("support-{install_id}.txt")) {
        places.push(p);
    }
    (!places.is_empty()).then(|| places.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_never_appears_in_the_bundle() {
        let hash = crate::install::verify_io::VerifyError::HashMismatch {
            expected: "aa".into(),
            actual: "bb".into(),
        };
        let f = Failure {
            error: crate::install::InstallError::fetch("rootfs", hash.into()),
            disk: crate::install::DiskState::NoPartitionTable,
            wipe_error: None,
            bundle: None,
        };
        let hw = Hardware {
            disks: vec![],
            mem_total_kib: 1000,
            firmware: crate::facts::Firmware::Bios,
            medium: Some("/dev/sr0".into()),
            platform: "QEMU".into(),
        };
        let answers = r#"{"serial": "7K3M-Q9TD-2XWB-HV5B", "x": "7K3MQ9TD2XWBHV5B"}"#.to_string();
        let text = render(
            &f,
            &hw,
            "7K3M-Q9TD-2XWB-HV5B",
            &[("collected answers", answers)],
        );
        assert!(!text.contains("7K3M"), "{text}");
        assert!(text.contains("Serial:   ****-****-****-HV5B\n"), "{text}");
        assert!(text.contains("Failed while: downloading rootfs"));
        assert!(text.contains("Message:      SHA-256 mismatch: expected aa, got bb"));
        assert!(text.contains("Hint:         the component is not the one"));
        assert!(text.contains("Disk:         The disk was left without a partition table"));
        assert!(text.contains("Stage:        download\nDisk state:   no-partition-table\n"));
        assert!(text.contains("--- collected answers ---"));
    }

    #[test]
    fn every_spelling_of_the_serial_is_scrubbed() {
        // A serial with a Y and a Z, as the log could hold it after typos.
        let serial = "Y123-4Z56-789A-BCDE";
        let log = "typed y123-4z56-789a-bcde\n\
                   typed Z123 4Y56 789A BCDE\n\
                   typed Z1234Z56789ABCDE\n\
                   sent Y1234Z56789ABCDE\n\
                   kept Y123-4Z56\n";
        let text = redact(log, serial);
        for spelling in crate::secret::serial_variants(serial) {
            assert!(
                !text
                    .to_ascii_lowercase()
                    .contains(&spelling.to_ascii_lowercase()),
                "{spelling} in {text}"
            );
        }
        assert_eq!(text.matches(crate::secret::MASK).count(), 4, "{text}");
        // Shorter pieces are not a serial number.
        assert!(text.contains("kept Y123-4Z56\n"), "{text}");
    }

    #[test]
    fn the_collected_answers_keep_the_last_group_only() {
        let text = masked_answers("{\"version\": 1, \"serial\": \"7K3M-Q9TD-2XWB-HV5B\"}\n");
        assert!(
            text.contains("\"serial\": \"****-****-****-HV5B\""),
            "{text}"
        );
        assert_eq!(masked_answers("(no file)\n"), "(no file)\n");
    }
}
