//! The only code that writes disks. Order, chosen so that no half-installed
//! disk can ever boot:
//!
//! 1. wipe the first and last MiB (old partition tables, GPT backup, boot
//!    code): from here on the disk is not bootable;
//! 2. stream each partition image into its partition, verifying as it goes;
//! 3. format the boot partition (FAT32) and stream the boot files into it;
//!    add the boot loader files, `grub.cfg` and the handover record;
//! 4. BIOS: the GRUB core image into the gap before partition 1;
//! 5. flush, then the partition table — the MBR, or the GPT with the
//!    protective MBR written last. Nothing before this point makes the disk
//!    bootable, and every component was verified before it.
//!
//! Any error after step 1 wipes again, so the disk is left without a
//! partition table. Works on any `Read + Write + Seek` (a block device, or
//! an image file in tests).

use super::bootloader::{self, BootConsole, GrubParams};
use super::plan::{Layout, Placed, TableKind, ALIGN, SECTOR};
use super::{Failure, Job, Progress};
use crate::facts::Firmware;
use std::io::{self, Read, Seek, SeekFrom, Write};
use vendor_repo::manifest::{Component, ComponentKind};

/// What a disk must offer.
pub trait DiskIo: Read + Write + Seek {
    /// Makes written data durable (fsync / fdatasync).
    fn sync(&mut self) -> io::Result<()>;
}

impl DiskIo for std::fs::File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Fetches components, verified (the real one downloads; tests read files).
pub trait Components {
    /// Writes `c`'s content to `sink`; `Err` (message, hint) unless every
    /// byte verified against the manifest.
    fn fetch(
        &mut self,
        c: &Component,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<u64, (String, String)>;
}

/// Files the installer carries (boot loader binaries), by path.
pub trait BootSources {
    /// The bytes of `path` (e.g. `/usr/share/installer/boot/efi/shimx64.efi`).
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
}

/// Reads boot loader files from the installer's root file system.
pub struct RootFs;

impl BootSources for RootFs {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// Extra files for the boot partition the job does not describe.
pub struct Extras {
    /// `handover/handover.json`.
    pub handover_json: String,
    /// `handover/installer.log` (redacted).
    pub installer_log: Vec<u8>,
    /// The boot partition's FAT volume id (GRUB searches for it).
    pub volume_id: u32,
    /// Random bytes for the disk's GUID / MBR signature.
    pub disk_id: [u8; 16],
}

/// A window `[offset, offset + len)` of a disk, as a file of its own.
pub struct Region<'a, D: ?Sized> {
    disk: &'a mut D,
    offset: u64,
    len: u64,
    pos: u64,
}

impl<'a, D: DiskIo + ?Sized> Region<'a, D> {
    /// The partition `p` of `disk`.
    pub fn new(disk: &'a mut D, offset: u64, len: u64) -> Self {
        Region {
            disk,
            offset,
            len,
            pos: 0,
        }
    }
}

impl<D: DiskIo + ?Sized> Read for Region<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.disk.seek(SeekFrom::Start(self.offset + self.pos))?;
        let got = self.disk.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<D: DiskIo + ?Sized> Write for Region<'_, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        if buf.len() as u64 > left {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("more data than the partition holds ({} bytes)", self.len),
            ));
        }
        self.disk.seek(SeekFrom::Start(self.offset + self.pos))?;
        let n = self.disk.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.disk.flush()
    }
}

impl<D: DiskIo + ?Sized> Seek for Region<'_, D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) if p <= self.len => {
                self.pos = p;
                Ok(p)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the partition",
            )),
        }
    }
}

/// A failed stage: what, and the hint.
#[derive(Debug)]
struct StageError {
    stage: String,
    message: String,
    hint: String,
}

fn io_stage(stage: &str) -> impl Fn(io::Error) -> StageError + '_ {
    move |e| StageError {
        stage: stage.to_string(),
        message: e.to_string(),
        hint:
            "the disk reported a write error: check the disk (or the VM's virtual disk) and retry"
                .into(),
    }
}

/// Zeroes the first and last MiB.
pub fn wipe<D: DiskIo + ?Sized>(disk: &mut D, disk_bytes: u64) -> io::Result<()> {
    let zeros = vec![0u8; (ALIGN * SECTOR) as usize];
    disk.seek(SeekFrom::Start(0))?;
    disk.write_all(&zeros)?;
    let tail = disk_bytes.saturating_sub(zeros.len() as u64);
    disk.seek(SeekFrom::Start(tail))?;
    disk.write_all(&zeros[..(disk_bytes - tail) as usize])?;
    disk.sync()
}

