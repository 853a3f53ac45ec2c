//! `cargo xtask bench install`: in one run, (a) a whole unattended install
//! of the bench release (a 256 MiB raw data image, stored uncompressed)
//! from the test backend (nginx, HTTPS, as in the QEMU tests), next to (b) a
//! raw copy of the same object from the same server into the same VM, and
//! (c) the smallest `-m` with which the whole install completes, bisected in
//! 16 MiB steps, booted through the ISO's boot menu.
//!
//! (b) is `installer raw-copy URL /dev/sda` in the installer's own rescue
//! shell: the installer's HTTPS client with the vendor CA, the download's
//! buffer size, one flush at the end, and no verification, no partitioning,
//! no boot partition. `wget | dd` would be the other choice, but the
//! installer's busybox has no TLS that the test backend accepts (its
//! built-in TLS gets a handshake-failure alert from Debian 12's nginx), and
//! plain HTTP would charge TLS to the installer.
//!
//! (a) and (b) are direct kernel boots of the bench ISO's kernel and
//! initramfs with the ISO attached as the CD (the installer finds its medium
//! and module pack there): the same QEMU command line but for the one kernel
//! parameter `installer.mode=shell`. (a) is the installer's own
//! `installed.seconds` (partitioning, download with per-chunk and
//! whole-object SHA-256, the boot partition, GRUB, the handover record, the
//! flushes); (b) is the host's clock between two markers the shell prints
//! around the copy. Both disks are then checked on the host byte for byte.
//! Not a test: nothing here passes or fails on speed. Run it inside
//! `unshare --net` when other QEMU runs share the machine (port 18443).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use qemu_tests::harness::disk::empty_disk;
use qemu_tests::qemu::{Controller, Firmware, FirmwarePaths, Medium, Network, Nic, VmConfig};
use qemu_tests::scenario::choose_serial_entry;
use qemu_tests::session::Session;
use qemu_tests::steps::{start, target_drive};
use qemu_tests::suites::hardware::{self, BENCH_CHANNEL, BENCH_IMAGE_MIB, UNATTENDED_ANSWERS};

use crate::assemble::{self, IsoOptions};
use crate::{project, testrepo};

mod phases;

/// The RAM of the timed runs (a) and (b), as in the QEMU tests.
const TIMED_MIB: u32 = 1024;
/// The bisection's candidates: 48 MiB to 256 MiB in 16 MiB steps.
const CANDIDATES: std::ops::RangeInclusive<u32> = 3..=16;
const STEP_MIB: u32 = 16;
/// The first candidate tried: the issue's target.
const FIRST_PROBE_MIB: u32 = 128;
/// The target disk.
const DISK_MIB: u64 = 2048;

/// One VM run's outcome in the bisection.
struct Probe {
    memory_mib: u32,
    result: std::result::Result<f64, String>,
}

