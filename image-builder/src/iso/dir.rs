//! Directory records (ECMA-119 §9.1) and path table records (§9.4).

use super::bytes::{both_u16, both_u32};

/// Directory record flag: the record describes a directory.
pub(crate) const FLAG_DIRECTORY: u8 = 0x02;
/// Fixed part of a directory record before the identifier.
pub(crate) const RECORD_HEADER: usize = 33;
/// Longest directory record.
pub(crate) const MAX_RECORD: usize = 255;
/// Identifier of a directory's "." record.
pub(crate) const DOT: &[u8] = &[0];
/// Identifier of a directory's ".." record.
pub(crate) const DOTDOT: &[u8] = &[1];

/// Length of header + identifier + the pad byte that keeps the System Use
/// area at an even offset (ECMA-119 §9.1.12).
pub(crate) fn record_base_len(name_len: usize) -> usize {
    RECORD_HEADER + name_len + usize::from(name_len.is_multiple_of(2))
}

/// The fields of one directory record.
pub(crate) struct Record<'a> {
    /// File identifier (`DOT`, `DOTDOT`, `NAME.EXT;1` or a directory name).
    pub name: &'a [u8],
    /// LBA of the extent.
    pub lba: u32,
    /// Data length in bytes.
    pub len: u32,
    /// 7-byte recording date.
    pub date: [u8; 7],
    /// `FLAG_DIRECTORY` or 0.
    pub flags: u8,
    /// System Use area (Rock Ridge entries), already encoded.
    pub system_use: &'a [u8],
}

/// Encodes a record. A trailing zero byte keeps the record length even.
pub(crate) fn encode_record(r: &Record<'_>) -> Vec<u8> {
    let base = record_base_len(r.name.len());
    let mut len = base + r.system_use.len();
    len += len % 2;
    debug_assert!(len <= MAX_RECORD, "directory record of {len} bytes");
    let mut out = vec![0u8; len];
    out[0] = len as u8; // length of directory record
    out[1] = 0; // extended attribute record length
    out[2..10].copy_from_slice(&both_u32(r.lba));
    out[10..18].copy_from_slice(&both_u32(r.len));
    out[18..25].copy_from_slice(&r.date);
    out[25] = r.flags;
    out[26] = 0; // file unit size (not interleaved)
    out[27] = 0; // interleave gap
    out[28..32].copy_from_slice(&both_u16(1)); // volume sequence number
    out[32] = r.name.len() as u8;
    out[33..33 + r.name.len()].copy_from_slice(r.name);
    out[base..base + r.system_use.len()].copy_from_slice(r.system_use);
    out
}

/// Length of a path table record for an identifier of `name_len` bytes.
pub(crate) fn path_record_len(name_len: usize) -> usize {
    8 + name_len + name_len % 2
}

/// Encodes a path table record; `big_endian` selects the type-M table.
pub(crate) fn encode_path_record(name: &[u8], lba: u32, parent: u16, big_endian: bool) -> Vec<u8> {
    let mut out = vec![0u8; path_record_len(name.len())];
    out[0] = name.len() as u8;
    out[1] = 0; // extended attribute record length
    if big_endian {
        out[2..6].copy_from_slice(&lba.to_be_bytes());
        out[6..8].copy_from_slice(&parent.to_be_bytes());
    } else {
        out[2..6].copy_from_slice(&lba.to_le_bytes());
        out[6..8].copy_from_slice(&parent.to_le_bytes());
    }
    out[8..8 + name.len()].copy_from_slice(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_record_golden() {
        let su = [0xAAu8; 5];
        let r = encode_record(&Record {
            name: b"INFO.;1",
            lba: 0x1234,
            len: 0x56,
            date: [123, 11, 14, 22, 13, 20, 0],
            flags: 0,
            system_use: &su,
        });
        // 33 + 7 (odd name: no pad) + 5 = 45, padded to 46.
        assert_eq!(r.len(), 46);
        assert_eq!(r[0], 46); // 0x00: record length
        assert_eq!(r[1], 0); // 0x01: extended attribute length
        assert_eq!(&r[2..10], &[0x34, 0x12, 0, 0, 0, 0, 0x12, 0x34]); // 0x02: extent LBA
        assert_eq!(&r[10..18], &[0x56, 0, 0, 0, 0, 0, 0, 0x56]); // 0x0A: data length
        assert_eq!(&r[18..25], &[123, 11, 14, 22, 13, 20, 0]); // 0x12: date 2023-11-14 22:13:20
        assert_eq!(r[25], 0); // 0x19: flags (file)
        assert_eq!(&r[26..28], &[0, 0]); // 0x1A: unit size, interleave gap
        assert_eq!(&r[28..32], &[1, 0, 0, 1]); // 0x1C: volume sequence number
        assert_eq!(r[32], 7); // 0x20: identifier length
        assert_eq!(&r[33..40], b"INFO.;1"); // 0x21: identifier
        assert_eq!(&r[40..45], &su); // 0x28: system use (no pad: odd identifier)
        assert_eq!(r[45], 0); // 0x2D: even-length pad
    }

    #[test]
    fn dot_record_has_pad_byte_before_system_use() {
        let r = encode_record(&Record {
            name: DOT,
            lba: 20,
            len: 2048,
            date: [0; 7],
            flags: FLAG_DIRECTORY,
            system_use: &[],
        });
        assert_eq!(r.len(), 34); // 0x00: the root record size in the PVD
        assert_eq!(r[0], 34);
        assert_eq!(r[25], 0x02); // 0x19: directory flag
        assert_eq!(r[32], 1); // 0x20: identifier length
        assert_eq!(r[33], 0); // 0x21: identifier "\0" = "."
        assert_eq!(record_base_len(2), 36); // even identifier gets a pad byte
    }

    #[test]
    fn path_records_golden() {
        let l = encode_path_record(b"BOOT", 0x1d, 1, false);
        assert_eq!(l, [4, 0, 0x1d, 0, 0, 0, 1, 0, b'B', b'O', b'O', b'T']);
        // 0x00 name length, 0x01 ext attr length, 0x02 LBA (LE), 0x06 parent (LE), 0x08 name
        let m = encode_path_record(b"EFI", 0x1d, 2, true);
        assert_eq!(m, [3, 0, 0, 0, 0, 0x1d, 0, 2, b'E', b'F', b'I', 0]);
        // 0x02 LBA (BE), 0x06 parent (BE), 0x0B pad to even length
        let root = encode_path_record(&[0], 20, 1, false);
        assert_eq!(root, [1, 0, 20, 0, 0, 0, 1, 0, 0, 0]); // root: id 0x00, parent 1
    }
}
