//! Boot loaders for the installed disk. Pure: byte patching and text
//! rendering only; the caller reads the files and writes the disk.
//!
//! The disk has one FAT32 boot partition (label `APPBOOT`, partition 1)
//! holding `/vmlinuz`, `/initrd.img`, `grub.cfg` and the handover record:
//!
//! - **BIOS** (msdos label): GRUB i386-pc. [`bios_boot_code`] patches
//!   `boot.img` into the MBR's 440 code bytes and points `core.img`'s first
//!   sector (diskboot.img) at the rest of itself; the caller writes core.img
//!   into the gap before partition 1 (normally LBA 1). The core image has
//!   prefix `(,msdos1)/boot/grub` built in, so GRUB reads
//!   `/boot/grub/grub.cfg` ([`grub_cfg_paths`]).
//! - **UEFI** (GPT, partition 1 = ESP): Debian's signed shim and GRUB at the
//!   removable path `EFI/BOOT/` and in `EFI/debian/` ([`boot_files`]). The
//!   signed GRUB has prefix `/EFI/debian` on the device it was loaded from and
//!   its embedded config sources `$prefix/grub.cfg`; `EFI/BOOT/grub.cfg` is
//!   its fallback (`$cmdpath/grub.cfg`) when `EFI/debian` is missing.
//!
//! Layouts follow GRUB 2.06 `include/grub/i386/pc/boot.h` and
//! `grub-core/boot/i386/pc/diskboot.S`; all integers are little-endian.

use std::fmt::Write as _;

use crate::facts::Firmware;

/// Bytes per disk sector (the layouts below assume 512).
pub const SECTOR: usize = 512;
/// Bytes of MBR boot code: everything before the disk signature (0x1B8).
pub const MBR_CODE_LEN: usize = 0x1B8;

/// `boot.img`: LBA of core.img's first sector, u64 (`GRUB_BOOT_MACHINE_KERNEL_SECTOR`).
const BOOT_KERNEL_SECTOR: usize = 0x5C;
/// `boot.img`: BIOS drive number, u8; 0xFF = the drive in DL (`GRUB_BOOT_MACHINE_BOOT_DRIVE`).
const BOOT_DRIVE: usize = 0x64;
/// `boot.img`: a 2-byte `jmp` over the "DL looks like a floppy, use 0x80" fix-up
/// (`GRUB_BOOT_MACHINE_DRIVE_CHECK`); grub-install NOPs it for hard disks.
const BOOT_DRIVE_CHECK: usize = 0x66;
/// Boot signature 0x55 0xAA at the end of a boot sector.
const SIGNATURE: usize = 0x1FE;
/// diskboot.img: the first blocklist entry `{u64 start, u16 len, u16 segment}`
/// (`0x200 - GRUB_BOOT_MACHINE_LIST_SIZE`).
const BLOCKLIST: usize = 0x1F4;
/// diskboot.img: the next (older) entry's u16 length; 0 ends the list.
const BLOCKLIST_NEXT_LEN: usize = 0x1F0;
/// Load segment of the sectors after diskboot.img (`GRUB_BOOT_MACHINE_KERNEL_SEG + 0x20`).
pub const CORE_SEGMENT: u16 = 0x0820;

/// Where the xtask-built files are in the installer's initramfs.
pub const BOOT_IMG_SOURCE: &str = "/usr/share/installer/boot/i386-pc/boot.img";
/// The BIOS core image (see `xtask/src/bootfiles.rs` for how it is made).
pub const CORE_IMG_SOURCE: &str = "/usr/share/installer/boot/i386-pc/core.img";
/// Debian's signed shim (`shimx64.efi.signed`).
pub const SHIM_SOURCE: &str = "/usr/share/installer/boot/efi/shimx64.efi";
/// Debian's signed GRUB for installed disks (`grubx64.efi.signed`, prefix `/EFI/debian`).
pub const GRUB_EFI_SOURCE: &str = "/usr/share/installer/boot/efi/grubx64.efi";

/// Why the boot code cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootError {
    /// `boot.img` is not a 512-byte boot sector.
    #[error("boot.img is not a 512-byte boot sector ending in 55 AA ({len} bytes)")]
    BootImg {
        /// Its length.
        len: usize,
    },
    /// `core.img` does not start with GRUB's diskboot.img.
    #[error("core.img is not a GRUB i386-pc disk core image: {0}")]
    CoreImg(&'static str),
    /// LBA 0 is the MBR itself.
    #[error("core.img cannot go to LBA 0 (the MBR)")]
    CoreAtMbr,
    /// The core image is longer than diskboot.img's one blocklist entry can load.
    #[error("core.img has {sectors} sectors; one blocklist entry loads at most 65536")]
    CoreTooLong {
        /// Its length in sectors.
        sectors: u64,
    },
    /// The core image would overlap the first partition.
    #[error(
        "core.img needs LBAs {core_lba}..{end} but the first partition starts at LBA {first_partition_lba}"
    )]
    DoesNotFit {
        /// Where core.img starts.
        core_lba: u64,
        /// One past its last sector.
        end: u64,
        /// Where the first partition starts.
        first_partition_lba: u64,
    },
}

