//! Fakes for the flow's ports: a scripted terminal, a network that records
//! every call, a keyboard and a host. Shared by the flow test files.

#![allow(dead_code)] // each test file uses a different part

use installer::event::Event;
use installer::flow::{self, AnswersInput, Host, Options, Outcome, Ports, Terminal};
use installer::install::{Failure, Hardware, InstallOps, Installed, Job, Progress};
use installer::keyboard::{KeyboardOps, Layout};
use installer::net::{Check, DhcpFailure, Interface, Ipv4Cidr, NetConfig, NetOps, Source};
use installer::vendor::{SerialCheck, VendorOps, Verified};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use vendor_repo::Serial;

/// Input lines to type, and everything shown (typed lines echoed, as a
/// console does; secret ones as `*`, as the real console shows them).
#[derive(Default)]
pub struct ScriptTerm {
    pub input: VecDeque<String>,
    pub out: String,
    pub secret: bool,
}

impl Terminal for ScriptTerm {
    fn show(&mut self, text: &str) {
        self.out.push_str(text);
    }
    fn read_line(&mut self) -> Option<String> {
        let line = self.input.pop_front()?;
        if self.secret {
            self.out.push_str(&"*".repeat(line.chars().count()));
        } else {
            self.out.push_str(&line);
        }
        self.out.push('\n');
        Some(line)
    }
    fn set_secret(&mut self, on: bool) {
        self.secret = on;
    }
}

/// A network that answers from a script and records every call.
pub struct FakeNet {
    pub interfaces: Vec<Interface>,
    pub leases: VecDeque<Result<NetConfig, DhcpFailure>>,
    pub apply_error: Option<String>,
    pub checks: Vec<Check>,
    pub dhcp_calls: Vec<String>,
    pub applied: Vec<NetConfig>,
    pub doctored: Vec<NetConfig>,
}

impl FakeNet {
    pub fn with(names: &[&str]) -> Self {
        FakeNet {
            interfaces: names.iter().map(|n| iface(n)).collect(),
            leases: VecDeque::new(),
            apply_error: None,
            checks: vec![Check {
                name: "gateway".into(),
                ok: true,
                detail: "answers ARP".into(),
                hint: None,
            }],
            dhcp_calls: Vec::new(),
            applied: Vec::new(),
            doctored: Vec::new(),
        }
    }
}

pub fn iface(name: &str) -> Interface {
    Interface {
        name: name.into(),
        driver: Some("e1000".into()),
        mac: "52:54:00:12:34:56".into(),
        link: Some(true),
    }
}

