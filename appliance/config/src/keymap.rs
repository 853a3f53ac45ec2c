//! Which keymap the **kernel** holds for the VGA console: the plain table
//! (no modifier) entries of the top letter row, keycodes 16 to 25 (the
//! keys a US keyboard labels Q to P), read with the `KDGKBENT` ioctl on
//! `/dev/tty1`. `us` gives `qwertyuiop`, `de` `qwertzuiop`, `fr`
//! `azertyuiop`. Console keymaps are global to all virtual terminals, so
//! tty1 stands for the VGA console. Printed in the `APPLIANCE-READY` line
//! so a test sees what was really loaded, not what a configuration file
//! asks for.
//!
//! [`load`] puts a layout into the kernel: first boot (every boot) loads the
//! keymap the image build compiled for the installer's keyboard code
//! (`/usr/share/appliance/keymaps/<code>.bkeymap`, the installer's own
//! compiled keymaps, in the binary format `loadkeys -b` writes: `"bkeymap"`,
//! one presence flag per modifier table (256), then 128 little-endian `u16`
//! entries per present table). That takes milliseconds, where Debian's
//! `keyboard-setup`/`console-setup` (`setupcon`, `loadkeys` of its cached
//! keymap, `ckbcomp` after a change) took up to 15 s of the boot under
//! emulation; those units are skipped when [`LOADED_MARK`] exists.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The VGA console's first virtual terminal.
pub const TTY1: &str = "/dev/tty1";
/// The keycodes of the top letter row (Linux input keycodes `KEY_Q` …
/// `KEY_P`).
pub const TOP_ROW: std::ops::RangeInclusive<u8> = 16..=25;
/// Shown for an entry that is no plain character (a dead key, a function).
pub const NOT_A_CHAR: char = '?';

/// `struct kbentry` of `<linux/kd.h>`.
#[repr(C)]
#[derive(Debug, Default)]
struct KbEntry {
    kb_table: u8,
    kb_index: u8,
    kb_value: u16,
}

// KDGKBENT (0x4B46), KDSKBENT (0x4B47) and KDSKBMODE (0x4B45) are
// old-style ioctl numbers, not _IOWR-encoded.
nix::ioctl_readwrite_bad!(kdgkbent, 0x4B46, KbEntry);
nix::ioctl_write_ptr_bad!(kdskbent, 0x4B47, KbEntry);
nix::ioctl_write_int_bad!(kdskbmode, 0x4B45);

/// Where the image keeps the compiled console keymaps, `<code>.bkeymap`.
pub const BKEYMAP_DIR: &str = "/usr/share/appliance/keymaps";
/// Written (with the layout's code) once [`load`] has loaded the layout on
/// this boot; Debian's `keyboard-setup.service` and `console-setup.service`
/// do not run when it exists (their drop-ins' `ConditionPathExists=!`).
pub const LOADED_MARK: &str = "/run/appliance/console-keymap";
/// The foreground virtual terminal: keymaps are global, the keyboard mode
/// belongs to the terminal.
pub const TTY0: &str = "/dev/tty0";
/// `K_UNICODE`: keys produce UTF-8.
const K_UNICODE: i32 = 3;
/// The file's magic.
const MAGIC: &[u8; 7] = b"bkeymap";
/// Modifier tables the header has a flag for.
const NR_TABLES: usize = 256;
/// Keycodes per table in the file.
const NR_KEYS: usize = 128;

/// Why a compiled keymap cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is not a compiled keymap.
    #[error("{path}: not a compiled keymap: {detail}")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Reading the file or a console ioctl failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or console.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The `(table, keycode, value)` entries of a compiled keymap, in file
/// order; an error says what is wrong with it.
pub fn entries(bytes: &[u8]) -> Result<Vec<(u8, u8, u16)>, String> {
    let header = MAGIC.len() + NR_TABLES;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err(format!(
            "{} bytes without the \"bkeymap\" header of {header}",
            bytes.len()
        ));
    }
    let mut tables = Vec::new();
    for (table, &flag) in bytes[MAGIC.len()..header].iter().enumerate() {
        match flag {
            0 => {}
            // table < NR_TABLES = 256.
            1 => tables.push(table as u8),
            other => return Err(format!("table {table} has the flag {other}, not 0 or 1")),
        }
    }
    let want = header + tables.len() * NR_KEYS * 2;
    if tables.is_empty() || bytes.len() != want {
        return Err(format!(
            "{} tables need {want} bytes, the file has {}",
            tables.len(),
            bytes.len()
        ));
    }
    let mut out = Vec::with_capacity(tables.len() * NR_KEYS);
    for (table, raw) in tables.iter().zip(bytes[header..].chunks_exact(NR_KEYS * 2)) {
        for (key, b) in raw.chunks_exact(2).enumerate() {
            // key < NR_KEYS = 128.
            out.push((*table, key as u8, u16::from_le_bytes([b[0], b[1]])));
        }
    }
    Ok(out)
}

