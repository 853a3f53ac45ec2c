//! Assigns identifiers, directory numbers, inode numbers and LBAs.
//!
//! Image layout (2048-byte blocks):
//!
//! ```text
//! 0..16   system area (isohybrid MBR in the first 512 bytes, rest zero)
//! 16      Primary Volume Descriptor
//! 17      El Torito boot record (only with a boot entry)
//! next    volume descriptor set terminator
//! next    type-L path table, then type-M path table
//! next    directory extents, in path table order
//! next    Rock Ridge continuation areas (CE)
//! next    El Torito boot catalog (1 block, only with a boot entry)
//! next    file data: BIOS image, EFI image, then every other file in
//!         directory order; each file one contiguous extent
//! end     zero padding up to a multiple of 1 MiB
//! ```
//!
//! Record and System Use sizes never depend on LBAs, so one sizing pass with
//! zero LBAs fixes every position; the writer then encodes the same records
//! again with the final values.

use std::borrow::Cow;

use super::bytes::{blocks_for, BLOCK};
use super::dir::{self, Record, DOT, DOTDOT, FLAG_DIRECTORY, MAX_RECORD};
use super::error::IsoError;
use super::names::{assign_identifiers, iso_order};
use super::rockridge::{self, S_IFDIR, S_IFREG};
use super::tree::{Content, NodeKind, Tree, ROOT};
use super::BiosBoot;

/// The image is padded to a multiple of this many blocks (1 MiB), like
/// xorriso's cylinder alignment with 64 heads × 32 sectors.
const ALIGN_BLOCKS: u64 = 512;
/// Mode of the boot catalog file.
const CATALOG_MODE: u32 = 0o444;

/// The boot settings the layout needs.
pub(crate) struct BootRequest<'a> {
    /// BIOS El Torito entry (and the catalog path).
    pub bios: Option<&'a BiosBoot>,
    /// Path of the EFI image.
    pub efi: Option<&'a str>,
    /// Whether an isohybrid MBR is requested.
    pub isohybrid: bool,
}

/// Which record of a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The "." record.
    Dot,
    /// The ".." record.
    DotDot,
    /// A child node.
    Child(usize),
}

/// Where one record goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordPlan {
    /// Which record.
    pub slot: Slot,
    /// Byte offset inside the directory extent.
    pub offset: usize,
    /// Continuation area position (block index from `ce_lba`, byte offset).
    pub ce: Option<(u32, u32)>,
}

/// The BIOS boot image.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BiosPlan {
    /// Tree node of the image.
    pub node: usize,
    /// Its LBA.
    pub lba: u32,
    /// Its length in bytes.
    pub len: u64,
    /// El Torito load size in 512-byte sectors.
    pub load_sectors: u16,
    /// Patch a boot info table into the image.
    pub info_table: bool,
}

/// The EFI boot image.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EfiPlan {
    /// Tree node of the image.
    pub node: usize,
    /// Its LBA.
    pub lba: u32,
    /// Its length in bytes.
    pub len: u64,
}

/// The complete placement of everything in the image.
pub(crate) struct Layout {
    /// The tree, including the boot catalog node.
    pub tree: Tree,
    /// Record date of every record (7-byte form).
    pub date: [u8; 7],
    /// ISO identifier per node, without the `;1` version (root: empty).
    pub ids: Vec<String>,
    /// Per directory node: children in record (ECMA-119 §9.3) order.
    pub order: Vec<Vec<usize>>,
    /// Directory nodes in path table order; position + 1 = directory number.
    pub dirs: Vec<usize>,
    /// Directory number per node (0 for files).
    pub dir_number: Vec<u16>,
    /// Rock Ridge serial number per node.
    pub ino: Vec<u32>,
    /// Rock Ridge link count per node.
    pub nlink: Vec<u32>,
    /// Extent LBA per node.
    pub lba: Vec<u32>,
    /// Data length per node (directories: whole blocks).
    pub len: Vec<u64>,
    /// Per entry of `dirs`: the placement of each record.
    pub records: Vec<Vec<RecordPlan>>,
    /// Size in bytes of one path table.
    pub path_table_size: u32,
    /// LBA of the type-L path table.
    pub l_path_lba: u32,
    /// LBA of the type-M path table.
    pub m_path_lba: u32,
    /// First block of the continuation areas.
    pub ce_lba: u32,
    /// Number of continuation blocks.
    pub ce_blocks: u32,
    /// LBA of the boot catalog, when there is a boot entry.
    pub catalog_lba: Option<u32>,
    /// File nodes with data, in the order their extents are written.
    pub data: Vec<usize>,
    /// BIOS boot image.
    pub bios: Option<BiosPlan>,
    /// EFI boot image.
    pub efi: Option<EfiPlan>,
    /// Image size in blocks, after padding.
    pub total_blocks: u32,
}