/// Runs the install onto `disk` (see the module docs). On failure the disk
/// has been wiped again.
pub fn run<D: DiskIo + ?Sized>(
    job: &Job,
    disk: &mut D,
    components: &mut dyn Components,
    sources: &dyn BootSources,
    extras: &Extras,
    progress: &mut dyn FnMut(&Progress),
) -> Result<u64, Failure> {
    let bytes = job.layout.disk_sectors * SECTOR;
    match steps(job, disk, components, sources, extras, progress) {
        Ok(n) => Ok(n),
        Err(e) => {
            let wiped = wipe(disk, bytes);
            Err(Failure {
                stage: e.stage,
                message: e.message,
                hint: e.hint,
                disk_state: match wiped {
                    Ok(()) => "The disk was left without a partition table: it will not boot, and a new installation can start over.".into(),
                    Err(w) => format!("Wiping the disk again failed too ({w}): do not boot from it; start the installation again."),
                },
                bundle: None,
            })
        }
    }
}

fn note(progress: &mut dyn FnMut(&Progress), stage: &str, line: String) {
    progress(&Progress {
        stage: stage.into(),
        component: None,
        done: 0,
        total: 0,
        line,
    });
}

fn steps<D: DiskIo + ?Sized>(
    job: &Job,
    disk: &mut D,
    components: &mut dyn Components,
    sources: &dyn BootSources,
    extras: &Extras,
    progress: &mut dyn FnMut(&Progress),
) -> Result<u64, StageError> {
    let layout = &job.layout;
    let bytes = layout.disk_sectors * SECTOR;
    wipe(disk, bytes).map_err(io_stage("wiping the disk"))?;
    note(
        progress,
        "wipe",
        format!("Wiped the partition table of /dev/{}.", job.disk.name),
    );
    let mut downloaded = 0;
    // Partition images, straight to their partitions.
    for c in job
        .manifest
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::PartitionImage)
    {
        let p = partition(layout, c)?;
        let mut region = Region::new(disk, p.offset(), p.bytes());
        downloaded += fetch(components, c, &mut region, progress)?;
    }
    disk.sync()
        .map_err(io_stage("writing the partition images"))?;
    // The boot partition.
    let boot = layout.boot().ok_or_else(|| StageError {
        stage: "planning".into(),
        message: "the layout has no FAT boot partition".into(),
        hint: "the release manifest is unusable; contact your vendor".into(),
    })?;
    {
        let mut region = Region::new(disk, boot.offset(), boot.bytes());
        let mut label = [b' '; 11];
        for (i, b) in boot.label.bytes().take(11).enumerate() {
            label[i] = b;
        }
        let opts = fatfs::FormatVolumeOptions::new()
            .volume_label(label)
            .volume_id(extras.volume_id)
            .fat_type(fatfs::FatType::Fat32);
        fatfs::format_volume(&mut region, opts)
            .map_err(io_stage("formatting the boot partition"))?;
        let fs = fatfs::FileSystem::new(&mut region, fatfs::FsOptions::new())
            .map_err(io_stage("opening the boot partition"))?;
        // A fresh FAT32 has no free-cluster count in its FSInfo sector;
        // counting once makes fatfs keep it up to date (fsck.vfat checks it).
        fs.stats().map_err(io_stage("opening the boot partition"))?;
        let root = fs.root_dir();
        for c in job
            .manifest
            .components
            .iter()
            .filter(|c| c.kind == ComponentKind::BootFile)
        {
            let path = c
                .destination
                .path
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/');
            let mut f = create(&root, path).map_err(io_stage("writing the boot files"))?;
            downloaded += fetch(components, c, &mut f, progress)?;
        }
        note(progress, "bootloader", "Installing the boot loader.".into());
        for b in bootloader::boot_files(job.firmware) {
            let data = sources.read(b.source).map_err(|e| StageError {
                stage: "installing the boot loader".into(),
                message: format!("{}: {e}", b.source),
                hint: "the installer ISO is incomplete; rebuild it".into(),
            })?;
            write_file(&root, b.dest, &data).map_err(io_stage("installing the boot loader"))?;
        }
        let cfg = bootloader::grub_cfg(&GrubParams {
            product: job.handover.installer.product.clone(),
            cmdline: job.manifest.boot.cmdline.clone(),
            console: if job.serial_console {
                BootConsole::Serial
            } else {
                BootConsole::Vga
            },
            fat_volume_id: extras.volume_id,
            timeout_secs: 1,
        });
        for path in bootloader::grub_cfg_paths(job.firmware) {
            write_file(&root, path, cfg.as_bytes())
                .map_err(io_stage("installing the boot loader"))?;
        }
        write_file(
            &root,
            handover::HANDOVER_PATH.trim_start_matches('/'),
            extras.handover_json.as_bytes(),
        )
        .map_err(io_stage("writing the handover record"))?;
        write_file(
            &root,
            handover::INSTALLER_LOG_PATH.trim_start_matches('/'),
            &extras.installer_log,
        )
        .map_err(io_stage("writing the handover record"))?;
        drop(root);
        fs.unmount()
            .map_err(io_stage("closing the boot partition"))?;
        // fatfs writes long-name entries in front of `.`/`..`; fsck.vfat and
        // some firmware reject them (image-builder's fat::dirfix).
        image_builder::fat::dirfix::drop_dot_entry_lfns_on(&mut region, boot.bytes()).map_err(
            |message| StageError {
                stage: "closing the boot partition".into(),
                message,
                hint: "the disk reported a write error: check it and retry".into(),
            },
        )?;
    }
    // BIOS: GRUB's core image in the gap.
    let mut mbr_code = None;
    if job.firmware == Firmware::Bios {
        let stage = "installing the BIOS boot loader";
        let read = |p: &str| {
            sources.read(p).map_err(|e| StageError {
                stage: stage.into(),
                message: format!("{p}: {e}"),
                hint: "the installer ISO is incomplete; rebuild it".into(),
            })
        };
        let bios = bootloader::bios_boot_code(
            &read(bootloader::BOOT_IMG_SOURCE)?,
            &read(bootloader::CORE_IMG_SOURCE)?,
            1,
        )
        .and_then(|b| {
            b.check_fits(layout.partitions.first().map_or(ALIGN, |p| p.first_lba))?;
            Ok(b)
        })
        .map_err(|e| StageError {
            stage: stage.into(),
            message: e.to_string(),
            hint: "the installer ISO's GRUB files are unusable; rebuild it".into(),
        })?;
        disk.seek(SeekFrom::Start(bios.core_lba * SECTOR))
            .and_then(|_| disk.write_all(&bios.core))
            .map_err(io_stage(stage))?;
        mbr_code = Some(bios.mbr_code);
    }
    disk.sync().map_err(io_stage("flushing the disk"))?;
    note(
        progress,
        "partition-table",
        "Writing the partition table.".into(),
    );
    write_table(disk, layout, mbr_code.as_ref(), &extras.disk_id).map_err(|message| {
        StageError {
            stage: "writing the partition table".into(),
            message,
            hint: "the disk refused the write: check it and retry".into(),
        }
    })?;
    disk.sync().map_err(io_stage("flushing the disk"))?;
    Ok(downloaded)
}

