//! Unpacking Debian packages without dpkg: a `.deb` is an `ar` archive whose
//! `data.tar.{xz,gz}` member holds the files.
//!
//! Written by hand because the ar format is 60-byte headers and nothing else;
//! the tar and xz parts use the `tar` and `xz2` crates.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Context, Result};

const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
const AR_HEADER_LEN: usize = 60;

/// One member of an ar archive: its name and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArMember {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// Lists the members of an ar archive.
pub fn ar_members<R: Read + Seek>(mut r: R) -> Result<Vec<ArMember>> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).context("reading the ar magic")?;
    if &magic != AR_MAGIC {
        bail!("not a Debian package: the file does not start with `!<arch>`");
    }
    let mut members = Vec::new();
    let mut pos = 8u64;
    loop {
        let mut header = [0u8; AR_HEADER_LEN];
        match r.read(&mut header[..1])? {
            0 => break,
            _ => r
                .read_exact(&mut header[1..])
                .context("truncated ar member header")?,
        }
        // 0..16 name, 16..28 mtime, 28..34 uid, 34..40 gid, 40..48 mode,
        // 48..58 size (decimal ASCII), 58..60 "`\n".
        if &header[58..60] != b"`\n" {
            bail!("corrupt ar member header at byte {pos}");
        }
        let name = String::from_utf8_lossy(&header[0..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size_text = String::from_utf8_lossy(&header[48..58]).trim().to_string();
        let size: u64 = size_text
            .parse()
            .with_context(|| format!("ar member `{name}` has a bad size field `{size_text}`"))?;
        let offset = pos + AR_HEADER_LEN as u64;
        members.push(ArMember { name, offset, size });
        // Members are padded to an even offset.
        pos = offset + size + (size & 1);
        r.seek(SeekFrom::Start(pos))?;
    }
    Ok(members)
}

/// Extracts the files of `deb` into `dest` (which must not exist yet). Symlinks
/// and modes are kept; paths that would leave `dest` are refused by `tar`.
pub fn unpack(deb: &Path, dest: &Path) -> Result<()> {
    let file = File::open(deb).with_context(|| format!("opening {}", deb.display()))?;
    let mut reader = BufReader::new(file);
    let members = ar_members(&mut reader).with_context(|| format!("reading {}", deb.display()))?;
    let data = members
        .iter()
        .find(|m| m.name.starts_with("data.tar"))
        .with_context(|| format!("{} has no data.tar member", deb.display()))?;
    reader.seek(SeekFrom::Start(data.offset))?;
    let limited = reader.take(data.size);
    let decoder: Box<dyn Read> = match data.name.as_str() {
        "data.tar.xz" => Box::new(xz2::read::XzDecoder::new(limited)),
        "data.tar.gz" => Box::new(flate2::read::GzDecoder::new(limited)),
        "data.tar" => Box::new(limited),
        other => bail!(
            "{}: unsupported member `{other}` (expected data.tar.xz or .gz)",
            deb.display()
        ),
    };
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut archive = tar::Archive::new(decoder);
    archive.set_preserve_permissions(true);
    archive
        .unpack(dest)
        .with_context(|| format!("unpacking {} of {}", data.name, deb.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = AR_MAGIC.to_vec();
        for (name, data) in members {
            let header = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                100644,
                data.len()
            );
            assert_eq!(header.len(), AR_HEADER_LEN);
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    #[test]
    fn lists_members_with_padding() {
        let bytes = ar(&[
            ("debian-binary", b"2.0\n"),
            ("odd", b"abc"),
            ("data.tar", b"xy"),
        ]);
        let m = ar_members(Cursor::new(&bytes)).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[0],
            ArMember {
                name: "debian-binary".into(),
                offset: 68,
                size: 4
            }
        );
        // 68 + 4 = 72; header 60 -> data at 132; 3 bytes + 1 pad -> 136; +60 -> 196.
        assert_eq!(
            m[1],
            ArMember {
                name: "odd".into(),
                offset: 132,
                size: 3
            }
        );
        assert_eq!(
            m[2],
            ArMember {
                name: "data.tar".into(),
                offset: 196,
                size: 2
            }
        );
    }

    #[test]
    fn rejects_non_ar() {
        let err = ar_members(Cursor::new(b"PK\x03\x04zipzip".to_vec())).unwrap_err();
        assert!(err.to_string().contains("does not start with `!<arch>`"));
    }

    #[test]
    fn unpacks_gzip_data_member() {
        let mut tar_bytes = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tar_bytes);
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "./usr/lib/x/hello.txt", &b"hello"[..])
                .unwrap();
            b.finish().unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar_bytes).unwrap();
        let gz = gz.finish().unwrap();
        let deb = ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", b""),
            ("data.tar.gz", &gz),
        ]);
        let dir = std::env::temp_dir().join(format!("xtask-deb-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let deb_path = dir.join("t.deb");
        std::fs::write(&deb_path, deb).unwrap();
        unpack(&deb_path, &dir.join("root")).unwrap();
        assert_eq!(
            std::fs::read(dir.join("root/usr/lib/x/hello.txt")).unwrap(),
            b"hello"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
