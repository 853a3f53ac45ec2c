//! Loading a [`Bkeymap`] into the kernel's console keyboard:
//! switch the VT keyboard to Unicode mode (`KDSKBMODE K_UNICODE`), turn on
//! UTF-8 output (`ESC % G`), then one `KDSKBENT` per entry. Keymaps are global
//! to all VTs; the mode belongs to the VT the device points at (`/dev/tty0`
//! is the foreground one).
//!
//! The effects go through [`VtOps`], so the order and the arguments of the
//! calls are unit-tested with a recorder; [`Vt`] issues the real ioctls.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use thiserror::Error;

use super::bkeymap::{Bkeymap, Entry};

/// `KDSKBMODE` from `linux/kd.h`: set the keyboard mode.
pub const KDSKBMODE: u32 = 0x4B45;
/// `KDSKBENT` from `linux/kd.h`: set one keymap entry.
pub const KDSKBENT: u32 = 0x4B47;
/// `K_UNICODE` from `linux/kd.h`: keys produce UTF-8.
pub const K_UNICODE: i32 = 3;
/// Written to the VT to switch its output to UTF-8.
pub const UTF8_ON: &[u8] = b"\x1b%G";

/// `struct kbentry` from `linux/kd.h`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KbEntry {
    /// Modifier table.
    pub kb_table: u8,
    /// Keycode.
    pub kb_index: u8,
    /// Keysym value.
    pub kb_value: u16,
}

impl From<Entry> for KbEntry {
    fn from(e: Entry) -> Self {
        KbEntry {
            kb_table: e.table,
            kb_index: e.index,
            kb_value: e.value,
        }
    }
}

nix::ioctl_write_int_bad!(
    /// `ioctl(fd, KDSKBMODE, mode)`.
    kdskbmode,
    KDSKBMODE
);
nix::ioctl_write_ptr_bad!(
    /// `ioctl(fd, KDSKBENT, &entry)`.
    kdskbent,
    KDSKBENT,
    KbEntry
);

/// The console operations applying a keymap needs.
pub trait VtOps {
    /// `KDSKBMODE` with `mode`.
    fn set_mode(&mut self, mode: i32) -> Result<(), Errno>;
    /// Writes bytes to the terminal.
    fn write_tty(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// `KDSKBENT` with `entry`.
    fn set_entry(&mut self, entry: &KbEntry) -> Result<(), Errno>;
}

/// Why a keymap could not be applied.
#[derive(Debug, Error)]
pub enum ApplyError {
    /// The console device could not be opened.
    #[error("cannot open the console {device}: {source}")]
    Open {
        /// The device, e.g. `/dev/tty0`.
        device: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `KDSKBMODE` failed (e.g. ENOTTY: not a virtual terminal).
    #[error("cannot switch the keyboard of {device} to Unicode mode: {errno}")]
    Mode {
        /// The device.
        device: PathBuf,
        /// The ioctl's error.
        errno: Errno,
    },
    /// `KDSKBENT` failed for a reason other than a value this kernel rejects.
    #[error(
        "cannot set key {index} of table {table} on {device} ({applied} entries were set): {errno}"
    )]
    Entry {
        /// The device.
        device: PathBuf,
        /// Modifier table of the failed entry.
        table: u8,
        /// Keycode of the failed entry.
        index: u8,
        /// Entries set before the failure.
        applied: usize,
        /// The ioctl's error.
        errno: Errno,
    },
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// Entries the kernel accepted.
    pub entries: usize,
    /// Entries it rejected with EINVAL (a keysym this kernel does not know);
    /// like `loadkeys`, those keys are skipped.
    pub skipped: Vec<KbEntry>,
    /// Writing `ESC % G` failed (the keymap itself is loaded).
    pub utf8_output_failed: bool,
}

/// Loads `keymap` through `vt`; `device` only names it in errors.
pub fn apply(vt: &mut impl VtOps, device: &Path, keymap: &Bkeymap) -> Result<Applied, ApplyError> {
    vt.set_mode(K_UNICODE).map_err(|errno| ApplyError::Mode {
        device: device.to_path_buf(),
        errno,
    })?;
    let mut done = Applied {
        utf8_output_failed: vt.write_tty(UTF8_ON).is_err(),
        ..Applied::default()
    };
    for entry in keymap.entries() {
        let e = KbEntry::from(entry);
        match vt.set_entry(&e) {
            Ok(()) => done.entries += 1,
            Err(Errno::EINVAL) => done.skipped.push(e),
            Err(errno) => {
                return Err(ApplyError::Entry {
                    device: device.to_path_buf(),
                    table: e.kb_table,
                    index: e.kb_index,
                    applied: done.entries,
                    errno,
                })
            }
        }
    }
    Ok(done)
}

/// A virtual terminal device opened for the keyboard ioctls.
#[derive(Debug)]
pub struct Vt {
    file: File,
}

impl Vt {
    /// Opens `device` (normally `/dev/tty0`) without making it the
    /// controlling terminal.
    pub fn open(device: &Path) -> Result<Vt, ApplyError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(device)
            .map_err(|source| ApplyError::Open {
                device: device.to_path_buf(),
                source,
            })?;
        Ok(Vt { file })
    }
}

impl VtOps for Vt {
    fn set_mode(&mut self, mode: i32) -> Result<(), Errno> {
        // SAFETY: KDSKBMODE takes its argument by value; the fd is open.
        unsafe { kdskbmode(self.file.as_raw_fd(), mode) }.map(drop)
    }

