//! Reading a built ISO for boot scenarios: files out of it (the kernel and
//! initramfs for direct kernel boot), and variants of it.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::qemu::DirectKernel;

const BLOCK: u64 = 2048;

/// Copies `iso` to `out` with the El Torito boot record hidden: the volume
/// descriptor at block 17 is overwritten with a copy of the set terminator.
///
/// Why: OVMF also boots El Torito images on *hard disks* (EDK2's partition
/// driver tries El Torito before MBR), so a plain ISO written to a USB stick
/// would boot in QEMU even if our 0xEF MBR partition were broken. Hiding the
/// record forces the firmware through the MBR partition, as real firmware
/// that ignores El Torito on disks does.
pub fn hide_el_torito(iso: &Path, out: &Path) -> Result<()> {
    fs::copy(iso, out)
        .with_context(|| format!("copying {} to {}", iso.display(), out.display()))?;
    let mut f = fs::OpenOptions::new().read(true).write(true).open(out)?;
    let brvd = read_block(&mut f, 17)?;
    if brvd[0] != 0 || &brvd[1..6] != b"CD001" || !brvd[7..].starts_with(b"EL TORITO SPECIFICATION")
    {
        bail!(
            "{}: block 17 is not an El Torito boot record",
            iso.display()
        );
    }
    let terminator = (18..64)
        .map(|lba| read_block(&mut f, lba).map(|b| (lba, b)))
        .find(|r| matches!(r, Ok((_, b)) if b[0] == 255 && &b[1..6] == b"CD001") || r.is_err())
        .transpose()?
        .map(|(_, b)| b)
        .with_context(|| format!("{}: no volume descriptor set terminator", iso.display()))?;
    f.seek(SeekFrom::Start(17 * BLOCK))?;
    f.write_all(&terminator)?;
    f.sync_all()?;
    Ok(())
}

/// The file `path` of `iso`, read with our own ISO reader.
pub fn read_file(iso: &Path, path: &str) -> Result<Vec<u8>> {
    let mut f = File::open(iso).with_context(|| format!("opening {}", iso.display()))?;
    let e = image_builder::iso::read::find_file(&mut f, path)
        .with_context(|| format!("{path} in {}", iso.display()))?;
    let mut data = vec![0u8; e.len as usize];
    f.seek(SeekFrom::Start(u64::from(e.lba) * BLOCK))?;
    f.read_exact(&mut data)?;
    Ok(data)
}

/// Copies the file `path` out of `iso` to `to`.
pub fn extract_file(iso: &Path, path: &str, to: &Path) -> Result<()> {
    let data = read_file(iso, path)?;
    fs::write(to, data).with_context(|| format!("writing {}", to.display()))
}

/// Direct kernel boot of the kernel and initramfs `iso` carries: both are
/// copied to `dir` (`vmlinuz`, `initrd.img`) unless already there — a
/// scenario that boots the same ISO several times copies them once.
pub fn direct_kernel(iso: &Path, dir: &Path, cmdline: String) -> Result<DirectKernel> {
    let (kernel, initrd) = (dir.join("vmlinuz"), dir.join("initrd.img"));
    if !kernel.exists() || !initrd.exists() {
        extract_file(iso, "boot/vmlinuz", &kernel)?;
        extract_file(iso, "boot/initrd.img", &initrd)?;
    }
    Ok(DirectKernel {
        kernel,
        initrd,
        cmdline,
    })
}

fn read_block(f: &mut File, lba: u64) -> Result<Vec<u8>> {
    let mut b = vec![0u8; BLOCK as usize];
    f.seek(SeekFrom::Start(lba * BLOCK))?;
    f.read_exact(&mut b)
        .with_context(|| format!("reading block {lba}"))?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vd(kind: u8, id: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 2048];
        b[0] = kind;
        b[1..6].copy_from_slice(b"CD001");
        b[6] = 1;
        b[7..7 + id.len()].copy_from_slice(id);
        b
    }

    #[test]
    fn extracts_a_file_by_its_path() {
        use image_builder::iso::{FileSource, IsoBuilder};
        let dir = std::env::temp_dir().join(format!("qt-extract-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut b = IsoBuilder::new("T", 1_700_000_000).unwrap();
        let kernel: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        b.add_file("boot/vmlinuz", FileSource::Bytes(kernel.clone()), 0o444)
            .unwrap();
        b.add_file(
            "boot/initrd.img",
            FileSource::Bytes(b"initrd".to_vec()),
            0o444,
        )
        .unwrap();
        let mut img = Vec::new();
        b.write_to(&mut img).unwrap();
        fs::write(dir.join("t.iso"), img).unwrap();
        extract_file(&dir.join("t.iso"), "boot/vmlinuz", &dir.join("k")).unwrap();
        assert_eq!(fs::read(dir.join("k")).unwrap(), kernel);
        let k = direct_kernel(&dir.join("t.iso"), &dir, "console=ttyS0".into()).unwrap();
        assert_eq!(fs::read(&k.kernel).unwrap(), kernel);
        assert_eq!(fs::read(&k.initrd).unwrap(), b"initrd");
        assert_eq!(k.cmdline, "console=ttyS0");
        let err = extract_file(&dir.join("t.iso"), "boot/missing", &dir.join("m")).unwrap_err();
        assert!(format!("{err:#}").contains("boot/missing"), "{err:#}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hides_the_boot_record() {
        let dir = std::env::temp_dir().join(format!("qt-media-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut img = vec![0u8; 16 * 2048];
        img.extend(vd(1, b"PVD"));
        img.extend(vd(0, b"EL TORITO SPECIFICATION"));
        img.extend(vd(255, b""));
        img.extend(vec![7u8; 2048]);
        fs::write(dir.join("a.iso"), &img).unwrap();
        hide_el_torito(&dir.join("a.iso"), &dir.join("b.iso")).unwrap();
        let out = fs::read(dir.join("b.iso")).unwrap();
        assert_eq!(out.len(), img.len());
        assert_eq!(
            &out[17 * 2048..18 * 2048],
            &img[18 * 2048..19 * 2048],
            "block 17 now holds the terminator"
        );
        assert_eq!(&out[..17 * 2048], &img[..17 * 2048]);
        assert_eq!(&out[18 * 2048..], &img[18 * 2048..]);
        // A second pass refuses: block 17 is no longer a boot record.
        let err = hide_el_torito(&dir.join("b.iso"), &dir.join("c.iso")).unwrap_err();
        assert!(err.to_string().contains("not an El Torito boot record"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
