//! `install::apply` on an image file (no root): the result is read back with
//! our own readers (mbrman, gpt, fatfs, handover) and checked by the
//! reference tools (sfdisk, sgdisk, fsck.vfat), which must be installed.
//! A component that fails verification leaves the disk without a table.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use installer::facts::Firmware;
use installer::install::apply::{self, BootSources, ComponentError, Components, Extras};
use installer::install::plan::{self, TableKind};
use installer::install::verify_io::{self, CopyError, Verifier};
use installer::install::{Job, Progress, Stage};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use vendor_repo::manifest::{Chunks, Component, CHUNK_SIZE};

const DISK: u64 = 1 << 30;

/// Components from memory, through the real verifying stack
/// (`verify_io`), as the download and the medium copy use it.
struct Memory {
    data: std::collections::BTreeMap<String, Vec<u8>>,
    /// Flip one byte of this component, at this offset (`None`: the last).
    corrupt: Option<(String, Option<usize>)>,
}

impl Components for Memory {
    fn fetch(
        &mut self,
        c: &Component,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<u64, ComponentError> {
        let mut bytes = self.data[&c.name].clone();
        if let Some((name, at)) = &self.corrupt {
            if *name == c.name {
                let at = at.unwrap_or(bytes.len() - 1);
                bytes[at] ^= 1;
            }
        }
        let v = verify_io::copy(&mut &bytes[..], Verifier::new(c, sink), &mut |done| {
            progress(&Progress {
                stage: Stage::Download,
                component: Some(c.name.clone()),
                done,
                total: bytes.len() as u64,
                line: c.name.clone(),
            })
        });
        match v {
            Ok(v) => Ok(v.stored),
            Err(CopyError::Verify(e)) => Err(e.into()),
            Err(CopyError::Read(e)) => panic!("reading memory: {e}"),
        }
    }
}

/// Boot loader files: stand-ins with the structure the patcher checks.
struct FakeBoot;

impl BootSources for FakeBoot {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        if path.ends_with("boot.img") {
            let mut b = vec![0xEBu8; 512];
            b[510] = 0x55;
            b[511] = 0xAA;
            Ok(b)
        } else if path.ends_with("core.img") {
            let mut c = vec![0u8; 3 * 512 + 100];
            c[0x1F0] = 0;
            c[0x1F1] = 0;
            c[0x1FE] = 0x20;
            c[0x1FF] = 0x08;
            Ok(c)
        } else {
            Ok(format!("stand-in for {path}").into_bytes())
        }
    }
}

fn component_data() -> (Vec<(String, Vec<u8>)>, vendor_repo::Manifest) {
    let mut m = support::manifest();
    let rootfs: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let data = vec![
        ("kernel".to_string(), b"kernel bytes".to_vec()),
        ("initrd".to_string(), vec![7u8; 300_000]),
        ("rootfs".to_string(), rootfs),
    ];
    for c in &mut m.components {
        let d = &data.iter().find(|(n, _)| *n == c.name).unwrap().1;
        c.size = d.len() as u64;
        c.content_size = d.len() as u64;
        c.sha256 = hex::encode(Sha256::digest(d));
        c.chunks = Chunks::of(d, CHUNK_SIZE);
    }
    (data, m)
}

fn image(name: &str) -> (PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("apply-{}-{name}.img", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.set_len(DISK).unwrap();
    (path, f)
}

fn job(firmware: Firmware, table: TableKind, m: vendor_repo::Manifest) -> Job {
    let disk = support::disk("sda", 1, "QM00001");
    let layout = plan::layout(&m, DISK, table).unwrap();
    let handover = handover::Handover::parse(handover::EXAMPLE_JSON).unwrap();
    Job {
        disk,
        layout,
        manifest: m,
        handover,
        firmware,
        serial_console: true,
    }
}

fn extras() -> Extras {
    Extras {
        handover_json: handover::EXAMPLE_JSON.to_string(),
        installer_log: b"log line\n".to_vec(),
        volume_id: 0x7E57_0001,
        disk_id: [9; 16],
    }
}

fn tool(cmd: &str, args: &[&str]) -> String {
    // Tests may start processes directly; production code uses installer::sys::cmd.
    #[allow(clippy::disallowed_methods)]
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("{cmd} is required (Debian packages fdisk, gdisk, dosfstools): {e}")
    });
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd} {args:?} failed:\n{text}");
    text
}

