//! `cargo xtask bench boot`: QEMU start → the installer's first prompt, in
//! one run, interleaved round by round: a baseline ISO (built from an older
//! revision, or given), the ISO of this checkout, and Debian's installer.
//! Not a test: nothing here passes or fails on speed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use protocol::Event;
use qemu_tests::child::Vm;
use qemu_tests::qemu::{DirectKernel, Firmware, FirmwarePaths, Medium, Network, Nic, VmConfig};

use crate::assemble::{self, IsoOptions};
use crate::{bench_baseline, inputs, project, testrepo};

/// Rounds when `--rounds` is not given.
pub const DEFAULT_ROUNDS: usize = 5;

/// How long one boot may take to its first prompt (TCG on a loaded host).
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// The regression the acceptance allows, in seconds.
const BOUND: f64 = 0.3;

/// How often the event file and the serial text are looked at.
const POLL: Duration = Duration::from_millis(20);

/// What to compare the current ISO with.
#[derive(Debug, Clone)]
pub enum Baseline {
    /// The parent of the commit named by [`bench_baseline::PACK_SUBJECT`].
    BeforeModulePack,
    /// The ISO built by `cargo xtask iso` at this revision.
    Rev(String),
    /// An ISO built elsewhere.
    Iso(PathBuf),
}

#[derive(Debug, Clone)]
pub struct BootOptions {
    pub baseline: Baseline,
    pub rounds: usize,
    /// Boot our ISOs as a CD through the boot menu (BIOS, "Install on serial
    /// console") instead of loading their kernel and initramfs directly.
    pub cd: bool,
}

/// One of the three things measured each round.
struct Contender {
    name: &'static str,
    what: String,
    kind: Kind,
    runs: Vec<Marks>,
}

enum Kind {
    /// One of our ISOs: the kernel and initramfs taken out of it for direct
    /// kernel boot; the ISO itself is attached as a CD either way.
    Ours {
        iso: PathBuf,
        kernel: PathBuf,
        initrd: PathBuf,
    },
    /// debian-installer's netboot kernel and initrd; `cd` is attached as in
    /// our boots (it does not look at it before its first prompt).
    DebianInstaller {
        kernel: PathBuf,
        initrd: PathBuf,
        cd: PathBuf,
    },
}

/// Times from QEMU start of one boot, and what our installer said on the way.
#[derive(Debug, Clone, Default)]
struct Marks {
    menu: Option<Duration>,
    kernel: Duration,
    init: Duration,
    prompt: Duration,
    /// CPU time QEMU had used (all its threads, user and system) when the
    /// prompt was seen: the work to reach it, which a loaded host stretches
    /// in wall-clock time far less than `prompt`.
    cpu: Duration,
    /// Our installer: the device it found itself on (the module pack is read
    /// from it before the first prompt).
    medium: Option<String>,
    /// Our installer: "Loaded N more drivers from the installation medium."
    pack_modules: Option<usize>,
}

pub fn boot(opts: &BootOptions) -> Result<()> {
    ensure!(
        opts.rounds >= 1,
        "--rounds must be at least 1 (default {DEFAULT_ROUNDS})"
    );
    let dir = project::target_dir().join("bench-boot");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;

    // Debian's installer: the netboot package's text-mode kernel and initrd.
    let di_root = inputs::fetch_unpinned("debian-installer-12-netboot-amd64")?;
    let di_dir =
        di_root.join("usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64");

    // Both ISOs with the test vendor's settings, so only the revision differs.
    let vendor = testrepo::iso_vendor()?;
    let (baseline_iso, baseline_what) = match &opts.baseline {
        Baseline::Iso(p) => {
            ensure!(
                p.is_file(),
                "--baseline-iso {}: no such file; give the path of an installer ISO",
                p.display()
            );
            (p.clone(), format!("ISO {}", p.display()))
        }
        Baseline::Rev(rev) => bench_baseline::build(rev, &vendor)?,
        Baseline::BeforeModulePack => {
            bench_baseline::build(&bench_baseline::before_module_pack()?, &vendor)?
        }
    };
    let current_iso = assemble::build(&IsoOptions::from_env(None, vendor)?)?.0;

    let mut all = vec![
        ours("baseline", baseline_what, &baseline_iso, &dir)?,
        ours("current", "this checkout".into(), &current_iso, &dir)?,
        Contender {
            name: "debian-installer",
            what: "debian-installer-12-netboot-amd64, direct kernel boot".into(),
            kind: Kind::DebianInstaller {
                kernel: di_dir.join("linux"),
                initrd: di_dir.join("initrd.gz"),
                cd: current_iso.clone(),
            },
            runs: Vec::new(),
        },
    ];

    let load_before = loadavg();
    for round in 0..opts.rounds {
        for c in &mut all {
            let m = boot_once(c, round, opts.cd, &dir)
                .with_context(|| format!("{} boot {} of {}", c.name, round + 1, opts.rounds))?;
            eprintln!(
                "round {}: {:<16} first prompt {:>6.2} s",
                round + 1,
                c.name,
                m.prompt.as_secs_f64()
            );
            c.runs.push(m);
        }
    }
    let load_after = loadavg();
    report(&all, opts, &load_before, &load_after);
    Ok(())
}

