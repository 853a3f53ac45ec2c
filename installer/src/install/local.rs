//! Components carried on the install medium (`cargo xtask iso --offline`):
//! `repo/objects/sha256/<hex>` on the ISO. They go through the same
//! verifying stack as a download ([`super::verify_io`]: stored size and
//! the chunk list's SHA-256 over the stored bytes, content size after
//! decompression), and
//! nothing is trusted before the end. A copy that does not verify is
//! reported and the component is downloaded instead.

use super::apply::{ComponentError, Components};
use super::verify_io::{self, CopyError, Verifier, VerifyError};
use super::{Progress, Stage};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use vendor_repo::manifest::Component;

/// Streams `stored` (the object's bytes) into `sink` (its content),
/// verifying size, chunks and content size; returns the stored size.
pub fn copy_verified(
    stored: &mut dyn Read,
    c: &Component,
    sink: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, CopyError> {
    Ok(verify_io::copy(stored, Verifier::new(c, sink), progress)?.stored)
}

/// Why the medium's copy failed while it was being written (it verified
/// just before).
#[derive(Debug, thiserror::Error)]
pub enum MediumError {
    /// The object could not be opened.
    #[error("{}: {source}", .path.display())]
    Open {
        /// The object on the medium.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Reading, verifying or writing it failed.
    #[error("{}: {source}", .path.display())]
    Copy {
        /// The object on the medium.
        path: PathBuf,
        /// Why.
        source: CopyError,
    },
}

impl MediumError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            MediumError::Copy {
                source: CopyError::Verify(e @ VerifyError::Sink { .. }),
                ..
            } => e.hint(),
            _ => MEDIUM_HINT.into(),
        }
    }
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
    ) -> Result<u64, ComponentError> {
        if let Some(path) = self.local_path(c) {
            // First check the stored bytes without writing anything, so a
            // damaged copy can fall back to the download with a clean sink.
            match std::fs::File::open(&path)
                .map_err(CopyError::Read)
                .and_then(|mut f| stored_matches(&mut f, c))
            {
                Ok(()) => {
                    let mut f = std::fs::File::open(&path).map_err(|source| MediumError::Open {
                        path: path.clone(),
                        source,
                    })?;
                    let n = copy_verified(&mut f, c, sink, &mut |done| {
                        progress(&Progress {
                            stage: Stage::Copy,
                            component: Some(c.name.clone()),
                            done,
                            total: c.size,
                            line: format!(
                                "{} from the installation medium: {done}/{} bytes",
                                c.name, c.size
                            ),
                        })
                    })
                    .map_err(|source| MediumError::Copy { path, source })?;
                    self.used.push(c.name.clone());
                    return Ok(n);
                }
                Err(e) => crate::log::warn(&format!(
                    "the installation medium's copy of {} is unusable, downloading it instead: {}: {e}",
                    c.name,
                    path.display()
                )),
            }
        }
        self.remote.fetch(c, sink, progress)
    }
}

/// What to do when the medium fails while its copy is being written.
const MEDIUM_HINT: &str = "the installation medium could not be read: write the ISO to the USB stick again (or check the virtual CD), then retry";

/// Size and SHA-256 of the stored bytes, without writing anything.
fn stored_matches(stored: &mut dyn Read, c: &Component) -> Result<(), CopyError> {
    verify_io::copy(stored, Verifier::stored_only(c), &mut |_| {}).map(|_| ())
}

/// True if `root` carries a repository (`repo/objects`).
pub fn has_repo(root: &Path) -> bool {
    root.join("repo/objects").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use vendor_repo::manifest::{Chunks, Compression, Destination, CHUNK_SIZE};

    fn component(data: &[u8], compression: Compression, content: u64) -> Component {
        Component {
            name: "rootfs".into(),
            kind: vendor_repo::manifest::ComponentKind::PartitionImage,
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(data)),
            compression,
            content_size: content,
            destination: Destination {
                partition: "data".into(),
                path: None,
            },
            chunks: Chunks::of(data, CHUNK_SIZE),
        }
    }

    #[test]
    fn plain_and_gzip_copies_verify() {
        let data = vec![42u8; 300_000];
        let c = component(&data, Compression::None, data.len() as u64);
        let mut out = Vec::new();
        assert_eq!(
            copy_verified(&mut &data[..], &c, &mut out, &mut |_| {}).unwrap(),
            300_000
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
        let e = copy_verified(&mut &bad[..], &c, &mut Vec::new(), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("SHA-256 mismatch in chunk 0 "), "{e}");
        let e = copy_verified(&mut &data[..999], &c, &mut Vec::new(), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("999 bytes, the manifest says 1000"), "{e}");
        let mut c2 = c.clone();
        c2.content_size = 5;
        let e = copy_verified(&mut &data[..], &c2, &mut Vec::new(), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("the content has 1000 bytes or more"), "{e}");
        assert!(stored_matches(&mut &data[..], &c).is_ok());
        assert!(stored_matches(&mut &bad[..], &c).is_err());
    }
}
