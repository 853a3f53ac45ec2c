//! Boot scenarios: which firmware, which medium, which menu entry, and what the
//! installer must report once it shows its first screen.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::child::Vm;
use crate::events;
use crate::media;
use crate::qemu::{DirectKernel, Firmware, FirmwarePaths, Medium, Nic, VmConfig};
use crate::session::Session;

/// Which boot menu entry the scenario picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// "Install on serial console": the harness moves the menu cursor down and presses Enter.
    Serial,
    /// "Install" (VGA console): the harness lets the menu time out.
    Default,
}

/// One boot scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub firmware: Firmware,
    pub medium: Medium,
    pub hide_el_torito: bool,
    pub entry: Entry,
    /// Part of the set CI runs on every change.
    pub representative: bool,
    /// Network adapter, if any.
    pub nic: Option<Nic>,
    /// Boot the kernel directly with these extra command-line words instead of
    /// going through the boot menu. `{http}` becomes the test HTTP server's URL.
    pub direct: Option<&'static str>,
    /// Which ISO build to boot.
    pub iso: IsoVariant,
    /// Files served over HTTP to the guest: (URL path, file under qemu-tests/data/).
    pub http_files: &'static [(&'static str, &'static str)],
    /// What to do once the installer runs.
    pub script: Script,
}

/// Which ISO build a scenario boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IsoVariant {
    /// `cargo xtask iso`.
    Default,
    /// `cargo xtask iso --answers qemu-tests/data/<file>`.
    Answers(&'static str),
    /// `cargo xtask iso --offline` (the release's components on the ISO).
    Offline,
}

/// The scenario's checks once the installer runs.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// Boot to the first screen, check what the installer saw, power off.
    BootCheck,
    /// Drive the installer through its prompts.
    Flow(fn(&mut Session) -> Result<()>),
    /// Runs the whole scenario itself, without the ISO (e.g. the sample
    /// appliance, [`crate::appliance`]): gets the scenario, the options and
    /// its log directory.
    Custom(fn(&Scenario, &RunOptions, &Path) -> Result<Timings>),
}

impl Scenario {
    /// Whether the scenario boots the installer ISO (custom ones do not).
    pub fn needs_iso(&self) -> bool {
        // The installed-disk scenarios read the boot loader files out of the
        // ISO's initramfs and attach the ISO as a second drive.
        !matches!(self.script, Script::Custom(_))
            || self.name.starts_with(crate::installed::PREFIX)
            || self.name.starts_with(crate::install::PREFIX)
    }

    /// Whether it needs `cargo xtask appliance`'s output.
    pub fn needs_appliance(&self) -> bool {
        self.name.starts_with(crate::appliance::PREFIX)
            || self.name.starts_with(crate::installed::PREFIX)
    }

    /// A boot-matrix cell with the defaults the matrix uses.
    pub fn boot(name: String, firmware: Firmware, medium: Medium) -> Scenario {
        Scenario {
            name,
            firmware,
            medium,
            hide_el_torito: false,
            entry: Entry::Serial,
            representative: false,
            nic: None,
            direct: None,
            iso: IsoVariant::Default,
            http_files: &[],
            script: Script::BootCheck,
        }
    }
}

/// The boot matrix: {BIOS, UEFI, UEFI Secure Boot} × {CD, USB, disk} on the
/// serial entry, UEFI USB and Secure Boot USB with El Torito hidden (so the
/// 0xEF MBR partition is really used), and the default VGA entry once; then
/// the installer-flow scenarios of [`crate::flows`].
pub fn all() -> Vec<Scenario> {
    let mut v = Vec::new();
    for fw in [Firmware::Bios, Firmware::Uefi, Firmware::SecureBoot] {
        for m in [Medium::Cd, Medium::Usb, Medium::Disk] {
            let mut s = Scenario::boot(format!("{}-{}", fw.name(), m.name()), fw, m);
            s.representative = matches!(
                (fw, m),
                (Firmware::Bios, Medium::Cd)
                    | (Firmware::Bios, Medium::Usb)
                    | (Firmware::SecureBoot, Medium::Disk)
            );
            v.push(s);
        }
    }
    for (fw, representative) in [(Firmware::Uefi, true), (Firmware::SecureBoot, false)] {
        let mut s = Scenario::boot(format!("{}-usb-no-eltorito", fw.name()), fw, Medium::Usb);
        s.hide_el_torito = true;
        s.representative = representative;
        v.push(s);
    }
    let mut vga = Scenario::boot("bios-cd-vga-entry".into(), Firmware::Bios, Medium::Cd);
    vga.entry = Entry::Default;
    v.push(vga);
    v.extend(crate::flows::all());
    v.extend(crate::appliance::scenarios());
    v.extend(crate::installed::scenarios());
    v.extend(crate::install::scenarios());
    v.extend(crate::install_faults::scenarios());
    v
}

