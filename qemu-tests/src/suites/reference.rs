//! The reference appliance (`cargo xtask appliance-reference`) on a disk
//! written by the installer's own `install::apply` (the code a real install
//! runs after the download: the empty data partition cleared, GRUB, the
//! handover record, the partition table last), booted from that disk on
//! BIOS with the ISO still attached as a CD:
//!
//! - `reference-bios`: first boot — stage 1 formats the blank data
//!   partition, writes the test marker (`appliance.test_marker`, a
//!   test-only hook added to the manifest's command line here), systemd
//!   brings up a login prompt on the serial console, and `root` cannot log
//!   in; second boot of the same disk — the data partition is kept, the
//!   marker is read back, the login prompt appears again.
//!
//! The time from QEMU start to the first `login:` is the scenario's
//! "first screen" figure.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use installer::facts::Firmware as Fw;
use installer::install::apply::{self, ComponentError, Components, Extras};
use installer::install::plan::{self, TableKind};
use installer::install::verify_io::VerifyError;
use installer::install::{Job, Progress};
use sha2::{Digest, Sha256};
use vendor_repo::manifest::Component;

use crate::harness::bootfiles::BootFiles;
use crate::harness::child::Vm;
use crate::harness::disk::handover_json;
use crate::harness::qemu::{Controller, Firmware, Medium, Network, Nic, VmConfig};
use crate::scenario::{Needs, RunOptions, Scenario, Script, Timings};
use crate::steps::target_drive;

/// The test disk's size.
const DISK_MIB: u64 = 2048;
/// QEMU start → login prompt, generous for TCG on shared cores.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(240);
/// The hostname in the test's handover record.
const HOSTNAME: &str = "reference-1";
/// The FAT volume id of the boot partition.
const VOLUME_ID: u32 = 0x7EF0_0001;
/// The test-only kernel parameter stage 1 handles.
const TEST_MARKER: &str = "appliance.test_marker";

/// `reference-bios`.
pub fn scenarios() -> Vec<Scenario> {
    let mut s = Scenario::boot("reference-bios".into(), Firmware::Bios, Medium::Cd);
    s.script = Script::Custom(run);
    // Both boots take about 2.5 to 3.5 min under TCG on 2 shared cores.
    // Not in the CI set: `reference-bios-dhcp` (installs) makes the same
    // checks after a real install. This one stays as the quick harness for
    // stage 1 and the boot time (no installer run).
    s.representative = false;
    s.needs = Needs {
        iso: true,
        appliance: false,
        backend: false,
        reference: true,
    };
    vec![s]
}

/// The published release's components, read from `dir` and checked like a
/// download: the bytes go to the sink, then the hash decides.
struct Files<'a> {
    dir: &'a Path,
    names: Vec<(String, String)>,
}

impl Components for Files<'_> {
    fn fetch(
        &mut self,
        c: &Component,
        sink: &mut dyn Write,
        _progress: &mut dyn FnMut(&Progress),
    ) -> Result<u64, ComponentError> {
        let file = self
            .names
            .iter()
            .find(|(n, _)| *n == c.name)
            .map(|(_, f)| f.clone())
            .unwrap_or_default();
        let sink_err = |source| VerifyError::Sink {
            name: c.name.clone(),
            source,
        };
        let bytes = fs::read(self.dir.join(&file)).map_err(sink_err)?;
        sink.write_all(&bytes).map_err(sink_err)?;
        let got = hex::encode(Sha256::digest(&bytes));
        if got != c.sha256 {
            return Err(VerifyError::HashMismatch {
                expected: c.sha256.clone(),
                actual: got,
            }
            .into());
        }
        Ok(bytes.len() as u64)
    }
}

