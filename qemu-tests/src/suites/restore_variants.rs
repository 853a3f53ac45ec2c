//! `restore-variants-bios`: the restore variants of the disaster-recovery
//! journey (point 6), each on the same replacement appliance B.
//!
//! 1. Appliance A is installed and set up with a RADIUS client; a TEST
//!    user gets an HOTP token with a PIN ([`crate::otp_flow`]), so A's
//!    token database is not empty. Root's console records the SHA-256 of
//!    A's `/etc/appliance/db.key`.
//! 2. System → Backup with "the key and the data apart": both files are
//!    downloaded by Chromium (`…_key.backup.age` holds `db-key`,
//!    `…_data.backup.age` the rest).
//! 3. A is killed; B is installed from the same ISO on a fresh disk and set
//!    up with "no configuration" for RADIUS. On B's console a backup of B's
//!    own state is written (`appliance-backup create`, kept in the `/var`
//!    overlay) for step 6.
//! 4. **etc and tls only**: B's fingerprint is taken on root's console —
//!    the SHA-256 of `/etc/appliance/db.key` and the SHA-256 of
//!    `mariadb-dump --skip-dump-date --skip-comments --order-by-primary
//!    --hex-blob otp` (every table's definition, auto-increment counter and
//!    row of the token database, in primary key order, binary columns as
//!    hex: equal dumps mean equal contents byte for byte). System → Restore
//!    with the data file alone, only `etc` and `tls` ticked. Then B serves
//!    A's certificate, has A's RADIUS client, FreeRADIUS is active, and the
//!    fingerprint is the one from before.
//! 5. **two files**: System → Restore with the key file and the data file,
//!    every component. The uploaded files are copied on the console first
//!    (their SHA-256 compared with the downloaded ones) for step 6. B's key
//!    is then A's (its SHA-256), and `validate/check` through 8443 accepts
//!    the token's OTP at the counter after A's last use (inside the window).
//! 6. **killed during a restore**: one clean `appliance-backup restore` of
//!    the two files on root's console is timed (after B's own backup was
//!    restored, as before every round); its fingerprint is the reference.
//!    Then rounds until 5 kills landed inside the restore (a kill after
//!    it finished does not count; at most 15 rounds): B's own backup is
//!    restored (so that B differs from A's
//!    backup in every component and the restore has every kind of work to
//!    do), the restore of A's two files is started and QEMU killed after a
//!    random delay below the clean restore's duration, in every other
//!    round within its last 40 % (xorshift, seed from
//!    `RESTORE_VARIANTS_SEED` or the clock; seed and delays printed). B
//!    boots from its disk (`appliance-backup-recover.service` finishes or
//!    rolls back at boot; what it did is printed), the restore is run again
//!    and must succeed; then `appliance-backup recover` finds nothing
//!    half-done, no `.restore-new` file, staging entry or `otp_restore`
//!    database is left, the fingerprint equals the clean restore's, and
//!    after restarting the web and OTP services B serves A's certificate
//!    and `validate/check` accepts the same OTP as in step 5 (the restore
//!    reset the token's counter; without it the OTP would be a replay).
//!
//! Where a kill can land: decrypting and checking the files into the
//! staging directory (scrypt and age; nothing but staging changed), the
//! `prepare` phase (the journal, `.restore-new` files, the new generation
//! of the desired state, the dump loaded into `otp_restore`: rolled back at
//! boot), the `commit` phase (the renames and the one `RENAME TABLE`:
//! completed at boot), or after the restore printed its lines (reported as
//! "finished before the kill"). Where each kill landed shows in the boot's
//! recover line.
//!
//! Not in the CI set (two installs, two wizards, six boots).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use browser_test::{backup, dashboard, wizard::Inputs};
use sha2::{Digest, Sha256};

