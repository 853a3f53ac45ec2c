//! ISO 9660 writer with Rock Ridge, El Torito and an isohybrid MBR.
//!
//! It produces "layout A, MBR only" (ARCHITECTURE.md): a plain ISO
//! 9660 volume (interchange level 2 names) with Rock Ridge (RRIP 1991A) for
//! real names, modes and times; an El Torito catalog with an optional BIOS
//! no-emulation entry (isolinux, with a boot info table) and an optional UEFI
//! entry pointing at a FAT image stored as an ordinary file; and, on request,
//! an isohybrid MBR whose partition 1 (type 0x00, bootable) covers the whole
//! image from sector 0 and whose partition 2 (type 0xEF) covers the EFI image.
//!
//! Not supported, on purpose: Joliet, GPT (neither the Debian-style nor a
//! valid hybrid one), `-partition_offset`, symlinks and other special files,
//! multi-extent files (a file is limited to 4 GiB − 1), and directory trees
//! deeper than 8 levels (no Rock Ridge relocation).
//!
//! The output is deterministic: every date comes from the caller's epoch
//! (`SOURCE_DATE_EPOCH`), children are sorted, Rock Ridge serial numbers are
//! handed out in path table order, and nothing depends on hash order or on
//! the host. File contents are streamed: a [`FileSource::Path`] is read only
//! while its extent is written.
//!
//! ```no_run
//! use image_builder::iso::{BiosBoot, FileSource, IsoBuilder, Isohybrid};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut iso = IsoBuilder::new("INSTALLER", 1_700_000_000)?;
//! iso.add_file("isolinux/isolinux.bin", FileSource::Path("isolinux.bin".into()), 0o444)?;
//! iso.add_file("isolinux/ldlinux.c32", FileSource::Path("ldlinux.c32".into()), 0o444)?;
//! iso.add_file("boot/grub/efi.img", FileSource::Path("efi.img".into()), 0o644)?;
//! iso.add_file(".disk/info", FileSource::Bytes(b"Installer 1.0".to_vec()), 0o644)?;
//! iso.set_bios_boot(BiosBoot::isolinux("isolinux/isolinux.bin", "isolinux/boot.cat"));
//! iso.set_efi_boot("boot/grub/efi.img");
//! iso.set_isohybrid(Isohybrid::new(&std::fs::read("isohdpfx.bin")?, 0x1234_5678)?);
//! let out = std::io::BufWriter::new(std::fs::File::create("installer.iso")?);
//! let report = iso.write_to(out)?;
//! assert_eq!(report.total_bytes % (1 << 20), 0);
//! # Ok(())
//! # }
//! ```

mod bytes;
mod dir;
mod eltorito;
mod error;
mod hybrid;
mod layout;
mod names;
pub mod read;
mod rockridge;
mod tree;
mod volume;
mod writer;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::PathBuf;

pub use error::IsoError;
pub use hybrid::{Isohybrid, MBR_CODE_LEN};

use layout::{BootRequest, Layout};
use tree::{Content, Tree};
use volume::DateTime;

/// Largest file a single ISO 9660 extent can hold.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// Where a file's content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// Bytes held in memory.
    Bytes(Vec<u8>),
    /// A host file, read while the image is written. Its size is taken when
    /// it is added and must not change before `write_to`.
    Path(PathBuf),
}

/// The BIOS El Torito entry (no emulation), and where the catalog goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BiosBoot {
    /// Image path of the boot image, e.g. `isolinux/isolinux.bin`; it must
    /// be added with [`IsoBuilder::add_file`].
    pub image: String,
    /// Image path of the boot catalog file, e.g. `isolinux/boot.cat`; the
    /// builder creates it (mode 0444), so nothing may be added there.
    pub catalog: String,
    /// Number of 512-byte sectors the firmware loads (4 for isolinux).
    pub load_sectors: u16,
    /// Patch a boot info table into the image (isolinux needs it).
    pub boot_info_table: bool,
}

impl BiosBoot {
    /// The isolinux settings: load 4 sectors, patch a boot info table.
    pub fn isolinux(image: &str, catalog: &str) -> Self {
        BiosBoot {
            image: image.to_owned(),
            catalog: catalog.to_owned(),
            load_sectors: 4,
            boot_info_table: true,
        }
    }
}

/// Where things ended up in a written image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsoReport {
    /// Bytes written (always a multiple of 1 MiB).
    pub total_bytes: u64,
    /// Volume space size in 2048-byte blocks.
    pub volume_blocks: u32,
    /// LBA of the El Torito boot catalog, if any boot entry exists.
    pub catalog_lba: Option<u32>,
    /// LBA of the BIOS boot image.
    pub bios_image_lba: Option<u32>,
    /// LBA of the EFI boot image.
    pub efi_image_lba: Option<u32>,
    /// Size of the EFI boot image in bytes.
    pub efi_image_bytes: Option<u64>,
}

