//! The installed disk's boot loaders, end to end: a disk is built here in
//! Rust the way the installer lays it out (1 MiB alignment; partition 1 =
//! FAT32 `APPBOOT`, 256 MiB, partition 2 = the appliance's `rootfs.img`),
//! with the boot loader files the ISO's initramfs carries
//! (`/usr/share/installer/boot/`, read out of the ISO's `initrd.img`) and
//! the installer's own `install::bootloader` code, then booted from the disk
//! (no `-kernel`) until the sample appliance prints its ready line.
//!
//! - `installed-bios`: SeaBIOS, msdos label, p1 type 0x0C active; GRUB's
//!   boot.img in the MBR and core.img at LBA 1. The ISO is attached as a CD too.
//! - `installed-uefi`: OVMF, GPT, p1 = ESP; shim + signed GRUB at
//!   `EFI/BOOT/`. The ISO is attached as a second hard disk: its 0xEF
//!   partition is another FAT ESP, so GRUB must pick ours by volume id.
//! - `installed-sb`: the same disk under OVMF with Secure Boot enforced.
//!
//! GRUB prints `Loading from <root>` (see `grub_cfg`); the scenario checks it
//! names partition 1 of the right label type.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use installer::facts::Firmware as Fw;
use installer::install::bootloader::{self, BootConsole, GrubParams};

use crate::harness::bootfiles::BootFiles;
use crate::harness::child::Vm;
use crate::harness::disk::{fat32, handover_json, write_parts};
use crate::harness::qemu::{Contents, Controller, Drive, Firmware, Medium, Network, Nic, VmConfig};
use crate::scenario::{Needs, RunOptions, Scenario, Script, Timings};
use crate::steps::ready_event;

/// Name prefix of these scenarios.
const PREFIX: &str = "installed-";
/// Time allowed from QEMU start to the appliance's ready line under TCG.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Partitions start at 1 MiB.
const FIRST_LBA: u64 = 2048;
/// The boot partition: 256 MiB.
const BOOT_SECTORS: u64 = (256 << 20) / 512;
/// The FAT volume id the test formats with and GRUB searches for.
pub const VOLUME_ID: u32 = 0xA9B0_0715;
/// Sectors the backup GPT takes at the end of the disk.
const GPT_BACKUP: u64 = 33;
/// The hostname in the test's handover record.
const HOSTNAME: &str = "installed-1";

/// `installed-bios`, `installed-uefi`, `installed-sb`.
pub fn scenarios() -> Vec<Scenario> {
    [Firmware::Bios, Firmware::Uefi, Firmware::SecureBoot]
        .into_iter()
        .map(|fw| {
            let mut s = Scenario::boot(format!("{PREFIX}{}", fw.name()), fw, Medium::Disk);
            s.script = Script::Custom(run);
            s.needs = Needs {
                iso: true,
                appliance: true,
                backend: false,
                reference: false,
            };
            s
        })
        .collect()
}

/// The boot partition's files for `fw`: kernel, initrd, handover record,
/// `grub.cfg` at every path GRUB reads, and the EFI binaries.
fn boot_partition_files(
    fw: Fw,
    appliance: &Path,
    boot: &BootFiles,
    handover_json: &str,
) -> Result<Vec<(String, Vec<u8>)>> {
    let read = |name: &str| {
        let p = appliance.join(name);
        fs::read(&p).with_context(|| format!("reading {}", p.display()))
    };
    let cfg = bootloader::grub_cfg(&GrubParams {
        product: "Example Appliance".into(),
        cmdline: format!("appliance.boot=LABEL={}", handover::BOOT_LABEL),
        console: BootConsole::Serial,
        fat_volume_id: VOLUME_ID,
        timeout_secs: 1,
    });
    let mut files = vec![
        ("vmlinuz".to_string(), read("vmlinuz")?),
        ("initrd.img".to_string(), read("initrd.img")?),
        (
            handover::HANDOVER_PATH.trim_start_matches('/').to_string(),
            handover_json.as_bytes().to_vec(),
        ),
    ];
    for path in bootloader::grub_cfg_paths(fw) {
        files.push((path.to_string(), cfg.clone().into_bytes()));
    }
    for f in bootloader::boot_files(fw) {
        files.push((f.dest.to_string(), boot.get(f.source)?.to_vec()));
    }
    Ok(files)
}

