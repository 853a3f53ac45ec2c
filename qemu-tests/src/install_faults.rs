//! Install fault scenarios. The installer boots directly (QEMU `-kernel`,
//! the ISO's own kernel and initramfs; the boot loaders are still installed
//! and used afterwards) with unattended answers served over HTTP, and its
//! backend replaced (`installer.backend=`; keys and CA stay pinned) by
//! `crate::flaky`, which serves the test repository with faults:
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
//! - `install-fault-kill` (in `install_more`): QEMU killed at 10 random
//!   points during the install; after each kill the disk must not boot and
//!   a re-run from the ISO must complete; at the end the appliance boots.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::child::Vm;
use crate::flaky::{Corruption, Flaky, FlakyConfig};
use crate::install::{
    boot_installed, inspect_disk, target_args, Bus, Case, Drive, INSTALL_TIMEOUT,
};
use crate::qemu::{DirectKernel, Firmware, Medium, Network, Nic, VmConfig};
use crate::scenario::{RunOptions, Scenario, Script, Timings};
use crate::session::{check, Session, STEP_TIMEOUT};
use crate::vendor;

/// The scenarios (the tampered one is in the CI set).
pub fn scenarios() -> Vec<Scenario> {
    let mk = |name: &str, f: fn(&Scenario, &RunOptions, &Path) -> Result<Timings>, rep: bool| {
        let mut s = Scenario::boot(name.to_string(), Firmware::Bios, Medium::Cd);
        s.script = Script::Custom(f);
        s.representative = rep;
        s
    };
    vec![
        mk("install-fault-tampered", tampered, true),
        mk("install-fault-drops", drops, false),
        mk("install-fault-small-disk", small_disk, true),
        mk("install-fault-two-disks", two_disks, false),
        mk("install-fault-kill", crate::install_more::killed, false),
        mk(
            "hyperv-gen1-dmi-no-disk",
            crate::install_more::hyperv_dmi,
            false,
        ),
        {
            let mut s = mk("install-offline", crate::install_more::offline, false);
            s.iso = crate::scenario::IsoVariant::Offline;
            s
        },
    ]
}

pub(crate) const CASE: Case = Case {
    name: "install-fault",
    firmware: Firmware::Bios,
    nic: "e1000",
    bus: Bus::Ide,
    disk_mib: 2048,
    drive: Drive::Unattended,
    representative: false,
};

/// The unattended answers, served over HTTP.
pub(crate) fn answers(opts: &RunOptions) -> Result<crate::http::Server> {
    let mut files = BTreeMap::new();
    let p = opts.data_dir.join(crate::install::UNATTENDED_ANSWERS);
    files.insert(
        "/answers.json".to_string(),
        fs::read(&p).with_context(|| format!("reading {}", p.display()))?,
    );
    crate::http::Server::start(files)
}

