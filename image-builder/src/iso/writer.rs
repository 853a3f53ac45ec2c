//! Streams a planned image to any `Write`, front to back.

use std::fs::File;
use std::io::{self, Read, Write};

use super::bytes::BLOCK;
use super::dir;
use super::eltorito::{self, BootEntry, INFO_TABLE_END, INFO_TABLE_OFFSET};
use super::error::IsoError;
use super::hybrid::{self, Isohybrid, MbrLayout};
use super::layout::Layout;
use super::tree::{Content, NodeKind, ROOT};
use super::volume::{self, DateTime, PvdFields};
use super::{FileSource, IsoReport};

/// Copy buffer size for file data.
const COPY_CHUNK: usize = 256 * 1024;
static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// Inputs of the writer besides the layout.
pub(crate) struct WriteInputs<'a> {
    /// Volume identifier.
    pub volume_id: &'a str,
    /// Build date.
    pub date: DateTime,
    /// File sources, indexed by `Content::Source`.
    pub sources: &'a [FileSource],
    /// isohybrid MBR settings.
    pub hybrid: Option<&'a Isohybrid>,
}

/// A `Write` that knows its position and can zero-fill up to a block.
struct BlockWriter<W: Write> {
    out: W,
    pos: u64,
}

impl<W: Write> BlockWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), IsoError> {
        self.out.write_all(bytes).map_err(IsoError::Write)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Zero-fills up to the start of block `lba`.
    fn pad_to(&mut self, lba: u64) -> Result<(), IsoError> {
        let target = lba * BLOCK as u64;
        debug_assert!(self.pos <= target, "layout overlap at block {lba}");
        while self.pos < target {
            let n = (target - self.pos).min(BLOCK as u64) as usize;
            self.write(&ZEROS[..n])?;
        }
        Ok(())
    }
}

/// Writes the whole image described by `layout`.
pub(crate) fn write_image<W: Write>(
    layout: &Layout,
    inputs: &WriteInputs<'_>,
    out: W,
) -> Result<IsoReport, IsoError> {
    // Everything that can fail on input is checked before the first byte.
    let info_table = boot_info_table(layout, inputs.sources)?;
    let (directories, continuation) = encode_directories(layout);
    let mut w = BlockWriter { out, pos: 0 };

    let mut system_area = vec![0u8; 16 * BLOCK];
    if let (Some(hybrid), Some(bios)) = (inputs.hybrid, &layout.bios) {
        let efi = layout.efi.map(|e| (e.lba * 4, e.len.div_ceil(512) as u32));
        let mbr = hybrid::mbr(
            hybrid,
            &MbrLayout {
                bios_image_sector: bios.lba * 4,
                total_sectors: layout.total_blocks * 4,
                efi,
            },
        );
        system_area[..512].copy_from_slice(&mbr);
    }
    w.write(&system_area)?;

    // The PVD's copy of the root record carries no System Use area.
    let root_record = dir::encode_record(&dir::Record {
        name: dir::DOT,
        lba: layout.lba[ROOT],
        len: layout.len[ROOT] as u32,
        date: layout.date,
        flags: dir::FLAG_DIRECTORY,
        system_use: &[],
    });
    w.write(&volume::primary_volume_descriptor(&PvdFields {
        volume_id: inputs.volume_id,
        volume_blocks: layout.total_blocks,
        path_table_size: layout.path_table_size,
        l_path_table: layout.l_path_lba,
        m_path_table: layout.m_path_lba,
        root_record: &root_record,
        date: inputs.date,
    }))?;
    if let Some(catalog_lba) = layout.catalog_lba {
        w.write(&eltorito::boot_record(catalog_lba))?;
    }
    w.write(&volume::terminator())?;

    for big_endian in [false, true] {
        w.pad_to(u64::from(if big_endian {
            layout.m_path_lba
        } else {
            layout.l_path_lba
        }))?;
        for &d in &layout.dirs {
            let parent = layout.dir_number[layout.tree.node(d).parent];
            w.write(&dir::encode_path_record(
                layout.path_name(d),
                layout.lba[d],
                parent,
                big_endian,
            ))?;
        }
    }
    for (&d, extent) in layout.dirs.iter().zip(&directories) {
        w.pad_to(u64::from(layout.lba[d]))?;
        w.write(extent)?;
    }
    w.pad_to(u64::from(layout.ce_lba))?;
    w.write(&continuation)?;
    if let Some(catalog_lba) = layout.catalog_lba {
        w.pad_to(u64::from(catalog_lba))?;
        w.write(&eltorito::catalog(&boot_entries(layout)))?;
    }
    for &f in &layout.data {
        w.pad_to(u64::from(layout.lba[f]))?;
        let patch = match (&layout.bios, &info_table) {
            (Some(b), Some(table)) if b.node == f => Some(table),
            _ => None,
        };
        write_file(&mut w, layout, inputs.sources, f, patch)?;
    }
    w.pad_to(u64::from(layout.total_blocks))?;
    w.out.flush().map_err(IsoError::Write)?;

    Ok(IsoReport {
        total_bytes: w.pos,
        volume_blocks: layout.total_blocks,
        catalog_lba: layout.catalog_lba,
        bios_image_lba: layout.bios.map(|b| b.lba),
        efi_image_lba: layout.efi.map(|e| e.lba),
        efi_image_bytes: layout.efi.map(|e| e.len),
    })
}

