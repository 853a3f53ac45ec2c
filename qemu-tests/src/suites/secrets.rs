//! `install-secrets`: no secret in any output channel. The installer boots
//! directly (QEMU `-kernel`) with an answers URL carrying a user name, a
//! password and a token (`https://installer:<password>@10.0.2.2:<port>/a.json?token=<token>`,
//! served by `crate::servers::flaky` only to a request with exactly those
//! credentials; its certificate chains to the test vendor CA in the ISO).
//! The answers pick DHCP, the disk and the layout but no serial number, so
//! it is typed: once with a typo, once with Y and Z swapped, then right.
//! The first install fails on a tampered rootfs object with a `SUPPORT`
//! stick attached; the server is healed, Retry installs.
//!
//! Afterwards every channel is searched for the password, the token and
//! each typed serial in every spelling (grouped or not, any case, Y and Z
//! swapped): the console transcript, the events from `ttyS1`, the support
//! bundle on the stick and `/handover/installer.log` on the installed disk.
//! The kernel prints its own command line on the console unless told to be
//! quiet, so the command line has `quiet` (docs/answer-file.md says so).

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use protocol::{ids, Event};

use crate::expect_event;
use crate::harness::disk::empty_disk;
use crate::harness::qemu::{Contents, Controller, Drive, Firmware, Medium};
use crate::harness::session::{check, STEP_TIMEOUT};
use crate::scenario::{Needs, RunOptions, Scenario, Script, Timings};
use crate::servers::flaky::{Corruption, Flaky, FlakyConfig, Guarded};
use crate::servers::vendor;
use crate::steps::{
    boot_file, direct_vm, install_end, read_bundle, rootfs_object, serial_event, start,
    support_volume, target_drive,
};

/// TEST credentials of the answers URL.
const USER: &str = "installer";
const PASSWORD: &str = "TEST-pa55word-9u2";
const TOKEN: &str = "TEST-t0ken-4711x";

/// The scenario (in the CI set: it is the secrets scan).
pub fn scenarios() -> Vec<Scenario> {
    let mut s = Scenario::boot("install-secrets".into(), Firmware::Bios, Medium::Cd);
    s.script = Script::Custom(secrets);
    s.representative = true;
    s.needs = Needs {
        iso: true,
        appliance: false,
        backend: true,
        reference: false,
    };
    vec![s]
}

/// What is typed at the serial prompt: one symbol wrong, Y and Z swapped,
/// right.
fn typed() -> [String; 3] {
    let right = vendor::entitled_yz().to_string();
    let mut typo = right.clone().into_bytes();
    typo[6] = if typo[6] == b'A' { b'B' } else { b'A' };
    [
        String::from_utf8(typo).unwrap_or_default(),
        swap_yz(&right),
        right,
    ]
}

fn swap_yz(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'Y' => 'Z',
            'Z' => 'Y',
            c => c,
        })
        .collect()
}

/// Every text no channel may hold, in lower case: the password, the token,
/// and each typed serial grouped with `-`, with spaces, ungrouped, and each
/// of those with Y and Z swapped.
fn forbidden() -> Vec<String> {
    let mut all = vec![PASSWORD.to_lowercase(), TOKEN.to_lowercase()];
    for t in typed() {
        let symbols: String = t.chars().filter(|c| *c != '-').collect();
        for s in [symbols.clone(), swap_yz(&symbols)] {
            let groups: Vec<&str> = (0..4).map(|g| &s[g * 4..g * 4 + 4]).collect();
            for spelling in [groups.join("-"), groups.join(" "), s.clone()] {
                all.push(spelling.to_lowercase());
            }
        }
    }
    all.sort();
    all.dedup();
    all
}

/// The forbidden texts found in `text`.
fn leaks(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    forbidden()
        .into_iter()
        .filter(|f| lower.contains(f.as_str()))
        .collect()
}

