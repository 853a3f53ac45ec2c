//! Is the data partition blank? Stage 1 formats it only then: a partition
//! with any file system, RAID or encryption signature, or any other byte
//! that is not zero where such headers live, is never formatted.
//!
//! Those headers all live in the first or the last MiB of a partition
//! (ext2/3/4 at 1 KiB, XFS and LUKS at 0, Btrfs at 64 KiB, swap at 4 KiB,
//! MD RAID 0.90/1.0 in the last 128 KiB), and the installer zeroes exactly
//! those two MiB of an `empty` partition; so both must be all zero.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes checked at each end.
pub const WINDOW: u64 = 1 << 20;

/// What the two ends hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// Only zeros: format it.
    Blank,
    /// Something at this byte offset from the partition's start.
    Used {
        /// The first non-zero byte's offset.
        offset: u64,
    },
}

/// Judges the first and the last window of a partition of `len` bytes.
pub fn judge(head: &[u8], tail: &[u8], len: u64) -> Contents {
    if let Some(i) = head.iter().position(|&b| b != 0) {
        return Contents::Used { offset: i as u64 };
    }
    if let Some(i) = tail.iter().position(|&b| b != 0) {
        return Contents::Used {
            offset: len - tail.len() as u64 + i as u64,
        };
    }
    Contents::Blank
}

/// Reads both ends of `dev` (opened read-only) and judges them.
pub fn check(dev: &Path) -> std::io::Result<Contents> {
    let mut f = std::fs::File::open(dev)?;
    let len = f.seek(SeekFrom::End(0))?;
    let n = WINDOW.min(len) as usize;
    let mut head = vec![0u8; n];
    let mut tail = vec![0u8; n];
    f.seek(SeekFrom::Start(0))?;
    f.read_exact(&mut head)?;
    f.seek(SeekFrom::Start(len - n as u64))?;
    f.read_exact(&mut tail)?;
    Ok(judge(&head, &tail, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_zeros_at_both_ends_are_blank() {
        let len = 8 * WINDOW;
        let zeros = vec![0u8; WINDOW as usize];
        assert_eq!(judge(&zeros, &zeros, len), Contents::Blank);
        // An ext4 superblock magic at 1024 + 0x38.
        let mut ext4 = zeros.clone();
        ext4[1024 + 0x38] = 0x53;
        ext4[1024 + 0x39] = 0xEF;
        assert_eq!(
            judge(&ext4, &zeros, len),
            Contents::Used {
                offset: 1024 + 0x38
            }
        );
        // An MD 1.0 superblock near the end.
        let mut md = zeros.clone();
        md[WINDOW as usize - 8192] = 0xFC;
        assert_eq!(
            judge(&zeros, &md, len),
            Contents::Used { offset: len - 8192 }
        );
    }

    #[test]
    fn a_file_is_checked_at_both_ends() {
        let path = std::env::temp_dir().join(format!("blank-{}", std::process::id()));
        let mut data = vec![0u8; 3 * WINDOW as usize];
        std::fs::write(&path, &data).unwrap();
        assert_eq!(check(&path).unwrap(), Contents::Blank);
        // A byte in the middle is outside both windows: still blank.
        data[WINDOW as usize + 5] = 1;
        std::fs::write(&path, &data).unwrap();
        assert_eq!(check(&path).unwrap(), Contents::Blank);
        let last = data.len() - 1;
        data[last] = 1;
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            check(&path).unwrap(),
            Contents::Used {
                offset: last as u64
            }
        );
        // Smaller than a window: the whole file is both ends.
        std::fs::write(&path, [0u8, 0, 7]).unwrap();
        assert_eq!(check(&path).unwrap(), Contents::Used { offset: 2 });
        std::fs::remove_file(&path).unwrap();
    }
}