impl NetOps for FakeNet {
    fn interfaces(&mut self) -> Vec<Interface> {
        self.interfaces.clone()
    }
    fn dhcp(
        &mut self,
        interface: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<NetConfig, DhcpFailure> {
        self.dhcp_calls.push(interface.to_string());
        progress("DISCOVER sent");
        self.leases.pop_front().unwrap_or_else(|| {
            Err(DhcpFailure {
                interface: interface.into(),
                tried: "no scripted lease".into(),
                hint: "script one".into(),
            })
        })
    }
    fn apply(&mut self, config: &NetConfig) -> Result<(), String> {
        if let Some(e) = self.apply_error.take() {
            return Err(e);
        }
        self.applied.push(config.clone());
        Ok(())
    }
    fn doctor(&mut self, config: &NetConfig) -> Vec<Check> {
        self.doctored.push(config.clone());
        self.checks.clone()
    }
}

/// The lease QEMU's user networking hands out.
pub fn slirp_lease(interface: &str) -> NetConfig {
    NetConfig {
        interface: interface.into(),
        address: Ipv4Cidr {
            addr: Ipv4Addr::new(10, 0, 2, 15),
            prefix: 24,
        },
        gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
        dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
        hostname: String::new(),
        domain: None,
        search: vec![],
        mtu: Some(1500),
        routes: vec![],
        source: Source::Dhcp {
            server: Ipv4Addr::new(10, 0, 2, 2),
            lease_seconds: 86400,
        },
    }
}

/// Three layouts, "us" first.
pub struct FakeKeyboard {
    pub layouts: Vec<Layout>,
    pub applied: Vec<String>,
}

impl Default for FakeKeyboard {
    fn default() -> Self {
        let layout = |code: &str, name: &str| Layout {
            code: code.into(),
            name: name.into(),
            xkb_layout: code.into(),
            xkb_variant: String::new(),
        };
        FakeKeyboard {
            layouts: vec![
                layout("us", "English (US)"),
                layout("de", "German (no dead keys)"),
                layout("fr", "French"),
            ],
            applied: Vec::new(),
        }
    }
}

impl KeyboardOps for FakeKeyboard {
    fn layouts(&mut self) -> Vec<Layout> {
        self.layouts.clone()
    }
    fn apply(&mut self, code: &str) -> Result<(), String> {
        self.applied.push(code.to_string());
        Ok(())
    }
}

/// Counts shells and keeps the saved answers.
#[derive(Default)]
pub struct FakeHost {
    pub shells: usize,
    pub saved: Option<String>,
}

impl Host for FakeHost {
    fn rescue_shell(&mut self) -> Result<(), String> {
        self.shells += 1;
        Ok(())
    }
    fn save_answers(&mut self, json: &str) -> Result<String, String> {
        self.saved = Some(json.to_string());
        Ok("/run/installer/answers.json".into())
    }
}

/// The test serial the fake backend verifies (a valid check symbol).
pub const GOOD_SERIAL: &str = vendor_repo::serial::EXAMPLE;

/// A backend that answers from a script: `verdicts` in order, then
/// `Verified` for [`GOOD_SERIAL`] and `Unknown` for anything else.
#[derive(Default)]
pub struct FakeVendor {
    pub verdicts: VecDeque<SerialCheck>,
    pub asked: Vec<String>,
    pub pauses: Vec<u64>,
}

/// What the fake backend says about [`GOOD_SERIAL`].
pub fn verified(serial: &Serial) -> SerialCheck {
    SerialCheck::Verified(Verified {
        serial: serial.clone(),
        model: "example-appliance".into(),
        channel: "stable".into(),
        until: None,
        release: "1.0.0".into(),
        manifest_version: 1,
        manifest: manifest(),
    })
}

/// The sample appliance's manifest shape: a 256 MiB FAT boot partition and
/// a growing data partition, 1 GiB RAM and disk minimum.
pub fn manifest() -> vendor_repo::Manifest {
    use vendor_repo::manifest::*;
    let part = |name: &str, label: &str, kind, filesystem, size_mib, grow| Partition {
        name: name.into(),
        label: label.into(),
        kind,
        filesystem,
        size_mib,
        grow,
    };
    let comp = |name: &str, kind, partition: &str, path: Option<&str>| Component {
        name: name.into(),
        kind,
        size: 4,
        sha256: "00".repeat(32),
        compression: Compression::None,
        content_size: 4,
        destination: Destination {
            partition: partition.into(),
            path: path.map(Into::into),
        },
        chunks: Chunks {
            size: CHUNK_SIZE,
            sha256: vec!["00".repeat(32)],
        },
    };
    vendor_repo::Manifest {
        format: 1,
        model: "example-appliance".into(),
        channel: "stable".into(),
        metadata_version: 1,
        expires: u64::MAX,
        release: "1.0.0".into(),
        min_ram_mib: 1024,
        layout: Layout {
            min_disk_mib: 1024,
            partitions: vec![
                part(
                    "boot",
                    "APPBOOT",
                    PartitionKind::Boot,
                    Filesystem::Vfat,
                    256,
                    false,
                ),
                part(
                    "data",
                    "APPDATA",
                    PartitionKind::Linux,
                    Filesystem::None,
                    64,
                    true,
                ),
            ],
        },
        components: vec![
            comp("kernel", ComponentKind::BootFile, "boot", Some("/vmlinuz")),
            comp(
                "initrd",
                ComponentKind::BootFile,
                "boot",
                Some("/initrd.img"),
            ),
            comp("rootfs", ComponentKind::PartitionImage, "data", None),
        ],
        boot: Boot {
            kernel: "/vmlinuz".into(),
            initrd: "/initrd.img".into(),
            cmdline: "appliance.boot=LABEL=APPBOOT".into(),
        },
    }
}

/// A disk as sysfs would describe it.
pub fn disk(name: &str, gib: u64, serial: &str) -> installer::facts::hw::Disk {
    installer::facts::hw::Disk {
        name: name.into(),
        size_bytes: gib << 30,
        model: "ATA QEMU HARDDISK".into(),
        removable: false,
        bus: "ata",
        serial: serial.into(),
        read_only: false,
        logical_sector: 512,
    }
}

/// A machine with scripted disks whose installs succeed (or fail, from
/// `results`); records every job.
pub struct FakeInstall {
    pub hardware: Hardware,
    pub results: VecDeque<Result<Installed, Failure>>,
    pub jobs: Vec<Job>,
}

impl Default for FakeInstall {
    /// One 20 GiB disk, 1 GiB RAM, BIOS, the medium on sr0.
    fn default() -> Self {
        FakeInstall {
            hardware: Hardware {
                disks: vec![disk("sda", 20, "QM00001"), disk("sr0", 1, "")],
                mem_total_kib: 1_004_000,
                firmware: installer::facts::Firmware::Bios,
                medium: Some("/dev/sr0".into()),
                platform: "QEMU Standard PC (i440FX + PIIX, 1996)".into(),
            },
            results: VecDeque::new(),
            jobs: Vec::new(),
        }
    }
}

impl InstallOps for FakeInstall {
    fn hardware(&mut self) -> Hardware {
        self.hardware.clone()
    }
    fn install(
        &mut self,
        job: &Job,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Installed, Failure> {
        self.jobs.push(job.clone());
        progress(&Progress {
            stage: installer::install::Stage::Download,
            component: Some("rootfs".into()),
            done: 4,
            total: 4,
            line: "rootfs  4 B".into(),
        });
        self.results.pop_front().unwrap_or(Ok(Installed {
            install_id: "00112233445566778899aabbccddeeff".into(),
            seconds: 1.0,
            downloaded: 12,
        }))
    }
    fn boot_next(&mut self, _job: &Job) -> Result<String, String> {
        Ok("next boot: the disk".into())
    }
}

impl VendorOps for FakeVendor {
    fn product(&self) -> String {
        "Example Appliance".into()
    }
    fn backend_url(&self) -> String {
        "https://repo.test/".into()
    }
    fn check_serial(&mut self, serial: &Serial) -> SerialCheck {
        self.asked.push(serial.to_string());
        if let Some(v) = self.verdicts.pop_front() {
            return v;
        }
        if serial.to_string() == GOOD_SERIAL {
            verified(serial)
        } else {
            SerialCheck::Unknown
        }
    }
    fn pause(&mut self, seconds: u64) {
        self.pauses.push(seconds);
    }
}

/// One flow run with its fakes and what came out.
pub struct Run {
    pub term: ScriptTerm,
    pub net: FakeNet,
    pub keyboard: FakeKeyboard,
    pub host: FakeHost,
    pub vendor: FakeVendor,
    pub install: FakeInstall,
    pub events: Vec<Event>,
    pub outcome: Outcome,
}

impl Run {
    /// Runs the flow with `input` typed line by line.
    pub fn go<S: AsRef<str>>(input: &[S], net: FakeNet, options: Options) -> Run {
        Run::go_with(input, net, FakeVendor::default(), options)
    }