fn secrets(_s: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Timings> {
    let started = Instant::now();
    let b = opts.backend()?;
    // The answers: DHCP, the target disk, consent; no serial number.
    let answers_dir = dir.join("answers");
    fs::create_dir_all(&answers_dir)?;
    fs::write(
        answers_dir.join("a.json"),
        br#"{"version": 1, "network": {"mode": "dhcp"}, "keyboard": "us",
             "disk": {"serial": "TARGET0001"}, "erase_disk": true, "finish": "reboot"}"#,
    )?;
    let mut config = FlakyConfig::new(
        &b.repo,
        &b.cert,
        &b.key,
        SocketAddr::from(([127, 0, 0, 1], 0)),
    );
    config.corrupt = Some(Corruption {
        path: rootfs_object(opts)?,
        offset: 5 << 20,
    });
    config.guarded = Some(Guarded {
        root: answers_dir,
        userinfo: format!("{USER}:{PASSWORD}"),
        query: format!("token={TOKEN}"),
    });
    let server = Flaky::start(config)?;
    let port = server.listen().port();
    let params = format!(
        "quiet installer.answers=https://{USER}:{PASSWORD}@10.0.2.2:{port}/a.json?token={TOKEN} installer.backend=https://10.0.2.2:{port}/"
    );
    let target = dir.join("target.img");
    empty_disk(&target, 2048)?;
    let support = dir.join("support.img");
    support_volume(&support)?;
    let mut cfg = direct_vm(opts, &opts.iso, dir, "install", &params)?;
    cfg.drives.push(Drive {
        id: "support".into(),
        image: support.clone(),
        contents: Contents::Writable,
        controller: Controller::Ide {
            bus: 0,
            unit: Some(1),
        },
        serial: None,
        bootindex: None,
    });
    cfg.drives.push(target_drive(
        Controller::Ide { bus: 1, unit: None },
        &target,
        None,
    ));
    let mut s = start(&cfg, dir, "install")?;
    let source = expect_event!(s, STEP_TIMEOUT, Event::Answers { source } => source.clone())?;
    check(
        &s,
        source.starts_with("installer.answers=https://***@10.0.2.2:"),
        &format!("answers source: {source}"),
    )?;

    let [typo, swapped, right] = typed();
    s.answer(ids::SERIAL_MENU, "s")?;
    s.answer(ids::SERIAL_NUMBER, &typo)?;
    let (_, message) = s.expect_invalid()?;
    check(&s, message.contains("typo"), &format!("typo: {message}"))?;
    s.answer(ids::SERIAL_NUMBER, &swapped)?;
    let (_, message) = s.expect_invalid()?;
    check(
        &s,
        message.contains("with the Y and Z at positions"),
        &format!("Y/Z swap: {message}"),
    )?;
    s.answer(ids::SERIAL_NUMBER, &right)?;
    let (outcome, _, message) = serial_event(&mut s)?;
    check(
        &s,
        outcome == "verified",
        &format!("serial: {outcome}: {message}"),
    )?;
    s.answer(ids::SERIAL_CONTINUE, "")?;
    s.answer(ids::INSTALL_AGREE, "y")?;
    s.answer(ids::INSTALL_START, "")?;
    let failed = install_end(&mut s)?;
    check(
        &s,
        matches!(
            &failed,
            Err(Event::InstallFailed {
                bundle: Some(_),
                ..
            })
        ),
        &format!("the first install must fail with a bundle: {failed:?}"),
    )?;
    server.heal();
    s.answer(ids::INSTALL_FAILED, "r")?;
    let done = install_end(&mut s)?;
    check(&s, done.is_ok(), &format!("the retry failed: {done:?}"))?;
    expect_event!(s, STEP_TIMEOUT, Event::Power { .. } => ())?;
    s.expect_exit()?;

    let asked: Vec<_> = server
        .log()
        .into_iter()
        .filter(|r| r.path.starts_with("/a.json"))
        .collect();
    ensure!(
        asked.iter().any(|r| r.status == 200),
        "the answers were not fetched with the credentials: {asked:?}"
    );
    let console = s.vm.text();
    let events = fs::read_to_string(&cfg.events)
        .with_context(|| format!("reading {}", cfg.events.display()))?;
    let bundle = read_bundle(&support)?;
    let log = String::from_utf8_lossy(&boot_file(
        &target,
        Firmware::Bios,
        "handover/installer.log",
    )?)
    .into_owned();
    // Each channel is the real one: it holds what it should.
    ensure!(
        console.contains("Serial number XXXX-XXXX-XXXX-"),
        "the console lacks the serial screen"
    );
    ensure!(events.contains("\"event\":\"invalid\""), "no invalid event");
    ensure!(
        bundle.contains("Failed while: downloading rootfs"),
        "the bundle lacks the failure"
    );
    ensure!(
        log.contains("installer.answers=https://***@10.0.2.2:"),
        "the installed log lacks the answers source"
    );
    let mut found = Vec::new();
    for (channel, text) in [
        ("console", &console),
        ("events (ttyS1)", &events),
        ("support bundle", &bundle),
        ("/handover/installer.log", &log),
    ] {
        let hits = leaks(text);
        if !hits.is_empty() {
            found.push(format!("{channel}: {hits:?}"));
        }
    }
    ensure!(found.is_empty(), "secrets found: {}", found.join("; "));
    eprintln!(
        "install-secrets: {} forbidden spellings, 0 hits in 4 channels ({} + {} + {} + {} bytes)",
        forbidden().len(),
        console.len(),
        events.len(),
        bundle.len(),
        log.len()
    );
    Ok(Timings::since(started))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typed_serial_is_searched_in_every_spelling() {
        let f = forbidden();
        // Password, token; the right one and the Y/Z-swapped one are each
        // other's swaps: 3 distinct serials, 4 with the typo's swap.
        assert_eq!(f.len(), 2 + 4 * 3);
        let right = vendor::entitled_yz().to_string();
        assert!(right.contains('Y') && right.contains('Z'), "{right}");
        let loose = format!("typed {} here", right.to_lowercase().replace('-', " "));
        assert_eq!(leaks(&loose).len(), 1, "{loose}");
        assert!(leaks(&format!("x {} y", swap_yz(&right).replace('-', ""))).len() == 1);
        assert!(leaks(&format!("?token={TOKEN}")).len() == 1);
        assert!(leaks("XXXX-XXXX-XXXX-1234 ********").is_empty());
    }
}
