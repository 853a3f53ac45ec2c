//! The support bundle written when an install fails: one text file with the
//! failure, the machine, the event stream, the collected answers and the
//! installer log — the serial number masked — for the vendor's support.
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

/// Replaces every occurrence of `serial` by its masked form.
pub fn redact(text: &str, serial: &str) -> String {
    if serial.len() < 8 {
        return text.to_string();
    }
    let masked = handover::mask_serial(serial);
    text.replace(serial, &masked)
        .replace(&serial.replace('-', ""), &masked)
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
        ("collected answers", read(crate::answers::COLLECTED_FILE)),
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
        assert!(text.contains("-HV5B"));
        assert!(text.contains("Failed while: downloading rootfs"));
        assert!(text.contains("Message:      SHA-256 mismatch: expected aa, got bb"));
        assert!(text.contains("Hint:         the component is not the one"));
        assert!(text.contains("Disk:         The disk was left without a partition table"));
        assert!(text.contains("Stage:        download\nDisk state:   no-partition-table\n"));
        assert!(text.contains("--- collected answers ---"));
    }
}
