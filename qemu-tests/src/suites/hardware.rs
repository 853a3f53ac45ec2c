//! Hardware reach: NICs and disk controllers QEMU emulates that the other
//! suites do not use — the NICs' drivers and the SD host's live in the
//! module pack on the medium, so these prove the second coldplug pass —, a
//! full UEFI install on NVMe, an unattended run with 128 MiB of RAM up to
//! the install's RAM check of a release asking for 1024 MiB, and a whole
//! unattended install with 128 MiB of the bench release (a 256 MiB raw data
//! image, the release of `cargo xtask bench install`), whose disk then boots
//! with 128 MiB too.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use protocol::{ids, Event, NetSource, PowerAction};

use crate::expect_event;
use crate::harness::disk::empty_disk;
use crate::harness::qemu::{Contents, Controller, Drive, Firmware, Medium, Network, Nic, VmConfig};
use crate::harness::session::{check, Session, STEP_TIMEOUT};
use crate::scenario::{choose_serial_entry, IsoVariant, RunOptions, Scenario, Script, Timings};
use crate::steps::{
    boot_installed, disks_event, expect_installed, inspect_disk, no_disk_then_power_off,
    serial_verified, start, stop_and_power_off, target_drive, Machine, TARGET_SERIAL,
};

/// NICs whose drivers only the module pack has (8139too/8139cp, ne2k-pci,
/// pcnet32, e100).
pub const PACK_NICS: [&str; 4] = ["rtl8139", "ne2k_pci", "pcnet", "i82559er"];

/// Disk controllers of `hw-controllers`: (drive id, controller, serial).
/// sdhci-pci is served by the pack, the rest by the initramfs. QEMU's
/// am53c974 (and dc390) is left out: Debian 6.1's am53c974 driver, from the
/// pack, panics the kernel in `esp_reset_cleanup` on QEMU's emulation, so it
/// would test QEMU, not us.
pub const CONTROLLERS: [(&str, Controller, &str); 4] = [
    ("mega", Controller::Scsi("megasas"), "MEGASASDISK"),
    ("lsi", Controller::Scsi("lsi53c895a"), "LSI895ADISK"),
    ("nvme", Controller::Nvme, "NVMEDISK01"),
    ("sd", Controller::SdCard, ""),
];

/// The answer file of `hw-128m-until-ram-check` (qemu-tests/data).
pub const UNATTENDED_ANSWERS: &str = "install-unattended.json";

/// The memory of `hw-128m-until-ram-check`.
pub const LOW_MEMORY_MIB: u32 = 128;

/// The memory of `hw-128m-install`: Debian's kernel keeps 45 MiB and the
/// unpacked initramfs 29 MiB, so little is free when the install starts;
/// the installer bounds TCP receive buffers and dirty pages and frees the
/// files of loaded modules (`installer::sys::lowmem`) so that it completes.
pub const INSTALL_FLOOR_MIB: u32 = 128;

/// The test vendor's channel with the bench release (published by
/// `cargo xtask bench install` and for `hw-128m-install`).
pub const BENCH_CHANNEL: &str = "bench";
/// The bench release's raw data partition image, in MiB.
pub const BENCH_IMAGE_MIB: u64 = 256;
/// Its name in the manifest.
pub const BENCH_COMPONENT: &str = "data";
/// The RAM the bench release asks for: below the installer's own floor, so
/// that the installer, not the release's RAM check, decides.
pub const BENCH_MIN_RAM_MIB: u64 = 32;
/// The bench ISO: the bench channel built in, the unattended answers on it.
pub const BENCH_ISO: IsoVariant = IsoVariant::ChannelAnswers(BENCH_CHANNEL, UNATTENDED_ANSWERS);
/// From QEMU start to the end of an install of the bench release (TCG, a
/// loaded machine).
pub const BENCH_INSTALL_TIMEOUT: Duration = Duration::from_secs(1200);

/// The scenarios.
pub fn scenarios() -> Vec<Scenario> {
    let mut v: Vec<Scenario> = PACK_NICS
        .iter()
        .map(|model| {
            let mut s = Scenario::boot(format!("hw-dhcp-{model}"), Firmware::Bios, Medium::Cd);
            s.nic = Some(Nic {
                model: (*model).to_string(),
                network: Network::User,
            });
            s.script = Script::Flow(dhcp_lease_then_power_off);
            s.representative = *model == "rtl8139";
            s
        })
        .collect();
    let mut s = Scenario::boot("hw-controllers".into(), Firmware::Bios, Medium::Cd);
    s.script = Script::Custom(controllers);
    v.push(s);
    let mut s = Scenario::boot("hw-install-uefi-nvme".into(), Firmware::Uefi, Medium::Cd);
    s.script = Script::Custom(install_uefi_nvme);
    v.push(s);
    let mut s = Scenario::boot("hw-128m-until-ram-check".into(), Firmware::Bios, Medium::Cd);
    s.script = Script::Custom(low_memory);
    s.iso = IsoVariant::Answers(UNATTENDED_ANSWERS);
    v.push(s);
    let mut s = Scenario::boot("hw-128m-install".into(), Firmware::Bios, Medium::Cd);
    s.script = Script::Custom(low_memory_install);
    s.iso = BENCH_ISO;
    v.push(s);
    v
}

