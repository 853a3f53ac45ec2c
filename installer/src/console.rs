//! Which terminal the installer runs on, and attaching to it.
//!
//! `/dev/console` is the LAST `console=` of the command line and can never be
//! a controlling terminal, so the UI child resolves it to the real device
//! (`ttyS0`, `tty1`, ...) from `/sys/class/tty/console/active`, opens that
//! with `TIOCSCTTY`, and prints a pointer on every other console.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Kind of terminal behind a console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleKind {
    /// A virtual terminal on the screen (`tty1`...).
    Vt,
    /// A serial line or other non-VT console (`ttyS0`, `hvc0`...).
    Serial,
}

/// A console device, named as under `/dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleDev {
    /// Device name without `/dev/`, e.g. `ttyS0` or `tty1`.
    pub name: String,
    /// VT or serial.
    pub kind: ConsoleKind,
}

impl ConsoleDev {
    /// Maps a kernel console name to the device to open: `tty0` (the
    /// foreground VT) becomes `tty1`, the VT in front at boot.
    pub fn from_kernel_name(name: &str) -> Self {
        let kind = if is_vt_name(name) {
            ConsoleKind::Vt
        } else {
            ConsoleKind::Serial
        };
        let name = if name == "tty0" {
            "tty1".to_string()
        } else {
            name.to_string()
        };
        ConsoleDev { name, kind }
    }

    /// `/dev/<name>`.
    pub fn dev_path(&self) -> PathBuf {
        Path::new("/dev").join(&self.name)
    }

    /// The `TERM` value for this console: `linux` on a VT, `vt220` on serial
    /// (systemd's defaults).
    pub fn term(&self) -> &'static str {
        match self.kind {
            ConsoleKind::Vt => "linux",
            ConsoleKind::Serial => "vt220",
        }
    }

    /// A short human description, e.g. `ttyS0 (serial console)`.
    pub fn describe(&self) -> String {
        match self.kind {
            ConsoleKind::Vt => format!("{} (screen and keyboard)", self.name),
            ConsoleKind::Serial => format!("{} (serial console)", self.name),
        }
    }
}

/// `ttyN` with N all digits.
fn is_vt_name(name: &str) -> bool {
    name.strip_prefix("tty")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The console the installer uses and the others that only get a pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLayout {
    /// Where the interactive installer runs (the kernel's preferred console).
    pub primary: ConsoleDev,
    /// Every other active console, without duplicates of the primary.
    pub others: Vec<ConsoleDev>,
}

/// Resolves the text of `/sys/class/tty/console/active` (e.g. `"tty0 ttyS0\n"`,
/// last entry = `/dev/console`). Returns `None` if it names no console.
pub fn resolve_active(active: &str) -> Option<ConsoleLayout> {
    let devs: Vec<ConsoleDev> = active
        .split_whitespace()
        .map(ConsoleDev::from_kernel_name)
        .collect();
    let primary = devs.last()?.clone();
    let mut others: Vec<ConsoleDev> = Vec::new();
    for d in &devs[..devs.len() - 1] {
        if d.name != primary.name && !others.iter().any(|o| o.name == d.name) {
            others.push(d.clone());
        }
    }
    Some(ConsoleLayout { primary, others })
}

/// Resolves the console layout from `<root>/sys/class/tty/console/active`,
/// falling back to the `console=` list of the command line, then to `tty1`.
pub fn resolve(root: &Path, cmdline_consoles: &[String]) -> ConsoleLayout {
    let active =
        std::fs::read_to_string(root.join("sys/class/tty/console/active")).unwrap_or_default();
    if let Some(layout) = resolve_active(&active) {
        return layout;
    }
    if let Some(layout) = resolve_active(&cmdline_consoles.join(" ")) {
        return layout;
    }
    ConsoleLayout {
        primary: ConsoleDev::from_kernel_name("tty1"),
        others: Vec::new(),
    }
}

/// The line printed on a console that does NOT run the installer: where it
/// runs, and which boot menu entry brings it here.
pub fn pointer_message(primary: &ConsoleDev, here: &ConsoleDev) -> String {
    let entry = match here.kind {
        ConsoleKind::Vt => "\"Install\"",
        ConsoleKind::Serial => "\"Install on serial console\"",
    };
    format!(
        "The installer is running on {}. To use it here instead, reboot and choose {} in the boot menu.",
        primary.describe(),
        entry
    )
}

/// Errors attaching to the console.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// `setsid()` failed.
    #[error("cannot start a new session: {0}")]
    Setsid(nix::Error),
    /// The console device could not be opened.
    #[error("cannot open console {path}: {source}")]
    Open {
        /// The device.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `TIOCSCTTY` failed.
    #[error("cannot make {path} the controlling terminal: {source}")]
    Ctty {
        /// The device.
        path: PathBuf,
        /// The errno.
        source: nix::Error,
    },
    /// `dup2` onto stdin/stdout/stderr failed.
    #[error("cannot redirect standard streams to {path}: {source}")]
    Dup {
        /// The device.
        path: PathBuf,
        /// The errno.
        source: nix::Error,
    },
}

nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);
nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// Makes `dev` this process's controlling terminal and its stdin/stdout/stderr:
/// `setsid()`, open, `TIOCSCTTY`, `dup2` onto 0/1/2, `TERM`, and on serial a
/// 80×24 window size if the driver reports 0×0.
/// Only for the UI child (it must not be a process group leader).
pub fn attach(dev: &ConsoleDev) -> Result<(), ConsoleError> {
    let path = dev.dev_path();
    nix::unistd::setsid().map_err(ConsoleError::Setsid)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)
        .map_err(|source| ConsoleError::Open {
            path: path.clone(),
            source,
        })?;
    let fd = file.as_raw_fd();
    // SAFETY: TIOCSCTTY takes an int argument; fd is a valid open tty.
    unsafe { tiocsctty(fd, 0) }.map_err(|source| ConsoleError::Ctty {
        path: path.clone(),
        source,
    })?;
    for target in 0..3 {
        nix::unistd::dup2(fd, target).map_err(|source| ConsoleError::Dup {
            path: path.clone(),
            source,
        })?;
    }
    drop(file);
    std::env::set_var("TERM", dev.term());
    if dev.kind == ConsoleKind::Serial {
        fix_serial_winsize(0);
    }
    Ok(())
}

