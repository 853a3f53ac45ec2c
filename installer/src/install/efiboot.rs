//! A UEFI boot entry for the installed disk, and `BootNext` pointing at it,
//! written through efivarfs: the next boot starts the appliance even when
//! the ISO comes first in the boot order. Hand-written because the format is
//! three small structures (UEFI 2.10 §3.1.3 `EFI_LOAD_OPTION`, §10.3.5.1
//! hard drive and §10.3.5.4 file path media device paths); no maintained
//! crate writes them without pulling in a whole EFI stack.

use std::path::Path;

/// The EFI global variable GUID, as efivarfs spells it in file names.
pub const GLOBAL_GUID: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
/// Where efivarfs is mounted.
pub const EFIVARS: &str = "/sys/firmware/efi/efivars";
/// NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS.
pub const ATTRIBUTES: u32 = 0x7;
/// The removable-media path the installer fills.
pub const LOADER: &str = r"\EFI\BOOT\BOOTX64.EFI";

/// The GPT partition the entry boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspRef {
    /// 1-based partition number.
    pub number: u32,
    /// First LBA.
    pub start: u64,
    /// Length in LBAs.
    pub size: u64,
    /// The partition's unique GUID in on-disk (mixed-endian) byte order.
    pub guid_le: [u8; 16],
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The device path: HD(number, GPT, guid, start, size) / File(LOADER) / End.
pub fn device_path(esp: &EspRef) -> Vec<u8> {
    let mut p = Vec::new();
    // Hard drive media device path: type 4, subtype 1, length 42.
    p.extend_from_slice(&[0x04, 0x01]);
    p.extend_from_slice(&42u16.to_le_bytes());
    p.extend_from_slice(&esp.number.to_le_bytes()); // +4 partition number
    p.extend_from_slice(&esp.start.to_le_bytes()); // +8 partition start
    p.extend_from_slice(&esp.size.to_le_bytes()); // +16 partition size
    p.extend_from_slice(&esp.guid_le); // +24 signature
    p.push(0x02); // +40 format: GPT
    p.push(0x02); // +41 signature type: GUID
                  // File path media device path: type 4, subtype 4.
    let name = utf16z(LOADER);
    p.extend_from_slice(&[0x04, 0x04]);
    p.extend_from_slice(&((4 + name.len()) as u16).to_le_bytes());
    p.extend_from_slice(&name);
    // End of the entire device path.
    p.extend_from_slice(&[0x7F, 0xFF, 0x04, 0x00]);
    p
}

/// An `EFI_LOAD_OPTION` (active) with `description`.
pub fn load_option(description: &str, esp: &EspRef) -> Vec<u8> {
    let path = device_path(esp);
    let mut v = Vec::new();
    v.extend_from_slice(&1u32.to_le_bytes()); // LOAD_OPTION_ACTIVE
    v.extend_from_slice(&(path.len() as u16).to_le_bytes());
    v.extend_from_slice(&utf16z(description));
    v.extend_from_slice(&path);
    v
}

