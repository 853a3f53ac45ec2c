//! Build-time checks of the keymap pipeline: the binary keymap's shape, the
//! probe key of each layout, and which files `ckbcomp` actually read.
//!
//! Binary format (`loadkeys -b`, busybox `loadkmap`): `"bkeymap"` at 0, 256
//! flag bytes at 7 (1 = modifier map present), then for each present map 128
//! little-endian u16 entries (256 bytes). Entries are the values `KDSKBENT`
//! takes: `KTYP << 8 | KVAL` for the kernel's key types (`linux/keyboard.h`,
//! `KT_LATIN` 0 … `KT_BRL` 14), or, for any other high byte, a Unicode
//! character XOR 0xF000 (the kernel keeps every entry XORed with 0xF000
//! internally, so 'z' as `KT_LETTER` is 0x0B7A here and 0xFB7A in the kernel).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::table::Layout;

/// `"bkeymap"`.
pub const MAGIC: &[u8; 7] = b"bkeymap";
/// Offset of the first map: magic + 256 flag bytes.
pub const MAPS_OFFSET: usize = 7 + 256;
/// Bytes per map: 128 keycodes × u16.
pub const MAP_LEN: usize = 256;
/// `KT_LATIN`: a Latin-1 character.
const KT_LATIN: u16 = 0;
/// `KT_LETTER`: a Latin-1 letter (affected by Caps Lock).
const KT_LETTER: u16 = 11;
/// Number of kernel key types (`KT_BRL` + 1); higher "types" are Unicode.
const NR_TYPES: u16 = 15;
/// The tag the tracing prelude prints before every file `ckbcomp` opens.
pub const TRACE_TAG: &str = "xtask-open";

/// Checks the layout of a binary keymap; returns the number of maps present.
pub fn bkeymap(bytes: &[u8]) -> Result<usize> {
    if bytes.len() < MAPS_OFFSET {
        bail!(
            "{} bytes, shorter than the {MAPS_OFFSET}-byte header",
            bytes.len()
        );
    }
    if &bytes[..7] != MAGIC {
        bail!("does not start with \"bkeymap\"");
    }
    let mut maps = 0;
    for (i, &flag) in bytes[7..MAPS_OFFSET].iter().enumerate() {
        match flag {
            0 => {}
            1 => maps += 1,
            other => bail!("flag byte of map {i} is {other}, not 0 or 1"),
        }
    }
    let want = MAPS_OFFSET + MAP_LEN * maps;
    if bytes.len() != want {
        bail!(
            "{} bytes, but {maps} maps need 7 + 256 + 256 × {maps} = {want}",
            bytes.len()
        );
    }
    if bytes[7] != 1 {
        bail!("the plain map (0) is missing");
    }
    Ok(maps)
}

