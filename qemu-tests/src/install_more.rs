//! More install scenarios (see [`crate::install_faults`] for the set-up):
//! Hyper-V Gen1's DMI strings, the offline ISO, and QEMU killed during the
//! write.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::install::INSTALL_TIMEOUT;
use crate::install_faults::{
    answers, empty_disk, expect_installed, flaky, inspect_and_boot, must_not_boot, start,
    start_with, timings, CASE,
};
use crate::scenario::{RunOptions, Scenario, Timings};
use crate::session::check;

/// Hyper-V Gen1's DMI strings (so `ata_piix` leaves IDE disks to
/// hv_storvsc, which QEMU cannot provide): the CD is still found, and the
/// missing disk is explained.
pub(crate) fn hyperv_dmi(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let http = answers(opts)?;
    let server = flaky(opts, 1, 0, None)?;
    let target = dir.join("target.img");
    empty_disk(&target, CASE.disk_mib)?;
    let dmi = [
        "-smbios",
        "type=1,manufacturer=Microsoft Corporation,product=Virtual Machine",
    ];
    let mut s = start_with(
        opts,
        &opts.iso,
        dir,
        "install",
        server.listen().port(),
        &http,
        std::slice::from_ref(&target),
        &dmi,
        "tulip",
    )?;
    let m = s.expect_event("medium", INSTALL_TIMEOUT)?;
    check(
        &s,
        m["kind"] == "cdrom",
        &format!("the CD was not found: {m}"),
    )?;
    let d = s.expect_event("disks", INSTALL_TIMEOUT)?;
    let seen = d["disks"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["serial"] == "TARGET0001"));
    check(
        &s,
        !seen,
        &format!("ata_piix should ignore the IDE disk on Hyper-V: {d}"),
    )?;
    s.answer("stop.action", "p")?;
    s.expect_exit()?;
    let text = s.vm.text();
    ensure!(
        text.contains("this is a Hyper-V virtual machine"),
        "the stop screen does not explain the missing disk"
    );
    Ok(timings(started))
}

/// The offline ISO: components come from the medium, so the backend (the
/// flaky server, which logs every request) sees no object request.
pub(crate) fn offline(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let iso = opts
        .offline_iso
        .clone()
        .context("no offline ISO was built")?;
    let http = answers(opts)?;
    let server = flaky(opts, 1, 0, None)?;
    let target = dir.join("target.img");
    empty_disk(&target, CASE.disk_mib)?;
    let mut s = start_with(
        opts,
        &iso,
        dir,
        "install",
        server.listen().port(),
        &http,
        std::slice::from_ref(&target),
        &[],
        CASE.nic,
    )?;
    let done = expect_installed(&mut s, "the offline install failed")?;
    let objects: Vec<String> = server
        .log()
        .iter()
        .filter(|r| r.path.starts_with("/objects/"))
        .map(|r| r.path.clone())
        .collect();
    ensure!(
        objects.is_empty(),
        "the offline install downloaded {objects:?}"
    );
    ensure!(
        s.vm.text().contains("from the installation medium"),
        "the console does not say the components came from the medium"
    );
    inspect_and_boot(opts, dir, &target, &done)?;
    Ok(timings(started))
}

/// A small PRNG (xorshift) for the kill points; the seed is printed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

pub(crate) fn killed(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let http = answers(opts)?;
    let server = flaky(opts, 1, 0, None)?;
    let target = dir.join("target.img");
    empty_disk(&target, CASE.disk_mib)?;
    let seed = started.elapsed().as_nanos() as u64 | 1;
    let mut rng = seed ^ 0x9E37_79B9_7F4A_7C15;
    eprintln!("install-fault-kill: seed {seed}");
    let mut kills = 0;
    for i in 0..20 {
        if kills == 10 {
            break;
        }
        let mut s = start(
            opts,
            dir,
            &format!("kill{i}"),
            server.listen().port(),
            &http,
            std::slice::from_ref(&target),
        )?;
        s.expect_event("install", INSTALL_TIMEOUT)?;
        // The install writes for about 10 s under TCG; kill anywhere in it.
        let after = Duration::from_millis(next(&mut rng) % 10_000);
        std::thread::sleep(after);
        let finished = s.saw("installed")?;
        drop(s);
        eprintln!(
            "install-fault-kill: run {i} killed {:.1} s into the install{}",
            after.as_secs_f64(),
            if finished { " (it had finished)" } else { "" }
        );
        if !finished {
            kills += 1;
            must_not_boot(
                opts,
                dir,
                &format!("kill{i}-disk"),
                &target,
                Duration::from_secs(25),
            )?;
            // Re-run from the ISO: it must complete on the half-written disk.
            rerun(
                opts,
                dir,
                &format!("rerun{i}"),
                server.listen().port(),
                &http,
                &target,
            )?;
        }
    }
    ensure!(
        kills == 10,
        "only {kills} of 20 runs were killed during the install"
    );
    let mut s = start(
        opts,
        dir,
        "final",
        server.listen().port(),
        &http,
        std::slice::from_ref(&target),
    )?;
    let done = expect_installed(&mut s, "the re-run failed")?;
    inspect_and_boot(opts, dir, &target, &done)?;
    Ok(timings(started))
}

/// A complete unattended install; fails unless it ends with `installed`.
fn rerun(
    opts: &RunOptions,
    dir: &Path,
    tag: &str,
    port: u16,
    http: &crate::http::Server,
    target: &Path,
) -> Result<()> {
    let mut s = start(opts, dir, tag, port, http, &[target.to_path_buf()])?;
    expect_installed(&mut s, &format!("the re-run {tag} failed")).map(|_| ())
}
