//! newc ("SVR4 with no CRC", `cpio -H newc`) archive writer for the initramfs, and
//! deterministic zstd or gzip around it.
//!
//! Format (kernel `init/initramfs.c`): each entry is a 110-byte ASCII header —
//! `070701` then 13 fields of 8 upper-case hex digits (ino, mode, uid, gid, nlink,
//! mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize incl. NUL,
//! check) — then the NUL-terminated name padded so header + name is a multiple of 4,
//! then the data padded to 4. A symlink's data is its target. The archive ends with
//! an entry named `TRAILER!!!` and, like GNU cpio, is zero-padded to 512 bytes.
//!
//! Determinism: entries are written sorted by path (so every directory precedes its
//! contents), inodes are numbered 1, 2, … in that order, uid/gid are 0 and every
//! mtime is the epoch given to [`Archive::new`].

mod error;
mod gzip;
mod zst;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

pub use error::CpioError;
pub use gzip::{gzip_writer, DEFAULT_GZIP_LEVEL};
pub use zst::{zstd_compress, DEFAULT_ZSTD_LEVEL};

/// Mode of directories created implicitly as parents.
pub const IMPLICIT_DIR_MODE: u32 = 0o755;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;
const MAGIC: &[u8; 6] = b"070701";
const TRAILER: &str = "TRAILER!!!";
const HEADER_LEN: u64 = 110;
const BLOCK: u64 = 512;

/// Where a regular file's contents come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Bytes(Vec<u8>),
    /// Read when the archive is written.
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir { implicit: bool },
    File(Source),
    Symlink(String),
    CharDevice { major: u32, minor: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Permission bits only (`0o7777`).
    perm: u32,
    kind: Kind,
}

/// A newc archive under construction. Paths are given with or without a leading `/`
/// and stored without it (like `find . | cpio -H newc` minus the `./`).
#[derive(Debug, Clone)]
pub struct Archive {
    mtime: u32,
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// An empty archive whose entries will all carry `epoch` (e.g. SOURCE_DATE_EPOCH)
    /// as mtime.
    pub fn new(epoch: u64) -> Result<Self, CpioError> {
        let mtime = u32::try_from(epoch).map_err(|_| CpioError::EpochOutOfRange { epoch })?;
        Ok(Self {
            mtime,
            entries: BTreeMap::new(),
        })
    }

    /// Adds a directory. Adding a directory that was created implicitly as a parent
    /// just sets its mode; adding it twice explicitly is an error.
    pub fn add_dir(&mut self, path: &str, mode: u32) -> Result<(), CpioError> {
        let path = normalize(path)?;
        check_mode(&path, mode)?;
        self.create_parents(&path)?;
        match self.entries.get_mut(&path) {
            Some(Entry {
                perm,
                kind: Kind::Dir { implicit },
            }) if *implicit => {
                *perm = mode;
                *implicit = false;
                Ok(())
            }
            Some(_) => Err(CpioError::Duplicate { path }),
            None => {
                self.entries.insert(
                    path,
                    Entry {
                        perm: mode,
                        kind: Kind::Dir { implicit: false },
                    },
                );
                Ok(())
            }
        }
    }

    /// Adds a regular file with the given contents.
    pub fn add_file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<(), CpioError> {
        self.insert(path, mode, Kind::File(Source::Bytes(data)))
    }

    /// Adds a regular file whose contents are read from `src` when the archive is written.
    pub fn add_file_from_path(
        &mut self,
        path: &str,
        mode: u32,
        src: PathBuf,
    ) -> Result<(), CpioError> {
        self.insert(path, mode, Kind::File(Source::Path(src)))
    }

