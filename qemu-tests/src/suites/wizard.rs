//! `wizard-bios`: the set-up wizard end to end in a real browser. The
//! reference appliance is installed as `reference-bios-dhcp` installs it
//! (BIOS, e1000, DHCP over the serial console, German keyboard) and its
//! disk booted; the public key hash (SPKI) and the setup code are read from
//! the console text above the login prompt; headless Chromium trusts the
//! appliance ONLY through `--ignore-certificate-errors-spki-list=<that
//! value>` and goes through the whole wizard ([`crate::wizard_flow`]),
//! screenshots under `target/wizard-bios-screenshots/`; then Activate with
//! the new static address 10.0.2.20/24 and the checks after it
//! ([`crate::wizard_after`]).
//!
//! The network: QEMU's user network (slirp) forwards a host port to one
//! guest address, by default the first DHCP lease (10.0.2.15). The guest
//! moves to a static address in the same 10.0.2.0/24, with slirp's
//! gateway 10.0.2.2 and DNS 10.0.2.3, and slirp forwards to any address
//! of that subnet it is told to (it finds the guest's MAC by ARP), so the
//! machine gets forwards to BOTH addresses from the start: 8443 and 22 to
//! 10.0.2.15 for the wizard, 8443 and 22 to 10.0.2.20 for the
//! confirmation and the checks after it. During the grace period both
//! answer (the old one stays as a secondary address); after the
//! confirmation only the new one does.
//!
//! Two more endings after the same walk: `wizard-bios-unconfirmed` never
//! confirms, so at the deadline the old address, certificate and host keys
//! are back, the progress page says so and root is still locked;
//! `wizard-bios-shutdown` ticks "shut down after activation", sees the
//! machine power off, boots it again and finds it on the new address with
//! new keys, without a confirmation.
//!
//! Not in the CI set (they are the longest scenarios). The reference image
//! trusts the TEST licence key the scenario signs with
//! ([`wizard_flow::LICENCE_TEST_SEED`]): an image built without
//! `--licence-key` carries its public half at
//! `/usr/share/appliance/licence-key.pub`.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use browser_test::{wizard, Browser, Page};

use crate::harness::qemu::{Controller, Firmware, Forward, Medium, Network, Proto};
use crate::harness::tls::free_port;
use crate::install_run::{install, Drive, Install};
use crate::otp_flow::{self, OtpPorts};
use crate::reference_boot::{issue_above_prompt, parse_console, ready_line, LOGIN_TIMEOUT};
use crate::scenario::{IsoVariant, RunOptions, Scenario, Script, Timings};
use crate::setup_claim::wrong_codes;
use crate::steps::{
    check_disk_booted, fetch_pinned, installed_vm, start, Installed, Machine, GUEST_ADDRESS,
    GUEST_PORT,
};
use crate::wizard_after::{self, NewPorts};
use crate::wizard_flow::{self, INPUTS};

/// The scenario's name.
pub const NAME: &str = "wizard-bios";
/// Login prompt → the page answers.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(180);

/// How the scenario ends after Activate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Confirm on the new address, then the checks after activation.
    Confirm,
    /// Never confirm: the deadline passes and the old configuration is back.
    Unconfirmed,
    /// "Shut down after activation": the machine powers off; its next
    /// boot comes up on the new address without a confirmation.
    ShutDown,
}

/// The scenarios and how each ends.
pub const ENDINGS: [(&str, Ending); 3] = [
    (NAME, Ending::Confirm),
    ("wizard-bios-unconfirmed", Ending::Unconfirmed),
    ("wizard-bios-shutdown", Ending::ShutDown),
];

/// `wizard-bios`, `wizard-bios-unconfirmed`, `wizard-bios-shutdown`.
pub fn scenarios() -> Vec<Scenario> {
    ENDINGS
        .iter()
        .map(|(name, ending)| {
            let mut s = Scenario::boot((*name).into(), Firmware::Bios, Medium::Cd);
            s.script = Script::Custom(match ending {
                Ending::Confirm => run_confirm,
                Ending::Unconfirmed => run_unconfirmed,
                Ending::ShutDown => run_shutdown,
            });
            s.representative = false;
            s.iso = IsoVariant::Reference(None);
            s.needs.reference = true;
            s
        })
        .collect()
}

