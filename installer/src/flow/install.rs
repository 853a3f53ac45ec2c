//! The install step (agree to start, check the data one last
//! time and press any key, download, install without further questions,
//! restart from the hard disk): requirements, disk choice, agreement,
//! summary, the install itself, and what happens after success or failure.

use super::{choice, ids, install_text as t, Flow, Halt, State, Step, Stop};
use crate::answers::{Finish, KeyError, Mode};
use crate::event::{DiskInfo, Event};
use crate::facts::hw::Disk;
use crate::install::plan::{self, Candidate, SelectError};
use crate::install::{Failure, Job, Progress};
use crate::power::PowerAction;

/// What the failure screen offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Run the install again (from the wipe).
    Retry,
    /// A rescue shell, then this screen again.
    Shell,
    /// Reboot or power off.
    Power(PowerAction),
}

fn stop(title: &str, key: &str, message: String) -> Halt {
    Halt::Stop(Stop {
        title: title.into(),
        errors: vec![KeyError::new(key, message)],
        unchanged: false,
        report: false,
    })
}

fn info(c: &Candidate) -> DiskInfo {
    DiskInfo {
        device: format!("/dev/{}", c.disk.name),
        model: c.disk.model.clone(),
        serial: c.disk.serial.clone(),
        size_bytes: c.disk.size_bytes,
        bus: c.disk.bus.to_string(),
        refusal: c.refusal.clone(),
    }
}

