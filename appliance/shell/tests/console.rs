//! Plans and the executor, driven with strings and a recording runner:
//! what each command runs, that the questions default to no, that the
//! unsupported mode warns before it replaces the console, and the status
//! and support file of a temporary appliance root (keys made by
//! `appliance-config`, so the support file can be checked for secrets).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::Read;
use std::path::Path;

use appliance_config::generation::Store;
use appliance_config::{keys, state};
use appliance_shell::exec::{Console, Next};
use appliance_shell::parse::{parse, Command};
use appliance_shell::plan::{self, plan, Action, Invocation};
use appliance_shell::status;
use appliance_shell::support;
use appliance_shell::sys::{Runner, SysError};

/// Records what would run; `date` answers a fixed time.
#[derive(Default)]
struct Recorder {
    ran: Vec<String>,
    execs: Vec<(String, Vec<(String, String)>)>,
}

impl Runner for Recorder {
    fn run(&mut self, inv: &Invocation) -> Result<(), SysError> {
        self.ran.push(inv.render());
        Ok(())
    }
    fn capture(&mut self, inv: &Invocation) -> Result<String, SysError> {
        self.ran.push(inv.render());
        Ok(match inv.program {
            plan::DATE => "2026-12-07 16:00:00 CET (UTC+01:00)\n".into(),
            _ => format!("output of {}\n", inv.render()),
        })
    }
    fn exec(&mut self, inv: &Invocation, env: &[(&str, &str)]) -> SysError {
        self.execs.push((
            inv.render(),
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        SysError::Failed {
            cmd: inv.render(),
            status: "not run in tests".into(),
        }
    }
}

fn console(root: &Path, input: &[u8]) -> Console<&'static [u8], Vec<u8>, Recorder> {
    Console {
        root: root.to_path_buf(),
        input: Box::leak(input.to_vec().into_boxed_slice()),
        out: Vec::new(),
        sys: Recorder::default(),
    }
}

fn run_lines(root: &Path, input: &[u8]) -> (String, String, Recorder, bool) {
    let mut c = console(root, input);
    let mut err = Vec::new();
    let ok = c.run(None, &mut err);
    (
        String::from_utf8(c.out).unwrap(),
        String::from_utf8(err).unwrap(),
        c.sys,
        ok,
    )
}

#[test]
fn plans_run_what_the_commands_say() {
    let p = |l: &str| plan(&parse(l).unwrap().unwrap());
    let runs = |l: &str| match p(l).action {
        Action::Run(steps) => steps.iter().map(|(_, i)| i.render()).collect::<Vec<_>>(),
        other => panic!("{l}: {other:?}"),
    };
    assert_eq!(
        runs("network"),
        [
            "/usr/bin/ip -brief link",
            "/usr/bin/ip -brief address",
            "/usr/bin/ip route"
        ]
    );
    assert_eq!(
        runs("ping -c 3 example.test"),
        ["/usr/bin/ping -c 3 -W 2 -- example.test"]
    );
    assert_eq!(runs("reboot"), ["/usr/bin/systemctl reboot"]);
    assert_eq!(runs("poweroff"), ["/usr/bin/systemctl poweroff"]);
    assert!(p("reboot").confirm.is_some() && p("shutdown").confirm.is_some());
    assert!(p("ping ::1").confirm.is_none() && p("status").confirm.is_none());
    let u = p("unsupported");
    assert_eq!(
        u.action,
        Action::Exec(Invocation::new("/bin/bash", &["-l"]))
    );
    assert!(u.warning.unwrap().contains("NOT\nsupported"));
    assert!(u.confirm.is_some());
    assert_eq!(p("status").action, Action::Status);
    assert_eq!(p("support").action, Action::Support);
    assert_eq!(p("exit").action, Action::Exit);
    match p("help").action {
        Action::Print(t) => {
            for n in appliance_shell::parse::Name::ALL {
                assert!(t.contains(plan::usage(n)), "help lists {}", n.word());
            }
        }
        other => panic!("{other:?}"),
    }
    for (answer, yes) in [
        ("y", true),
        ("YES\n", true),
        (" y ", true),
        ("", false),
        ("n", false),
        ("yess", false),
        ("j", false),
    ] {
        assert_eq!(plan::is_yes(answer), yes, "{answer:?}");
    }
}

#[test]
fn questions_default_to_no() {
    let dir = tempfile::tempdir().unwrap();
    // "n", an empty answer, then the end of input: nothing runs.
    let (out, err, sys, ok) = run_lines(dir.path(), b"reboot\nn\nshutdown\n\nreboot\n");
    assert!(ok, "{err}");
    assert_eq!(out.matches("Nothing done.").count(), 3, "{out}");
    assert!(sys.ran.is_empty(), "{:?}", sys.ran);
    let (out, _, sys, _) = run_lines(dir.path(), b"reboot\ny\n");
    assert!(out.contains("Reboot the appliance now? [y/N] "), "{out}");
    assert_eq!(sys.ran, ["/usr/bin/systemctl reboot"]);
}

#[test]
fn unsupported_warns_asks_then_replaces_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, sys, _) = run_lines(dir.path(), b"unsupported\nno\n");
    assert!(out.contains("WARNING: unsupported mode."), "{out}");
    assert!(out.contains("Nothing done."), "{out}");
    assert!(sys.execs.is_empty());

    let (out, err, sys, ok) = run_lines(dir.path(), b"unsupported\ny\n");
    let warn_at = out.find("WARNING").unwrap();
    let ask_at = out.find("Start the unsupported root shell? [y/N]").unwrap();
    assert!(warn_at < ask_at, "{out}");
    assert_eq!(
        sys.execs,
        [(
            "/bin/bash -l".to_string(),
            vec![("SHELL".to_string(), "/bin/bash".to_string())]
        )]
    );
    assert_eq!(
        sys.ran,
        ["/usr/bin/logger --tag appliance-shell --priority auth.notice -- root started the unsupported shell"]
    );
    // The double's exec "fails", which the console reports and survives.
    assert!(!ok && err.contains("not run in tests"), "{err}");
}