/// DHCP on the scenario's only NIC: a lease from QEMU's user network, then
/// the usual serial and keyboard steps, and power off at the stop screen.
fn dhcp_lease_then_power_off(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "d")?;
    let c = expect_event!(s, STEP_TIMEOUT, Event::Network { config } => config.clone())?;
    check(
        s,
        matches!(c.source, NetSource::Dhcp { .. })
            && c.address.addr.to_string() == "10.0.2.15"
            && c.address.prefix == 24,
        &format!("no DHCP lease from QEMU's user network: {c:?}"),
    )?;
    serial_verified(s)?;
    s.answer(ids::KEYBOARD_LAYOUT, "us")?;
    no_disk_then_power_off(s)
}

/// Boots with one disk on each of [`CONTROLLERS`] (and e1000), goes through
/// DHCP, serial and keyboard, and checks that every disk is offered.
fn controllers(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let mut drives = Vec::new();
    for (id, controller, serial) in CONTROLLERS {
        let image = dir.join(format!("{id}.img"));
        empty_disk(&image, 2048)?;
        drives.push(Drive {
            id: id.into(),
            image,
            contents: Contents::Snapshot,
            controller,
            serial: (!serial.is_empty()).then(|| serial.to_string()),
            bootindex: None,
        });
    }
    let cfg = VmConfig {
        firmware: s.firmware,
        medium: Medium::Cd,
        image: opts.iso_for(s.iso)?,
        memory_mib: opts.memory_mib,
        kvm: opts.kvm,
        vars: opts.vars_for(s.firmware, dir)?,
        events: dir.join("events.log"),
        paths: opts.firmware.clone(),
        nic: Some(Nic {
            model: "e1000".into(),
            network: Network::User,
        }),
        drives,
        ..VmConfig::default()
    };
    let mut session = start(&cfg, dir, "controllers")?;
    choose_serial_entry(&mut session.vm)?;
    session.answer(ids::MENU, "d")?;
    serial_verified(&mut session)?;
    session.answer(ids::KEYBOARD_LAYOUT, "us")?;
    let disks = disks_event(&mut session, STEP_TIMEOUT)?;
    for (id, _, serial) in CONTROLLERS {
        let offered = disks.iter().any(|d| {
            let this = if serial.is_empty() {
                d.device.starts_with("/dev/mmcblk")
            } else {
                d.serial == serial
            };
            this && d.refusal.is_none()
        });
        check(
            &session,
            offered,
            &format!("the disk on {id} is not offered: {disks:?}"),
        )?;
    }
    eprintln!("{}: every controller's disk is offered", s.name);
    Ok(Timings {
        menu: Duration::ZERO,
        first_screen: session.first_screen_at.unwrap_or_default(),
        total: session.vm.elapsed(),
        logins: None,
    })
}

/// A full UEFI install on an NVMe disk, driven over serial with DHCP, then
/// the installed disk boots the appliance (CD first: `BootNext` is proven).
fn install_uefi_nvme(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let m = Machine {
        firmware: Firmware::Uefi,
        nic: "e1000",
        bus: Controller::Nvme,
    };
    let target = dir.join("target.img");
    empty_disk(&target, 2048)?;
    let vars = opts.vars_for(m.firmware, dir)?;
    let cfg = m.install_vm(
        opts,
        opts.iso_for(s.iso)?,
        opts.memory_mib,
        vars.clone(),
        &target,
        dir,
    );
    let mut session = start(&cfg, dir, "install")?;
    choose_serial_entry(&mut session.vm)?;
    session.answer(ids::MENU, "d")?;
    serial_verified(&mut session)?;
    session.answer(ids::KEYBOARD_LAYOUT, "de")?;
    let disks = disks_event(&mut session, STEP_TIMEOUT)?;
    let found = disks
        .iter()
        .any(|d| d.serial == TARGET_SERIAL && d.refusal.is_none());
    check(
        &session,
        found,
        &format!("the NVMe target is not offered: {disks:?}"),
    )?;
    session.answer(ids::INSTALL_AGREE, "y")?;
    session.answer(ids::INSTALL_START, "")?;
    let (id, seconds) = expect_installed(&mut session, "the install failed")?;
    let first_screen = session.first_screen_at.unwrap_or_default();
    inspect_disk(&target, m.firmware, &id)?;
    let installed_at = session.vm.elapsed();
    drop(session);
    let ready = boot_installed(&m, opts, dir, &target, vars, "appliance", true)?;
    eprintln!(
        "{}: installed after {:.1} s (install {seconds:.1} s), appliance ready {:.1} s after its boot",
        s.name,
        installed_at.as_secs_f64(),
        ready.as_secs_f64()
    );
    Ok(Timings {
        menu: Duration::ZERO,
        first_screen,
        total: installed_at + ready,
        logins: None,
    })
}