/// The content of an efivarfs file: attributes, then the data.
pub fn efivarfs_bytes(data: &[u8]) -> Vec<u8> {
    let mut v = ATTRIBUTES.to_le_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// The first `Boot####` number from 0x0100 on that `existing` (efivarfs file
/// names) does not use.
pub fn free_number(existing: &[String]) -> Option<u16> {
    (0x0100u16..0xFFFF).find(|n| {
        let name = format!("Boot{n:04X}-{GLOBAL_GUID}");
        !existing.iter().any(|e| e.eq_ignore_ascii_case(&name))
    })
}

/// Writes `Boot####` and `BootNext` under `efivars`; returns the number.
pub fn write(efivars: &Path, description: &str, esp: &EspRef) -> Result<u16, String> {
    let existing: Vec<String> = std::fs::read_dir(efivars)
        .map_err(|e| format!("{}: {e} (is efivarfs mounted?)", efivars.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let n = free_number(&existing).ok_or("no free Boot#### number")?;
    let entry = efivars.join(format!("Boot{n:04X}-{GLOBAL_GUID}"));
    std::fs::write(&entry, efivarfs_bytes(&load_option(description, esp)))
        .map_err(|e| format!("{}: {e}", entry.display()))?;
    let next = efivars.join(format!("BootNext-{GLOBAL_GUID}"));
    // An existing BootNext is immutable in efivarfs; replacing it needs the
    // immutable flag cleared, so remove it first (allowed for the owner).
    let _ = std::fs::remove_file(&next);
    std::fs::write(&next, efivarfs_bytes(&n.to_le_bytes()))
        .map_err(|e| format!("{}: {e}", next.display()))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp() -> EspRef {
        EspRef {
            number: 1,
            start: 2048,
            size: 524_288,
            guid_le: [
                0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
                0xC9, 0x3B,
            ],
        }
    }

    #[test]
    fn hard_drive_node_golden_bytes() {
        let p = device_path(&esp());
        // type, subtype, length 42
        assert_eq!(&p[0..4], &[0x04, 0x01, 42, 0]);
        // +4 partition number 1
        assert_eq!(&p[4..8], &[1, 0, 0, 0]);
        // +8 start LBA 2048
        assert_eq!(&p[8..16], &[0x00, 0x08, 0, 0, 0, 0, 0, 0]);
        // +16 size 524288 LBAs
        assert_eq!(&p[16..24], &[0x00, 0x00, 0x08, 0, 0, 0, 0, 0]);
        // +24 GUID as on disk
        assert_eq!(&p[24..40], &esp().guid_le);
        // +40 GPT, +41 GUID signature
        assert_eq!(&p[40..42], &[0x02, 0x02]);
        // File path node: 4 + 2 × (21 characters + NUL) = 48 bytes.
        assert_eq!(&p[42..46], &[0x04, 0x04, 48, 0]);
        assert_eq!(&p[46..50], &[b'\\', 0, b'E', 0]);
        // End node.
        assert_eq!(&p[p.len() - 4..], &[0x7F, 0xFF, 0x04, 0x00]);
        assert_eq!(p.len(), 42 + 48 + 4);
    }

    #[test]
    fn load_option_layout() {
        let o = load_option("Appliance", &esp());
        assert_eq!(&o[0..4], &[1, 0, 0, 0]); // active
        assert_eq!(u16::from_le_bytes([o[4], o[5]]), 94); // path length
        assert_eq!(&o[6..8], &[b'A', 0]);
        // "Appliance" + NUL in UTF-16 = 20 bytes, then the path.
        assert_eq!(&o[6 + 20..6 + 22], &[0x04, 0x01]);
        assert_eq!(o.len(), 6 + 20 + 94);
        assert_eq!(&efivarfs_bytes(&[9])[..], &[7, 0, 0, 0, 9]);
    }

    #[test]
    fn numbers_skip_existing_entries() {
        let existing = vec![
            format!("Boot0100-{GLOBAL_GUID}"),
            format!("boot0101-{GLOBAL_GUID}"),
            format!("Boot0000-{GLOBAL_GUID}"),
        ];
        assert_eq!(free_number(&existing), Some(0x0102));
    }

    #[test]
    fn write_creates_the_entry_and_boot_next() {
        let dir = std::env::temp_dir().join(format!("efivars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("Boot0100-{GLOBAL_GUID}")), b"x").unwrap();
        let n = write(&dir, "Appliance", &esp()).unwrap();
        assert_eq!(n, 0x0101);
        let next = std::fs::read(dir.join(format!("BootNext-{GLOBAL_GUID}"))).unwrap();
        assert_eq!(next, [7, 0, 0, 0, 0x01, 0x01]);
        let entry = std::fs::read(dir.join(format!("Boot0101-{GLOBAL_GUID}"))).unwrap();
        assert_eq!(&entry[..4], &[7, 0, 0, 0]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