/// The compiled keymap of the installer's keyboard `code` below `root`.
pub fn bkeymap_path(root: &Path, code: &str) -> std::path::PathBuf {
    crate::fsutil::under(root, BKEYMAP_DIR).join(format!("{code}.bkeymap"))
}

/// Loads the compiled keymap `file` into the kernel through the virtual
/// terminal `tty` (normally [`TTY0`]): Unicode keyboard mode, then one
/// `KDSKBENT` per entry. Entries the kernel refuses with EINVAL (a keysym
/// it does not know) are skipped as `loadkeys` does; returns how many.
pub fn load(file: &Path, tty: &Path) -> Result<usize, LoadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LoadError::Io { path, source }
    };
    let bytes = std::fs::read(file).map_err(io(file))?;
    let list = entries(&bytes).map_err(|detail| LoadError::Format {
        path: file.to_path_buf(),
        detail,
    })?;
    let vt = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
        .open(tty)
        .map_err(io(tty))?;
    let fd = vt.as_raw_fd();
    // SAFETY: KDSKBMODE takes its argument by value; the fd is open.
    unsafe { kdskbmode(fd, K_UNICODE) }.map_err(|e| io(tty)(std::io::Error::from(e)))?;
    let mut skipped = 0;
    for (table, key, value) in list {
        let e = KbEntry {
            kb_table: table,
            kb_index: key,
            kb_value: value,
        };
        // SAFETY: `e` is a valid `struct kbentry` that outlives the call;
        // the kernel only reads it.
        match unsafe { kdskbent(fd, &e) } {
            Ok(_) => {}
            Err(nix::errno::Errno::EINVAL) => skipped += 1,
            Err(err) => return Err(io(tty)(std::io::Error::from(err))),
        }
    }
    Ok(skipped)
}

/// The character a keymap entry types, if it is a plain one: `KT_LATIN`
/// (0) or `KT_LETTER` (11) with a Latin-1 value, or a Unicode entry
/// (`0xF000 ^ code point`, what `loadkeys -u` stores).
pub fn entry_char(value: u16) -> Option<char> {
    const KT_LATIN: u16 = 0;
    const KT_LETTER: u16 = 11;
    if value >= 0xF000 {
        return char::from_u32(u32::from(value ^ 0xF000)).filter(|c| !c.is_control());
    }
    let (kind, code) = (value >> 8, value & 0xFF);
    if kind == KT_LATIN || kind == KT_LETTER {
        let c = char::from(code as u8);
        return (!c.is_control()).then_some(c);
    }
    None
}