impl Flow<'_> {
    pub(super) fn install_step(&mut self) -> Step<State> {
        let Some(verified) = self.serial.clone() else {
            return Err(stop(
                "no verified serial number",
                "serial",
                "the serial step did not complete".into(),
            ));
        };
        let manifest = verified.manifest.clone();
        let hw = self.p.install.hardware();
        if let Err(e) = plan::check_ram(hw.mem_total_kib, manifest.min_ram_mib) {
            return Err(stop(
                "this machine does not meet the appliance's requirements",
                "",
                e,
            ));
        }
        let selector = self.answers.disk.clone();
        let allow_removable = selector
            .as_ref()
            .is_some_and(|s| s.serial.is_some() || s.path.is_some());
        let cands = plan::candidates(
            &hw.disks,
            hw.medium.as_deref(),
            manifest.layout.min_disk_mib,
            allow_removable,
        );
        self.emit(Event::Disks {
            disks: cands.iter().map(info).collect(),
        });
        let key = if selector.is_some() { "disk" } else { "" };
        let disk = match plan::select(&cands, selector.as_ref()) {
            Ok(d) => d,
            Err(SelectError::Ambiguous { .. }) if selector.is_none() && !self.unattended => {
                self.choose_disk(&cands)?
            }
            Err(e @ SelectError::Ambiguous { .. }) if selector.is_none() => {
                return Err(stop(
                    "the disk to install on is not clear",
                    "disk",
                    e.to_string(),
                ))
            }
            Err(e) => {
                let mut message = e.to_string();
                let no_disk_at_all = cands.iter().all(|c| c.refusal.is_some());
                if let Some(hint) = plan::no_disk_hint(&hw.platform).filter(|_| no_disk_at_all) {
                    message.push_str(&format!("\n  Hint: {hint}."));
                }
                return Err(stop("no disk to install on", key, message));
            }
        };
        let layout = plan::table_for(hw.firmware, self.answers.partition_table)
            .and_then(|table| plan::layout(&manifest, disk.size_bytes, table))
            .map_err(|e| {
                let key = if self.answers.partition_table.is_some() {
                    "partition_table"
                } else {
                    key
                };
                stop("the appliance does not fit this disk", key, e.to_string())
            })?;
        let confirm = plan::must_confirm(&disk, self.answers_consent, self.unattended);
        if confirm {
            if self.answers.erase_disk == Some(true) {
                let notice = t::consent_notice(&disk, &self.answers_source, self.answers_consent);
                self.show(&notice);
            }
            self.show(&t::agreement(&disk, &verified.release));
            if !self.ask(ids::INSTALL_AGREE, t::AGREE_PROMPT, choice::yes_no)? {
                self.show(t::NOT_AGREED);
                return Ok(State::Menu);
            }
        }
        let net = self.network.as_ref().map(|(_, c)| c.clone());
        let layout_code = self.layout.clone().unwrap_or(super::DEFAULT_LAYOUT.into());
        self.show(&super::text::ready(
            net.as_ref(),
            Some(&verified),
            &layout_code,
        ));
        self.show(&t::disk_summary(&disk, &layout));
        self.save_collected(&disk);
        // With the consent in the answers nobody needs to press a key.
        if !self.unattended && confirm {
            self.ask(ids::INSTALL_START, t::START_PROMPT, |_| Ok(()))?;
        }
        let job = Job {
            handover: self.handover(&verified),
            disk: disk.clone(),
            layout,
            manifest,
            firmware: hw.firmware,
            serial_console: !self.on_vt,
        };
        loop {
            self.emit(Event::Install {
                device: format!("/dev/{}", disk.name),
                table: job.layout.table.into(),
                release: verified.release.clone(),
            });
            self.show(&format!(
                "\nInstalling {} release {} on /dev/{} ...\n",
                verified.model, verified.release, disk.name
            ));
            let (events, term, install) =
                (&mut *self.p.events, &mut *self.p.term, &mut *self.p.install);
            let result = install.install(&job, &mut |p: &Progress| {
                events.emit(&Event::InstallProgress {
                    stage: p.stage,
                    component: p.component.clone(),
                    done: p.done,
                    total: p.total,
                });
                term.show(&format!("  {}\n", p.line));
            });
            match result {
                Ok(done) => {
                    self.emit(Event::Installed {
                        install_id: done.install_id.clone(),
                        seconds: done.seconds,
                        downloaded: done.downloaded,
                    });
                    self.show(&t::success(&disk, &done));
                    match self.p.install.boot_next(&job) {
                        Ok(msg) => self.show(&format!("  {msg}\n")),
                        Err(e) => self.show(&format!(
                            "  (the next boot could not be pointed at the disk: {e})\n"
                        )),
                    }
                    return self.after_success();
                }
                Err(f) => {
                    self.emit(Event::InstallFailed {
                        stage: f.stage().clone(),
                        message: f.message(),
                        hint: f.hint(),
                        bundle: f.bundle.clone(),
                    });
                    self.show(&t::failure(&f));
                    if self.unattended {
                        return Err(self.failed_stop(&f));
                    }
                    if let Some(action) = self.after_failure()? {
                        return Ok(State::Done(action));
                    }
                }
            }
        }
    }

    fn failed_stop(&self, f: &Failure) -> Halt {
        Halt::Stop(Stop {
            title: format!("the installation failed while {}", f.stage()),
            errors: vec![KeyError::new("", format!("{} ({})", f.message(), f.hint()))],
            unchanged: false,
            report: false,
        })
    }

    /// `None`: retry; else reboot or power off. The shell returns here.
    fn after_failure(&mut self) -> Step<Option<PowerAction>> {
        loop {
            match self.ask(ids::INSTALL_FAILED, t::FAILED_PROMPT, choice::after_failure)? {
                AfterFailure::Shell => self.shell(),
                AfterFailure::Retry => return Ok(None),
                AfterFailure::Power(a) => return Ok(Some(a)),
            }
        }
    }

    /// The system restarts after the installation.
    fn after_success(&mut self) -> Step<State> {
        match self.answers.finish {
            Some(Finish::Poweroff) => Ok(State::Done(PowerAction::PowerOff)),
            Some(Finish::Wait) => {
                let action =
                    self.ask(ids::READY_ACTION, super::text::POWER_PROMPT, choice::power)?;
                Ok(State::Done(action))
            }
            Some(Finish::Reboot) | None => Ok(State::Done(PowerAction::Reboot)),
        }
    }

    fn choose_disk(&mut self, cands: &[Candidate]) -> Step<Disk> {
        let eligible: Vec<Disk> = cands
            .iter()
            .filter(|c| c.refusal.is_none())
            .map(|c| c.disk.clone())
            .collect();
        self.show(&t::disk_list(cands));
        let i = self.ask(ids::INSTALL_DISK, t::DISK_PROMPT, |s| {
            choice::disk(s, &eligible)
        })?;
        Ok(eligible[i].clone())
    }

    fn save_collected(&mut self, disk: &Disk) {
        let mut file = self.collected();
        file.disk = Some(if disk.serial.is_empty() {
            plan::DiskSelector {
                path: Some(format!("/dev/{}", disk.name)),
                ..Default::default()
            }
        } else {
            plan::DiskSelector {
                serial: Some(disk.serial.clone()),
                ..Default::default()
            }
        });
        file.erase_disk = Some(true);
        match serde_json::to_string_pretty(&file) {
            Ok(json) => match self.p.host.save_answers(&format!("{json}\n")) {
                Ok(path) => self.show(&format!("Your answers were saved to {path}.\n")),
                Err(e) => self.show(&format!("  ! your answers could not be saved: {e}\n")),
            },
            Err(e) => self.show(&format!("  ! your answers could not be saved: {e}\n")),
        }
    }

    /// The first-boot record, as far as the flow knows it (the install
    /// fills in the install id, the time and the installer's version).
    fn handover(&mut self, v: &crate::vendor::Verified) -> handover::Handover {
        use handover::{Console, Entitlement, Keyboard, NetMode, Network, Release};
        let interfaces = self.p.net.interfaces();
        let network = self.network.as_ref().map(|(mode, c)| {
            let mac = interfaces
                .iter()
                .find(|i| i.name == c.interface)
                .and_then(|i| i.mac.parse().ok())
                .unwrap_or(handover::MacAddr([0; 6]));
            Network {
                mode: match mode {
                    Mode::Dhcp => NetMode::Dhcp,
                    Mode::Manual => NetMode::Manual,
                },
                interface: c.interface.clone(),
                mac,
                address: Some(handover::Ipv4Cidr {
                    addr: c.address.addr,
                    prefix: c.address.prefix,
                }),
                gateway: c.gateway,
                dns: c.dns.clone(),
                hostname: c.hostname.clone(),
                domain: c.domain.clone(),
                search: c.search.clone(),
            }
        });
        handover::Handover {
            format: handover::FORMAT,
            install_id: String::new(),
            installed_at: 0,
            installer: handover::InstallerInfo {
                product: self.p.vendor.product(),
                version: String::new(),
            },
            release: Release {
                model: v.model.clone(),
                channel: v.channel.clone(),
                version: v.release.clone(),
                components: v
                    .manifest
                    .components
                    .iter()
                    .map(|c| handover::Component {
                        name: c.name.clone(),
                        sha256: c.sha256.clone(),
                    })
                    .collect(),
            },
            serial: v.serial.to_string(),
            entitlement: Entitlement {
                models: vec![v.model.clone()],
                expires: v.until,
            },
            network: network.unwrap_or_else(|| Network {
                mode: NetMode::Dhcp,
                interface: "eth0".into(),
                mac: handover::MacAddr([0; 6]),
                address: None,
                gateway: None,
                dns: vec![],
                hostname: super::DEFAULT_HOSTNAME.into(),
                domain: None,
                search: vec![],
            }),
            keyboard: Keyboard {
                layout: self.layout.clone().unwrap_or(super::DEFAULT_LAYOUT.into()),
            },
            console: if self.on_vt {
                Console::Vga
            } else {
                Console::Serial
            },
        }
    }
}