impl Layout {
    /// Plans the image for `tree`. Validates the boot configuration.
    pub(crate) fn plan(
        tree: &Tree,
        date: [u8; 7],
        boot: &BootRequest<'_>,
    ) -> Result<Self, IsoError> {
        let mut tree = tree.clone();
        if boot.isohybrid && boot.bios.is_none() {
            return Err(IsoError::IsohybridWithoutBios);
        }
        if let Some(bios) = boot.bios {
            tree.add_file(
                &bios.catalog,
                Content::BootCatalog,
                BLOCK as u64,
                CATALOG_MODE,
            )
            .map_err(|e| match e {
                IsoError::PathConflict { path, existing } => {
                    IsoError::CatalogConflict { path, existing }
                }
                other => other,
            })?;
        }
        let bios = match boot.bios {
            Some(b) => {
                let (node, len) = boot_file(&tree, "bios", &b.image)?;
                let min = if b.boot_info_table { 64 } else { 1 };
                if len < min {
                    return Err(IsoError::BootImageTooSmall {
                        role: "bios",
                        path: b.image.clone(),
                        len,
                        min,
                    });
                }
                Some(BiosPlan {
                    node,
                    lba: 0,
                    len,
                    load_sectors: b.load_sectors,
                    info_table: b.boot_info_table,
                })
            }
            None => None,
        };
        let efi = match boot.efi {
            Some(path) => {
                let (node, len) = boot_file(&tree, "efi", path)?;
                if len == 0 {
                    return Err(IsoError::BootImageTooSmall {
                        role: "efi",
                        path: path.to_owned(),
                        len,
                        min: 1,
                    });
                }
                Some(EfiPlan { node, lba: 0, len })
            }
            None => None,
        };

        let n = tree.nodes().len();
        let mut layout = Layout {
            tree,
            date,
            ids: vec![String::new(); n],
            order: vec![Vec::new(); n],
            dirs: Vec::new(),
            dir_number: vec![0; n],
            ino: vec![0; n],
            nlink: vec![1; n],
            lba: vec![0; n],
            len: vec![0; n],
            records: Vec::new(),
            path_table_size: 0,
            l_path_lba: 0,
            m_path_lba: 0,
            ce_lba: 0,
            ce_blocks: 0,
            catalog_lba: None,
            data: Vec::new(),
            bios,
            efi,
            total_blocks: 0,
        };
        layout.name_and_number()?;
        let dir_bytes = layout.size_directories();
        layout.place(&dir_bytes, boot)?;
        Ok(layout)
    }