/// Catalog entries: BIOS first (default entry), then EFI.
fn boot_entries(layout: &Layout) -> Vec<BootEntry> {
    let mut entries = Vec::new();
    if let Some(b) = &layout.bios {
        entries.push(BootEntry {
            platform: eltorito::PLATFORM_X86,
            sectors: b.load_sectors,
            lba: b.lba,
        });
    }
    if let Some(e) = &layout.efi {
        entries.push(BootEntry {
            platform: eltorito::PLATFORM_EFI,
            sectors: eltorito::efi_sector_count(e.len),
            lba: e.lba,
        });
    }
    entries
}

/// Encodes every directory extent and the continuation area.
fn encode_directories(layout: &Layout) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut continuation = vec![0u8; layout.ce_blocks as usize * BLOCK];
    let mut extents = Vec::with_capacity(layout.dirs.len());
    for (&d, plans) in layout.dirs.iter().zip(&layout.records) {
        let mut extent = vec![0u8; layout.len[d] as usize];
        for plan in plans {
            let (record, overflow) = layout.encode_record(d, plan.slot, plan.ce);
            extent[plan.offset..plan.offset + record.len()].copy_from_slice(&record);
            if let Some((block, offset)) = plan.ce {
                let at = block as usize * BLOCK + offset as usize;
                continuation[at..at + overflow.len()].copy_from_slice(&overflow);
            }
        }
        extents.push(extent);
    }
    (extents, continuation)
}

/// Source index of a file node.
fn source_of(layout: &Layout, node: usize) -> Option<usize> {
    match layout.tree.node(node).kind {
        NodeKind::File {
            content: Content::Source(i),
            ..
        } => Some(i),
        _ => None,
    }
}

/// Opens a path source and checks that its size is unchanged.
fn open_checked(path: &std::path::Path, expected: u64) -> Result<File, IsoError> {
    let source_err = |source| IsoError::Source {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(source_err)?;
    let actual = file.metadata().map_err(source_err)?.len();
    if actual != expected {
        return Err(IsoError::SourceChanged {
            path: path.to_owned(),
            expected,
            actual,
        });
    }
    Ok(file)
}

/// Computes the 56 boot info table bytes for the BIOS image, if requested.
fn boot_info_table(layout: &Layout, sources: &[FileSource]) -> Result<Option<[u8; 56]>, IsoError> {
    let Some(bios) = layout.bios.filter(|b| b.info_table) else {
        return Ok(None);
    };
    let Some(index) = source_of(layout, bios.node) else {
        return Ok(None);
    };
    let checksum = match &sources[index] {
        FileSource::Bytes(bytes) => eltorito::info_table_checksum_bytes(&bytes[INFO_TABLE_END..]),
        FileSource::Path(path) => {
            let source_err = |source| IsoError::Source {
                path: path.clone(),
                source,
            };
            let mut file = open_checked(path, bios.len)?;
            let mut head = [0u8; INFO_TABLE_END];
            file.read_exact(&mut head).map_err(source_err)?;
            let (sum, rest) = eltorito::info_table_checksum(file).map_err(source_err)?;
            let actual = INFO_TABLE_END as u64 + rest;
            if actual != bios.len {
                return Err(IsoError::SourceChanged {
                    path: path.clone(),
                    expected: bios.len,
                    actual,
                });
            }
            sum
        }
    };
    Ok(Some(eltorito::info_table(
        bios.lba,
        bios.len as u32,
        checksum,
    )))
}

/// Writes one file's data, with the boot info table patched in if given,
/// and zero-fills its last block.
fn write_file<W: Write>(
    w: &mut BlockWriter<W>,
    layout: &Layout,
    sources: &[FileSource],
    node: usize,
    patch: Option<&[u8; 56]>,
) -> Result<(), IsoError> {
    let Some(index) = source_of(layout, node) else {
        return Ok(());
    };
    let len = layout.len[node];
    match &sources[index] {
        FileSource::Bytes(bytes) => match patch {
            Some(table) => {
                w.write(&bytes[..INFO_TABLE_OFFSET])?;
                w.write(table)?;
                w.write(&bytes[INFO_TABLE_END..])?;
            }
            None => w.write(bytes)?,
        },
        FileSource::Path(path) => {
            let mut file = open_checked(path, len)?;
            let mut copied = 0u64;
            if let Some(table) = patch {
                let mut head = [0u8; INFO_TABLE_END];
                file.read_exact(&mut head)
                    .map_err(|source| IsoError::Source {
                        path: path.clone(),
                        source,
                    })?;
                head[INFO_TABLE_OFFSET..].copy_from_slice(table);
                w.write(&head)?;
                copied = INFO_TABLE_END as u64;
            }
            copied += copy_exact(w, &mut file, len - copied, path)?;
            if copied != len {
                return Err(IsoError::SourceChanged {
                    path: path.clone(),
                    expected: len,
                    actual: copied,
                });
            }
        }
    }
    let end = layout.lba[node] as u64 * BLOCK as u64 + len;
    w.pad_to(end.div_ceil(BLOCK as u64))
}

/// Copies at most `len` bytes; returns how many were available.
fn copy_exact<W: Write>(
    w: &mut BlockWriter<W>,
    file: &mut File,
    len: u64,
    path: &std::path::Path,
) -> Result<u64, IsoError> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(COPY_CHUNK as u64) as usize;
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(IsoError::Source {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        w.write(&buf[..n])?;
        done += n as u64;
    }
    Ok(done)
}