fn extract(img: &Path, offset: u64, len: u64, name: &str) -> PathBuf {
    let mut f = std::fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf).unwrap();
    let out = img.with_extension(name);
    std::fs::write(&out, buf).unwrap();
    out
}

fn run(
    firmware: Firmware,
    table: TableKind,
    corrupt: Option<(&str, Option<usize>)>,
) -> (PathBuf, Job, Result<u64, installer::install::Failure>) {
    let (data, m) = component_data();
    let job = job(firmware, table, m);
    let (path, mut f) = image(&format!(
        "{firmware:?}-{table:?}-{}-{}",
        corrupt.map_or("ok", |c| c.0),
        corrupt.and_then(|c| c.1).unwrap_or(0)
    ));
    let mut comps = Memory {
        data: data.into_iter().collect(),
        corrupt: corrupt.map(|(n, at)| (n.to_string(), at)),
    };
    let mut lines = Vec::new();
    let r = apply::run(&job, &mut f, &mut comps, &FakeBoot, &extras(), &mut |p| {
        lines.push(p.line.clone())
    });
    (path, job, r)
}

fn check_boot_partition(path: &Path, job: &Job, firmware: Firmware) {
    let boot = job.layout.boot().unwrap();
    let part = extract(path, boot.offset(), boot.bytes(), "boot");
    tool("fsck.vfat", &["-n", part.to_str().unwrap()]);
    let f = std::fs::File::open(&part).unwrap();
    let fs = fatfs::FileSystem::new(f, fatfs::FsOptions::new()).unwrap();
    assert_eq!(fs.volume_id(), 0x7E57_0001);
    assert_eq!(fs.volume_label().trim_end(), "APPBOOT");
    let root = fs.root_dir();
    let mut text = String::new();
    root.open_file("handover/handover.json")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(
        handover::Handover::parse(&text).unwrap().install_id.len(),
        32
    );
    let mut kernel = Vec::new();
    root.open_file("vmlinuz")
        .unwrap()
        .read_to_end(&mut kernel)
        .unwrap();
    assert_eq!(kernel, b"kernel bytes");
    let cfg_path = match firmware {
        Firmware::Bios => "boot/grub/grub.cfg",
        Firmware::Uefi => "EFI/BOOT/grub.cfg",
    };
    let mut cfg = String::new();
    root.open_file(cfg_path)
        .unwrap()
        .read_to_string(&mut cfg)
        .unwrap();
    assert!(
        cfg.contains("search --no-floppy --fs-uuid --set=root 7E57-0001"),
        "{cfg}"
    );
    assert!(
        cfg.contains(
            "appliance.boot=LABEL=APPBOOT appliance.boot_volume=7E57-0001 console=ttyS0,115200"
        ),
        "{cfg}"
    );
    if firmware == Firmware::Uefi {
        assert!(root.open_file("EFI/BOOT/BOOTX64.EFI").is_ok());
        assert!(root.open_file("EFI/BOOT/grubx64.efi").is_ok());
    }
    let _ = std::fs::remove_file(&part);
}

fn check_rootfs(path: &Path, job: &Job) {
    check_rootfs_at(path, job, "data");
}

fn check_rootfs_at(path: &Path, job: &Job, partition: &str) {
    let data = job.layout.named(partition).unwrap();
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(data.offset())).unwrap();
    let mut got = vec![0u8; 8 << 20];
    f.read_exact(&mut got).unwrap();
    let (d, _) = component_data();
    assert!(
        got == d[2].1,
        "the partition image is not at the data partition's start"
    );
}

