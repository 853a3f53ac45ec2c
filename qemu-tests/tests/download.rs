//! The installer's component download (`installer::install::download`)
//! against real nginx and against the fault-injecting server
//! (`qemu_tests::flaky`): plain and gzip components, resuming after many
//! drops and after stalls, a server without ranges, a tampered object, 404,
//! an untrusted server, giving up, and a 64 MiB object in bounded memory.
//! TLS material is generated here (TEST ONLY). Fails (does not skip) when
//! nginx is missing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;
use common::{free_port, tls};

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use installer::backend::fetch::{Client, FetchError, Timeouts};
use installer::install::download::{
    download, render_progress, DownloadError, Progress, RetryPolicy, Stats, BUF_SIZE,
};
use qemu_tests::flaky::{Corruption, Fault, Flaky, FlakyConfig, Ranges};
use qemu_tests::nginx::{Nginx, NginxConfig};
use sha2::{Digest, Sha256};
use vendor_repo::manifest::{
    ChunkHasher, Chunks, Component, ComponentKind, Compression, Destination, CHUNK_SIZE,
};

/// The 64 MiB test runs alone (write lock) so its memory measurement is its own.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

const MIB: u64 = 1 << 20;

/// A fresh test directory with `root/objects/sha256/` and TLS material.
struct Setup {
    dir: PathBuf,
    root: PathBuf,
    ca: String,
    cert: PathBuf,
    key: PathBuf,
}

fn setup(name: &str) -> Setup {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("download-{name}"));
    let _ = fs::remove_dir_all(&dir);
    let root = dir.join("root");
    fs::create_dir_all(root.join("objects/sha256")).unwrap();
    let (ca, cert, key) = tls(&dir);
    Setup {
        dir,
        root,
        ca,
        cert,
        key,
    }
}

impl Setup {
    /// Stores `content` (gzip-compressed when asked) as an object; returns its component.
    fn publish(&self, name: &str, content: &[u8], compression: Compression) -> Component {
        let stored = match compression {
            Compression::None => content.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(content).unwrap();
                e.finish().unwrap()
            }
        };
        let sha256 = hex::encode(Sha256::digest(&stored));
        fs::write(self.root.join("objects/sha256").join(&sha256), &stored).unwrap();
        Component {
            name: name.into(),
            kind: ComponentKind::PartitionImage,
            size: stored.len() as u64,
            sha256,
            compression,
            content_size: content.len() as u64,
            destination: Destination {
                partition: "root".into(),
                path: None,
            },
            chunks: Chunks::of(&stored, CHUNK_SIZE),
        }
    }

    fn nginx(&self) -> Nginx {
        Nginx::start(&NginxConfig {
            root: self.root.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            listen: free_port(),
            work_dir: self.dir.join("nginx"),
        })
        .unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn flaky(&self, tweak: impl FnOnce(&mut FlakyConfig)) -> Flaky {
        let mut config = FlakyConfig::new(&self.root, &self.cert, &self.key, free_port());
        tweak(&mut config);
        Flaky::start(config).unwrap()
    }

    fn client(&self) -> Client {
        Client::new(self.ca.as_bytes(), Timeouts::from(Duration::from_secs(20))).unwrap()
    }

    /// A client with the time limits `policy` asks for (as the installer makes it).
    fn client_for(&self, policy: &RetryPolicy) -> Client {
        Client::new(self.ca.as_bytes(), policy.timeouts()).unwrap()
    }
}

/// Deterministic content, about 3:1 compressible.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(format!("{:04} ", (x >> 33) % 3000).as_bytes());
    }
    out.truncate(len);
    out
}

