//! `image-builder`: a thin command line over the library, for vendors who want
//! to build images from a directory tree without xtask, and for benchmarks.
//!
//! ```text
//! image-builder iso --volume-id ID --out FILE [--epoch N] [--bios IMG --catalog CAT]
//!                   [--efi IMG] [--isohybrid-mbr FILE] DIR
//! image-builder initramfs --out FILE [--epoch N] [--compression zstd|gzip] DIR
//! image-builder esp --out FILE [--epoch N] [--volume-id HEX] [--label NAME] DEST=SRC...
//! ```
//! `--epoch` defaults to SOURCE_DATE_EPOCH, else 0.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use image_builder::cpio::{Archive, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL};
use image_builder::fat::{build_esp, EspOptions};
use image_builder::iso::{BiosBoot, FileSource, IsoBuilder, Isohybrid};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("image-builder: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Options `--name value` and positional words.
struct Opts {
    pairs: Vec<(String, String)>,
    rest: Vec<String>,
}

impl Opts {
    fn parse(words: Vec<String>) -> Result<Opts> {
        let mut pairs = Vec::new();
        let mut rest = Vec::new();
        let mut it = words.into_iter();
        while let Some(w) = it.next() {
            if let Some(name) = w.strip_prefix("--") {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                pairs.push((name.to_string(), v));
            } else {
                rest.push(w);
            }
        }
        Ok(Opts { pairs, rest })
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.pairs.iter().position(|(n, _)| n == name)?;
        Some(self.pairs.remove(i).1)
    }

    fn need(&mut self, name: &str) -> Result<String> {
        self.take(name)
            .ok_or_else(|| format!("--{name} is required").into())
    }

    fn epoch(&mut self) -> Result<u64> {
        let v = match self.take("epoch") {
            Some(v) => v,
            None => std::env::var("SOURCE_DATE_EPOCH").unwrap_or_else(|_| "0".into()),
        };
        v.parse()
            .map_err(|_| format!("epoch `{v}` is not a whole number of seconds").into())
    }

    fn done(self) -> Result<Vec<String>> {
        if let Some((n, _)) = self.pairs.first() {
            return Err(format!("unknown option --{n}").into());
        }
        Ok(self.rest)
    }
}

fn run(mut words: Vec<String>) -> Result<()> {
    if words.is_empty() {
        return Err("usage: image-builder iso|initramfs|esp … (see the crate docs)".into());
    }
    let sub = words.remove(0);
    let mut o = Opts::parse(words)?;
    match sub.as_str() {
        "iso" => {
            let volume_id = o.need("volume-id")?;
            let out = PathBuf::from(o.need("out")?);
            let epoch = o.epoch()?;
            let bios = o.take("bios");
            let catalog = o.take("catalog").unwrap_or_else(|| "boot.cat".into());
            let efi = o.take("efi");
            let mbr = o.take("isohybrid-mbr");
            let dir = one_dir(o.done()?)?;
            let mut iso = IsoBuilder::new(&volume_id, epoch)?;
            for (rel, path, mode) in walk(&dir)? {
                iso.add_file(&rel, FileSource::Path(path), mode)?;
            }
            if let Some(image) = bios {
                iso.set_bios_boot(BiosBoot::isolinux(&image, &catalog));
            }
            if let Some(image) = efi {
                iso.set_efi_boot(&image);
            }
            if let Some(mbr) = mbr {
                iso.set_isohybrid(Isohybrid::new(&fs::read(&mbr)?, epoch as u32)?);
            }
            let f = fs::File::create(&out)?;
            let report = iso.write_to(std::io::BufWriter::with_capacity(1 << 20, f))?;
            println!("{} ({} bytes)", out.display(), report.total_bytes);
        }
        "initramfs" => {
            let out = PathBuf::from(o.need("out")?);
            let epoch = o.epoch()?;
            let compression = o.take("compression").unwrap_or_else(|| "zstd".into());
            if !["zstd", "gzip"].contains(&compression.as_str()) {
                return Err(format!("--compression `{compression}`: use zstd or gzip").into());
            }
            let dir = one_dir(o.done()?)?;
            let mut a = Archive::new(epoch)?;
            for (rel, path, mode) in walk(&dir)? {
                a.add_file_from_path(&rel, mode, path)?;
            }
            let f = std::io::BufWriter::new(fs::File::create(&out)?);
            if compression == "gzip" {
                a.write_gzip_to(f, DEFAULT_GZIP_LEVEL)?;
            } else {
                a.write_zstd_to(f, DEFAULT_ZSTD_LEVEL)?;
            }
            println!("{}", out.display());
        }
        "esp" => {
            let out = PathBuf::from(o.need("out")?);
            let epoch = o.epoch()?;
            let volume_id = match o.take("volume-id") {
                Some(h) => u32::from_str_radix(&h, 16)
                    .map_err(|_| format!("--volume-id `{h}` is not hex"))?,
                None => epoch as u32,
            };
            let label = o.take("label").unwrap_or_else(|| "EFIBOOT".into());
            let mut files = Vec::new();
            for spec in o.done()? {
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
            fs::write(&out, img)?;
            println!("{}", out.display());
        }
        other => return Err(format!("unknown command `{other}` (iso, initramfs, esp)").into()),
    }
    Ok(())
}

fn one_dir(rest: Vec<String>) -> Result<PathBuf> {
    match rest.as_slice() {
        [d] => Ok(PathBuf::from(d)),
        _ => Err("expected exactly one source directory".into()),
    }
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