use crate::harness::qemu::{Firmware, Medium};
use crate::harness::tls::spki_sha256_b64;
use crate::otp_checks::check_validate;
use crate::otp_flow::{self, OtpPorts, PIN, USER};
use crate::reference_boot::{Shown, LOGIN_TIMEOUT};
use crate::scenario::{IsoVariant, RunOptions, Scenario, Script, Timings};
use crate::steps::{fetch_pinned, start};
use crate::wizard_after;
use crate::wizard_flow::INPUTS;
use crate::wizard_run::{
    self, backup_in_browser, browse, install_and_boot, Backup, Booted, SERVICE_TIMEOUT,
};

mod console;

use crate::wizard_after::{begin, root_shell, shell_within as sh};
use console::{fingerprint, ok, Fingerprint};

/// The scenario's name.
pub const NAME: &str = "restore-variants-bios";
/// The backups' TEST passphrase.
const PASSPHRASE: &str = "TEST passphrase of the restore variants";
/// Appliance B: the same values, "no configuration" for RADIUS.
const B_INPUTS: Inputs = Inputs {
    no_radius: true,
    ..INPUTS
};
/// Backup written / restore done (web and console).
const JOB_TIMEOUT: Duration = Duration::from_secs(900);
/// Restores killed.
const KILLS: usize = 5;
/// On B, in the `/var` overlay (kept across boots): the copies of the
/// uploaded files and B's own backup.
const KEEP: &str = "/var/lib/restore-variants";
/// Where the web stores uploads.
const UPLOADS: &str = "/var/lib/appliance-web/restore";
/// The components of A's two files together.
const ALL: [&str; 4] = ["db-key", "etc", "tls", "token-db"];

/// `restore-variants-bios`.
pub fn scenarios() -> Vec<Scenario> {
    let mut s = Scenario::boot(NAME.into(), Firmware::Bios, Medium::Cd);
    s.script = Script::Custom(run);
    s.representative = false;
    s.iso = IsoVariant::Reference(None);
    s.needs.reference = true;
    vec![s]
}

fn sha256_file(p: &Path) -> Result<String> {
    Ok(hex::encode(Sha256::digest(std::fs::read(p)?)))
}

/// Until B serves the certificate with A's public key (pinned to A's
/// fingerprint).
fn serves(port: u16, a: &Shown) -> Result<()> {
    let page = fetch_pinned(port, &a.tls_colon, SERVICE_TIMEOUT)
        .context("B does not serve A's certificate")?;
    let spki = spki_sha256_b64(&page.certificate)?;
    ensure!(
        spki == a.spki,
        "served public key {spki}, A's is {}",
        a.spki
    );
    Ok(())
}

/// The console restore of A's two files.
fn restore_cmd(files: &str) -> String {
    format!("P='{PASSPHRASE}' appliance-backup --passphrase-env P restore {files}")
}

/// Round `i`'s kill delay in milliseconds: uniform below the clean
/// restore's `span` in even rounds; in odd rounds uniform in its last 40 %,
/// where the journaled phases are (decrypting the files into staging takes
/// most of a restore, so uniform delays alone seldom reach them).
fn kill_delay(rng: &mut u64, span: u64, i: usize) -> u64 {
    let r = next(rng);
    if i.is_multiple_of(2) {
        r % span
    } else {
        let from = span * 6 / 10;
        from + r % (span - from).max(1)
    }
}

/// A small PRNG (xorshift) for the kill delays; the seed is printed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Where a kill landed, from what `appliance-backup-recover.service`
/// printed at the next boot (it runs only when a journal exists).
fn landed(recovered: &str, finished: bool) -> &'static str {
    if finished {
        "after the restore had finished"
    } else if recovered.contains("was rolled back") {
        "in the prepare phase (rolled back at boot)"
    } else if recovered.contains("was completed") {
        "after the commit point (completed at boot)"
    } else {
        "before the journal (decrypting into staging; nothing to recover at boot)"
    }
}