/// A sink that keeps only the hash and the length of what it got.
#[derive(Default)]
struct HashSink {
    hasher: Sha256,
    len: u64,
}

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl HashSink {
    fn hex(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

/// Quick retries for tests.
fn fast() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        stall_timeout: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

struct Run {
    result: Result<Stats, DownloadError>,
    sink: HashSink,
    reports: Vec<Progress>,
    elapsed: Duration,
}

fn run(client: &Client, base: &str, c: &Component, policy: &RetryPolicy) -> Run {
    let url = format!("{base}/{}", c.object_path());
    let mut sink = HashSink::default();
    let mut reports = Vec::new();
    let started = Instant::now();
    let result = download(client, &url, c, &mut sink, policy, &mut |p| {
        reports.push(p.clone())
    });
    Run {
        result,
        sink,
        reports,
        elapsed: started.elapsed(),
    }
}

fn ok(run: &Run) -> &Stats {
    match &run.result {
        Ok(s) => s,
        Err(e) => panic!("{e} (hint: {})", e.hint()),
    }
}

#[test]
#[ignore = "needs nginx"]
fn plain_component_from_nginx() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("plain");
    let data = content(3 * MIB as usize + 123, 1);
    let c = s.publish("kernel", &data, Compression::None);
    let nginx = s.nginx();
    let r = run(&s.client(), &nginx.base_url(), &c, &RetryPolicy::default());
    let stats = ok(&r);
    assert_eq!((stats.stored_bytes, stats.content_bytes), (c.size, c.size));
    assert_eq!(stats.retries, 0);
    assert_eq!(r.sink.hex(), c.sha256);
    let last = r.reports.last().unwrap();
    assert_eq!((last.done, last.total, last.retries), (c.size, c.size, 0));
    let seen: Vec<_> = nginx
        .requests_at_least(1, std::time::Duration::from_secs(5))
        .unwrap()
        .into_iter()
        .map(|e| (e.status, e.range))
        .collect();
    assert_eq!(seen, [(200, None)]);
}

#[test]
#[ignore = "needs nginx"]
fn gzip_component_from_nginx() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("gzip");
    let data = content(2 * MIB as usize, 2);
    let c = s.publish("initrd", &data, Compression::Gzip);
    assert!(c.size < c.content_size / 2, "{} {}", c.size, c.content_size);
    let nginx = s.nginx();
    let r = run(&s.client(), &nginx.base_url(), &c, &RetryPolicy::default());
    let stats = ok(&r);
    assert_eq!(stats.stored_bytes, c.size);
    assert_eq!(stats.content_bytes, data.len() as u64);
    assert_eq!(r.sink.hex(), hex::encode(Sha256::digest(&data)));
}

#[test]
fn resumes_after_25_drops_at_random_offsets() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("drops");
    let data = content(6 * MIB as usize, 3);
    let c = s.publish("rootfs", &data, Compression::Gzip);
    let flaky = s.flaky(|f| {
        f.seed = 42;
        f.drops = 25;
        f.max_cut = c.size / 30; // all 25 cuts fall inside the object
    });
    let r = run(&s.client(), &flaky.base_url(), &c, &fast());
    let stats = ok(&r);
    assert_eq!(stats.retries, 25);
    assert_eq!(
        r.sink.hex(),
        hex::encode(Sha256::digest(&data)),
        "content intact"
    );
    assert_eq!(r.sink.len, data.len() as u64);
    assert_eq!(r.reports.last().unwrap().retries, 25);

    // Each retry asked for exactly the bytes after what had arrived.
    let log = flaky.log();
    assert_eq!(log.len(), 26, "{log:#?}");
    assert_eq!(flaky.drops(), 25);
    let mut offset = 0;
    for (i, served) in log.iter().enumerate() {
        let expected = (i > 0).then(|| format!("bytes={offset}-"));
        assert_eq!(served.range, expected, "request {i}: {served:?}");
        assert_eq!(served.first, offset);
        assert_eq!(served.status, if i == 0 { 200 } else { 206 });
        offset += served.cut.unwrap_or(served.length);
    }
    assert_eq!(offset, c.size);
    let mut cuts: Vec<u64> = log.iter().filter_map(|s| s.cut).collect();
    cuts.sort_unstable();
    cuts.dedup();
    assert!(cuts.len() >= 20, "the cut points vary: {cuts:?}");
}

#[test]
fn resumes_after_stalls() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("stalls");
    let data = content(MIB as usize, 4);
    let c = s.publish("boot", &data, Compression::None);
    let flaky = s.flaky(|f| {
        f.drops = 2;
        f.max_cut = c.size / 3;
        f.fault = Fault::Stall(Duration::from_secs(30));
    });
    let policy = RetryPolicy {
        stall_timeout: Duration::from_millis(700),
        ..fast()
    };
    let r = run(&s.client_for(&policy), &flaky.base_url(), &c, &policy);
    assert_eq!(ok(&r).retries, 2);
    assert_eq!(r.sink.hex(), c.sha256);
    assert!(
        r.elapsed < Duration::from_secs(10),
        "the stall timeout, not the server, ended the stalls: {:?}",
        r.elapsed
    );
    assert_eq!(flaky.log().len(), 3);
}

#[test]
fn a_slow_body_that_never_idles_is_not_cut() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("trickle");
    let c = s.publish("boot", &content(20, 8), Compression::None);
    // 20 bytes, one every 200 ms: about 4 s in all, never 2 s without data.
    let flaky = s.flaky(|f| f.trickle = Some((1, Duration::from_millis(200))));
    let policy = RetryPolicy {
        connect_timeout: Duration::from_secs(2),
        stall_timeout: Duration::from_secs(2),
        ..fast()
    };
    let r = run(&s.client_for(&policy), &flaky.base_url(), &c, &policy);
    assert_eq!(
        ok(&r).retries,
        0,
        "one request, never cut: {:?}",
        flaky.log()
    );
    assert_eq!(r.sink.hex(), c.sha256);
    assert!(
        r.elapsed > Duration::from_secs(3),
        "the body took longer than the idle limit: {:?}",
        r.elapsed
    );
    assert_eq!(flaky.log().len(), 1);
}

