//! Volume descriptors (ECMA-119 §8): the Primary Volume Descriptor, the set
//! terminator, and the two date encodings derived from the build epoch.

use super::bytes::{both_u16, both_u32, put, put_padded, BLOCK};
use super::error::IsoError;

/// Volume descriptor type of the Primary Volume Descriptor.
pub(crate) const VD_PRIMARY: u8 = 1;
/// Volume descriptor type of the set terminator.
pub(crate) const VD_TERMINATOR: u8 = 255;
/// Standard identifier of every volume descriptor.
pub(crate) const STANDARD_ID: &[u8; 5] = b"CD001";
/// The system identifier we write into the PVD.
const SYSTEM_ID: &[u8] = b"LINUX";

/// A UTC calendar date and time, derived from a Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DateTime {
    year: u32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl DateTime {
    /// Converts seconds since 1970-01-01T00:00:00Z to a calendar date.
    ///
    /// Directory record dates store the year as an offset from 1900 in one
    /// byte, so anything from year 2156 on is rejected.
    pub(crate) fn from_epoch(epoch: u64) -> Result<Self, IsoError> {
        let t = crate::date::Utc::from_unix(epoch);
        if t.year > 1900 + 255 {
            return Err(IsoError::EpochOutOfRange { epoch });
        }
        Ok(DateTime {
            year: t.year,
            month: t.month as u8,
            day: t.day as u8,
            hour: t.hour as u8,
            minute: t.minute as u8,
            second: t.second as u8,
        })
    }

    /// ECMA-119 §9.1.5 7-byte form: years since 1900, month, day, hour,
    /// minute, second, GMT offset in 15-minute units (0). Rock Ridge TF uses
    /// the same form.
    pub(crate) fn record_bytes(&self) -> [u8; 7] {
        [
            (self.year - 1900) as u8,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            0,
        ]
    }

    /// ECMA-119 §8.4.26.1 17-byte form: ASCII "YYYYMMDDHHMMSScc" then the GMT
    /// offset byte (0).
    pub(crate) fn volume_bytes(&self) -> [u8; 17] {
        let text = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}00",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        let mut out = [0u8; 17];
        out[..16].copy_from_slice(text.as_bytes());
        out
    }
}

/// The "not specified" 17-byte date: sixteen ASCII zeros and offset 0.
fn unspecified_volume_date() -> [u8; 17] {
    let mut out = [b'0'; 17];
    out[16] = 0;
    out
}

/// Everything the PVD needs from the layout.
pub(crate) struct PvdFields<'a> {
    /// Volume identifier (already validated d-characters, ≤ 32).
    pub volume_id: &'a str,
    /// Volume space size in blocks.
    pub volume_blocks: u32,
    /// Size in bytes of one path table.
    pub path_table_size: u32,
    /// LBA of the type-L (little-endian) path table.
    pub l_path_table: u32,
    /// LBA of the type-M (big-endian) path table.
    pub m_path_table: u32,
    /// The 34-byte root directory record.
    pub root_record: &'a [u8],
    /// Build date.
    pub date: DateTime,
}

/// Encodes the Primary Volume Descriptor (ECMA-119 §8.4).
pub(crate) fn primary_volume_descriptor(f: &PvdFields<'_>) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[0] = VD_PRIMARY;
    put(&mut b, 1, STANDARD_ID);
    b[6] = 1; // version
    put_padded(&mut b, 8, 32, SYSTEM_ID, b' ');
    put_padded(&mut b, 40, 32, f.volume_id.as_bytes(), b' ');
    put(&mut b, 80, &both_u32(f.volume_blocks));
    put(&mut b, 120, &both_u16(1)); // volume set size
    put(&mut b, 124, &both_u16(1)); // volume sequence number
    put(&mut b, 128, &both_u16(BLOCK as u16)); // logical block size
    put(&mut b, 132, &both_u32(f.path_table_size));
    put(&mut b, 140, &f.l_path_table.to_le_bytes());
    put(&mut b, 148, &f.m_path_table.to_be_bytes());
    put(&mut b, 156, f.root_record);
    // Volume set, publisher, preparer, application ids, then the copyright,
    // abstract and bibliographic file ids: all unused, space-filled.
    b[190..813].fill(b' ');
    let date = f.date.volume_bytes();
    put(&mut b, 813, &date); // creation
    put(&mut b, 830, &date); // modification
    put(&mut b, 847, &unspecified_volume_date()); // expiration
    put(&mut b, 864, &date); // effective
    b[881] = 1; // file structure version
    b
}

/// Encodes the volume descriptor set terminator (ECMA-119 §8.3).
pub(crate) fn terminator() -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[0] = VD_TERMINATOR;
    put(&mut b, 1, STANDARD_ID);
    b[6] = 1;
    b
}