/// After a restore of A's two files on the console: nothing half-done,
/// the reference fingerprint, A's certificate served and the token's OTP
/// `counter` accepted after the services restarted.
fn restored_right(
    b: &mut Booted,
    n: &mut u32,
    want: &Fingerprint,
    a: &Shown,
    token: (&[u8], u64),
) -> Result<()> {
    let out = ok(&mut b.vm, n, "appliance-backup recover", JOB_TIMEOUT)?;
    ensure!(
        out.contains("no interrupted restore"),
        "appliance-backup recover: {out}"
    );
    let left = ok(
        &mut b.vm,
        n,
        "find /etc /var/lib/appliance-backup -name '.*.restore-new' -o -name journal.json; ls -A /var/lib/appliance-backup/staging 2>/dev/null; mariadb -N -B -e \"SHOW DATABASES LIKE 'otp\\_restore'\"",
        Duration::from_secs(120),
    )?;
    ensure!(left.trim().is_empty(), "left half-done: {left}");
    let now = fingerprint(&mut b.vm, n)?;
    ensure!(
        &now == want,
        "the token database or key differs from the clean restore's: {now:?}, want {want:?}"
    );
    ok(
        &mut b.vm,
        n,
        "systemctl restart appliance-web.service appliance-otp.service",
        Duration::from_secs(300),
    )?;
    serves(b.ports.new_https, a)?;
    check_validate(
        b.ports.new_https,
        &a.tls_colon,
        Instant::now(),
        SERVICE_TIMEOUT,
    )?;
    let pass = format!("{PIN}{}", otp_flow::hotp(token.0, token.1));
    ensure!(
        otp_flow::validate(b.ports.new_https, &a.tls_colon, USER, &pass)?,
        "validate/check refused A's token at counter {}",
        token.1
    );
    Ok(())
}