/// The test backend's files.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The repository root.
    pub repo: PathBuf,
    /// The server certificate (test CA).
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// How to run scenarios.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The ISO of `cargo xtask iso`.
    pub iso: PathBuf,
    /// The ISO of `cargo xtask iso --offline`, when a chosen scenario needs it.
    pub offline_iso: Option<PathBuf>,
    /// ISOs built with an embedded answer file, by file name under `data_dir`.
    pub answer_isos: std::collections::BTreeMap<String, PathBuf>,
    /// `qemu-tests/data/`: answer files and other fixtures.
    pub data_dir: PathBuf,
    /// Logs go to `<out_dir>/<scenario>/`.
    pub out_dir: PathBuf,
    pub kvm: bool,
    pub memory_mib: u32,
    pub firmware: FirmwarePaths,
    /// `cargo xtask appliance`'s output, for the appliance scenarios.
    pub appliance_dir: Option<PathBuf>,
    /// The test vendor's repository and TLS files (nginx serves them on
    /// 127.0.0.1:18443; fault scenarios serve them themselves).
    pub backend: Option<Backend>,
}

/// Measured times of a passing scenario.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// From QEMU start to the boot menu on the serial console.
    pub menu: Duration,
    /// From QEMU start to the installer's first screen.
    pub first_screen: Duration,
    /// The whole scenario, including power-off.
    pub total: Duration,
}

const MENU_TIMEOUT: Duration = Duration::from_secs(240);
const FIRST_SCREEN_TIMEOUT: Duration = Duration::from_secs(360);

