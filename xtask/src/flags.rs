//! The command line of `cargo xtask`: one definition gives both the parser and
//! the help text (`cargo xtask --help`, `cargo xtask <command> --help`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;

xflags::xflags! {
    /// Project automation: boot inputs, ISO build, QEMU tests, benchmarks, CI.
    cmd xtask {
        /// Fetch and verify the pinned Debian packages (or re-pin them).
        cmd inputs {
            /// Re-pin to apt's current candidates (rewrites boot-inputs.lock).
            optional --update
        }

        /// Build the installer ISO; prints its path. Backend, model and channel
        /// default to the product's; signing key and CA to the test vendor's
        /// (target/test-vendor).
        cmd iso {
            /// Where to write it (default target/iso/installer.iso).
            optional --out path: PathBuf
            /// An answer file for unattended installs, embedded in the initramfs.
            optional --answers file: PathBuf
            /// The vendor backend (an https:// URL).
            optional --backend url: String
            /// The appliance model the ISO installs.
            optional --model name: String
            /// The release channel.
            optional --channel name: String
            /// A public signing key to trust (repeatable).
            repeated --trusted-key file: PathBuf
            /// The backend's CA certificate (PEM).
            optional --vendor-ca pem: PathBuf
            /// The lowest manifest version the installer accepts (raised to
            /// the repository's current one, see --floors-from).
            optional --min-manifest-version n: u64
            /// The lowest serial record version the installer accepts.
            optional --min-serial-version n: u64
            /// The repository the ISO is built against: the versions its
            /// snapshot.json lists become the ISO's floors (default: the
            /// --offline-repo, or the test repository when no key is given).
            optional --floors-from dir: PathBuf
            /// Put the release's components on the ISO (from the test
            /// repository), so only the serial check needs the network.
            optional --offline
            /// Like --offline, from the repository in DIR.
            optional --offline-repo dir: PathBuf
        }

        /// Build the sample appliance's components; prints the directory.
        cmd appliance {
            /// Output directory (default target/appliance).
            optional --out dir: PathBuf
        }

        /// Build the reference appliance's read-only root image (squashfs) from
        /// the packages appliance-packages.lock pins; prints its path. Needs
        /// root, mmdebstrap, apt-ftparchive and mksquashfs.
        cmd appliance-root {
            /// Output directory (default target/appliance-root).
            optional --out dir: PathBuf
            /// Re-pin: install the wanted packages from the host's apt sources
            /// and pin the whole closure (rewrites appliance-packages.lock).
            optional --update
            /// Build twice and compare the images byte for byte.
            optional --check-reproducible
            /// The vendor's licence key (`repo keygen`'s FILE.pub) the set-up
            /// wizard checks licences against (default: the TEST licence key).
            optional --licence-key file: PathBuf
        }

        /// Build the reference appliance's components (kernel, stage 1
        /// initramfs, root image) and its release description; prints the
        /// directory. Needs what appliance-root needs.
        cmd appliance-reference {
            /// Output directory (default target/appliance-reference).
            optional --out dir: PathBuf
            /// Keep the root image of an earlier build in the output
            /// directory (while working on stage 1; the image is not rebuilt).
            optional --keep-root
            /// The vendor's licence key (as for appliance-root).
            optional --licence-key file: PathBuf
        }

        /// Inspect a built ISO with the reference tools.
        cmd check-iso {
            /// The ISO (default: build one as `cargo xtask iso` does).
            optional path: PathBuf
        }

        /// Boot scenarios in QEMU (TCG; --kvm opts in to KVM). Without --all or
        /// --scenario: the representative set.
        cmd qemu-test {
            /// Every scenario.
            optional --all
            /// Only this scenario (repeatable).
            repeated --scenario name: String
            /// Use KVM instead of TCG.
            optional --kvm
            /// Scenarios run at once (default 2).
            optional --jobs n: usize
            /// Boot this ISO instead of building one.
            optional --iso path: PathBuf
            /// Use this reference appliance (the output directory of
            /// appliance-reference) instead of building one.
            optional --reference dir: PathBuf
            /// Print the scenario names and exit.
            optional --list
        }

        /// Benchmarks; they print figures and never fail on speed.
        cmd bench {
            /// `iso`: warm build time, our ISO writer vs xorriso, boot times;
            /// `boot`: boot to first prompt, ours vs debian-installer (TCG);
            /// `backup`: back up and restore 100,000 tokens, ours vs
            /// `mariadb-dump | age -p` and `age -d | mariadb`.
            /// `install`: a whole install of a 256 MiB image vs a raw copy
            /// of it, and the smallest `-m` the install completes with.
            /// `otp`: validate/check with 10,000 tokens, ours vs privacyIDEA 3.14.
            required benchmark: Benchmark
            /// `boot`: the revision whose ISO is the baseline (default: the
            /// parent of the commit "Module pack on the medium: …").
            optional --baseline-rev rev: String
            /// `boot`: boot this ISO as the baseline instead of building one.
            optional --baseline-iso path: PathBuf
            /// `boot`: rounds of baseline, current, debian-installer (default 5);
            /// `install`: pairs of install and raw copy (default 3).
            optional --rounds n: usize
            /// `boot`: boot our ISOs as a CD through the boot menu (BIOS)
            /// instead of loading their kernel and initramfs directly.
            optional --cd
            /// `install` only: skip the `-m` bisection.
            optional --no-floor
        }

        /// Run a vendor repository (docs/repository.md).
        cmd repo {
            /// A new ed25519 signing key (FILE, mode 0600) and FILE.pub.
            cmd keygen {
                /// The private key file.
                required --out file: PathBuf
                /// Mark the key as a test key.
                optional --test
            }

            /// Publish a release.
            cmd publish {
                /// The repository root.
                required --repo dir: PathBuf
                /// The signing key.
                required --key file: PathBuf
                /// The release description (RELEASE.json).
                required --release file: PathBuf
                /// How long the signed metadata stays valid (default 90).
                optional --valid-days n: u64
                /// How long the refreshed snapshot.json stays valid (default 7).
                optional --snapshot-days n: u64
            }

            /// Register a serial number (a new one when --serial is left out).
            cmd add-serial {
                /// The repository root.
                required --repo dir: PathBuf
                /// The signing key.
                required --key file: PathBuf
                /// The model the serial is entitled to.
                required --model name: String
                /// A channel it is entitled to (repeatable; none: every channel).
                repeated --channel name: String
                /// The serial number to register.
                optional --serial serial: String
                /// The last day of the entitlement (YYYY-MM-DD).
                optional --until date: String
                /// How long the signed record stays valid (default 90).
                optional --valid-days n: u64
                /// How long the refreshed snapshot.json stays valid (default 7).
                optional --snapshot-days n: u64
            }

            /// A support and subscription licence file for the set-up
            /// wizard, signed with a licence key from `repo keygen` (a test
            /// key's licences are marked TEST).
            cmd license {
                /// The licence signing key.
                required --key file: PathBuf
                /// Where to write the licence file.
                required --out file: PathBuf
                /// Who holds the licence.
                required --licensee name: String
                /// The product it is for (default example-appliance).
                optional --product name: String
                /// First valid day, YYYY-MM-DD (default today).
                optional --valid-from date: String
                /// Last valid day, YYYY-MM-DD (default a year after the first).
                optional --expire date: String
                /// Tokens covered (default 50).
                optional --token-num n: u32
                /// Subscription level (default standard).
                optional --subscription level: String
                /// Contact address written into the licence.
                optional --contact-email addr: String
            }

            /// Sign a fresh snapshot.json (what is current; short-lived):
            /// run it more often than --valid-days, e.g. daily.
            cmd timestamp {
                /// The repository root.
                required --repo dir: PathBuf
                /// The signing key.
                required --key file: PathBuf
                /// How long the snapshot stays valid (default 7).
                optional --valid-days n: u64
            }

            /// A development server with HTTP Range support (HTTPS with the
            /// test certificate unless --cert/--key or --plain are given).
            cmd serve {
                /// The repository root.
                required --repo dir: PathBuf
                /// Address to listen on (default 127.0.0.1:18443).
                optional --listen addr: String
                /// Server certificate (PEM), with --key.
                optional --cert pem: PathBuf
                /// Server key (PEM), with --cert.
                optional --key pem: PathBuf
                /// Plain HTTP.
                optional --plain
            }

            /// Test key, test CA and test repository in target/test-vendor.
            cmd test-vendor {
                /// Also build the reference appliance (root, minutes) and
                /// publish it on the channel `reference`.
                optional --reference
            }
        }

        /// Run the fuzz targets (fuzz/) one after the other with libFuzzer:
        /// coverage-instrumented build, seeds from fuzz/corpus/TARGET,
        /// findings in target/fuzz/artifacts/TARGET. Prints executions and
        /// coverage per target; fails on the first crash.
        cmd fuzz {
            /// Seconds per target (default 60).
            optional --seconds n: u64
            /// Stop each target after N executions instead of a time.
            optional --runs n: u64
            /// Only this target (repeatable); see --list.
            repeated --target name: String
            /// Print the target names and exit.
            optional --list
        }

        /// Everything CI runs, in order.
        cmd ci {}
    }
}

