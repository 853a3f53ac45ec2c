//! Steps the suites share: answering the installer's screens (exit, manual
//! network, serial number, the stop screen), starting an unattended
//! install, and after an install reading the disk back and booting it.
//! Built on [`crate::harness`], [`crate::servers`] and [`crate::scenario`].

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use protocol::{ids, Event, PowerAction};

use crate::expect_event;
use crate::harness::child::Vm;
use crate::harness::qemu::{
    Contents, Controller, DirectKernel, Drive, Firmware, Forward, Medium, Network, Nic, VmConfig,
};
use crate::harness::session::{check, Session, STEP_TIMEOUT};
use crate::harness::tls::{free_port, https_fetch, Fetched};
use crate::scenario::RunOptions;
use crate::servers::vendor;

/// From the install's start to `installed` under TCG.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// From QEMU start to the installed appliance's ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The serial number QEMU gives the target disk.
pub const TARGET_SERIAL: &str = "TARGET0001";
/// The appliance's HTTPS port.
pub const GUEST_PORT: u16 = 8443;
/// The address QEMU's user network gives the guest.
pub const GUEST_ADDRESS: &str = "10.0.2.15";

/// E at the main menu, confirm, power off; QEMU must exit.
pub fn exit_via_menu(s: &mut Session) -> Result<()> {
    s.answer(ids::MENU, "e")?;
    s.answer(ids::EXIT_CONFIRM, "y")?;
    s.answer(ids::EXIT_ACTION, "p")?;
    let action = expect_event!(s, STEP_TIMEOUT, Event::Power { action } => *action)?;
    check(
        s,
        action == PowerAction::PowerOff,
        "power event is not poweroff",
    )?;
    s.expect_exit()
}

/// P on the stop screen; QEMU must exit.
pub fn stop_and_power_off(s: &mut Session) -> Result<()> {
    s.answer(ids::STOP_ACTION, "p")?;
    expect_event!(s, STEP_TIMEOUT, Event::Power { .. } => ())?;
    s.expect_exit()
}

/// The manual screens with QEMU user networking's addresses.
pub fn type_manual(s: &mut Session) -> Result<()> {
    s.answer(ids::MANUAL_ADDRESS, "10.0.2.15/24")?;
    s.answer(ids::MANUAL_GATEWAY, "10.0.2.2")?;
    s.answer(ids::MANUAL_DNS, "10.0.2.3")?;
    s.answer(ids::MANUAL_HOSTNAME, "appliance")?;
    s.answer(ids::MANUAL_DOMAIN, "example.test")?;
    s.answer(ids::MANUAL_SEARCH, "")?;
    s.answer(ids::MANUAL_CONFIRM, "y")
}

/// Waits for the next `serial` event; returns its outcome and message.
pub fn serial_event(s: &mut Session) -> Result<(String, String, String)> {
    expect_event!(s, STEP_TIMEOUT, Event::Serial { outcome, serial, message } =>
        (outcome.clone(), serial.clone(), message.clone()))
}

/// The serial step with the entitled test serial: verified by the backend.
pub fn serial_verified(s: &mut Session) -> Result<()> {
    s.answer(ids::SERIAL_MENU, "s")?;
    s.answer(ids::SERIAL_NUMBER, &vendor::entitled().to_string())?;
    let (outcome, _, message) = serial_event(s)?;
    check(
        s,
        outcome == "verified",
        &format!("serial: {outcome}: {message}"),
    )?;
    s.answer(ids::SERIAL_CONTINUE, "")
}

/// The serial step while the backend cannot be reached: the entitled test
/// serial is `unreachable`; Retry n, back to the number, Enter, exit, power
/// off; QEMU must exit.
pub fn serial_unreachable_then_exit(s: &mut Session) -> Result<()> {
    s.answer(ids::SERIAL_MENU, "s")?;
    s.answer(ids::SERIAL_NUMBER, &vendor::entitled().to_string())?;
    serial_unreachable(s)?;
    give_up_serial_and_exit(s)
}

/// As [`serial_unreachable_then_exit`] with nothing listening on the
/// backend's port 18444: the message must name it, and Retry y is answered
/// `unreachable` again before Retry n.
pub fn serial_backend_down_then_exit(s: &mut Session) -> Result<()> {
    s.answer(ids::SERIAL_MENU, "s")?;
    s.answer(ids::SERIAL_NUMBER, &vendor::entitled().to_string())?;
    let message = serial_unreachable(s)?;
    check(
        s,
        message.contains("18444"),
        &format!("the message must name the backend: {message}"),
    )?;
    s.answer(ids::SERIAL_RETRY, "y")?;
    serial_unreachable(s)?;
    give_up_serial_and_exit(s)
}

