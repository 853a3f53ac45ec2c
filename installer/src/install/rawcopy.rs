//! `installer raw-copy URL DEVICE`: the baseline of `cargo xtask bench
//! install`. Streams `URL` to `DEVICE` with the installer's own HTTPS client
//! (the vendor CA built into the ISO, the same buffer size as a download)
//! and with everything the install adds left out: no SHA-256 of chunks or
//! object, no partitioning, no boot partition, no retries; one flush at the
//! end, as the install flushes. It prints the machine's idle CPU time during
//! the copy too (near zero: the CPU was the limit). For the rescue shell; it
//! writes the device from byte 0.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::download::{RetryPolicy, BUF_SIZE};
use crate::backend::fetch::Client;
use crate::vendor::config::CA_PEM;

/// Usage text.
pub const USAGE: &str =
    "usage: installer raw-copy URL DEVICE   (no verification: a benchmark baseline)";

/// Runs the copy; prints `raw-copy: N bytes in S s` and returns 0, or the
/// error and 1.
pub fn main(args: &[&str]) -> i32 {
    let [url, device] = args else {
        eprintln!("installer: raw-copy needs URL and DEVICE\n{USAGE}");
        return 2;
    };
    match copy(url, device) {
        Ok((bytes, seconds, idle)) => {
            let idle = idle.map_or(String::new(), |d| {
                format!(" (CPU idle {:.1} s)", d.as_secs_f64())
            });
            println!("raw-copy: {bytes} bytes in {seconds:.2} s{idle}");
            0
        }
        Err(e) => {
            eprintln!("installer: raw-copy {url} {device}: {e}");
            1
        }
    }
}

/// Bytes, seconds and the machine's idle CPU time during the copy.
fn copy(url: &str, device: &str) -> Result<(u64, f64, Option<Duration>), String> {
    let started = Instant::now();
    let idle_before = crate::sys::cpu::idle();
    let ca = std::fs::read(Path::new("/").join(CA_PEM))
        .map_err(|e| format!("reading /{CA_PEM}: {e}"))?;
    let client = Client::new(&ca, RetryPolicy::default().timeouts()).map_err(|e| e.to_string())?;
    let mut stream = client.get_stream(url, 0).map_err(|e| e.to_string())?;
    let mut disk =
        super::system::open_target(device).map_err(|e| format!("opening {device}: {e}"))?;
    let mut buf = vec![0u8; BUF_SIZE];
    let mut bytes = 0u64;
    loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        disk.write_all(&buf[..n])
            .map_err(|e| format!("writing {device}: {e}"))?;
        bytes += n as u64;
    }
    disk.sync_data()
        .map_err(|e| format!("flushing {device}: {e}"))?;
    let idle = crate::sys::cpu::idle()
        .zip(idle_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok((bytes, started.elapsed().as_secs_f64(), idle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_arguments_are_a_usage_error() {
        assert_eq!(main(&[]), 2);
        assert_eq!(main(&["https://h/x"]), 2);
        assert_eq!(main(&["https://h/x", "/dev/null", "extra"]), 2);
    }
}
