//! Which keymap the **kernel** holds for the VGA console: the plain table
//! (no modifier) entries of the top letter row, keycodes 16 to 25 (the
//! keys a US keyboard labels Q to P), read with the `KDGKBENT` ioctl on
//! `/dev/tty1`. `us` gives `qwertyuiop`, `de` `qwertzuiop`, `fr`
//! `azertyuiop`. Console keymaps are global to all virtual terminals, so
//! tty1 stands for the VGA console. Printed in the `APPLIANCE-READY` line
//! so a test sees what `keyboard-setup` really loaded, not what a
//! configuration file asks for.

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

// KDGKBENT (0x4B46) is an old-style ioctl number, not _IOWR-encoded.
nix::ioctl_readwrite_bad!(kdgkbent, 0x4B46, KbEntry);

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

    /// A file that is no virtual terminal is refused with the kernel's
    /// error (ENOTTY), never read as a keymap.
    #[test]
    fn a_file_that_is_no_terminal_is_an_error() {
        let err = top_row(Path::new("/dev/null")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::ENOTTY), "{err}");
        assert!(top_row(Path::new("/nonexistent/tty1")).is_err());
    }
}