/// Waits for the next `serial` event, which must be `unreachable`; returns
/// its message.
fn serial_unreachable(s: &mut Session) -> Result<String> {
    let (outcome, _, message) = serial_event(s)?;
    check(
        s,
        outcome == "unreachable",
        &format!("serial: {outcome}: {message}"),
    )?;
    Ok(message)
}

/// At the Retry question: n, back to the number, Enter, exit from the
/// serial menu, power off; QEMU must exit.
fn give_up_serial_and_exit(s: &mut Session) -> Result<()> {
    s.answer(ids::SERIAL_RETRY, "n")?;
    s.answer(ids::SERIAL_NUMBER, "")?;
    s.answer(ids::SERIAL_MENU, "e")?;
    s.answer(ids::EXIT_CONFIRM, "y")?;
    s.answer(ids::EXIT_ACTION, "p")?;
    expect_event!(s, STEP_TIMEOUT, Event::Power { .. } => ())?;
    s.expect_exit()
}

/// Waits for the `disks` event.
pub fn disks_event(s: &mut Session, timeout: Duration) -> Result<Vec<protocol::DiskInfo>> {
    expect_event!(s, timeout, Event::Disks { disks } => disks.clone())
}

/// These VMs have no disk besides the ISO: the install step lists the CD
/// drive as not offered and stops; power off from the stop screen.
pub fn no_disk_then_power_off(s: &mut Session) -> Result<()> {
    let disks = disks_event(s, STEP_TIMEOUT)?;
    let medium_refused = disks
        .iter()
        .any(|d| d.refusal.as_deref() == Some("it holds the installation medium"));
    check(
        s,
        medium_refused,
        &format!("the install medium must not be offered: {disks:?}"),
    )?;
    stop_and_power_off(s)
}

/// Waits for the end of an install: `Ok` with the `installed` event's
/// install id and seconds, `Err` with the `install-failed` event.
pub fn install_end(s: &mut Session) -> Result<std::result::Result<(String, f64), Event>> {
    expect_event!(s, INSTALL_TIMEOUT, e @ (Event::Installed { .. } | Event::InstallFailed { .. }) => match e {
        Event::Installed { install_id, seconds, .. } => Ok((install_id.clone(), *seconds)),
        other => Err(other.clone()),
    })
}

/// Waits for the install to end and the reboot; fails with `what` unless
/// it succeeded. Returns the install id and the seconds the installer took.
pub fn expect_installed(s: &mut Session, what: &str) -> Result<(String, f64)> {
    let done = match install_end(s)? {
        Ok(done) => done,
        Err(failed) => bail!("{what}: {failed:?}; {}", s.context()),
    };
    let action = expect_event!(s, STEP_TIMEOUT, Event::Power { action } => *action)?;
    check(
        s,
        action == PowerAction::Reboot,
        &format!("power: {action:?}"),
    )?;
    s.expect_exit()?;
    Ok(done)
}

/// The machine an install runs on.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    pub firmware: Firmware,
    /// NIC model.
    pub nic: &'static str,
    /// Where the target disk is plugged in.
    pub bus: Controller,
}

impl Machine {
    /// The install VM: the ISO `image` as a CD, the NIC on QEMU's user
    /// network, the empty `target` disk on the machine's bus, events in
    /// `dir`.
    pub fn install_vm(
        &self,
        opts: &RunOptions,
        image: PathBuf,
        memory_mib: u32,
        vars: Option<PathBuf>,
        target: &Path,
        dir: &Path,
    ) -> VmConfig {
        VmConfig {
            firmware: self.firmware,
            medium: Medium::Cd,
            image,
            memory_mib,
            kvm: opts.kvm,
            vars,
            events: dir.join("events.log"),
            paths: opts.firmware.clone(),
            nic: Some(Nic {
                model: self.nic.into(),
                network: Network::User,
            }),
            drives: vec![target_drive(self.bus, target, None)],
            ..VmConfig::default()
        }
    }
}