/// Runs one scenario; the error says what was expected and shows the serial tail.
pub fn run(s: &Scenario, opts: &RunOptions) -> Result<Timings> {
    let dir = opts.out_dir.join(&s.name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Script::Custom(custom) = s.script {
        return custom(s, opts, &dir);
    }
    let iso = match s.iso {
        IsoVariant::Default => opts.iso.clone(),
        IsoVariant::Answers(file) => opts
            .answer_isos
            .get(file)
            .cloned()
            .with_context(|| format!("no ISO was built with the answer file {file}"))?,
        IsoVariant::Offline => opts
            .offline_iso
            .clone()
            .context("no offline ISO was built")?,
    };
    let image = if s.hide_el_torito {
        let p = dir.join("no-eltorito.iso");
        media::hide_el_torito(&iso, &p)?;
        p
    } else {
        iso
    };
    let vars = match opts.firmware.vars_template(s.firmware) {
        Some(t) => {
            let p = dir.join("OVMF_VARS.fd");
            fs::copy(t, &p)
                .with_context(|| format!("copying {} (install the ovmf package)", t.display()))?;
            Some(p)
        }
        None => None,
    };
    let server = if s.http_files.is_empty() {
        None
    } else {
        let mut files = std::collections::BTreeMap::new();
        for (url, file) in s.http_files {
            let p = opts.data_dir.join(file);
            files.insert(
                url.to_string(),
                fs::read(&p).with_context(|| format!("reading {}", p.display()))?,
            );
        }
        Some(crate::http::Server::start(files)?)
    };
    let kernel = match s.direct {
        Some(extra) => {
            let http = server
                .as_ref()
                .map(|sv| format!("http://10.0.2.2:{}", sv.port))
                .unwrap_or_default();
            Some(direct_kernel(
                &image,
                &dir,
                &extra.replace("{http}", &http),
            )?)
        }
        None => None,
    };
    let events_path = dir.join("events.log");
    let cfg = VmConfig {
        firmware: s.firmware,
        medium: s.medium,
        image,
        memory_mib: opts.memory_mib,
        kvm: opts.kvm,
        vars,
        events: events_path.clone(),
        paths: opts.firmware.clone(),
        nic: s.nic.clone(),
        kernel,
    };
    fs::write(dir.join("command.txt"), cfg.render() + "\n")?;
    let mut vm = Vm::spawn("qemu-system-x86_64", &cfg.args(), &dir.join("serial.log"))?;

    let menu = if cfg.kernel.is_none() {
        vm.expect("serial console", MENU_TIMEOUT)
            .context("waiting for the boot menu")?;
        if s.entry == Entry::Serial {
            // Down arrow (VT100), a moment for the menu to redraw, then Enter.
            vm.send(b"\x1b[B")?;
            std::thread::sleep(Duration::from_millis(400));
            vm.send(b"\r")?;
        }
        vm.elapsed()
    } else {
        Duration::ZERO
    };
    let result = match s.script {
        Script::BootCheck => boot_check(s, vm, &events_path, menu),
        Script::Custom(_) => bail!("custom scenarios are run before the VM is started"),
        Script::Flow(script) => {
            let mut session = Session::new(vm, events_path);
            script(&mut session)?;
            Ok(Timings {
                menu,
                first_screen: session.first_screen_at.unwrap_or_default(),
                total: session.vm.elapsed(),
            })
        }
    };
    drop(server);
    result
}

/// Copies kernel and initramfs out of the ISO for direct kernel boot.
fn direct_kernel(iso: &Path, dir: &Path, extra: &str) -> Result<DirectKernel> {
    let (kernel, initrd) = (dir.join("vmlinuz"), dir.join("initrd.img"));
    media::extract_file(iso, "boot/vmlinuz", &kernel)?;
    media::extract_file(iso, "boot/initrd.img", &initrd)?;
    Ok(DirectKernel {
        kernel,
        initrd,
        cmdline: format!("console=tty0 console=ttyS0,115200n8 {extra}")
            .trim_end()
            .to_string(),
    })
}

/// The boot-matrix check: first screen, what the installer saw, power off.
fn boot_check(s: &Scenario, mut vm: Vm, events_path: &Path, menu: Duration) -> Result<Timings> {
    let evs = events::wait_for(events_path, "first-screen", FIRST_SCREEN_TIMEOUT, || {
        vm.check_running()
    })
    .with_context(|| {
        format!(
            "waiting for the installer's first screen; serial tail:\n{}",
            tail(&vm)
        )
    })?;
    let first_screen = vm.elapsed();
    check_events(s, &evs)?;
    let text = vm.text();
    if s.firmware == Firmware::SecureBoot {
        ensure!(
            text.contains("Secure boot enabled"),
            "the kernel did not log \"Secure boot enabled\""
        );
    }
    if s.hide_el_torito {
        ensure!(
            text.contains("cmdpath=(hd0,msdos2)"),
            "GRUB did not start from MBR partition 2 (the 0xEF ESP); serial tail:\n{}",
            tail(&vm)
        );
    }
    match s.entry {
        Entry::Serial => {
            vm.expect("installer", Duration::from_secs(30))
                .context("the first screen on the serial console")?;
            let mut session = Session::new(vm, events_path.to_path_buf());
            crate::flows::exit_via_menu(&mut session)?;
            Ok(Timings {
                menu,
                first_screen,
                total: session.vm.elapsed(),
            })
        }
        Entry::Default => {
            ensure!(
                text.contains("running on tty1"),
                "the serial console does not say that the installer runs on tty1; serial tail:\n{}",
                tail(&vm)
            );
            Ok(Timings {
                menu,
                first_screen,
                total: vm.elapsed(),
            })
        }
    }
}

fn tail(vm: &Vm) -> String {
    crate::child::last_lines(&vm.text(), 30)
}

/// Checks what the installer reported against what the scenario booted.
pub fn check_events(s: &Scenario, evs: &[Value]) -> Result<()> {
    let started = events::find(evs, "started").context("no \"started\" event")?;
    let want_fw = if s.firmware == Firmware::Bios {
        "bios"
    } else {
        "uefi"
    };
    ensure!(
        started["firmware"] == want_fw,
        "firmware: want {want_fw}, installer saw {}",
        started["firmware"]
    );
    let want_sb = s.firmware == Firmware::SecureBoot;
    ensure!(
        started["secure_boot"] == want_sb,
        "secure_boot: want {want_sb}, installer saw {}",
        started["secure_boot"]
    );
    let want_loader = if s.firmware == Firmware::Bios {
        "isolinux"
    } else {
        "grub"
    };
    ensure!(
        started["loader"] == want_loader,
        "loader: want {want_loader}, got {}",
        started["loader"]
    );
    let want_console = if s.entry == Entry::Serial {
        "ttyS0"
    } else {
        "tty1"
    };
    ensure!(
        started["console"] == want_console,
        "console: want {want_console}, got {}",
        started["console"]
    );
    let Some(medium) = events::find(evs, "medium") else {
        let missing = events::find(evs, "medium-missing")
            .cloned()
            .unwrap_or(Value::Null);
        bail!("the installer did not find its medium: {missing}");
    };
    let want_kind = match s.medium {
        Medium::Cd => "cdrom",
        Medium::Usb => "usb",
        Medium::Disk => "disk",
    };
    ensure!(
        medium["kind"] == want_kind,
        "medium kind: want {want_kind}, got {medium}"
    );
    Ok(())
}

/// The result of one scenario in a run.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub result: std::result::Result<Timings, String>,
}

