//! `cargo xtask bench iso`: figures measured in one run, printed as a table.
//! Not a test: nothing here passes or fails on speed.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::assemble::{self, IsoOptions, IsoTree};
use crate::cmd::Cmd;
use crate::qemu::{self, QemuTestOptions};
use crate::tree::{TreeFile, TreeSource};
use crate::{inputs, product, project, testrepo, vendorcfg};

const RUNS: usize = 5;

pub fn iso() -> Result<()> {
    let dir = project::target_dir().join("bench");
    fs::create_dir_all(&dir)?;

    // 1. Warm `cargo xtask iso`: one run to warm caches, then time the next.
    let xtask = || {
        Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["xtask", "iso", "--out"])
            .arg(dir.join("warm.iso"))
            .cwd(project::root())
            .read()
    };
    xtask()?;
    let t = Instant::now();
    xtask()?;
    let warm = t.elapsed();

    // 2. Our writer vs xorriso on the same tree on disk.
    let opts = IsoOptions::from_env(None, testrepo::iso_vendor()?)?;
    let inputs = inputs::ensure()?;
    let mut times = assemble::BuildTimes::default();
    let t = Instant::now();
    let installer = assemble::build_installer()?;
    times.installer = t.elapsed();
    let vendor = vendorcfg::files(&opts.vendor)?;
    let tree = assemble::iso_tree(&inputs, &installer, None, &vendor, opts.epoch, &mut times)?;
    let tree_dir = dir.join("tree");
    assemble::materialize(&tree, &tree_dir)?;
    let on_disk = IsoTree {
        files: tree
            .files
            .iter()
            .map(|f| TreeFile {
                path: f.path.clone(),
                source: TreeSource::Path(tree_dir.join(&f.path)),
                mode: f.mode,
            })
            .collect(),
        isohdpfx: tree.isohdpfx.clone(),
        epoch: tree.epoch,
    };
    let ours = median(RUNS, || {
        assemble::write_iso(&on_disk, &dir.join("ours.iso")).map(|_| ())
    })?;
    let isohdpfx = dir.join("isohdpfx.bin");
    fs::write(&isohdpfx, &tree.isohdpfx)?;
    Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--release",
            "--package",
            "image-builder",
        ])
        .cwd(project::root())
        .run()?;
    let cli = project::target_dir().join("release").join("image-builder");
    let ours_cli = median(RUNS, || {
        Cmd::new(&cli)
            .args([
                "iso",
                "--volume-id",
                product::VOLUME_ID,
                "--epoch",
                &tree.epoch.to_string(),
                "--out",
            ])
            .arg(dir.join("ours-cli.iso"))
            .args([
                "--bios",
                "isolinux/isolinux.bin",
                "--catalog",
                "isolinux/boot.cat",
                "--efi",
                "boot/grub/efi.img",
            ])
            .arg("--isohybrid-mbr")
            .arg(&isohdpfx)
            .arg(&tree_dir)
            .read()
            .map(|_| ())
    })?;
    let xorriso = median(RUNS, || {
        Cmd::new("xorriso")
            .env("SOURCE_DATE_EPOCH", tree.epoch.to_string())
            .args([
                "-no_rc",
                "-as",
                "mkisofs",
                "-quiet",
                "-r",
                "-V",
                product::VOLUME_ID,
                "-o",
            ])
            .arg(dir.join("xorriso.iso"))
            .arg("-isohybrid-mbr")
            .arg(&isohdpfx)
            .args([
                "-b",
                "isolinux/isolinux.bin",
                "-c",
                "isolinux/boot.cat",
                "-no-emul-boot",
            ])
            .args([
                "-boot-load-size",
                "4",
                "-boot-info-table",
                "-eltorito-alt-boot",
            ])
            .args(["-e", "boot/grub/efi.img", "-no-emul-boot"])
            .arg(&tree_dir)
            .read()
            .map(|_| ())
    })
    .context("timing xorriso (install the xorriso package)")?;

    // 3. Boot to first screen, every scenario.
    let outcomes = qemu::qemu_test(&QemuTestOptions {
        all: true,
        list: false,
        kvm: false,
        scenarios: Vec::new(),
        jobs: 2,
        iso: Some(dir.join("warm.iso")),
        reference: None,
    });

    println!("\n== bench iso ==");
    println!(
        "warm `cargo xtask iso` (wall)            {:>8.2} s",
        warm.as_secs_f64()
    );
    println!(
        "  parts (warm): cargo build of the installer {:.2} s, initramfs {:.2} s, ESP {:.3} s",
        times.installer.as_secs_f64(),
        times.initramfs.as_secs_f64(),
        times.esp.as_secs_f64()
    );
    println!("ISO writer, same tree, median of {RUNS}:");
    println!(
        "  ours, library in process              {:>8.3} s",
        ours.as_secs_f64()
    );
    println!(
        "  ours, image-builder CLI               {:>8.3} s",
        ours_cli.as_secs_f64()
    );
    println!(
        "  xorriso -as mkisofs                    {:>8.3} s",
        xorriso.as_secs_f64()
    );
    println!(
        "  ratio ours (CLI) / xorriso            {:>8.2}",
        ours_cli.as_secs_f64() / xorriso.as_secs_f64()
    );
    println!(
        "ISO size: ours {} bytes, xorriso {} bytes",
        fs::metadata(dir.join("ours.iso"))?.len(),
        fs::metadata(dir.join("xorriso.iso"))?.len()
    );
    match outcomes {
        Ok(outcomes) => {
            println!("boot to first screen (TCG, 2 VMs at a time on 2 cores):");
            for o in outcomes {
                if let Ok(t) = o.result {
                    println!(
                        "  {:<24} menu {:>6.1} s   first screen {:>6.1} s",
                        o.name,
                        t.menu.as_secs_f64(),
                        t.first_screen.as_secs_f64()
                    );
                }
            }
        }
        Err(e) => println!("boot timings incomplete: {e:#}"),
    }
    Ok(())
}

