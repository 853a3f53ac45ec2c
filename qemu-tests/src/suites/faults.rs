//! Install fault scenarios. The installer boots directly (QEMU `-kernel`,
//! the ISO's own kernel and initramfs; the boot loaders are still installed
//! and used afterwards) with unattended answers served over HTTP, and its
//! backend replaced (`installer.backend=`; keys and CA stay pinned) by
//! `crate::servers::flaky`, which serves the test repository with faults:
//!
//! - `install-fault-tampered`: one flipped byte in the rootfs object — the
//!   install fails naming the component, the disk has no partition table and
//!   does not boot;
//! - `install-fault-drops`: 25 connections dropped at random offsets — the
//!   install resumes and completes, and the disk boots the appliance;
//! - `install-fault-small-disk`: 512 MiB — refused with the figures before a
//!   byte is written;
//! - `install-fault-two-disks`: two eligible disks and no `disk` key — the
//!   unattended run stops and lists both;
//! - `install-fault-kill`: QEMU killed at 10 random points during the
//!   install; after each kill the disk must not boot and a re-run from the
//!   ISO must complete; at the end the appliance boots;
//! - `hyperv-gen1-dmi-no-disk`: Hyper-V Gen1's DMI strings (so `ata_piix`
//!   leaves IDE disks to hv_storvsc, which QEMU cannot provide): the CD is
//!   still found, and the missing disk is explained;
//! - `install-offline`: the offline ISO installs without object requests.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use protocol::stage::Stage;
use protocol::{ids, Event, MediumKind};

use crate::expect_event;
use crate::harness::disk::{empty_disk, first_mib_zero};
use crate::harness::qemu::{Contents, Controller, Dmi, Drive, Firmware, Medium, Nic, VmConfig};
use crate::harness::session::{check, Session};
use crate::scenario::{IsoVariant, Needs, RunOptions, Scenario, Script, Timings};
use crate::servers::flaky::{Corruption, Flaky, FlakyConfig};
use crate::servers::http;
use crate::servers::vendor;
use crate::steps::{
    boot_installed, disks_event, expect_installed, inspect_disk, install_end, must_not_boot,
    read_bundle, rootfs_object, start, stop_and_power_off, support_volume, target_drive,
    unattended_vm, Machine, INSTALL_TIMEOUT,
};

/// The scenarios (tampered and small disk are in the CI set).
pub fn scenarios() -> Vec<Scenario> {
    let mk = |name: &str, f: fn(&Scenario, &RunOptions, &Path) -> Result<Timings>, rep: bool| {
        let mut s = Scenario::boot(name.to_string(), Firmware::Bios, Medium::Cd);
        s.script = Script::Custom(f);
        s.representative = rep;
        s.needs = Needs {
            iso: true,
            appliance: false,
            backend: true,
            reference: false,
        };
        s
    };
    vec![
        mk("install-fault-tampered", tampered, true),
        mk("install-fault-drops", drops, false),
        mk("install-fault-small-disk", small_disk, true),
        mk("install-fault-two-disks", two_disks, false),
        mk("install-fault-kill", killed, false),
        mk("hyperv-gen1-dmi-no-disk", hyperv_dmi, false),
        {
            let mut s = mk("install-offline", offline, false);
            s.iso = IsoVariant::Offline;
            s
        },
    ]
}

/// The machine: SeaBIOS, e1000, the target disk on IDE next to the CD.
const MACHINE: Machine = Machine {
    firmware: Firmware::Bios,
    nic: "e1000",
    bus: Controller::Ide { bus: 1, unit: None },
};
/// The target disk's size.
const DISK_MIB: u64 = 2048;
/// The unattended answers (qemu-tests/data).
const ANSWERS: &str = "install-unattended.json";

/// The unattended answers.
fn answers(opts: &RunOptions) -> Result<Vec<u8>> {
    let p = opts.data_dir.join(ANSWERS);
    fs::read(&p).with_context(|| format!("reading {}", p.display()))
}

fn flaky(opts: &RunOptions, seed: u64, drops: usize, corrupt: Option<Corruption>) -> Result<Flaky> {
    let b = opts.backend()?;
    let mut c = FlakyConfig::new(
        &b.repo,
        &b.cert,
        &b.key,
        SocketAddr::from(([127, 0, 0, 1], 0)),
    );
    c.seed = seed;
    c.drops = drops;
    // Drop component transfers (they resume); metadata is served intact.
    c.drop_prefix = Some("/objects/".into());
    // Each broken transfer delivers at least a byte: drops at random offsets.
    c.min_cut = 1;
    c.corrupt = corrupt;
    Flaky::start(c)
}