fn run(s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let since = || started.elapsed().as_secs_f64();
    let iso = opts.iso_for(s.iso)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (admin, admin_password) = INPUTS.appliance_admin;
    let shots = |tag: &str| format!("{NAME}-screenshots/{tag}");

    // 1. Appliance A in service, a token in its database.
    let mut a = install_and_boot(&iso, opts, &dir.join("a"), &INPUTS)?;
    let a_shown = wizard_run::set_up(&rt, &mut a, &INPUTS, &shots("a")).context("appliance A")?;
    let a_ports = OtpPorts {
        https: a.ports.new_https,
        radius: a.ports.radius,
    };
    otp_flow::add_user(&mut a.vm, a_ports.https, &a_shown.tls_colon)?;
    let token = rt.block_on(otp_flow::enrol(&a_shown, a_ports.https, &INPUTS, &a.dir))?;
    let next_otp = otp_flow::authenticate(a_ports, &a_shown, &token, INPUTS.radius.2)?;
    let (seed, _) = otp_flow::parse_hotp_uri(&token.uri)?;
    let mut n = 200;
    let a_key = fingerprint(&mut a.vm, &mut n)?.key;
    eprintln!(
        "{NAME}: A is in service, db.key SHA-256 {a_key} ({:.1} s)",
        since()
    );

    // 2. System → Backup, the key and the data apart.
    let profile = a.dir.join("chromium-profile-backup");
    let Backup::Split(files) = backup_in_browser(
        &rt,
        &a_shown,
        a_ports.https,
        &profile,
        &shots("backup"),
        &INPUTS,
        PASSPHRASE,
        true,
        JOB_TIMEOUT,
    )?
    else {
        anyhow::bail!(
            "System → Backup offered one file where the key and the data apart were asked for"
        );
    };
    let (key_sha, data_sha) = (sha256_file(&files.key)?, sha256_file(&files.data)?);
    eprintln!(
        "{NAME}: backup as two files: {} ({} bytes), {} ({} bytes)",
        files.key.display(),
        std::fs::metadata(&files.key)?.len(),
        files.data.display(),
        std::fs::metadata(&files.data)?.len()
    );

    // 3. The crash; B with "no configuration" for RADIUS, and B's own backup.
    drop(a);
    let mut b = install_and_boot(&iso, opts, &dir.join("b"), &B_INPUTS)?;
    let b_shown = wizard_run::set_up(&rt, &mut b, &B_INPUTS, &shots("b")).context("appliance B")?;
    let mut n = 300;
    let own = format!("{KEEP}/b-own.backup.age");
    // Right after the set-up: the activation restarted the OTP service
    // with the new database key, so the key check of the token database
    // is the new key's and the backup is accepted.
    ok(
        &mut b.vm,
        &mut n,
        &format!("mkdir -p -m 0700 {KEEP} && P='{PASSPHRASE}' appliance-backup --passphrase-env P create --components all --out {own}"),
        JOB_TIMEOUT,
    )?;
    eprintln!(
        "{NAME}: B is set up, its own backup written ({:.1} s)",
        since()
    );

    // 4. etc and tls only, from the data file.
    let v4 = Instant::now();
    let before = fingerprint(&mut b.vm, &mut n)?;
    let both_keys = format!("{},{}", b_shown.spki, a_shown.spki);
    let text = rt.block_on(async {
        let (browser, mut r) = browse(
            &both_keys,
            b.ports.new_https,
            &b.dir.join("chromium-profile-etc-tls"),
            &shots("etc-tls"),
        )
        .await?;
        dashboard::sign_in(&mut r, admin, admin_password).await?;
        let summary = backup::upload(&mut r, &files.data, PASSPHRASE, JOB_TIMEOUT).await?;
        ensure!(
            summary.components == ["etc", "tls", "token-db"],
            "the data file's summary offers {:?}: {}",
            summary.components,
            summary.text
        );
        let text = backup::restore(&mut r, &["etc", "tls"], JOB_TIMEOUT).await;
        let _ = browser.close().await;
        text
    })?;
    ensure!(
        text.contains("Appliance configuration /etc")
            && text.contains("SSL certificate and key")
            && !text.contains("Database encryption key")
            && !text.contains("The token database"),
        "the restore's messages are not for etc and tls alone: {text}"
    );
    serves(b.ports.new_https, &a_shown).context("after restoring etc and tls")?;
    wizard_after::config_checks(&mut b.vm, &INPUTS)
        .context("B's configuration after restoring etc and tls")?;
    let after = fingerprint(&mut b.vm, &mut n)?;
    ensure!(
        after == before,
        "restoring etc and tls changed the token database or its key: before {before:?}, after {after:?}"
    );
    eprintln!(
        "{NAME}: etc and tls only: A's certificate served, A's RADIUS client, FreeRADIUS active; key {} and dump {} ({} bytes) unchanged ({:.1} s)",
        after.key,
        after.dump,
        after.dump_bytes,
        v4.elapsed().as_secs_f64()
    );

    // 5. The two files, every component.
    let v5 = Instant::now();
    let mut r = rt.block_on(async {
        let (browser, mut r) = browse(
            &both_keys,
            b.ports.new_https,
            &b.dir.join("chromium-profile-two-files"),
            &shots("two-files"),
        )
        .await?;
        dashboard::sign_in(&mut r, admin, admin_password).await?;
        let summary =
            backup::upload_files(&mut r, &[&files.key, &files.data], PASSPHRASE, JOB_TIMEOUT)
                .await?;
        let mut offered = summary.components.clone();
        offered.sort();
        ensure!(
            offered == ALL,
            "the two files' summary offers {:?}: {}",
            summary.components,
            summary.text
        );
        anyhow::Ok((browser, r))
    })?;
    // The uploaded files, kept for step 6 (the restore removes them).
    let copied = ok(
        &mut b.vm,
        &mut n,
        &format!("cp {UPLOADS}/upload-1.backup.age {KEEP}/key.backup.age && cp {UPLOADS}/upload-2.backup.age {KEEP}/data.backup.age && sync && sha256sum {KEEP}/key.backup.age {KEEP}/data.backup.age"),
        Duration::from_secs(120),
    )?;
    ensure!(
        copied.contains(&key_sha) && copied.contains(&data_sha),
        "the uploaded files are not the downloaded ones ({key_sha}, {data_sha}): {copied}"
    );
    let text = rt.block_on(async {
        let text = backup::restore(&mut r.1, &ALL, JOB_TIMEOUT).await;
        let _ = r.0.close().await;
        text
    })?;
    eprintln!(
        "{NAME}: two files restored: {}",
        text.lines().find(|l| l.contains("Done")).unwrap_or("")
    );
    serves(b.ports.new_https, &a_shown).context("after restoring the two files")?;
    let key_now = fingerprint(&mut b.vm, &mut n)?.key;
    ensure!(
        key_now == a_key,
        "B's db.key is not A's after the restore: {key_now}, A's {a_key}"
    );
    // The flat-file user is not in backups (the backup page says so).
    otp_flow::add_user(&mut b.vm, b.ports.new_https, &a_shown.tls_colon)?;
    let pass = format!("{PIN}{}", otp_flow::hotp(&seed, next_otp));
    ensure!(
        otp_flow::validate(b.ports.new_https, &a_shown.tls_colon, USER, &pass)?,
        "validate/check refused A's token at counter {next_otp} after the restore"
    );
    eprintln!(
        "{NAME}: two files: B has A's key and A's token validates at counter {next_otp} ({:.1} s)",
        v5.elapsed().as_secs_f64()
    );

    // 6. Killed during a restore.
    kills(&mut b, &mut n, &a_shown, (&seed, next_otp), &own)?;
    eprintln!("{NAME}: all variants passed ({:.1} s in all)", since());
    Ok(Timings::since(started))
}

