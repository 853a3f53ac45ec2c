//! `journey-bios`: the appliance's disaster recovery end to end (install,
//! set-up, restore, the checks after it), in the browser where an
//! administrator uses the browser and on the serial console where they use
//! the console.
//!
//! 1. Appliance A is installed and set up with a RADIUS client
//!    ([`crate::wizard_run`], confirmed on its new address); a TEST user
//!    gets an HOTP token with a PIN and the self-service `resync` policy
//!    is saved ([`crate::otp_flow`]); `validate/check` and `radtest`
//!    succeed.
//! 2. System → Backup: all components in one file, downloaded by
//!    Chromium. The token is used 15 more times.
//! 3. "Crash": A is killed; appliance B is installed on a fresh disk from
//!    the same ISO and set up with "no configuration" for RADIUS.
//! 4. System → Restore on B: upload, passphrase, the summary, all
//!    components, a message of success for each.
//! 5. The checks after a restore: the console shows A's certificate again and B
//!    serves it; network, host name, time zone, NTP and the RADIUS client
//!    are A's; the flat-file user (not in backups, as the backup page warns) is
//!    added again, then the User View, the Token View and the policies show
//!    what A had; `validate/check` with the token's next OTP fails (the
//!    restored counter is 15 behind, the window is 10); the user
//!    resynchronises through the self-service page with two consecutive
//!    OTPs; `validate/check` and `radtest` then succeed.
//!
//! Not in the CI set (two installs and two wizards).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use browser_test::{backup, dashboard, wizard::Inputs};

use crate::harness::qemu::{Firmware, Medium};
use crate::otp_flow::{self, OtpPorts, PIN, USER};
use crate::reference_boot::Shown;
use crate::scenario::{IsoVariant, RunOptions, Scenario, Script, Timings};
use crate::steps::GUEST_PORT;
use crate::wizard_after;
use crate::wizard_flow::INPUTS;
use crate::wizard_run::{
    self, backup_in_browser, browse, install_and_boot, Backup, Booted, SERVICE_TIMEOUT,
};

/// The scenario's name.
pub const NAME: &str = "journey-bios";
/// The backup's TEST passphrase.
const PASSPHRASE: &str = "TEST passphrase of the journey";
/// Appliance B: the same values, "no configuration" for RADIUS.
const B_INPUTS: Inputs = Inputs {
    no_radius: true,
    ..INPUTS
};
/// Backup written / restore done.
const JOB_TIMEOUT: Duration = Duration::from_secs(600);
/// Uses of the token between the backup and the crash.
const USES_AFTER_BACKUP: u64 = 15;

/// `journey-bios`.
pub fn scenarios() -> Vec<Scenario> {
    let mut s = Scenario::boot(NAME.into(), Firmware::Bios, Medium::Cd);
    s.script = Script::Custom(run);
    s.representative = false;
    s.iso = IsoVariant::Reference(None);
    s.needs.reference = true;
    vec![s]
}

/// [`crate::wizard_run::set_up`] with this scenario's screenshots.
fn set_up(rt: &tokio::runtime::Runtime, b: &mut Booted, i: &Inputs, tag: &str) -> Result<Shown> {
    wizard_run::set_up(rt, b, i, &format!("{NAME}-screenshots/{tag}"))
        .with_context(|| format!("appliance {tag}"))
}

