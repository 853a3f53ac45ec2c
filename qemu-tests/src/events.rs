//! The installer's machine-readable events, read from the file behind QEMU's
//! second serial port: one `INSTALLER-EVENT {json}` line per event.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::Value;

pub const PREFIX: &str = "INSTALLER-EVENT ";

/// Parses every complete event line in `text`; other lines are ignored.
pub fn parse(text: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        // Firmware may have written to the same port before the kernel took it
        // over (OVMF mirrors its console to every UART), so the prefix need
        // not start the line.
        if let Some(json) = line.find(PREFIX).map(|i| &line[i + PREFIX.len()..]) {
            match serde_json::from_str::<Value>(json) {
                Ok(v) if v.get("event").and_then(Value::as_str).is_some() => out.push(v),
                Ok(_) => bail!("event line without an \"event\" name: {line}"),
                Err(e) => bail!("malformed event line ({e}): {line}"),
            }
        }
    }
    Ok(out)
}

/// The first event called `name`.
pub fn find<'a>(events: &'a [Value], name: &str) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e.get("event").and_then(Value::as_str) == Some(name))
}

/// Polls `path` until an event called `name` arrives. `alive` is asked between
/// polls and stops the wait early (e.g. when QEMU has exited).
pub fn wait_for(
    path: &Path,
    name: &str,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<()>,
) -> Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        // A line still being written has no newline yet; parse only complete ones.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        let events = parse(complete)?;
        if find(&events, name).is_some() {
            return Ok(events);
        }
        alive()?;
        if Instant::now() >= deadline {
            bail!(
                "no {name:?} event within {timeout:?}; events so far: {}",
                names(&events)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn names(events: &[Value]) -> String {
    let n: Vec<&str> = events
        .iter()
        .filter_map(|e| e.get("event").and_then(Value::as_str))
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

    #[test]
    fn parses_prefixed_lines_only() {
        let text = "noise\r\n\x1b[0m\x1b[37mINSTALLER-EVENT {\"event\":\"started\",\"firmware\":\"uefi\"}\r\nINSTALLER-EVENT {\"event\":\"first-screen\"}\n";
        let ev = parse(text).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(find(&ev, "started").unwrap()["firmware"], "uefi");
        assert!(find(&ev, "power").is_none());
    }

    #[test]
    fn malformed_event_is_an_error() {
        let err = parse("INSTALLER-EVENT {\"event\":")
            .unwrap_err()
            .to_string();
        assert!(err.contains("malformed event line"), "{err}");
        let err = parse("INSTALLER-EVENT {\"x\":1}").unwrap_err().to_string();
        assert!(err.contains("without an \"event\""), "{err}");
    }
}