fn ours(name: &'static str, what: String, iso: &Path, dir: &Path) -> Result<Contender> {
    let kernel = dir.join(format!("{name}-vmlinuz"));
    let initrd = dir.join(format!("{name}-initrd.img"));
    qemu_tests::media::extract_file(iso, "boot/vmlinuz", &kernel)
        .with_context(|| format!("{name} ISO {}", iso.display()))?;
    qemu_tests::media::extract_file(iso, "boot/initrd.img", &initrd)
        .with_context(|| format!("{name} ISO {}", iso.display()))?;
    Ok(Contender {
        name,
        what,
        kind: Kind::Ours {
            iso: iso.to_path_buf(),
            kernel,
            initrd,
        },
        runs: Vec::new(),
    })
}

/// One boot to the first prompt (TCG, 1 GiB, e1000 on user networking).
fn boot_once(c: &Contender, round: usize, cd: bool, dir: &Path) -> Result<Marks> {
    let events = dir.join(format!("{}-{round}-events.log", c.name));
    let serial = dir.join(format!("{}-{round}.log", c.name));
    let (image, kernel) = match &c.kind {
        Kind::Ours { iso, .. } if cd => (iso.clone(), None),
        Kind::Ours {
            iso,
            kernel,
            initrd,
        } => (
            iso.clone(),
            Some(DirectKernel {
                kernel: kernel.clone(),
                initrd: initrd.clone(),
                cmdline: "console=tty0 console=ttyS0,115200n8".into(),
            }),
        ),
        Kind::DebianInstaller { kernel, initrd, cd } => (
            cd.clone(),
            Some(DirectKernel {
                kernel: kernel.clone(),
                initrd: initrd.clone(),
                cmdline: "console=ttyS0,115200 DEBIAN_FRONTEND=text".into(),
            }),
        ),
    };
    let direct = kernel.is_some();
    let cfg = VmConfig {
        firmware: Firmware::Bios,
        medium: Medium::Cd,
        image,
        memory_mib: 1024,
        kvm: false,
        vars: None,
        events: events.clone(),
        paths: FirmwarePaths::default(),
        nic: Some(Nic {
            model: "e1000".into(),
            network: Network::User,
        }),
        kernel,
        ..VmConfig::default()
    };
    let mut vm = Vm::spawn("qemu-system-x86_64", &cfg.args(), &serial)?;
    let menu = if direct {
        None
    } else {
        qemu_tests::scenario::choose_serial_entry(&mut vm)?;
        Some(vm.elapsed())
    };
    let (kernel, init) = kernel_marks(&mut vm)?;
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let mut marks = Marks {
        menu,
        kernel,
        init,
        ..Marks::default()
    };
    loop {
        let done = match c.kind {
            Kind::Ours { .. } => {
                let seen = read_events(&events);
                marks.medium = seen.iter().find_map(|e| match e {
                    Event::Medium { device, .. } => Some(device.clone()),
                    _ => None,
                });
                seen.contains(&Event::FirstScreen)
            }
            Kind::DebianInstaller { .. } => {
                let text = vm.text();
                ["Select a language", "Choose language", "Low memory"]
                    .iter()
                    .any(|n| text.contains(n))
            }
        };
        if done {
            marks.prompt = vm.elapsed();
            marks.cpu = cpu_time(vm.pid())?;
            break;
        }
        vm.check_running()?;
        ensure!(
            Instant::now() < deadline,
            "no first prompt within {BOOT_TIMEOUT:?}; serial log {}",
            serial.display()
        );
        std::thread::sleep(POLL);
    }
    marks.pack_modules = pack_line(&vm.text());
    Ok(marks)
}