fn median(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut v = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed());
    }
    v.sort();
    Ok(v[v.len() / 2])
}

/// `cargo xtask bench boot`: QEMU start → first prompt with direct kernel boot
/// (TCG, 1 GiB, e1000 on user networking), ours vs Debian's installer
/// (package debian-installer-12-netboot-amd64, `DEBIAN_FRONTEND=text
/// console=ttyS0`), measured in the same run.
pub fn boot() -> Result<()> {
    use qemu_tests::child::Vm;
    use qemu_tests::qemu::{DirectKernel, Firmware, FirmwarePaths, Medium, Network, Nic, VmConfig};
    use qemu_tests::session::Session;

    let dir = project::target_dir().join("bench-boot");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;

    // Debian's installer: the netboot package's text-mode kernel and initrd.
    let di_root = inputs::fetch_unpinned("debian-installer-12-netboot-amd64")?;
    let di_dir =
        di_root.join("usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64");
    let (di_linux, di_initrd) = (di_dir.join("linux"), di_dir.join("initrd.gz"));

    // Ours: kernel and initramfs out of the ISO, the ISO attached as a CD.
    let iso = assemble::build(&IsoOptions::from_env(None, testrepo::iso_vendor()?)?)?.0;
    let ours_kernel = dir.join("vmlinuz");
    let ours_initrd = dir.join("initrd.img");
    qemu_tests::media::extract_file(&iso, "boot/vmlinuz", &ours_kernel)?;
    qemu_tests::media::extract_file(&iso, "boot/initrd.img", &ours_initrd)?;

    // Per run: QEMU start → the kernel's first line, → the kernel runs /init,
    // → the installer's first prompt.
    let mut ours: Vec<Marks> = Vec::new();
    let mut theirs: Vec<Marks> = Vec::new();
    for round in 0..3 {
        let cfg = |kernel: DirectKernel, events: &str| VmConfig {
            firmware: Firmware::Bios,
            medium: Medium::Cd,
            image: iso.clone(),
            memory_mib: 1024,
            kvm: false,
            vars: None,
            events: dir.join(events),
            paths: FirmwarePaths::default(),
            nic: Some(Nic {
                model: "e1000".into(),
                network: Network::User,
            }),
            kernel: Some(kernel),
            ..VmConfig::default()
        };
        let c = cfg(
            DirectKernel {
                kernel: ours_kernel.clone(),
                initrd: ours_initrd.clone(),
                cmdline: "console=tty0 console=ttyS0,115200n8".into(),
            },
            "ours-events.log",
        );
        let _ = fs::remove_file(dir.join("ours-events.log"));
        let vm = Vm::spawn(
            "qemu-system-x86_64",
            &c.args(),
            &dir.join(format!("ours-{round}.log")),
        )?;
        let mut s = Session::new(vm, dir.join("ours-events.log"));
        let (kernel, init) = kernel_marks(&mut s.vm)?;
        s.expect_first_screen(Duration::from_secs(300))?;
        let prompt = s.first_screen_at.unwrap_or_default();
        ours.push(Marks {
            kernel,
            init,
            prompt,
        });
        drop(s);

        let c = cfg(
            DirectKernel {
                kernel: di_linux.clone(),
                initrd: di_initrd.clone(),
                cmdline: "console=ttyS0,115200 DEBIAN_FRONTEND=text".into(),
            },
            "di-events.log",
        );
        let mut vm = Vm::spawn(
            "qemu-system-x86_64",
            &c.args(),
            &dir.join(format!("di-{round}.log")),
        )?;
        let (kernel, init) = kernel_marks(&mut vm)?;
        let deadline = Instant::now() + Duration::from_secs(300);
        let prompt = loop {
            let text = vm.text();
            if ["Select a language", "Choose language", "Low memory"]
                .iter()
                .any(|n| text.contains(n))
            {
                break vm.elapsed();
            }
            vm.check_running()?;
            anyhow::ensure!(
                Instant::now() < deadline,
                "debian-installer showed no first prompt within 300 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        theirs.push(Marks {
            kernel,
            init,
            prompt,
        });
    }
    let (o, t) = (Marks::median(&ours), Marks::median(&theirs));
    println!("\n== bench boot (direct kernel boot, TCG, 1 GiB, median of 3, one VM at a time) ==");
    println!("                         kernel's 1st line   kernel runs /init   first prompt");
    for (name, m, runs) in [("ours", &o, &ours), ("debian-installer", &t, &theirs)] {
        println!(
            "{name:<24} {:>13.1} s {:>17.1} s {:>12.1} s   prompt runs {:?}",
            m.kernel.as_secs_f64(),
            m.init.as_secs_f64(),
            m.prompt.as_secs_f64(),
            secs(&runs.iter().map(|r| r.prompt).collect::<Vec<_>>())
        );
    }
    println!(
        "ratio ours / debian-installer, QEMU start → first prompt   {:>5.2}   (target ≤ 0.20)",
        o.prompt.as_secs_f64() / t.prompt.as_secs_f64()
    );
    println!(
        "ratio of the part after /init (each installer's own)       {:>5.2}",
        o.prompt.saturating_sub(o.init).as_secs_f64()
            / t.prompt.saturating_sub(t.init).as_secs_f64()
    );
    println!(
        "0.20 × debian-installer is {:.1} s; both kernels only print their first line after {:.1} s / {:.1} s \
         (the firmware, then Debian's xz-compressed kernel unpacking itself under TCG)",
        t.prompt.as_secs_f64() * 0.2,
        o.kernel.as_secs_f64(),
        t.kernel.as_secs_f64()
    );
    Ok(())
}

/// Times from QEMU start of one boot.
#[derive(Debug, Clone, Copy)]
struct Marks {
    kernel: Duration,
    init: Duration,
    prompt: Duration,
}

impl Marks {
    /// The run with the median time to the prompt.
    fn median(runs: &[Marks]) -> Marks {
        let mut v = runs.to_vec();
        v.sort_by_key(|m| m.prompt);
        v[v.len() / 2]
    }
}

/// Waits for the kernel's first line and for it starting /init (both kernels
/// are Debian's and print these on ttyS0 without `quiet`).
fn kernel_marks(vm: &mut qemu_tests::child::Vm) -> Result<(Duration, Duration)> {
    vm.expect("Linux version", Duration::from_secs(300))?;
    let kernel = vm.elapsed();
    vm.expect("Run /init as init process", Duration::from_secs(300))?;
    Ok((kernel, vm.elapsed()))
}

fn secs(v: &[Duration]) -> Vec<String> {
    v.iter()
        .map(|d| format!("{:.1}", d.as_secs_f64()))
        .collect()
}
