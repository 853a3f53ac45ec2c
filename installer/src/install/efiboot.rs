//! A UEFI boot entry for the installed disk, and `BootNext` pointing at it,
//! written through efivarfs: the next boot starts the appliance even when
//! the ISO comes first in the boot order. Hand-written because the format is
//! three small structures (UEFI 2.10 §3.1.3 `EFI_LOAD_OPTION`, §10.3.5.1
//! hard drive and §10.3.5.4 file path media device paths); no maintained
//! crate writes them without pulling in a whole EFI stack.

use std::collections::BTreeMap;
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

/// What a `Boot####` entry points at, as far as deciding whether it is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedOption {
    /// The description, decoded from UTF-16.
    pub description: String,
    /// The GPT partition GUID of its hard drive node (on-disk byte order).
    pub partition_guid: Option<[u8; 16]>,
    /// The path of its file path node.
    pub file: Option<String>,
}

/// Parses an `EFI_LOAD_OPTION` (without the efivarfs attributes): the
/// description, the first hard drive node with a GUID signature and the
/// first file path node. `None` if the structure is malformed.
pub fn parse_load_option(data: &[u8]) -> Option<ParsedOption> {
    let path_len = usize::from(u16::from_le_bytes([*data.get(4)?, *data.get(5)?]));
    let mut units = Vec::new();
    let mut at = 6;
    loop {
        let u = u16::from_le_bytes([*data.get(at)?, *data.get(at + 1)?]);
        at += 2;
        if u == 0 {
            break;
        }
        units.push(u);
    }
    let description = String::from_utf16_lossy(&units);
    let path = data.get(at..at + path_len)?;
    let (mut partition_guid, mut file) = (None, None);
    let mut p = 0;
    while p + 4 <= path.len() {
        let (kind, sub) = (path[p], path[p + 1]);
        let len = usize::from(u16::from_le_bytes([path[p + 2], path[p + 3]]));
        if len < 4 || p + len > path.len() || (kind, sub) == (0x7F, 0xFF) {
            break;
        }
        let node = &path[p..p + len];
        match (kind, sub) {
            (0x04, 0x01) if len >= 42 && node[41] == 0x02 && partition_guid.is_none() => {
                partition_guid = node[24..40].try_into().ok();
            }
            (0x04, 0x04) if file.is_none() => {
                let units: Vec<u16> = node[4..]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                file = Some(String::from_utf16_lossy(&units));
            }
            _ => {}
        }
        p += len;
    }
    Some(ParsedOption {
        description,
        partition_guid,
        file,
    })
}

/// The unique GUIDs (on-disk byte order) of the used entries of a GPT:
/// `header` is LBA 1, `entries` the partition entry array it names. Empty
/// if `header` is no GPT header.
pub fn gpt_partition_guids(header: &[u8], entries: &[u8]) -> Vec<[u8; 16]> {
    let Some(size) = gpt_entry_size(header) else {
        return Vec::new();
    };
    entries
        .chunks_exact(size)
        .filter(|e| e[..16].iter().any(|&b| b != 0)) // +0 type GUID: zero = unused
        .filter_map(|e| e[16..32].try_into().ok()) // +16 unique partition GUID
        .collect()
}

/// Where a GPT header's entry array lies: (first LBA, count, entry size).
pub fn gpt_entries_location(header: &[u8]) -> Option<(u64, u32, u32)> {
    if header.get(..8)? != b"EFI PART" {
        return None;
    }
    let u64_at = |o: usize| Some(u64::from_le_bytes(header.get(o..o + 8)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(header.get(o..o + 4)?.try_into().ok()?));
    // +72 partition entry LBA, +80 number of entries, +84 size of an entry.
    Some((u64_at(72)?, u32_at(80)?, u32_at(84)?))
}

fn gpt_entry_size(header: &[u8]) -> Option<usize> {
    let (_, _, size) = gpt_entries_location(header)?;
    let size = usize::try_from(size).ok()?;
    (size >= 128).then_some(size)
}

/// What to change in the boot variables for a new entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPlan {
    /// `Boot####` entries to remove: this installer's earlier entries for
    /// the same disk.
    pub delete: Vec<u16>,
    /// The number of the new entry.
    pub number: u16,
    /// The new `BootOrder`, if it changes (the removed entries leave it).
    pub boot_order: Option<Vec<u16>>,
}

