//! Deterministic zstd for the initramfs. The Debian kernel (`CONFIG_RD_ZSTD`)
//! unpacks zstd faster than gzip, and at level 9 the archive is also smaller
//! than gzip's best; that is time saved on every boot under emulation.

use std::io::Write;

/// Default compression level: 9. Higher levels shrink the installer's
/// initramfs by a few percent but take seconds longer to build.
pub const DEFAULT_ZSTD_LEVEL: i32 = 9;

/// Compresses `data` as one zstd frame with the content size and a checksum
/// in it (the kernel checks the checksum), single-threaded so the bytes
/// depend only on `data`, `level` and the libzstd version.
pub fn zstd_compress<W: Write>(data: &[u8], inner: W, level: i32) -> std::io::Result<W> {
    let mut enc = ::zstd::stream::Encoder::new(inner, level)?;
    enc.include_checksum(true)?;
    enc.include_contentsize(true)?;
    enc.set_pledged_src_size(Some(data.len() as u64))?;
    enc.write_all(data)?;
    enc.finish()
}