/// Writes the installed disk for `fw` to `out`.
pub fn build_disk(
    fw: Fw,
    appliance: &Path,
    boot: &BootFiles,
    handover_json: &str,
    out: &Path,
) -> Result<()> {
    let rootfs = appliance.join("rootfs.img");
    let data = fs::read(&rootfs).with_context(|| format!("reading {}", rootfs.display()))?;
    ensure!(
        data.len() % 512 == 0,
        "{} is not whole sectors",
        rootfs.display()
    );
    let files = boot_partition_files(fw, appliance, boot, handover_json)?;
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let fat = fat32(BOOT_SECTORS * 512, handover::BOOT_LABEL, VOLUME_ID, &files)?;
    let data_lba = FIRST_LBA + BOOT_SECTORS;
    let data_sectors = data.len() as u64 / 512;
    // Room for the backup GPT, rounded up to whole MiB.
    let total = (data_lba + data_sectors + GPT_BACKUP).div_ceil(FIRST_LBA) * FIRST_LBA;

    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    f.set_len(total * 512)?;
    match fw {
        Fw::Bios => write_msdos(&mut f, boot, data_lba, data_sectors)?,
        Fw::Uefi => f = write_gpt(f, total, data_lba, data_sectors)?,
    }
    write_parts(&mut f, &[(FIRST_LBA, &fat), (data_lba, &data)])
}

/// msdos label: p1 FAT32 (LBA) active, p2 Linux; GRUB's boot code in the MBR
/// and core.img from LBA 1, patched by `install::bootloader`.
fn write_msdos(f: &mut File, boot: &BootFiles, data_lba: u64, data_sectors: u64) -> Result<()> {
    let mut mbr = mbrman::MBR::new_from(f, 512, [0xA9, 0xB0, 0x07, 0x15])?;
    let entry = |boot, sys, lba: u64, sectors: u64| -> Result<mbrman::MBRPartitionEntry> {
        Ok(mbrman::MBRPartitionEntry {
            boot,
            first_chs: mbrman::CHS::empty(),
            sys,
            last_chs: mbrman::CHS::empty(),
            starting_lba: u32::try_from(lba)?,
            sectors: u32::try_from(sectors)?,
        })
    };
    mbr[1] = entry(mbrman::BOOT_ACTIVE, 0x0C, FIRST_LBA, BOOT_SECTORS)?;
    mbr[2] = entry(mbrman::BOOT_INACTIVE, 0x83, data_lba, data_sectors)?;
    mbr.write_into(f)?;

    let code = bootloader::bios_boot_code(
        boot.get(bootloader::BOOT_IMG_SOURCE)?,
        boot.get(bootloader::CORE_IMG_SOURCE)?,
        1,
    )?;
    code.check_fits(FIRST_LBA)?;
    let mut sector0 = [0u8; 512];
    f.seek(SeekFrom::Start(0))?;
    f.read_exact(&mut sector0)?;
    code.patch_mbr(&mut sector0);
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&sector0)?;
    f.seek(SeekFrom::Start(code.core_lba * 512))?;
    f.write_all(&code.core)?;
    Ok(())
}

/// GPT: p1 ESP (the boot partition), p2 Linux data; protective MBR.
fn write_gpt(f: File, total: u64, data_lba: u64, data_sectors: u64) -> Result<File> {
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(f, None)
        .context("creating the GPT")?;
    disk.add_partition_at(
        "boot",
        1,
        FIRST_LBA,
        BOOT_SECTORS,
        gpt::partition_types::EFI,
        0,
    )?;
    disk.add_partition_at(
        "data",
        2,
        data_lba,
        data_sectors,
        gpt::partition_types::LINUX_FS,
        0,
    )?;
    let mut f = disk.write().context("writing the GPT")?;
    let pmbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(total - 1).unwrap_or(u32::MAX));
    pmbr.overwrite_lba0(&mut f)
        .context("writing the protective MBR")?;
    Ok(f)
}

/// The GRUB device name at the start of `text` (`hd0,msdos1`, `cd0`, …):
/// letters, then digits, then optionally `,` + letters + digits.
pub fn grub_device(text: &str) -> String {
    let b = text.as_bytes();
    let mut i = 0;
    let run = |i: &mut usize, f: fn(&u8) -> bool| {
        while *i < b.len() && f(&b[*i]) {
            *i += 1;
        }
    };
    run(&mut i, u8::is_ascii_lowercase);
    run(&mut i, u8::is_ascii_digit);
    if b.get(i) == Some(&b',') {
        let mut j = i + 1;
        run(&mut j, u8::is_ascii_lowercase);
        let letters = j;
        run(&mut j, u8::is_ascii_digit);
        if j > letters {
            i = j;
        }
    }
    text[..i].to_string()
}

