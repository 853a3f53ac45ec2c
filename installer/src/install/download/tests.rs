use super::*;
use std::collections::VecDeque;

fn progress(done: u64, total: u64, rate: Option<f64>, eta: Option<u64>, retries: u32) -> Progress {
    Progress {
        name: "rootfs".into(),
        done,
        total,
        rate,
        eta: eta.map(Duration::from_secs),
        retries,
    }
}

const MIB: u64 = 1 << 20;

#[test]
fn progress_lines() {
    let p = progress(
        45 * MIB + MIB / 5,
        64 * MIB,
        Some(12.3 * MIB as f64),
        Some(2),
        2,
    );
    assert_eq!(
        render_progress(&p),
        "rootfs  45.2/64.0 MiB  70%  12.3 MiB/s  ETA 2 s  (2 retries)"
    );
    let p = progress(0, 64 * MIB, None, None, 1);
    assert_eq!(
        render_progress(&p),
        "rootfs  0.0/64.0 MiB  0%  --  ETA --  (1 retry)"
    );
    let p = progress(300 * 1024, 512 * 1024, Some(900.0), Some(3725), 0);
    assert_eq!(
        render_progress(&p),
        "rootfs  300.0/512.0 KiB  58%  900 B/s  ETA 1 h 2 min"
    );
    let p = progress(12 << 30, 20 << 30, Some(2048.0 * 1024.0), Some(150), 0);
    assert_eq!(
        render_progress(&p),
        "rootfs  12.0/20.0 GiB  60%  2.0 MiB/s  ETA 2 min 30 s"
    );
    // Empty components are complete.
    assert!(render_progress(&progress(0, 0, None, None, 0)).contains(" 100% "));
}

#[test]
fn progress_lines_fit_80_columns() {
    let mut p = progress(
        u64::MAX / 3,
        u64::MAX / 2,
        Some(1e15),
        Some(u64::MAX / 4),
        u32::MAX,
    );
    p.name = "a-very-long-component-name-".repeat(10);
    let line = render_progress(&p);
    assert!(line.chars().count() <= 80, "{line} ({})", line.len());
    assert!(line.starts_with("a-very-…  "), "{line}");
    let mut q = progress(MIB, 64 * MIB, Some(1e6), Some(5000), 12);
    q.name = p.name.clone();
    let line = render_progress(&q);
    assert_eq!(
        line,
        "a-very-long-compon…  1.0/64.0 MiB  1%  976.6 KiB/s  ETA 1 h 23 min  (12 retries)"
    );
    assert_eq!(line.chars().count(), 80);
    q.name = "ünïcødé-ñame".into();
    let line = render_progress(&q);
    assert!(line.starts_with("ünïcødé-ñame  "), "{line}");
    assert!(line.chars().count() <= 80, "{line}");
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let policy = RetryPolicy::default();
    let waits: Vec<u64> = (1..=7)
        .map(|n| backoff(&policy, n).as_millis() as u64)
        .collect();
    assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
    assert_eq!(backoff(&policy, u32::MAX), Duration::from_secs(8));
    assert_eq!(backoff(&policy, 0), Duration::from_millis(500));
    assert_eq!(policy.max_consecutive_failures, 6);
}

#[test]
fn content_ranges() {
    let r = |first, last, complete| {
        Some(ContentRange {
            first,
            last,
            complete,
        })
    };
    assert_eq!(
        parse_content_range("bytes 100-199/5000"),
        r(100, 199, Some(5000))
    );
    assert_eq!(parse_content_range(" bytes 0-0/1 "), r(0, 0, Some(1)));
    assert_eq!(parse_content_range("bytes 7-9/*"), r(7, 9, None));
    for bad in [
        "bytes */5000", // the 416 form
        "bytes 200-100/5000",
        "bytes 100-5000/5000",
        "bytes 1-2",
        "items 1-2/3",
        "bytes -1-2/3",
        "bytes +1-2/3",
        "bytes 1-2/x",
        "bytes 99999999999999999999-1/2",
        "",
    ] {
        assert_eq!(parse_content_range(bad), None, "{bad}");
    }
}

#[test]
fn rate_over_the_window() {
    let s = |v: &[(u64, u64)]| -> VecDeque<(Duration, u64)> {
        v.iter()
            .map(|&(ms, b)| (Duration::from_millis(ms), b))
            .collect()
    };
    assert_eq!(window_rate(&s(&[])), None);
    assert_eq!(window_rate(&s(&[(0, 0)])), None);
    assert_eq!(window_rate(&s(&[(0, 0), (100, 1000)])), None);
    assert_eq!(
        window_rate(&s(&[(1000, 0), (2000, 10 * MIB), (3000, 20 * MIB)])),
        Some(10.0 * MIB as f64)
    );
}

#[test]
fn what_is_retried() {
    let url = "https://b.example/objects/sha256/x".to_string();
    assert!(retryable(&FetchError::Timeout { url: url.clone() }));
    assert!(retryable(&FetchError::Io {
        url: url.clone(),
        detail: "reset".into()
    }));
    assert!(retryable(&FetchError::Status {
        url: url.clone(),
        status: 503
    }));
    assert!(!retryable(&FetchError::Status {
        url: url.clone(),
        status: 403
    }));
    assert!(!retryable(&FetchError::NotFound { url: url.clone() }));
    assert!(!retryable(&FetchError::TlsUntrusted {
        url,
        detail: "UnknownIssuer".into()
    }));
}

#[test]
fn errors_name_the_cause_and_have_hints() {
    let e = DownloadError::GaveUp {
        url: "https://b/x".into(),
        failures: 6,
        received: 10,
        total: 20,
        last: FetchError::Timeout {
            url: "https://b/x".into(),
        },
    };
    assert_eq!(
        e.to_string(),
        "https://b/x: gave up after 6 consecutive failures (10 of 20 bytes received): https://b/x: timed out"
    );
    assert!(e.hint().contains("proxy"), "{}", e.hint());
    let e = DownloadError::RangeNotSupported {
        url: "https://b/x".into(),
        offset: 5,
        status: 200,
        content_range: None,
    };
    assert_eq!(
        e.to_string(),
        "https://b/x: the server cannot resume at byte 5 (answered HTTP 200): it does not support ranges"
    );
    assert!(e.hint().contains("Range"));
}

#[test]
fn the_profile_line_says_where_the_time_went() {
    let s = |ms: u64| Duration::from_millis(ms);
    let mut stats = Stats {
        stored_bytes: 256 * MIB,
        content_bytes: 256 * MIB,
        retries: 0,
        elapsed: s(67_800),
        network: s(58_800),
        verifying: s(8_840),
        disk_wait: s(2_100),
        writing: s(2_400),
        cpu_idle: Some(s(300)),
    };
    assert_eq!(
        stats.render("data"),
        "data: 256.0 MiB in 67.8 s: network 58.8 s, verifying 8.8 s (waiting for the disk \
         2.1 s), disk writes 2.4 s alongside, CPU idle 0.3 s"
    );
    stats.cpu_idle = None;
    assert!(stats
        .render("data")
        .ends_with("disk writes 2.4 s alongside"));
}