/// The manifest `repo publish` would sign for `release.json` in `dir`, with
/// `extra` appended to the kernel command line; and (component, file) names.
fn manifest(dir: &Path, extra: &str) -> Result<(vendor_repo::Manifest, Vec<(String, String)>)> {
    let path = dir.join("release.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut d: serde_json::Value = serde_json::from_str(&text)?;
    let mut names = Vec::new();
    for c in d["components"]
        .as_array_mut()
        .context("release.json: no components")?
    {
        let obj = c.as_object_mut().context("release.json: a component")?;
        let file = obj
            .remove("file")
            .and_then(|f| f.as_str().map(str::to_string))
            .context("release.json: a component without a file")?;
        let bytes = fs::read(dir.join(&file)).with_context(|| format!("reading {file}"))?;
        obj.insert("size".into(), bytes.len().into());
        obj.insert("content_size".into(), bytes.len().into());
        obj.insert("sha256".into(), hex::encode(Sha256::digest(&bytes)).into());
        let chunks = vendor_repo::manifest::Chunks::of(&bytes, vendor_repo::manifest::CHUNK_SIZE);
        obj.insert("chunks".into(), serde_json::to_value(chunks)?);
        let name = obj["name"].as_str().unwrap_or_default().to_string();
        names.push((name, file));
    }
    let cmdline = format!("{} {extra}", d["boot"]["cmdline"].as_str().unwrap_or(""));
    d["boot"]["cmdline"] = cmdline.trim().into();
    let obj = d.as_object_mut().context("release.json: not an object")?;
    obj.insert("format".into(), 1.into());
    obj.insert("metadata_version".into(), 1.into());
    obj.insert("expires".into(), u64::MAX.into());
    let m: vendor_repo::Manifest = serde_json::from_value(d)?;
    m.validate().map_err(anyhow::Error::msg)?;
    Ok((m, names))
}

/// Writes the installed disk with `install::apply::run`, as an install on
/// BIOS from the serial console does.
fn install_disk(reference: &Path, boot: &BootFiles, disk: &Path) -> Result<()> {
    let (m, names) = manifest(reference, TEST_MARKER)?;
    let json = handover_json(true, HOSTNAME)?;
    let handover = handover::Handover::parse(&json)?;
    let bytes = DISK_MIB << 20;
    let target = installer::facts::hw::Disk {
        name: "sda".into(),
        size_bytes: bytes,
        model: "ATA QEMU HARDDISK".into(),
        removable: false,
        bus: "ata",
        serial: "QM00001".into(),
        read_only: false,
        logical_sector: 512,
    };
    let layout = plan::layout(&m, bytes, TableKind::Mbr).map_err(anyhow::Error::msg)?;
    let job = Job {
        disk: target,
        layout,
        manifest: m,
        handover,
        firmware: Fw::Bios,
        serial_console: true,
    };
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(disk)
        .with_context(|| format!("creating {}", disk.display()))?;
    f.set_len(bytes)?;
    let mut files = Files {
        dir: reference,
        names,
    };
    let extras = Extras {
        handover_json: json,
        installer_log: b"reference scenario\n".to_vec(),
        volume_id: VOLUME_ID,
        disk_id: [0x5E; 16],
    };
    apply::run(&job, &mut f, &mut files, boot, &extras, &mut |_| {})
        .map_err(|e| anyhow::anyhow!("install::apply: {}", e.message()))?;
    Ok(())
}

/// The ISO as the CD (boot order 1) and the installed disk written through
/// (boot order 0), as after an install with the ISO still attached.
fn vm_config(opts: &RunOptions, dir: &Path, disk: &Path) -> Result<VmConfig> {
    Ok(VmConfig {
        firmware: Firmware::Bios,
        medium: Medium::Cd,
        image: opts.iso.clone(),
        memory_mib: opts.memory_mib,
        kvm: opts.kvm,
        vars: opts.vars_for(Firmware::Bios, dir)?,
        events: dir.join("events.log"),
        paths: opts.firmware.clone(),
        nic: Some(Nic {
            model: "e1000".into(),
            network: Network::User,
        }),
        kernel: None,
        medium_bootindex: 1,
        drives: vec![target_drive(
            Controller::Ide { bus: 0, unit: None },
            disk,
            Some(0),
        )],
        dmi: None,
        monitor: None,
    })
}

/// One boot: waits for stage 1's data line and marker line, then the login
/// prompt; returns the VM and the time to the prompt.
fn boot(
    cfg: &VmConfig,
    dir: &Path,
    name: &str,
    data: &str,
    marker: &str,
) -> Result<(Vm, Duration)> {
    let mut vm = Vm::spawn(
        "qemu-system-x86_64",
        &cfg.args(),
        &dir.join(format!("{name}.log")),
    )?;
    vm.expect(&format!("APPLIANCE-STAGE1 data={data}"), LOGIN_TIMEOUT)
        .with_context(|| {
            format!("{name}: waiting for stage 1 to mount the data partition ({data})")
        })?;
    vm.expect(
        &format!("APPLIANCE-TEST-MARKER {marker}"),
        Duration::from_secs(30),
    )
    .with_context(|| format!("{name}: waiting for the test marker ({marker})"))?;
    let left = LOGIN_TIMEOUT.saturating_sub(vm.elapsed());
    vm.expect("login:", left)
        .with_context(|| format!("{name}: waiting for systemd's login prompt on ttyS0"))?;
    let at = vm.elapsed();
    Ok((vm, at))
}

fn run(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let reference = opts.reference()?;
    let boot_files = BootFiles::from_iso(&opts.iso)?;
    let disk = dir.join("disk.img");
    install_disk(reference, &boot_files, &disk)?;
    let cfg = vm_config(opts, dir, &disk)?;
    fs::write(dir.join("command.txt"), cfg.render() + "\n")?;

    let (mut vm, login_at) = boot(&cfg, dir, "boot1", "formatted", "written")?;
    // root is locked: no password is accepted.
    vm.send(b"root\r")?;
    vm.expect("Password:", Duration::from_secs(30))
        .context("root: waiting for the password prompt")?;
    vm.send(b"\r")?;
    vm.expect("Login incorrect", Duration::from_secs(60))
        .context("root logged in without a password")?;
    let first_total = vm.elapsed();
    drop(vm);

    let (vm, _) = boot(&cfg, dir, "boot2", "kept", "present")?;
    let text = vm.text();
    let line = text
        .lines()
        .find(|l| l.contains("APPLIANCE-TEST-MARKER present"))
        .unwrap_or_default();
    let id = handover::Handover::parse(&handover_json(true, HOSTNAME)?)?.install_id;
    ensure!(
        line.trim_end().ends_with(&id),
        "the marker read back is not the first boot's ({line:?}, want the install id {id})"
    );
    Ok(Timings {
        menu: Duration::ZERO,
        first_screen: login_at,
        total: first_total + vm.elapsed(),
        logins: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_and_needs() {
        let s = scenarios();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "reference-bios");
        assert!(s[0].needs.reference && s[0].needs.iso && !s[0].representative);
    }
}