fn run(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let iso = opts.iso_for(s.iso)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let secret = INPUTS.radius.2;
    let (admin, admin_password) = INPUTS.appliance_admin;

    // Appliance A in service.
    let mut a = install_and_boot(&iso, opts, &dir.join("a"), &INPUTS)?;
    let a_shown = set_up(&rt, &mut a, &INPUTS, "a")?;
    let a_ports = OtpPorts {
        https: a.ports.new_https,
        radius: a.ports.radius,
    };
    otp_flow::add_user(&mut a.vm, a_ports.https, &a_shown.tls_colon)?;
    let token = rt.block_on(otp_flow::enrol(&a_shown, a_ports.https, &INPUTS, &a.dir))?;
    let mut next = otp_flow::authenticate(a_ports, &a_shown, &token, secret)?;
    let (seed, _) = otp_flow::parse_hotp_uri(&token.uri)?;
    eprintln!(
        "{NAME}: A is in service ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // System → Backup, downloaded by the browser.
    let profile = a.dir.join("chromium-profile-backup");
    let Backup::All(file) = backup_in_browser(
        &rt,
        &a_shown,
        a_ports.https,
        &profile,
        &format!("{NAME}-screenshots/backup"),
        &INPUTS,
        PASSPHRASE,
        false,
        JOB_TIMEOUT,
    )?
    else {
        anyhow::bail!("System → Backup offered two files where one was asked for");
    };
    let size = std::fs::metadata(&file)?.len();
    eprintln!("{NAME}: backup {} ({size} bytes)", file.display());
    for _ in 0..USES_AFTER_BACKUP {
        let pass = format!("{PIN}{}", otp_flow::hotp(&seed, next));
        ensure!(
            otp_flow::validate(a_ports.https, &a_shown.tls_colon, USER, &pass)?,
            "A refused the token's OTP for counter {next}"
        );
        next += 1;
    }

    // The crash: A is gone; B from the same ISO, RADIUS "no configuration".
    drop(a);
    let mut b = install_and_boot(&iso, opts, &dir.join("b"), &B_INPUTS)?;
    let b_shown = set_up(&rt, &mut b, &B_INPUTS, "b")?;
    eprintln!(
        "{NAME}: B is set up ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // System → Restore, all components.
    let text = rt.block_on(async {
        // The restore swaps B's certificate for A's while the page is
        // followed: the browser trusts both public keys, and no other.
        let (browser, mut r) = browse(
            &format!("{},{}", b_shown.spki, a_shown.spki),
            b.ports.new_https,
            &b.dir.join("chromium-profile-restore"),
            &format!("{NAME}-screenshots/restore"),
        )
        .await?;
        dashboard::sign_in(&mut r, admin, admin_password).await?;
        let summary = backup::upload(&mut r, &file, PASSPHRASE, JOB_TIMEOUT).await?;
        ensure!(
            summary.components == ["etc", "db-key", "tls", "token-db"],
            "the summary offers {:?}: {}",
            summary.components,
            summary.text
        );
        ensure!(
            summary.text.contains(INPUTS.hostname),
            "the summary does not name the source {}: {}",
            INPUTS.hostname,
            summary.text
        );
        let text =
            backup::restore(&mut r, &["etc", "db-key", "tls", "token-db"], JOB_TIMEOUT).await;
        // The restored certificate replaces the one this browser trusts.
        let _ = browser.close().await;
        text
    })?;
    eprintln!(
        "{NAME}: restored: {}",
        text.lines().find(|l| l.contains("Done")).unwrap_or("")
    );

    // The checks: the console shows A's certificate again, B serves it.
    let url = format!("https://{}:{GUEST_PORT}/", INPUTS.address);
    let deadline = Instant::now() + SERVICE_TIMEOUT;
    let shown = loop {
        let now = wizard_after::console_naming(&mut b.vm, &url, SERVICE_TIMEOUT)?.shown;
        if now.spki == a_shown.spki {
            break now;
        }
        ensure!(
            Instant::now() < deadline,
            "the console still shows B's certificate after the restore: {now:?}"
        );
        std::thread::sleep(Duration::from_secs(3));
    };
    wizard_after::served_matches(&shown, b.ports.new_address(), &b.dir)
        .context("B after the restore")?;
    wizard_after::config_checks(&mut b.vm, &INPUTS)
        .context("B's configuration after the restore")?;
    otp_flow::add_user(&mut b.vm, b.ports.new_https, &shown.tls_colon)?;
    rt.block_on(otp_flow::restored_in_pages(
        &shown,
        b.ports.new_https,
        &INPUTS,
        &b.dir,
        &token.serial,
    ))?;
    let b_ports = OtpPorts {
        https: b.ports.new_https,
        radius: b.ports.radius,
    };
    let pass = format!("{PIN}{}", otp_flow::hotp(&seed, next));
    ensure!(
        !otp_flow::validate(b_ports.https, &shown.tls_colon, USER, &pass)?,
        "validate/check accepted an OTP {USES_AFTER_BACKUP} steps past the restored counter"
    );
    rt.block_on(otp_flow::selfservice_resync(
        &shown,
        b_ports.https,
        &b.dir,
        &token,
        next + 1,
    ))?;
    let pass = format!("{PIN}{}", otp_flow::hotp(&seed, next + 3));
    ensure!(
        otp_flow::validate(b_ports.https, &shown.tls_colon, USER, &pass)?,
        "validate/check refused the OTP after the resync"
    );
    let pass = format!("{PIN}{}", otp_flow::hotp(&seed, next + 4));
    ensure!(
        otp_flow::radtest(b_ports.radius, USER, &pass, secret)?,
        "RADIUS rejected the OTP after the resync"
    );
    eprintln!(
        "{NAME}: after the restore the next OTP was refused, the self-service resync worked and validate/check and radtest accepted ({:.1} s in all)",
        started.elapsed().as_secs_f64()
    );
    Ok(Timings::since(started))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b_differs_from_a_only_in_radius() {
        const { assert!(B_INPUTS.no_radius && !INPUTS.no_radius) };
        assert_eq!(B_INPUTS.address, INPUTS.address);
        assert_eq!(B_INPUTS.hostname, INPUTS.hostname);
        let s = scenarios();
        assert_eq!(s[0].name, NAME);
        assert!(!s[0].representative && s[0].needs.reference);
    }
}
