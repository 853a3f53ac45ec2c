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
