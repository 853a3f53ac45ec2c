//! `cargo xtask` — the one entry point for people and CI. The commands and
//! their options are defined once, in [`flags`]; `cargo xtask --help` prints
//! them.

mod appliance;
mod assemble;
mod bench;
mod bench_backup;
mod bench_baseline;
mod bench_boot;
mod bench_install;
mod bench_otp;
mod bootfiles;
mod check;
mod cmd;
mod deb;
mod debroot;
mod epoch;
mod flags;
mod fuzz;
mod initramfs;
mod inputs;
mod keymaps;
mod kmodset;
mod lockfile;
mod mariadb;
mod modpack;
mod product;
mod project;
mod qemu;
mod reference;
mod repo;
mod repo_license;
mod serve;
mod testrepo;
mod testvendor;
mod tree;
mod vendorcfg;

use anyhow::{anyhow, bail, Result};

use flags::{Benchmark, Parsed, RepoCmd, XtaskCmd};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = std::env::args_os().skip(1).collect();
    let cmd = match flags::parse(args) {
        Ok(Parsed::Run(x)) => x.subcommand,
        Ok(Parsed::Help(text)) => {
            print!("{text}");
            return Ok(());
        }
        Err(e) => bail!("{e}; see `cargo xtask --help`"),
    };
    match cmd {
        XtaskCmd::Inputs(f) => {
            if f.update {
                inputs::update()
            } else {
                let i = inputs::ensure()?;
                for p in &i.lock.pins {
                    println!("{} {} ok", p.package, p.version);
                }
                Ok(())
            }
        }
        XtaskCmd::Iso(f) => {
            // The floors come from the repository the ISO is built against.
            let floors_from = match (&f.floors_from, &f.offline_repo) {
                (Some(dir), _) | (None, Some(dir)) => Some(dir.clone()),
                (None, None) if f.trusted_key.is_empty() => testrepo::ensure_keys()?.floors_from(),
                (None, None) => None,
            };
            let vendor = vendorcfg::VendorArgs {
                backend_url: f.backend,
                model: f.model,
                channel: f.channel,
                trusted_keys: f.trusted_key,
                ca: f.vendor_ca,
                min_manifest_version: f.min_manifest_version.unwrap_or(0),
                min_serial_version: f.min_serial_version.unwrap_or(0),
                floors_from,
            }
            // Without --trusted-key or --vendor-ca the ISO trusts the test vendor.
            .resolve(testrepo::trust)?;
            let mut opts = assemble::IsoOptions::from_env(f.out, vendor)?;
            opts.answers = f.answers;
            opts.offline = match (f.offline, f.offline_repo) {
                (_, Some(dir)) => Some(dir),
                (true, None) => Some(testrepo::ensure()?.repo),
                (false, None) => None,
            };
            let (path, _) = assemble::build(&opts)?;
            println!("{}", path.display());
            Ok(())
        }
        XtaskCmd::Appliance(f) => {
            let opts = appliance::Options::from_env(f.out)?;
            appliance::build(&opts)?;
            println!("{}", opts.out.display());
            Ok(())
        }
        XtaskCmd::ApplianceRoot(f) => match (f.update, f.check_reproducible) {
            (true, true) => bail!("give --update or --check-reproducible, not both"),
            (true, false) => debroot::update(f.out),
            (false, check) => {
                let image = if check {
                    debroot::check_reproducible(f.out, f.licence_key)?
                } else {
                    debroot::build(f.out, f.licence_key)?
                };
                println!("{}", image.path.display());
                Ok(())
            }
        },
        XtaskCmd::ApplianceReference(f) => {
            let built = reference::build(f.out, f.keep_root, f.licence_key)?;
            println!("{}", built.dir.display());
            Ok(())
        }
        XtaskCmd::CheckIso(f) => {
            let path = match f.path {
                Some(p) => p,
                None => {
                    let vendor = vendorcfg::VendorArgs::default().resolve(testrepo::trust)?;
                    assemble::build(&assemble::IsoOptions::from_env(None, vendor)?)?.0
                }
            };
            check::check_iso(&path)
        }
        XtaskCmd::QemuTest(f) => {
            let opts = qemu::QemuTestOptions {
                all: f.all,
                list: f.list,
                kvm: f.kvm,
                scenarios: f.scenario,
                jobs: f.jobs.unwrap_or(2),
                iso: f.iso,
                reference: f.reference,
            };
            qemu::qemu_test(&opts).map(|_| ())
        }
        XtaskCmd::Bench(f) => match f.benchmark {
            Benchmark::Boot => bench_boot::boot(&bench_boot::BootOptions {
                baseline: match (f.baseline_rev, f.baseline_iso) {
                    (Some(_), Some(_)) => bail!("give --baseline-rev or --baseline-iso, not both"),
                    (Some(rev), None) => bench_boot::Baseline::Rev(rev),
                    (None, Some(iso)) => bench_boot::Baseline::Iso(iso),
                    (None, None) => bench_boot::Baseline::BeforeModulePack,
                },
                rounds: f.rounds.unwrap_or(bench_boot::DEFAULT_ROUNDS),
                cd: f.cd,
            }),
            _ if f.baseline_rev.is_some()
                || f.baseline_iso.is_some()
                || f.rounds.is_some()
                || f.cd =>
            {
                bail!(
                    "--baseline-rev, --baseline-iso, --rounds and --cd belong to `bench boot` only"
                )
            }
            Benchmark::Iso => bench::iso(),
            Benchmark::Backup => bench_backup::run(),
            Benchmark::Install => bench_install::install(!f.no_floor, f.rounds.unwrap_or(3)),
            Benchmark::Otp => bench_otp::otp(),
        },
        XtaskCmd::Repo(f) => repo_command(f.subcommand),
        XtaskCmd::Fuzz(f) => {
            if f.list {
                for t in fuzz::TARGETS {
                    println!("{t}");
                }
                return Ok(());
            }
            let budget = match (f.seconds, f.runs) {
                (Some(_), Some(_)) => bail!("give --seconds or --runs, not both"),
                (_, Some(n)) => fuzz::Budget::Runs(n),
                (s, None) => fuzz::Budget::Seconds(s.unwrap_or(60)),
            };
            let opts = fuzz::Options {
                budget,
                targets: f.target,
            };
            fuzz::run(&opts).map(|_| ())
        }
        XtaskCmd::Ci(_) => check::ci(),
    }
}

