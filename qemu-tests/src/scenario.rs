//! Scenarios as data and the runner: what a scenario boots (firmware,
//! medium, NIC, ISO variant, boot entry or direct kernel boot), what it
//! needs from the run ([`Needs`]), and its script. The suites make the
//! scenarios; the catalog lists them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::harness::child::Vm;
use crate::harness::media;
use crate::harness::qemu::{Firmware, FirmwarePaths, Medium, Nic, VmConfig};
use crate::harness::session::Session;

/// Which boot menu entry the scenario picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// "Install on serial console": the harness moves the menu cursor down and presses Enter.
    Serial,
    /// "Install" (VGA console): the harness lets the menu time out.
    Default,
}

/// What a scenario needs from the run besides QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// The installer ISO ([`RunOptions::iso`]; [`Scenario::iso`] names the variant booted).
    pub iso: bool,
    /// `cargo xtask appliance`'s output ([`RunOptions::appliance_dir`]).
    pub appliance: bool,
    /// The test repository and its TLS files ([`RunOptions::backend`]),
    /// served by the scenario itself.
    pub backend: bool,
    /// `cargo xtask appliance-reference`'s output
    /// ([`RunOptions::reference_dir`]; building it needs root).
    pub reference: bool,
}

impl Needs {
    /// The installer ISO only.
    pub const ISO: Needs = Needs {
        iso: true,
        appliance: false,
        backend: false,
        reference: false,
    };
}

/// One scenario.
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
    /// going through the boot menu. `{http}` becomes the test HTTP server's URL,
    /// `{sha256:/a.json}` the SHA-256 of the file served at `/a.json`.
    pub direct: Option<&'static str>,
    /// Which ISO build to boot.
    pub iso: IsoVariant,
    /// Files served over HTTP to the guest: (URL path, file under qemu-tests/data/).
    pub http_files: &'static [(&'static str, &'static str)],
    /// What the scenario needs from the run.
    pub needs: Needs,
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
    /// `cargo xtask iso --channel <channel> --answers qemu-tests/data/<file>`:
    /// (channel, file); the run publishes the test release of that channel.
    ChannelAnswers(&'static str, &'static str),
    /// `cargo xtask iso --channel reference`, with `--answers
    /// qemu-tests/data/<file>` if given: installs the reference appliance
    /// (the test repository publishes it on that channel).
    Reference(Option<&'static str>),
}

/// The scenario's script.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// The runner boots the installer as the scenario says; this drives it
    /// through its prompts.
    Flow(fn(&mut Session) -> Result<()>),
    /// Like [`Script::Flow`], for checks that depend on what was booted.
    Check(fn(&Scenario, &mut Session) -> Result<()>),
    /// Runs the whole scenario itself (its own VMs and servers): gets the
    /// scenario, the options and its log directory.
    Custom(fn(&Scenario, &RunOptions, &Path) -> Result<Timings>),
}

impl Scenario {
    /// Whether the scenario boots the installer ISO.
    pub fn needs_iso(&self) -> bool {
        self.needs.iso
    }

    /// Whether it needs `cargo xtask appliance`'s output.
    pub fn needs_appliance(&self) -> bool {
        self.needs.appliance
    }

    /// A scenario with the defaults of the boot matrix: the serial entry,
    /// no NIC, the default ISO, and a script that only powers off.
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
            needs: Needs::ISO,
            script: Script::Flow(|_| Ok(())),
        }
    }
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
    /// The ISOs of the other variants the chosen scenarios boot.
    pub isos: BTreeMap<IsoVariant, PathBuf>,
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
    /// `cargo xtask appliance-reference`'s output, for the reference
    /// appliance's scenarios.
    pub reference_dir: Option<PathBuf>,
}

impl RunOptions {
    /// The ISO file of `variant`.
    pub fn iso_for(&self, variant: IsoVariant) -> Result<PathBuf> {
        if variant == IsoVariant::Default {
            return Ok(self.iso.clone());
        }
        self.isos
            .get(&variant)
            .cloned()
            .with_context(|| match variant {
                IsoVariant::Answers(file) => {
                    format!("no ISO was built with the answer file {file}")
                }
                IsoVariant::Offline => "no offline ISO was built".into(),
                IsoVariant::Reference(None) => "no ISO was built for the channel reference".into(),
                IsoVariant::Reference(Some(file)) => {
                    format!(
                        "no ISO was built for the channel reference with the answer file {file}"
                    )
                }
                IsoVariant::ChannelAnswers(channel, file) => {
                    format!(
                        "no ISO was built for the channel {channel} with the answer file {file}"
                    )
                }
                IsoVariant::Default => String::new(),
            })
    }

