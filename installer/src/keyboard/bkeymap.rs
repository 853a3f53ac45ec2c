//! The binary keymap format `loadkeys -b` writes and busybox `loadkmap` reads:
//!
//! | offset | size | contents |
//! |---|---|---|
//! | 0 | 7 | `"bkeymap"` |
//! | 7 | 256 | one flag byte per modifier table: 1 present, 0 absent |
//! | 263 | 256 × n | for each present table in order: 128 little-endian u16 entries |
//!
//! Entries are the values `KDSKBENT` takes (`linux/keyboard.h`): a key type in
//! the high byte (`KT_LATIN` 0 … `KT_BRL` 14) and its value in the low byte,
//! or, when the high byte is 15 or more, a Unicode character XOR 0xF000. For
//! example `ckbcomp de nodeadkeys` gives keycode 21 (the key labelled Y in the
//! US layout) the entry 0x0B7A, `KT_LETTER` 'z'; the kernel stores it XORed
//! as 0xFB7A.

use thiserror::Error;

/// The magic at offset 0.
pub const MAGIC: &[u8; 7] = b"bkeymap";
/// Number of modifier tables the header has a flag for (`MAX_NR_KEYMAPS`).
pub const NR_TABLES: usize = 256;
/// Keycodes per table in this format (busybox's `NR_KEYS`; the kernel has 256).
pub const NR_KEYS: usize = 128;
/// Offset of the first table.
pub const TABLES_OFFSET: usize = MAGIC.len() + NR_TABLES;
/// Bytes per table.
pub const TABLE_LEN: usize = NR_KEYS * 2;

/// `KT_LATIN`: a Latin-1 character.
pub const KT_LATIN: u8 = 0;
/// `KT_LETTER`: a Latin-1 letter that Caps Lock affects.
pub const KT_LETTER: u8 = 11;
/// Number of kernel key types; a higher "type" byte means Unicode.
pub const NR_TYPES: u8 = 15;

/// Why a byte string is not a binary keymap.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BkeymapError {
    /// Shorter than the header or than the tables its flags announce.
    #[error("keymap is truncated: {len} bytes, but {needed} are needed")]
    Truncated {
        /// Actual length.
        len: usize,
        /// Length the header (or the header alone) requires.
        needed: usize,
    },
    /// The first 7 bytes are not `"bkeymap"`.
    #[error("keymap does not start with \"bkeymap\"")]
    BadMagic,
    /// A flag byte other than 0 or 1.
    #[error("keymap flag byte for table {table} (offset {offset}) is {value}, not 0 or 1")]
    BadFlag {
        /// The modifier table the flag belongs to.
        table: u8,
        /// Its byte offset in the file.
        offset: usize,
        /// The value found.
        value: u8,
    },
    /// Bytes after the last announced table.
    #[error("keymap has {extra} bytes after its {tables} tables")]
    TrailingBytes {
        /// Number of tables present.
        tables: usize,
        /// Number of surplus bytes.
        extra: usize,
    },
    /// No table at all; applying it would change nothing.
    #[error("keymap has no tables")]
    Empty,
}

/// One `KDSKBENT` argument: table (modifier combination), keycode, value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Modifier table (bits: Shift 1, AltGr 2, Control 4, Alt 8, …).
    pub table: u8,
    /// Keycode, below [`NR_KEYS`].
    pub index: u8,
    /// The keysym value as `KDSKBENT` takes it.
    pub value: u16,
}

/// What an entry means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keysym {
    /// A typed kernel keysym (`KT_*` in `typ`).
    Typed {
        /// The key type, below [`NR_TYPES`].
        typ: u8,
        /// The type's value (the character for `KT_LATIN`/`KT_LETTER`).
        value: u8,
    },
    /// A Unicode character.
    Unicode(char),
    /// A Unicode form that is not a valid character (a surrogate).
    Invalid(u16),
}

impl Keysym {
    /// Decodes an entry value.
    pub fn decode(raw: u16) -> Keysym {
        let [value, typ] = raw.to_le_bytes();
        if typ < NR_TYPES {
            Keysym::Typed { typ, value }
        } else {
            char::from_u32(u32::from(raw ^ 0xF000)).map_or(Keysym::Invalid(raw), Keysym::Unicode)
        }
    }

    /// The character this key types, if it types one.
    pub fn char(self) -> Option<char> {
        match self {
            Keysym::Typed { typ, value } if typ == KT_LATIN || typ == KT_LETTER => {
                Some(char::from(value))
            }
            Keysym::Unicode(c) => Some(c),
            _ => None,
        }
    }
}

