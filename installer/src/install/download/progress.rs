//! Progress of a download: rate-limited reports with a sliding-window rate,
//! and their one-line rendering.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window the transfer rate is averaged over.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Minimum time between two progress reports (at most ~4 per second).
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// A progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The component's name.
    pub name: String,
    /// Stored bytes received and verified-as-they-go so far.
    pub done: u64,
    /// The stored size.
    pub total: u64,
    /// Bytes per second over the last [`RATE_WINDOW`]; `None` until measurable.
    pub rate: Option<f64>,
    /// Estimated time left at that rate.
    pub eta: Option<Duration>,
    /// Attempts made after a failure so far.
    pub retries: u32,
}

/// Renders a progress line of at most 80 columns, e.g.
/// `rootfs  45.2/64.0 MiB  70%  12.3 MiB/s  ETA 2 s  (2 retries)`.
pub fn render_progress(p: &Progress) -> String {
    let (div, unit) = match p.total {
        t if t >= 10 << 30 => ((1u64 << 30) as f64, "GiB"),
        t if t >= 1 << 20 => ((1u64 << 20) as f64, "MiB"),
        _ => (1024.0, "KiB"),
    };
    let percent = match p.total {
        0 => 100,
        t => (u128::from(p.done.min(t)) * 100 / u128::from(t)) as u64,
    };
    let rate = p.rate.map_or("--".into(), |r| format!("{}/s", human(r)));
    let eta = p.eta.map_or("--".into(), |d| duration(d.as_secs()));
    let retries = match p.retries {
        0 => String::new(),
        1 => "  (1 retry)".into(),
        n => format!("  ({n} retries)"),
    };
    let rest = format!(
        "  {:.1}/{:.1} {unit}  {percent}%  {rate}  ETA {eta}{retries}",
        p.done as f64 / div,
        p.total as f64 / div,
    );
    // The name gets what the figures leave, between 8 and 24 columns.
    let room = 80usize.saturating_sub(rest.chars().count()).clamp(8, 24);
    let mut name: String = p.name.chars().take(room).collect();
    if p.name.chars().count() > room && room > 0 {
        name.pop();
        name.push('…');
    }
    let line = format!("{name}{rest}");
    line.chars().take(80).collect()
}

fn human(bytes_per_s: f64) -> String {
    let units = [
        ("B", 1.0),
        ("KiB", 1024.0),
        ("MiB", 1048576.0),
        ("GiB", 1073741824.0),
    ];
    let (unit, div) = units
        .iter()
        .rev()
        .find(|(_, d)| bytes_per_s >= *d)
        .copied()
        .unwrap_or(units[0]);
    if unit == "B" {
        format!("{bytes_per_s:.0} B")
    } else {
        format!("{:.1} {unit}", bytes_per_s / div)
    }
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 100 * 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => "> 99 h".into(),
    }
}

/// Bytes per second between the oldest and the newest sample
/// (`(time since start, bytes done)`); `None` over less than 0.2 s.
pub fn window_rate(samples: &VecDeque<(Duration, u64)>) -> Option<f64> {
    let (&(t0, b0), &(t1, b1)) = (samples.front()?, samples.back()?);
    let span = t1.checked_sub(t0)?.as_secs_f64();
    (span >= 0.2).then(|| b1.saturating_sub(b0) as f64 / span)
}

/// Rate-limited progress reports with a sliding-window rate.
pub(super) struct Meter<'a> {
    name: String,
    total: u64,
    started: Instant,
    last: Option<Instant>,
    samples: VecDeque<(Duration, u64)>,
    report: &'a mut dyn FnMut(&Progress),
}

impl<'a> Meter<'a> {
    pub(super) fn new(
        name: String,
        total: u64,
        started: Instant,
        report: &'a mut dyn FnMut(&Progress),
    ) -> Meter<'a> {
        Meter {
            name,
            total,
            started,
            last: None,
            samples: VecDeque::new(),
            report,
        }
    }

    pub(super) fn tick(&mut self, done: u64, retries: u32, force: bool) {
        let now = Instant::now();
        if !force && self.last.is_some_and(|l| now - l < PROGRESS_INTERVAL) {
            return;
        }
        self.last = Some(now);
        let at = now - self.started;
        self.samples.push_back((at, done));
        while self.samples.len() > 2 && self.samples.get(1).is_some_and(|s| at - s.0 >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let rate = window_rate(&self.samples);
        let left = self.total.saturating_sub(done);
        let eta = rate
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64((left as f64 / r).min(1e9)));
        (self.report)(&Progress {
            name: self.name.clone(),
            done,
            total: self.total,
            rate,
            eta,
            retries,
        });
    }
}
