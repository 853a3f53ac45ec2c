//! The installer's machine-readable events, read from the file behind QEMU's
//! second serial port: one `INSTALLER-EVENT {json}` line per event, parsed
//! into the `protocol` crate's [`Event`].

use std::path::Path;

use anyhow::{bail, Result};
use protocol::Event;

pub use protocol::SERIAL_PREFIX as PREFIX;

/// Parses every complete event line in `text`; other lines are ignored. A
/// line with the prefix that is not an event is an error (a renamed event or
/// field on one side only shows up here).
pub fn parse(text: &str) -> Result<Vec<Event>> {
    let mut out = Vec::new();
    for line in text.lines() {
        match Event::from_serial_line(line) {
            None => {}
            Some(Ok(e)) => out.push(e),
            Some(Err(e)) => bail!("malformed event line ({e}): {}", line.trim_end()),
        }
    }
    Ok(out)
}

/// The events in the file at `path` so far; a line still being written has
/// no newline yet and is left for the next read. A missing file has none.
pub fn read(path: &Path) -> Result<Vec<Event>> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    parse(complete)
}

/// Event names with prompt ids (`prompt:menu`), for error messages.
pub fn names(events: &[Event]) -> String {
    let n: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::Prompt { id } => format!("prompt:{id}"),
            e => e.name().to_string(),
        })
        .collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Firmware;

    #[test]
    fn parses_prefixed_lines_only() {
        let text = "noise\r\n\x1b[0m\x1b[37mINSTALLER-EVENT {\"event\":\"medium\",\"device\":\"/dev/sr0\",\"kind\":\"cdrom\"}\r\nINSTALLER-EVENT {\"event\":\"first-screen\"}\n";
        let ev = parse(text).unwrap();
        assert_eq!(ev.len(), 2);
        assert!(matches!(&ev[0], Event::Medium { device, .. } if device == "/dev/sr0"));
        assert_eq!(ev[1], Event::FirstScreen);
        assert_eq!(names(&ev), "medium, first-screen");
        let started = r#"INSTALLER-EVENT {"event":"started","version":"1","console":"ttyS0","firmware":"uefi","secure_boot":false,"loader":"grub","cmdline":""}"#;
        assert!(matches!(
            parse(started).unwrap()[..],
            [Event::Started {
                firmware: Firmware::Uefi,
                ..
            }]
        ));
    }

    #[test]
    fn malformed_or_unknown_event_is_an_error() {
        let err = parse("INSTALLER-EVENT {\"event\":")
            .unwrap_err()
            .to_string();
        assert!(err.contains("malformed event line"), "{err}");
        // A field the harness expects is missing (renamed on one side).
        let err = parse("INSTALLER-EVENT {\"event\":\"prompt\",\"name\":\"menu\"}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `id`"), "{err}");
        assert!(parse("INSTALLER-EVENT {\"x\":1}").is_err());
    }

    #[test]
    fn reads_complete_lines_only() {
        let dir = std::env::temp_dir().join(format!("qt-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("events.log");
        std::fs::write(
            &p,
            "INSTALLER-EVENT {\"event\":\"first-screen\"}\nINSTALLER-EVENT {\"event\":\"pro",
        )
        .unwrap();
        assert_eq!(read(&p).unwrap(), vec![Event::FirstScreen]);
        assert!(read(&dir.join("none")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