/// On serial lines `TIOCGWINSZ` succeeds with 0 rows and 0 columns; set 80×24.
fn fix_serial_winsize(fd: libc::c_int) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: ws is a valid, writable winsize.
    let got = unsafe { tiocgwinsz(fd, &mut ws) };
    if got.is_ok() && (ws.ws_row == 0 || ws.ws_col == 0) {
        let want = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: want is a valid winsize.
        let _ = unsafe { tiocswinsz(fd, &want) };
    }
}

/// Writes the pointer message to each other console (best effort; a console
/// that cannot be opened is skipped). Returns the consoles written to.
pub fn point_other_consoles(layout: &ConsoleLayout) -> Vec<String> {
    let mut written = Vec::new();
    for other in &layout.others {
        let msg = pointer_message(&layout.primary, other);
        let opened: std::io::Result<File> = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(other.dev_path());
        if let Ok(mut f) = opened {
            if f.write_all(format!("\r\n{msg}\r\n").as_bytes()).is_ok() {
                written.push(other.name.clone());
            }
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_entry_last_console_is_primary() {
        let l = resolve_active("tty0 ttyS0\n").unwrap();
        assert_eq!(
            l.primary,
            ConsoleDev {
                name: "ttyS0".into(),
                kind: ConsoleKind::Serial
            }
        );
        assert_eq!(
            l.others,
            vec![ConsoleDev {
                name: "tty1".into(),
                kind: ConsoleKind::Vt
            }]
        );
        assert_eq!(l.primary.term(), "vt220");
    }

    #[test]
    fn vga_entry_maps_tty0_to_tty1() {
        let l = resolve_active("ttyS0 tty0").unwrap();
        assert_eq!(l.primary.name, "tty1");
        assert_eq!(l.primary.kind, ConsoleKind::Vt);
        assert_eq!(l.primary.term(), "linux");
        assert_eq!(l.primary.dev_path(), PathBuf::from("/dev/tty1"));
        assert_eq!(l.others.len(), 1);
        assert_eq!(l.others[0].name, "ttyS0");
    }

    #[test]
    fn duplicates_of_primary_are_dropped() {
        let l = resolve_active("tty0 tty1 ttyS0 ttyS0").unwrap();
        assert_eq!(l.primary.name, "ttyS0");
        let names: Vec<&str> = l.others.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["tty1"]);
    }

    #[test]
    fn empty_active_falls_back_to_cmdline_then_tty1() {
        assert_eq!(resolve_active(" \n"), None);
        let root = Path::new("/nonexistent-root");
        let l = resolve(root, &["tty0".to_string(), "ttyS1".to_string()]);
        assert_eq!(l.primary.name, "ttyS1");
        assert_eq!(resolve(root, &[]).primary.name, "tty1");
    }

    #[test]
    fn hvc_and_ttys_are_serial_kinds() {
        assert_eq!(
            ConsoleDev::from_kernel_name("hvc0").kind,
            ConsoleKind::Serial
        );
        assert_eq!(
            ConsoleDev::from_kernel_name("ttyS3").kind,
            ConsoleKind::Serial
        );
        assert_eq!(
            ConsoleDev::from_kernel_name("tty").kind,
            ConsoleKind::Serial
        );
        assert_eq!(ConsoleDev::from_kernel_name("tty12").kind, ConsoleKind::Vt);
    }

    #[test]
    fn pointer_names_primary_and_the_right_boot_entry() {
        let serial = ConsoleDev::from_kernel_name("ttyS0");
        let vt = ConsoleDev::from_kernel_name("tty0");
        let on_vt = pointer_message(&serial, &vt);
        assert!(
            on_vt.starts_with("The installer is running on ttyS0"),
            "{on_vt}"
        );
        assert!(on_vt.contains("\"Install\" in the boot menu"), "{on_vt}");
        let on_serial = pointer_message(&vt, &serial);
        assert!(
            on_serial.starts_with("The installer is running on tty1"),
            "{on_serial}"
        );
        assert!(
            on_serial.contains("\"Install on serial console\""),
            "{on_serial}"
        );
    }
}
