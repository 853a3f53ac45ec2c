//! Partition tables, written through the `mbrman` and `gpt` crates. The
//! caller ([`super::apply`]) calls this last: for GPT the protective MBR is
//! the very last sector written, so a disk whose table write was cut short
//! has no MBR signature and boots nowhere.

use super::apply::DiskIo;
use super::bootloader::MBR_CODE_LEN;
use super::plan::{Layout, SECTOR};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Why a partition table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// mbrman failed (reading or writing the MBR).
    #[error("MBR: {0}")]
    Mbr(#[source] mbrman::Error),
    /// A partition does not fit the 32-bit fields of an MBR entry.
    #[error("partition {0} lies beyond what an MBR addresses")]
    BeyondMbr(u32),
    /// The gpt crate failed; `what` says at which step.
    #[error("{what}: {source}")]
    Gpt {
        /// `GPT`, `GPT partition 2`, …
        what: String,
        /// Why.
        source: gpt::GptError,
    },
    /// The protective MBR could not be written.
    #[error("protective MBR: {0}")]
    ProtectiveMbr(#[source] gpt::mbr::MBRError),
    /// A partition type the gpt crate does not know.
    #[error("GPT type {kind}: {reason}")]
    GptType {
        /// The layout's type GUID or name.
        kind: String,
        /// Why it was refused.
        reason: String,
    },
}

impl TableError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            TableError::Mbr(_) | TableError::Gpt { .. } | TableError::ProtectiveMbr(_) => {
                "the disk refused the write: check it and retry".into()
            }
            TableError::BeyondMbr(_) | TableError::GptType { .. } => {
                "the partition layout cannot be written as planned: this is a bug in the \
                 installer or the release manifest; contact your vendor"
                    .into()
            }
        }
    }
}

/// A disk reference with the `Debug` the `gpt` crate wants.
struct Dev<'a, D: ?Sized>(&'a mut D);

impl<D: ?Sized> std::fmt::Debug for Dev<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("target disk")
    }
}
impl<D: DiskIo + ?Sized> Read for Dev<'_, D> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        self.0.read(b)
    }
}
impl<D: DiskIo + ?Sized> Write for Dev<'_, D> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl<D: DiskIo + ?Sized> Seek for Dev<'_, D> {
    fn seek(&mut self, p: SeekFrom) -> io::Result<u64> {
        self.0.seek(p)
    }
}

/// An MBR: the layout's partitions (the boot one active), BIOS boot code if
/// given, a disk signature derived from the install id.
pub fn write_mbr<D: DiskIo + ?Sized>(
    disk: &mut D,
    layout: &Layout,
    boot_code: Option<&[u8; MBR_CODE_LEN]>,
    signature: [u8; 4],
) -> Result<(), TableError> {
    let mut dev = Dev(disk);
    let mut mbr =
        mbrman::MBR::new_from(&mut dev, SECTOR as u32, signature).map_err(TableError::Mbr)?;
    for (i, p) in layout.partitions.iter().enumerate() {
        let too_far = || TableError::BeyondMbr(p.number);
        mbr[i + 1] = mbrman::MBRPartitionEntry {
            boot: if p.bootable {
                mbrman::BOOT_ACTIVE
            } else {
                mbrman::BOOT_INACTIVE
            },
            first_chs: mbrman::CHS::empty(),
            sys: p.mbr_type,
            last_chs: mbrman::CHS::empty(),
            starting_lba: u32::try_from(p.first_lba).map_err(|_| too_far())?,
            sectors: u32::try_from(p.sectors).map_err(|_| too_far())?,
        };
    }
    if let Some(code) = boot_code {
        mbr.header.bootstrap_code = *code;
    }
    mbr.write_into(&mut dev).map_err(TableError::Mbr)
}

/// A GPT (primary, entries, backup), then the protective MBR.
pub fn write_gpt<D: DiskIo + ?Sized>(
    disk: &mut D,
    layout: &Layout,
    guid: [u8; 16],
) -> Result<(), TableError> {
    let gpt_err = |what: &str| {
        let what = what.to_string();
        move |source| TableError::Gpt { what, source }
    };
    let cfg = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512);
    let mut g = cfg
        .create_from_device(Dev(&mut *disk), Some(uuid_from(guid)))
        .map_err(gpt_err("GPT"))?;
    for p in &layout.partitions {
        let kind: gpt::partition_types::Type =
            p.gpt_type
                .parse()
                .map_err(|reason: String| TableError::GptType {
                    kind: p.gpt_type.to_string(),
                    reason,
                })?;
        g.add_partition_at(&p.label, p.number, p.first_lba, p.sectors, kind, 0)
            .map_err(|e| TableError::Gpt {
                what: format!("GPT partition {}", p.number),
                source: e,
            })?;
    }
    g.write_inplace().map_err(gpt_err("GPT"))?;
    drop(g);
    let last = u32::try_from(layout.disk_sectors - 1).unwrap_or(u32::MAX);
    gpt::mbr::ProtectiveMBR::with_lb_size(last)
        .overwrite_lba0(&mut Dev(disk))
        .map_err(TableError::ProtectiveMbr)?;
    Ok(())
}

fn uuid_from(b: [u8; 16]) -> uuid::Uuid {
    // A version 4 UUID from random bytes.
    uuid::Builder::from_random_bytes(b).into_uuid()
}