    /// A writable copy of the UEFI variable store for `fw` in `dir`, if it has one.
    pub fn vars_for(&self, fw: Firmware, dir: &Path) -> Result<Option<PathBuf>> {
        match self.firmware.vars_template(fw) {
            Some(t) => {
                let p = dir.join("OVMF_VARS.fd");
                fs::copy(t, &p).with_context(|| {
                    format!("copying {} (install the ovmf package)", t.display())
                })?;
                Ok(Some(p))
            }
            None => Ok(None),
        }
    }

    /// `cargo xtask appliance`'s output directory.
    pub fn appliance(&self) -> Result<&Path> {
        self.appliance_dir.as_deref().context(
            "no appliance artifacts (run through `cargo xtask qemu-test`, which builds them)",
        )
    }

    /// `cargo xtask appliance-reference`'s output directory.
    pub fn reference(&self) -> Result<&Path> {
        self.reference_dir.as_deref().context(
            "no reference appliance (run through `cargo xtask qemu-test`, which builds it)",
        )
    }

    /// The test repository and its TLS files.
    pub fn backend(&self) -> Result<&Backend> {
        self.backend
            .as_ref()
            .context("no test backend (run through cargo xtask qemu-test)")
    }

    /// Fails naming what `s` needs and the options lack.
    pub fn check_needs(&self, s: &Scenario) -> Result<()> {
        if s.needs.iso {
            ensure!(
                !self.iso.as_os_str().is_empty(),
                "{} needs the installer ISO",
                s.name
            );
            self.iso_for(s.iso)?;
        }
        if s.needs.appliance {
            self.appliance()?;
        }
        if s.needs.backend {
            self.backend()?;
        }
        if s.needs.reference {
            self.reference()?;
        }
        Ok(())
    }
}

/// Measured times of a passing scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// From QEMU start to the boot menu on the serial console.
    pub menu: Duration,
    /// From QEMU start to the installer's first screen.
    pub first_screen: Duration,
    /// The whole scenario, including power-off.
    pub total: Duration,
    /// The installed system's first and second boot: from QEMU start to
    /// the login prompt on the serial console.
    pub logins: Option<[Duration; 2]>,
}

impl Timings {
    /// Only the total, measured from `started`.
    pub fn since(started: Instant) -> Timings {
        Timings {
            total: started.elapsed(),
            ..Timings::default()
        }
    }
}

/// From QEMU start to the ISO's boot menu on the serial console.
pub const MENU_TIMEOUT: Duration = Duration::from_secs(240);

/// Waits for the ISO's boot menu and picks "Install on serial console":
/// down arrow (VT100), a moment for the menu to redraw, then Enter.
pub fn choose_serial_entry(vm: &mut Vm) -> Result<()> {
    vm.expect("serial console", MENU_TIMEOUT)
        .context("waiting for the boot menu")?;
    vm.send(b"\x1b[B")?;
    std::thread::sleep(Duration::from_millis(400));
    vm.send(b"\r")
}