/// The events so far. Lines that do not parse are skipped: an older
/// installer may emit events this checkout's protocol no longer knows, and
/// only `medium` and `first-screen` matter here.
fn read_events(path: &Path) -> Vec<Event> {
    let bytes = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete
        .lines()
        .filter_map(|l| Event::from_serial_line(l)?.ok())
        .collect()
}

/// User plus system CPU time of process `pid` and its threads, live and
/// exited, from `/proc/<pid>/stat` (fields 14 and 15, in USER_HZ = 100 ticks
/// a second, fixed by the kernel's ABI).
fn cpu_time(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| Duration::from_millis(ticks * 10))
        .with_context(|| format!("{path} has no utime/stime fields: {stat}"))
}

/// utime + stime of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces, so fields are counted after the
/// last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// "Loaded N more drivers from the installation medium." on the console.
fn pack_line(text: &str) -> Option<usize> {
    text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Loaded ")?
            .strip_suffix(" more drivers from the installation medium.")?
            .parse()
            .ok()
    })
}

/// Waits for the kernel's first line and for it starting /init (both kernels
/// are Debian's and print these on ttyS0 without `quiet`).
fn kernel_marks(vm: &mut Vm) -> Result<(Duration, Duration)> {
    vm.expect("Linux version", BOOT_TIMEOUT)?;
    let kernel = vm.elapsed();
    vm.expect("Run /init as init process", BOOT_TIMEOUT)?;
    Ok((kernel, vm.elapsed()))
}

/// The host's load averages (1, 5, 15 minutes), as /proc/loadavg has them.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn report(all: &[Contender], opts: &BootOptions, load_before: &str, load_after: &str) {
    let mode = if opts.cd {
        "our ISOs booted as a CD through the boot menu (BIOS)"
    } else {
        "direct kernel boot, our ISOs attached as a CD"
    };
    println!(
        "\n== bench boot: QEMU start → first prompt ({mode}; TCG, 1 GiB, e1000; \
         {} round(s), one VM at a time, interleaved) ==",
        opts.rounds
    );
    println!("load average before {load_before}, after {load_after}");
    for c in all {
        println!("{:<17} {}", c.name, c.what);
    }
    println!("\nround  {}", header(all));
    for round in 0..opts.rounds {
        let cells: Vec<String> = all
            .iter()
            .map(|c| format!("{:>16.2} s", c.runs[round].prompt.as_secs_f64()))
            .collect();
        println!("{:>5}  {}", round + 1, cells.join(""));
    }
    let med = |c: &Contender, f: fn(&Marks) -> Duration| {
        median(&c.runs.iter().map(f).collect::<Vec<_>>())
    };
    println!("\nQEMU's CPU time at the first prompt (user + system, all threads)");
    println!("round  {}", header(all));
    for round in 0..opts.rounds {
        let cells: Vec<String> = all
            .iter()
            .map(|c| format!("{:>16.2} s", c.runs[round].cpu.as_secs_f64()))
            .collect();
        println!("{:>5}  {}", round + 1, cells.join(""));
    }
    println!(
        "\nmedians                 menu   kernel's 1st line   runs /init   first prompt   CPU time"
    );
    for c in all {
        let menu = if c.runs.iter().any(|m| m.menu.is_some()) {
            format!(
                "{:>6.2} s",
                med(c, |m| m.menu.unwrap_or_default()).as_secs_f64()
            )
        } else {
            "      -".into()
        };
        println!(
            "{:<17} {menu} {:>17.2} s {:>10.2} s {:>12.2} s {:>8.2} s",
            c.name,
            med(c, |m| m.kernel).as_secs_f64(),
            med(c, |m| m.init).as_secs_f64(),
            med(c, |m| m.prompt).as_secs_f64(),
            med(c, |m| m.cpu).as_secs_f64()
        );
    }
    for c in all.iter().filter(|c| matches!(c.kind, Kind::Ours { .. })) {
        let media: Vec<&str> = c
            .runs
            .iter()
            .map(|m| m.medium.as_deref().unwrap_or("none"))
            .collect();
        let packs: Vec<String> = c
            .runs
            .iter()
            .map(|m| m.pack_modules.map_or("-".into(), |n| n.to_string()))
            .collect();
        println!(
            "{:<17} medium found before the prompt: {}; modules loaded from the pack: {}",
            c.name,
            media.join(" "),
            packs.join(" ")
        );
    }
    let [old, new, di] = all else { return };
    let (o, n, d) = (
        med(old, |m| m.prompt).as_secs_f64(),
        med(new, |m| m.prompt).as_secs_f64(),
        med(di, |m| m.prompt).as_secs_f64(),
    );
    let wall = Differences::of(old, new, |m| m.prompt);
    let cpu = Differences::of(old, new, |m| m.cpu);
    println!(
        "\nnew − old, wall clock: medians {:+.2} s, per round {}; bound +0.30 s: {}",
        n - o,
        wall.rounds(),
        wall.verdict()
    );
    println!(
        "new − old, QEMU's CPU time: medians {:+.2} s ({:.2} s → {:.2} s), per round {}; bound +0.30 s: {}",
        med(new, |m| m.cpu).as_secs_f64() - med(old, |m| m.cpu).as_secs_f64(),
        med(old, |m| m.cpu).as_secs_f64(),
        med(new, |m| m.cpu).as_secs_f64(),
        cpu.rounds(),
        cpu.verdict()
    );
    println!(
        "ratio current / debian-installer                   {:>7.2}",
        n / d
    );
    println!(
        "ratio baseline / debian-installer                  {:>7.2}",
        o / d
    );
}

