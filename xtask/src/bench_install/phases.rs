//! The install's phases on the host's clock, for `cargo xtask bench
//! install`: the events file behind QEMU's second serial port is read every
//! [`POLL`] while the install runs, and each event that starts or ends a
//! phase is stamped with the time since QEMU started. The installer emits
//! a note after the wipe, a forced progress event when a download starts
//! and when it has verified (`done == total`), and notes before the boot
//! loader and before the partition table; the intervals between these
//! marks are the breakdown. Resolution: [`POLL`] plus the serial line's
//! transmission (about 10 ms per event at 115200 baud).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use qemu_tests::events::PREFIX;
use serde_json::Value;

/// How often the events file is read.
pub const POLL: Duration = Duration::from_millis(50);

/// One event that starts or ends a phase, at `at` seconds after QEMU started.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub at: f64,
    pub what: String,
}

/// The phase an event line marks, if any. `last` is the previous
/// `install-progress` key (stage and component), so that rate-limited
/// progress in between marks nothing.
fn mark_of(line: &str, last: &mut Option<(String, String)>) -> Option<String> {
    // The prefix need not start the line (console noise before it).
    let json = line.split_once(PREFIX)?.1.trim();
    let v: Value = serde_json::from_str(json).ok()?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match v.get("event").and_then(Value::as_str)? {
        "install" => Some("install started".into()),
        "installed" => Some("installed".into()),
        "install-failed" => Some(format!("install failed ({})", text("stage"))),
        "install-progress" => {
            let key = (text("stage"), text("component"));
            let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
            let (done, total) = (num("done"), num("total"));
            let new = last.as_ref() != Some(&key);
            *last = Some(key.clone());
            let (stage, component) = key;
            if component.is_empty() {
                return new.then(|| format!("{stage} note"));
            }
            if new {
                Some(format!("{stage} {component}: start"))
            } else if total > 0 && done == total {
                Some(format!("{stage} {component}: verified"))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Reads new complete lines of an events file and stamps the marks.
pub struct Watch {
    path: PathBuf,
    read: usize,
    started: Instant,
    last: Option<(String, String)>,
    pub marks: Vec<Mark>,
}

impl Watch {
    /// Watches `path`; times count from `started` (QEMU's start).
    pub fn new(path: &Path, started: Instant) -> Watch {
        Watch {
            path: path.to_path_buf(),
            read: 0,
            started,
            last: None,
            marks: Vec::new(),
        }
    }

    /// Stamps the marks in the lines completed since the last call; true
    /// once the install ended (`installed` or `install-failed`).
    pub fn poll(&mut self) -> Result<bool> {
        let at = self.started.elapsed().as_secs_f64();
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return Ok(false);
        };
        if end < self.read {
            return Ok(self.ended());
        }
        let text = String::from_utf8_lossy(&bytes[self.read..=end]).into_owned();
        self.read = end + 1;
        for line in text.lines() {
            if let Some(what) = mark_of(line, &mut self.last) {
                self.marks.push(Mark { at, what });
            }
        }
        Ok(self.ended())
    }

    fn ended(&self) -> bool {
        self.marks
            .last()
            .is_some_and(|m| m.what == "installed" || m.what.starts_with("install failed"))
    }
}

/// The intervals between consecutive marks, one line each.
pub fn render(marks: &[Mark]) -> Vec<String> {
    marks
        .windows(2)
        .map(|w| {
            format!(
                "{:>6.1} s  {} → {}",
                w[1].at - w[0].at,
                w[0].what,
                w[1].what
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(lines: &[&str]) -> Vec<String> {
        let mut last = None;
        lines.iter().filter_map(|l| mark_of(l, &mut last)).collect()
    }

    #[test]
    fn marks_phase_starts_and_verified_downloads_only() {
        let p = |stage: &str, c: &str, done: u64, total: u64| {
            let c = if c.is_empty() {
                "null".to_string()
            } else {
                format!("\"{c}\"")
            };
            format!(
                "INSTALLER-EVENT {{\"event\":\"install-progress\",\"stage\":\"{stage}\",\"component\":{c},\"done\":{done},\"total\":{total}}}"
            )
        };
        let lines = [
            "INSTALLER-EVENT {\"event\":\"install\",\"device\":\"/dev/sda\",\"table\":\"mbr\",\"release\":\"1\"}".to_string(),
            p("wipe", "", 0, 0),
            p("download", "data", 0, 100),
            p("download", "data", 50, 100),
            "console noise".to_string(),
            p("download", "data", 100, 100),
            p("download", "kernel", 0, 10),
            p("download", "kernel", 10, 10),
            p("bootloader", "", 0, 0),
            p("partition-table", "", 0, 0),
            "INSTALLER-EVENT {\"event\":\"installed\",\"install_id\":\"x\",\"seconds\":1.0,\"downloaded\":110}".to_string(),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(
            marks(&refs),
            [
                "install started",
                "wipe note",
                "download data: start",
                "download data: verified",
                "download kernel: start",
                "download kernel: verified",
                "bootloader note",
                "partition-table note",
                "installed",
            ]
        );
    }

    #[test]
    fn renders_the_intervals() {
        let m = |at, what: &str| Mark {
            at,
            what: what.into(),
        };
        let r = render(&[m(1.0, "a"), m(3.5, "b"), m(3.5, "c")]);
        assert_eq!(r, ["   2.5 s  a → b", "   0.0 s  b → c"]);
    }

    #[test]
    fn the_watch_reads_complete_lines_once() {
        let dir = std::env::temp_dir().join(format!("bench-phases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.log");
        std::fs::write(
            &path,
            "INSTALLER-EVENT {\"event\":\"install\"}\nINSTALLER-EV",
        )
        .unwrap();
        let mut w = Watch::new(&path, Instant::now());
        assert!(!w.poll().unwrap());
        assert!(!w.poll().unwrap());
        std::fs::write(
            &path,
            "INSTALLER-EVENT {\"event\":\"install\"}\nINSTALLER-EVENT {\"event\":\"installed\"}\n",
        )
        .unwrap();
        assert!(w.poll().unwrap());
        let what: Vec<&str> = w.marks.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(what, ["install started", "installed"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