/// Runs (a) and (b), and (c) when `floor`.
pub fn install(floor: bool, rounds: usize) -> Result<()> {
    ensure!(rounds >= 1, "--rounds: at least 1");
    let dir = project::target_dir().join("bench-install");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let load_before = loadavg();

    let vendor = testrepo::ensure().context("preparing the test vendor repository")?;
    let bench = testrepo::publish_bench(&vendor)?;
    let (sha, bytes, object) = hardware::bench_component(&vendor.repo)?;
    ensure!(
        object == bench.object && bytes == BENCH_IMAGE_MIB << 20,
        "the bench manifest names {object} ({bytes} bytes), published {}",
        bench.object
    );
    let mut settings = vendor.iso_vendor();
    settings.channel = BENCH_CHANNEL.into();
    let mut o = IsoOptions::from_env(Some(dir.join("bench.iso")), settings)?;
    o.answers = Some(
        project::root()
            .join("qemu-tests")
            .join("data")
            .join(UNATTENDED_ANSWERS),
    );
    let iso = assemble::build(&o)?.0;

    let _nginx = qemu_tests::nginx::Nginx::start(&qemu_tests::nginx::NginxConfig {
        root: vendor.repo.clone(),
        cert: vendor.tls.server_cert.clone(),
        key: vendor.tls.server_key.clone(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], testrepo::PORT)),
        work_dir: dir.join("nginx"),
    })
    .context("starting the test backend (nginx; another QEMU run may hold port 18443: run inside `unshare --net`)")?;

    // (a) the whole install and (b) the raw copy, in pairs: a change of
    // the host's load hits both halves of a pair alike, and the median of
    // the pairs' ratios is the figure.
    let mut pairs = Vec::new();
    for round in 1..=rounds {
        let run_dir = dir.join(format!("install-{round}"));
        fs::create_dir_all(&run_dir)?;
        let cfg = timed_config(&iso, &run_dir, "console=tty0 console=ttyS0,115200n8")?;
        let mut s = start(&cfg, &run_dir, "install")?;
        let marks = watch_phases(&mut s, &cfg.events)?;
        let (_, install_seconds, downloaded) =
            hardware::install_outcome(&mut s, hardware::BENCH_INSTALL_TIMEOUT)?
                .map_err(|e| anyhow::anyhow!("the bench install failed: {e}"))?;
        let install_total = s.vm.elapsed();
        drop(s);
        let got = hardware::mbr_data_sha256(&run_dir.join("target.img"), bytes)?;
        ensure!(
            got == sha,
            "the installed data partition does not hold the image"
        );
        fs::remove_file(run_dir.join("target.img"))?;

        let copy_dir = dir.join(format!("copy-{round}"));
        fs::create_dir_all(&copy_dir)?;
        let (copy, copy_own) = raw_copy(&iso, &copy_dir, &object)?;
        let got = hardware::sha256_range(&copy_dir.join("target.img"), 0, bytes)?;
        ensure!(got == sha, "the raw copy did not write the image");
        fs::remove_file(copy_dir.join("target.img"))?;
        eprintln!(
            "bench install round {round}/{rounds}: install {install_seconds:.1} s, raw copy {:.1} s, ratio {:.2} (load {})",
            copy.as_secs_f64(),
            install_seconds / copy.as_secs_f64(),
            loadavg()
        );
        pairs.push(Pair {
            install_seconds,
            downloaded,
            install_total,
            marks,
            copy,
            copy_own,
        });
    }
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|&a, &b| pairs[a].ratio().total_cmp(&pairs[b].ratio()));
    let median = &pairs[order[order.len() / 2]];
    let install_total = median.install_total;

    // (c) the smallest -m.
    let deadline = install_total * 2 + Duration::from_secs(240);
    let probes = if floor {
        bisect(&iso, &dir, deadline)?
    } else {
        Vec::new()
    };
    let lowest_ok = probes
        .iter()
        .filter(|p| p.result.is_ok())
        .map(|p| p.memory_mib)
        .min();

    let load_after = loadavg();
    println!("\n== bench install (TCG, BIOS, e1000, IDE target, one VM at a time) ==");
    println!("bench release: {BENCH_IMAGE_MIB} MiB raw data image, uncompressed, HTTPS from nginx");
    println!("{rounds} round(s), each (a) then (b):");
    for (i, p) in pairs.iter().enumerate() {
        println!(
            "    round {}: (a) {:>7.1} s  (b) {:>7.1} s  ratio {:.2}",
            i + 1,
            p.install_seconds,
            p.copy.as_secs_f64(),
            p.ratio()
        );
    }
    println!("the round with the median ratio:");
    println!(
        "(a) whole unattended install, -m {TIMED_MIB}          {:>8.1} s   \
         ({} bytes downloaded; QEMU start → installed {:.1} s)",
        median.install_seconds,
        median.downloaded,
        median.install_total.as_secs_f64()
    );
    println!(
        "(b) installer raw-copy of the same object,    {:>8.1} s   (its own figure: {})",
        median.copy.as_secs_f64(),
        median.copy_own
    );
    println!("    same VM, no verification");
    println!("(a)'s phases (host clock between the installer's events, ±0.1 s):");
    for line in phases::render(&median.marks) {
        println!("    {line}");
    }
    println!(
        "ratio (a) / (b), median of the rounds         {:>8.2}   (target ≤ 1.25)",
        median.ratio()
    );
    if !floor {
        println!("(c) skipped (--no-floor)");
        println!("load average before: {load_before}; after: {load_after}");
        return Ok(());
    }
    println!(
        "(c) smallest -m with which the whole install completes (16 MiB steps, ISO boot menu):"
    );
    for p in &probes {
        match &p.result {
            Ok(secs) => println!("    -m {:>4}: installed, install {secs:.1} s", p.memory_mib),
            Err(why) => println!("    -m {:>4}: no install: {why}", p.memory_mib),
        }
    }
    let lowest = CANDIDATES.start() * STEP_MIB;
    match lowest_ok {
        Some(m) if m == lowest => {
            println!("    floor: ≤ {m} MiB, the lowest candidate (target ≤ 128 MiB)")
        }
        Some(m) => println!(
            "    floor: {m} MiB; {} MiB did not complete (target ≤ 128 MiB)",
            m - STEP_MIB
        ),
        None => println!("    floor: none of the candidates up to 256 MiB completed the install"),
    }
    println!("load average before: {load_before}; after: {load_after}");
    Ok(())
}

