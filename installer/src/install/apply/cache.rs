//! A small write-back page cache between fatfs and the boot partition.
//!
//! fatfs reads and writes the FAT one 4-byte entry at a time and file data
//! one cluster at a time (512 bytes on a FAT32 of 256 MiB), each a seek and
//! a system call on the block device: counting the free clusters of a fresh
//! FAT32 is half a million reads, and an 8 MiB kernel some 50,000 writes.
//! Under emulation that made the boot partition cost more than the download
//! of its files. Here every access lands in 4 KiB pages kept in memory (at
//! most [`PageCache::new`]'s `max_pages`, the least recently used written
//! back first), so the device sees whole pages, in order on [`flush`].
//!
//! A page is read from the device only when a byte of it is read or only
//! part of one of its sectors is written: sectors written whole are
//! remembered, so streaming a file into fresh clusters reads nothing back.
//! Nothing reaches the device before [`flush`] or an eviction; the caller
//! flushes before it uses the device any other way.
//!
//! [`flush`]: std::io::Write::flush

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Bytes per page.
pub const PAGE: usize = 4096;
const SECTOR: usize = 512;
const SECTORS: usize = PAGE / SECTOR;
const ALL: u8 = u8::MAX;

struct Page {
    data: Box<[u8]>,
    /// Sectors whose bytes are current (read from the device or written
    /// whole); bit `i` is sector `i` of the page.
    known: u8,
    dirty: bool,
    used: u64,
}

/// See the module documentation.
pub struct PageCache<S> {
    inner: S,
    len: u64,
    pos: u64,
    pages: BTreeMap<u64, Page>,
    max_pages: usize,
    clock: u64,
}

impl<S: Read + Write + Seek> PageCache<S> {
    /// Caches `inner` (its length is where it ends), keeping at most
    /// `max_pages` pages (at least 1).
    pub fn new(mut inner: S, max_pages: usize) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        Ok(PageCache {
            inner,
            len,
            pos: 0,
            pages: BTreeMap::new(),
            max_pages: max_pages.max(1),
            clock: 0,
        })
    }

    /// The bytes of page `index` on the device (zeros past its end).
    fn load(&mut self, index: u64, into: &mut [u8]) -> io::Result<()> {
        let start = index * PAGE as u64;
        let n = (self.len - start).min(PAGE as u64) as usize;
        self.inner.seek(SeekFrom::Start(start))?;
        self.inner.read_exact(&mut into[..n])?;
        into[n..].fill(0);
        Ok(())
    }

    /// Page `index`, with every sector current when `whole`.
    fn page(&mut self, index: u64, whole: bool) -> io::Result<&mut Page> {
        if !self.pages.contains_key(&index) {
            if self.pages.len() >= self.max_pages {
                self.evict()?;
            }
            self.pages.insert(
                index,
                Page {
                    data: vec![0u8; PAGE].into_boxed_slice(),
                    known: 0,
                    dirty: false,
                    used: 0,
                },
            );
        }
        let needs_read = whole && self.pages.get(&index).is_some_and(|p| p.known != ALL);
        if needs_read {
            let mut fresh = vec![0u8; PAGE];
            self.load(index, &mut fresh)?;
            if let Some(p) = self.pages.get_mut(&index) {
                for s in (0..SECTORS).filter(|s| p.known & (1 << s) == 0) {
                    let r = s * SECTOR..(s + 1) * SECTOR;
                    p.data[r.clone()].copy_from_slice(&fresh[r]);
                }
                p.known = ALL;
            }
        }
        self.clock += 1;
        let clock = self.clock;
        let p = self
            .pages
            .get_mut(&index)
            .ok_or_else(|| io::Error::other("page cache: page vanished"))?;
        p.used = clock;
        Ok(p)
    }

    /// Writes back and drops the least recently used page.
    fn evict(&mut self) -> io::Result<()> {
        let Some(index) = self
            .pages
            .iter()
            .min_by_key(|(_, p)| p.used)
            .map(|(i, _)| *i)
        else {
            return Ok(());
        };
        self.write_back(index)?;
        self.pages.remove(&index);
        Ok(())
    }

    /// Writes page `index` to the device if it is dirty.
    fn write_back(&mut self, index: u64) -> io::Result<()> {
        if !self.pages.get(&index).is_some_and(|p| p.dirty) {
            return Ok(());
        }
        // Sectors never read nor written whole take the device's bytes.
        self.page(index, true)?;
        let start = index * PAGE as u64;
        let n = (self.len - start).min(PAGE as u64) as usize;
        let Some(p) = self.pages.get_mut(&index) else {
            return Ok(());
        };
        self.inner.seek(SeekFrom::Start(start))?;
        self.inner.write_all(&p.data[..n])?;
        p.dirty = false;
        Ok(())
    }

    /// Where the current position is: page, offset in it, bytes left in it.
    fn at(&self) -> (u64, usize, usize) {
        let index = self.pos / PAGE as u64;
        let off = (self.pos % PAGE as u64) as usize;
        let left = (PAGE - off).min((self.len - self.pos) as usize);
        (index, off, left)
    }
}

