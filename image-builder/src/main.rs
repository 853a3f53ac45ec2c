//! `image-builder`: a thin command line over the library, for vendors who want
//! to build images from a directory tree without xtask, and for benchmarks.
//! `image-builder --help` lists the commands and options ([`flags`]).
//! `--epoch` defaults to SOURCE_DATE_EPOCH, else 0.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use image_builder::cpio::{Archive, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL};
use image_builder::fat::{build_esp, EspOptions};
use image_builder::iso::{BiosBoot, FileSource, IsoBuilder, Isohybrid};

use flags::{Compression, ImageBuilderCmd};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

mod flags {
    use std::path::PathBuf;
    use std::str::FromStr;

    xflags::xflags! {
        /// Bootable images from a directory tree.
        cmd image-builder {
            /// An ISO 9660 image (Rock Ridge, El Torito, isohybrid MBR) of DIR.
            cmd iso {
                /// The volume id (the installer finds its medium by it).
                required --volume-id id: String
                required --out file: PathBuf
                /// Timestamp of every entry (default SOURCE_DATE_EPOCH, else 0).
                optional --epoch n: u64
                /// BIOS boot image (isolinux), a path inside DIR.
                optional --bios image: String
                /// Boot catalog path inside DIR (default boot.cat).
                optional --catalog path: String
                /// EFI boot image (a FAT image), a path inside DIR.
                optional --efi image: String
                /// isohybrid MBR template (isohdpfx.bin).
                optional --isohybrid-mbr file: PathBuf
                required dir: PathBuf
            }

            /// A newc initramfs of DIR, compressed.
            cmd initramfs {
                required --out file: PathBuf
                /// Timestamp of every entry (default SOURCE_DATE_EPOCH, else 0).
                optional --epoch n: u64
                /// zstd (default) or gzip.
                optional --compression kind: Compression
                required dir: PathBuf
            }

            /// A FAT EFI system partition image holding the given files.
            cmd esp {
                required --out file: PathBuf
                /// Timestamp of every entry (default SOURCE_DATE_EPOCH, else 0).
                optional --epoch n: u64
                /// Volume id in hex (default: the epoch's low 32 bits).
                optional --volume-id hex: String
                /// Volume label (default EFIBOOT).
                optional --label name: String
                /// DEST=SRC: the host file SRC as DEST in the image.
                repeated files: String
            }
        }
    }