fn run_confirm(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    run(s, opts, dir, Ending::Confirm)
}

fn run_unconfirmed(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    run(s, opts, dir, Ending::Unconfirmed)
}

fn run_shutdown(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    run(s, opts, dir, Ending::ShutDown)
}

/// Distinct free host ports.
fn ports(n: usize) -> Result<Vec<u16>> {
    let mut v: Vec<u16> = Vec::new();
    while v.len() < n {
        let p = free_port()?;
        if !v.contains(&p) {
            v.push(p);
        }
    }
    Ok(v)
}

fn run(s: &Scenario, opts: &RunOptions, dir: &Path, ending: Ending) -> Result<Timings> {
    let started = Instant::now();
    let machine = Machine {
        firmware: Firmware::Bios,
        nic: "e1000",
        bus: Controller::Ide { bus: 1, unit: None },
    };
    let iso = opts.iso_for(s.iso)?;
    let done = install(
        &Install {
            machine,
            iso: iso.clone(),
            drive: Drive::InteractiveDhcp,
            keyboard: "de",
            disk_mib: 2048,
        },
        opts,
        dir,
    )?;

    // The installed disk, with forwards to the old and the new address.
    let p = ports(5)?;
    let old: Ipv4Addr = GUEST_ADDRESS.parse()?;
    let new: Ipv4Addr = INPUTS.address.parse()?;
    let fwd = |host, guest, addr| (Proto::Tcp, Forward { host, guest }, addr);
    let installed = Installed {
        machine: &machine,
        opts,
        iso: &iso,
        dir,
        target: &done.target,
        vars: done.vars.as_deref(),
    };
    let mut cfg = installed_vm(&installed, false, Vec::new());
    if let Some(nic) = cfg.nic.as_mut() {
        nic.network = Network::UserForwardTo(vec![
            fwd(p[0], GUEST_PORT, old),
            fwd(p[1], 22, old),
            fwd(p[2], GUEST_PORT, new),
            fwd(p[3], 22, new),
            (
                Proto::Udp,
                Forward {
                    host: p[4],
                    guest: 1812,
                },
                new,
            ),
        ]);
    }
    let new_ports = NewPorts {
        https: p[2],
        ssh: p[3],
    };
    let mut vm = start(&cfg, dir, "appliance")?.vm;
    vm.expect("login:", LOGIN_TIMEOUT)
        .context("waiting for the login prompt on ttyS0")?;
    let login_at = vm.elapsed();
    check_disk_booted(&vm.text(), false)?;
    ready_line(&mut vm, SERVICE_TIMEOUT)?;
    let screen = issue_above_prompt(&mut vm, Duration::from_secs(60))?;
    fs::write(dir.join("issue-before.txt"), &screen)?;
    let before = parse_console(&screen)?.shown;
    fetch_pinned(p[0], &before.tls_colon, SERVICE_TIMEOUT)
        .context("8443 on the old address, pinned to the printed fingerprint")?;

    let licence = dir.join("TEST.lic");
    fs::write(&licence, wizard_flow::test_licence())?;
    let wrong = wrong_codes(&before.setup_code, 2)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = s.name.clone();
    let shots = browser_test::target_dir().join(format!("{name}-screenshots"));
    let after = rt.block_on(async {
        let axe = browser_test::axe::source(&browser_test::target_dir())?;
        let browser = Browser::start(&before.spki, &dir.join("chromium-profile")).await?;
        let mut r = Page::new(
            browser.client.clone(),
            &format!("https://127.0.0.1:{}", p[0]),
            axe,
            shots,
        )?;
        let i = &INPUTS;
        wizard::claim(&mut r, &before.setup_code, &wrong).await?;
        wizard::licence(&mut r, &licence, i).await?;
        wizard::network(&mut r, i).await?;
        wizard::time(&mut r, i).await?;
        wizard::roles(&mut r, i, &before.setup_code).await?;
        wizard::radius(&mut r, i).await?;
        wizard::keys_and_activate(&mut r, i, ending == Ending::ShutDown).await?;
        eprintln!(
            "{name}: the wizard went through in {:.1} s after the login prompt",
            (vm.elapsed() - login_at).as_secs_f64()
        );
        let after = match ending {
            Ending::Confirm => {
                let after = wizard_after::activation_shown(&mut r, &mut vm, i, &before).await?;
                browser.close().await?;
                wizard_after::confirm(&after, new_ports, i, dir).await?;
                after
            }
            Ending::Unconfirmed => {
                wizard_after::activation_shown(&mut r, &mut vm, i, &before).await?;
                let back = wizard_after::rolled_back(&mut r, &mut vm, &before).await?;
                browser.close().await?;
                back
            }
            Ending::ShutDown => {
                // The browser may lose the page as the machine goes down.
                let _ = browser.close().await;
                before.clone()
            }
        };
        anyhow::Ok(after)
    })?;
    match ending {
        Ending::Confirm => {
            wizard_after::console_checks(&mut vm, &INPUTS)?;
            wizard_after::served_matches(&after, new_ports, dir)?;
            otp_flow::add_user(&mut vm, p[2], &after.tls_colon)?;
            let token = rt.block_on(otp_flow::enrol(&after, p[2], &INPUTS, dir))?;
            let otp_ports = OtpPorts {
                https: p[2],
                radius: p[4],
            };
            otp_flow::authenticate(otp_ports, &after, &token, INPUTS.radius.2)?;
            eprintln!(
                "{}: token {} enrolled in Chromium; validate/check and radtest accepted its OTPs and refused their replays",
                s.name, token.serial
            );
        }
        Ending::Unconfirmed => {
            wizard_after::root_still_locked(&mut vm, &INPUTS)?;
            let old_ports = NewPorts {
                https: p[0],
                ssh: p[1],
            };
            wizard_after::served_matches(&after, old_ports, dir)
                .context("the old address after the rollback")?;
        }
        Ending::ShutDown => {
            let status = vm
                .wait_exit(wizard_after::APPLY_TIMEOUT)
                .context("the machine did not power off after the activation")?;
            anyhow::ensure!(status.success(), "QEMU ended with {status}");
            eprintln!(
                "{name}: powered off {:.1} s after the login prompt",
                (vm.elapsed() - login_at).as_secs_f64()
            );
            let mut again = start(&cfg, dir, "after-shutdown")?.vm;
            again
                .expect("login:", LOGIN_TIMEOUT)
                .context("the boot after the shutdown")?;
            let url = format!("https://{}:{GUEST_PORT}/", INPUTS.address);
            let now = wizard_after::console_naming(&mut again, &url, SERVICE_TIMEOUT)?.shown;
            anyhow::ensure!(
                now.spki != before.spki && now.ssh != before.ssh,
                "the keys were to be regenerated, the console still shows the old ones"
            );
            wizard_after::served_matches(&now, new_ports, dir)
                .context("the new address after the shutdown, without a confirmation")?;
        }
    }
    eprintln!(
        "{}: installed after {:.1} s, login prompt {:.1} s after boot, {:.1} s in all",
        s.name,
        done.installed_at.as_secs_f64(),
        login_at.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(Timings {
        menu: Duration::ZERO,
        first_screen: done.first_screen,
        total: started.elapsed(),
        logins: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_installs_the_reference_appliance_and_stays_out_of_ci() {
        let s = scenarios();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, NAME);
        for s in &s {
            assert!(s.needs.reference && s.needs.iso && !s.representative);
            assert_eq!(s.iso, IsoVariant::Reference(None));
        }
    }

    #[test]
    fn the_new_address_is_a_host_in_qemus_user_network() {
        let new: Ipv4Addr = INPUTS.address.parse().unwrap();
        let o = new.octets();
        assert_eq!(&o[..3], &[10, 0, 2]);
        // Not slirp's gateway (.2), DNS (.3), first lease (.15) or network/broadcast.
        assert!(![0, 2, 3, 15, 255].contains(&o[3]));
    }
}