    /// Identifiers, record order, path table order, inode numbers, links.
    fn name_and_number(&mut self) -> Result<(), IsoError> {
        let n = self.tree.nodes().len();
        for d in 0..n {
            if !self.tree.node(d).is_dir() {
                continue;
            }
            let children = self.tree.children(d);
            let named: Vec<(&str, bool)> = children
                .iter()
                .map(|&c| {
                    let node = self.tree.node(c);
                    (node.name.as_str(), node.is_dir())
                })
                .collect();
            let ids = assign_identifiers(&named);
            for (&c, id) in children.iter().zip(ids) {
                self.ids[c] = id;
            }
            let mut sorted = children;
            sorted.sort_by(|&a, &b| iso_order(&self.ids[a], &self.ids[b]));
            self.nlink[d] = 2 + sorted
                .iter()
                .filter(|&&c| self.tree.node(c).is_dir())
                .count() as u32;
            self.order[d] = sorted;
        }
        // Breadth-first walk = path table order (level, parent number, name).
        self.dirs.push(ROOT);
        let mut next_ino = 1u32;
        self.ino[ROOT] = next_ino;
        let mut i = 0;
        while i < self.dirs.len() {
            let d = self.dirs[i];
            for &c in &self.order[d] {
                next_ino += 1;
                self.ino[c] = next_ino;
                if self.tree.node(c).is_dir() {
                    self.dirs.push(c);
                }
            }
            i += 1;
        }
        if self.dirs.len() > usize::from(u16::MAX) {
            return Err(IsoError::TooManyDirectories {
                count: self.dirs.len(),
            });
        }
        for (pos, &d) in self.dirs.iter().enumerate() {
            self.dir_number[d] = (pos + 1) as u16;
        }
        self.path_table_size = self
            .dirs
            .iter()
            .map(|&d| dir::path_record_len(self.path_name(d).len()) as u32)
            .sum();
        Ok(())
    }

    /// Identifier of a directory in the path table (root: a single 0 byte).
    pub(crate) fn path_name(&self, dir: usize) -> &[u8] {
        if dir == ROOT {
            DOT
        } else {
            self.ids[dir].as_bytes()
        }
    }

    /// Packs records into directory blocks and overflow into CE blocks.
    /// Returns the byte size of each directory extent (indexed like `dirs`).
    fn size_directories(&mut self) -> Vec<u64> {
        let mut sizes = Vec::with_capacity(self.dirs.len());
        let mut ce_block = 0u32;
        let mut ce_offset = 0usize;
        let mut ce_used = false;
        let mut all = Vec::with_capacity(self.dirs.len());
        for &d in &self.dirs {
            let slots = [Slot::Dot, Slot::DotDot]
                .into_iter()
                .chain(self.order[d].iter().map(|&c| Slot::Child(c)));
            let mut plans = Vec::new();
            let mut offset = 0usize;
            for slot in slots {
                let (record, overflow) = self.encode_record(d, slot, None);
                let ce = if overflow.is_empty() {
                    None
                } else {
                    if ce_offset + overflow.len() > BLOCK {
                        ce_block += 1;
                        ce_offset = 0;
                    }
                    let at = (ce_block, ce_offset as u32);
                    ce_offset += overflow.len();
                    ce_used = true;
                    Some(at)
                };
                if offset % BLOCK + record.len() > BLOCK {
                    offset = offset.next_multiple_of(BLOCK);
                }
                plans.push(RecordPlan { slot, offset, ce });
                offset += record.len();
            }
            sizes.push(offset.next_multiple_of(BLOCK) as u64);
            all.push(plans);
        }
        self.records = all;
        self.ce_blocks = if ce_used { ce_block + 1 } else { 0 };
        sizes
    }

    /// Assigns every LBA and the final image size.
    fn place(&mut self, dir_bytes: &[u64], boot: &BootRequest<'_>) -> Result<(), IsoError> {
        let has_boot = self.bios.is_some() || self.efi.is_some();
        let pt_blocks = blocks_for(u64::from(self.path_table_size));
        let mut next: u64 = 17 + u64::from(has_boot) + 1;
        self.l_path_lba = next as u32;
        next += pt_blocks;
        self.m_path_lba = next as u32;
        next += pt_blocks;
        for (&d, &bytes) in self.dirs.iter().zip(dir_bytes) {
            self.lba[d] = next as u32;
            self.len[d] = bytes;
            next += bytes / BLOCK as u64;
        }
        self.ce_lba = next as u32;
        next += u64::from(self.ce_blocks);
        if has_boot {
            self.catalog_lba = Some(next as u32);
            next += 1;
        }
        let data_start = next;

        let mut data = Vec::new();
        data.extend(self.bios.map(|b| b.node));
        data.extend(self.efi.map(|e| e.node).filter(|e| !data.contains(e)));
        for &d in &self.dirs {
            for &c in &self.order[d] {
                if let NodeKind::File {
                    content: Content::Source(_),
                    len,
                } = self.tree.node(c).kind
                {
                    self.len[c] = len;
                    if len > 0 && !data.contains(&c) {
                        data.push(c);
                    }
                    if len == 0 {
                        self.lba[c] = data_start as u32;
                    }
                }
                if let NodeKind::File {
                    content: Content::BootCatalog,
                    ..
                } = self.tree.node(c).kind
                {
                    self.lba[c] = self.catalog_lba.unwrap_or(0);
                    self.len[c] = BLOCK as u64;
                }
            }
        }
        for &f in &data {
            // Truncation only happens past the limit, which is an error below.
            self.lba[f] = next.min(u64::from(u32::MAX)) as u32;
            next += blocks_for(self.len[f]);
        }
        self.data = data;
        let total = next.next_multiple_of(ALIGN_BLOCKS);
        if total > u64::from(u32::MAX) {
            return Err(IsoError::ImageTooLarge {
                blocks: total,
                reason: "iso 9660 block numbers are 32-bit",
            });
        }
        if boot.isohybrid && total * 4 > u64::from(u32::MAX) {
            return Err(IsoError::ImageTooLarge {
                blocks: total,
                reason: "mbr partition sizes are 32-bit sector counts",
            });
        }
        self.total_blocks = total as u32;
        if let Some(b) = &mut self.bios {
            b.lba = self.lba[b.node];
        }
        if let Some(e) = &mut self.efi {
            e.lba = self.lba[e.node];
        }
        Ok(())
    }

