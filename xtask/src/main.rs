//! `cargo xtask` — the one entry point for people and CI.
//!
//! ```text
//! cargo xtask inputs [--update]      fetch + verify the pinned Debian packages (or re-pin them)
//! cargo xtask iso [--out PATH] [--answers FILE]   build the installer ISO; prints its path
//! cargo xtask appliance [--out DIR]  build the sample appliance's components (target/appliance)
//! cargo xtask check-iso [PATH]       inspect a built ISO with the reference tools
//! cargo xtask qemu-test [--all] [--scenario NAME]… [--kvm] [--jobs N] [--iso PATH] [--list]
//! cargo xtask bench iso              timings: warm build, our writer vs xorriso, boot to first screen
//! cargo xtask ci                     everything CI runs, in order
//! ```

mod appliance;
mod assemble;
mod bench;
mod bootfiles;
mod check;
mod cmd;
mod deb;
mod initramfs;
mod inputs;
mod keymaps;
mod lockfile;
mod product;
mod project;
mod qemu;
mod repo;
mod serve;
mod testrepo;
#[allow(dead_code)] // until `iso` and `qemu-test` call `ensure_tls`
mod testvendor;
mod vendorcfg;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Command-line words after the subcommand.
struct Args {
    words: Vec<String>,
}

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        let before = self.words.len();
        self.words.retain(|w| w != name);
        before != self.words.len()
    }

    fn values(&mut self, name: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        while let Some(i) = self.words.iter().position(|w| w == name) {
            if i + 1 >= self.words.len() {
                bail!("{name} needs a value");
            }
            out.push(self.words.remove(i + 1));
            self.words.remove(i);
        }
        Ok(out)
    }

    fn value(&mut self, name: &str) -> Result<Option<String>> {
        let mut v = self.values(name)?;
        if v.len() > 1 {
            bail!("{name} given more than once");
        }
        Ok(v.pop())
    }

    fn finish(self) -> Result<Vec<String>> {
        if let Some(w) = self.words.iter().find(|w| w.starts_with("--")) {
            bail!("unknown option {w}; see `cargo xtask help`");
        }
        Ok(self.words)
    }
}

fn run() -> Result<()> {
    let mut words: Vec<String> = std::env::args().skip(1).collect();
    if words.is_empty() {
        words.push("help".into());
    }
    let sub = words.remove(0);
    let mut args = Args { words };
    match sub.as_str() {
        "inputs" => {
            let update = args.flag("--update");
            args.finish()?;
            if update {
                inputs::update()
            } else {
                let i = inputs::ensure()?;
                for p in &i.lock.pins {
                    println!("{} {} ok", p.package, p.version);
                }
                Ok(())
            }
        }
        "iso" => {
            let out = args.value("--out")?.map(PathBuf::from);
            let answers = args.value("--answers")?.map(PathBuf::from);
            let vendor = vendor_args(&mut args)?;
            let offline = args.flag("--offline");
            let offline_repo = args.value("--offline-repo")?.map(PathBuf::from);
            args.finish()?;
            let mut opts = assemble::IsoOptions::from_env(out)?;
            opts.answers = answers;
            opts.vendor = vendor;
            opts.offline = match (offline, offline_repo) {
                (_, Some(dir)) => Some(dir),
                (true, None) => Some(testrepo::ensure()?.repo),
                (false, None) => None,
            };
            let (path, _) = assemble::build(&opts)?;
            println!("{}", path.display());
            Ok(())
        }
        "appliance" => {
            let out = args.value("--out")?.map(PathBuf::from);
            args.finish()?;
            let opts = appliance::Options::from_env(out)?;
            appliance::build(&opts)?;
            println!("{}", opts.out.display());
            Ok(())
        }
        "check-iso" => {
            let rest = args.finish()?;
            let path = match rest.first() {
                Some(p) => PathBuf::from(p),
                None => assemble::build(&assemble::IsoOptions::from_env(None)?)?.0,
            };
            check::check_iso(&path)
        }
        "qemu-test" => {
            let opts = qemu::QemuTestOptions {
                all: args.flag("--all"),
                list: args.flag("--list"),
                kvm: args.flag("--kvm"),
                scenarios: args.values("--scenario")?,
                jobs: match args.value("--jobs")? {
                    Some(j) => j
                        .parse()
                        .with_context(|| format!("--jobs {j}: not a number"))?,
                    None => 2,
                },
                iso: args.value("--iso")?.map(PathBuf::from),
            };
            args.finish()?;
            qemu::qemu_test(&opts).map(|_| ())
        }
        "bench" => {
            let rest = args.finish()?;
            match rest.first().map(String::as_str) {
                Some("iso") => bench::iso(),
                Some("boot") => bench::boot(),
                other => bail!("unknown benchmark {other:?}; available: iso, boot"),
            }
        }
        "repo" => repo_command(args),
        "ci" => {
            args.finish()?;
            check::ci()
        }
        "help" | "--help" | "-h" => {
            print!("{}", HELP);
            Ok(())
        }
        other => bail!("unknown command `{other}`; see `cargo xtask help`"),
    }
}

fn vendor_args(args: &mut Args) -> Result<vendorcfg::VendorArgs> {
    Ok(vendorcfg::VendorArgs {
        backend_url: args.value("--backend")?,
        model: args.value("--model")?,
        channel: args.value("--channel")?,
        trusted_keys: args
            .values("--trusted-key")?
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        ca: args.value("--vendor-ca")?.map(PathBuf::from),
        min_manifest_version: match args.value("--min-manifest-version")? {
            Some(v) => v
                .parse()
                .with_context(|| format!("--min-manifest-version {v}: not a number"))?,
            None => 0,
        },
    })
}