    /// Runs the flow with a scripted backend and machine.
    pub fn go_full<S: AsRef<str>>(
        input: &[S],
        net: FakeNet,
        vendor: FakeVendor,
        install: FakeInstall,
        options: Options,
    ) -> Run {
        Run::start(input, net, vendor, install, options)
    }

    /// Runs the flow with a scripted backend.
    pub fn go_with<S: AsRef<str>>(
        input: &[S],
        net: FakeNet,
        vendor: FakeVendor,
        options: Options,
    ) -> Run {
        Run::start(input, net, vendor, FakeInstall::default(), options)
    }

    fn start<S: AsRef<str>>(
        input: &[S],
        net: FakeNet,
        vendor: FakeVendor,
        install: FakeInstall,
        options: Options,
    ) -> Run {
        let mut term = ScriptTerm {
            input: input.iter().map(|s| s.as_ref().to_string()).collect(),
            ..ScriptTerm::default()
        };
        let mut net = net;
        let mut keyboard = FakeKeyboard::default();
        let mut host = FakeHost::default();
        let mut events: Vec<Event> = Vec::new();
        let mut vendor = vendor;
        let mut install = install;
        let outcome = flow::run(
            Ports {
                term: &mut term,
                events: &mut events,
                net: &mut net,
                keyboard: &mut keyboard,
                host: &mut host,
                vendor: &mut vendor,
                install: &mut install,
            },
            options,
        );
        Run {
            term,
            net,
            keyboard,
            host,
            vendor,
            install,
            events,
            outcome,
        }
    }

    /// Interactive run on serial without answers.
    pub fn interactive<S: AsRef<str>>(input: &[S], net: FakeNet) -> Run {
        Run::go(input, net, options(AnswersInput::None, false))
    }

    /// The ids of the `prompt` events, in order.
    pub fn prompts(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Prompt { id } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// `(id, input, message)` of every `invalid` event.
    pub fn invalid(&self) -> Vec<(String, String, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Invalid { id, input, message } => {
                    Some((id.clone(), input.clone(), message.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The event names (the `event` field of the JSON), in order.
    pub fn names(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| {
                let v: serde_json::Value =
                    serde_json::from_str(&e.to_json()).expect("events are JSON");
                v["event"].as_str().unwrap_or("?").to_string()
            })
            .collect()
    }
}

/// Options on a serial console.
pub fn options(answers: AnswersInput, unattended: bool) -> Options {
    Options {
        unattended,
        on_vt: false,
        answers,
    }
}
