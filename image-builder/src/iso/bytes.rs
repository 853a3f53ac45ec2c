//! Small byte-encoding helpers shared by the ISO structures.

/// Size of an ISO 9660 logical block (and of every volume descriptor).
pub(crate) const BLOCK: usize = 2048;

/// ECMA-119 §7.3.3 "both-byte orders" u32: little-endian then big-endian.
pub(crate) fn both_u32(v: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&v.to_le_bytes());
    out[4..].copy_from_slice(&v.to_be_bytes());
    out
}

/// ECMA-119 §7.2.3 "both-byte orders" u16: little-endian then big-endian.
pub(crate) fn both_u16(v: u16) -> [u8; 4] {
    let mut out = [0u8; 4];
    out[..2].copy_from_slice(&v.to_le_bytes());
    out[2..].copy_from_slice(&v.to_be_bytes());
    out
}

/// Copies `bytes` into `buf` at `offset`.
///
/// Callers only pass offsets of fixed structure fields, which are always in
/// range; an out-of-range offset is a programming error and panics.
pub(crate) fn put(buf: &mut [u8], offset: usize, bytes: &[u8]) {
    buf[offset..offset + bytes.len()].copy_from_slice(bytes);
}

/// Writes `text` into `buf[offset..offset + len]`, filling the rest with `fill`.
/// `text` is truncated to `len` bytes.
pub(crate) fn put_padded(buf: &mut [u8], offset: usize, len: usize, text: &[u8], fill: u8) {
    let field = &mut buf[offset..offset + len];
    field.fill(fill);
    let n = text.len().min(len);
    field[..n].copy_from_slice(&text[..n]);
}

/// Number of whole blocks needed for `bytes` bytes.
pub(crate) fn blocks_for(bytes: u64) -> u64 {
    bytes.div_ceil(BLOCK as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_endian_u32_is_le_then_be() {
        assert_eq!(both_u32(0x0102_0304), [4, 3, 2, 1, 1, 2, 3, 4]);
    }

    #[test]
    fn both_endian_u16_is_le_then_be() {
        assert_eq!(both_u16(0x0800), [0x00, 0x08, 0x08, 0x00]);
    }

    #[test]
    fn padded_field_truncates_and_fills() {
        let mut buf = [0u8; 6];
        put_padded(&mut buf, 1, 4, b"ABCDEF", b' ');
        assert_eq!(&buf, b"\0ABCD\0");
        put_padded(&mut buf, 1, 4, b"X", b' ');
        assert_eq!(&buf, b"\0X   \0");
    }

    #[test]
    fn blocks_round_up() {
        assert_eq!(blocks_for(0), 0);
        assert_eq!(blocks_for(1), 1);
        assert_eq!(blocks_for(2048), 1);
        assert_eq!(blocks_for(2049), 2);
    }
}