/// The patched BIOS boot code: MBR code plus the core image for the gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiosBoot {
    /// The 440 bytes for MBR offsets 0x000..0x1B8 (disk signature and partition
    /// table stay as they are on the disk).
    pub mbr_code: [u8; MBR_CODE_LEN],
    /// core.img, patched and zero-padded to whole sectors, for LBA `core_lba`.
    pub core: Vec<u8>,
    /// Where `core` goes.
    pub core_lba: u64,
}

impl BiosBoot {
    /// Length of `core` in sectors.
    pub fn sectors(&self) -> u64 {
        (self.core.len() / SECTOR) as u64
    }

    /// One past the last LBA `core` occupies.
    pub fn end_lba(&self) -> u64 {
        self.core_lba + self.sectors()
    }

    /// Refuses a layout where core.img would reach into the first partition.
    pub fn check_fits(&self, first_partition_lba: u64) -> Result<(), BootError> {
        if self.end_lba() > first_partition_lba {
            return Err(BootError::DoesNotFit {
                core_lba: self.core_lba,
                end: self.end_lba(),
                first_partition_lba,
            });
        }
        Ok(())
    }

    /// Copies the boot code over an MBR sector's first 440 bytes, keeping the
    /// disk signature, the partition table and the 55 AA signature.
    pub fn patch_mbr(&self, mbr: &mut [u8; SECTOR]) {
        mbr[..MBR_CODE_LEN].copy_from_slice(&self.mbr_code);
    }
}

/// Patches GRUB's `boot.img` and `core.img` for a core image at `core_lba`:
///
/// - boot.img: u64 at 0x5C = `core_lba`; u8 at 0x64 = 0xFF (boot from the
///   drive the BIOS passed in DL); the drive check at 0x66 becomes two NOPs,
///   as grub-install does for hard disks (BIOSes that pass DL < 0x80 get 0x80);
///   the rest is kept. Only the first 440 bytes are returned.
/// - core.img sector 0 (diskboot.img): blocklist at 0x1F4 = u64 `core_lba + 1`,
///   u16 `sectors - 1`, u16 segment 0x0820.
pub fn bios_boot_code(
    boot_img: &[u8],
    core_img: &[u8],
    core_lba: u64,
) -> Result<BiosBoot, BootError> {
    if boot_img.len() != SECTOR || boot_img[SIGNATURE..] != [0x55, 0xAA] {
        return Err(BootError::BootImg {
            len: boot_img.len(),
        });
    }
    if core_lba == 0 {
        return Err(BootError::CoreAtMbr);
    }
    if core_img.len() <= SECTOR {
        return Err(BootError::CoreImg(
            "shorter than two sectors (diskboot.img plus the rest)",
        ));
    }
    if u16_at(core_img, BLOCKLIST + 10) != CORE_SEGMENT {
        return Err(BootError::CoreImg("no load segment 0x0820 at 0x1FE"));
    }
    if u16_at(core_img, BLOCKLIST_NEXT_LEN) != 0 {
        return Err(BootError::CoreImg("the blocklist has more than one entry"));
    }
    let sectors = core_img.len().div_ceil(SECTOR) as u64;
    let rest = u16::try_from(sectors - 1).map_err(|_| BootError::CoreTooLong { sectors })?;

    let mut mbr_code = [0u8; MBR_CODE_LEN];
    mbr_code.copy_from_slice(&boot_img[..MBR_CODE_LEN]);
    mbr_code[BOOT_KERNEL_SECTOR..BOOT_KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    mbr_code[BOOT_DRIVE] = 0xFF;
    mbr_code[BOOT_DRIVE_CHECK..BOOT_DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);

    let mut core = core_img.to_vec();
    core.resize(sectors as usize * SECTOR, 0);
    core[BLOCKLIST..BLOCKLIST + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    core[BLOCKLIST + 8..BLOCKLIST + 10].copy_from_slice(&rest.to_le_bytes());
    core[BLOCKLIST + 10..BLOCKLIST + 12].copy_from_slice(&CORE_SEGMENT.to_le_bytes());
    Ok(BiosBoot {
        mbr_code,
        core,
        core_lba,
    })
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// The console the appliance (and GRUB) use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootConsole {
    /// First serial port at 115200 baud (installed from the serial console).
    Serial,
    /// The VGA/framebuffer console.
    Vga,
}

/// What goes into `grub.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubParams {
    /// The product name: the menu entry's title.
    pub product: String,
    /// The appliance's kernel command line without the console, e.g.
    /// `appliance.boot=LABEL=APPBOOT`.
    pub cmdline: String,
    /// Which console GRUB and the kernel use.
    pub console: BootConsole,
    /// The boot partition's FAT volume id (serial number), which GRUB
    /// searches for as `XXXX-XXXX`.
    pub fat_volume_id: u32,
    /// Seconds the menu waits; 0: the menu is hidden and the entry boots at
    /// once (Esc, pressed while GRUB starts, shows the menu).
    pub timeout_secs: u32,
}

/// GRUB's spelling of a FAT volume id: `7E57-0001`.
pub fn fat_uuid(volume_id: u32) -> String {
    format!("{:04X}-{:04X}", volume_id >> 16, volume_id & 0xFFFF)
}

/// The `grub.cfg` for BIOS and UEFI alike (same text at every path of
/// [`grub_cfg_paths`]). Kernel `/vmlinuz`, initrd `/initrd.img`, both on the
/// partition with the FAT volume id, which the kernel command line carries
/// too (`appliance.boot_volume=`, replacing any the manifest has) so the
/// appliance finds the same partition. Command-line words that GRUB's script
/// parser would interpret are single-quoted (note that GRUB itself escapes
/// `"` and `\` with a backslash when it passes words to the kernel).
pub fn grub_cfg(params: &GrubParams) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {} boot menu, written by the installer.",
        params.product.replace(['\n', '\r'], " ")
    );
    let console_arg = match params.console {
        BootConsole::Serial => {
            s.push_str("serial --unit=0 --speed=115200\n");
            s.push_str("terminal_input serial console\n");
            s.push_str("terminal_output serial console\n");
            "console=ttyS0,115200"
        }
        BootConsole::Vga => "console=tty0",
    };
    let _ = writeln!(s, "set timeout={}", params.timeout_secs);
    if params.timeout_secs == 0 {
        // No menu and no wait; Esc pressed while GRUB starts still shows it.
        s.push_str("set timeout_style=hidden\n");
    }
    s.push_str("set default=0\n");
    let _ = writeln!(
        s,
        "search --no-floppy --fs-uuid --set=root {}",
        fat_uuid(params.fat_volume_id)
    );
    let _ = writeln!(s, "menuentry {} {{", quote(&params.product));
    s.push_str("\techo \"Loading from $root\"\n");
    let volume_param = format!(
        "{}={}",
        handover::BOOT_VOLUME_PARAM,
        fat_uuid(params.fat_volume_id)
    );
    let prefix = format!("{}=", handover::BOOT_VOLUME_PARAM);
    let words: Vec<String> = params
        .cmdline
        .split_whitespace()
        .filter(|w| !w.starts_with(&prefix))
        .chain([volume_param.as_str(), console_arg])
        .map(quote)
        .collect();
    let _ = writeln!(s, "\tlinux /vmlinuz {}", words.join(" "));
    s.push_str("\tinitrd /initrd.img\n");
    s.push_str("}\n");
    s
}