    fn write_tty(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)
    }

    fn set_entry(&mut self, entry: &KbEntry) -> Result<(), Errno> {
        // SAFETY: `entry` is a valid `struct kbentry` that outlives the call;
        // the kernel only reads it.
        unsafe { kdskbent(self.file.as_raw_fd(), entry) }.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyboard::bkeymap::tests::fixture;

    /// Records every call; fails entries and the mode on request.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        einval_at: Option<(u8, u8)>,
        eperm_at: Option<(u8, u8)>,
        mode_error: Option<Errno>,
    }

    impl VtOps for Recorder {
        fn set_mode(&mut self, mode: i32) -> Result<(), Errno> {
            self.calls.push(format!("KDSKBMODE {mode}"));
            self.mode_error.map_or(Ok(()), Err)
        }
        fn write_tty(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.calls.push(format!("write {bytes:?}"));
            Ok(())
        }
        fn set_entry(&mut self, e: &KbEntry) -> Result<(), Errno> {
            self.calls.push(format!(
                "KDSKBENT {} {} {:#06x}",
                e.kb_table, e.kb_index, e.kb_value
            ));
            let at = Some((e.kb_table, e.kb_index));
            if at == self.eperm_at {
                Err(Errno::EPERM)
            } else if at == self.einval_at {
                Err(Errno::EINVAL)
            } else {
                Ok(())
            }
        }
    }

    fn keymap() -> Bkeymap {
        Bkeymap::parse(&fixture()).unwrap()
    }

    #[test]
    fn kd_h_constants_and_struct_layout() {
        assert_eq!(KDSKBMODE, 0x4B45);
        assert_eq!(KDSKBENT, 0x4B47);
        assert_eq!(K_UNICODE, 3);
        assert_eq!(UTF8_ON, &[0x1B, b'%', b'G']);
        // struct kbentry { unsigned char kb_table, kb_index; unsigned short kb_value; }
        assert_eq!(std::mem::size_of::<KbEntry>(), 4);
        assert_eq!(std::mem::offset_of!(KbEntry, kb_table), 0);
        assert_eq!(std::mem::offset_of!(KbEntry, kb_index), 1);
        assert_eq!(std::mem::offset_of!(KbEntry, kb_value), 2);
    }

    #[test]
    fn unicode_mode_first_then_utf8_output_then_every_entry() {
        let mut r = Recorder::default();
        let done = apply(&mut r, Path::new("/dev/tty0"), &keymap()).unwrap();
        assert_eq!(done.entries, 256);
        assert!(done.skipped.is_empty());
        assert!(!done.utf8_output_failed);
        assert_eq!(r.calls.len(), 2 + 256);
        assert_eq!(r.calls[0], "KDSKBMODE 3");
        assert_eq!(r.calls[1], "write [27, 37, 71]");
        assert_eq!(r.calls[2], "KDSKBENT 0 0 0x0000");
        assert_eq!(r.calls[2 + 21], "KDSKBENT 0 21 0x0b7a");
        assert_eq!(r.calls[2 + 128 + 18], "KDSKBENT 2 18 0xd0ac");
        assert_eq!(r.calls[2 + 255], "KDSKBENT 2 127 0x0b40");
    }

    #[test]
    fn einval_entries_are_skipped_like_loadkeys_does() {
        let mut r = Recorder {
            einval_at: Some((2, 18)),
            ..Recorder::default()
        };
        let done = apply(&mut r, Path::new("/dev/tty0"), &keymap()).unwrap();
        assert_eq!(done.entries, 255);
        assert_eq!(
            done.skipped,
            vec![KbEntry {
                kb_table: 2,
                kb_index: 18,
                kb_value: 0xD0AC
            }]
        );
    }

    #[test]
    fn other_errors_stop_and_name_the_device_and_key() {
        let mut r = Recorder {
            eperm_at: Some((0, 5)),
            ..Recorder::default()
        };
        let err = apply(&mut r, Path::new("/dev/tty1"), &keymap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot set key 5 of table 0 on /dev/tty1 (5 entries were set): EPERM: Operation not permitted"
        );
        assert_eq!(r.calls.len(), 2 + 6, "stopped at the failing entry");

        let mut r = Recorder {
            mode_error: Some(Errno::ENOTTY),
            ..Recorder::default()
        };
        let err = apply(&mut r, Path::new("/dev/ttyS0"), &keymap()).unwrap_err();
        assert!(err.to_string().contains("/dev/ttyS0"), "{err}");
        assert_eq!(
            r.calls,
            vec!["KDSKBMODE 3"],
            "no entry after a failed mode switch"
        );
    }

    #[test]
    fn the_real_ioctls_reach_the_kernel_and_fail_on_a_non_vt() {
        // /dev/null is no terminal: the kernel answers KDSKBMODE with ENOTTY,
        // which shows the ioctl really is issued on the opened fd.
        let mut vt = Vt::open(Path::new("/dev/null")).unwrap();
        assert_eq!(vt.set_mode(K_UNICODE), Err(Errno::ENOTTY));
        let e = KbEntry {
            kb_table: 0,
            kb_index: 21,
            kb_value: 0x0B7A,
        };
        assert_eq!(vt.set_entry(&e), Err(Errno::ENOTTY));
        let err = apply(&mut vt, Path::new("/dev/null"), &keymap()).unwrap_err();
        assert!(
            matches!(
                err,
                ApplyError::Mode {
                    errno: Errno::ENOTTY,
                    ..
                }
            ),
            "{err}"
        );
        let err = Vt::open(Path::new("/nonexistent/tty0")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot open the console /nonexistent/tty0"),
            "{err}"
        );
    }
}
