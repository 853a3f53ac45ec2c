//! Deterministic gzip (the Debian kernel decompresses gzip initramfs segments).

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};

/// Default compression level: best (9).
pub const DEFAULT_GZIP_LEVEL: u32 = 9;

/// A gzip encoder with a fixed header: mtime 0, no file name, no comment, OS byte
/// 255 ("unknown"), so the output depends only on the input bytes and `level`
/// (0–9; larger values are clamped to 9).
pub fn gzip_writer<W: Write>(inner: W, level: u32) -> GzEncoder<W> {
    GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(inner, Compression::new(level.min(9)))
}