/// One fault scenario's set-up: the answers over HTTP (the installer pins
/// their SHA-256) and the flaky backend (both stop when it is dropped), in
/// the scenario's folder. It makes the target disks and starts the installer
/// against both servers.
struct Rig<'a> {
    opts: &'a RunOptions,
    dir: &'a Path,
    http: http::Server,
    answers_sha256: String,
    server: Flaky,
}

impl<'a> Rig<'a> {
    /// The unattended answers and a flaky server that serves everything
    /// intact.
    fn new(opts: &'a RunOptions, dir: &'a Path) -> Result<Self> {
        Self::with(opts, dir, answers(opts)?, flaky(opts, 1, 0, None)?)
    }

    /// `answers` served at `/answers.json`, and `server` as the backend.
    fn with(opts: &'a RunOptions, dir: &'a Path, answers: Vec<u8>, server: Flaky) -> Result<Self> {
        let answers_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&answers));
        let http = http::Server::start(BTreeMap::from([("/answers.json".to_string(), answers)]))?;
        Ok(Rig {
            opts,
            dir,
            http,
            answers_sha256,
            server,
        })
    }

    /// An empty disk `name` of `mib` MiB in the scenario's folder.
    fn disk(&self, name: &str, mib: u64) -> Result<PathBuf> {
        let path = self.dir.join(name);
        empty_disk(&path, mib)?;
        Ok(path)
    }

    /// The installer's VM booting `iso`, with `disks` as targets (the first
    /// on IDE unit `ide.1`, a second one on `ide.0` unit 1 with serial
    /// `TARGET0002`).
    fn vm(&self, iso: &Path, tag: &str, disks: &[PathBuf]) -> Result<VmConfig> {
        let mut cfg = unattended_vm(
            self.opts,
            iso,
            self.dir,
            tag,
            (self.http.port, &self.answers_sha256),
            self.server.listen().port(),
        )?;
        for (i, d) in disks.iter().enumerate() {
            cfg.drives.push(if i == 0 {
                target_drive(MACHINE.bus, d, None)
            } else {
                Drive {
                    id: format!("target{}", i + 1),
                    image: d.clone(),
                    contents: Contents::Writable,
                    controller: Controller::Ide {
                        bus: 0,
                        unit: Some(1),
                    },
                    serial: Some(format!("TARGET000{}", i + 1)),
                    bootindex: None,
                }
            });
        }
        Ok(cfg)
    }

    /// Starts the installer from the default ISO with the target disk(s).
    fn install(&self, tag: &str, disks: &[PathBuf]) -> Result<Session> {
        start(&self.vm(&self.opts.iso, tag, disks)?, self.dir, tag)
    }

    /// A complete unattended install onto `target` (fails unless it ends
    /// with `installed`); returns the install id.
    fn complete(&self, tag: &str, target: &Path, failure: &str) -> Result<String> {
        let mut s = self.install(tag, &[target.to_path_buf()])?;
        Ok(expect_installed(&mut s, failure)?.0)
    }

    /// After a successful install: the disk read back with our readers (the
    /// handover record must carry the `installed` event's install id), then
    /// the disk booted into the appliance.
    fn inspect_and_boot(&self, target: &Path, install_id: &str) -> Result<()> {
        inspect_disk(target, MACHINE.firmware, install_id)?;
        boot_installed(
            &MACHINE,
            self.opts,
            self.dir,
            target,
            None,
            "appliance",
            false,
        )?;
        Ok(())
    }
}