/// Current minus baseline, round by round (each pair booted back to back).
struct Differences(Vec<f64>);

impl Differences {
    fn of(old: &Contender, new: &Contender, f: fn(&Marks) -> Duration) -> Differences {
        Differences(
            new.runs
                .iter()
                .zip(&old.runs)
                .map(|(n, o)| f(n).as_secs_f64() - f(o).as_secs_f64())
                .collect(),
        )
    }

    fn rounds(&self) -> String {
        let v: Vec<String> = self.0.iter().map(|x| format!("{x:+.2}")).collect();
        v.join(" ")
    }

    /// Said only when every round agrees: a median inside a spread of
    /// seconds would not show a bound of 0.3 s either way.
    fn verdict(&self) -> String {
        let max = self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = self.0.iter().copied().fold(f64::INFINITY, f64::min);
        if self.0.len() < 3 {
            format!(
                "not resolved ({} round(s); give --rounds 3 or more)",
                self.0.len()
            )
        } else if max <= BOUND {
            "holds in every round".into()
        } else if min > BOUND {
            "exceeded in every round".into()
        } else {
            format!(
                "not resolved (rounds from {min:+.2} to {max:+.2} s; measure on a quieter host)"
            )
        }
    }
}

fn header(all: &[Contender]) -> String {
    all.iter().map(|c| format!("{:>18}", c.name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_line_reads_the_count() {
        let text = "Loading drivers...\n  Loaded 3 more drivers from the installation medium.\n";
        assert_eq!(pack_line(text), Some(3));
        assert_eq!(pack_line("Loading drivers...\n"), None);
    }

    #[test]
    fn cpu_ticks_are_utime_plus_stime() {
        let stat = "4242 (qemu-system-x86 (x)) S 1 4242 4242 0 -1 4194560 5000 0 0 0 \
                    731 56 0 0 20 0 5 0 100 1000000 2000 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(787));
        assert_eq!(parse_cpu_ticks("4242 (qemu) S 1"), None);
    }

    #[test]
    fn verdict_only_when_every_round_agrees() {
        assert_eq!(
            Differences(vec![0.1, -0.2, 0.3]).verdict(),
            "holds in every round"
        );
        assert_eq!(
            Differences(vec![0.4, 0.5, 0.9]).verdict(),
            "exceeded in every round"
        );
        assert!(Differences(vec![0.1])
            .verdict()
            .starts_with("not resolved (1 round"));
        assert!(Differences(vec![-3.0, 0.1, 11.9])
            .verdict()
            .starts_with("not resolved (rounds from -3.00 to +11.90 s"));
    }

    #[test]
    fn median_takes_the_middle_run() {
        let s = Duration::from_secs;
        assert_eq!(median(&[s(9), s(7), s(8)]), s(8));
        assert_eq!(median(&[]), Duration::ZERO);
    }
}