fn required(args: &mut Args, name: &str) -> Result<String> {
    args.value(name)?
        .with_context(|| format!("{name} is required; see `cargo xtask help`"))
}

fn valid_days(args: &mut Args) -> Result<u64> {
    match args.value("--valid-days")? {
        Some(v) => v
            .parse()
            .with_context(|| format!("--valid-days {v}: not a number")),
        None => Ok(repo::DEFAULT_VALID_DAYS),
    }
}

fn repo_command(mut args: Args) -> Result<()> {
    if args.words.is_empty() {
        bail!("cargo xtask repo needs a command: keygen, publish, add-serial, serve, test-vendor");
    }
    let sub = args.words.remove(0);
    match sub.as_str() {
        "keygen" => {
            let out = PathBuf::from(required(&mut args, "--out")?);
            let test = args.flag("--test");
            args.finish()?;
            let key = repo::keygen(&out, test)?;
            println!(
                "{} written to {} (0600) and {}",
                key.id,
                out.display(),
                repo::public_path(&out).display()
            );
            Ok(())
        }
        "publish" => {
            let repo_dir = PathBuf::from(required(&mut args, "--repo")?);
            let key = repo::read_key(&PathBuf::from(required(&mut args, "--key")?))?;
            let release = PathBuf::from(required(&mut args, "--release")?);
            let days = valid_days(&mut args)?;
            args.finish()?;
            repo::publish(&repo_dir, &key, &release, days)
        }
        "add-serial" => {
            let repo_dir = PathBuf::from(required(&mut args, "--repo")?);
            let key = repo::read_key(&PathBuf::from(required(&mut args, "--key")?))?;
            let model = required(&mut args, "--model")?;
            let channels = args.values("--channel")?;
            let serial = match args.value("--serial")? {
                Some(s) => Some(
                    vendor_repo::Serial::parse(&s)
                        .map_err(|e| anyhow::anyhow!("--serial {s}: {e}"))?,
                ),
                None => None,
            };
            let until = match args.value("--until")? {
                Some(d) => Some(repo::parse_date(&d)?),
                None => None,
            };
            let days = valid_days(&mut args)?;
            args.finish()?;
            repo::add_serial(repo::AddSerial {
                repo: &repo_dir,
                key: &key,
                serial,
                entitlements: vec![vendor_repo::registry::Entitlement {
                    model,
                    channels,
                    until,
                }],
                valid_days: days,
            })
            .map(|_| ())
        }
        "serve" => {
            let repo_dir = PathBuf::from(required(&mut args, "--repo")?);
            let listen = args
                .value("--listen")?
                .unwrap_or(format!("127.0.0.1:{}", testrepo::PORT));
            let plain = args.flag("--plain");
            let cert = args.value("--cert")?;
            let key = args.value("--key")?;
            args.finish()?;
            let tls = match (plain, cert, key) {
                (true, None, None) => None,
                (false, Some(cert), Some(key)) => Some(serve::Tls {
                    cert: cert.into(),
                    key: key.into(),
                }),
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
            serve::serve(&repo_dir, &listen, tls)
        }
        "test-vendor" => {
            args.finish()?;
            let v = testrepo::ensure()?;
            println!("{}", v.repo.display());
            Ok(())
        }
        other => bail!("unknown repo command `{other}`; see `cargo xtask help`"),
    }
}

const HELP: &str = "\
cargo xtask inputs [--update]      fetch + verify the pinned Debian packages (or re-pin them)
cargo xtask iso [--out PATH] [--answers FILE] [--backend URL] [--model M] [--channel C]
                [--trusted-key FILE.pub]... [--vendor-ca PEM] [--min-manifest-version N]
                [--offline | --offline-repo DIR]
                                   build the installer ISO (with an embedded answer file); prints its path.
                                   Vendor settings default to the test vendor (target/test-vendor).
                                   --offline puts the release's components on the ISO (from the
                                   test repository, or DIR), so only the serial check needs the network
cargo xtask appliance [--out DIR]  build the sample appliance's components (target/appliance)
cargo xtask check-iso [PATH]       inspect a built ISO with the reference tools
cargo xtask qemu-test [--all] [--scenario NAME]... [--kvm] [--jobs N] [--iso PATH] [--list]
                                   boot scenarios in QEMU (TCG; --kvm opts in to KVM);
                                   without --all/--scenario: the representative set
cargo xtask bench iso              warm build time, our ISO writer vs xorriso, boot times
cargo xtask bench boot             boot to first prompt: ours vs debian-installer (TCG)
cargo xtask repo keygen --out FILE [--test]
                                   new ed25519 signing key (FILE 0600) and FILE.pub
cargo xtask repo publish --repo DIR --key FILE --release RELEASE.json [--valid-days N]
                                   publish a release (docs/repository.md)
cargo xtask repo add-serial --repo DIR --key FILE --model M [--channel C]... [--serial S]
                            [--until YYYY-MM-DD] [--valid-days N]
                                   register a serial number (a new one when --serial is left out)
cargo xtask repo serve --repo DIR [--listen ADDR] [--cert PEM --key PEM | --plain]
                                   development server with HTTP Range support
cargo xtask repo test-vendor       test key, test CA and test repository in target/test-vendor
cargo xtask ci                     everything CI runs, in order
";
