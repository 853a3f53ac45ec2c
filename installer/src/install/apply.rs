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

mod cache;

use super::bootloader::{self, BootConsole, GrubParams};
pub use super::error::ComponentError;
use super::error::{InstallError, ManifestError};
use super::plan::{Layout, Placed, TableKind, ALIGN, SECTOR};
use super::{DiskState, Failure, Job, Progress, Stage};
use crate::facts::Firmware;
use std::io::{self, Read, Seek, SeekFrom, Write};
use vendor_repo::manifest::{Component, ComponentKind, Filesystem};

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
    /// Writes `c`'s content to `sink`; `Err` unless every byte verified
    /// against the manifest. Returns the stored bytes.
    fn fetch(
        &mut self,
        c: &Component,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<u64, ComponentError>;
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

/// A seek inside a partition of `len` bytes: moves `pos` and returns it,
/// or refuses a position outside (the FAT views' shared rule).
fn seek_within(pos: &mut u64, len: u64, to: SeekFrom) -> io::Result<u64> {
    let new = match to {
        SeekFrom::Start(p) => Some(p),
        SeekFrom::End(d) => len.checked_add_signed(d),
        SeekFrom::Current(d) => pos.checked_add_signed(d),
    };
    match new {
        Some(p) if p <= len => {
            *pos = p;
            Ok(p)
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seek outside the partition",
        )),
    }
}

impl<D: DiskIo + ?Sized> Seek for Region<'_, D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        seek_within(&mut self.pos, self.len, to)
    }
}

/// A `map_err` for disk I/O in `stage`.
/// Boot files up to this size are downloaded into memory and written only
/// after the whole file verified; larger ones are streamed, each chunk
/// verified before it is written (`verify_io`). One chunk: holding a whole
/// kernel (8 MiB) in memory on top of everything else is what ran a 128 MiB
/// machine out of memory.
pub const WHOLE_BOOT_FILE: u64 = vendor_repo::manifest::CHUNK_SIZE;

/// Pages of the boot partition's cache (4 KiB each, 512 KiB in all): the
/// FAT pages and clusters a file being written touches; a scan of the FAT
/// reads each page once whatever the size.
const BOOT_CACHE_PAGES: usize = 128;

fn io_stage(stage: Stage) -> impl Fn(io::Error) -> InstallError {
    InstallError::at(stage)
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

/// Zeroes the first and last MiB of the region at `offset` (`len` bytes),
/// where file systems and RAID or encryption headers keep their signatures.
pub fn clear_ends<D: DiskIo + ?Sized>(disk: &mut D, offset: u64, len: u64) -> io::Result<()> {
    let n = (ALIGN * SECTOR).min(len);
    let zeros = vec![0u8; n as usize];
    disk.seek(SeekFrom::Start(offset))?;
    disk.write_all(&zeros)?;
    disk.seek(SeekFrom::Start(offset + len - n))?;
    disk.write_all(&zeros)?;
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
        Err(error) => {
            let wiped = wipe(disk, bytes);
            Err(Failure {
                error,
                disk: match wiped {
                    Ok(()) => DiskState::NoPartitionTable,
                    Err(_) => DiskState::Unknown,
                },
                wipe_error: wiped.err().map(|w| w.to_string()),
                bundle: None,
            })
        }
    }
}

