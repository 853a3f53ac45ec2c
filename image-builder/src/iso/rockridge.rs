//! Rock Ridge (RRIP 1991A) over SUSP: the System Use entries that give Linux
//! isofs, GRUB, isolinux and libisofs the real names, modes and times.
//!
//! Entries written: SP and ER in the root's "." record, PX (44-byte form with
//! the file serial number), TF (modify, access, attributes), NM, and CE when
//! a record's System Use area does not fit into the 255-byte record.

use super::bytes::both_u32;

/// Length of a CE (continuation area) entry.
pub(crate) const CE_LEN: usize = 28;
/// Longest name chunk in one NM entry (255-byte entry limit minus 5 header bytes).
const NM_CHUNK: usize = 250;
/// NM flag: the name continues in the next NM entry.
const NM_CONTINUE: u8 = 0x01;

/// POSIX file type bits for a directory.
pub(crate) const S_IFDIR: u32 = 0o040_000;
/// POSIX file type bits for a regular file.
pub(crate) const S_IFREG: u32 = 0o100_000;

const ER_ID: &[u8] = b"RRIP_1991A";
const ER_DESCRIPTOR: &[u8] =
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
const ER_SOURCE: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  \
SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

fn entry(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(sig);
    out.push((4 + body.len()) as u8);
    out.push(1); // entry version
    out.extend_from_slice(body);
    out
}

/// SUSP "SP": marks the volume as using SUSP; must open the root "." record.
pub(crate) fn sp() -> Vec<u8> {
    entry(b"SP", &[0xBE, 0xEF, 0])
}

/// SUSP "ER": names the RRIP_1991A extension (237 bytes, so it always goes
/// to a continuation area).
pub(crate) fn er() -> Vec<u8> {
    let mut body = vec![
        ER_ID.len() as u8,
        ER_DESCRIPTOR.len() as u8,
        ER_SOURCE.len() as u8,
        1, // extension version
    ];
    body.extend_from_slice(ER_ID);
    body.extend_from_slice(ER_DESCRIPTOR);
    body.extend_from_slice(ER_SOURCE);
    entry(b"ER", &body)
}

/// RRIP "PX": mode (type + permissions), link count, uid 0, gid 0, serial.
pub(crate) fn px(mode: u32, nlink: u32, ino: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(40);
    for v in [mode, nlink, 0, 0, ino] {
        body.extend_from_slice(&both_u32(v));
    }
    entry(b"PX", &body)
}

/// RRIP "TF": modification, access and attribute-change times, 7-byte form.
pub(crate) fn tf(date: [u8; 7]) -> Vec<u8> {
    let mut body = vec![0x0E]; // flags: MODIFY | ACCESS | ATTRIBUTES, short form
    for _ in 0..3 {
        body.extend_from_slice(&date);
    }
    entry(b"TF", &body)
}

/// RRIP "NM" entries for a real name, split into 250-byte chunks chained by
/// the CONTINUE flag.
pub(crate) fn nm(name: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = name.chunks(NM_CHUNK).collect();
    let last = chunks.len().saturating_sub(1);
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut body = vec![if i < last { NM_CONTINUE } else { 0 }];
            body.extend_from_slice(chunk);
            entry(b"NM", &body)
        })
        .collect()
}

/// SUSP "CE": the rest of the System Use area is `len` bytes at `offset` in
/// block `lba`.
pub(crate) fn ce(lba: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(24);
    for v in [lba, offset, len] {
        body.extend_from_slice(&both_u32(v));
    }
    entry(b"CE", &body)
}

/// A System Use area split between the record and a continuation area.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SuSplit {
    /// Entries that stay in the record (without the CE entry).
    pub inline: Vec<u8>,
    /// Entries that go to the continuation area (empty when all fit).
    pub overflow: Vec<u8>,
}