/// Runs one scenario; the error says what was expected and shows the serial tail.
pub fn run(s: &Scenario, opts: &RunOptions) -> Result<Timings> {
    let dir = opts.out_dir.join(&s.name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    opts.check_needs(s)?;
    let installer = match s.script {
        Script::Custom(custom) => return custom(s, opts, &dir),
        Script::Flow(f) => Installer::Flow(f),
        Script::Check(f) => Installer::Check(f),
    };
    let iso = opts.iso_for(s.iso)?;
    let image = if s.hide_el_torito {
        let p = dir.join("no-eltorito.iso");
        media::hide_el_torito(&iso, &p)?;
        p
    } else {
        iso
    };
    // `{sha256:<URL path>}` in `direct` becomes the served file's SHA-256.
    let mut pins = Vec::new();
    let server = if s.http_files.is_empty() {
        None
    } else {
        let mut files = BTreeMap::new();
        for (url, file) in s.http_files {
            let p = opts.data_dir.join(file);
            let data = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            pins.push((
                format!("{{sha256:{url}}}"),
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)),
            ));
            files.insert(url.to_string(), data);
        }
        Some(crate::servers::http::Server::start(files)?)
    };
    let kernel = match s.direct {
        Some(extra) => {
            let http = server
                .as_ref()
                .map(|sv| format!("http://10.0.2.2:{}", sv.port))
                .unwrap_or_default();
            let mut extra = extra.replace("{http}", &http);
            for (placeholder, sha) in &pins {
                extra = extra.replace(placeholder, sha);
            }
            let cmdline = format!("console=tty0 console=ttyS0,115200n8 {extra}");
            Some(media::direct_kernel(
                &image,
                &dir,
                cmdline.trim_end().to_string(),
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
        vars: opts.vars_for(s.firmware, &dir)?,
        events: events_path.clone(),
        paths: opts.firmware.clone(),
        nic: s.nic.clone(),
        kernel,
        ..VmConfig::default()
    };
    fs::write(dir.join("command.txt"), cfg.render() + "\n")?;
    let mut vm = Vm::spawn("qemu-system-x86_64", &cfg.args(), &dir.join("serial.log"))?;

    let menu = if cfg.kernel.is_none() {
        if s.entry == Entry::Serial {
            choose_serial_entry(&mut vm)?;
        } else {
            vm.expect("serial console", MENU_TIMEOUT)
                .context("waiting for the boot menu")?;
        }
        vm.elapsed()
    } else {
        Duration::ZERO
    };
    let mut session = Session::new(vm, events_path);
    match installer {
        Installer::Flow(f) => f(&mut session)?,
        Installer::Check(f) => f(s, &mut session)?,
    }
    drop(server);
    Ok(Timings {
        menu,
        first_screen: session.first_screen_at.unwrap_or_default(),
        total: session.vm.elapsed(),
        logins: None,
    })
}

/// The two scripts that run on the runner's installer session.
enum Installer {
    Flow(fn(&mut Session) -> Result<()>),
    Check(fn(&Scenario, &mut Session) -> Result<()>),
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
                        "ok   {:<22} menu {:>6.1}s  first screen {:>6.1}s  total {:>6.1}s{}",
                        s.name,
                        t.menu.as_secs_f64(),
                        t.first_screen.as_secs_f64(),
                        t.total.as_secs_f64(),
                        t.logins
                            .map(|[a, b]| format!(
                                "  login {:.1}s, after reboot {:.1}s",
                                a.as_secs_f64(),
                                b.as_secs_f64()
                            ))
                            .unwrap_or_default()
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

    fn opts() -> RunOptions {
        RunOptions {
            iso: PathBuf::new(),
            isos: BTreeMap::new(),
            data_dir: PathBuf::new(),
            out_dir: PathBuf::new(),
            kvm: false,
            memory_mib: 1024,
            firmware: FirmwarePaths::default(),
            appliance_dir: None,
            backend: None,
            reference_dir: None,
        }
    }

    #[test]
    fn needs_are_checked_before_anything_starts() {
        let mut s = Scenario::boot("x".into(), Firmware::Bios, Medium::Cd);
        let mut o = opts();
        let err = o.check_needs(&s).unwrap_err().to_string();
        assert!(err.contains("needs the installer ISO"), "{err}");
        o.iso = "/t/i.iso".into();
        o.check_needs(&s).unwrap();
        s.iso = IsoVariant::Answers("a.json");
        let err = o.check_needs(&s).unwrap_err().to_string();
        assert!(err.contains("answer file a.json"), "{err}");
        s.iso = IsoVariant::Reference(Some("a.json"));
        let err = o.check_needs(&s).unwrap_err().to_string();
        assert!(
            err.contains("channel reference") && err.contains("a.json"),
            "{err}"
        );
        o.isos.insert(s.iso, "/t/r.iso".into());
        assert_eq!(o.iso_for(s.iso).unwrap(), PathBuf::from("/t/r.iso"));
        s.iso = IsoVariant::Default;
        s.needs.appliance = true;
        assert!(format!("{:#}", o.check_needs(&s).unwrap_err()).contains("appliance"));
        o.appliance_dir = Some("/t/appl".into());
        s.needs.backend = true;
        assert!(format!("{:#}", o.check_needs(&s).unwrap_err()).contains("test backend"));
        s.needs = Needs::default();
        opts().check_needs(&s).unwrap();
    }
}