pub(crate) fn flaky(
    opts: &RunOptions,
    seed: u64,
    drops: usize,
    corrupt: Option<Corruption>,
) -> Result<Flaky> {
    let b = opts
        .backend
        .as_ref()
        .context("no test backend (run through cargo xtask qemu-test)")?;
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

/// The request path of the current manifest's rootfs object (read from the
/// manifest without verification: the harness published it itself).
fn rootfs_object(opts: &RunOptions) -> Result<String> {
    use base64::Engine;
    let b = opts.backend.as_ref().context("no test backend")?;
    let path = b
        .repo
        .join(vendor_repo::manifest_path(vendor::MODEL, vendor::CHANNEL));
    let env: vendor_repo::signed::Envelope = serde_json::from_slice(&fs::read(&path)?)?;
    let payload = base64::engine::general_purpose::STANDARD.decode(env.payload)?;
    let m: vendor_repo::Manifest = serde_json::from_slice(&payload)?;
    let c = m
        .components
        .iter()
        .find(|c| c.name == "rootfs")
        .context("the manifest has no rootfs")?;
    Ok(format!("/{}", c.object_path()))
}

pub(crate) fn empty_disk(path: &Path, mib: u64) -> Result<()> {
    let f = fs::File::create(path)?;
    f.set_len(mib << 20)?;
    Ok(())
}

/// Starts the installer (direct kernel boot) against `backend_port`, with
/// the target disk(s) attached.
pub(crate) fn start(
    opts: &RunOptions,
    dir: &Path,
    tag: &str,
    backend_port: u16,
    http: &crate::http::Server,
    disks: &[PathBuf],
) -> Result<Session> {
    start_with(
        opts,
        &opts.iso,
        dir,
        tag,
        backend_port,
        http,
        disks,
        &[],
        CASE.nic,
    )
}

/// [`start`] with extra QEMU arguments and another NIC model.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_with(
    opts: &RunOptions,
    iso: &Path,
    dir: &Path,
    tag: &str,
    backend_port: u16,
    http: &crate::http::Server,
    disks: &[PathBuf],
    extra: &[&str],
    nic: &str,
) -> Result<Session> {
    let (kernel, initrd) = (dir.join("vmlinuz"), dir.join("initrd.img"));
    if !kernel.exists() {
        crate::media::extract_file(iso, "boot/vmlinuz", &kernel)?;
        crate::media::extract_file(iso, "boot/initrd.img", &initrd)?;
    }
    let events = dir.join(format!("events-{tag}.log"));
    let _ = fs::remove_file(&events);
    let cfg = VmConfig {
        firmware: CASE.firmware,
        medium: Medium::Cd,
        image: iso.to_path_buf(),
        memory_mib: opts.memory_mib,
        kvm: opts.kvm,
        vars: None,
        events: events.clone(),
        paths: opts.firmware.clone(),
        nic: Some(Nic {
            model: nic.into(),
            network: Network::User,
        }),
        kernel: Some(DirectKernel {
            kernel,
            initrd,
            cmdline: format!(
                "console=ttyS0,115200n8 installer.answers=http://10.0.2.2:{}/answers.json installer.unattended installer.backend=https://10.0.2.2:{backend_port}/",
                http.port
            ),
        }),
    };
    let mut args = cfg.args();
    args.extend(extra.iter().map(|a| a.to_string()));
    for (i, d) in disks.iter().enumerate() {
        let mut t = target_args(CASE.bus, d, None);
        if i > 0 {
            // A second disk: its own id and serial, on the other IDE unit.
            t = t
                .into_iter()
                .map(|a| {
                    a.replace("id=target", "id=target2")
                        .replace("drive=target,bus=ide.1", "drive=target2,bus=ide.0,unit=1")
                        .replace("TARGET0001", "TARGET0002")
                })
                .collect();
        }
        args.extend(t);
    }
    fs::write(
        dir.join(format!("command-{tag}.txt")),
        args.join(" ") + "\n",
    )?;
    let vm = Vm::spawn(
        "qemu-system-x86_64",
        &args,
        &dir.join(format!("serial-{tag}.log")),
    )?;
    Ok(Session::new(vm, events))
}

/// Boots only the disk for `wait` and fails if a kernel starts from it.
pub(crate) fn must_not_boot(
    opts: &RunOptions,
    dir: &Path,
    tag: &str,
    target: &Path,
    wait: Duration,
) -> Result<()> {
    let mut args = vec![
        "-accel".to_string(),
        if opts.kvm { "kvm" } else { "tcg" }.into(),
        "-machine".into(),
        "pc".into(),
        "-m".into(),
        opts.memory_mib.to_string(),
        "-display".into(),
        "none".into(),
        "-no-reboot".into(),
        "-serial".into(),
        "stdio".into(),
        "-nic".into(),
        "none".into(),
    ];
    args.extend(target_args(CASE.bus, target, Some(0)));
    let mut vm = Vm::spawn(
        "qemu-system-x86_64",
        &args,
        &dir.join(format!("serial-{tag}.log")),
    )?;
    let seen = vm.expect("Linux version", wait);
    ensure!(
        seen.is_err(),
        "a half-installed disk booted a kernel ({tag})"
    );
    Ok(())
}

pub(crate) fn first_mib_zero(target: &Path) -> Result<bool> {
    use std::io::Read;
    let mut f = fs::File::open(target)?;
    let mut b = vec![0u8; 1 << 20];
    f.read_exact(&mut b)?;
    Ok(b.iter().all(|&x| x == 0))
}

pub(crate) fn timings(started: Instant) -> Timings {
    Timings {
        menu: Duration::ZERO,
        first_screen: Duration::ZERO,
        total: started.elapsed(),
    }
}

/// Waits for the install to end and the reboot; fails with `what` unless
/// it succeeded. Returns the `installed` event.
pub(crate) fn expect_installed(s: &mut Session, what: &str) -> Result<serde_json::Value> {
    let done = s.expect_any(&["installed", "install-failed"], INSTALL_TIMEOUT)?;
    check(s, done["event"] == "installed", &format!("{what}: {done}"))?;
    s.expect_event("power", STEP_TIMEOUT)?;
    s.expect_exit()?;
    Ok(done)
}

/// After a successful install: the disk read back with our readers (the
/// handover record must carry the `installed` event's install id), then the
/// disk booted into the appliance.
pub(crate) fn inspect_and_boot(
    opts: &RunOptions,
    dir: &Path,
    target: &Path,
    installed: &serde_json::Value,
) -> Result<()> {
    let id = installed["install_id"].as_str().unwrap_or_default();
    inspect_disk(target, CASE.firmware, id)?;
    boot_installed(&CASE, opts, dir, target, None, "appliance", false)?;
    Ok(())
}