/// Step 6 (see the module's doc).
fn kills(b: &mut Booted, n: &mut u32, a: &Shown, token: (&[u8], u64), own: &str) -> Result<()> {
    let theirs = restore_cmd(&format!("{KEEP}/key.backup.age {KEEP}/data.backup.age"));
    let ours = restore_cmd(own);
    // The clean restore, timed from its start on the console to its end.
    ok(&mut b.vm, n, &ours, JOB_TIMEOUT).context("restoring B's own backup")?;
    let k = begin(&mut b.vm, n, &theirs)?;
    let t = Instant::now();
    let out = b.vm.expect(&format!("END-{k}-"), JOB_TIMEOUT)?;
    let clean = t.elapsed();
    let status = b.vm.expect("\n", Duration::from_secs(10))?;
    ensure!(
        status.trim() == "0",
        "the clean console restore exited {}: {out}",
        status.trim()
    );
    let reference = fingerprint(&mut b.vm, n)?;
    ensure!(
        out.contains("token-db: restored"),
        "the clean restore: {out}"
    );
    restored_right(b, n, &reference, a, token).context("after the clean console restore")?;
    eprintln!(
        "{NAME}: clean console restore of the two files: {:.1} s; key {}, dump {} ({} bytes)",
        clean.as_secs_f64(),
        reference.key,
        reference.dump,
        reference.dump_bytes
    );

    let seed = std::env::var("RESTORE_VARIANTS_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
        | 1;
    let mut rng = seed ^ 0x9E37_79B9_7F4A_7C15;
    let span = clean.as_millis().max(1) as u64;
    eprintln!("{NAME}: seed {seed} (RESTORE_VARIANTS_SEED)");
    let mut tally = std::collections::BTreeMap::new();
    let (mut inside, mut i) = (0, 0);
    // A kill after the restore finished does not count: another round
    // follows (the restore is not always as slow as the clean one).
    while inside < KILLS {
        ensure!(
            i < 3 * KILLS,
            "only {inside} of {i} kills landed inside the restore"
        );
        let delay = Duration::from_millis(kill_delay(&mut rng, span, i));
        let round = Instant::now();
        ok(&mut b.vm, n, &ours, JOB_TIMEOUT)
            .with_context(|| format!("round {i}: restoring B's own backup"))?;
        let k = begin(&mut b.vm, n, &theirs)?;
        std::thread::sleep(delay);
        let finished = b.vm.text().contains(&format!("END-{k}-"));
        b.vm.kill()?;
        let mut vm = start(&b.cfg, &b.dir, &format!("kill{i}"))?.vm;
        vm.expect("login:", LOGIN_TIMEOUT)
            .with_context(|| format!("round {i}: the boot after the kill"))?;
        b.vm = vm;
        root_shell(&mut b.vm, INPUTS.root_password)
            .with_context(|| format!("round {i}: root's shell after the kill"))?;
        // The boot finished (the recover unit ran, MariaDB is up).
        sh(
            &mut b.vm,
            n,
            "timeout 600 systemctl is-system-running --wait; timeout 300 sh -c 'until mariadb -e \"SELECT 1\" >/dev/null 2>&1; do sleep 2; done'",
            JOB_TIMEOUT,
        )?;
        let (recovered, _) = sh(
            &mut b.vm,
            n,
            "journalctl -b -o cat --no-pager -u appliance-backup-recover.service | grep -v -e '^Start' -e '^Finish' -e 'Deactivated'",
            Duration::from_secs(120),
        )?;
        let t = Instant::now();
        let out = ok(&mut b.vm, n, &theirs, JOB_TIMEOUT)
            .with_context(|| format!("round {i}: the restore after the kill"))?;
        let again = t.elapsed();
        restored_right(b, n, &reference, a, token)
            .with_context(|| format!("round {i}: after the restore that followed the kill"))?;
        let at = landed(&recovered, finished);
        *tally.entry(at).or_insert(0) += 1;
        i += 1;
        if !finished {
            inside += 1;
        }
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(": restored"))
            .map(|l| l.split(';').next().unwrap_or(l).trim())
            .collect();
        eprintln!(
            "{NAME}: round {i}, kill {inside}/{KILLS} inside, at {:.1} s of {:.1} s: {at}; the restore again: {:.1} s ({}); right ({:.1} s for the round)",
            delay.as_secs_f64(),
            clean.as_secs_f64(),
            again.as_secs_f64(),
            lines.join(", "),
            round.elapsed().as_secs_f64()
        );
    }
    eprintln!("{NAME}: where the kills landed: {tally:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b_differs_from_a_only_in_radius_and_stays_out_of_ci() {
        const { assert!(B_INPUTS.no_radius && !INPUTS.no_radius) };
        assert_eq!(B_INPUTS.address, INPUTS.address);
        let s = scenarios();
        assert_eq!(s[0].name, NAME);
        assert!(!s[0].representative && s[0].needs.reference);
    }

    #[test]
    fn the_console_commands_quote_the_passphrase() {
        let c = restore_cmd("/k /d");
        assert!(c.starts_with(&format!(
            "P='{PASSPHRASE}' appliance-backup --passphrase-env P restore"
        )));
        assert!(!PASSPHRASE.contains('\''));
    }

    #[test]
    fn the_boots_recover_line_names_the_phase() {
        assert!(landed("an interrupted restore was rolled back", false).contains("prepare"));
        assert!(landed("an interrupted restore was completed: etc", false).contains("commit"));
        assert!(landed("-- No entries --", false).contains("staging"));
        assert!(landed("", true).contains("finished"));
    }

    #[test]
    fn odd_rounds_aim_at_the_last_part_of_the_restore() {
        let mut rng = 777u64;
        for i in 0..40 {
            let d = kill_delay(&mut rng, 10_000, i);
            assert!(d < 10_000, "{d}");
            if !i.is_multiple_of(2) {
                assert!(d >= 6_000, "round {i}: {d}");
            }
        }
    }

    #[test]
    fn the_kill_delays_spread_below_the_span() {
        let mut rng = 12345u64;
        let d: Vec<u64> = (0..100).map(|_| next(&mut rng) % 30_000).collect();
        assert!(d.iter().all(|&x| x < 30_000));
        assert!(d.iter().any(|&x| x < 10_000) && d.iter().any(|&x| x > 20_000));
    }
}