/// A word as GRUB's script parser reads it back unchanged.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        let clean = word.replace(['\n', '\r'], " ");
        format!("'{}'", clean.replace('\'', r"'\''"))
    }
}

/// Where `grub.cfg` goes in the boot partition (paths without a leading `/`).
pub fn grub_cfg_paths(firmware: Firmware) -> &'static [&'static str] {
    match firmware {
        Firmware::Bios => &["boot/grub/grub.cfg"],
        Firmware::Uefi => &["EFI/debian/grub.cfg", "EFI/BOOT/grub.cfg"],
    }
}

/// A file to copy from the initramfs into the boot partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFile {
    /// Path in the FAT, without a leading `/`.
    pub dest: &'static str,
    /// Path in the installer's initramfs.
    pub source: &'static str,
}

/// The boot loader files of the boot partition besides `grub.cfg`. UEFI: shim
/// at the removable path `EFI/BOOT/BOOTX64.EFI` with the signed GRUB beside it
/// (shim loads `grubx64.efi` from its own directory; no `fbx64.efi`, so shim
/// never runs the fallback), plus the same pair in `EFI/debian/`. BIOS:
/// nothing (core.img lives outside the file system).
pub fn boot_files(firmware: Firmware) -> Vec<BootFile> {
    match firmware {
        Firmware::Bios => Vec::new(),
        Firmware::Uefi => vec![
            BootFile {
                dest: "EFI/BOOT/BOOTX64.EFI",
                source: SHIM_SOURCE,
            },
            BootFile {
                dest: "EFI/BOOT/grubx64.efi",
                source: GRUB_EFI_SOURCE,
            },
            BootFile {
                dest: "EFI/debian/shimx64.efi",
                source: SHIM_SOURCE,
            },
            BootFile {
                dest: "EFI/debian/grubx64.efi",
                source: GRUB_EFI_SOURCE,
            },
        ],
    }
}

#[cfg(test)]
mod tests;
