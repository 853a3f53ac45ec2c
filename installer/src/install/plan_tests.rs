use super::*;
use vendor_repo::manifest::{Boot, Layout as MLayout, Partition};

fn disk(name: &str, gib: u64, serial: &str) -> Disk {
    Disk {
        name: name.into(),
        size_bytes: gib << 30,
        model: "ATA QEMU HARDDISK".into(),
        removable: false,
        bus: "ata",
        serial: serial.into(),
        read_only: false,
        logical_sector: 512,
    }
}

fn manifest() -> Manifest {
    Manifest {
        format: 1,
        model: "example-appliance".into(),
        channel: "stable".into(),
        metadata_version: 1,
        expires: u64::MAX,
        release: "1.0.0".into(),
        min_ram_mib: 1024,
        layout: MLayout {
            min_disk_mib: 1024,
            partitions: vec![
                Partition {
                    name: "boot".into(),
                    label: "APPBOOT".into(),
                    kind: PartitionKind::Boot,
                    filesystem: Filesystem::Vfat,
                    size_mib: 256,
                    grow: false,
                },
                Partition {
                    name: "data".into(),
                    label: "APPDATA".into(),
                    kind: PartitionKind::Linux,
                    filesystem: Filesystem::None,
                    size_mib: 64,
                    grow: true,
                },
            ],
        },
        components: vec![],
        boot: Boot {
            kernel: "/vmlinuz".into(),
            initrd: "/initrd.img".into(),
            cmdline: String::new(),
        },
    }
}

#[test]
fn the_install_medium_cd_drives_usb_and_small_disks_are_not_offered() {
    let mut usb = disk("sdc", 16, "USB1");
    usb.bus = "usb";
    usb.removable = true;
    let mut ro = disk("sdd", 8, "RO");
    ro.read_only = true;
    let disks = [
        disk("sda", 20, "QM1"),
        disk("sdb", 4, "ISO"),
        usb,
        ro,
        disk("sde", 0, ""),
        disk("sr0", 1, ""),
    ];
    let c = candidates(&disks, Some("/dev/sdb"), 1024, false);
    let reasons: Vec<Option<&str>> = c.iter().map(|c| c.refusal.as_deref()).collect();
    assert_eq!(reasons[0], None);
    assert_eq!(reasons[1], Some("it holds the installation medium"));
    assert!(reasons[2].unwrap().starts_with("it is removable"));
    assert_eq!(reasons[3], Some("it is read-only"));
    assert_eq!(
        reasons[4],
        Some("it is too small: 0 B but this appliance needs at least 1.0 GiB")
    );
    assert_eq!(reasons[5], Some("it is a CD/DVD drive"));
    // Exactly one qualifies: it is picked without asking.
    assert_eq!(select(&c, None).unwrap().name, "sda");
}

#[test]
fn a_partition_of_the_medium_excludes_its_disk() {
    let c = candidates(&[disk("sdb", 20, "X")], Some("/dev/sdb1"), 1024, false);
    assert!(c[0].refusal.is_some());
}