/// One round: the install and the raw copy right after it.
struct Pair {
    install_seconds: f64,
    downloaded: u64,
    install_total: Duration,
    marks: Vec<phases::Mark>,
    copy: Duration,
    copy_own: String,
}

impl Pair {
    fn ratio(&self) -> f64 {
        self.install_seconds / self.copy.as_secs_f64()
    }
}

/// Stamps (a)'s phases until the install ends (or the console shows that it
/// cannot: [`hardware::install_outcome`] then says why).
fn watch_phases(s: &mut Session, events: &Path) -> Result<Vec<phases::Mark>> {
    let mut watch = phases::Watch::new(events, Instant::now() - s.vm.elapsed());
    let deadline = Instant::now() + hardware::BENCH_INSTALL_TIMEOUT;
    while !watch.poll()? {
        s.vm.check_running()?;
        let text = s.vm.text();
        if text.contains("Kernel panic") || text.contains("The installer stopped:") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no end of the bench install within {:?}",
            hardware::BENCH_INSTALL_TIMEOUT
        );
        std::thread::sleep(phases::POLL);
    }
    Ok(watch.marks)
}

/// The VM of (a) and (b): the bench ISO's kernel and initramfs booted
/// directly, the ISO as the CD, `-m` [`TIMED_MIB`], e1000 on user
/// networking, an empty target disk on IDE.
fn timed_config(iso: &Path, dir: &Path, cmdline: &str) -> Result<VmConfig> {
    let target = dir.join("target.img");
    empty_disk(&target, DISK_MIB)?;
    Ok(VmConfig {
        firmware: Firmware::Bios,
        medium: Medium::Cd,
        image: iso.to_path_buf(),
        memory_mib: TIMED_MIB,
        kvm: false,
        vars: None,
        events: dir.join("events.log"),
        paths: FirmwarePaths::default(),
        nic: Some(Nic {
            model: "e1000".into(),
            network: Network::User,
        }),
        kernel: Some(qemu_tests::media::direct_kernel(iso, dir, cmdline.into())?),
        drives: vec![target_drive(
            Controller::Ide { bus: 1, unit: None },
            &target,
            None,
        )],
        ..VmConfig::default()
    })
}

