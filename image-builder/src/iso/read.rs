//! A minimal ISO 9660 reader: volume descriptors, directory listings and
//! file lookup by ISO 9660 or Rock Ridge name.
//!
//! It is meant for tests and for harnesses that patch images (for example
//! hiding El Torito by copying the terminator over block 17), not as a
//! general-purpose file system driver: one volume descriptor set, the
//! primary volume only (no Joliet), single-extent files. Malformed input
//! yields [`IsoError::Malformed`], never a panic.

use std::io::{Read, Seek, SeekFrom};

use super::error::IsoError;

const BLOCK: u64 = 2048;
/// Volume descriptors are read from block 16 up to this block at most.
const MAX_DESCRIPTORS: u64 = 64;
/// Longest chain of Rock Ridge continuation areas followed.
const MAX_CE_HOPS: usize = 16;
/// Largest directory extent the reader accepts.
const MAX_DIR_BYTES: u32 = 64 << 20;

/// A volume descriptor found in the descriptor set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeDescriptor {
    /// Its block number.
    pub lba: u32,
    /// Its type: 0 boot record, 1 primary, 2 supplementary, 255 terminator.
    pub kind: u8,
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// ISO 9660 identifier as recorded, e.g. `"ISOLINUX.BIN;1"`.
    pub iso_name: String,
    /// Rock Ridge name (NM), if present.
    pub rr_name: Option<String>,
    /// Rock Ridge mode (PX), if present.
    pub mode: Option<u32>,
    /// Extent LBA.
    pub lba: u32,
    /// Data length in bytes.
    pub len: u32,
    /// Whether the entry is a directory.
    pub is_dir: bool,
}

impl Entry {
    /// The Rock Ridge name if there is one, else the ISO identifier without
    /// its `;1` version and trailing dot.
    pub fn name(&self) -> &str {
        match &self.rr_name {
            Some(name) => name,
            None => plain_iso_name(&self.iso_name),
        }
    }

    fn matches(&self, component: &str) -> bool {
        self.rr_name.as_deref() == Some(component)
            || plain_iso_name(&self.iso_name).eq_ignore_ascii_case(component)
    }
}

fn plain_iso_name(id: &str) -> &str {
    let id = id.split_once(';').map_or(id, |(name, _)| name);
    id.strip_suffix('.').unwrap_or(id)
}

fn malformed(what: impl Into<String>) -> IsoError {
    IsoError::Malformed { what: what.into() }
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, buf: &mut [u8]) -> Result<(), IsoError> {
    r.seek(SeekFrom::Start(offset)).map_err(IsoError::Read)?;
    r.read_exact(buf).map_err(IsoError::Read)
}

/// Lists the volume descriptor set, from block 16 through the terminator.
pub fn volume_descriptors<R: Read + Seek>(r: &mut R) -> Result<Vec<VolumeDescriptor>, IsoError> {
    let mut out = Vec::new();
    let mut head = [0u8; 7];
    for lba in 16..16 + MAX_DESCRIPTORS {
        read_at(r, lba * BLOCK, &mut head)?;
        if &head[1..6] != b"CD001" {
            return Err(malformed(format!("block {lba} is not a volume descriptor")));
        }
        out.push(VolumeDescriptor {
            lba: lba as u32,
            kind: head[0],
        });
        if head[0] == 255 {
            return Ok(out);
        }
    }
    Err(malformed("no volume descriptor set terminator"))
}

/// LBA of the El Torito boot catalog, if a boot record is in the set.
pub fn boot_catalog_lba<R: Read + Seek>(r: &mut R) -> Result<Option<u32>, IsoError> {
    for vd in volume_descriptors(r)? {
        if vd.kind == 0 {
            let mut b = [0u8; 75];
            read_at(r, u64::from(vd.lba) * BLOCK, &mut b)?;
            if b[7..30] == *b"EL TORITO SPECIFICATION" {
                return Ok(Some(u32::from_le_bytes([b[71], b[72], b[73], b[74]])));
            }
        }
    }
    Ok(None)
}

/// Lists a directory (`""` or `"/"` is the root); "." and ".." are skipped.
pub fn read_dir<R: Read + Seek>(r: &mut R, path: &str) -> Result<Vec<Entry>, IsoError> {
    let mut reader = Reader::open(r)?;
    let dir = reader.resolve(path)?;
    if !dir.is_dir {
        return Err(malformed(format!("{path:?} is not a directory")));
    }
    reader.list(dir.lba, dir.len)
}

/// Looks up a file or directory by path, matching each component against
/// the Rock Ridge name or (case-insensitively) the ISO 9660 identifier.
pub fn find_file<R: Read + Seek>(r: &mut R, path: &str) -> Result<Entry, IsoError> {
    Reader::open(r)?.resolve(path)
}

struct Reader<'r, R> {
    r: &'r mut R,
    root: Entry,
    /// Rock Ridge in use: bytes to skip at the start of each System Use area.
    rr_skip: Option<usize>,
}

