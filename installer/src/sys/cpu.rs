//! The machine's idle CPU time from `/proc/stat`, to tell in a download's
//! profile (and `installer raw-copy`'s) whether the CPU or the network was
//! the limit: near zero idle time during a transfer means every extra
//! cycle of work (hashing, copies) adds to its duration.

use std::time::Duration;

/// Clock ticks per second of `/proc/stat` (`USER_HZ`, 100 on Linux/x86).
const USER_HZ: u64 = 100;

/// Idle plus I/O-wait time of all CPUs in the first (`cpu `) line of a
/// `/proc/stat` text.
pub fn idle_of(stat: &str) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some(Duration::from_millis(idle * 1000 / USER_HZ))
}

/// The machine's idle CPU time so far (`None` without `/proc`).
pub fn idle() -> Option<Duration> {
    idle_of(&std::fs::read_to_string("/proc/stat").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_iowait_of_the_cpu_line() {
        let stat = "cpu  10 0 20 1234 66 0 3 0 0 0\ncpu0 10 0 20 1234 66 0 3 0 0 0\nintr 1\n";
        assert_eq!(idle_of(stat), Some(Duration::from_millis(13_000)));
        assert_eq!(idle_of("cpu  1 2 3\n"), None);
        assert_eq!(idle_of("cpu  1 2 x 4 5\n"), None);
        assert_eq!(idle_of("intr 1\n"), None);
    }
}
