//! The installed disk's boot loader files as the installer has them: read
//! out of the ISO's initramfs (`/usr/share/installer/boot/`), for the
//! scenarios that lay out or write an installed disk themselves.

use std::path::Path;

use anyhow::{ensure, Context, Result};

use crate::harness::media;

/// The boot loader files of the ISO's initramfs, by path under
/// `usr/share/installer/boot/`.
#[derive(Debug, Clone)]
pub struct BootFiles {
    files: Vec<(String, Vec<u8>)>,
}

impl BootFiles {
    /// Reads `boot/initrd.img` out of `iso` and keeps the boot loader files.
    pub fn from_iso(iso: &Path) -> Result<BootFiles> {
        let packed = media::read_file(iso, "boot/initrd.img")?;
        let cpio = image_builder::cpio::decompress(&packed)
            .context("decompressing the installer's initrd.img")?;
        let files = read_newc(&cpio)?
            .into_iter()
            .filter(|(p, _)| p.starts_with("usr/share/installer/boot/"))
            .collect::<Vec<_>>();
        ensure!(
            !files.is_empty(),
            "the ISO's initramfs has no usr/share/installer/boot/ (built before the boot loader files existed?)"
        );
        Ok(BootFiles { files })
    }

    /// The file whose initramfs path is `source` (absolute, as
    /// `install::bootloader` names them).
    pub fn get(&self, source: &str) -> Result<&[u8]> {
        let rel = source.trim_start_matches('/');
        self.files
            .iter()
            .find(|(p, _)| p == rel)
            .map(|(_, d)| d.as_slice())
            .with_context(|| format!("the ISO's initramfs has no {source}"))
    }
}

/// Regular files of a newc archive as (path, contents); stops at the trailer.
pub fn read_newc(mut b: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let pad4 = |n: usize| (4 - n % 4) % 4;
    let mut out = Vec::new();
    loop {
        ensure!(
            b.len() >= 110 && &b[..6] == b"070701",
            "not a newc cpio header"
        );
        let field = |i: usize| -> Result<usize> {
            let s = std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i])?;
            Ok(usize::from_str_radix(s, 16)?)
        };
        let (mode, size, namesize) = (field(1)?, field(6)?, field(11)?);
        let name_end = 110 + namesize;
        ensure!(b.len() >= name_end, "truncated cpio name");
        let name = String::from_utf8_lossy(&b[110..name_end - 1]).into_owned();
        let data_start = name_end + pad4(name_end);
        let data_end = data_start + size;
        ensure!(b.len() >= data_end, "truncated cpio data of {name}");
        if name == "TRAILER!!!" {
            return Ok(out);
        }
        if mode & 0o170000 == 0o100000 {
            out.push((name, b[data_start..data_end].to_vec()));
        }
        b = &b[(data_end + pad4(data_end)).min(b.len())..];
    }
}

impl installer::install::apply::BootSources for BootFiles {
    fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self.get(path)
            .map(<[u8]>::to_vec)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_newc_files() {
        let mut a = image_builder::cpio::Archive::new(0).unwrap();
        a.add_file(
            "usr/share/installer/boot/i386-pc/core.img",
            0o644,
            vec![1, 2, 3],
        )
        .unwrap();
        a.add_symlink("bin/sh", "busybox").unwrap();
        a.add_file("init", 0o755, b"x".to_vec()).unwrap();
        let mut raw = Vec::new();
        a.write_to(&mut raw).unwrap();
        let files = read_newc(&raw).unwrap();
        assert_eq!(
            files,
            [
                ("init".to_string(), b"x".to_vec()),
                (
                    "usr/share/installer/boot/i386-pc/core.img".to_string(),
                    vec![1, 2, 3]
                ),
            ]
        );
    }
}
