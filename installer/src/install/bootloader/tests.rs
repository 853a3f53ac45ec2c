use super::*;

/// A boot.img stand-in: byte i = i (mod 251), with the 55 AA signature.
fn boot_img() -> Vec<u8> {
    let mut b: Vec<u8> = (0..SECTOR).map(|i| (i % 251) as u8).collect();
    b[0x1FE] = 0x55;
    b[0x1FF] = 0xAA;
    b
}

/// A core.img stand-in of `len` bytes: 0xC3 everywhere, diskboot.img's
/// blocklist as grub-mkimage leaves it (start 2, the length it computed,
/// segment 0x0820), the older entry's length 0.
fn core_img(len: usize) -> Vec<u8> {
    let mut c = vec![0xC3u8; len];
    c[0x1E8..0x1F4].fill(0);
    c[0x1F4..0x1FC].copy_from_slice(&2u64.to_le_bytes());
    c[0x1FC..0x1FE].copy_from_slice(&[0x37, 0x01]);
    c[0x1FE..0x200].copy_from_slice(&[0x20, 0x08]);
    c
}

#[test]
fn mbr_code_golden_bytes() {
    let boot = boot_img();
    let b = bios_boot_code(&boot, &core_img(3 * 512 + 100), 0x0005_0403_0201).unwrap();
    let m = &b.mbr_code;
    assert_eq!(m.len(), 440);
    // 0x5C: kernel sector, u64 LE = core_lba.
    assert_eq!(
        &m[0x5C..0x64],
        &[0x01, 0x02, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00]
    );
    // 0x64: boot drive 0xFF = use DL.
    assert_eq!(m[0x64], 0xFF);
    // 0x65: untouched (cli in GRUB's boot.img).
    assert_eq!(m[0x65], boot[0x65]);
    // 0x66: drive-check jmp replaced by two NOPs.
    assert_eq!(&m[0x66..0x68], &[0x90, 0x90]);
    // Everything else is boot.img's.
    for (i, (&got, &want)) in m.iter().zip(&boot).enumerate() {
        if !(0x5C..0x65).contains(&i) && !(0x66..0x68).contains(&i) {
            assert_eq!(got, want, "offset {i:#x}");
        }
    }
}

#[test]
fn core_blocklist_golden_bytes() {
    let core = core_img(3 * 512 + 100);
    let b = bios_boot_code(&boot_img(), &core, 1).unwrap();
    // 1636 bytes → 4 sectors, zero-padded.
    assert_eq!(b.sectors(), 4);
    assert_eq!(b.core.len(), 2048);
    assert!(b.core[1636..].iter().all(|&x| x == 0));
    // 0x1F4: u64 start = core_lba + 1 = 2.
    assert_eq!(&b.core[0x1F4..0x1FC], &[2, 0, 0, 0, 0, 0, 0, 0]);
    // 0x1FC: u16 sector count = 4 − 1.
    assert_eq!(&b.core[0x1FC..0x1FE], &[0x03, 0x00]);
    // 0x1FE: u16 segment 0x0820.
    assert_eq!(&b.core[0x1FE..0x200], &[0x20, 0x08]);
    // Nothing else changed.
    assert_eq!(&b.core[..0x1F4], &core[..0x1F4]);
    assert_eq!(&b.core[0x200..1636], &core[0x200..]);
    assert_eq!(b.end_lba(), 5);

    let far = bios_boot_code(&boot_img(), &core, 0x1_0000_0000).unwrap();
    // 0x1F4: start 0x1_0000_0001, little-endian across the u32 boundary.
    assert_eq!(&far.core[0x1F4..0x1FC], &[1, 0, 0, 0, 1, 0, 0, 0]);
}

#[test]
fn patch_mbr_keeps_signature_and_partition_table() {
    let b = bios_boot_code(&boot_img(), &core_img(1024), 1).unwrap();
    let mut mbr = [0xEEu8; 512];
    mbr[0x1FE] = 0x55;
    mbr[0x1FF] = 0xAA;
    b.patch_mbr(&mut mbr);
    assert_eq!(&mbr[..440], &b.mbr_code[..]);
    // 0x1B8: disk signature, 0x1BC: reserved, 0x1BE: partition table.
    assert!(mbr[0x1B8..0x1FE].iter().all(|&x| x == 0xEE));
    assert_eq!(&mbr[0x1FE..], &[0x55, 0xAA]);
}

#[test]
fn refuses_bad_inputs() {
    let core = core_img(2048);
    assert_eq!(
        bios_boot_code(&boot_img()[..511], &core, 1),
        Err(BootError::BootImg { len: 511 })
    );
    let mut unsigned = boot_img();
    unsigned[0x1FF] = 0;
    assert!(matches!(
        bios_boot_code(&unsigned, &core, 1),
        Err(BootError::BootImg { len: 512 })
    ));
    assert_eq!(
        bios_boot_code(&boot_img(), &core, 0),
        Err(BootError::CoreAtMbr)
    );
    assert!(matches!(
        bios_boot_code(&boot_img(), &core[..512], 1),
        Err(BootError::CoreImg(_))
    ));
    let mut wrong_segment = core.clone();
    wrong_segment[0x1FE] = 0;
    assert!(matches!(
        bios_boot_code(&boot_img(), &wrong_segment, 1),
        Err(BootError::CoreImg(_))
    ));
    let mut two_entries = core.clone();
    two_entries[0x1F0] = 1;
    assert!(matches!(
        bios_boot_code(&boot_img(), &two_entries, 1),
        Err(BootError::CoreImg(_))
    ));
    // 65537 sectors: 65536 after the first do not fit a u16.
    assert_eq!(
        bios_boot_code(&boot_img(), &core_img(65537 * 512), 1),
        Err(BootError::CoreTooLong { sectors: 65537 })
    );
    // 65536 sectors do.
    bios_boot_code(&boot_img(), &core_img(65536 * 512), 1).unwrap();
}

