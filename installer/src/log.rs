//! The installer's log: every line goes to `/run/installer/installer.log`;
//! info and above also go to `/dev/kmsg` (the kernel log), and warnings and
//! errors optionally to stderr (the console).
//!
//! Before [`init`] the lines only go to stderr. Logging never fails and
//! never panics; the global lock is only tried, never waited on forever.
//! Every line first passes [`crate::secret::redact`], so the file (which
//! the installed disk and the support bundle copy), the kernel log and the
//! console never hold a secret this process registered.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// The full log file.
pub const LOG_FILE: &str = "/run/installer/installer.log";

/// Severity of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Details, only in the log file.
    Debug,
    /// Progress.
    Info,
    /// Something failed but we carry on.
    Warn,
    /// Something failed badly.
    Error,
}

impl Level {
    /// The `/dev/kmsg` priority prefix (kernel log levels).
    fn kmsg_prefix(self) -> &'static str {
        match self {
            Level::Debug => "<7>",
            Level::Info => "<6>",
            Level::Warn => "<4>",
            Level::Error => "<3>",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

struct Logger {
    tag: String,
    file: Option<File>,
    kmsg: Option<File>,
    echo_min: Option<Level>,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// Where to send log lines.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Tag in front of every line, e.g. `installer` or `installer-ui`.
    pub tag: String,
    /// The log file (normally [`LOG_FILE`]); its directory is created.
    pub file: PathBuf,
    /// Also write to `/dev/kmsg`.
    pub kmsg: bool,
    /// Also echo lines of this level and above to stderr.
    pub echo_min: Option<Level>,
}

/// Opens the log targets. Call again to change them (e.g. in the UI child).
pub fn init(config: &LogConfig) {
    if let Some(dir) = config.file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&config.file)
        .ok();
    let kmsg = if config.kmsg {
        OpenOptions::new().write(true).open("/dev/kmsg").ok()
    } else {
        None
    };
    let logger = Logger {
        tag: config.tag.clone(),
        file,
        kmsg,
        echo_min: config.echo_min,
    };
    if let Ok(mut g) = LOGGER.lock() {
        *g = Some(logger);
    }
}

/// Seconds since boot (CLOCK_BOOTTIME), for the log file.
fn uptime() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; clock_gettime only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc == 0 {
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    } else {
        0.0
    }
}

/// Writes one line at `level`.
pub fn log(level: Level, msg: &str) {
    log_inner(level, msg, true);
}

fn log_inner(level: Level, msg: &str, allow_echo: bool) {
    // Redacted at the source: no target below ever sees a registered secret.
    let msg = &crate::secret::redact(msg);
    let guard = match LOGGER.try_lock() {
        Ok(g) => Some(g),
        // A poisoned lock still holds a usable logger.
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        // Held elsewhere (e.g. a panic while logging): don't deadlock.
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    let mut guard = match guard {
        Some(g) => g,
        None => {
            let _ = writeln!(std::io::stderr(), "installer: {msg}");
            return;
        }
    };
    match guard.as_mut() {
        None => {
            if allow_echo && level >= Level::Warn {
                let _ = writeln!(std::io::stderr(), "installer: {}: {msg}", level.label());
            }
        }
        Some(l) => {
            let pid = std::process::id();
            if let Some(f) = l.file.as_mut() {
                let _ = writeln!(
                    f,
                    "[{:10.3}] {}[{pid}] {}: {msg}",
                    uptime(),
                    l.tag,
                    level.label()
                );
            }
            if level >= Level::Info {
                if let Some(k) = l.kmsg.as_mut() {
                    // One write() per record, as /dev/kmsg requires.
                    let _ = k.write_all(
                        format!("{}{}[{pid}]: {msg}\n", level.kmsg_prefix(), l.tag).as_bytes(),
                    );
                }
            }
            // Errors written to /dev/kmsg (level 3) already reach the console.
            let kmsg_shows = level == Level::Error && l.kmsg.is_some();
            if allow_echo && !kmsg_shows && l.echo_min.is_some_and(|min| level >= min) {
                let _ = writeln!(std::io::stderr(), "{}: {msg}", l.tag);
            }
        }
    }
}

/// Logs a detail (file only).
pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

/// Logs progress.
pub fn info(msg: &str) {
    log(Level::Info, msg);
}

/// Logs a recoverable failure.
pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

/// Logs a serious failure.
pub fn error(msg: &str) {
    log(Level::Error, msg);
}

/// Installs a panic hook that logs the panic (message and location) and
/// prints it on stderr, allocating little. The default hook is replaced.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".to_string());
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let line = format!("PANIC at {location}: {msg}");
        let _ = writeln!(std::io::stderr(), "installer: {line}");
        log_inner(Level::Error, &line, false);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;

    #[test]
    fn lines_go_to_the_file_with_tag_pid_and_level() {
        let t = TempTree::new("log");
        let file = t.path().join("run/installer/installer.log");
        init(&LogConfig {
            tag: "unit".into(),
            file: file.clone(),
            kmsg: false,
            echo_min: None,
        });
        debug("detail one");
        warn("something odd");
        let text = std::fs::read_to_string(&file).unwrap();
        let pid = std::process::id();
        let mine: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&format!("unit[{pid}]")))
            .collect();
        assert!(
            mine.iter()
                .any(|l| l.ends_with(&format!("unit[{pid}] debug: detail one"))),
            "{text}"
        );
        assert!(
            mine.iter()
                .any(|l| l.ends_with(&format!("unit[{pid}] warn: something odd"))),
            "{text}"
        );
        assert!(
            mine.iter().all(|l| l.starts_with('[')),
            "lines start with the uptime: {text}"
        );
    }
}