    /// Adds a symbolic link (mode 0o777, as on Linux) pointing at `target`.
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        if target.is_empty() || target.contains('\0') {
            return Err(CpioError::InvalidPath {
                path: target.to_owned(),
                reason: "a symlink target must be non-empty and free of NUL bytes",
            });
        }
        self.insert(path, 0o777, Kind::Symlink(target.to_owned()))
    }

    /// Adds a character device node, e.g. `dev/console` (5, 1).
    pub fn add_char_device(
        &mut self,
        path: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.insert(path, mode, Kind::CharDevice { major, minor })
    }

    /// The stored paths, in the order they will be written.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Writes the archive; returns the number of bytes written (a multiple of 512).
    pub fn write_to<W: Write>(&self, w: W) -> Result<u64, CpioError> {
        let mut w = Counting { inner: w, count: 0 };
        for (ino, (path, entry)) in (1u32..).zip(&self.entries) {
            self.write_entry(&mut w, ino, path, entry)?;
        }
        let trailer = Header {
            nlink: 1,
            ..Header::default()
        };
        write_header(&mut w, &trailer, TRAILER)?;
        let tail = (BLOCK - w.count % BLOCK) % BLOCK;
        write_zeros(&mut w, tail)?;
        w.inner.flush().map_err(CpioError::Write)?;
        Ok(w.count)
    }

    /// Writes the archive gzip-compressed at `level` (0–9, see [`DEFAULT_GZIP_LEVEL`]),
    /// deterministically (header mtime 0, no file name). Returns the compressed size.
    pub fn write_gzip_to<W: Write>(&self, w: W, level: u32) -> Result<u64, CpioError> {
        let mut counting = Counting { inner: w, count: 0 };
        let mut gz = gzip_writer(&mut counting, level);
        self.write_to(&mut gz)?;
        gz.finish().map_err(CpioError::Write)?;
        counting.inner.flush().map_err(CpioError::Write)?;
        Ok(counting.count)
    }

    /// Writes the archive zstd-compressed at `level` (1–22, see
    /// [`DEFAULT_ZSTD_LEVEL`]) as one frame with content size and checksum.
    /// Returns the compressed size.
    pub fn write_zstd_to<W: Write>(&self, w: W, level: i32) -> Result<u64, CpioError> {
        let mut plain = Vec::new();
        self.write_to(&mut plain)?;
        let mut counting = Counting { inner: w, count: 0 };
        zstd_compress(&plain, &mut counting, level).map_err(CpioError::Write)?;
        counting.inner.flush().map_err(CpioError::Write)?;
        Ok(counting.count)
    }

    fn insert(&mut self, path: &str, mode: u32, kind: Kind) -> Result<(), CpioError> {
        let path = normalize(path)?;
        check_mode(&path, mode)?;
        if self.entries.contains_key(&path) {
            return Err(CpioError::Duplicate { path });
        }
        self.create_parents(&path)?;
        self.entries.insert(path, Entry { perm: mode, kind });
        Ok(())
    }

    /// Creates every missing ancestor of `path` as an implicit 0o755 directory.
    fn create_parents(&mut self, path: &str) -> Result<(), CpioError> {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            let parent = &path[..end + slash];
            match self.entries.get(parent) {
                Some(Entry {
                    kind: Kind::Dir { .. },
                    ..
                }) => {}
                Some(_) => {
                    return Err(CpioError::ParentNotDirectory {
                        path: path.to_owned(),
                        parent: parent.to_owned(),
                    })
                }
                None => {
                    self.entries.insert(
                        parent.to_owned(),
                        Entry {
                            perm: IMPLICIT_DIR_MODE,
                            kind: Kind::Dir { implicit: true },
                        },
                    );
                }
            }
            end += slash + 1;
        }
        Ok(())
    }

    fn write_entry<W: Write>(
        &self,
        w: &mut Counting<W>,
        ino: u32,
        path: &str,
        entry: &Entry,
    ) -> Result<(), CpioError> {
        let mut header = Header {
            ino,
            mtime: self.mtime,
            nlink: 1,
            ..Header::default()
        };
        match &entry.kind {
            Kind::Dir { .. } => {
                header.mode = S_IFDIR | entry.perm;
                header.nlink = 2;
                write_header(w, &header, path)
            }
            Kind::Symlink(target) => {
                header.mode = S_IFLNK | entry.perm;
                header.filesize = size32(path, target.len() as u64)?;
                write_header(w, &header, path)?;
                write_data(w, target.as_bytes())
            }
            Kind::CharDevice { major, minor } => {
                header.mode = S_IFCHR | entry.perm;
                header.rdevmajor = *major;
                header.rdevminor = *minor;
                write_header(w, &header, path)
            }
            Kind::File(Source::Bytes(data)) => {
                header.mode = S_IFREG | entry.perm;
                header.filesize = size32(path, data.len() as u64)?;
                write_header(w, &header, path)?;
                write_data(w, data)
            }
            Kind::File(Source::Path(src)) => {
                header.mode = S_IFREG | entry.perm;
                let source_err = |source| CpioError::Source {
                    path: src.clone(),
                    source,
                };
                let file = File::open(src).map_err(source_err)?;
                let expected = file.metadata().map_err(source_err)?.len();
                header.filesize = size32(path, expected)?;
                write_header(w, &header, path)?;
                let mut reader = CopyReader {
                    inner: file.take(expected),
                    error: None,
                };
                let copied = io::copy(&mut reader, w);
                if let Some(source) = reader.error {
                    return Err(source_err(source));
                }
                let copied = copied.map_err(CpioError::Write)?;
                if copied != expected {
                    return Err(CpioError::SourceChanged {
                        path: src.clone(),
                        expected,
                        actual: copied,
                    });
                }
                write_zeros(w, pad4(expected))
            }
        }
    }
}