/// The top letter row as the kernel maps it on `tty` (normally [`TTY1`]);
/// [`NOT_A_CHAR`] for an entry that is no plain character.
pub fn top_row(tty: &Path) -> std::io::Result<String> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
        .open(tty)?;
    let mut out = String::new();
    for keycode in TOP_ROW {
        let mut e = KbEntry {
            kb_table: 0,
            kb_index: keycode,
            kb_value: 0,
        };
        // SAFETY: `e` is a valid `struct kbentry` that lives across the
        // call; the kernel reads table and index and writes the value.
        unsafe { kdgkbent(f.as_raw_fd(), &mut e) }.map_err(std::io::Error::from)?;
        out.push(entry_char(e.kb_value).unwrap_or(NOT_A_CHAR));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decode_as_the_kernel_stores_them() {
        // K(KT_LETTER, 'z') as the kernel's defkeymap and loadkeys store letters.
        assert_eq!(entry_char(0x0B7A), Some('z'));
        // K(KT_LATIN, 'q').
        assert_eq!(entry_char(0x0071), Some('q'));
        // A Unicode entry (loadkeys -u): U+00DF ß.
        assert_eq!(entry_char(0xF000 ^ 0x00DF), Some('ß'));
        // K_HOLE (KT_SPEC 0), a function key (KT_FN), dead keys (KT_DEAD,
        // KT_DEAD2), a control character.
        assert_eq!(entry_char(0x0200), None);
        assert_eq!(entry_char(0x0100), None);
        assert_eq!(entry_char(0x0400), None);
        assert_eq!(entry_char(0x0D60), None);
        assert_eq!(entry_char(0x0009), None);
    }

    /// A compiled keymap with the plain table and the AltGr table (2), the
    /// plain one typing `qwertz…` on the top row.
    fn compiled() -> Vec<u8> {
        let mut b = b"bkeymap".to_vec();
        let mut flags = [0u8; 256];
        flags[0] = 1;
        flags[2] = 1;
        b.extend_from_slice(&flags);
        for table in [0u16, 2] {
            for key in 0..128u16 {
                let v = match (table, key) {
                    (0, 16..=25) => 0x0B00 | u16::from(b"qwertzuiop"[usize::from(key - 16)]),
                    (2, 16) => 0x0040,
                    _ => 0x0200,
                };
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        b
    }

    #[test]
    fn compiled_keymaps_give_their_entries_in_file_order() {
        let list = entries(&compiled()).unwrap();
        assert_eq!(list.len(), 256);
        assert_eq!(list[0], (0, 0, 0x0200));
        assert_eq!(list[21], (0, 21, 0x0B7A));
        assert_eq!(list[128 + 16], (2, 16, 0x0040));
        let row: String = list[16..=25]
            .iter()
            .map(|e| entry_char(e.2).unwrap())
            .collect();
        assert_eq!(row, "qwertzuiop");
    }

    #[test]
    fn damaged_keymaps_are_refused_saying_why() {
        let good = compiled();
        let err = entries(&good[..100]).unwrap_err();
        assert!(err.contains("header"), "{err}");
        let err = entries(&good[..good.len() - 2]).unwrap_err();
        assert!(
            err.contains("2 tables need 775 bytes, the file has 773"),
            "{err}"
        );
        let mut bad = good.clone();
        bad[7 + 3] = 7;
        let err = entries(&bad).unwrap_err();
        assert!(err.contains("table 3 has the flag 7"), "{err}");
        let mut none = good[..7 + 256].to_vec();
        none[7] = 0;
        none[9] = 0;
        assert!(entries(&none).is_err());
        let mut magic = good;
        magic[0] = b'B';
        assert!(entries(&magic).is_err());
    }

    /// Loading goes to the kernel: on a file that is no virtual terminal
    /// the mode switch fails with ENOTTY, naming the device; a missing or
    /// damaged keymap file is named before any console is touched.
    #[test]
    fn loading_names_the_file_or_the_console_that_failed() {
        let dir = std::env::temp_dir().join(format!("keymap-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("de.bkeymap");
        std::fs::write(&file, compiled()).unwrap();
        let err = load(&file, Path::new("/dev/null")).unwrap_err();
        assert!(
            matches!(&err, LoadError::Io { path, source } if path == Path::new("/dev/null")
                && source.raw_os_error() == Some(nix::libc::ENOTTY)),
            "{err}"
        );
        let err = load(&dir.join("xx.bkeymap"), Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("xx.bkeymap"), "{err}");
        std::fs::write(&file, b"bkeymap").unwrap();
        let err = load(&file, Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("not a compiled keymap"), "{err}");
        assert_eq!(
            bkeymap_path(Path::new("/r"), "de"),
            Path::new("/r/usr/share/appliance/keymaps/de.bkeymap")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Debian's keyboard units are skipped exactly when [`load`] succeeded:
    /// their drop-ins test the file first boot writes then.
    #[test]
    fn the_drop_ins_test_the_mark_first_boot_writes() {
        for text in [
            include_str!("../units/dropins/keyboard-setup.conf"),
            include_str!("../units/dropins/console-setup.conf"),
        ] {
            assert!(
                text.contains(&format!("\nConditionPathExists=!{LOADED_MARK}\n")),
                "{text}"
            );
        }
    }

    /// A file that is no virtual terminal is refused with the kernel's
    /// error (ENOTTY), never read as a keymap.
    #[test]
    fn a_file_that_is_no_terminal_is_an_error() {
        let err = top_row(Path::new("/dev/null")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::ENOTTY), "{err}");
        assert!(top_row(Path::new("/nonexistent/tty1")).is_err());
    }
}
