//! Which tar entries the reader accepts: regular files (and directories)
//! under relative, normalised names. Everything else is refused with the
//! reason, before anything is written.

use thiserror::Error;

/// Longest accepted entry name (ustar's name + prefix fields).
pub const MAX_PATH: usize = 255;

/// The kind of a tar entry, as far as the filter cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Regular,
    Directory,
    Symlink,
    HardLink,
    Device,
    Other(u8),
}

impl EntryKind {
    /// From a tar header's type flag byte.
    pub fn from_type_byte(b: u8) -> Self {
        match b {
            b'0' | 0 | b'7' => Self::Regular,
            b'5' => Self::Directory,
            b'2' => Self::Symlink,
            b'1' => Self::HardLink,
            b'3' | b'4' | b'6' => Self::Device,
            other => Self::Other(other),
        }
    }
}

/// Why an entry is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EntryError {
    #[error("empty name")]
    Empty,
    #[error("name is longer than {MAX_PATH} bytes")]
    TooLong,
    #[error("name is not UTF-8")]
    NotUtf8,
    #[error("absolute path")]
    Absolute,
    #[error("`..` component")]
    DotDot,
    #[error("empty or `.` component (names must be normalised)")]
    NotNormalised,
    #[error("backslash or control character in the name")]
    BadCharacter,
    #[error("symbolic link")]
    Symlink,
    #[error("hard link")]
    HardLink,
    #[error("device or FIFO")]
    Device,
    #[error("entry type {0:#04x} is not a regular file or directory")]
    OtherType(u8),
}

/// Checks a relative file name (as stored in the tar and the manifest).
/// Returns the name as text on success.
pub fn check_path(raw: &[u8]) -> Result<&str, EntryError> {
    if raw.is_empty() {
        return Err(EntryError::Empty);
    }
    if raw.len() > MAX_PATH {
        return Err(EntryError::TooLong);
    }
    let s = std::str::from_utf8(raw).map_err(|_| EntryError::NotUtf8)?;
    if s.starts_with('/') {
        return Err(EntryError::Absolute);
    }
    if s.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(EntryError::BadCharacter);
    }
    // A directory entry may carry one trailing slash.
    let body = s.strip_suffix('/').unwrap_or(s);
    for part in body.split('/') {
        match part {
            ".." => return Err(EntryError::DotDot),
            "" | "." => return Err(EntryError::NotNormalised),
            _ => {}
        }
    }
    Ok(body)
}

/// Checks an entry's type and name; `Ok(None)` for an accepted directory
/// (the reader creates directories from file names itself), `Ok(Some(name))`
/// for a regular file.
pub fn check_entry(raw_path: &[u8], kind: EntryKind) -> Result<Option<&str>, EntryError> {
    match kind {
        EntryKind::Symlink => return Err(EntryError::Symlink),
        EntryKind::HardLink => return Err(EntryError::HardLink),
        EntryKind::Device => return Err(EntryError::Device),
        EntryKind::Other(b) => return Err(EntryError::OtherType(b)),
        EntryKind::Regular | EntryKind::Directory => {}
    }
    let name = check_path(raw_path)?;
    Ok(match kind {
        EntryKind::Directory => None,
        _ => Some(name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            check_path(b"components/etc/hostname"),
            Ok("components/etc/hostname")
        );
        assert_eq!(check_path(b"a/"), Ok("a"));
        assert_eq!(check_path(b"../x"), Err(EntryError::DotDot));
        assert_eq!(check_path(b"a/../../x"), Err(EntryError::DotDot));
        assert_eq!(check_path(b"/etc/shadow"), Err(EntryError::Absolute));
        assert_eq!(check_path(b"a//b"), Err(EntryError::NotNormalised));
        assert_eq!(check_path(b"./a"), Err(EntryError::NotNormalised));
        assert_eq!(check_path(b""), Err(EntryError::Empty));
        assert_eq!(check_path(b"a\\b"), Err(EntryError::BadCharacter));
        assert_eq!(check_path(b"a\nb"), Err(EntryError::BadCharacter));
        assert_eq!(check_path(&[0xff]), Err(EntryError::NotUtf8));
        assert_eq!(check_path(&[b'a'; 256]), Err(EntryError::TooLong));
    }

    #[test]
    fn kinds() {
        assert_eq!(
            check_entry(b"x", EntryKind::Symlink),
            Err(EntryError::Symlink)
        );
        assert_eq!(
            check_entry(b"x", EntryKind::HardLink),
            Err(EntryError::HardLink)
        );
        assert_eq!(
            check_entry(b"x", EntryKind::from_type_byte(b'3')),
            Err(EntryError::Device)
        );
        assert_eq!(check_entry(b"d/", EntryKind::Directory), Ok(None));
        assert_eq!(check_entry(b"f", EntryKind::Regular), Ok(Some("f")));
        assert_eq!(
            check_entry(b"f", EntryKind::from_type_byte(b'x')),
            Err(EntryError::OtherType(b'x'))
        );
    }
}