fn partition<'l>(layout: &'l Layout, c: &Component) -> Result<&'l Placed, StageError> {
    layout
        .named(&c.destination.partition)
        .ok_or_else(|| StageError {
            stage: format!("writing {}", c.name),
            message: format!("no partition named {:?}", c.destination.partition),
            hint: "the release manifest is unusable; contact your vendor".into(),
        })
}

fn fetch(
    components: &mut dyn Components,
    c: &Component,
    sink: &mut dyn Write,
    progress: &mut dyn FnMut(&Progress),
) -> Result<u64, StageError> {
    components
        .fetch(c, sink, progress)
        .map_err(|(message, hint)| StageError {
            stage: format!("downloading {}", c.name),
            message,
            hint,
        })
}

type Dir<'a, T> = fatfs::Dir<'a, T>;

fn parent<'a, T: Read + Write + Seek>(root: &Dir<'a, T>, path: &str) -> io::Result<Dir<'a, T>> {
    let mut dir = root.clone();
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for d in &parts[..parts.len().saturating_sub(1)] {
        dir = dir.create_dir(d)?;
    }
    Ok(dir)
}

fn create<'a, T: Read + Write + Seek>(
    root: &Dir<'a, T>,
    path: &str,
) -> io::Result<fatfs::File<'a, T>> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut f = parent(root, path)?.create_file(name)?;
    f.truncate()?;
    Ok(f)
}

fn write_file<T: Read + Write + Seek>(
    root: &Dir<'_, T>,
    path: &str,
    data: &[u8],
) -> io::Result<()> {
    let mut f = create(root, path)?;
    f.write_all(data)?;
    f.flush()
}

/// Writes the partition table ([`super::table`]).
fn write_table<D: DiskIo + ?Sized>(
    disk: &mut D,
    layout: &Layout,
    mbr_code: Option<&[u8; bootloader::MBR_CODE_LEN]>,
    id: &[u8; 16],
) -> Result<(), String> {
    match layout.table {
        TableKind::Mbr => {
            super::table::write_mbr(disk, layout, mbr_code, [id[0], id[1], id[2], id[3]])
        }
        TableKind::Gpt => super::table::write_gpt(disk, layout, *id),
    }
}