#[test]
fn core_must_end_before_the_first_partition() {
    // 1 MiB alignment: partition 1 at LBA 2048, the gap is LBAs 1..2048.
    let fits = bios_boot_code(&boot_img(), &core_img(2047 * 512), 1).unwrap();
    fits.check_fits(2048).unwrap();
    let big = bios_boot_code(&boot_img(), &core_img(2047 * 512 + 1), 1).unwrap();
    assert_eq!(
        big.check_fits(2048),
        Err(BootError::DoesNotFit {
            core_lba: 1,
            end: 2049,
            first_partition_lba: 2048
        })
    );
    let err = big.check_fits(2048).unwrap_err().to_string();
    assert!(err.contains("first partition starts at LBA 2048"), "{err}");
}

fn params(console: BootConsole) -> GrubParams {
    GrubParams {
        product: "Acme Appliance".into(),
        cmdline: "appliance.boot=LABEL=APPBOOT".into(),
        console,
        fat_volume_id: 0x7E57_0001,
        timeout_secs: 1,
    }
}

#[test]
fn grub_cfg_serial_golden() {
    assert_eq!(
        grub_cfg(&params(BootConsole::Serial)),
        "# Acme Appliance boot menu, written by the installer.\n\
         serial --unit=0 --speed=115200\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set timeout=1\n\
         set default=0\n\
         search --no-floppy --fs-uuid --set=root 7E57-0001\n\
         menuentry 'Acme Appliance' {\n\
         \techo \"Loading from $root\"\n\
         \tlinux /vmlinuz appliance.boot=LABEL=APPBOOT appliance.boot_volume=7E57-0001 \
         console=ttyS0,115200\n\
         \tinitrd /initrd.img\n\
         }\n"
    );
}

#[test]
fn grub_cfg_without_a_timeout_hides_the_menu() {
    let mut p = params(BootConsole::Serial);
    p.timeout_secs = 0;
    let cfg = grub_cfg(&p);
    assert!(
        cfg.contains("set timeout=0\nset timeout_style=hidden\nset default=0\n"),
        "{cfg}"
    );
    assert!(!grub_cfg(&params(BootConsole::Serial)).contains("timeout_style"));
}

#[test]
fn grub_cfg_vga_has_no_serial_terminal() {
    let cfg = grub_cfg(&params(BootConsole::Vga));
    assert!(!cfg.contains("serial"), "{cfg}");
    assert!(!cfg.contains("terminal_"), "{cfg}");
    assert!(
        cfg.contains(
            "\tlinux /vmlinuz appliance.boot=LABEL=APPBOOT appliance.boot_volume=7E57-0001 \
             console=tty0\n"
        ),
        "{cfg}"
    );
}

#[test]
fn grub_cfg_records_the_volume_id_once() {
    let mut p = params(BootConsole::Vga);
    p.cmdline = "appliance.boot_volume=0000-0000 quiet".into();
    let cfg = grub_cfg(&p);
    assert!(
        cfg.contains("\tlinux /vmlinuz quiet appliance.boot_volume=7E57-0001 console=tty0\n"),
        "{cfg}"
    );
}

#[test]
fn grub_cfg_quotes_what_grub_would_interpret() {
    let mut p = params(BootConsole::Vga);
    p.product = "It's $HOME; {x}\nnext".into();
    p.cmdline = "  a=$b  c;d  quiet ".into();
    p.timeout_secs = 5;
    let cfg = grub_cfg(&p);
    assert!(
        cfg.contains("menuentry 'It'\\''s $HOME; {x} next' {\n"),
        "{cfg}"
    );
    assert!(
        cfg.contains(
            "\tlinux /vmlinuz 'a=$b' 'c;d' quiet appliance.boot_volume=7E57-0001 console=tty0\n"
        ),
        "{cfg}"
    );
    assert!(cfg.contains("set timeout=5\n"), "{cfg}");
    assert_eq!(
        cfg.lines().next(),
        Some("# It's $HOME; {x} next boot menu, written by the installer.")
    );
}

#[test]
fn fat_uuid_is_grubs_spelling() {
    assert_eq!(fat_uuid(0x7E57_0001), "7E57-0001");
    assert_eq!(fat_uuid(0x00AB_CDEF), "00AB-CDEF");
}

#[test]
fn boot_files_per_firmware() {
    assert!(boot_files(Firmware::Bios).is_empty());
    assert_eq!(grub_cfg_paths(Firmware::Bios), &["boot/grub/grub.cfg"]);
    let uefi = boot_files(Firmware::Uefi);
    let pairs: Vec<(&str, &str)> = uefi.iter().map(|f| (f.dest, f.source)).collect();
    assert_eq!(
        pairs,
        [
            (
                "EFI/BOOT/BOOTX64.EFI",
                "/usr/share/installer/boot/efi/shimx64.efi"
            ),
            (
                "EFI/BOOT/grubx64.efi",
                "/usr/share/installer/boot/efi/grubx64.efi"
            ),
            (
                "EFI/debian/shimx64.efi",
                "/usr/share/installer/boot/efi/shimx64.efi"
            ),
            (
                "EFI/debian/grubx64.efi",
                "/usr/share/installer/boot/efi/grubx64.efi"
            ),
        ]
    );
    assert!(
        !uefi.iter().any(|f| f.dest.contains("fbx64")),
        "shim would run the fallback"
    );
    assert_eq!(
        grub_cfg_paths(Firmware::Uefi),
        &["EFI/debian/grub.cfg", "EFI/BOOT/grub.cfg"]
    );
}