/// The numeric fields of a newc header (all written as 8 upper-case hex digits).
#[derive(Debug, Default, Clone, Copy)]
struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    filesize: u32,
    rdevmajor: u32,
    rdevminor: u32,
}

fn write_header<W: Write>(w: &mut Counting<W>, h: &Header, name: &str) -> Result<(), CpioError> {
    let namesize = name.len() as u64 + 1;
    let mut buf = Vec::with_capacity(HEADER_LEN as usize + name.len() + 4);
    buf.extend_from_slice(MAGIC);
    let fields = [
        h.ino,
        h.mode,
        0, // uid
        0, // gid
        h.nlink,
        h.mtime,
        h.filesize,
        0, // devmajor
        0, // devminor
        h.rdevmajor,
        h.rdevminor,
        namesize as u32,
        0, // check
    ];
    for f in fields {
        buf.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    buf.extend_from_slice(name.as_bytes());
    buf.push(0);
    buf.resize(buf.len() + pad4(HEADER_LEN + namesize) as usize, 0);
    w.write_all(&buf).map_err(CpioError::Write)
}

fn write_data<W: Write>(w: &mut Counting<W>, data: &[u8]) -> Result<(), CpioError> {
    w.write_all(data).map_err(CpioError::Write)?;
    write_zeros(w, pad4(data.len() as u64))
}

fn write_zeros<W: Write>(w: &mut Counting<W>, n: u64) -> Result<(), CpioError> {
    io::copy(&mut io::repeat(0).take(n), w)
        .map(|_| ())
        .map_err(CpioError::Write)
}

/// Bytes of padding needed after `len` bytes to reach a multiple of 4.
fn pad4(len: u64) -> u64 {
    (4 - len % 4) % 4
}

fn size32(path: &str, size: u64) -> Result<u32, CpioError> {
    u32::try_from(size).map_err(|_| CpioError::FileTooLarge {
        path: path.to_owned(),
        size,
    })
}

fn check_mode(path: &str, mode: u32) -> Result<(), CpioError> {
    if mode & !0o7777 != 0 {
        return Err(CpioError::InvalidMode {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Strips leading `/`, collapses repeated `/`, rejects `.`, `..`, NUL and empty paths.
fn normalize(path: &str) -> Result<String, CpioError> {
    let invalid = |reason| CpioError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(invalid("'.' and '..' components are not allowed"));
        }
        parts.push(part);
    }
    if parts.is_empty() {
        return Err(invalid("names no file (empty or the root)"));
    }
    let joined = parts.join("/");
    if joined == TRAILER {
        return Err(invalid("TRAILER!!! is reserved for the end marker"));
    }
    Ok(joined)
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Remembers a read error so it can be told apart from a write error after `io::copy`.
struct CopyReader<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R: Read> Read for CopyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.error = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// Decompresses an initramfs written by [`Archive::write_zstd_to`] or
/// [`Archive::write_gzip_to`], told apart by their magic bytes; anything else
/// is returned as it is (an uncompressed newc archive).
pub fn decompress(data: &[u8]) -> io::Result<Vec<u8>> {
    if data.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        return ::zstd::decode_all(data);
    }
    if data.starts_with(&[0x1F, 0x8B]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
        return Ok(out);
    }
    Ok(data.to_vec())
}

#[cfg(test)]
mod tests;