/// Checks that a volume identifier is 1..=32 ISO 9660 d-characters.
pub(crate) fn validate_volume_id(id: &str) -> Result<(), IsoError> {
    let reason = if id.is_empty() {
        Some("it is empty")
    } else if id.len() > 32 {
        Some("it is longer than 32 characters")
    } else if !id
        .bytes()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
    {
        Some("only A-Z, 0-9 and _ are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(IsoError::InvalidVolumeId {
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_of_reference_build_is_2023_11_14_22_13_20() {
        let d = DateTime::from_epoch(1_700_000_000).unwrap();
        // refA reports --modification-date='2023111422132000'.
        assert_eq!(&d.volume_bytes()[..16], b"2023111422132000");
        assert_eq!(d.volume_bytes()[16], 0);
        assert_eq!(d.record_bytes(), [123, 11, 14, 22, 13, 20, 0]);
    }

    #[test]
    fn calendar_edges() {
        let d = DateTime::from_epoch(0).unwrap();
        assert_eq!(&d.volume_bytes()[..16], b"1970010100000000");
        // 2000-02-29T23:59:59Z: leap day in a century leap year.
        let d = DateTime::from_epoch(951_868_799).unwrap();
        assert_eq!(&d.volume_bytes()[..16], b"2000022923595900");
        // 2100-03-01T00:00:00Z: 2100 is not a leap year.
        let d = DateTime::from_epoch(4_107_542_400).unwrap();
        assert_eq!(&d.volume_bytes()[..16], b"2100030100000000");
        // Last second of 2155 is the last representable record date.
        let d = DateTime::from_epoch(5_869_583_999).unwrap();
        assert_eq!(d.record_bytes(), [255, 12, 31, 23, 59, 59, 0]);
    }

    #[test]
    fn epoch_after_2155_is_rejected() {
        let err = DateTime::from_epoch(5_869_584_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "epoch 5869584000 is out of range for iso 9660 dates (it must lie before year 2156)"
        );
    }

    #[test]
    fn pvd_golden_fields() {
        let root = [0x22u8; 34];
        let b = primary_volume_descriptor(&PvdFields {
            volume_id: "REFISO",
            volume_blocks: 10240,
            path_table_size: 0x1a,
            l_path_table: 19,
            m_path_table: 20,
            root_record: &root,
            date: DateTime::from_epoch(1_700_000_000).unwrap(),
        });
        assert_eq!(b[0], 1); // 0x000: type 1 = primary
        assert_eq!(&b[1..6], b"CD001"); // 0x001: standard identifier
        assert_eq!(b[6], 1); // 0x006: version
        assert_eq!(b[7], 0); // 0x007: unused
        assert_eq!(&b[8..40], b"LINUX                           "); // 0x008: system id
        assert_eq!(&b[40..72], b"REFISO                          "); // 0x028: volume id
        assert_eq!(&b[72..80], &[0; 8]); // 0x048: unused
        assert_eq!(&b[80..88], &[0x00, 0x28, 0, 0, 0, 0, 0x28, 0x00]); // 0x050: space size 10240
        assert_eq!(&b[88..120], &[0; 32]); // 0x058: unused (escape sequences)
        assert_eq!(&b[120..124], &[1, 0, 0, 1]); // 0x078: volume set size 1
        assert_eq!(&b[124..128], &[1, 0, 0, 1]); // 0x07C: volume sequence number 1
        assert_eq!(&b[128..132], &[0x00, 0x08, 0x08, 0x00]); // 0x080: block size 2048
        assert_eq!(&b[132..140], &[0x1a, 0, 0, 0, 0, 0, 0, 0x1a]); // 0x084: path table size
        assert_eq!(&b[140..144], &[19, 0, 0, 0]); // 0x08C: L path table LBA (LE)
        assert_eq!(&b[144..148], &[0; 4]); // 0x090: optional L path table
        assert_eq!(&b[148..152], &[0, 0, 0, 20]); // 0x094: M path table LBA (BE)
        assert_eq!(&b[152..156], &[0; 4]); // 0x098: optional M path table
        assert_eq!(&b[156..190], &root); // 0x09C: root directory record
        assert!(b[190..813].iter().all(|&c| c == b' ')); // 0x0BE..0x32D: ids, space-filled
        assert_eq!(&b[813..830], b"2023111422132000\0"); // 0x32D: creation date
        assert_eq!(&b[830..847], b"2023111422132000\0"); // 0x33E: modification date
        assert_eq!(&b[847..864], b"0000000000000000\0"); // 0x34F: expiration: unspecified
        assert_eq!(&b[864..881], b"2023111422132000\0"); // 0x360: effective date
        assert_eq!(b[881], 1); // 0x371: file structure version
        assert!(b[882..].iter().all(|&c| c == 0)); // 0x372..: reserved + application use
    }

    #[test]
    fn terminator_golden() {
        let b = terminator();
        assert_eq!(b[0], 255); // 0x000: type 255 = set terminator
        assert_eq!(&b[1..6], b"CD001"); // 0x001: standard identifier
        assert_eq!(b[6], 1); // 0x006: version
        assert!(b[7..].iter().all(|&c| c == 0)); // 0x007..: reserved
    }

    #[test]
    fn volume_id_rules() {
        assert!(validate_volume_id("REFISO_2").is_ok());
        assert!(validate_volume_id(&"A".repeat(32)).is_ok());
        let err = validate_volume_id("refiso").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid volume id \"refiso\": only A-Z, 0-9 and _ are allowed"
        );
        let err = validate_volume_id(&"A".repeat(33)).unwrap_err();
        assert!(err.to_string().contains("longer than 32"));
        assert!(validate_volume_id("").is_err());
        assert!(validate_volume_id("A B").is_err());
    }
}