/// Splits entries so that the record keeps at most `budget` bytes: if all
/// entries fit they stay inline; otherwise the leading entries that fit next
/// to a CE entry stay and the rest (in order) overflow.
pub(crate) fn split(entries: &[Vec<u8>], budget: usize) -> SuSplit {
    let total: usize = entries.iter().map(Vec::len).sum();
    let mut out = SuSplit::default();
    if total <= budget {
        out.inline = entries.concat();
        return out;
    }
    let room = budget.saturating_sub(CE_LEN);
    let mut overflowing = false;
    for e in entries {
        if !overflowing && out.inline.len() + e.len() <= room {
            out.inline.extend_from_slice(e);
        } else {
            overflowing = true;
            out.overflow.extend_from_slice(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sp_golden() {
        // 0 'S' 'P', 2 length 7, 3 version 1, 4 check bytes BE EF, 6 LEN_SKP 0
        assert_eq!(sp(), [b'S', b'P', 7, 1, 0xBE, 0xEF, 0]);
    }

    #[test]
    fn er_golden() {
        let e = er();
        assert_eq!(e.len(), 237);
        assert_eq!(&e[0..2], b"ER"); // 0: signature
        assert_eq!(e[2], 237); // 2: length
        assert_eq!(e[3], 1); // 3: entry version
        assert_eq!(e[4], 10); // 4: LEN_ID
        assert_eq!(e[5], 84); // 5: LEN_DES
        assert_eq!(e[6], 135); // 6: LEN_SRC
        assert_eq!(e[7], 1); // 7: EXT_VER
        assert_eq!(&e[8..18], b"RRIP_1991A"); // 8: extension identifier
        assert!(e[18..102].starts_with(b"THE ROCK RIDGE")); // 18: descriptor
        assert!(e[102..].starts_with(b"PLEASE CONTACT")); // 102: source
    }

    #[test]
    fn px_golden() {
        let e = px(S_IFREG | 0o644, 1, 7);
        assert_eq!(&e[0..4], &[b'P', b'X', 44, 1]); // 0: sig, 2: len 44, 3: version
        assert_eq!(&e[4..12], &[0xA4, 0x81, 0, 0, 0, 0, 0x81, 0xA4]); // 4: mode 0o100644
        assert_eq!(&e[12..20], &[1, 0, 0, 0, 0, 0, 0, 1]); // 12: nlink 1
        assert_eq!(&e[20..28], &[0; 8]); // 20: uid 0
        assert_eq!(&e[28..36], &[0; 8]); // 28: gid 0
        assert_eq!(&e[36..44], &[7, 0, 0, 0, 0, 0, 0, 7]); // 36: serial number 7
    }

    #[test]
    fn tf_golden() {
        let d = [123, 11, 14, 22, 13, 20, 0];
        let e = tf(d);
        assert_eq!(&e[0..4], &[b'T', b'F', 26, 1]); // 0: sig, 2: len 26, 3: version
        assert_eq!(e[4], 0x0E); // 4: flags modify|access|attributes
        assert_eq!(&e[5..12], &d); // 5: modify
        assert_eq!(&e[12..19], &d); // 12: access
        assert_eq!(&e[19..26], &d); // 19: attributes
    }

    #[test]
    fn nm_and_ce_golden() {
        let e = nm(b"info");
        assert_eq!(e, [vec![b'N', b'M', 9, 1, 0, b'i', b'n', b'f', b'o']]);
        // 0 sig, 2 len 9, 3 version, 4 flags 0, 5 name
        let long = vec![b'x'; 255];
        let e = nm(&long);
        assert_eq!(e.len(), 2);
        assert_eq!(&e[0][..5], &[b'N', b'M', 255, 1, NM_CONTINUE]);
        assert_eq!(&e[1][..5], &[b'N', b'M', 10, 1, 0]);
        let c = ce(19, 0x40, 237);
        assert_eq!(&c[0..4], &[b'C', b'E', 28, 1]); // 0: sig, 2: len 28, 3: version
        assert_eq!(&c[4..12], &[19, 0, 0, 0, 0, 0, 0, 19]); // 4: block
        assert_eq!(&c[12..20], &[0x40, 0, 0, 0, 0, 0, 0, 0x40]); // 12: offset
        assert_eq!(&c[20..28], &[237, 0, 0, 0, 0, 0, 0, 237]); // 20: length
    }

    #[test]
    fn split_keeps_order_and_reserves_room_for_ce() {
        let a = vec![1u8; 50];
        let b = vec![2u8; 50];
        let c = vec![3u8; 50];
        let all = [a.clone(), b.clone(), c.clone()];
        let s = split(&all, 150);
        assert_eq!(s.inline.len(), 150);
        assert!(s.overflow.is_empty());
        // 149 bytes of room: 121 for entries next to the CE → a and b stay.
        let s = split(&all, 149);
        assert_eq!(s.inline, [a.clone(), b.clone()].concat());
        assert_eq!(s.overflow, c);
        // Once an entry overflows, later ones follow it even if they would fit.
        let small = vec![4u8; 10];
        let s = split(&[a.clone(), vec![5u8; 100], small.clone()], 120);
        assert_eq!(s.inline, a);
        assert_eq!(s.overflow, [vec![5u8; 100], small].concat());
    }
}