/// Runs scenarios on `jobs` worker threads, printing a line per result.
pub fn run_all(scenarios: &[Scenario], opts: &RunOptions, jobs: usize) -> Vec<Outcome> {
    let queue = Arc::new(Mutex::new(scenarios.to_vec()));
    let results = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            scope.spawn(move || loop {
                let next = queue.lock().ok().and_then(|mut q| {
                    if q.is_empty() {
                        None
                    } else {
                        Some(q.remove(0))
                    }
                });
                let Some(s) = next else { break };
                let r = run(&s, opts).map_err(|e| format!("{e:#}"));
                match &r {
                    Ok(t) => eprintln!(
                        "ok   {:<22} menu {:>6.1}s  first screen {:>6.1}s  total {:>6.1}s",
                        s.name,
                        t.menu.as_secs_f64(),
                        t.first_screen.as_secs_f64(),
                        t.total.as_secs_f64()
                    ),
                    Err(e) => eprintln!("FAIL {:<22} {}", s.name, e),
                }
                if let Ok(mut res) = results.lock() {
                    res.push(Outcome {
                        name: s.name.clone(),
                        result: r,
                    });
                }
            });
        }
    });
    let mut out = Arc::try_unwrap(results)
        .map(|m| m.into_inner().unwrap_or_default())
        .unwrap_or_default();
    let order: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
    out.sort_by_key(|o| order.iter().position(|n| *n == o.name));
    out
}

/// Where scenario logs go by default.
pub fn default_out_dir(target: &Path) -> PathBuf {
    target.join("qemu-tests")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matrix_has_nine_cells_plus_hidden_el_torito_and_vga() {
        let all = all();
        assert_eq!(
            all.iter()
                .filter(|s| !s.hide_el_torito
                    && s.entry == Entry::Serial
                    && matches!(s.script, Script::BootCheck))
                .count(),
            9
        );
        assert!(all
            .iter()
            .any(|s| s.hide_el_torito && s.firmware == Firmware::Uefi && s.medium == Medium::Usb));
        assert!(all.iter().any(|s| s.entry == Entry::Default));
        let names: std::collections::BTreeSet<_> = all.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names.len(), all.len(), "scenario names are unique");
    }

    fn evs(fw: &str, sb: bool, loader: &str, kind: &str) -> Vec<Value> {
        vec![
            json!({"event":"started","firmware":fw,"secure_boot":sb,"loader":loader,"console":"ttyS0"}),
            json!({"event":"medium","device":"/dev/sr0","kind":kind}),
            json!({"event":"first-screen"}),
        ]
    }

    #[test]
    fn checks_what_the_installer_saw() {
        let sb_cd = all().into_iter().find(|s| s.name == "sb-cd").unwrap();
        check_events(&sb_cd, &evs("uefi", true, "grub", "cdrom")).unwrap();
        let err = check_events(&sb_cd, &evs("uefi", false, "grub", "cdrom"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("secure_boot: want true"), "{err}");
        let err = check_events(&sb_cd, &evs("bios", true, "isolinux", "cdrom"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("firmware: want uefi"), "{err}");
        let err = check_events(&sb_cd, &evs("uefi", true, "grub", "usb"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("medium kind: want cdrom"), "{err}");
        let missing = vec![
            evs("uefi", true, "grub", "cdrom")[0].clone(),
            json!({"event":"medium-missing","seen":[]}),
        ];
        assert!(check_events(&sb_cd, &missing)
            .unwrap_err()
            .to_string()
            .contains("did not find its medium"));
    }
}