fn boot_number(name: &str) -> Option<u16> {
    let rest = name.strip_prefix("Boot")?;
    let (hex, guid) = rest.split_once('-')?;
    (hex.len() == 4 && guid.eq_ignore_ascii_case(GLOBAL_GUID))
        .then(|| u16::from_str_radix(hex, 16).ok())
        .flatten()
}

/// Plans the boot variables for a new entry, given the efivarfs files
/// (`vars`: file name → content with the 4 attribute bytes). An existing
/// entry is this installer's for the same disk when its description is
/// `description`, it starts [`LOADER`], and its partition GUID is one of
/// `disk_guids` (the partitions the disk had before it was overwritten, and
/// the new one): those are removed, from `BootOrder` too, and the new entry
/// takes the first free number.
pub fn plan(
    vars: &BTreeMap<String, Vec<u8>>,
    description: &str,
    disk_guids: &[[u8; 16]],
) -> Option<BootPlan> {
    let delete: Vec<u16> = vars
        .iter()
        .filter_map(|(name, content)| {
            let n = boot_number(name)?;
            let o = parse_load_option(content.get(4..)?)?;
            let ours = o.description == description
                && o.file.is_some_and(|f| f.eq_ignore_ascii_case(LOADER))
                && o.partition_guid.is_some_and(|g| disk_guids.contains(&g));
            ours.then_some(n)
        })
        .collect();
    let remaining: Vec<String> = vars
        .keys()
        .filter(|k| boot_number(k).is_none_or(|n| !delete.contains(&n)))
        .cloned()
        .collect();
    let number = free_number(&remaining)?;
    let order_name = format!("BootOrder-{GLOBAL_GUID}");
    let boot_order = vars.get(&order_name).and_then(|content| {
        let old: Vec<u16> = content
            .get(4..)?
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let new: Vec<u16> = old
            .iter()
            .copied()
            .filter(|n| !delete.contains(n))
            .collect();
        (new != old).then_some(new)
    });
    Some(BootPlan {
        delete,
        number,
        boot_order,
    })
}

/// Reads every efivarfs file under `efivars` that [`plan`] looks at
/// (`Boot####` and `BootOrder` of the global GUID).
fn read_vars(efivars: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut vars = BTreeMap::new();
    let dir = std::fs::read_dir(efivars)
        .map_err(|e| format!("{}: {e} (is efivarfs mounted?)", efivars.display()))?;
    for e in dir.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let relevant = boot_number(&name).is_some() || name == format!("BootOrder-{GLOBAL_GUID}");
        // Unreadable variables are kept by name only: their numbers stay taken.
        let content = if relevant {
            std::fs::read(e.path()).unwrap_or_default()
        } else {
            Vec::new()
        };
        vars.insert(name, content);
    }
    Ok(vars)
}