impl<S: Read + Write + Seek> Read for PageCache<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let (index, off, left) = self.at();
        let n = left.min(buf.len());
        let p = self.page(index, true)?;
        buf[..n].copy_from_slice(&p.data[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<S: Read + Write + Seek> Write for PageCache<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("more data than the partition holds ({} bytes)", self.len),
            ));
        }
        let (index, off, left) = self.at();
        let n = left.min(buf.len());
        // Sectors this write covers whole need nothing from the device;
        // the others need their current bytes (once).
        let (mut covered, mut partial) = (0u8, 0u8);
        for sector in off / SECTOR..(off + n).div_ceil(SECTOR) {
            let whole = off <= sector * SECTOR && off + n >= (sector + 1) * SECTOR;
            if whole {
                covered |= 1 << sector;
            } else {
                partial |= 1 << sector;
            }
        }
        let needs_device = partial != 0
            && self
                .pages
                .get(&index)
                .is_none_or(|p| p.known & partial != partial);
        let p = self.page(index, needs_device)?;
        p.data[off..off + n].copy_from_slice(&buf[..n]);
        p.known |= covered;
        p.dirty = true;
        self.pos += n as u64;
        Ok(n)
    }

    /// Writes every dirty page back, in order, then flushes the device.
    fn flush(&mut self) -> io::Result<()> {
        let dirty: Vec<u64> = self
            .pages
            .iter()
            .filter(|(_, p)| p.dirty)
            .map(|(i, _)| *i)
            .collect();
        for index in dirty {
            self.write_back(index)?;
        }
        self.inner.flush()
    }
}

impl<S: Read + Write + Seek> Seek for PageCache<S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        super::seek_within(&mut self.pos, self.len, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A device that counts its reads and writes.
    struct Counting {
        dev: Cursor<Vec<u8>>,
        reads: usize,
        writes: usize,
    }

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            self.dev.read(buf)
        }
    }
    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.dev.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Seek for Counting {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.dev.seek(to)
        }
    }

    fn device(len: usize) -> Counting {
        Counting {
            dev: Cursor::new((0..len).map(|i| (i % 251) as u8).collect()),
            reads: 0,
            writes: 0,
        }
    }

    /// Random-ish reads and writes, the same on the cache and on a plain
    /// copy; after flush the device holds what the copy holds.
    #[test]
    fn behaves_like_the_device_itself() {
        for max_pages in [1, 3, 64] {
            let len = 10 * PAGE + 700; // a short last page
            let mut model = device(len).dev.into_inner();
            let mut c = PageCache::new(device(len), max_pages).unwrap();
            let mut x = 12345u64;
            for step in 0..2000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (x >> 33) as usize % len;
                let n = ((x >> 13) as usize % 3000).min(len - at);
                c.seek(SeekFrom::Start(at as u64)).unwrap();
                if step % 3 == 0 {
                    let mut got = vec![0u8; n];
                    c.read_exact(&mut got).unwrap();
                    assert_eq!(got, model[at..at + n], "read {at}+{n}");
                } else {
                    let data: Vec<u8> = (0..n).map(|i| (i as u64 ^ x) as u8).collect();
                    c.write_all(&data).unwrap();
                    model[at..at + n].copy_from_slice(&data);
                }
            }
            c.flush().unwrap();
            assert_eq!(c.inner.dev.get_ref(), &model, "max_pages {max_pages}");
        }
    }

    #[test]
    fn sectors_written_whole_are_not_read_back() {
        let mut c = PageCache::new(device(64 * PAGE), 4).unwrap();
        let reads = c.inner.reads;
        c.seek(SeekFrom::Start(0)).unwrap();
        for _ in 0..(16 * PAGE / SECTOR) {
            c.write_all(&[7u8; SECTOR]).unwrap();
        }
        c.flush().unwrap();
        assert_eq!(c.inner.reads, reads, "nothing read back");
        assert!(c.inner.writes <= 16, "{} writes", c.inner.writes);
        assert!(c.inner.dev.get_ref()[..16 * PAGE].iter().all(|b| *b == 7));
        assert_eq!(c.inner.dev.get_ref()[16 * PAGE], ((16 * PAGE) % 251) as u8);
    }

    #[test]
    fn small_reads_of_one_page_read_the_device_once() {
        let mut c = PageCache::new(device(8 * PAGE), 2).unwrap();
        let before = c.inner.reads;
        let mut v = [0u8; 4];
        for i in 0..(PAGE / 4) {
            c.seek(SeekFrom::Start((i * 4) as u64)).unwrap();
            c.read_exact(&mut v).unwrap();
        }
        assert_eq!(c.inner.reads - before, 1);
    }

    #[test]
    fn writing_past_the_end_is_refused() {
        let mut c = PageCache::new(device(PAGE), 2).unwrap();
        c.seek(SeekFrom::Start(PAGE as u64 - 2)).unwrap();
        assert!(c.write_all(&[1, 2, 3]).is_err());
        assert!(c.seek(SeekFrom::Start(PAGE as u64 + 1)).is_err());
    }
}