#[test]
fn a_server_without_ranges_is_a_distinct_error() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("noranges");
    let c = s.publish("rootfs", &content(MIB as usize, 5), Compression::None);
    for (mode, status) in [(Ranges::Ignored, 200), (Ranges::Misaligned, 206)] {
        let flaky = s.flaky(|f| {
            f.seed = 7;
            f.drops = 1;
            f.ranges = mode;
        });
        let r = run(&s.client(), &flaky.base_url(), &c, &fast());
        let log = flaky.log();
        let cut = log[0].cut.unwrap();
        assert!(cut > 0, "the first response was cut inside the body");
        match &r.result {
            Err(DownloadError::RangeNotSupported {
                offset,
                status: got,
                content_range,
                ..
            }) => {
                assert_eq!((*offset, *got), (cut, status), "{mode:?}");
                assert_eq!(content_range.is_some(), status == 206);
            }
            other => panic!("{mode:?}: {other:?}"),
        }
        let e = r.result.unwrap_err();
        assert!(e.to_string().contains("does not support ranges"), "{e}");
        assert_eq!(log.len(), 2, "no further retries: {log:?}");
    }
}

/// One flipped byte in the only chunk: refused, and not a byte written (a
/// full 1 MiB chunk is refused when it completes, a shorter last chunk
/// when the object ends).
#[test]
fn a_corrupted_byte_is_refused_before_any_of_it_is_written() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("corrupt");
    let data = content(MIB as usize, 6);
    for compression in [Compression::None, Compression::Gzip] {
        let c = s.publish("rootfs", &data, compression);
        let path = format!("/{}", c.object_path());
        let flaky = s.flaky(|f| {
            f.corrupt = Some(Corruption {
                path,
                offset: c.size / 2,
            })
        });
        let r = run(&s.client(), &flaky.base_url(), &c, &fast());
        match &r.result {
            Err(DownloadError::ChunkMismatch {
                index: 0,
                expected,
                actual,
                ..
            }) => {
                assert_eq!(expected, &c.chunks.sha256[0], "{compression:?}");
                assert_ne!(actual, expected, "{compression:?}");
            }
            other => panic!("{compression:?}: {other:?}"),
        }
        assert_eq!(
            r.sink.len, 0,
            "{compression:?}: bytes of a bad chunk were written"
        );
        assert!(flaky.log()[0].corrupted);
        assert_eq!(flaky.log().len(), 1, "not retried");
    }
}

/// Verify before write across resumes: drops cut the transfer at random
/// offsets, and a flipped byte in the middle of chunk 2 stops it with
/// exactly the two good chunks written (their hash is the original's).
#[test]
fn a_flipped_byte_mid_object_stops_a_resumed_download_at_its_chunk() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("flip-resume");
    let data = content(5 * MIB as usize, 9);
    let c = s.publish("rootfs", &data, Compression::None);
    let path = format!("/{}", c.object_path());
    let flaky = s.flaky(|f| {
        f.seed = 7;
        f.drops = 6;
        f.max_cut = MIB;
        f.corrupt = Some(Corruption {
            path,
            offset: 2 * MIB + MIB / 2,
        });
    });
    let r = run(&s.client(), &flaky.base_url(), &c, &fast());
    match &r.result {
        Err(DownloadError::ChunkMismatch {
            index: 2,
            start,
            end,
            ..
        }) => assert_eq!((*start, *end), (2 * MIB, 3 * MIB)),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.sink.len, 2 * MIB);
    assert_eq!(
        r.sink.hex(),
        hex::encode(Sha256::digest(&data[..2 * MIB as usize]))
    );
    assert!(
        flaky.log().len() > 1,
        "the transfer was resumed: {:?}",
        flaky.log()
    );
}

#[test]
fn not_found_fails_at_once() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("404");
    let mut c = s.publish("rootfs", b"x", Compression::None);
    c.sha256 = "0".repeat(64);
    let flaky = s.flaky(|_| {});
    let r = run(&s.client(), &flaky.base_url(), &c, &RetryPolicy::default());
    let e = r.result.unwrap_err();
    assert!(
        matches!(e, DownloadError::Fetch(FetchError::NotFound { .. })),
        "{e:?}"
    );
    assert!(e.hint().contains("no such file"), "{}", e.hint());
    assert_eq!(flaky.log().len(), 1);
    assert!(r.elapsed < Duration::from_millis(400), "{:?}", r.elapsed);
}