/// The unattended run (answers on the ISO) with [`LOW_MEMORY_MIB`] of RAM:
/// drivers, medium, module pack, DHCP, network doctor, serial verification
/// and keyboard all run, then the install stops at the RAM check, because
/// the test release asks for 1024 MiB (a full install at this size needs a
/// release that asks for less).
fn low_memory(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let target = dir.join("target.img");
    empty_disk(&target, 2048)?;
    let cfg = VmConfig {
        firmware: s.firmware,
        medium: Medium::Cd,
        image: opts.iso_for(s.iso)?,
        memory_mib: LOW_MEMORY_MIB,
        kvm: opts.kvm,
        vars: opts.vars_for(s.firmware, dir)?,
        events: dir.join("events.log"),
        paths: opts.firmware.clone(),
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
    let mut session = start(&cfg, dir, "low-memory")?;
    choose_serial_entry(&mut session.vm)?;
    let outcome =
        expect_event!(session, STEP_TIMEOUT, Event::Serial { outcome, .. } => outcome.clone())
            .context("the serial step with 128 MiB of RAM")?;
    check(
        &session,
        outcome == "verified",
        &format!("serial with {LOW_MEMORY_MIB} MiB: {outcome}"),
    )?;
    stop_and_power_off(&mut session)?;
    let text = session.vm.text();
    check(
        &session,
        text.contains("the appliance needs 1024 MiB"),
        "the stop screen does not name the RAM the release asks for",
    )?;
    eprintln!(
        "{}: with {LOW_MEMORY_MIB} MiB the installer ran up to the RAM check",
        s.name
    );
    Ok(Timings {
        menu: Duration::ZERO,
        first_screen: session.first_screen_at.unwrap_or_default(),
        total: session.vm.elapsed(),
        logins: None,
    })
}

/// The whole unattended install of the bench release with
/// [`INSTALL_FLOOR_MIB`] of RAM: installed, the disk read back (boot files,
/// handover record, and the data partition byte for byte against the
/// manifest's SHA-256), then the installed disk boots the appliance with
/// the same RAM.
fn low_memory_install(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let m = Machine {
        firmware: Firmware::Bios,
        nic: "e1000",
        bus: Controller::Ide { bus: 1, unit: None },
    };
    let target = dir.join("target.img");
    empty_disk(&target, 2048)?;
    let cfg = m.install_vm(
        opts,
        opts.iso_for(s.iso)?,
        INSTALL_FLOOR_MIB,
        None,
        &target,
        dir,
    );
    let mut session = start(&cfg, dir, "install")?;
    choose_serial_entry(&mut session.vm)?;
    let (id, seconds) = match install_outcome(&mut session, BENCH_INSTALL_TIMEOUT)
        .with_context(|| format!("the install with {INSTALL_FLOOR_MIB} MiB of RAM"))?
    {
        Ok((id, seconds, _)) => (id, seconds),
        Err(e) => anyhow::bail!(
            "the install with {INSTALL_FLOOR_MIB} MiB failed: {e}; {}",
            session.context()
        ),
    };
    let action = expect_event!(session, STEP_TIMEOUT, Event::Power { action } => *action)?;
    check(
        &session,
        action == PowerAction::Reboot,
        &format!("power: {action:?}"),
    )?;
    session.expect_exit()?;
    let installed_at = session.vm.elapsed();
    drop(session);
    inspect_disk(&target, m.firmware, &id)?;
    check_bench_data(opts, &target)?;
    let mut low = opts.clone();
    low.memory_mib = INSTALL_FLOOR_MIB;
    let ready = boot_installed(&m, &low, dir, &target, None, "appliance", false)?;
    eprintln!(
        "{}: with {INSTALL_FLOOR_MIB} MiB installed after {:.1} s (install {seconds:.1} s), \
         appliance ready {:.1} s after its boot with {INSTALL_FLOOR_MIB} MiB",
        s.name,
        installed_at.as_secs_f64(),
        ready.as_secs_f64()
    );
    Ok(Timings {
        menu: Duration::ZERO,
        first_screen: Duration::ZERO,
        total: installed_at + ready,
        logins: None,
    })
}

/// The bench release's data component as the test repository's manifest
/// names it: (SHA-256, bytes, request path). Read without verification: the
/// harness published it itself.
pub fn bench_component(repo: &Path) -> Result<(String, u64, String)> {
    use base64::Engine;
    let path = repo.join(vendor_repo::manifest_path(
        crate::servers::vendor::MODEL,
        BENCH_CHANNEL,
    ));
    let env: vendor_repo::signed::Envelope = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    let payload = base64::engine::general_purpose::STANDARD.decode(env.payload)?;
    let m: vendor_repo::Manifest = serde_json::from_slice(&payload)?;
    let c = m
        .components
        .iter()
        .find(|c| c.name == BENCH_COMPONENT)
        .with_context(|| format!("the bench manifest has no `{BENCH_COMPONENT}`"))?;
    Ok((
        c.sha256.clone(),
        c.content_size,
        format!("/{}", c.object_path()),
    ))
}

/// The SHA-256 of `len` bytes of `disk` from `offset`.
pub fn sha256_range(disk: &Path, offset: u64, len: u64) -> Result<String> {
    use sha2::Digest;
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(disk).with_context(|| format!("opening {}", disk.display()))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut h = sha2::Sha256::new();
    let mut rest = len;
    let mut buf = vec![0u8; 1 << 20];
    while rest > 0 {
        let n = rest.min(buf.len() as u64) as usize;
        f.read_exact(&mut buf[..n])
            .with_context(|| format!("reading {} at {offset}", disk.display()))?;
        h.update(&buf[..n]);
        rest -= n as u64;
    }
    Ok(hex::encode(h.finalize()))
}

/// The SHA-256 of the first `len` bytes of the MBR's partition 2 (the data
/// partition of a BIOS install).
pub fn mbr_data_sha256(disk: &Path, len: u64) -> Result<String> {
    let mut f = std::fs::File::open(disk).with_context(|| format!("opening {}", disk.display()))?;
    let mbr = mbrman::MBR::read_from(&mut f, 512).context("reading the MBR")?;
    anyhow::ensure!(mbr[2].sys != 0, "{}: no MBR partition 2", disk.display());
    sha256_range(disk, u64::from(mbr[2].starting_lba) * 512, len)
}

/// The MBR's partition 2 holds the bench image, byte for byte.
fn check_bench_data(opts: &RunOptions, target: &Path) -> Result<()> {
    let (sha, len, _) = bench_component(&opts.backend()?.repo)?;
    let got = mbr_data_sha256(target, len)?;
    anyhow::ensure!(
        got == sha,
        "the data partition does not hold the bench image: SHA-256 {got}, want {sha}"
    );
    Ok(())
}

/// Waits up to `timeout` for the end of an install: `Ok(Ok((install id,
/// seconds, downloaded bytes)))` from `installed`, `Ok(Err(stage: message))`
/// from `install-failed`; `Err` when neither came (QEMU exited, timeout, a
/// kernel panic, or the installer's UI stopped — e.g. killed for lack of
/// memory —, which the console says at once, so a low-memory run fails
/// without waiting).
pub fn install_outcome(
    s: &mut Session,
    timeout: Duration,
) -> Result<std::result::Result<(String, f64, u64), String>> {
    let deadline = std::time::Instant::now() + timeout;
    let end = |e: &Event| matches!(e, Event::Installed { .. } | Event::InstallFailed { .. });
    while !s.saw(end)? {
        s.vm.check_running()?;
        let text = s.vm.text();
        if let Some(line) = text.lines().find(|l| l.contains("Kernel panic")) {
            anyhow::bail!("{}", line.trim());
        }
        if let Some(line) = text.lines().find(|l| l.contains("The installer stopped:")) {
            let oom = text
                .lines()
                .find(|l| l.contains("Out of memory:"))
                .map(|l| format!(" ({})", l.trim()))
                .unwrap_or_default();
            anyhow::bail!("{}{oom}", line.trim());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no end of the install within {timeout:?}; {}",
            s.context()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    expect_event!(s, STEP_TIMEOUT,
    e @ (Event::Installed { .. } | Event::InstallFailed { .. }) => match e {
        Event::Installed { install_id, seconds, downloaded } => {
            Ok((install_id.clone(), *seconds, *downloaded))
        }
        Event::InstallFailed { stage, message, .. } => Err(format!("{stage}: {message}")),
        _ => Err(String::new()),
    })
}
