//! ISO 9660 file identifiers: mapping real names to interchange level 2
//! names, resolving collisions, and the ECMA-119 §9.3 record order.
//!
//! Real names (any UTF-8, up to 255 bytes) are kept in Rock Ridge NM entries;
//! the identifiers made here are what a reader without Rock Ridge sees.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Longest file identifier, "NAME.EXT" without the ";1" version (level 2
/// allows 30 characters for name and extension; we count the dot as well).
pub(crate) const MAX_FILE_ID: usize = 30;
/// Longest directory identifier at interchange level 2.
pub(crate) const MAX_DIR_ID: usize = 31;
/// Longest extension we keep, so that long extensions cannot eat the name.
const MAX_EXT: usize = 8;

/// Maps one character to a d-character: `a`–`z` are upper-cased, `A`–`Z`,
/// `0`–`9` and `_` are kept, everything else becomes `_`.
fn d_char(c: char) -> char {
    match c {
        'A'..='Z' | '0'..='9' | '_' => c,
        'a'..='z' => c.to_ascii_uppercase(),
        _ => '_',
    }
}

fn map(s: &str) -> String {
    s.chars().map(d_char).collect()
}

fn truncate(s: &str, max: usize) -> &str {
    // Mapped names are pure ASCII, so byte and char positions agree.
    &s[..s.len().min(max)]
}

/// Splits a real name into mapped (base, extension). Directories have no
/// extension; a file's extension is what follows its last dot, unless the
/// only dot is the leading one of a dot-file.
fn split(name: &str, is_dir: bool) -> (String, Option<String>) {
    if is_dir {
        return (map(name), None);
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => {
            let ext = map(&name[dot + 1..]);
            (map(&name[..dot]), Some(truncate(&ext, MAX_EXT).to_owned()))
        }
        _ => (map(name), Some(String::new())),
    }
}

fn compose(base: &str, ext: &Option<String>) -> String {
    match ext {
        Some(ext) => format!("{base}.{ext}"),
        None => base.to_owned(),
    }
}

/// Assigns identifiers to the entries of one directory.
///
/// `entries` must be in a deterministic order (the builder passes them sorted
/// by real name); earlier entries keep their plain mapped name and later
/// colliding ones get the shortest decimal suffix (1, 2, …) that makes them
/// unique, replacing the end of the name part. Files come back as
/// `NAME.EXT` (with a trailing dot when there is no extension) and
/// directories as `NAME`; the `;1` version is added by the record encoder.
pub(crate) fn assign_identifiers(entries: &[(&str, bool)]) -> Vec<String> {
    let mut used = BTreeSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for &(name, is_dir) in entries {
        let (base, ext) = split(name, is_dir);
        let max_base = match &ext {
            None => MAX_DIR_ID,
            Some(ext) => MAX_FILE_ID - 1 - ext.len(),
        };
        let mut candidate = compose(truncate(&base, max_base), &ext);
        let mut n: u64 = 0;
        while used.contains(&candidate) {
            n += 1;
            let suffix = n.to_string();
            let stem = truncate(&base, max_base.saturating_sub(suffix.len()));
            candidate = compose(&format!("{stem}{suffix}"), &ext);
        }
        used.insert(candidate.clone());
        out.push(candidate);
    }
    out
}

/// Compares two identifiers in ECMA-119 §9.3 order: by name part, then by
/// extension, each as if padded on the right with spaces (0x20).
pub(crate) fn iso_order(a: &str, b: &str) -> Ordering {
    let (a_name, a_ext) = a.split_once('.').unwrap_or((a, ""));
    let (b_name, b_ext) = b.split_once('.').unwrap_or((b, ""));
    padded_cmp(a_name.as_bytes(), b_name.as_bytes())
        .then_with(|| padded_cmp(a_ext.as_bytes(), b_ext.as_bytes()))
}

fn padded_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let len = a.len().max(b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(b' ');
        let y = b.get(i).copied().unwrap_or(b' ');
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, is_dir: bool) -> String {
        assign_identifiers(&[(name, is_dir)]).remove(0)
    }

    #[test]
    fn boot_path_names_are_unchanged_apart_from_case() {
        assert_eq!(one("isolinux.bin", false), "ISOLINUX.BIN");
        assert_eq!(one("ldlinux.c32", false), "LDLINUX.C32");
        assert_eq!(one("vmlinuz", false), "VMLINUZ.");
        assert_eq!(one("isolinux", true), "ISOLINUX");
        assert_eq!(one("EFI", true), "EFI");
    }

    #[test]
    fn dots_and_other_characters_become_underscores() {
        assert_eq!(one(".disk", true), "_DISK");
        assert_eq!(one(".hidden", false), "_HIDDEN.");
        assert_eq!(one("a-b+c~d.tar.gz", false), "A_B_C_D_TAR.GZ");
        assert_eq!(one("grüße.txt", false), "GR__E.TXT");
    }

    #[test]
    fn long_names_are_cut_to_level_2_limits() {
        let id = one("linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb", false);
        assert_eq!(id, "LINUX_IMAGE_6_1_0_56_AMD64.DEB");
        assert_eq!(id.len(), MAX_FILE_ID);
        let id = one("averyveryveryveryverylongdirectoryname", true);
        assert_eq!(id.len(), MAX_DIR_ID);
        let id = one("x.extension_too_long", false);
        assert_eq!(id, "X.EXTENSIO");
    }

    #[test]
    fn collisions_get_numbered_suffixes_in_input_order() {
        let ids = assign_identifiers(&[
            ("A.txt", false),
            ("a.txt", false),
            ("a_txt", true),
            ("a.TXT", false),
            ("linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb", false),
            ("linux-image-6.1.0-56-amd64_6.1.192-3_amd64.deb", false),
        ]);
        assert_eq!(
            ids,
            [
                "A.TXT",
                "A1.TXT",
                "A_TXT",
                "A2.TXT",
                "LINUX_IMAGE_6_1_0_56_AMD64.DEB",
                "LINUX_IMAGE_6_1_0_56_AMD61.DEB",
            ]
        );
    }

    #[test]
    fn ecma_order_compares_name_then_extension_space_padded() {
        let mut ids = vec!["AB.X", "A.Y", "A.", "B", "A", "A_C.B", "A.B"];
        ids.sort_by(|a, b| iso_order(a, b));
        assert_eq!(ids, ["A.", "A", "A.B", "A.Y", "AB.X", "A_C.B", "B"]);
    }
}
