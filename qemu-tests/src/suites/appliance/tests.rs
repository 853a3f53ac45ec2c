use super::*;
use std::io::{Cursor, Read};

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("qt-appl-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn test_disk_has_appboot_with_the_record_and_the_rootfs() {
    let dir = temp("disk");
    let rootfs: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    fs::write(dir.join("rootfs.img"), &rootfs).unwrap();
    let json = handover_json(true, "fw-disk").unwrap();
    build_disk(&dir.join("rootfs.img"), &json, &dir.join("disk.img")).unwrap();

    let mut f = File::open(dir.join("disk.img")).unwrap();
    let mbr = mbrman::MBR::read_from(&mut f, 512).unwrap();
    let p1 = &mbr[1];
    let p2 = &mbr[2];
    assert_eq!(
        (p1.sys, p1.starting_lba, p1.sectors),
        (0x0C, 2048, (48 << 20) / 512)
    );
    assert_eq!((p2.sys, p2.starting_lba), (0x83, 2048 + (48 << 20) / 512));
    assert_eq!(p2.sectors as usize * 512, rootfs.len());

    let disk = fs::read(dir.join("disk.img")).unwrap();
    let start = p1.starting_lba as usize * 512;
    let boot = &disk[start..start + p1.sectors as usize * 512];
    assert_eq!(&boot[0x47..0x52], b"APPBOOT    ", "FAT32 label at 0x47");
    let fs = fatfs::FileSystem::new(Cursor::new(boot.to_vec()), fatfs::FsOptions::new()).unwrap();
    assert_eq!(fs.fat_type(), fatfs::FatType::Fat32);
    let mut text = String::new();
    fs.root_dir()
        .open_file("handover/handover.json")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, json);
    let data_start = p2.starting_lba as usize * 512;
    assert!(disk[data_start..] == rootfs[..]);
    fs::remove_dir_all(&dir).unwrap();
}