impl<'r, R: Read + Seek> Reader<'r, R> {
    fn open(r: &'r mut R) -> Result<Self, IsoError> {
        let pvd = volume_descriptors(r)?
            .into_iter()
            .find(|vd| vd.kind == 1)
            .ok_or_else(|| malformed("no primary volume descriptor"))?;
        let mut b = vec![0u8; BLOCK as usize];
        read_at(r, u64::from(pvd.lba) * BLOCK, &mut b)?;
        let (lba, len) = (le32(&b[158..162]), le32(&b[166..170]));
        let mut reader = Reader {
            r,
            root: Entry {
                iso_name: String::new(),
                rr_name: None,
                mode: None,
                lba,
                len,
                is_dir: true,
            },
            rr_skip: None,
        };
        // SUSP is in use if the root's "." record starts with SP.
        let mut first = vec![0u8; BLOCK as usize];
        read_at(reader.r, u64::from(lba) * BLOCK, &mut first)?;
        let rec_len = usize::from(first[0]);
        if rec_len < 34 || first[32] != 1 {
            return Err(malformed(
                "root directory does not start with a \".\" record",
            ));
        }
        let su = &first[34..rec_len];
        if su.len() >= 7 && su[..2] == *b"SP" && su[4..6] == [0xBE, 0xEF] {
            reader.rr_skip = Some(usize::from(su[6]));
        }
        Ok(reader)
    }

    fn resolve(&mut self, path: &str) -> Result<Entry, IsoError> {
        let mut cur = self.root.clone();
        for component in path.split('/').filter(|c| !c.is_empty()) {
            if !cur.is_dir {
                return Err(IsoError::NotFound {
                    path: path.to_owned(),
                });
            }
            cur = self
                .list(cur.lba, cur.len)?
                .into_iter()
                .find(|e| e.matches(component))
                .ok_or_else(|| IsoError::NotFound {
                    path: path.to_owned(),
                })?;
        }
        Ok(cur)
    }

    fn list(&mut self, lba: u32, len: u32) -> Result<Vec<Entry>, IsoError> {
        if len > MAX_DIR_BYTES {
            return Err(malformed(format!(
                "directory at block {lba} claims {len} bytes"
            )));
        }
        let mut extent = vec![0u8; len as usize];
        read_at(self.r, u64::from(lba) * BLOCK, &mut extent)?;
        let mut out = Vec::new();
        for block in extent.chunks(BLOCK as usize) {
            let mut pos = 0;
            while pos < block.len() && block[pos] != 0 {
                let rec_len = usize::from(block[pos]);
                let rec = block
                    .get(pos..pos + rec_len)
                    .filter(|rec| rec.len() >= 34)
                    .ok_or_else(|| malformed(format!("bad directory record in extent {lba}")))?;
                pos += rec_len;
                let name_len = usize::from(rec[32]);
                let name = rec
                    .get(33..33 + name_len)
                    .ok_or_else(|| malformed(format!("bad identifier in extent {lba}")))?;
                if name == [0] || name == [1] {
                    continue;
                }
                let mut entry = Entry {
                    iso_name: String::from_utf8_lossy(name).into_owned(),
                    rr_name: None,
                    mode: None,
                    lba: le32(&rec[2..6]),
                    len: le32(&rec[10..14]),
                    is_dir: rec[25] & 0x02 != 0,
                };
                if let Some(skip) = self.rr_skip {
                    let start = 33 + name_len + usize::from(name_len % 2 == 0) + skip;
                    let su = rec.get(start..).unwrap_or(&[]).to_vec();
                    self.parse_system_use(su, &mut entry)?;
                }
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Reads PX and NM entries, following CE continuation areas.
    fn parse_system_use(&mut self, mut su: Vec<u8>, entry: &mut Entry) -> Result<(), IsoError> {
        let mut name: Option<Vec<u8>> = None;
        for _ in 0..MAX_CE_HOPS {
            let mut next = None;
            let mut pos = 0;
            while pos + 4 <= su.len() {
                let len = usize::from(su[pos + 2]);
                let Some(e) = su.get(pos..pos + len).filter(|_| len >= 4) else {
                    break;
                };
                match &e[..2] {
                    b"PX" if len >= 36 => entry.mode = Some(le32(&e[4..8])),
                    b"NM" if len >= 5 => {
                        name.get_or_insert_with(Vec::new).extend_from_slice(&e[5..])
                    }
                    b"CE" if len >= 28 => {
                        next = Some((le32(&e[4..8]), le32(&e[12..16]), le32(&e[20..24])))
                    }
                    b"ST" => break,
                    _ => {}
                }
                pos += len;
            }
            let Some((block, offset, ce_len)) = next else {
                break;
            };
            if u64::from(offset) + u64::from(ce_len) > BLOCK {
                return Err(malformed(format!(
                    "continuation area crosses block {block}"
                )));
            }
            su = vec![0u8; ce_len as usize];
            read_at(
                self.r,
                u64::from(block) * BLOCK + u64::from(offset),
                &mut su,
            )?;
        }
        entry.rr_name = name.map(|n| String::from_utf8_lossy(&n).into_owned());
        Ok(())
    }
}

fn le32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u32::from_le_bytes(w)
}