fn repo_command(cmd: RepoCmd) -> Result<()> {
    match cmd {
        RepoCmd::Keygen(f) => {
            let key = repo::keygen(&f.out, f.test)?;
            println!(
                "{} written to {} (0600) and {}",
                key.id,
                f.out.display(),
                repo::public_path(&f.out).display()
            );
            Ok(())
        }
        RepoCmd::Publish(f) => {
            let key = repo::read_key(&f.key)?;
            let days = f.valid_days.unwrap_or(repo::DEFAULT_VALID_DAYS);
            let snapshot_days = f.snapshot_days.unwrap_or(repo::SNAPSHOT_VALID_DAYS);
            repo::publish(&f.repo, &key, &f.release, days, snapshot_days)
        }
        RepoCmd::AddSerial(f) => {
            let key = repo::read_key(&f.key)?;
            let serial = match f.serial {
                Some(s) => {
                    Some(vendor_repo::Serial::parse(&s).map_err(|e| anyhow!("--serial {s}: {e}"))?)
                }
                None => None,
            };
            let until = match f.until {
                Some(d) => Some(repo::parse_date(&d)?),
                None => None,
            };
            repo::add_serial(repo::AddSerial {
                repo: &f.repo,
                key: &key,
                serial,
                entitlements: vec![vendor_repo::registry::Entitlement {
                    model: f.model,
                    channels: f.channel,
                    until,
                }],
                valid_days: f.valid_days.unwrap_or(repo::DEFAULT_VALID_DAYS),
                snapshot_days: f.snapshot_days.unwrap_or(repo::SNAPSHOT_VALID_DAYS),
            })
            .map(|_| ())
        }
        RepoCmd::License(f) => {
            let key = repo::read_key(&f.key)?;
            repo_license::write(
                &key,
                &repo_license::LicenseInput {
                    licensee: f.licensee,
                    product: f.product.unwrap_or_else(|| "example-appliance".into()),
                    valid_from: f.valid_from,
                    expire: f.expire,
                    token_num: f.token_num.unwrap_or(50),
                    subscription: f.subscription.unwrap_or_else(|| "standard".into()),
                    contact_email: f.contact_email,
                },
                &f.out,
            )
        }
        RepoCmd::Timestamp(f) => {
            let key = repo::read_key(&f.key)?;
            let days = f.valid_days.unwrap_or(repo::SNAPSHOT_VALID_DAYS);
            repo::timestamp(&f.repo, &key, days)
        }
        RepoCmd::Serve(f) => {
            let listen = f.listen.unwrap_or(format!("127.0.0.1:{}", testrepo::PORT));
            let tls = match (f.plain, f.cert, f.key) {
                (true, None, None) => None,
                (false, Some(cert), Some(key)) => Some(serve::Tls { cert, key }),
                (false, None, None) => {
                    let t = testrepo::ensure_keys()?.tls;
                    println!("using the TEST certificate {}", t.server_cert.display());
                    Some(serve::Tls {
                        cert: t.server_cert,
                        key: t.server_key,
                    })
                }
                _ => bail!("give --cert and --key together, or --plain"),
            };
            serve::serve(&f.repo, &listen, tls)
        }
        RepoCmd::TestVendor(f) => {
            let v = testrepo::ensure()?;
            if f.reference {
                testrepo::publish_reference(&v)?;
            }
            println!("{}", v.repo.display());
            Ok(())
        }
    }
}