fn tampered(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let corrupt = Corruption {
        path: rootfs_object(opts)?,
        offset: 5 << 20,
    };
    let rig = Rig::with(opts, dir, answers(opts)?, flaky(opts, 7, 0, Some(corrupt))?)?;
    let target = rig.disk("target.img", DISK_MIB)?;
    let support = dir.join("support.img");
    support_volume(&support)?;
    let mut cfg = rig.vm(&opts.iso, "install", &[])?;
    // The SUPPORT volume first, then the target (the order QEMU lists them).
    cfg.drives.push(Drive {
        id: "support".into(),
        image: support.clone(),
        contents: Contents::Writable,
        controller: Controller::Ide {
            bus: 0,
            unit: Some(1),
        },
        serial: None,
        bootindex: None,
    });
    cfg.drives.push(target_drive(MACHINE.bus, &target, None));
    let mut s = start(&cfg, dir, "install")?;
    let failed = match install_end(&mut s)? {
        Ok((id, _)) => {
            return Err(anyhow::anyhow!(
                "a tampered component was installed (install id {id}); {}",
                s.context()
            ))
        }
        Err(failed) => failed,
    };
    let Event::InstallFailed { stage, message, .. } = &failed else {
        anyhow::bail!("not an install-failed event: {failed:?}");
    };
    check(
        &s,
        stage.stage == Stage::Download && stage.component.as_deref() == Some("rootfs"),
        &format!("stage: {failed:?}"),
    )?;
    check(
        &s,
        message.contains("SHA-256") || message.contains("sha256"),
        &format!("message: {failed:?}"),
    )?;
    stop_and_power_off(&mut s)?;
    ensure!(
        first_mib_zero(&target)?,
        "the disk kept a partition table after a failed install"
    );
    let text = s.vm.text();
    ensure!(
        text.contains("support bundle was written to"),
        "the failure screen does not show where the support bundle went"
    );
    let bundle = read_bundle(&support)?;
    ensure!(
        bundle.contains("Failed while: downloading rootfs"),
        "the bundle lacks the failure"
    );
    ensure!(
        !bundle.contains(&vendor::entitled().to_string()),
        "the bundle shows the full serial number"
    );
    must_not_boot(
        opts,
        dir,
        "disk-after-failure",
        &target,
        Duration::from_secs(30),
    )?;
    Ok(Timings::since(started))
}

fn drops(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let rig = Rig::with(opts, dir, answers(opts)?, flaky(opts, 20261128, 25, None)?)?;
    let server = &rig.server;
    let target = rig.disk("target.img", DISK_MIB)?;
    let id = rig.complete("install", &target, "the install did not survive the drops")?;
    ensure!(
        server.drops() >= 20,
        "only {} connections were dropped",
        server.drops()
    );
    eprintln!(
        "install-fault-drops: {} drops survived, {} requests",
        server.drops(),
        server.log().len()
    );
    rig.inspect_and_boot(&target, &id)?;
    Ok(Timings::since(started))
}

fn small_disk(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let rig = Rig::new(opts, dir)?;
    let target = rig.disk("target.img", 512)?;
    let mut s = rig.install("install", std::slice::from_ref(&target))?;
    let disks = disks_event(&mut s, INSTALL_TIMEOUT)?;
    let reason = disks
        .iter()
        .find(|d| d.serial == "TARGET0001")
        .and_then(|d| d.refusal.clone())
        .unwrap_or_default();
    check(
        &s,
        reason.contains("too small: 512.0 MiB") && reason.contains("1.0 GiB"),
        &format!("refusal: {disks:?}"),
    )?;
    s.answer(ids::STOP_ACTION, "p")?;
    s.expect_exit()?;
    ensure!(
        !s.saw(|e| matches!(e, Event::Install { .. }))?,
        "an install started on a disk that is too small"
    );
    ensure!(first_mib_zero(&target)?, "the small disk was written to");
    Ok(Timings::since(started))
}

fn two_disks(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    // Answers without a `disk` key.
    let answers = br#"{"version": 1, "network": {"mode": "dhcp"}, "serial": "1234-5678-9ABC-DEFP", "erase_disk": true}"#;
    let rig = Rig::with(opts, dir, answers.to_vec(), flaky(opts, 1, 0, None)?)?;
    let (a, b) = (rig.disk("a.img", 2048)?, rig.disk("b.img", 3072)?);
    let mut s = rig.install("install", &[a.clone(), b.clone()])?;
    disks_event(&mut s, INSTALL_TIMEOUT)?;
    s.answer(ids::STOP_ACTION, "p")?;
    s.expect_exit()?;
    let text = s.vm.text();
    ensure!(
        text.contains("2 disks match {}"),
        "the stop screen does not say that two disks match"
    );
    ensure!(
        text.contains("TARGET0001") && text.contains("TARGET0002"),
        "the stop screen does not list both disks"
    );
    ensure!(
        first_mib_zero(&a)? && first_mib_zero(&b)?,
        "a disk was written to"
    );
    Ok(Timings::since(started))
}

