//! `restore-moved-bios`: a restored configuration that moves the appliance
//! to another address goes through the wizard's grace period, as the
//! wizard's own address change does.
//!
//! 1. Appliance A is installed and set up on 10.0.2.20 with a RADIUS
//!    client; System → Backup of every component, downloaded by Chromium.
//! 2. A is killed; appliance B is installed from the same ISO and set up
//!    on **10.0.2.21** with "no configuration" for RADIUS.
//! 3. System → Restore on B (every component). The job's message names
//!    the confirmation page on A's address; the console says the restored
//!    configuration changes the address; B answers on both addresses
//!    meanwhile, with A's certificate.
//! 4. The Appliance Administrator confirms on 10.0.2.20 in a fresh
//!    Chromium pinned to A's key (then the dashboard is walked: A's host
//!    name, certificate and host keys).
//! 5. Root's checks: the activation record is final, 10.0.2.20 is the
//!    address and 10.0.2.21 is gone, FreeRADIUS runs with A's client,
//!    chrony, the time zone and the host name are A's.
//!
//! Not in the CI set (two installs and two wizards).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use browser_test::{backup, dashboard, wizard::Inputs};

use crate::harness::qemu::{Firmware, Medium};
use crate::scenario::{IsoVariant, RunOptions, Scenario, Script, Timings};
use crate::steps::{fetch_pinned, GUEST_PORT};
use crate::wizard_after::{self, shell};
use crate::wizard_flow::INPUTS;
use crate::wizard_run::{
    self, backup_in_browser, browse, install_and_boot, install_and_boot_also, Backup,
};

/// The scenario's name.
pub const NAME: &str = "restore-moved-bios";
/// The backup's TEST passphrase.
const PASSPHRASE: &str = "TEST passphrase of the moved restore";
/// Appliance B: another address, "no configuration" for RADIUS.
const B_INPUTS: Inputs = Inputs {
    address: "10.0.2.21",
    no_radius: true,
    ..INPUTS
};
/// Backup written / restore done.
const JOB_TIMEOUT: Duration = Duration::from_secs(600);

/// `restore-moved-bios`.
pub fn scenarios() -> Vec<Scenario> {
    let mut s = Scenario::boot(NAME.into(), Firmware::Bios, Medium::Cd);
    s.script = Script::Custom(run);
    s.representative = false;
    s.iso = IsoVariant::Reference(None);
    s.needs.reference = true;
    vec![s]
}

fn run(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let iso = opts.iso_for(s.iso)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (admin, admin_password) = INPUTS.appliance_admin;
    let shots = |tag: &str| format!("{NAME}-screenshots/{tag}");

    // A, set up on 10.0.2.20, and its backup.
    let mut a = install_and_boot(&iso, opts, &dir.join("a"), &INPUTS)?;
    let a_shown = wizard_run::set_up(&rt, &mut a, &INPUTS, &shots("a")).context("appliance A")?;
    let profile = a.dir.join("chromium-profile-backup");
    let Backup::All(file) = backup_in_browser(
        &rt,
        &a_shown,
        a.ports.new_https,
        &profile,
        &shots("backup"),
        &INPUTS,
        PASSPHRASE,
        false,
        JOB_TIMEOUT,
    )?
    else {
        anyhow::bail!("System → Backup offered two files where one was asked for");
    };
    eprintln!(
        "{NAME}: A set up and backed up ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // The crash; B on 10.0.2.21, with forwards to A's address as well.
    drop(a);
    let a_address = INPUTS.address.parse()?;
    let mut b = install_and_boot_also(&iso, opts, &dir.join("b"), &B_INPUTS, Some(a_address))?;
    let b_shown = wizard_run::set_up(&rt, &mut b, &B_INPUTS, &shots("b")).context("appliance B")?;
    let moved = b.ports.extra.context("the forwards to A's address")?;
    eprintln!(
        "{NAME}: B set up on {} ({:.1} s)",
        B_INPUTS.address,
        started.elapsed().as_secs_f64()
    );

    // System → Restore on B's address: the job names the confirmation on
    // A's address.
    let confirm_url = format!("https://{}:{GUEST_PORT}/setup/confirm", INPUTS.address);
    let text = rt.block_on(async {
        let (browser, mut r) = browse(
            &format!("{},{}", b_shown.spki, a_shown.spki),
            b.ports.new_https,
            &b.dir.join("chromium-profile-restore"),
            &shots("restore"),
        )
        .await?;
        dashboard::sign_in(&mut r, admin, admin_password).await?;
        backup::upload(&mut r, &file, PASSPHRASE, JOB_TIMEOUT).await?;
        let text =
            backup::restore(&mut r, &["etc", "db-key", "tls", "token-db"], JOB_TIMEOUT).await;
        let _ = browser.close().await;
        text
    })?;
    ensure!(
        text.contains("moves the appliance to another address") && text.contains(&confirm_url),
        "the restore's message does not ask for the confirmation on {confirm_url}: {text}"
    );
    b.vm.expect(
        "The restored configuration changes the address.",
        Duration::from_secs(120),
    )
    .context("the console's note of the pending confirmation")?;
    // Both addresses answer meanwhile, with A's certificate.
    for (what, port) in [("A's", moved.https), ("B's own", b.ports.new_https)] {
        fetch_pinned(port, &a_shown.tls_colon, Duration::from_secs(120))
            .with_context(|| format!("{what} address before the confirmation"))?;
    }
    eprintln!(
        "{NAME}: restored; waiting for the confirmation on {} ({:.1} s)",
        INPUTS.address,
        started.elapsed().as_secs_f64()
    );

    // The confirmation on A's address, then the checks.
    std::fs::create_dir_all(b.dir.join("moved"))?;
    rt.block_on(wizard_after::confirm(
        &a_shown,
        moved,
        &INPUTS,
        &b.dir.join("moved"),
    ))
    .context("the confirmation on A's address")?;
    wizard_after::served_matches(&a_shown, moved, &b.dir).context("B on A's address")?;
    let mut n = 100;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, _) = shell(&mut b.vm, &mut n, "cat /run/appliance/activation.json")?;
        if status.contains("\"state\": \"done\"") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the activation is not final after the confirmation: {status}"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
    wizard_after::config_checks(&mut b.vm, &INPUTS).context("B after the confirmation")?;
    let (addrs, _) = shell(&mut b.vm, &mut n, "ip -4 -o address show scope global")?;
    ensure!(
        !addrs.contains(&format!("{}/", B_INPUTS.address)),
        "B's own address stayed after the confirmation: {addrs}"
    );
    eprintln!(
        "{NAME}: confirmed on {}; {} is gone ({:.1} s in all)",
        INPUTS.address,
        B_INPUTS.address,
        started.elapsed().as_secs_f64()
    );
    Ok(Timings::since(started))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b_differs_from_a_in_address_and_radius() {
        const { assert!(B_INPUTS.no_radius && !INPUTS.no_radius) };
        assert_ne!(B_INPUTS.address, INPUTS.address);
        let s = scenarios();
        assert_eq!(s[0].name, NAME);
        assert!(!s[0].representative && s[0].needs.reference);
    }
}