#[test]
fn selectors_match_all_given_fields_and_break_ties_by_size() {
    let disks = [
        disk("sda", 20, "A"),
        disk("sdb", 40, "B"),
        disk("vda", 30, "C"),
    ];
    let c = candidates(&disks, None, 1024, false);
    let by = |s: DiskSelector| select(&c, Some(&s)).map(|d| d.name);
    assert_eq!(
        by(DiskSelector {
            serial: Some("B".into()),
            ..Default::default()
        }),
        Ok("sdb".into())
    );
    assert_eq!(
        by(DiskSelector {
            path: Some("/dev/vda".into()),
            ..Default::default()
        }),
        Ok("vda".into())
    );
    assert_eq!(
        by(DiskSelector {
            size: Some(SizeRule::Largest),
            ..Default::default()
        }),
        Ok("sdb".into())
    );
    assert_eq!(
        by(DiskSelector {
            model: Some("qemu".into()),
            size: Some(SizeRule::Smallest),
            ..Default::default()
        }),
        Ok("sda".into())
    );
    match select(&c, None) {
        Err(SelectError::Ambiguous { count: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
    let err = by(DiskSelector {
        serial: Some("Z".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(r#"no eligible disk matches {"serial":"Z"}"#),
        "{err}"
    );
    assert!(err.contains("/dev/sdb  ATA QEMU HARDDISK  serial B  40.0 GiB  ata — eligible"));
}

#[test]
fn no_disk_at_all_lists_the_reasons() {
    let c = candidates(&[disk("sda", 0, "")], None, 1024, false);
    let err = select(&c, None).unwrap_err().to_string();
    assert!(
        err.starts_with("no disk can take the installation:"),
        "{err}"
    );
    assert!(err.contains("too small"), "{err}");
}

#[test]
fn ram_check_tolerates_what_the_kernel_reserves() {
    assert!(check_ram(1_000_000, 1024).is_ok()); // a 1 GiB VM reports ~1,000,000 KiB
    let err = check_ram(500_000, 1024).unwrap_err();
    assert_eq!(
        err,
        "this machine has 488.3 MiB of RAM; the appliance needs 1024 MiB"
    );
}

#[test]
fn gpt_layout_is_aligned_and_the_last_partition_grows() {
    let l = layout(&manifest(), 2 << 30, TableKind::Gpt).unwrap();
    let (b, d) = (&l.partitions[0], &l.partitions[1]);
    assert_eq!((b.first_lba, b.sectors), (2048, 256 * 2048));
    assert_eq!(b.gpt_type, GPT_ESP);
    assert_eq!(d.first_lba, 2048 + 256 * 2048);
    // 2 GiB = 4194304 sectors; minus 33 for the backup GPT, aligned down.
    assert_eq!(d.first_lba + d.sectors, 4_194_304 - 2048);
    assert_eq!(d.gpt_type, GPT_LINUX);
    assert!(l.partitions.iter().all(|p| p.first_lba % ALIGN == 0));
    assert_eq!(l.boot().map(|p| p.number), Some(1));
}

#[test]
fn mbr_layout_marks_the_boot_partition_active() {
    let l = layout(&manifest(), 2 << 30, TableKind::Mbr).unwrap();
    assert_eq!(l.partitions[0].mbr_type, 0x0C);
    assert!(l.partitions[0].bootable);
    assert_eq!(l.partitions[1].mbr_type, 0x83);
    assert!(!l.partitions[1].bootable);
    assert_eq!(
        l.partitions[1].first_lba + l.partitions[1].sectors,
        4_194_304
    );
}

#[test]
fn too_small_is_refused_with_the_figures() {
    let err = layout(&manifest(), 512 << 20, TableKind::Gpt).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the disk holds 512.0 MiB but the partitions need 1.0 GiB"
    );
}

#[test]
fn table_defaults_and_overrides() {
    assert_eq!(table_for(Firmware::Uefi, None), Ok(TableKind::Gpt));
    assert_eq!(table_for(Firmware::Bios, None), Ok(TableKind::Mbr));
    assert_eq!(
        table_for(Firmware::Uefi, Some(TableKind::Mbr)),
        Ok(TableKind::Mbr)
    );
    assert_eq!(
        table_for(Firmware::Bios, Some(TableKind::Gpt)),
        Err(LayoutError::GptOnBios)
    );
}

#[test]
fn vpd_serials() {
    let page = [
        0x00, 0x80, 0x00, 0x08, b'Q', b'M', b'0', b'0', b'0', b'0', b'1', b' ',
    ];
    assert_eq!(
        crate::facts::hw::serial_from_vpd80(&page).as_deref(),
        Some("QM00001")
    );
    assert_eq!(crate::facts::hw::serial_from_vpd80(&[0, 0x80]), None);
}