/// The entry for `keycode` (< 128) in modifier map `map`, if that map is
/// present. Call [`bkeymap`] first.
pub fn entry(bytes: &[u8], map: u8, keycode: u8) -> Option<u16> {
    let flags = bytes.get(7..MAPS_OFFSET)?;
    if keycode >= 128 || flags[usize::from(map)] != 1 {
        return None;
    }
    let index = flags[..usize::from(map)]
        .iter()
        .filter(|&&f| f == 1)
        .count();
    let at = MAPS_OFFSET + index * MAP_LEN + usize::from(keycode) * 2;
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// The character an entry types, if it types one (Latin-1 or Unicode).
pub fn keysym_char(value: u16) -> Option<char> {
    let typ = value >> 8;
    if typ >= NR_TYPES {
        char::from_u32(u32::from(value ^ 0xF000))
    } else if typ == KT_LATIN || typ == KT_LETTER {
        Some(char::from((value & 0xFF) as u8))
    } else {
        None
    }
}

/// Checks the layout's probe key.
pub fn probe(bytes: &[u8], layout: &Layout) -> Result<()> {
    let p = layout.probe;
    let value = entry(bytes, p.map, p.keycode)
        .with_context(|| format!("{}: modifier map {} is missing", layout.code, p.map))?;
    let got = keysym_char(value);
    if got != Some(p.ch) {
        bail!(
            "{}: keycode {} in map {} is {value:#06x} ({}), expected {:?}; the layout did not compile as {}({})",
            layout.code,
            p.keycode,
            p.map,
            got.map_or_else(|| "not a character".to_string(), |c| format!("{c:?}")),
            p.ch,
            layout.xkb_layout,
            layout.xkb_variant
        );
    }
    Ok(())
}

/// Splits `ckbcomp`'s stderr into the traced `open` arguments and the other lines.
pub fn split_trace(stderr: &str) -> (Vec<String>, Vec<String>) {
    let mut opened = Vec::new();
    let mut other = Vec::new();
    for line in stderr.lines() {
        match line
            .strip_prefix(TRACE_TAG)
            .and_then(|r| r.strip_prefix('\t'))
        {
            Some(args) => opened.push(args.to_string()),
            None => other.push(line.to_string()),
        }
    }
    (opened, other)
}

/// The file a traced `open` read: `path` or `<path` (2 arguments) or
/// `<mode>\tpath` (3 arguments). Anything else (writes, pipes) is an error.
fn read_path(args: &str) -> Result<PathBuf> {
    let fields: Vec<&str> = args.split('\t').collect();
    let path = match fields.as_slice() {
        [spec] => {
            let spec = spec.trim();
            let spec = spec.strip_prefix('<').map_or(spec, str::trim_start);
            if spec.is_empty() || spec.starts_with(['>', '+', '|', '-']) || spec.ends_with('|') {
                bail!("ckbcomp opened {args:?}, which is not a plain read of a file");
            }
            spec
        }
        [mode, path, ..] if mode.starts_with('<') => *path,
        _ => bail!("ckbcomp opened {args:?}, which is not a plain read of a file"),
    };
    Ok(PathBuf::from(path))
}

/// Proves that every file `ckbcomp` read lies inside the pinned XKB tree
/// `xkb` (symlinks resolved), and that it read the rules and the layout's
/// symbols file at all. Returns the files read, relative to `xkb`, sorted and
/// without duplicates.
pub fn provenance(opened: &[String], xkb: &Path, layout: &Layout) -> Result<Vec<String>> {
    let root = xkb
        .canonicalize()
        .with_context(|| format!("resolving the pinned XKB directory {}", xkb.display()))?;
    let mut read = std::collections::BTreeSet::new();
    for args in opened {
        let path = read_path(args)?;
        let real = path
            .canonicalize()
            .with_context(|| format!("resolving {}, which ckbcomp read", path.display()))?;
        let rel = real.strip_prefix(&root).map_err(|_| {
            anyhow::anyhow!(
                "ckbcomp read {}, which is outside the pinned xkb-data tree {}; \
                 the keymap would depend on the build host",
                real.display(),
                root.display()
            )
        })?;
        read.insert(rel.to_string_lossy().into_owned());
    }
    let symbols = format!("symbols/{}", layout.xkb_layout);
    for needed in ["rules/base", symbols.as_str()] {
        if !read.contains(needed) {
            bail!(
                "ckbcomp did not read {needed} from {} (it read: {:?}); is the open() trace working?",
                root.display(),
                read
            );
        }
    }
    Ok(read.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::super::table::{find, Probe};
    use super::*;

    /// A keymap with the plain map (0) and the AltGr map (2), like a tiny
    /// `loadkeys -b` output, with a few entries set.
    fn fixture(entries: &[(u8, u8, u16)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"bkeymap"); // 0x000: magic
        let mut flags = [0u8; 256];
        flags[0] = 1; // 0x007: map 0 (plain) present
        flags[2] = 1; // 0x009: map 2 (AltGr) present
        b.extend_from_slice(&flags);
        b.resize(MAPS_OFFSET + 2 * MAP_LEN, 0); // 0x107: map 0, 0x207: map 2
        for &(map, keycode, value) in entries {
            let index = usize::from(map / 2); // maps 0 and 2 are the 1st and 2nd present
            let at = MAPS_OFFSET + index * MAP_LEN + usize::from(keycode) * 2;
            b[at..at + 2].copy_from_slice(&value.to_le_bytes());
        }
        b
    }

    #[test]
    fn accepts_a_well_formed_map_and_finds_entries() {
        // The values `ckbcomp de nodeadkeys | loadkeys -b -u` produces.
        let b = fixture(&[(0, 21, 0x0B7A), (0, 44, 0x0B79), (2, 18, 0xD0AC)]);
        assert_eq!(b.len(), 7 + 256 + 2 * 256);
        assert_eq!(bkeymap(&b).unwrap(), 2);
        // 0x107 + 21·2 = 0x131: keycode 21 of the plain map, LE 0x0B7A
        assert_eq!(&b[0x131..0x133], &[0x7A, 0x0B]);
        assert_eq!(entry(&b, 0, 21), Some(0x0B7A));
        // 0x207 + 18·2 = 0x22B: keycode 18 of the AltGr map
        assert_eq!(entry(&b, 2, 18), Some(0xD0AC));
        assert_eq!(entry(&b, 1, 21), None, "map 1 is absent");
        assert_eq!(entry(&b, 0, 128), None, "beyond NR_KEYS 128");
    }

    #[test]
    fn decodes_latin_letter_and_unicode_entries() {
        assert_eq!(keysym_char(0x0B7A), Some('z')); // KT_LETTER 'z'
        assert_eq!(keysym_char(0x0031), Some('1')); // KT_LATIN '1'
        assert_eq!(keysym_char(0x0BFC), Some('ü')); // KT_LETTER Latin-1 0xFC
        assert_eq!(keysym_char(0xD0AC), Some('€')); // U+20AC ^ 0xF000
        assert_eq!(keysym_char(0xF101), Some('ā')); // U+0101 ^ 0xF000
        assert_eq!(keysym_char(0x0201), None); // KT_SPEC Enter
        assert_eq!(keysym_char(0x0702), None); // KT_SHIFT Control
    }

    #[test]
    fn de_probe_passes_on_z_and_fails_on_us_y() {
        let de = find("de").unwrap();
        assert_eq!(
            de.probe,
            Probe {
                map: 0,
                keycode: 21,
                ch: 'z'
            }
        );
        probe(&fixture(&[(0, 21, 0x0B7A)]), de).unwrap();
        // The same key as `us` compiles it: 'y'.
        let err = probe(&fixture(&[(0, 21, 0x0B79)]), de).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("keycode 21") && msg.contains("'y'"), "{msg}");
        // An AltGr probe needs map 2; a map without it fails clearly.
        let pl = find("pl").unwrap();
        probe(&fixture(&[(2, 30, 0x0105 ^ 0xF000)]), pl).unwrap();
    }

    #[test]
    fn rejects_bad_magic_flags_and_lengths() {
        let good = fixture(&[]);
        let mut b = good.clone();
        b[0] = b'B';
        assert!(format!("{:#}", bkeymap(&b).unwrap_err()).contains("bkeymap"));
        let mut b = good.clone();
        b[7 + 5] = 2; // 0x00C: flag of map 5
        assert!(format!("{:#}", bkeymap(&b).unwrap_err()).contains("map 5 is 2"));
        let mut b = good.clone();
        b.pop();
        assert!(format!("{:#}", bkeymap(&b).unwrap_err()).contains("need 7 + 256"));
        assert!(bkeymap(&good[..100]).is_err());
        let mut b = good.clone();
        b[7] = 0; // 0x007: plain map flag
        b.truncate(MAPS_OFFSET + MAP_LEN);
        assert!(format!("{:#}", bkeymap(&b).unwrap_err()).contains("plain map"));
    }

    #[test]
    fn splits_the_trace_from_warnings() {
        let (opened, other) = split_trace(
            "xtask-open\t/x/rules/base\nWARNING: Unknown X keysym\nxtask-open\t<:utf8\t/y\n",
        );
        assert_eq!(opened, vec!["/x/rules/base", "<:utf8\t/y"]);
        assert_eq!(other, vec!["WARNING: Unknown X keysym"]);
    }

    #[test]
    fn provenance_accepts_only_files_in_the_pinned_tree() {
        let root = std::env::temp_dir().join(format!("xtask-kbd-prov-{}", std::process::id()));
        let pinned = root.join("pinned");
        let host = root.join("host");
        for d in [
            pinned.join("rules"),
            pinned.join("symbols"),
            host.join("symbols"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        for f in [
            pinned.join("rules/base"),
            pinned.join("symbols/de"),
            host.join("symbols/de"),
        ] {
            std::fs::write(f, "x").unwrap();
        }
        std::os::unix::fs::symlink(host.join("symbols/de"), pinned.join("symbols/escape")).unwrap();
        let de = find("de").unwrap();
        let p = |rel: &str| pinned.join(rel).to_string_lossy().into_owned();

        let ok = vec![
            p("rules/base"),
            p("symbols/de"),
            format!("<{}", p("symbols/de")),
        ];
        assert_eq!(
            provenance(&ok, &pinned, de).unwrap(),
            vec!["rules/base".to_string(), "symbols/de".to_string()]
        );
        // The host's copy, as ckbcomp's fallback directories would give it.
        let host_de = host.join("symbols/de").to_string_lossy().into_owned();
        let err = provenance(&[p("rules/base"), host_de], &pinned, de).unwrap_err();
        assert!(format!("{err:#}").contains("outside the pinned"), "{err:#}");
        // A symlink inside the tree that leads out of it.
        let err = provenance(
            &[p("rules/base"), p("symbols/de"), p("symbols/escape")],
            &pinned,
            de,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("outside the pinned"), "{err:#}");
        // Nothing traced: the check must not pass vacuously.
        let err = provenance(&[], &pinned, de).unwrap_err();
        assert!(
            format!("{err:#}").contains("did not read rules/base"),
            "{err:#}"
        );
        // Pipes and writes are not reads.
        assert!(provenance(&["zcat /x |".to_string()], &pinned, de).is_err());
        assert!(provenance(&["-|:utf8\tzcat /x".to_string()], &pinned, de).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