/// What `cargo xtask bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Benchmark {
    Iso,
    Boot,
    Backup,
    Install,
    Otp,
}

impl FromStr for Benchmark {
    type Err = String;

    fn from_str(s: &str) -> Result<Benchmark, String> {
        match s {
            "iso" => Ok(Benchmark::Iso),
            "boot" => Ok(Benchmark::Boot),
            "backup" => Ok(Benchmark::Backup),
            "install" => Ok(Benchmark::Install),
            "otp" => Ok(Benchmark::Otp),
            other => Err(format!(
                "unknown benchmark `{other}`; available: iso, boot, backup, install, otp"
            )),
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// Boxed: the command line grew larger than clippy allows an enum
    /// variant next to a `String`.
    Run(Box<Xtask>),
    /// `--help`, `-h`, `help` or nothing: the help to print.
    Help(String),
}

/// Parses the words after `cargo xtask`.
pub fn parse(mut args: Vec<OsString>) -> xflags::Result<Parsed> {
    if args.is_empty() || args[0] == "help" {
        args = vec!["--help".into()];
    }
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match Xtask::from_vec(args) {
        Ok(x) => Ok(Parsed::Run(Box::new(x))),
        Err(e) if e.is_help() => Ok(Parsed::Help(help_for(&e.to_string(), &words))),
        Err(e) => Err(e),
    }
}

/// The part of the help about the command the words name (`repo` shows
/// every repo command), or all of it.
fn help_for(help: &str, words: &[String]) -> String {
    // Sections start with an unindented `xtask <command>…` line.
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        if line.starts_with("xtask ") || sections.is_empty() {
            sections.push((line.to_string(), String::new()));
        }
        if let Some((_, text)) = sections.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    let mut path = String::from("xtask");
    for w in words.iter().take_while(|w| !w.starts_with('-')) {
        let longer = format!("{path} {w}");
        if !sections.iter().any(|(h, _)| *h == longer) {
            break;
        }
        path = longer;
    }
    if path == "xtask" {
        return help.trim_end().to_string() + "\n";
    }
    let chosen: Vec<&str> = sections
        .iter()
        .filter(|(h, _)| *h == path || h.starts_with(&format!("{path} ")))
        .map(|(_, t)| t.trim_end())
        .collect();
    let mut out = chosen.join("\n\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(line: &str) -> Xtask {
        let args = line.split_whitespace().map(OsString::from).collect();
        match parse(args).unwrap() {
            Parsed::Run(x) => *x,
            Parsed::Help(h) => panic!("`{line}` asked for help:\n{h}"),
        }
    }

    fn help(line: &str) -> String {
        let args = line.split_whitespace().map(OsString::from).collect();
        match parse(args).unwrap() {
            Parsed::Help(h) => h,
            Parsed::Run(x) => panic!("`{line}` did not ask for help: {x:?}"),
        }
    }

    #[test]
    fn iso_with_vendor_settings() {
        let x = parse_words(
            "iso --out a.iso --backend https://r.example/ --trusted-key a.pub \
             --trusted-key b.pub --min-manifest-version 3 --offline \
             --min-serial-version 2 --floors-from repo",
        );
        let XtaskCmd::Iso(iso) = x.subcommand else {
            panic!("not iso: {x:?}")
        };
        assert_eq!(iso.out, Some(PathBuf::from("a.iso")));
        assert_eq!(iso.backend.as_deref(), Some("https://r.example/"));
        assert_eq!(iso.trusted_key, [PathBuf::from("a.pub"), "b.pub".into()]);
        assert_eq!(iso.min_manifest_version, Some(3));
        assert_eq!(iso.min_serial_version, Some(2));
        assert_eq!(iso.floors_from, Some(PathBuf::from("repo")));
        assert!(iso.offline);
        assert_eq!(iso.offline_repo, None);
        assert_eq!(iso.model, None);
    }

    #[test]
    fn fuzz_with_targets_and_a_time() {
        let x = parse_words("fuzz --seconds 600 --target answers --target dhcp");
        let XtaskCmd::Fuzz(f) = x.subcommand else {
            panic!("not fuzz: {x:?}")
        };
        assert_eq!(f.seconds, Some(600));
        assert_eq!(f.target, ["answers", "dhcp"]);
        assert_eq!(f.runs, None);
        assert!(!f.list);
    }

    #[test]
    fn qemu_test_and_repo_commands() {
        let x = parse_words("qemu-test --scenario bios-cd --scenario uefi-usb --jobs 3");
        let XtaskCmd::QemuTest(q) = x.subcommand else {
            panic!("not qemu-test: {x:?}")
        };
        assert_eq!(q.scenario, ["bios-cd", "uefi-usb"]);
        assert_eq!(q.jobs, Some(3));
        assert!(!q.all && !q.kvm && !q.list);

        let x = parse_words("repo add-serial --repo r --key k --model m --channel stable");
        let XtaskCmd::Repo(Repo {
            subcommand: RepoCmd::AddSerial(a),
        }) = x.subcommand
        else {
            panic!("not repo add-serial: {x:?}")
        };
        assert_eq!(a.model, "m");
        assert_eq!(a.channel, ["stable"]);
        assert_eq!(a.serial, None);

        let x = parse_words("bench boot");
        assert!(matches!(
            x.subcommand,
            XtaskCmd::Bench(Bench {
                benchmark: Benchmark::Boot,
                baseline_rev: None,
                baseline_iso: None,
                rounds: None,
                cd: false,
                no_floor: false
            })
        ));
        let x = parse_words("bench install --no-floor");
        assert!(matches!(
            x.subcommand,
            XtaskCmd::Bench(Bench {
                benchmark: Benchmark::Install,
                baseline_rev: None,
                baseline_iso: None,
                rounds: None,
                cd: false,
                no_floor: true
            })
        ));
        let x = parse_words("appliance-root --check-reproducible");
        let XtaskCmd::ApplianceRoot(a) = x.subcommand else {
            panic!("not appliance-root: {x:?}")
        };
        assert!(a.check_reproducible && !a.update && a.out.is_none());

        let x = parse_words("check-iso some.iso");
        let XtaskCmd::CheckIso(c) = x.subcommand else {
            panic!("not check-iso: {x:?}")
        };
        assert_eq!(c.path, Some(PathBuf::from("some.iso")));
    }

    #[test]
    fn mistakes_are_errors() {
        for line in [
            "iso --frobnicate",
            "iso --out a --out b",
            "qemu-test --jobs many",
            "bench disk",
            "repo publish --repo r --key k",
            "repo",
            "nonsense",
        ] {
            let args = line.split_whitespace().map(OsString::from).collect();
            assert!(parse(args).is_err(), "`{line}` was accepted");
        }
    }

    #[test]
    fn help_covers_every_command_and_narrows_to_one() {
        let all = help("");
        assert_eq!(all, help("--help"));
        assert_eq!(all, help("help"));
        for cmd in [
            "xtask inputs",
            "xtask iso",
            "xtask appliance",
            "xtask appliance-root",
            "xtask appliance-reference",
            "xtask check-iso",
            "xtask qemu-test",
            "xtask bench",
            "xtask repo keygen",
            "xtask repo publish",
            "xtask repo add-serial",
            "xtask repo serve",
            "xtask repo timestamp",
            "xtask repo test-vendor",
            "xtask ci",
        ] {
            assert!(all.lines().any(|l| l == cmd), "no `{cmd}` in:\n{all}");
        }
        let iso = help("iso --help");
        assert!(iso.starts_with("xtask iso\n"), "{iso}");
        assert!(iso.contains("--offline-repo <dir>"), "{iso}");
        assert!(!iso.contains("xtask qemu-test"), "{iso}");
        let repo = help("repo -h");
        assert!(repo.contains("xtask repo keygen\n"), "{repo}");
        assert!(repo.contains("xtask repo serve\n"), "{repo}");
        assert!(!repo.contains("xtask iso\n"), "{repo}");
        let serve = help("repo serve --help");
        assert!(serve.starts_with("xtask repo serve\n"), "{serve}");
        assert!(!serve.contains("xtask repo keygen"), "{serve}");
    }
}
