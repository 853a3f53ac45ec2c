//! Reading the `.modinfo` section of a kernel module (`.ko` ELF file).
//!
//! The section is a sequence of NUL-terminated `key=value` strings (with NUL padding
//! between some of them). Only the keys we need are decoded; other values (author
//! names, descriptions) may be in any encoding and are skipped.

use std::path::Path;

use object::{Object, ObjectSection};

use super::error::KmodError;
use super::index::{parse_softdep_words, SoftDepLists};

/// The `.modinfo` fields that matter for dependency resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// `name=`: the module's own idea of its name (absent in very old modules).
    pub name: Option<String>,
    /// `alias=` patterns, in section order.
    pub aliases: Vec<String>,
    /// `depends=`: hard dependencies, as written (not normalised).
    pub depends: Vec<String>,
    /// `softdep=`: soft dependencies, all entries merged, as written.
    pub softdep: SoftDepLists,
    /// `firmware=` file names.
    pub firmware: Vec<String>,
}

/// Parses a module file's bytes: finds `.modinfo` and decodes it.
/// `path` is only used in error messages.
pub fn read_modinfo(elf: &[u8], path: &Path) -> Result<ModInfo, KmodError> {
    let file = object::File::parse(elf).map_err(|source| KmodError::Elf {
        path: path.to_owned(),
        source,
    })?;
    let section = file
        .section_by_name(".modinfo")
        .ok_or_else(|| KmodError::NoModinfo {
            path: path.to_owned(),
        })?;
    let data = section.data().map_err(|source| KmodError::Elf {
        path: path.to_owned(),
        source,
    })?;
    parse_modinfo(data, path)
}

/// Decodes the raw contents of a `.modinfo` section.
pub fn parse_modinfo(data: &[u8], path: &Path) -> Result<ModInfo, KmodError> {
    let bad = |reason: String| KmodError::ModinfoParse {
        path: path.to_owned(),
        reason,
    };
    let mut info = ModInfo::default();
    for raw in data.split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let Some(eq) = raw.iter().position(|&b| b == b'=') else {
            return Err(bad(format!(
                "entry {:?} has no '='",
                String::from_utf8_lossy(raw)
            )));
        };
        let (key, value) = (&raw[..eq], &raw[eq + 1..]);
        if !matches!(
            key,
            b"name" | b"alias" | b"depends" | b"softdep" | b"firmware"
        ) {
            continue;
        }
        let key = String::from_utf8_lossy(key);
        let value = std::str::from_utf8(value)
            .map_err(|_| bad(format!("the value of {key} is not UTF-8")))?
            .trim();
        match &*key {
            "name" => info.name = Some(value.to_owned()),
            "alias" => info.aliases.push(value.to_owned()),
            "depends" => info.depends.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned),
            ),
            "softdep" => {
                let lists = parse_softdep_words(value.split_whitespace());
                info.softdep.pre.extend(lists.pre);
                info.softdep.post.extend(lists.post);
            }
            _ => info.firmware.push(value.to_owned()),
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("test.ko")
    }

    #[test]
    fn decodes_the_fields_we_need() {
        let data = b"alias=crypto-crc32c\0alias=crc32c\0\0\0license=GPL\0\
depends=scsi_mod,t10-pi\0softdep=pre: crc32c\0softdep=post: a b\0name=sd_mod\0\
firmware=x/y.bin\0vermagic=6.1.0 SMP mod_unload\0";
        let info = parse_modinfo(data, p()).unwrap();
        assert_eq!(info.name.as_deref(), Some("sd_mod"));
        assert_eq!(info.aliases, ["crypto-crc32c", "crc32c"]);
        assert_eq!(info.depends, ["scsi_mod", "t10-pi"]);
        assert_eq!(info.softdep.pre, ["crc32c"]);
        assert_eq!(info.softdep.post, ["a", "b"]);
        assert_eq!(info.firmware, ["x/y.bin"]);
    }

    #[test]
    fn softdep_names_before_pre_or_post_are_ignored_like_libkmod() {
        // Debian 6.1's cifs.ko really has `softdep=gcm` (no "pre:").
        let info = parse_modinfo(b"softdep=gcm\0softdep=x pre: y\0", p()).unwrap();
        assert_eq!(info.softdep.pre, ["y"]);
        assert!(info.softdep.post.is_empty());
    }

    #[test]
    fn empty_depends_and_foreign_encodings_are_fine() {
        let data = b"depends=\0author=J\xf6rg\0description=caf\xe9\0name=x\0";
        let info = parse_modinfo(data, p()).unwrap();
        assert!(info.depends.is_empty());
        assert_eq!(info.name.as_deref(), Some("x"));
    }

    #[test]
    fn malformed_entries_are_errors_naming_the_file() {
        let err = parse_modinfo(b"name=x\0garbage\0", p()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad .modinfo entry in test.ko: entry \"garbage\" has no '='"
        );
        let err = parse_modinfo(b"alias=\xff\0", p()).unwrap_err();
        assert!(err.to_string().contains("alias"), "{err}");
    }

    #[test]
    fn non_elf_input_is_an_elf_error() {
        let err = read_modinfo(b"not an elf file", p()).unwrap_err();
        assert!(matches!(err, KmodError::Elf { .. }), "{err:?}");
        assert!(err.to_string().contains("test.ko"));
    }
}