#[test]
#[ignore = "needs sfdisk (fdisk) and fsck.vfat (dosfstools)"]
fn bios_mbr_install_is_readable_by_us_and_by_sfdisk_and_fsck() {
    let (path, job, r) = run(Firmware::Bios, TableKind::Mbr, None);
    r.unwrap();
    let mut f = std::fs::File::open(&path).unwrap();
    let mbr = mbrman::MBR::read_from(&mut f, 512).unwrap();
    assert_eq!(mbr[1].sys, 0x0C);
    assert!(mbr[1].is_active());
    assert_eq!(mbr[1].starting_lba, 2048);
    assert_eq!(mbr[2].sys, 0x83);
    // boot.img's code with the core's LBA (1) at 0x5C; boot signature.
    assert_eq!(&mbr.header.bootstrap_code[0x5C..0x64], &1u64.to_le_bytes());
    let dump = tool("sfdisk", &["--dump", path.to_str().unwrap()]);
    assert!(dump.contains("label: dos"), "{dump}");
    assert!(
        dump.contains("start=        2048, size=      524288, type=c, bootable"),
        "{dump}"
    );
    check_boot_partition(&path, &job, Firmware::Bios);
    check_rootfs(&path, &job);
    let _ = std::fs::remove_file(&path);
}

#[test]
#[ignore = "needs sgdisk (gdisk) and fsck.vfat (dosfstools)"]
fn uefi_gpt_install_is_readable_by_us_and_by_sgdisk_and_fsck() {
    let (path, job, r) = run(Firmware::Uefi, TableKind::Gpt, None);
    r.unwrap();
    let g = gpt::GptConfig::new().writable(false).open(&path).unwrap();
    let parts = g.partitions();
    assert_eq!(parts[&1].first_lba, 2048);
    assert_eq!(parts[&1].part_type_guid, gpt::partition_types::EFI);
    assert_eq!(parts[&1].name, "APPBOOT");
    assert_eq!(parts[&2].part_type_guid, gpt::partition_types::LINUX_FS);
    let v = tool("sgdisk", &["--verify", path.to_str().unwrap()]);
    assert!(v.contains("No problems found"), "{v}");
    check_boot_partition(&path, &job, Firmware::Uefi);
    check_rootfs(&path, &job);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_tampered_component_leaves_no_partition_table() {
    for (fw, table, bad) in [
        (Firmware::Bios, TableKind::Mbr, "rootfs"),
        (Firmware::Uefi, TableKind::Gpt, "initrd"),
    ] {
        let (path, _job, r) = run(fw, table, Some((bad, None)));
        let f = r.unwrap_err();
        assert_eq!(f.stage().to_string(), format!("downloading {bad}"));
        assert!(f.message().contains("SHA-256"), "{}", f.message());
        assert!(f.disk_state().contains("without a partition table"));
        let mut img = std::fs::File::open(&path).unwrap();
        let mut first = vec![0u8; 1 << 20];
        img.read_exact(&mut first).unwrap();
        assert!(
            first.iter().all(|&b| b == 0),
            "the first MiB must be zero after a failure"
        );
        img.seek(SeekFrom::End(-(1 << 20))).unwrap();
        img.read_exact(&mut first).unwrap();
        assert!(
            first.iter().all(|&b| b == 0),
            "the GPT backup must be gone after a failure"
        );
        let _ = std::fs::remove_file(&path);
    }
}

/// Reads `len` bytes of the image at `offset`.
fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn a_flipped_byte_in_the_middle_of_a_partition_image_never_reaches_the_disk() {
    const MIB: usize = 1 << 20;
    let flipped = 4 * MIB + MIB / 2;
    let (path, job, r) = run(
        Firmware::Bios,
        TableKind::Mbr,
        Some(("rootfs", Some(flipped))),
    );
    let f = r.unwrap_err();
    assert!(f.message().contains("chunk 4"), "{}", f.message());
    let (data, _) = component_data();
    let rootfs = &data[2].1;
    let at = job.layout.named("data").unwrap().offset();
    // The four verified chunks before the bad one are on the disk …
    assert!(read_at(&path, at, 4 * MIB) == rootfs[..4 * MIB]);
    // … and not one byte of the bad chunk or of anything after it.
    let rest = read_at(&path, at + 4 * MIB as u64, 4 * MIB);
    assert!(
        rest.iter().all(|&b| b == 0),
        "bytes of the bad chunk or after it reached the disk"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_tampered_boot_file_is_never_created() {
    let (path, job, r) = run(Firmware::Bios, TableKind::Mbr, Some(("initrd", Some(1000))));
    let f = r.unwrap_err();
    assert_eq!(f.stage().to_string(), "downloading initrd");
    let boot = job.layout.named("boot").unwrap();
    let part = extract(&path, boot.offset(), boot.bytes(), "tampered-boot");
    let fs = fatfs::FileSystem::new(std::fs::File::open(&part).unwrap(), fatfs::FsOptions::new())
        .unwrap();
    let names: Vec<String> = fs
        .root_dir()
        .iter()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(names.iter().any(|n| n == "vmlinuz"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "initrd.img"),
        "a boot file that failed verification exists: {names:?}"
    );
    drop(fs);
    let _ = std::fs::remove_file(&part);
    let _ = std::fs::remove_file(&path);
}

/// The reference appliance's layout: boot (vfat), root (the image, GPT type
/// "Linux root x86-64"), data (`empty`, the rest of the disk). The data
/// partition's ends are cleared even where an earlier install left bytes,
/// and the GPT names the partitions by their labels.
#[test]
fn an_empty_partition_is_cleared_at_both_ends_and_typed_in_the_gpt() {
    use vendor_repo::manifest::{Filesystem, PartitionKind};
    let (data, mut m) = component_data();
    m.layout.partitions[1].name = "root".into();
    m.layout.partitions[1].label = "APPROOT".into();
    m.layout.partitions[1].kind = PartitionKind::Root;
    m.layout.partitions[1].grow = false;
    let mut empty = m.layout.partitions[1].clone();
    empty.name = "data".into();
    empty.label = "APPDATA".into();
    empty.kind = PartitionKind::Linux;
    empty.filesystem = Filesystem::Empty;
    empty.grow = true;
    m.layout.partitions.push(empty);
    for c in &mut m.components {
        if c.name == "rootfs" {
            c.destination.partition = "root".into();
        }
    }
    m.validate().unwrap();
    let job = job(Firmware::Uefi, TableKind::Gpt, m);
    let (path, mut f) = image("empty-partition");
    // What an earlier install left: 0xAA everywhere.
    let junk = vec![0xAAu8; 1 << 20];
    for _ in 0..(DISK >> 20) {
        f.write_all(&junk).unwrap();
    }
    let mut comps = Memory {
        data: data.into_iter().collect(),
        corrupt: None,
    };
    let mut lines = Vec::new();
    apply::run(&job, &mut f, &mut comps, &FakeBoot, &extras(), &mut |p| {
        lines.push(p.line.clone())
    })
    .unwrap();
    assert!(
        lines.iter().any(|l| l == "Cleared partition 3 (data)."),
        "{lines:?}"
    );
    let d = job.layout.named("data").unwrap();
    let mut img = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for at in [d.offset(), d.offset() + d.bytes() - (1 << 20)] {
        img.seek(SeekFrom::Start(at)).unwrap();
        img.read_exact(&mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0), "not cleared at {at}");
    }
    // The middle is not written (no time spent on a large disk).
    img.seek(SeekFrom::Start(d.offset() + (1 << 20))).unwrap();
    img.read_exact(&mut buf[..16]).unwrap();
    assert_eq!(buf[..16], [0xAA; 16]);
    let g = gpt::GptConfig::new().writable(false).open(&path).unwrap();
    let parts = g.partitions();
    assert_eq!(parts[&2].name, "APPROOT");
    assert_eq!(
        parts[&2].part_type_guid,
        gpt::partition_types::LINUX_ROOT_X64
    );
    assert_eq!(parts[&3].name, "APPDATA");
    assert_eq!(parts[&3].part_type_guid, gpt::partition_types::LINUX_FS);
    assert_eq!(
        parts[&3].last_lba + 1,
        (DISK / 512 - plan::GPT_BACKUP) / plan::ALIGN * plan::ALIGN
    );
    check_rootfs_at(&path, &job, "root");
    let _ = std::fs::remove_file(&path);
}
