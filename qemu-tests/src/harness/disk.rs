//! Test disks and volumes built in Rust: FAT32 volumes with files, empty
//! target disks, and the handover record the appliance scenarios hand over.

use std::fs;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{ensure, Context, Result};

/// The record for the test: the documented example with the network replaced.
pub fn handover_json(dhcp: bool, hostname: &str) -> Result<String> {
    let mut h = handover::Handover::parse(handover::EXAMPLE_JSON)?;
    h.network.mac = "52:54:00:12:34:56".parse().map_err(anyhow::Error::msg)?;
    h.network.interface = "eth0".into();
    h.network.hostname = hostname.into();
    if dhcp {
        h.network.mode = handover::NetMode::Dhcp;
        h.network.address = None;
        h.network.gateway = None;
        h.network.dns = vec![];
    } else {
        h.network.mode = handover::NetMode::Manual;
        h.network.address = Some("10.0.2.15/24".parse().map_err(anyhow::Error::msg)?);
        h.network.gateway = Some(Ipv4Addr::new(10, 0, 2, 2));
        h.network.dns = vec![Ipv4Addr::new(10, 0, 2, 3)];
    }
    Ok(h.to_json_pretty()?)
}

/// A FAT32 volume of `bytes` (512-byte clusters, as `mkfs.fat -F 32` picks
/// for these sizes) with `label` and `volume_id`, holding `files` (paths
/// with `/`, no leading `/`). Shared by the appliance and installed-disk
/// scenarios' test disks.
pub fn fat32(bytes: u64, label: &str, volume_id: u32, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut l = [b' '; 11];
    ensure!(
        label.len() <= 11,
        "label {label:?} is longer than 11 characters"
    );
    l[..label.len()].copy_from_slice(label.as_bytes());
    let mut image = vec![0u8; usize::try_from(bytes)?];
    fatfs::format_volume(
        Cursor::new(&mut image[..]),
        fatfs::FormatVolumeOptions::new()
            .fat_type(fatfs::FatType::Fat32)
            .bytes_per_cluster(512)
            .volume_id(volume_id)
            .volume_label(l),
    )
    .context("formatting the FAT32 volume")?;
    {
        let fs = fatfs::FileSystem::new(Cursor::new(&mut image[..]), fatfs::FsOptions::new())?;
        for (path, data) in files {
            let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
            let mut dir = fs.root_dir();
            for d in dirs.split('/').filter(|d| !d.is_empty()) {
                dir = match dir.open_dir(d) {
                    Ok(existing) => existing,
                    Err(_) => dir.create_dir(d)?,
                };
            }
            let mut f = dir.create_file(name)?;
            f.truncate()?;
            f.write_all(data)?;
            f.flush()?;
        }
        fs.unmount()?;
    }
    Ok(image)
}

/// A sparse file of `mib` MiB: an empty disk.
pub fn empty_disk(path: &Path, mib: u64) -> Result<()> {
    let f = fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.set_len(mib << 20)?;
    Ok(())
}

/// Writes each `(lba, bytes)` of `parts` at its 512-byte sector (the
/// partitions' contents of a disk image), then syncs.
pub fn write_parts(f: &mut fs::File, parts: &[(u64, &[u8])]) -> Result<()> {
    for (lba, bytes) in parts {
        f.seek(SeekFrom::Start(lba * 512))?;
        f.write_all(bytes)?;
    }
    f.sync_all()?;
    Ok(())
}

/// True when the first MiB of `target` is all zeros (no partition table,
/// no boot code).
pub fn first_mib_zero(target: &Path) -> Result<bool> {
    let mut f = fs::File::open(target)?;
    let mut b = vec![0u8; 1 << 20];
    f.read_exact(&mut b)?;
    Ok(b.iter().all(|&x| x == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_for_dhcp_and_manual() {
        let d = handover::Handover::parse(&handover_json(true, "fw-1").unwrap()).unwrap();
        assert_eq!(d.network.mode, handover::NetMode::Dhcp);
        assert_eq!(d.network.address, None);
        assert_eq!(d.network.hostname, "fw-1");
        assert_eq!(d.network.mac.to_string(), "52:54:00:12:34:56");
        let m = handover::Handover::parse(&handover_json(false, "fw-2").unwrap()).unwrap();
        assert_eq!(m.network.mode, handover::NetMode::Manual);
        assert_eq!(m.network.address.unwrap().to_string(), "10.0.2.15/24");
        assert_eq!(m.network.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
    }

    #[test]
    fn fat32_holds_the_files_and_empty_disks_are_zero() {
        let img = fat32(40 << 20, "TESTVOL", 0x1234_5678, &[("a/b/c.txt", b"hi")]).unwrap();
        let fs = fatfs::FileSystem::new(Cursor::new(img), fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), fatfs::FatType::Fat32);
        assert_eq!(fs.volume_label().trim_end(), "TESTVOL");
        let mut text = String::new();
        fs.root_dir()
            .open_file("a/b/c.txt")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hi");
        assert!(fat32(1 << 20, "TOO LONG LABEL", 1, &[]).is_err());
        let dir = std::env::temp_dir().join(format!("qt-disk-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("e.img");
        empty_disk(&p, 2).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 2 << 20);
        assert!(first_mib_zero(&p).unwrap());
        fs::write(&p, [1u8; 1 << 20]).unwrap();
        assert!(!first_mib_zero(&p).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