/// Hyper-V Gen1's DMI strings (so `ata_piix` leaves IDE disks to
/// hv_storvsc, which QEMU cannot provide): the CD is still found, and the
/// missing disk is explained.
fn hyperv_dmi(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let rig = Rig::new(opts, dir)?;
    let target = rig.disk("target.img", DISK_MIB)?;
    let mut cfg = rig.vm(&opts.iso, "install", std::slice::from_ref(&target))?;
    cfg.dmi = Some(Dmi {
        manufacturer: "Microsoft Corporation".into(),
        product: "Virtual Machine".into(),
    });
    cfg.nic = cfg.nic.map(|n| Nic {
        model: "tulip".into(),
        ..n
    });
    let mut s = start(&cfg, dir, "install")?;
    let kind = expect_event!(s, INSTALL_TIMEOUT, Event::Medium { kind, .. } => *kind)?;
    check(
        &s,
        kind == MediumKind::Cdrom,
        &format!("the CD was not found: {kind:?}"),
    )?;
    let disks = disks_event(&mut s, INSTALL_TIMEOUT)?;
    let seen = disks.iter().any(|d| d.serial == "TARGET0001");
    check(
        &s,
        !seen,
        &format!("ata_piix should ignore the IDE disk on Hyper-V: {disks:?}"),
    )?;
    s.answer(ids::STOP_ACTION, "p")?;
    s.expect_exit()?;
    let text = s.vm.text();
    ensure!(
        text.contains("this is a Hyper-V virtual machine"),
        "the stop screen does not explain the missing disk"
    );
    Ok(Timings::since(started))
}

/// The offline ISO: components come from the medium, so the backend (the
/// flaky server, which logs every request) sees no object request.
fn offline(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let iso = opts.iso_for(s.iso)?;
    let rig = Rig::new(opts, dir)?;
    let target = rig.disk("target.img", DISK_MIB)?;
    let cfg = rig.vm(&iso, "install", std::slice::from_ref(&target))?;
    let mut s = start(&cfg, dir, "install")?;
    let (id, _) = expect_installed(&mut s, "the offline install failed")?;
    let objects: Vec<String> = rig
        .server
        .log()
        .iter()
        .filter(|r| r.path.starts_with("/objects/"))
        .map(|r| r.path.clone())
        .collect();
    ensure!(
        objects.is_empty(),
        "the offline install downloaded {objects:?}"
    );
    ensure!(
        s.vm.text().contains("from the installation medium"),
        "the console does not say the components came from the medium"
    );
    rig.inspect_and_boot(&target, &id)?;
    Ok(Timings::since(started))
}

/// A small PRNG (xorshift) for the kill points; the seed is printed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn killed(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let rig = Rig::new(opts, dir)?;
    let target = rig.disk("target.img", DISK_MIB)?;
    let seed = started.elapsed().as_nanos() as u64 | 1;
    let mut rng = seed ^ 0x9E37_79B9_7F4A_7C15;
    eprintln!("install-fault-kill: seed {seed}");
    let mut kills = 0;
    for i in 0..20 {
        if kills == 10 {
            break;
        }
        let mut s = rig.install(&format!("kill{i}"), std::slice::from_ref(&target))?;
        expect_event!(s, INSTALL_TIMEOUT, Event::Install { .. } => ())?;
        // The install writes for about 10 s under TCG; kill anywhere in it.
        let after = Duration::from_millis(next(&mut rng) % 10_000);
        std::thread::sleep(after);
        let finished = s.saw(|e| matches!(e, Event::Installed { .. }))?;
        drop(s);
        eprintln!(
            "install-fault-kill: run {i} killed {:.1} s into the install{}",
            after.as_secs_f64(),
            if finished { " (it had finished)" } else { "" }
        );
        if !finished {
            kills += 1;
            must_not_boot(
                opts,
                dir,
                &format!("kill{i}-disk"),
                &target,
                Duration::from_secs(25),
            )?;
            // Re-run from the ISO: it must complete on the half-written disk.
            let tag = format!("rerun{i}");
            rig.complete(&tag, &target, &format!("the re-run {tag} failed"))?;
        }
    }
    ensure!(
        kills == 10,
        "only {kills} of 20 runs were killed during the install"
    );
    let id = rig.complete("final", &target, "the re-run failed")?;
    rig.inspect_and_boot(&target, &id)?;
    Ok(Timings::since(started))
}