    /// Encodes one record of directory `dir`. Returns the record and the
    /// bytes that overflow into its continuation area (empty if none).
    /// `ce` is the continuation position; `None` during sizing.
    pub(crate) fn encode_record(
        &self,
        dir: usize,
        slot: Slot,
        ce: Option<(u32, u32)>,
    ) -> (Vec<u8>, Vec<u8>) {
        let (target, name): (usize, Cow<'_, [u8]>) = match slot {
            Slot::Dot => (dir, Cow::Borrowed(DOT)),
            Slot::DotDot => (self.tree.node(dir).parent, Cow::Borrowed(DOTDOT)),
            Slot::Child(c) if self.tree.node(c).is_dir() => {
                (c, Cow::Borrowed(self.ids[c].as_bytes()))
            }
            Slot::Child(c) => (c, Cow::Owned(format!("{};1", self.ids[c]).into_bytes())),
        };
        let node = self.tree.node(target);
        let (type_bits, flags) = if node.is_dir() {
            (S_IFDIR, FLAG_DIRECTORY)
        } else {
            (S_IFREG, 0)
        };
        let root_dot = slot == Slot::Dot && dir == ROOT;
        let mut entries = Vec::with_capacity(5);
        if root_dot {
            entries.push(rockridge::sp());
        }
        entries.push(rockridge::px(
            type_bits | node.mode,
            self.nlink[target],
            self.ino[target],
        ));
        entries.push(rockridge::tf(self.date));
        if let Slot::Child(_) = slot {
            entries.extend(rockridge::nm(node.name.as_bytes()));
        }
        if root_dot {
            entries.push(rockridge::er());
        }
        let budget = MAX_RECORD - 1 - dir::record_base_len(name.len());
        let split = rockridge::split(&entries, budget);
        let mut system_use = split.inline;
        if !split.overflow.is_empty() {
            let (block, offset) = ce.unwrap_or((0, 0));
            system_use.extend(rockridge::ce(
                self.ce_lba + block,
                offset,
                split.overflow.len() as u32,
            ));
        }
        let record = dir::encode_record(&Record {
            name: &name,
            lba: self.lba[target],
            len: self.len[target] as u32,
            date: self.date,
            flags,
            system_use: &system_use,
        });
        (record, split.overflow)
    }
}

/// Looks up a boot image: it must be a file added with `add_file`.
fn boot_file(tree: &Tree, role: &'static str, path: &str) -> Result<(usize, u64), IsoError> {
    let missing = || IsoError::MissingBootImage {
        role,
        path: path.to_owned(),
    };
    let node = tree.lookup(path).ok_or_else(missing)?;
    match tree.node(node).kind {
        NodeKind::File {
            content: Content::Source(_),
            len,
        } => Ok((node, len)),
        _ => Err(missing()),
    }
}