#[test]
fn lines_run_until_exit_and_errors_do_not_stop_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, sys, ok) = run_lines(
        dir.path(),
        b"bogus\nping -c 1 10.0.2.2\n\xff\nexit\nreboot\ny\n",
    );
    assert!(!ok);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.contains("unknown command \"bogus\""), "{err}");
    assert!(err.contains("unknown command \"\u{fffd}\""), "{err}");
    assert_eq!(
        sys.ran,
        ["/usr/bin/ping -c 1 -W 2 -- 10.0.2.2"],
        "stops at exit"
    );
    assert!(out.is_empty(), "{out}");
    let mut c = console(dir.path(), b"");
    let mut e = Vec::new();
    assert_eq!(c.line("exit", &mut e), (Next::Exit, true));
    assert_eq!(c.line("   ", &mut e), (Next::Continue, true));
    assert_eq!(parse("exit").unwrap(), Some(Command::Exit));
}

/// A temporary appliance root with a desired state and the keys first boot makes.
fn appliance_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let st = state::fallback();
    Store::new(root).commit(&st).unwrap();
    keys::ensure(root, &st, &[], time::OffsetDateTime::now_utc()).unwrap();
    // The verifier, made after the login prompt on the appliance.
    keys::ensure_setup_verifier(root).unwrap();
    std::fs::create_dir_all(root.join("etc/default")).unwrap();
    std::fs::write(root.join("etc/default/keyboard"), "XKBLAYOUT=\"de\"\n").unwrap();
    std::fs::write(
        root.join("etc/resolv.conf"),
        "search example.test\nnameserver 10.0.2.3\nnameserver fd00::3\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("proc/net")).unwrap();
    std::fs::write(
        root.join("proc/net/route"),
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         lan0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
         lan0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
    )
    .unwrap();
    dir
}