#[test]
fn an_untrusted_server_fails_at_once() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("untrusted");
    let other = setup("untrusted-other-ca");
    let c = s.publish("rootfs", b"data", Compression::None);
    let flaky = s.flaky(|_| {});
    let r = run(
        &other.client(),
        &flaky.base_url(),
        &c,
        &RetryPolicy::default(),
    );
    let e = r.result.unwrap_err();
    assert!(
        matches!(e, DownloadError::Fetch(FetchError::TlsUntrusted { .. })),
        "{e:?}"
    );
    assert!(r.elapsed < Duration::from_millis(400), "{:?}", r.elapsed);
    assert!(flaky.log().is_empty());
}

#[test]
fn gives_up_after_consecutive_failures_without_progress() {
    let _shared = EXCLUSIVE.read().unwrap();
    let s = setup("giveup");
    let c = s.publish("rootfs", &content(100_000, 7), Compression::None);
    let flaky = s.flaky(|f| {
        f.drops = 100;
        f.max_cut = 0; // every response breaks before its first body byte
    });
    let r = run(&s.client(), &flaky.base_url(), &c, &fast());
    let e = r.result.unwrap_err();
    match &e {
        DownloadError::GaveUp {
            failures, received, ..
        } => assert_eq!((*failures, *received), (6, 0)),
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string()
            .contains("gave up after 6 consecutive failures"),
        "{e}"
    );
    assert_eq!(flaky.log().len(), 6);
    assert_eq!(r.reports.last().unwrap().retries, 5);
}

fn proc_status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Memory is bounded by design: one [`BUF_SIZE`] buffer, one chunk held
/// back until verified ([`CHUNK_SIZE`]), the hasher, the gzip window and reqwest's connection buffers; nothing grows with the
/// component. This checks the process's peak RSS across the download.
#[test]
#[ignore = "needs nginx"]
fn a_64_mib_object_streams_in_bounded_memory() {
    let _alone = EXCLUSIVE.write().unwrap();
    let s = setup("big");
    let size = 64 * MIB;
    let mut hasher = Sha256::new();
    let mut chunks = ChunkHasher::new(CHUNK_SIZE);
    let tmp = s.root.join("objects/sha256/tmp");
    {
        let mut f = std::io::BufWriter::new(fs::File::create(&tmp).unwrap());
        let chunk = content(MIB as usize, 8);
        for i in 0..64u8 {
            let mut c = chunk.clone();
            c[0] = i;
            hasher.update(&c);
            chunks.update(&c);
            f.write_all(&c).unwrap();
        }
    }
    let sha256 = hex::encode(hasher.finalize());
    fs::rename(&tmp, s.root.join("objects/sha256").join(&sha256)).unwrap();
    let c = Component {
        name: "rootfs".into(),
        kind: ComponentKind::PartitionImage,
        size,
        sha256,
        compression: Compression::None,
        content_size: size,
        destination: Destination {
            partition: "root".into(),
            path: None,
        },
        chunks: chunks.finish(),
    };
    let nginx = s.nginx();
    let client = s.client();

    fs::write("/proc/self/clear_refs", "5").unwrap(); // resets VmHWM to VmRSS
    let rss_before = proc_status_kib("VmRSS:");
    let r = run(&client, &nginx.base_url(), &c, &RetryPolicy::default());
    let peak = proc_status_kib("VmHWM:");
    let stats = ok(&r);
    assert_eq!((r.sink.len, stats.content_bytes), (size, size));
    assert_eq!(r.sink.hex(), c.sha256);
    let grew_kib = peak.saturating_sub(rss_before);
    let secs = r.elapsed.as_secs_f64();
    eprintln!(
        "64 MiB over loopback TLS from nginx: {secs:.2} s, {:.1} MiB/s; peak RSS grew {grew_kib} KiB (buffer {BUF_SIZE} bytes)",
        64.0 / secs
    );
    assert!(
        grew_kib < 24 * 1024,
        "peak RSS grew {grew_kib} KiB during a 64 MiB download"
    );

    // At most ~4 reports a second, plus the first and the last.
    let max_reports = (secs * 4.0).ceil() as usize + 2;
    assert!(
        r.reports.len() <= max_reports,
        "{} reports",
        r.reports.len()
    );
    let last = r.reports.last().unwrap();
    assert_eq!(last.done, size);
    let line = render_progress(last);
    assert!(line.starts_with("rootfs  64.0/64.0 MiB  100%"), "{line}");
    assert!(line.chars().count() <= 80);
}