/// Collects files and boot settings, then writes the image.
#[derive(Clone, Debug)]
pub struct IsoBuilder {
    volume_id: String,
    date: DateTime,
    tree: Tree,
    sources: Vec<FileSource>,
    bios: Option<BiosBoot>,
    efi: Option<String>,
    hybrid: Option<Isohybrid>,
}

impl IsoBuilder {
    /// Starts an image. `volume_id` must be 1–32 d-characters (`A`–`Z`,
    /// `0`–`9`, `_`); `epoch` (seconds since 1970, UTC) dates everything.
    pub fn new(volume_id: &str, epoch: u64) -> Result<Self, IsoError> {
        volume::validate_volume_id(volume_id)?;
        Ok(IsoBuilder {
            volume_id: volume_id.to_owned(),
            date: DateTime::from_epoch(epoch)?,
            tree: Tree::new(),
            sources: Vec::new(),
            bios: None,
            efi: None,
            hybrid: None,
        })
    }

    /// Adds a file at `path` (e.g. `"pool/main/l/linux.deb"`, a leading `/`
    /// is optional), creating missing parent directories with mode 0755.
    /// `mode` holds the permission bits (masked with 0o7777).
    ///
    /// For [`FileSource::Path`] the size is read now; files over
    /// [`MAX_FILE_SIZE`] are rejected.
    pub fn add_file(&mut self, path: &str, source: FileSource, mode: u32) -> Result<(), IsoError> {
        let len = match &source {
            FileSource::Bytes(bytes) => bytes.len() as u64,
            FileSource::Path(host) => {
                let meta = std::fs::metadata(host).map_err(|source| IsoError::Source {
                    path: host.clone(),
                    source,
                })?;
                if !meta.is_file() {
                    return Err(IsoError::Source {
                        path: host.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "not a regular file",
                        ),
                    });
                }
                meta.len()
            }
        };
        if len > MAX_FILE_SIZE {
            return Err(IsoError::FileTooLarge {
                path: path.to_owned(),
                size: len,
                max: MAX_FILE_SIZE,
            });
        }
        self.tree
            .add_file(path, Content::Source(self.sources.len()), len, mode)?;
        self.sources.push(source);
        Ok(())
    }

    /// Adds an (empty) directory, or changes the mode of an existing one.
    pub fn add_dir(&mut self, path: &str, mode: u32) -> Result<(), IsoError> {
        self.tree.add_dir(path, mode).map(|_| ())
    }

    /// Sets the BIOS El Torito entry (the default entry of the catalog).
    /// Paths are checked when the image is written.
    pub fn set_bios_boot(&mut self, boot: BiosBoot) {
        self.bios = Some(boot);
    }

    /// Sets the UEFI El Torito entry: `image` is the path of a FAT image
    /// added with [`IsoBuilder::add_file`]. Without a BIOS entry the catalog
    /// is written but not listed in the directory tree.
    pub fn set_efi_boot(&mut self, image: &str) {
        self.efi = Some(image.to_owned());
    }

    /// Requests an isohybrid MBR; needs a BIOS entry.
    pub fn set_isohybrid(&mut self, hybrid: Isohybrid) {
        self.hybrid = Some(hybrid);
    }

    /// Computes the layout without writing (the same checks as `write_to`,
    /// except reading path sources for the boot info table).
    pub fn plan(&self) -> Result<IsoReport, IsoError> {
        let layout = self.layout()?;
        Ok(IsoReport {
            total_bytes: u64::from(layout.total_blocks) * bytes::BLOCK as u64,
            volume_blocks: layout.total_blocks,
            catalog_lba: layout.catalog_lba,
            bios_image_lba: layout.bios.map(|b| b.lba),
            efi_image_lba: layout.efi.map(|e| e.lba),
            efi_image_bytes: layout.efi.map(|e| e.len),
        })
    }

    /// Writes the image front to back. Pass a buffered writer for speed.
    pub fn write_to<W: Write>(&self, out: W) -> Result<IsoReport, IsoError> {
        let layout = self.layout()?;
        writer::write_image(
            &layout,
            &writer::WriteInputs {
                volume_id: &self.volume_id,
                date: self.date,
                sources: &self.sources,
                hybrid: self.hybrid.as_ref(),
            },
            out,
        )
    }

    fn layout(&self) -> Result<Layout, IsoError> {
        Layout::plan(
            &self.tree,
            self.date.record_bytes(),
            &BootRequest {
                bios: self.bios.as_ref(),
                efi: self.efi.as_deref(),
                isohybrid: self.hybrid.is_some(),
            },
        )
    }
}
