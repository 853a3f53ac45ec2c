//! `cargo xtask` — the one entry point for people and CI.
//!
//! ```text
//! cargo xtask inputs [--update]      fetch + verify the pinned Debian packages (or re-pin them)
//! cargo xtask iso [--out PATH] [--answers FILE]   build the installer ISO; prints its path
//! cargo xtask check-iso [PATH]       inspect a built ISO with the reference tools
//! cargo xtask qemu-test [--all] [--scenario NAME]… [--kvm] [--jobs N] [--iso PATH] [--list]
//! cargo xtask bench iso              timings: warm build, our writer vs xorriso, boot to first screen
//! cargo xtask ci                     everything CI runs, in order
//! ```

mod assemble;
mod bench;
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
            args.finish()?;
            let mut opts = assemble::IsoOptions::from_env(out)?;
            opts.answers = answers;
            let (path, _) = assemble::build(&opts)?;
            println!("{}", path.display());
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

const HELP: &str = "\
cargo xtask inputs [--update]      fetch + verify the pinned Debian packages (or re-pin them)
cargo xtask iso [--out PATH] [--answers FILE]
                                   build the installer ISO (with an embedded answer file); prints its path
cargo xtask check-iso [PATH]       inspect a built ISO with the reference tools
cargo xtask qemu-test [--all] [--scenario NAME]... [--kvm] [--jobs N] [--iso PATH] [--list]
                                   boot scenarios in QEMU (TCG; --kvm opts in to KVM);
                                   without --all/--scenario: the representative set
cargo xtask bench iso              warm build time, our ISO writer vs xorriso, boot times
cargo xtask bench boot             boot to first prompt: ours vs debian-installer (TCG)
cargo xtask ci                     everything CI runs, in order
";