/// A 16 MiB FAT volume labelled `SUPPORT` (where the support bundle goes).
fn support_volume(path: &Path) -> Result<()> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.set_len(16 << 20)?;
    fatfs::format_volume(
        &f,
        fatfs::FormatVolumeOptions::new().volume_label(*b"SUPPORT    "),
    )?;
    Ok(())
}

/// The bundle's text from the `SUPPORT` volume.
fn read_bundle(path: &Path) -> Result<String> {
    use std::io::Read;
    let fs = fatfs::FileSystem::new(fs::File::open(path)?, fatfs::FsOptions::new())?;
    for e in fs.root_dir().iter() {
        let e = e?;
        if e.file_name().starts_with("support-") {
            let mut s = String::new();
            e.to_file().read_to_string(&mut s)?;
            return Ok(s);
        }
    }
    anyhow::bail!("no support bundle on the SUPPORT volume")
}

fn tampered(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let http = answers(opts)?;
    let corrupt = Corruption {
        path: rootfs_object(opts)?,
        offset: 5 << 20,
    };
    let server = flaky(opts, 7, 0, Some(corrupt))?;
    let target = dir.join("target.img");
    empty_disk(&target, CASE.disk_mib)?;
    let support = dir.join("support.img");
    support_volume(&support)?;
    let sup = format!("if=none,id=support,format=raw,file={}", support.display());
    let extra = [
        "-drive",
        sup.as_str(),
        "-device",
        "ide-hd,drive=support,bus=ide.0,unit=1",
    ];
    let mut s = start_with(
        opts,
        &opts.iso,
        dir,
        "install",
        server.listen().port(),
        &http,
        std::slice::from_ref(&target),
        &extra,
        CASE.nic,
    )?;
    let f = s.expect_any(&["installed", "install-failed"], INSTALL_TIMEOUT)?;
    check(
        &s,
        f["event"] == "install-failed",
        &format!("a tampered component was installed: {f}"),
    )?;
    check(
        &s,
        f["stage"] == "downloading rootfs",
        &format!("stage: {f}"),
    )?;
    check(
        &s,
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("SHA-256") || m.contains("sha256")),
        &format!("message: {f}"),
    )?;
    s.answer("stop.action", "p")?;
    s.expect_event("power", STEP_TIMEOUT)?;
    s.expect_exit()?;
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
    Ok(timings(started))
}

fn drops(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let http = answers(opts)?;
    let server = flaky(opts, 20261128, 25, None)?;
    let target = dir.join("target.img");
    empty_disk(&target, CASE.disk_mib)?;
    let mut s = start(
        opts,
        dir,
        "install",
        server.listen().port(),
        &http,
        std::slice::from_ref(&target),
    )?;
    let done = expect_installed(&mut s, "the install did not survive the drops")?;
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
    inspect_and_boot(opts, dir, &target, &done)?;
    Ok(timings(started))
}

fn small_disk(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let http = answers(opts)?;
    let server = flaky(opts, 1, 0, None)?;
    let target = dir.join("target.img");
    empty_disk(&target, 512)?;
    let mut s = start(
        opts,
        dir,
        "install",
        server.listen().port(),
        &http,
        std::slice::from_ref(&target),
    )?;
    let d = s.expect_event("disks", INSTALL_TIMEOUT)?;
    let reason = d["disks"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["serial"] == "TARGET0001"))
        .and_then(|x| x["refusal"].as_str().map(String::from))
        .unwrap_or_default();
    check(
        &s,
        reason.contains("too small: 512.0 MiB") && reason.contains("1.0 GiB"),
        &format!("refusal: {d}"),
    )?;
    s.answer("stop.action", "p")?;
    s.expect_exit()?;
    ensure!(
        !s.saw("install")?,
        "an install started on a disk that is too small"
    );
    ensure!(first_mib_zero(&target)?, "the small disk was written to");
    Ok(timings(started))
}

fn two_disks(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    // Answers without a `disk` key.
    let mut files = BTreeMap::new();
    files.insert(
        "/answers.json".to_string(),
        br#"{"version": 1, "network": {"mode": "dhcp"}, "serial": "1234-5678-9ABC-DEFP", "erase_disk": true}"#.to_vec(),
    );
    let http = crate::http::Server::start(files)?;
    let server = flaky(opts, 1, 0, None)?;
    let (a, b) = (dir.join("a.img"), dir.join("b.img"));
    empty_disk(&a, 2048)?;
    empty_disk(&b, 3072)?;
    let mut s = start(
        opts,
        dir,
        "install",
        server.listen().port(),
        &http,
        &[a.clone(), b.clone()],
    )?;
    s.expect_event("disks", INSTALL_TIMEOUT)?;
    s.answer("stop.action", "p")?;
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
    Ok(timings(started))
}
