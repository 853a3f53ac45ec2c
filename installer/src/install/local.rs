//! Components carried on the install medium (`cargo xtask iso --offline`):
//! `repo/objects/sha256/<hex>` on the ISO. They are verified exactly like a
//! download — stored size and SHA-256 over the stored bytes, content size
//! after decompression — and nothing is trusted before the end. A copy that
//! does not verify is reported and the component is downloaded instead.

use super::apply::Components;
use super::Progress;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use vendor_repo::manifest::{Component, Compression};

/// Bytes per read.
const BUF: usize = 64 * 1024;

/// Counts what reaches the sink.
struct Counted<'a> {
    sink: &'a mut dyn Write,
    n: u64,
}

impl Write for Counted<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.sink.write(b)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

/// Streams `stored` (the object's bytes) into `sink` (its content),
/// verifying size, SHA-256 and content size; returns the stored size.
pub fn copy_verified(
    stored: &mut dyn Read,
    c: &Component,
    sink: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, String> {
    let mut hash = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; BUF];
    let mut out = Counted { sink, n: 0 };
    {
        let mut gz;
        let writer: &mut dyn Write = match c.compression {
            Compression::None => &mut out,
            Compression::Gzip => {
                gz = flate2::write::MultiGzDecoder::new(&mut out);
                &mut gz
            }
        };
        loop {
            let n = stored.read(&mut buf).map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > c.size {
                return Err(format!(
                    "{}: more than the {} bytes the manifest names",
                    c.name, c.size
                ));
            }
            hash.update(&buf[..n]);
            writer
                .write_all(&buf[..n])
                .map_err(|e| format!("writing {}: {e}", c.name))?;
            progress(total);
        }
        writer
            .flush()
            .map_err(|e| format!("writing {}: {e}", c.name))?;
    }
    let sha = hex(&hash.finalize());
    if total != c.size || sha != c.sha256 {
        return Err(format!(
            "{}: {total} bytes with SHA-256 {sha}; the manifest says {} bytes, {}",
            c.name, c.size, c.sha256
        ));
    }
    if out.n != c.content_size {
        return Err(format!(
            "{}: {} bytes after decompression; the manifest says {}",
            c.name, out.n, c.content_size
        ));
    }
    Ok(total)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Components from the medium when it has them, else from `remote`.
pub struct LocalFirst<R> {
    /// The mounted medium's root, if it carries a repository.
    pub root: Option<PathBuf>,
    /// Where everything else comes from.
    pub remote: R,
    /// Components that came from the medium, by name.
    pub used: Vec<String>,
}

impl<R: Components> LocalFirst<R> {
    fn local_path(&self, c: &Component) -> Option<PathBuf> {
        let p = self.root.as_ref()?.join("repo").join(c.object_path());
        p.is_file().then_some(p)
    }
}

impl<R: Components> Components for LocalFirst<R> {
    fn fetch(
        &mut self,
        c: &Component,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<u64, (String, String)> {
        if let Some(path) = self.local_path(c) {
            // First check the stored bytes without writing anything, so a
            // damaged copy can fall back to the download with a clean sink.
            match std::fs::File::open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|mut f| stored_matches(&mut f, c))
            {
                Ok(()) => {
                    let mut f = std::fs::File::open(&path).map_err(|e| {
                        (format!("{}: {e}", path.display()), MEDIUM_HINT.to_string())
                    })?;
                    let n = copy_verified(&mut f, c, sink, &mut |done| {
                        progress(&Progress {
                            stage: "copy".into(),
                            component: Some(c.name.clone()),
                            done,
                            total: c.size,
                            line: format!(
                                "{} from the installation medium: {done}/{} bytes",
                                c.name, c.size
                            ),
                        })
                    })
                    .map_err(|e| (e, MEDIUM_HINT.to_string()))?;
                    self.used.push(c.name.clone());
                    return Ok(n);
                }
                Err(e) => crate::log::warn(&format!(
                    "the installation medium's copy of {} is unusable, downloading it instead: {e}",
                    c.name
                )),
            }
        }
        self.remote.fetch(c, sink, progress)
    }
}

/// What to do when the medium fails while its copy is being written.
const MEDIUM_HINT: &str = "the installation medium could not be read: write the ISO to the USB stick again (or check the virtual CD), then retry";

/// Size and SHA-256 of the stored bytes, without writing anything.
fn stored_matches(stored: &mut dyn Read, c: &Component) -> Result<(), String> {
    let mut hash = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; BUF];
    loop {
        let n = stored.read(&mut buf).map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hash.update(&buf[..n]);
    }
    let sha = hex(&hash.finalize());
    if total == c.size && sha == c.sha256 {
        Ok(())
    } else {
        Err(format!(
            "{total} bytes with SHA-256 {sha}, not {} bytes with {}",
            c.size, c.sha256
        ))
    }
}

/// True if `root` carries a repository (`repo/objects`).
pub fn has_repo(root: &Path) -> bool {
    root.join("repo/objects").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vendor_repo::manifest::Destination;

    fn component(data: &[u8], compression: Compression, content: u64) -> Component {
        Component {
            name: "rootfs".into(),
            kind: vendor_repo::manifest::ComponentKind::PartitionImage,
            size: data.len() as u64,
            sha256: hex(&Sha256::digest(data)),
            compression,
            content_size: content,
            destination: Destination {
                partition: "data".into(),
                path: None,
            },
        }
    }

    #[test]
    fn plain_and_gzip_copies_verify() {
        let data = vec![42u8; 300_000];
        let c = component(&data, Compression::None, data.len() as u64);
        let mut out = Vec::new();
        assert_eq!(
            copy_verified(&mut &data[..], &c, &mut out, &mut |_| {}),
            Ok(300_000)
        );
        assert_eq!(out, data);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let stored = gz.finish().unwrap();
        let c = component(&stored, Compression::Gzip, data.len() as u64);
        let mut out = Vec::new();
        copy_verified(&mut &stored[..], &c, &mut out, &mut |_| {}).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn a_changed_byte_or_size_is_refused() {
        let data = vec![7u8; 1000];
        let c = component(&data, Compression::None, 1000);
        let mut bad = data.clone();
        bad[500] ^= 1;
        let e = copy_verified(&mut &bad[..], &c, &mut Vec::new(), &mut |_| {}).unwrap_err();
        assert!(e.contains("the manifest says 1000 bytes"), "{e}");
        let e = copy_verified(&mut &data[..999], &c, &mut Vec::new(), &mut |_| {}).unwrap_err();
        assert!(e.contains("999 bytes"), "{e}");
        let mut c2 = c.clone();
        c2.content_size = 5;
        let e = copy_verified(&mut &data[..], &c2, &mut Vec::new(), &mut |_| {}).unwrap_err();
        assert!(e.contains("after decompression"), "{e}");
    }
}