/// A parsed binary keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bkeymap {
    /// Present tables in ascending order, each with its 128 entries.
    tables: Vec<(u8, Vec<u16>)>,
}

impl Bkeymap {
    /// Parses the whole file.
    pub fn parse(bytes: &[u8]) -> Result<Bkeymap, BkeymapError> {
        if bytes.len() < TABLES_OFFSET {
            if bytes.len() >= MAGIC.len() && &bytes[..MAGIC.len()] != MAGIC {
                return Err(BkeymapError::BadMagic);
            }
            return Err(BkeymapError::Truncated {
                len: bytes.len(),
                needed: TABLES_OFFSET,
            });
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(BkeymapError::BadMagic);
        }
        let mut present = Vec::new();
        for (i, &flag) in bytes[MAGIC.len()..TABLES_OFFSET].iter().enumerate() {
            // i < NR_TABLES = 256, so it fits a u8.
            let table = i as u8;
            match flag {
                0 => {}
                1 => present.push(table),
                value => {
                    return Err(BkeymapError::BadFlag {
                        table,
                        offset: MAGIC.len() + i,
                        value,
                    })
                }
            }
        }
        if present.is_empty() {
            return Err(BkeymapError::Empty);
        }
        let needed = TABLES_OFFSET + TABLE_LEN * present.len();
        if bytes.len() < needed {
            return Err(BkeymapError::Truncated {
                len: bytes.len(),
                needed,
            });
        }
        if bytes.len() > needed {
            return Err(BkeymapError::TrailingBytes {
                tables: present.len(),
                extra: bytes.len() - needed,
            });
        }
        let tables = present
            .into_iter()
            .zip(bytes[TABLES_OFFSET..].chunks_exact(TABLE_LEN))
            .map(|(table, raw)| {
                let entries = raw
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect();
                (table, entries)
            })
            .collect();
        Ok(Bkeymap { tables })
    }