/// Builds the disk for the scenario's firmware, boots it with the ISO as a
/// second drive (BIOS: CD; UEFI: hard disk), and waits for the ready line.
fn run(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let appl = opts.appliance()?;
    let fw = if s.firmware == Firmware::Bios {
        Fw::Bios
    } else {
        Fw::Uefi
    };
    let boot = BootFiles::from_iso(&opts.iso)?;
    let json = handover_json(true, HOSTNAME)?;
    let disk = dir.join("disk.img");
    build_disk(fw, appl, &boot, &json, &disk)?;

    // The ISO as a second drive: a CD (BIOS) or a hard disk (UEFI), so
    // GRUB sees another FAT ESP on the 0xEF partition there.
    let (contents, second_kind) = match fw {
        Fw::Bios => (Contents::Cdrom, "CD"),
        Fw::Uefi => (Contents::Snapshot, "hard disk"),
    };
    let cfg = VmConfig {
        firmware: s.firmware,
        medium: Medium::Disk,
        image: disk,
        memory_mib: opts.memory_mib,
        kvm: opts.kvm,
        vars: opts.vars_for(s.firmware, dir)?,
        events: dir.join("events.log"),
        paths: opts.firmware.clone(),
        nic: Some(Nic {
            model: "e1000".into(),
            network: Network::User,
        }),
        drives: vec![Drive {
            id: "iso".into(),
            image: opts.iso.clone(),
            contents,
            controller: Controller::Ide { bus: 1, unit: None },
            serial: None,
            bootindex: None,
        }],
        ..VmConfig::default()
    };
    fs::write(
        dir.join("command.txt"),
        format!(
            "# the ISO as a second drive ({second_kind})\n{}\n",
            cfg.render()
        ),
    )?;
    let mut vm = Vm::spawn("qemu-system-x86_64", &cfg.args(), &dir.join("serial.log"))?;

    vm.expect("Loading from ", READY_TIMEOUT)
        .context("waiting for GRUB's menu entry to run")?;
    let grub_at = vm.elapsed();
    // UEFI firmware mirrors GRUB's console onto the serial port as well, so
    // the line may be interleaved with its copy: take the device name only.
    let line = vm.expect("\n", Duration::from_secs(10))?;
    let root = grub_device(&line);
    // The ISO (second drive) is `cd0` (BIOS) or an msdos-labelled disk (UEFI).
    let ok = match fw {
        Fw::Bios => root == "hd0,msdos1",
        Fw::Uefi => root.starts_with("hd") && root.ends_with(",gpt1"),
    };
    ensure!(
        ok,
        "GRUB's root is {root:?}; want partition 1 of the installed disk"
    );

    let left = READY_TIMEOUT.saturating_sub(vm.elapsed());
    let (event, ready_at) = ready_event(&mut vm, left)?;
    ensure!(
        event["handover"] == "ok",
        "the appliance reports: {}",
        event["handover"]
    );
    ensure!(
        event["hostname"] == HOSTNAME,
        "hostname: want {HOSTNAME}, got {event}"
    );
    let text = vm.text();
    if s.firmware == Firmware::SecureBoot {
        ensure!(
            text.contains("Secure boot enabled"),
            "the appliance's kernel did not log \"Secure boot enabled\""
        );
    } else if text.contains("Secure boot enabled") {
        bail!("Secure Boot is on although the firmware has it off");
    }
    Ok(Timings {
        menu: grub_at,
        first_screen: ready_at,
        total: vm.elapsed(),
        logins: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_device_names() {
        assert_eq!(grub_device("hd0,gpt1Loading from hd0,gpt1\r\n"), "hd0,gpt1");
        assert_eq!(grub_device("hd0,msdos1\r\n"), "hd0,msdos1");
        assert_eq!(grub_device("hd12,msdos3"), "hd12,msdos3");
        assert_eq!(grub_device("cd0\r\n"), "cd0");
        assert_eq!(grub_device("hd1,x"), "hd1");
    }

    #[test]
    fn scenario_names() {
        let names: Vec<String> = scenarios().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["installed-bios", "installed-uefi", "installed-sb"]);
    }
}