/// The target disk: written through, with [`TARGET_SERIAL`].
pub fn target_drive(bus: Controller, image: &Path, bootindex: Option<u32>) -> Drive {
    Drive {
        id: "target".into(),
        image: image.to_path_buf(),
        contents: Contents::Writable,
        controller: bus,
        serial: Some(TARGET_SERIAL.into()),
        bootindex,
    }
}

/// Starts `cfg`, logging the command, the serial console and the events
/// under `dir` with `tag` in the names.
pub fn start(cfg: &VmConfig, dir: &Path, tag: &str) -> Result<Session> {
    fs::write(dir.join(format!("command-{tag}.txt")), cfg.render() + "\n")?;
    let vm = Vm::spawn(
        "qemu-system-x86_64",
        &cfg.args(),
        &dir.join(format!("serial-{tag}.log")),
    )?;
    Ok(Session::new(vm, cfg.events.clone()))
}

/// The request path of the current manifest's rootfs object (read from the
/// manifest without verification: the harness published it itself).
pub fn rootfs_object(opts: &RunOptions) -> Result<String> {
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

/// A 16 MiB FAT volume labelled `SUPPORT` (where the support bundle goes).
pub fn support_volume(path: &Path) -> Result<()> {
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
pub fn read_bundle(path: &Path) -> Result<String> {
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

/// An unattended install on BIOS (QEMU `-kernel` with `iso`'s kernel and
/// initramfs, the ISO as a CD): answers from `http://10.0.2.2:<answers_port>/answers.json`
/// (pinned by their SHA-256, as plain http must be),
/// the backend replaced by `https://10.0.2.2:<backend_port>/` (keys and CA
/// stay pinned). No disks yet; the caller adds them.
pub fn unattended_vm(
    opts: &RunOptions,
    iso: &Path,
    dir: &Path,
    tag: &str,
    (answers_port, answers_sha256): (u16, &str),
    backend_port: u16,
) -> Result<VmConfig> {
    let params = format!(
        "installer.answers=http://10.0.2.2:{answers_port}/answers.json installer.answers_sha256={answers_sha256} installer.unattended installer.backend=https://10.0.2.2:{backend_port}/"
    );
    direct_vm(opts, iso, dir, tag, &params)
}

/// The installer on BIOS (QEMU `-kernel` with `iso`'s kernel and initramfs,
/// the ISO as a CD, e1000 on user networking) with `params` after
/// `console=ttyS0,115200n8` on the command line. No disks yet.
pub fn direct_vm(
    opts: &RunOptions,
    iso: &Path,
    dir: &Path,
    tag: &str,
    params: &str,
) -> Result<VmConfig> {
    let events = dir.join(format!("events-{tag}.log"));
    let _ = fs::remove_file(&events);
    let cmdline = format!("console=ttyS0,115200n8 {params}");
    let kernel: DirectKernel = crate::harness::media::direct_kernel(iso, dir, cmdline)?;
    Ok(VmConfig {
        firmware: Firmware::Bios,
        medium: Medium::Cd,
        image: iso.to_path_buf(),
        memory_mib: opts.memory_mib,
        kvm: opts.kvm,
        events,
        paths: opts.firmware.clone(),
        nic: Some(Nic {
            model: "e1000".into(),
            network: Network::User,
        }),
        kernel: Some(kernel),
        ..VmConfig::default()
    })
}

/// Boots only `target` (SeaBIOS) for `wait` and fails if a kernel starts from it.
pub fn must_not_boot(
    opts: &RunOptions,
    dir: &Path,
    tag: &str,
    target: &Path,
    wait: Duration,
) -> Result<()> {
    let cfg = VmConfig {
        firmware: Firmware::Bios,
        medium: Medium::Disk,
        image: target.to_path_buf(),
        memory_mib: opts.memory_mib,
        kvm: opts.kvm,
        events: dir.join(format!("events-{tag}.log")),
        paths: opts.firmware.clone(),
        ..VmConfig::default()
    };
    let mut s = start(&cfg, dir, tag)?;
    let seen = s.vm.expect("Linux version", wait);
    ensure!(
        seen.is_err(),
        "a half-installed disk booted a kernel ({tag})"
    );
    Ok(())
}

/// A file from the installed disk's boot partition (FAT), read with our
/// readers.
pub fn boot_file(target: &Path, firmware: Firmware, path: &str) -> Result<Vec<u8>> {
    let fs = boot_fs(target, firmware)?;
    let mut data = Vec::new();
    fs.root_dir()
        .open_file(path)
        .with_context(|| format!("no /{path} on the boot partition"))?
        .read_to_end(&mut data)?;
    Ok(data)
}

/// The boot partition's file system (checked: where it starts, its label).
fn boot_fs(
    target: &Path,
    firmware: Firmware,
) -> Result<fatfs::FileSystem<std::io::Cursor<Vec<u8>>>> {
    let mut f = fs::File::open(target)?;
    let (boot_offset, boot_len) = match firmware {
        Firmware::Bios => {
            let mbr = mbrman::MBR::read_from(&mut f, 512).context("reading the MBR")?;
            ensure!(
                mbr[1].sys == 0x0C && mbr[1].is_active(),
                "partition 1 is not an active FAT32 partition"
            );
            ensure!(
                mbr[1].starting_lba == 2048,
                "partition 1 does not start at 1 MiB"
            );
            ensure!(mbr[2].sys == 0x83, "partition 2 is not Linux");
            (
                u64::from(mbr[1].starting_lba) * 512,
                u64::from(mbr[1].sectors) * 512,
            )
        }
        Firmware::Uefi | Firmware::SecureBoot => gpt_read(target)?,
    };
    let mut part = vec![0u8; boot_len as usize];
    f.seek(SeekFrom::Start(boot_offset))?;
    f.read_exact(&mut part)?;
    let fs = fatfs::FileSystem::new(std::io::Cursor::new(part), fatfs::FsOptions::new())
        .context("the boot partition is not FAT")?;
    ensure!(
        fs.volume_label().trim_end() == "APPBOOT",
        "boot partition label: {:?}",
        fs.volume_label()
    );
    Ok(fs)
}

/// What the installed disk must hold, read with our readers.
pub fn inspect_disk(target: &Path, firmware: Firmware, install_id: &str) -> Result<()> {
    let fs = boot_fs(target, firmware)?;
    let root = fs.root_dir();
    let mut text = String::new();
    root.open_file("handover/handover.json")
        .context("no /handover/handover.json")?
        .read_to_string(&mut text)?;
    let h = handover::Handover::parse(&text).map_err(|e| anyhow::anyhow!("handover.json: {e}"))?;
    ensure!(
        h.install_id == install_id,
        "handover install id {} != event {install_id}",
        h.install_id
    );
    ensure!(
        h.serial == vendor::entitled().to_string(),
        "handover serial: {}",
        h.serial
    );
    let cfg = match firmware {
        Firmware::Bios => "boot/grub/grub.cfg",
        _ => "EFI/BOOT/grub.cfg",
    };
    root.open_file(cfg).with_context(|| format!("no {cfg}"))?;
    if firmware != Firmware::Bios {
        root.open_file("EFI/BOOT/BOOTX64.EFI")
            .context("no EFI/BOOT/BOOTX64.EFI")?;
    }
    for k in ["vmlinuz", "initrd.img"] {
        root.open_file(k).with_context(|| format!("no /{k}"))?;
    }
    Ok(())
}

fn gpt_read(target: &Path) -> Result<(u64, u64)> {
    let g = gpt::GptConfig::new()
        .writable(false)
        .open(target)
        .context("reading the GPT")?;
    let p = g.partitions().get(&1).context("no GPT partition 1")?;
    ensure!(
        p.part_type_guid == gpt::partition_types::EFI,
        "partition 1 is not an ESP"
    );
    ensure!(p.first_lba == 2048, "partition 1 does not start at 1 MiB");
    Ok((p.first_lba * 512, (p.last_lba - p.first_lba + 1) * 512))
}

/// Waits up to `timeout` for the appliance's ready line (`APPLIANCE-EVENT`
/// and a `ready` event on one line) and returns the event, untyped JSON (the
/// appliance's own, not the installer's contract), and when it arrived.
pub fn ready_event(vm: &mut Vm, timeout: Duration) -> Result<(serde_json::Value, Duration)> {
    vm.expect("APPLIANCE-EVENT ", timeout)
        .context("waiting for the appliance's ready line")?;
    let line = vm.expect("\n", Duration::from_secs(5))?;
    let at = vm.elapsed();
    let event: serde_json::Value = serde_json::from_str(line.trim())
        .with_context(|| format!("the ready line is not JSON: {line:?}"))?;
    ensure!(event["event"] == "ready", "not a ready event: {event}");
    Ok((event, at))
}

/// An installed disk and the machine that boots it, with `iso` still
/// attached as a CD.
#[derive(Debug, Clone, Copy)]
pub struct Installed<'a> {
    pub machine: &'a Machine,
    pub opts: &'a RunOptions,
    pub iso: &'a Path,
    /// The scenario's log directory.
    pub dir: &'a Path,
    /// The disk image.
    pub target: &'a Path,
    /// The UEFI variable store the install wrote, if any.
    pub vars: Option<&'a Path>,
}

/// The VM that boots `d`, with `forwards` on user networking. The disk
/// comes first in the boot order — except with `cd_first` (UEFI), where
/// the CD comes first and only the installer's `BootNext` can make the
/// disk boot.
pub fn installed_vm(d: &Installed, cd_first: bool, forwards: Vec<Forward>) -> VmConfig {
    let (cd, disk) = if cd_first { (0, 1) } else { (1, 0) };
    let m = d.machine;
    VmConfig {
        firmware: m.firmware,
        medium: Medium::Cd,
        image: d.iso.to_path_buf(),
        memory_mib: d.opts.memory_mib,
        kvm: d.opts.kvm,
        vars: d.vars.map(Path::to_path_buf),
        events: d.dir.join("events-appliance.log"),
        paths: d.opts.firmware.clone(),
        nic: Some(Nic {
            model: m.nic.into(),
            network: Network::UserForward(forwards),
        }),
        kernel: None,
        medium_bootindex: cd,
        drives: vec![target_drive(m.bus, d.target, Some(disk))],
        ..VmConfig::default()
    }
}

/// Fails when the serial `text` shows that the installer (not the disk)
/// booted, or with `cd_first` that the ISO's boot menu ran.
pub fn check_disk_booted(text: &str, cd_first: bool) -> Result<()> {
    ensure!(
        !text.contains("Appliance installer"),
        "the installer booted again instead of the disk"
    );
    ensure!(
        !(cd_first && text.contains("GRUB: root=")),
        "the ISO's boot menu ran: BootNext did not send the firmware to the disk"
    );
    Ok(())
}

/// Boots the installed disk with the ISO still attached as a CD and checks
/// the appliance: ready line, console, page ([`installed_vm`] says which
/// boots first).
pub fn boot_installed(
    m: &Machine,
    opts: &RunOptions,
    dir: &Path,
    target: &Path,
    vars: Option<PathBuf>,
    hostname: &str,
    cd_first: bool,
) -> Result<Duration> {
    let port = free_port()?;
    let forward = Forward {
        host: port,
        guest: GUEST_PORT,
    };
    let d = Installed {
        machine: m,
        opts,
        iso: &opts.iso,
        dir,
        target,
        vars: vars.as_deref(),
    };
    let cfg = installed_vm(&d, cd_first, vec![forward]);
    let mut vm = start(&cfg, dir, "appliance")?.vm;
    let (event, ready) = ready_event(&mut vm, READY_TIMEOUT)
        .context("the installed appliance (did the disk boot?)")?;
    ensure!(event["handover"] == "ok", "the appliance reports: {event}");
    ensure!(
        event["url"] == format!("https://10.0.2.15:{GUEST_PORT}"),
        "url: {event}"
    );
    ensure!(event["hostname"] == hostname, "hostname: {event}");
    check_disk_booted(&vm.text(), cd_first)?;
    let fp = event["fingerprint"]
        .as_str()
        .context("no fingerprint")?
        .to_string();
    let page = fetch_pinned(port, &fp, Duration::from_secs(20))
        .context("fetching the setup page")?
        .response;
    fs::write(dir.join("page.html"), &page)?;
    ensure!(
        page.starts_with("HTTP/1.1 200"),
        "page: {}",
        page.lines().next().unwrap_or("")
    );
    ensure!(
        page.contains(hostname),
        "the page does not show the hostname"
    );
    Ok(ready)
}

/// `GET /` on `127.0.0.1:port` (a forward to the guest's 8443) with TLS
/// pinned to `fingerprint`; retried until it answers or `timeout`.
pub fn fetch_pinned(port: u16, fingerprint: &str, timeout: Duration) -> Result<Fetched> {
    let deadline = Instant::now() + timeout;
    loop {
        match https_fetch(port, fingerprint) {
            Ok(p) if !p.response.is_empty() => return Ok(p),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Ok(_) => bail!("port {GUEST_PORT} answered with nothing"),
            Err(e) => return Err(e),
        }
    }
}