    /// The present tables, ascending.
    pub fn tables(&self) -> impl Iterator<Item = u8> + '_ {
        self.tables.iter().map(|(t, _)| *t)
    }

    /// The entry for `index` in `table`, if that table is present.
    pub fn get(&self, table: u8, index: u8) -> Option<u16> {
        let (_, entries) = self.tables.iter().find(|(t, _)| *t == table)?;
        entries.get(usize::from(index)).copied()
    }

    /// Every entry, table by table, keycode by keycode: the `KDSKBENT` calls
    /// that load this keymap.
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.tables.iter().flat_map(|(table, entries)| {
            entries.iter().enumerate().map(move |(i, &value)| Entry {
                table: *table,
                // i < NR_KEYS = 128.
                index: i as u8,
                value,
            })
        })
    }

    /// Number of entries ([`NR_KEYS`] per present table).
    pub fn len(&self) -> usize {
        self.tables.len() * NR_KEYS
    }

    /// Always false: [`Bkeymap::parse`] rejects keymaps without tables.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small keymap with tables 0 (plain) and 2 (AltGr): 7 + 256 + 2·256 bytes.
    pub(crate) fn fixture() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"bkeymap"); // 0x000: magic
        let mut flags = [0u8; 256];
        flags[0] = 1; // 0x007: table 0 present
        flags[2] = 1; // 0x009: table 2 present
        b.extend_from_slice(&flags);
        b.resize(0x107 + 2 * 256, 0);
        let mut put = |at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        put(0x107 + 2 * 16, 0x0B71); // 0x127: table 0, keycode 16: KT_LETTER 'q'
        put(0x107 + 2 * 21, 0x0B7A); // 0x131: table 0, keycode 21: KT_LETTER 'z' (de)
        put(0x107 + 2 * 28, 0x0201); // 0x13F: table 0, keycode 28: KT_SPEC Enter
        put(0x207 + 2 * 18, 0xD0AC); // 0x22B: table 2, keycode 18: U+20AC '€'
        put(0x207 + 2 * 127, 0x0B40); // 0x305: table 2, last keycode 127
        b
    }

    #[test]
    fn parses_tables_and_entries_at_their_offsets() {
        let b = fixture();
        assert_eq!(b.len(), 775); // 7 + 256 + 2·256
        assert_eq!(&b[0x131..0x133], &[0x7A, 0x0B]); // little-endian 0x0B7A
        let k = Bkeymap::parse(&b).unwrap();
        assert_eq!(k.tables().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(k.len(), 256);
        assert!(!k.is_empty());
        assert_eq!(k.get(0, 21), Some(0x0B7A));
        assert_eq!(k.get(0, 16), Some(0x0B71));
        assert_eq!(k.get(2, 18), Some(0xD0AC));
        assert_eq!(k.get(2, 127), Some(0x0B40));
        assert_eq!(k.get(1, 21), None, "table 1 is absent");
        assert_eq!(k.get(0, 128), None, "only 128 keycodes");
    }

    #[test]
    fn entries_come_table_by_table_in_keycode_order() {
        let k = Bkeymap::parse(&fixture()).unwrap();
        let all: Vec<Entry> = k.entries().collect();
        assert_eq!(all.len(), 256);
        assert_eq!(
            all[0],
            Entry {
                table: 0,
                index: 0,
                value: 0
            }
        );
        assert_eq!(
            all[21],
            Entry {
                table: 0,
                index: 21,
                value: 0x0B7A
            }
        );
        assert_eq!(
            all[128 + 18],
            Entry {
                table: 2,
                index: 18,
                value: 0xD0AC
            }
        );
        assert_eq!(
            all[255],
            Entry {
                table: 2,
                index: 127,
                value: 0x0B40
            }
        );
    }

    #[test]
    fn decodes_keysyms() {
        assert_eq!(
            Keysym::decode(0x0B7A),
            Keysym::Typed {
                typ: KT_LETTER,
                value: b'z'
            }
        );
        assert_eq!(Keysym::decode(0x0B7A).char(), Some('z'));
        assert_eq!(Keysym::decode(0x0031).char(), Some('1')); // KT_LATIN
        assert_eq!(Keysym::decode(0x0BFC).char(), Some('ü')); // Latin-1 0xFC
        assert_eq!(Keysym::decode(0xD0AC), Keysym::Unicode('€')); // U+20AC ^ 0xF000
        assert_eq!(Keysym::decode(0xF0DF).char(), Some('ß')); // U+00DF ^ 0xF000
        assert_eq!(Keysym::decode(0x0201), Keysym::Typed { typ: 2, value: 1 }); // KT_SPEC Enter
        assert_eq!(Keysym::decode(0x0201).char(), None);
        assert_eq!(Keysym::decode(0x2800), Keysym::Invalid(0x2800)); // U+D800, a surrogate
    }

    #[test]
    fn rejects_truncated_files() {
        let b = fixture();
        assert_eq!(
            Bkeymap::parse(&b[..3]),
            Err(BkeymapError::Truncated {
                len: 3,
                needed: 263
            })
        );
        assert_eq!(
            Bkeymap::parse(&b[..262]),
            Err(BkeymapError::Truncated {
                len: 262,
                needed: 263
            })
        );
        assert_eq!(
            Bkeymap::parse(&b[..774]),
            Err(BkeymapError::Truncated {
                len: 774,
                needed: 775
            })
        );
        let msg = Bkeymap::parse(&b[..774]).unwrap_err().to_string();
        assert_eq!(msg, "keymap is truncated: 774 bytes, but 775 are needed");
    }

    #[test]
    fn rejects_bad_magic_flags_trailing_bytes_and_empty_maps() {
        let mut b = fixture();
        b[0..7].copy_from_slice(b"BKEYMAP"); // 0x000: magic
        assert_eq!(Bkeymap::parse(&b), Err(BkeymapError::BadMagic));
        assert_eq!(
            Bkeymap::parse(b"kmap"),
            Err(BkeymapError::Truncated {
                len: 4,
                needed: 263
            })
        );
        assert_eq!(Bkeymap::parse(b"not a keymap"), Err(BkeymapError::BadMagic));

        let mut b = fixture();
        b[7 + 4] = 2; // 0x00B: flag of table 4
        let err = Bkeymap::parse(&b).unwrap_err();
        assert_eq!(
            err,
            BkeymapError::BadFlag {
                table: 4,
                offset: 11,
                value: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "keymap flag byte for table 4 (offset 11) is 2, not 0 or 1"
        );

        let mut b = fixture();
        b.extend_from_slice(&[0, 0]);
        assert_eq!(
            Bkeymap::parse(&b),
            Err(BkeymapError::TrailingBytes {
                tables: 2,
                extra: 2
            })
        );

        let mut b = fixture();
        b[7] = 0; // 0x007: table 0
        b[9] = 0; // 0x009: table 2
        b.truncate(263);
        assert_eq!(Bkeymap::parse(&b), Err(BkeymapError::Empty));
    }
}