    /// How `initramfs` compresses the archive.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Compression {
        Zstd,
        Gzip,
    }

    impl FromStr for Compression {
        type Err = String;

        fn from_str(s: &str) -> Result<Compression, String> {
            match s {
                "zstd" => Ok(Compression::Zstd),
                "gzip" => Ok(Compression::Gzip),
                other => Err(format!("`{other}`: use zstd or gzip")),
            }
        }
    }
}

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).collect();
    let cmd = match parse(args) {
        Ok(cmd) => cmd,
        Err(e) if e.is_help() => {
            println!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("image-builder: {e}; see `image-builder --help`");
            return ExitCode::FAILURE;
        }
    };
    match run(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("image-builder: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: Vec<OsString>) -> xflags::Result<ImageBuilderCmd> {
    flags::ImageBuilder::from_vec(args).map(|f| f.subcommand)
}

/// `--epoch`, else SOURCE_DATE_EPOCH, else 0.
fn epoch(flag: Option<u64>) -> Result<u64> {
    if let Some(n) = flag {
        return Ok(n);
    }
    let v = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_else(|_| "0".into());
    v.parse()
        .map_err(|_| format!("epoch `{v}` is not a whole number of seconds").into())
}

fn run(cmd: ImageBuilderCmd) -> Result<()> {
    match cmd {
        ImageBuilderCmd::Iso(f) => {
            let epoch = epoch(f.epoch)?;
            let catalog = f.catalog.unwrap_or_else(|| "boot.cat".into());
            let mut iso = IsoBuilder::new(&f.volume_id, epoch)?;
            for (rel, path, mode) in walk(&f.dir)? {
                iso.add_file(&rel, FileSource::Path(path), mode)?;
            }
            if let Some(image) = f.bios {
                iso.set_bios_boot(BiosBoot::isolinux(&image, &catalog));
            }
            if let Some(image) = f.efi {
                iso.set_efi_boot(&image);
            }
            if let Some(mbr) = f.isohybrid_mbr {
                iso.set_isohybrid(Isohybrid::new(&fs::read(&mbr)?, epoch as u32)?);
            }
            let file = fs::File::create(&f.out)?;
            let report = iso.write_to(std::io::BufWriter::with_capacity(1 << 20, file))?;
            println!("{} ({} bytes)", f.out.display(), report.total_bytes);
        }
        ImageBuilderCmd::Initramfs(f) => {
            let epoch = epoch(f.epoch)?;
            let mut a = Archive::new(epoch)?;
            for (rel, path, mode) in walk(&f.dir)? {
                a.add_file_from_path(&rel, mode, path)?;
            }
            let w = std::io::BufWriter::new(fs::File::create(&f.out)?);
            match f.compression.unwrap_or(Compression::Zstd) {
                Compression::Gzip => {
                    a.write_gzip_to(w, DEFAULT_GZIP_LEVEL)?;
                }
                Compression::Zstd => {
                    a.write_zstd_to(w, DEFAULT_ZSTD_LEVEL)?;
                }
            }
            println!("{}", f.out.display());
        }
        ImageBuilderCmd::Esp(f) => {
            let epoch = epoch(f.epoch)?;
            let volume_id = match f.volume_id {
                Some(h) => u32::from_str_radix(&h, 16)
                    .map_err(|_| format!("--volume-id `{h}` is not hex"))?,
                None => epoch as u32,
            };
            let label = f.label.unwrap_or_else(|| "EFIBOOT".into());
            let mut files = Vec::new();
            for spec in &f.files {
                let (dest, src) = spec
                    .split_once('=')
                    .ok_or_else(|| format!("`{spec}`: expected DEST=SRC"))?;
                files.push((
                    dest.to_string(),
                    fs::read(src).map_err(|e| format!("{src}: {e}"))?,
                ));
            }
            let img = build_esp(
                &files,
                &EspOptions {
                    volume_id,
                    volume_label: label,
                    epoch,
                },
            )?;
            fs::write(&f.out, img)?;
            println!("{}", f.out.display());
        }
    }
    Ok(())
}

/// Regular files below `dir`, sorted: (relative path, host path, mode).
fn walk(dir: &Path) -> Result<Vec<(String, PathBuf, u32)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let e = e?;
            let ft = e.file_type()?;
            let p = e.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let mode = e.metadata()?.permissions().mode() & 0o7777;
                let rel = p.strip_prefix(dir)?.to_string_lossy().into_owned();
                out.push((rel, p, mode));
            } else if ft.is_symlink() || ft.is_char_device() || ft.is_block_device() {
                return Err(format!("{}: only regular files are supported", p.display()).into());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn parses_the_benchmark_command_line() {
        let line = "iso --volume-id V --epoch 7 --out o.iso --bios isolinux/isolinux.bin \
                    --catalog isolinux/boot.cat --efi boot/grub/efi.img \
                    --isohybrid-mbr isohdpfx.bin tree";
        let ImageBuilderCmd::Iso(f) = parse(words(line)).unwrap() else {
            panic!("not iso")
        };
        assert_eq!(f.volume_id, "V");
        assert_eq!(f.epoch, Some(7));
        assert_eq!(f.catalog.as_deref(), Some("isolinux/boot.cat"));
        assert_eq!(f.isohybrid_mbr, Some(PathBuf::from("isohdpfx.bin")));
        assert_eq!(f.dir, PathBuf::from("tree"));

        let line = "esp --out e.img --label BOOT EFI/BOOT/BOOTX64.EFI=shim.efi a=b";
        let ImageBuilderCmd::Esp(f) = parse(words(line)).unwrap() else {
            panic!("not esp")
        };
        assert_eq!(f.files, ["EFI/BOOT/BOOTX64.EFI=shim.efi", "a=b"]);
        assert_eq!(f.label.as_deref(), Some("BOOT"));

        let line = "initramfs --out i.img --compression gzip root";
        let ImageBuilderCmd::Initramfs(f) = parse(words(line)).unwrap() else {
            panic!("not initramfs")
        };
        assert_eq!(f.compression, Some(Compression::Gzip));
    }

    #[test]
    fn mistakes_and_help() {
        for line in [
            "",
            "iso --out o.iso tree",
            "iso --volume-id V --out o.iso a b",
            "initramfs --out i --compression lz4 root",
            "esp --out e --epoch soon",
            "disk",
        ] {
            let e = parse(words(line)).unwrap_err();
            assert!(!e.is_help(), "`{line}`: {e}");
        }
        let help = parse(words("esp --help")).unwrap_err();
        assert!(help.is_help());
        for want in ["image-builder iso", "--isohybrid-mbr <file>", "<files>..."] {
            assert!(help.to_string().contains(want), "no `{want}` in:\n{help}");
        }
    }
}
