//! `cargo xtask qemu-test`: boots the ISO in the scenarios of `qemu-tests`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use qemu_tests::qemu::FirmwarePaths;
use qemu_tests::scenario::{self, IsoVariant, Outcome, RunOptions};

use crate::assemble::{self, IsoOptions};
use crate::{appliance, project, reference, testrepo};

#[derive(Debug, Clone)]
pub struct QemuTestOptions {
    pub all: bool,
    pub list: bool,
    pub kvm: bool,
    pub scenarios: Vec<String>,
    pub jobs: usize,
    pub iso: Option<PathBuf>,
    /// A reference appliance build to use instead of building one.
    pub reference: Option<PathBuf>,
}

/// Runs the chosen scenarios; fails when any fails. Returns the outcomes for benchmarks.
pub fn qemu_test(opts: &QemuTestOptions) -> Result<Vec<Outcome>> {
    let all = qemu_tests::catalog::all();
    if opts.list {
        for s in &all {
            println!(
                "{}{}",
                s.name,
                if s.representative {
                    "  (representative)"
                } else {
                    ""
                }
            );
        }
        return Ok(Vec::new());
    }
    let chosen: Vec<_> = if !opts.scenarios.is_empty() {
        let mut v = Vec::new();
        for name in &opts.scenarios {
            match all.iter().find(|s| &s.name == name) {
                Some(s) => v.push(s.clone()),
                None => bail!("no scenario `{name}`; `cargo xtask qemu-test --list` shows them"),
            }
        }
        v
    } else if opts.all {
        all
    } else {
        all.into_iter().filter(|s| s.representative).collect()
    };
    // The test backend's repository (this also builds the sample appliance).
    let vendor = testrepo::ensure().context("preparing the test vendor repository")?;
    // Every ISO built here talks to the test backend and trusts the test key.
    let iso_options = |out: Option<PathBuf>| IsoOptions::from_env(out, vendor.iso_vendor());
    let iso = match &opts.iso {
        Some(p) => p.clone(),
        // The appliance scenarios boot without the installer ISO.
        None if !chosen.iter().any(|s| s.needs_iso()) => PathBuf::new(),
        None => assemble::build(&iso_options(None)?)?.0,
    };
    let appliance_dir = Some(appliance::Options::from_env(None)?.out);
    // The reference appliance (root, minutes) only when a scenario boots it.
    let reference_dir = match &opts.reference {
        Some(dir) => Some(dir.clone()),
        None if chosen.iter().any(|s| s.needs.reference) => {
            Some(reference::build(None, false, None)?.dir)
        }
        None => None,
    };
    let data_dir = project::root().join("qemu-tests").join("data");
    let mut variants: Vec<IsoVariant> = chosen
        .iter()
        .map(|s| s.iso)
        .filter(|v| *v != IsoVariant::Default)
        .collect();
    variants.sort_unstable();
    variants.dedup();
    // The installs of the reference appliance download it from the test
    // repository's channel `reference`.
    if variants
        .iter()
        .any(|v| matches!(v, IsoVariant::Reference(_)))
    {
        let dir = reference_dir
            .as_deref()
            .context("the reference appliance was not built")?;
        testrepo::publish_reference_for_tests(&vendor, dir)?;
    }
    // The test releases of other channels, published before the ISOs take
    // their floors from the repository.
    let mut channels: Vec<&str> = variants
        .iter()
        .filter_map(|v| match v {
            IsoVariant::ChannelAnswers(channel, _) => Some(*channel),
            _ => None,
        })
        .collect();
    channels.dedup();
    for channel in channels {
        match channel {
            qemu_tests::suites::hardware::BENCH_CHANNEL => {
                testrepo::publish_bench(&vendor)?;
            }
            other => bail!("the test vendor has no release on the channel `{other}`"),
        }
    }
    let mut isos = std::collections::BTreeMap::new();
    for variant in variants {
        let name = match variant {
            IsoVariant::Default => continue,
            IsoVariant::Answers(file) => format!("answers-{file}.iso"),
            IsoVariant::Offline => "offline.iso".into(),
            IsoVariant::Reference(None) => "reference.iso".into(),
            IsoVariant::Reference(Some(file)) => format!("reference-answers-{file}.iso"),
            IsoVariant::ChannelAnswers(channel, file) => format!("answers-{channel}-{file}.iso"),
        };
        // The vendor settings are read again: publishing moved the floors.
        let mut o = IsoOptions::from_env(
            Some(project::target_dir().join("iso").join(name)),
            vendor.iso_vendor(),
        )?;
        match variant {
            IsoVariant::Default => {}
            IsoVariant::Answers(file) => o.answers = Some(data_dir.join(file)),
            IsoVariant::Offline => o.offline = Some(vendor.repo.clone()),
            IsoVariant::Reference(answers) => {
                o.vendor.channel = reference::CHANNEL.into();
                o.answers = answers.map(|f| data_dir.join(f));
            }
            IsoVariant::ChannelAnswers(channel, file) => {
                o.vendor.channel = channel.into();
                o.answers = Some(data_dir.join(file));
            }
        }
        isos.insert(variant, assemble::build(&o)?.0);
    }
    let run = RunOptions {
        iso,
        isos,
        data_dir,
        out_dir: scenario::default_out_dir(&project::target_dir()),
        kvm: opts.kvm,
        memory_mib: 1024,
        firmware: FirmwarePaths::default(),
        appliance_dir,
        backend: Some(qemu_tests::scenario::Backend {
            repo: vendor.repo.clone(),
            cert: vendor.tls.server_cert.clone(),
            key: vendor.tls.server_key.clone(),
        }),
        reference_dir,
    };
    eprintln!(
        "running {} scenario(s) with {} job(s) under {}; logs in {}",
        chosen.len(),
        opts.jobs,
        if opts.kvm { "KVM" } else { "TCG" },
        run.out_dir.display()
    );
    // The test backend: the test vendor's repository over HTTPS on the
    // host's loopback, which guests reach as 10.0.2.2 (user networking).
    let nginx = qemu_tests::nginx::Nginx::start(&qemu_tests::nginx::NginxConfig {
        root: vendor.repo.clone(),
        cert: vendor.tls.server_cert.clone(),
        key: vendor.tls.server_key.clone(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], testrepo::PORT)),
        work_dir: project::target_dir().join("qemu-tests").join("nginx"),
    })
    .context("starting the test backend (nginx)")?;
    eprintln!(
        "test backend: {} serving {}",
        nginx.base_url(),
        vendor.repo.display()
    );
    let outcomes = scenario::run_all(&chosen, &run, opts.jobs);
    drop(nginx);
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    println!(
        "qemu-test: {} passed, {} failed",
        outcomes.len() - failed,
        failed
    );
    if failed > 0 {
        bail!(
            "{failed} QEMU scenario(s) failed; see the logs above and under {}",
            run.out_dir.display()
        );
    }
    Ok(outcomes)
}