/// Removes this installer's earlier entries for the disk (see [`plan`];
/// `disk_guids` includes `esp`'s), writes the new `Boot####` and points
/// `BootNext` at it; returns the number.
pub fn write(
    efivars: &Path,
    description: &str,
    esp: &EspRef,
    disk_guids: &[[u8; 16]],
) -> Result<u16, String> {
    let vars = read_vars(efivars)?;
    let mut guids = disk_guids.to_vec();
    guids.push(esp.guid_le);
    let plan = plan(&vars, description, &guids).ok_or("no free Boot#### number")?;
    if let Some(order) = &plan.boot_order {
        let path = efivars.join(format!("BootOrder-{GLOBAL_GUID}"));
        let data: Vec<u8> = order.iter().flat_map(|n| n.to_le_bytes()).collect();
        std::fs::write(&path, efivarfs_bytes(&data))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    for n in &plan.delete {
        let path = efivars.join(format!("Boot{n:04X}-{GLOBAL_GUID}"));
        std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let n = plan.number;
    let entry = efivars.join(format!("Boot{n:04X}-{GLOBAL_GUID}"));
    std::fs::write(&entry, efivarfs_bytes(&load_option(description, esp)))
        .map_err(|e| format!("{}: {e}", entry.display()))?;
    let next = efivars.join(format!("BootNext-{GLOBAL_GUID}"));
    // Replace BootNext as a whole: remove, then create.
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
        let n = write(&dir, "Appliance", &esp(), &[]).unwrap();
        assert_eq!(n, 0x0101);
        let next = std::fs::read(dir.join(format!("BootNext-{GLOBAL_GUID}"))).unwrap();
        assert_eq!(next, [7, 0, 0, 0, 0x01, 0x01]);
        let entry = std::fs::read(dir.join(format!("Boot0101-{GLOBAL_GUID}"))).unwrap();
        assert_eq!(&entry[..4], &[7, 0, 0, 0]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn guid(b: u8) -> [u8; 16] {
        [b; 16]
    }

    fn esp_with(guid_le: [u8; 16]) -> EspRef {
        EspRef { guid_le, ..esp() }
    }

    fn name(n: u16) -> String {
        format!("Boot{n:04X}-{GLOBAL_GUID}")
    }

    fn order(v: &[u16]) -> Vec<u8> {
        efivarfs_bytes(&v.iter().flat_map(|n| n.to_le_bytes()).collect::<Vec<u8>>())
    }

    #[test]
    fn load_options_parse_back() {
        let o = parse_load_option(&load_option("Example Appliance", &esp())).unwrap();
        assert_eq!(
            o,
            ParsedOption {
                description: "Example Appliance".into(),
                partition_guid: Some(esp().guid_le),
                file: Some(LOADER.into()),
            }
        );
        // A firmware entry without a hard drive node (e.g. a PXE entry).
        let mut pxe = vec![1, 0, 0, 0, 4, 0]; // active, path length 4
        pxe.extend_from_slice(&utf16z("PXE"));
        pxe.extend_from_slice(&[0x7F, 0xFF, 0x04, 0x00]);
        let o = parse_load_option(&pxe).unwrap();
        assert_eq!(
            (o.description.as_str(), o.partition_guid, o.file),
            ("PXE", None, None)
        );
        // Truncated: the path length points past the end.
        assert_eq!(parse_load_option(&pxe[..pxe.len() - 2]), None);
        assert_eq!(parse_load_option(&[1, 0]), None);
    }

    #[test]
    fn gpt_guids_golden_bytes() {
        let mut header = vec![0u8; 512];
        header[..8].copy_from_slice(b"EFI PART"); // +0 signature
        header[72..80].copy_from_slice(&2u64.to_le_bytes()); // +72 entries at LBA 2
        header[80..84].copy_from_slice(&3u32.to_le_bytes()); // +80 three entries
        header[84..88].copy_from_slice(&128u32.to_le_bytes()); // +84 of 128 bytes
        assert_eq!(gpt_entries_location(&header), Some((2, 3, 128)));
        let mut entries = vec![0u8; 3 * 128];
        entries[..16].fill(0x11); // entry 0: +0 type GUID (used)
        entries[16..32].fill(0xA1); // entry 0: +16 unique GUID
        entries[128 + 16..128 + 32].fill(0xB2); // entry 1: type zero = unused
        entries[256..256 + 16].fill(0x22); // entry 2: used
        entries[256 + 16..256 + 32].fill(0xC3);
        assert_eq!(
            gpt_partition_guids(&header, &entries),
            vec![guid(0xA1), guid(0xC3)]
        );
        header[0] = b'X';
        assert_eq!(
            gpt_partition_guids(&header, &entries),
            Vec::<[u8; 16]>::new()
        );
    }

    #[test]
    fn plan_golden() {
        let mut vars = BTreeMap::new();
        vars.insert(
            name(0x0000),
            efivarfs_bytes(&load_option("UEFI Shell", &esp_with(guid(9)))),
        );
        vars.insert(
            name(0x0100),
            efivarfs_bytes(&load_option("Appliance", &esp_with(guid(1)))),
        );
        vars.insert(
            name(0x0101),
            efivarfs_bytes(&load_option("Appliance", &esp_with(guid(2)))),
        );
        vars.insert(
            name(0x0102),
            efivarfs_bytes(&load_option("Other", &esp_with(guid(1)))),
        );
        vars.insert(
            format!("BootOrder-{GLOBAL_GUID}"),
            order(&[0x0101, 0x0000, 0x0100]),
        );
        vars.insert(
            "Lang-8be4df61-93ca-11d2-aa0d-00e098032b8c".into(),
            Vec::new(),
        );
        // The disk had partition GUID 1: only the Appliance entry for it goes.
        assert_eq!(
            plan(&vars, "Appliance", &[guid(1), guid(7)]),
            Some(BootPlan {
                delete: vec![0x0100],
                number: 0x0100,
                boot_order: Some(vec![0x0101, 0x0000]),
            })
        );
        // Nothing of ours on this disk: nothing removed, order unchanged.
        assert_eq!(
            plan(&vars, "Appliance", &[guid(7)]),
            Some(BootPlan {
                delete: vec![],
                number: 0x0103,
                boot_order: None,
            })
        );
    }

    /// Applies a plan to a simulated efivarfs, as [`write`] does.
    fn install(vars: &mut BTreeMap<String, Vec<u8>>, old: &[[u8; 16]], new: [u8; 16]) -> u16 {
        let mut guids = old.to_vec();
        guids.push(new);
        let p = plan(vars, "Example Appliance", &guids).unwrap();
        if let Some(o) = &p.boot_order {
            vars.insert(format!("BootOrder-{GLOBAL_GUID}"), order(o));
        }
        for n in &p.delete {
            vars.remove(&name(*n));
        }
        vars.insert(
            name(p.number),
            efivarfs_bytes(&load_option("Example Appliance", &esp_with(new))),
        );
        p.number
    }

    #[test]
    fn after_three_installs_there_is_one_entry_for_the_disk() {
        let mut vars = BTreeMap::new();
        vars.insert(
            name(0x0000),
            efivarfs_bytes(&load_option("UEFI Shell", &esp_with(guid(9)))),
        );
        // The same product installed on another disk keeps its entry.
        vars.insert(
            name(0x0001),
            efivarfs_bytes(&load_option("Example Appliance", &esp_with(guid(0xEE)))),
        );
        vars.insert(format!("BootOrder-{GLOBAL_GUID}"), order(&[0x0000, 0x0001]));
        // Each install lays out new random GUIDs; the next one reads them
        // from the disk before overwriting it.
        let mut on_disk: Vec<[u8; 16]> = vec![];
        for (i, new) in [guid(0xA1), guid(0xB2), guid(0xC3)].into_iter().enumerate() {
            let n = install(&mut vars, &on_disk, new);
            // The firmware adds a booted entry to BootOrder.
            let mut o: Vec<u16> = vars[&format!("BootOrder-{GLOBAL_GUID}")][4..]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            o.push(n);
            vars.insert(format!("BootOrder-{GLOBAL_GUID}"), order(&o));
            on_disk = vec![new, guid(0x50 + i as u8)];
        }
        let for_disk: Vec<&String> = vars
            .iter()
            .filter(|(_, v)| {
                parse_load_option(&v[4..]).is_some_and(|o| {
                    o.description == "Example Appliance"
                        && [guid(0xA1), guid(0xB2), guid(0xC3)].contains(&o.partition_guid.unwrap())
                })
            })
            .map(|(k, _)| k)
            .collect();
        assert_eq!(for_disk, vec![&name(0x0100)], "one entry for the disk");
        let entry = parse_load_option(&vars[&name(0x0100)][4..]).unwrap();
        assert_eq!(entry.partition_guid, Some(guid(0xC3)), "the newest");
        assert!(
            vars.contains_key(&name(0x0001)),
            "the other disk's entry stays"
        );
        assert_eq!(
            vars[&format!("BootOrder-{GLOBAL_GUID}")],
            order(&[0x0000, 0x0001, 0x0100]),
            "removed entries left BootOrder"
        );
    }

    #[test]
    fn write_removes_the_earlier_entry_and_its_boot_order_slot() {
        let dir = std::env::temp_dir().join(format!("efivars-rm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(name(0x0100)),
            efivarfs_bytes(&load_option("Appliance", &esp_with(guid(1)))),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("BootOrder-{GLOBAL_GUID}")),
            order(&[0x0100, 0x0000]),
        )
        .unwrap();
        let n = write(&dir, "Appliance", &esp_with(guid(2)), &[guid(1)]).unwrap();
        assert_eq!(n, 0x0100);
        let entry = std::fs::read(dir.join(name(0x0100))).unwrap();
        assert_eq!(
            parse_load_option(&entry[4..]).unwrap().partition_guid,
            Some(guid(2))
        );
        assert_eq!(
            std::fs::read(dir.join(format!("BootOrder-{GLOBAL_GUID}"))).unwrap(),
            order(&[0x0000])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
