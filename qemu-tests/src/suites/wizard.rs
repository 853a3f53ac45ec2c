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

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::harness::qemu::{Firmware, Medium};
use crate::otp_flow::{self, OtpPorts};
use crate::reference_boot::LOGIN_TIMEOUT;
use crate::scenario::{IsoVariant, RunOptions, Scenario, Script, Timings};
use crate::steps::{start, GUEST_PORT};
use crate::wizard_after::{self, NewPorts};
use crate::wizard_flow::INPUTS;
use crate::wizard_run::{browse, install_and_boot, walk, SERVICE_TIMEOUT};

/// The scenario's name.
pub const NAME: &str = "wizard-bios";

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

fn run(s: &Scenario, opts: &RunOptions, dir: &Path, ending: Ending) -> Result<Timings> {
    let started = Instant::now();
    let iso = opts.iso_for(s.iso)?;
    let mut b = install_and_boot(&iso, opts, dir, &INPUTS)?;
    let p = b.ports;
    let before = b.before.clone();
    let login_at = b.login_at;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = s.name.clone();
    let after = rt.block_on(async {
        let (browser, mut r) = browse(
            &before.spki,
            p.old_https,
            &dir.join("chromium-profile"),
            &format!("{name}-screenshots"),
        )
        .await?;
        let i = &INPUTS;
        walk(&mut r, &b, i, ending == Ending::ShutDown).await?;
        eprintln!(
            "{name}: the wizard went through in {:.1} s after the login prompt",
            (b.vm.elapsed() - login_at).as_secs_f64()
        );
        let after = match ending {
            Ending::Confirm => {
                let after = wizard_after::activation_shown(&mut r, &mut b.vm, i, &before).await?;
                browser.close().await?;
                wizard_after::confirm(&after, p.new_address(), i, dir).await?;
                after
            }
            Ending::Unconfirmed => {
                wizard_after::activation_shown(&mut r, &mut b.vm, i, &before).await?;
                let back = wizard_after::rolled_back(&mut r, &mut b.vm, &before).await?;
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
    let vm = &mut b.vm;
    match ending {
        Ending::Confirm => {
            wizard_after::console_checks(vm, &INPUTS)?;
            wizard_after::served_matches(&after, p.new_address(), dir)?;
            otp_flow::add_user(vm, p.new_https, &after.tls_colon)?;
            let token = rt.block_on(otp_flow::enrol(&after, p.new_https, &INPUTS, dir))?;
            let otp_ports = OtpPorts {
                https: p.new_https,
                radius: p.radius,
            };
            otp_flow::authenticate(otp_ports, &after, &token, INPUTS.radius.2)?;
            eprintln!(
                "{name}: token {} enrolled in Chromium; validate/check and radtest accepted its OTPs and refused their replays",
                token.serial
            );
        }
        Ending::Unconfirmed => {
            wizard_after::root_still_locked(vm, &INPUTS)?;
            let old_ports = NewPorts {
                https: p.old_https,
                ssh: p.old_ssh,
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
            let mut again = start(&b.cfg, dir, "after-shutdown")?.vm;
            again
                .expect("login:", LOGIN_TIMEOUT)
                .context("the boot after the shutdown")?;
            let url = format!("https://{}:{GUEST_PORT}/", INPUTS.address);
            let now = wizard_after::console_naming(&mut again, &url, SERVICE_TIMEOUT)?.shown;
            anyhow::ensure!(
                now.spki != before.spki && now.ssh != before.ssh,
                "the keys were to be regenerated, the console still shows the old ones"
            );
            wizard_after::served_matches(&now, p.new_address(), dir)
                .context("the new address after the shutdown, without a confirmation")?;
        }
    }
    eprintln!(
        "{name}: installed after {:.1} s, login prompt {:.1} s after boot, {:.1} s in all",
        b.installed_at.as_secs_f64(),
        login_at.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(Timings {
        menu: Duration::ZERO,
        first_screen: b.first_screen,
        total: started.elapsed(),
        logins: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

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