fn note(progress: &mut dyn FnMut(&Progress), stage: Stage, line: String) {
    progress(&Progress {
        stage,
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
) -> Result<u64, InstallError> {
    let layout = &job.layout;
    let bytes = layout.disk_sectors * SECTOR;
    wipe(disk, bytes).map_err(io_stage(Stage::Wipe))?;
    note(
        progress,
        Stage::Wipe,
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
    disk.sync().map_err(io_stage(Stage::PartitionImage))?;
    // Empty partitions: no signature of an earlier install survives, so the
    // appliance sees them blank and formats them.
    for p in layout
        .partitions
        .iter()
        .filter(|p| p.filesystem == Filesystem::Empty)
    {
        clear_ends(disk, p.offset(), p.bytes()).map_err(io_stage(Stage::Wipe))?;
        note(
            progress,
            Stage::Wipe,
            format!("Cleared partition {} ({}).", p.number, p.name),
        );
    }
    // The boot partition.
    let boot = layout
        .boot()
        .ok_or_else(|| InstallError::new(Stage::Plan, ManifestError::NoBootPartition))?;
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
        // fatfs goes through a page cache (see `cache`), flushed below.
        let mut cached = cache::PageCache::new(&mut region, BOOT_CACHE_PAGES)
            .map_err(io_stage(Stage::FormatBoot))?;
        fatfs::format_volume(&mut cached, opts).map_err(io_stage(Stage::FormatBoot))?;
        let fs = fatfs::FileSystem::new(&mut cached, fatfs::FsOptions::new())
            .map_err(io_stage(Stage::OpenBoot))?;
        // A fresh FAT32 has no free-cluster count in its FSInfo sector;
        // counting once makes fatfs keep it up to date (fsck.vfat checks it).
        fs.stats().map_err(io_stage(Stage::OpenBoot))?;
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
            if c.content_size <= WHOLE_BOOT_FILE {
                // Verified whole before the file even exists.
                let mut buf = Vec::with_capacity(usize::try_from(c.content_size).unwrap_or(0));
                downloaded += fetch(components, c, &mut buf, progress)?;
                let mut f = create(&root, path).map_err(io_stage(Stage::BootFiles))?;
                f.write_all(&buf).map_err(io_stage(Stage::BootFiles))?;
            } else {
                let mut f = create(&root, path).map_err(io_stage(Stage::BootFiles))?;
                downloaded += fetch(components, c, &mut f, progress)?;
            }
        }
        note(
            progress,
            Stage::Bootloader,
            "Installing the boot loader.".into(),
        );
        for b in bootloader::boot_files(job.firmware) {
            let data = sources
                .read(b.source)
                .map_err(installer_file(Stage::Bootloader, b.source))?;
            write_file(&root, b.dest, &data).map_err(io_stage(Stage::Bootloader))?;
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
            // One entry: a visible menu and its countdown only cost boot
            // time (drawn over the serial console, too).
            timeout_secs: 0,
        });
        for path in bootloader::grub_cfg_paths(job.firmware) {
            write_file(&root, path, cfg.as_bytes()).map_err(io_stage(Stage::Bootloader))?;
        }
        write_file(
            &root,
            handover::HANDOVER_PATH.trim_start_matches('/'),
            extras.handover_json.as_bytes(),
        )
        .map_err(io_stage(Stage::Handover))?;
        write_file(
            &root,
            handover::INSTALLER_LOG_PATH.trim_start_matches('/'),
            &extras.installer_log,
        )
        .map_err(io_stage(Stage::Handover))?;
        drop(root);
        fs.unmount().map_err(io_stage(Stage::CloseBoot))?;
        cached.flush().map_err(io_stage(Stage::CloseBoot))?;
        drop(cached);
        // fatfs writes long-name entries in front of `.`/`..`; fsck.vfat and
        // some firmware reject them (image-builder's fat::dirfix).
        image_builder::fat::dirfix::drop_dot_entry_lfns_on(&mut region, boot.bytes())
            .map_err(|message| InstallError::new(Stage::CloseBoot, io::Error::other(message)))?;
    }
    // BIOS: GRUB's core image in the gap.
    let mut mbr_code = None;
    if job.firmware == Firmware::Bios {
        let stage = Stage::BiosBootloader;
        let read = |p: &str| sources.read(p).map_err(installer_file(stage, p));
        let bios = bootloader::bios_boot_code(
            &read(bootloader::BOOT_IMG_SOURCE)?,
            &read(bootloader::CORE_IMG_SOURCE)?,
            1,
        )
        .and_then(|b| {
            b.check_fits(layout.partitions.first().map_or(ALIGN, |p| p.first_lba))?;
            Ok(b)
        })
        .map_err(InstallError::at(stage))?;
        disk.seek(SeekFrom::Start(bios.core_lba * SECTOR))
            .and_then(|_| disk.write_all(&bios.core))
            .map_err(io_stage(stage))?;
        mbr_code = Some(bios.mbr_code);
    }
    disk.sync().map_err(io_stage(Stage::Flush))?;
    note(
        progress,
        Stage::PartitionTable,
        "Writing the partition table.".into(),
    );
    write_table(disk, layout, mbr_code.as_ref(), &extras.disk_id)
        .map_err(InstallError::at(Stage::PartitionTable))?;
    disk.sync().map_err(io_stage(Stage::Flush))?;
    Ok(downloaded)
}

fn partition<'l>(layout: &'l Layout, c: &Component) -> Result<&'l Placed, InstallError> {
    layout.named(&c.destination.partition).ok_or_else(|| {
        InstallError::component(
            Stage::PartitionImage,
            &c.name,
            ManifestError::NoPartition(c.destination.partition.clone()),
        )
    })
}

/// A `map_err` for a file the installer carries.
fn installer_file(stage: Stage, path: &str) -> impl Fn(io::Error) -> InstallError + '_ {
    move |source| {
        InstallError::new(
            stage,
            super::Cause::InstallerFile {
                path: path.to_string(),
                source,
            },
        )
    }
}

fn fetch(
    components: &mut dyn Components,
    c: &Component,
    sink: &mut dyn Write,
    progress: &mut dyn FnMut(&Progress),
) -> Result<u64, InstallError> {
    components
        .fetch(c, sink, progress)
        .map_err(|e| InstallError::fetch(&c.name, e))
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
) -> Result<(), super::table::TableError> {
    match layout.table {
        TableKind::Mbr => {
            super::table::write_mbr(disk, layout, mbr_code, [id[0], id[1], id[2], id[3]])
        }
        TableKind::Gpt => super::table::write_gpt(disk, layout, *id),
    }
}