#[test]
fn status_of_an_appliance_root() {
    let dir = appliance_root();
    let (out, err, sys, ok) = run_lines(dir.path(), b"status\n");
    assert!(ok, "{err}");
    let fp = keys::fingerprints(dir.path());
    for want in [
        "Product           ".to_string(),
        "Host name         appliance".into(),
        "Gateway           10.0.2.2".into(),
        "DNS servers       10.0.2.3, fd00::3".into(),
        "Time              2026-12-07 16:00:00 CET (UTC+01:00)".into(),
        "Time zone         Etc/UTC".into(),
        format!("TLS SHA-256       {}", fp.tls_colon().unwrap()),
        format!("TLS public key    SHA-256 {}", fp.spki_sha256_b64.unwrap()),
        format!("SSH ED25519       {}", fp.ssh[0].1),
        "Set-up            not done".into(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    assert_eq!(sys.ran, ["/usr/bin/date +%Y-%m-%d %H:%M:%S %Z (UTC%:z)"]);
    std::fs::write(dir.path().join("etc/appliance/setup-done"), "").unwrap();
    let (out, _, _, _) = run_lines(dir.path(), b"status\n");
    assert!(out.contains("Set-up            done\n"), "{out}");
}

#[test]
fn status_parsers() {
    assert_eq!(
        status::zone_of_link("/usr/share/zoneinfo/Europe/Berlin").as_deref(),
        Some("Europe/Berlin")
    );
    assert_eq!(
        status::zone_of_link("../usr/share/zoneinfo/UTC").as_deref(),
        Some("UTC")
    );
    assert_eq!(status::zone_of_link("/etc/foo"), None);
    assert_eq!(status::parse_proc_route("Iface\tDestination\n"), None);
    assert_eq!(status::parse_proc_route("garbage\nx y z\n"), None);
    assert_eq!(
        status::parse_resolv("# c\nnameserver\nnameserver 1.1.1.1 # x\n"),
        ["1.1.1.1"]
    );
}

/// Every secret file below `root`, with its bytes.
fn secrets(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for rel in [
        "etc/appliance/db.key",
        "etc/appliance/tls/key.pem",
        "etc/appliance/setup-code.secret",
        "etc/appliance/setup-code.hash",
        "etc/ssh/ssh_host_ed25519_key",
        "etc/ssh/ssh_host_ecdsa_key",
    ] {
        let bytes = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        out.push((rel.to_string(), bytes));
    }
    out
}

#[test]
fn support_file_holds_status_journal_and_configuration_but_no_secret() {
    use std::os::unix::fs::PermissionsExt;
    let dir = appliance_root();
    let root = dir.path();
    let (out, err, sys, ok) = run_lines(root, b"support\n");
    assert!(ok, "{err}");
    assert!(
        sys.ran
            .iter()
            .any(|c| c.starts_with("/usr/bin/journalctl --boot")),
        "{:?}",
        sys.ran
    );
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("Support file: "))
        .unwrap_or_else(|| panic!("{out}"));
    let sha = out
        .lines()
        .find_map(|l| l.strip_prefix("SHA-256:      "))
        .unwrap();
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(sha, hex_sha256(&bytes));
    let meta = std::fs::metadata(path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir_mode = std::fs::metadata(root.join("var/lib/appliance/support")).unwrap();
    assert_eq!(dir_mode.permissions().mode() & 0o777, 0o700);
    assert!(
        path.contains("/var/lib/appliance/support/support-appliance-"),
        "{path}"
    );

    let mut names = Vec::new();
    let mut contents = Vec::new();
    let gz = flate2::read::GzDecoder::new(bytes.as_slice());
    let mut tar = tar::Archive::new(gz);
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        names.push(name.split_once('/').unwrap().1.to_string());
        contents.push(body);
    }
    for want in [
        "status.txt",
        "journal.txt",
        "network/address.txt",
        "services.txt",
        "config/state.json",
        "config/etc/default/keyboard",
        "config/etc/appliance/tls/cert.pem",
        "config/etc/ssh/ssh_host_ed25519_key.pub",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    for (name, body) in names.iter().zip(&contents) {
        let text = String::from_utf8_lossy(body);
        assert!(
            !text.contains("PRIVATE KEY-----"),
            "a private key in {name}"
        );
    }
    for (rel, secret) in secrets(root) {
        assert!(
            !names.iter().any(|n| n.ends_with(&rel)),
            "{rel} is in the support file"
        );
        // Private keys in PEM carry their public half (which is in the
        // file on purpose); they are recognised by their header below.
        if secret.starts_with(b"-----BEGIN") {
            continue;
        }
        // 16 bytes from the middle of a random secret or a hash.
        let probe = &secret[secret.len() / 2..][..16];
        for (name, body) in names.iter().zip(&contents) {
            assert!(
                !body.windows(16).any(|w| w == probe),
                "the bytes of {rel} ({:?}) are in {name}",
                String::from_utf8_lossy(probe)
            );
        }
    }
}

#[test]
fn the_allow_list_holds_no_secret() {
    for p in support::CONFIG_FILES {
        assert!(!support::is_secret(p), "{p}");
    }
    for p in [
        "/etc/appliance/db.key",
        "/etc/appliance/tls/key.pem",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/appliance/credentials/appliance-admin.json",
        "/var/lib/appliance-web/wizard.json",
        "/etc/freeradius/3.0/clients.conf",
        "/etc/appliance/setup-code.secret",
        "/etc/shadow",
        "/etc/systemd/network/private/x.network",
    ] {
        assert!(support::is_secret(p), "{p}");
    }
    let t = time::OffsetDateTime::from_unix_timestamp(1_796_659_509).unwrap();
    assert_eq!(
        support::file_name("app-1", t),
        "support-app-1-20261207T160509Z.tar.gz"
    );
    assert_eq!(
        support::file_name("../x y", t),
        "support-xy-20261207T160509Z.tar.gz"
    );
    assert_eq!(
        support::file_name("", t),
        "support-appliance-20261207T160509Z.tar.gz"
    );
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