/// (b): the rescue shell configures QEMU's user network as DHCP would, then
/// runs `installer raw-copy` (the installer's HTTPS client streaming to the
/// disk, no verification); returns the host's time between the two markers
/// and the copier's own figure.
fn raw_copy(iso: &Path, dir: &Path, object: &str) -> Result<(Duration, String)> {
    let cfg = timed_config(
        iso,
        dir,
        "console=tty0 console=ttyS0,115200n8 installer.mode=shell",
    )?;
    let mut s = start(&cfg, dir, "copy")?;
    let vm = &mut s.vm;
    let step = Duration::from_secs(600);
    vm.expect("rescue#", step)
        .context("waiting for the rescue shell")?;
    // busybox ash asks the terminal for the cursor position; answer it.
    std::thread::sleep(Duration::from_millis(500));
    vm.send(b"\x1b[24;1R")?;
    std::thread::sleep(Duration::from_millis(300));
    // The markers are computed by the shell, so the echoed command line
    // does not match them.
    vm.send(
        b"ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && \
          ip route add default via 10.0.2.2 && echo NET-$((6*7))\r",
    )?;
    vm.expect("NET-42", step)
        .context("configuring eth0 in the rescue shell")?;
    let cmd = format!(
        "echo GO-$((6*7)); /init raw-copy https://10.0.2.2:{}{object} /dev/sda; \
         echo COPY-$((6*7))-$?\r",
        testrepo::PORT
    );
    vm.send(cmd.as_bytes())?;
    vm.expect("GO-42", step)?;
    let t = Instant::now();
    let out = vm
        .expect("COPY-42-", hardware::BENCH_INSTALL_TIMEOUT)
        .context("waiting for installer raw-copy")?;
    let elapsed = t.elapsed();
    let status = vm.expect("\n", Duration::from_secs(10))?;
    ensure!(
        status.trim() == "0",
        "installer raw-copy failed with status {}: {}",
        status.trim(),
        out.trim()
    );
    let own = out
        .lines()
        .find(|l| l.starts_with("raw-copy: "))
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok((elapsed, own))
}

/// (c): the smallest candidate with which the install completes, assuming
/// more RAM never hurts; the first probe is [`FIRST_PROBE_MIB`].
fn bisect(iso: &Path, dir: &Path, deadline: Duration) -> Result<Vec<Probe>> {
    let cands: Vec<u32> = CANDIDATES.map(|i| i * STEP_MIB).collect();
    let (mut lo, mut hi) = (0usize, cands.len()); // hi: the smallest known to pass (or none)
    let mut probes = Vec::new();
    let mut first = cands.iter().position(|m| *m == FIRST_PROBE_MIB);
    while lo < hi {
        let mid = first.take().unwrap_or((lo + hi) / 2);
        let m = cands[mid];
        let run_dir = dir.join(format!("m{m}"));
        fs::create_dir_all(&run_dir)?;
        let result = install_with(iso, &run_dir, m, deadline).map_err(|e| e.to_string());
        eprintln!(
            "bench install: -m {m}: {}",
            match &result {
                Ok(s) => format!("installed ({s:.1} s)"),
                Err(e) => e.clone(),
            }
        );
        if result.is_ok() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
        probes.push(Probe {
            memory_mib: m,
            result,
        });
    }
    probes.sort_by_key(|p| p.memory_mib);
    Ok(probes)
}

/// One whole unattended install booted from the ISO's menu with `memory_mib`;
/// `Ok` with the installer's seconds, `Err` with why not (short).
fn install_with(iso: &Path, dir: &Path, memory_mib: u32, deadline: Duration) -> Result<f64> {
    let target = dir.join("target.img");
    empty_disk(&target, DISK_MIB)?;
    let cfg = VmConfig {
        firmware: Firmware::Bios,
        medium: Medium::Cd,
        image: iso.to_path_buf(),
        memory_mib,
        kvm: false,
        vars: None,
        events: dir.join("events.log"),
        paths: FirmwarePaths::default(),
        nic: Some(Nic {
            model: "e1000".into(),
            network: Network::User,
        }),
        drives: vec![target_drive(
            Controller::Ide { bus: 1, unit: None },
            &target,
            None,
        )],
        ..VmConfig::default()
    };
    let mut s = start(&cfg, dir, "install")?;
    let outcome = (|| -> Result<f64> {
        choose_serial_entry(&mut s.vm)?;
        hardware::install_outcome(&mut s, deadline)?
            .map(|(_, seconds, _)| seconds)
            .map_err(|e| anyhow::anyhow!("install-failed at {e}"))
    })();
    outcome.map_err(|e| anyhow::anyhow!("{}", why(&s, &e)))
}

/// A one-line reason for a failed probe, from the console.
fn why(s: &Session, e: &anyhow::Error) -> String {
    let text = s.vm.text();
    for marker in [
        "Initramfs unpacking failed",
        "Kernel panic",
        "Out of memory",
        "page allocation failure",
        "the appliance needs",
    ] {
        if let Some(line) = text.lines().find(|l| l.contains(marker)) {
            return line.trim().chars().take(160).collect();
        }
    }
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(160)
        .collect()
}

/// `/proc/loadavg`'s three averages.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
