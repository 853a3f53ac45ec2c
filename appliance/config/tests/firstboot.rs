//! First boot end to end in a temporary root: the handover record becomes
//! generation 1, the files and keys appear with their modes, a second boot
//! changes nothing and keeps every key; the console text's fingerprints
//! match an independent computation (x509-parser, and `ssh-keygen` /
//! `openssl` in the tests marked "needs").

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use appliance_config::firstboot::{self, Options, Print};
use appliance_config::keys;
use appliance_config::paths;
use appliance_config::setup_code;
use appliance_config::state::KeyKind;
use base64::Engine as _;
use sha2::{Digest, Sha256};

struct Rig {
    _dir: tempfile::TempDir,
    root: PathBuf,
    console: PathBuf,
    opts: Options,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(&root).unwrap();
    let handover = dir.path().join("handover.json");
    fs::write(&handover, handover::EXAMPLE_JSON).unwrap();
    let console = dir.path().join("console");
    fs::write(&console, "").unwrap();
    let keymaps = root.join(paths::KEYMAP_INDEX.trim_start_matches('/'));
    fs::create_dir_all(keymaps.parent().unwrap()).unwrap();
    fs::write(
        &keymaps,
        r#"[{"code": "de", "name": "German (no dead keys)", "xkb_layout": "de", "xkb_variant": "nodeadkeys"}]"#,
    )
    .unwrap();
    let opts = Options {
        root: root.clone(),
        handover,
        consoles: vec![console.clone()],
    };
    Rig {
        _dir: dir,
        root,
        console,
        opts,
    }
}

fn at(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

fn mode(root: &Path, rel: &str) -> u32 {
    fs::metadata(at(root, rel)).unwrap().permissions().mode() & 0o7777
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[test]
fn first_boot_makes_state_files_and_keys_with_their_modes() {
    let r = rig();
    let out = firstboot::run(&r.opts, now()).unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!((out.generation, out.new_generation), (1, true));
    assert_eq!(out.keys.generated, KeyKind::ALL.to_vec());
    // The console text has the code already; its verifier (Argon2id, slow
    // under emulation) is made apart, after the login prompt.
    assert!(!at(&r.root, paths::SETUP_HASH).exists());
    assert!(keys::current_setup_code(&r.root).unwrap().is_some());
    assert!(keys::ensure_setup_verifier(&r.root).unwrap());
    assert!(
        !keys::ensure_setup_verifier(&r.root).unwrap(),
        "only when missing"
    );
    // No compiled keymap in this root: Debian's keyboard-setup must load it.
    assert!(
        out.console_keymap.starts_with("de not loaded here")
            && out.console_keymap.contains("de.bkeymap"),
        "{}",
        out.console_keymap
    );
    assert!(!at(&r.root, appliance_config::keymap::LOADED_MARK).exists());
    assert!(out.applied.restart.contains("systemd-networkd.service"));
    assert_eq!(
        fs::read_to_string(at(&r.root, "/etc/default/keyboard"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("XKB"))
            .collect::<Vec<_>>(),
        [
            "XKBMODEL=\"pc105\"",
            "XKBLAYOUT=\"de\"",
            "XKBVARIANT=\"nodeadkeys\"",
            "XKBOPTIONS=\"\""
        ]
    );
    for (rel, want) in [
        (paths::SSH_ED25519, 0o600),
        ("/etc/ssh/ssh_host_ed25519_key.pub", 0o644),
        (paths::SSH_ECDSA, 0o600),
        ("/etc/ssh/ssh_host_ecdsa_key.pub", 0o644),
        (paths::TLS_KEY, 0o600),
        (paths::TLS_CERT, 0o644),
        (paths::DB_KEY, 0o400),
        (paths::SETUP_SECRET, 0o400),
        (paths::SETUP_COUNTER, 0o600),
        (paths::SETUP_HASH, 0o600),
        ("/etc/appliance/state/1/state.json", 0o644),
        (paths::ISSUE, 0o644),
    ] {
        assert_eq!(mode(&r.root, rel), want, "{rel}");
    }
    assert_eq!(fs::read(at(&r.root, paths::DB_KEY)).unwrap().len(), 96);
    assert_eq!(
        fs::read(at(&r.root, paths::SETUP_SECRET)).unwrap().len(),
        32
    );
    let resolv = fs::read_link(at(&r.root, "/etc/resolv.conf")).unwrap();
    assert_eq!(resolv, Path::new(paths::RUN_RESOLV));
    assert_eq!(
        fs::read_to_string(at(&r.root, paths::RUN_RESOLV))
            .unwrap()
            .lines()
            .skip(1)
            .collect::<Vec<_>>(),
        ["nameserver 10.0.2.3", "search example.test"]
    );
    // The verifier verifies the code the console shows.
    let code = keys::current_setup_code(&r.root).unwrap().unwrap();
    let hash = fs::read_to_string(at(&r.root, paths::SETUP_HASH)).unwrap();
    assert!(setup_code::verify(&hash, &code.to_string()).unwrap());
    // The setup code is nowhere on disk in clear text.
    assert_no_file_contains(&r.root, code.canonical());
}

fn assert_no_file_contains(dir: &Path, needle: &str) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            assert_no_file_contains(&p, needle);
        } else if meta.is_file() && !p.ends_with(paths::ISSUE.trim_start_matches('/')) {
            let text = String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned();
            assert!(
                !text.contains(needle),
                "{} holds the setup code",
                p.display()
            );
        }
    }
}

#[test]
fn a_second_boot_changes_nothing_and_keeps_every_key() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    keys::ensure_setup_verifier(&r.root).unwrap();
    let before = keys::fingerprints(&r.root);
    let code = keys::current_setup_code(&r.root).unwrap().unwrap();
    let secrets: Vec<Vec<u8>> = [
        paths::DB_KEY,
        paths::TLS_KEY,
        paths::SSH_ED25519,
        paths::SETUP_HASH,
    ]
    .iter()
    .map(|p| fs::read(at(&r.root, p)).unwrap())
    .collect();
    // A later boot; a changed record is not read again once a generation exists.
    fs::write(
        &r.opts.handover,
        handover::EXAMPLE_JSON.replace("appliance\",\n    \"domain", "other\",\n    \"domain"),
    )
    .unwrap();
    let out = firstboot::run(&r.opts, now() + time::Duration::days(3)).unwrap();
    assert_eq!((out.generation, out.new_generation), (1, false));
    assert!(out.applied.changed.is_empty(), "{:?}", out.applied.changed);
    assert!(out.applied.restart.is_empty());
    assert_eq!(out.keys.kept, KeyKind::ALL.to_vec());
    assert!(out.keys.generated.is_empty());
    assert_eq!(keys::fingerprints(&r.root), before);
    assert_eq!(keys::current_setup_code(&r.root).unwrap().unwrap(), code);
    let after: Vec<Vec<u8>> = [
        paths::DB_KEY,
        paths::TLS_KEY,
        paths::SSH_ED25519,
        paths::SETUP_HASH,
    ]
    .iter()
    .map(|p| fs::read(at(&r.root, p)).unwrap())
    .collect();
    assert_eq!(secrets, after);
    assert_eq!(
        fs::read_to_string(at(&r.root, "/etc/hostname")).unwrap(),
        "appliance\n"
    );
}

#[test]
fn a_lost_public_key_is_rebuilt_from_the_private_one() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    let before = keys::fingerprints(&r.root);
    fs::remove_file(at(&r.root, "/etc/ssh/ssh_host_ecdsa_key.pub")).unwrap();
    let out = firstboot::run(&r.opts, now()).unwrap();
    assert!(out.keys.kept.contains(&KeyKind::SshEcdsa));
    assert_eq!(keys::fingerprints(&r.root), before);
}

#[test]
fn rotation_changes_the_code_and_the_verifier_and_setup_done_hides_it() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    keys::ensure_setup_verifier(&r.root).unwrap();
    let old = keys::current_setup_code(&r.root).unwrap().unwrap();
    let new = keys::rotate_setup_code(&r.root).unwrap();
    assert_ne!(old, new);
    assert_eq!(keys::current_setup_code(&r.root).unwrap().unwrap(), new);
    assert_eq!(
        fs::read_to_string(at(&r.root, paths::SETUP_COUNTER)).unwrap(),
        "1\n"
    );
    let hash = fs::read_to_string(at(&r.root, paths::SETUP_HASH)).unwrap();
    assert!(setup_code::verify(&hash, &new.to_string()).unwrap());
    assert!(!setup_code::verify(&hash, &old.to_string()).unwrap());
    // The rotated code survives a reboot.
    firstboot::run(&r.opts, now()).unwrap();
    assert_eq!(keys::current_setup_code(&r.root).unwrap().unwrap(), new);
    let issue = fs::read_to_string(at(&r.root, paths::ISSUE)).unwrap();
    assert!(issue.contains(&format!("Setup code: {new}\n")), "{issue}");

    fs::write(at(&r.root, paths::SETUP_DONE), "").unwrap();
    assert_eq!(keys::current_setup_code(&r.root).unwrap(), None);
    assert!(!keys::ensure_setup_verifier(&r.root).unwrap());
    firstboot::run(&r.opts, now()).unwrap();
    let issue = fs::read_to_string(at(&r.root, paths::ISSUE)).unwrap();
    assert!(!issue.contains("Setup code"), "{issue}");
}

#[test]
fn the_certificate_has_the_required_fields() {
    let r = rig();
    let t0 = now();
    firstboot::run(&r.opts, t0).unwrap();
    let pem = fs::read_to_string(at(&r.root, paths::TLS_CERT)).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = p.parse_x509().unwrap();
    assert_eq!(cert.raw_serial().len(), 16);
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    let day = 86_400;
    assert!(
        (nb - (t0.unix_timestamp() - day)).abs() <= 5,
        "notBefore one day back"
    );
    assert!(na - nb <= 825 * day, "validity at most 825 days");
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    let names: Vec<String> = san.general_names.iter().map(|g| g.to_string()).collect();
    for want in [
        "DNSName(appliance)",
        "DNSName(appliance.example.test)",
        "DNSName(localhost)",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    assert!(
        san.general_names
            .iter()
            .any(|g| matches!(g, x509_parser::extensions::GeneralName::IPAddress(b) if *b == [10, 0, 2, 15])),
        "{names:?}"
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth);
    assert_eq!(
        cert.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1",
        "EC public key"
    );
    // Two appliances never share a serial (random, not derived from the key).
    let r2 = rig();
    firstboot::run(&r2.opts, t0).unwrap();
    let pem2 = fs::read_to_string(at(&r2.root, paths::TLS_CERT)).unwrap();
    let (_, p2) = x509_parser::pem::parse_x509_pem(pem2.as_bytes()).unwrap();
    assert_ne!(p2.parse_x509().unwrap().raw_serial(), cert.raw_serial());
}

/// The issue text and the ready line against x509-parser's reading of the
/// certificate and the SSH public keys' own bytes.
#[test]
fn the_console_text_shows_fingerprints_that_match_the_keys() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    let issue = fs::read_to_string(at(&r.root, paths::ISSUE)).unwrap();
    let pem = fs::read_to_string(at(&r.root, paths::TLS_CERT)).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let colon = Sha256::digest(&p.contents)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let cert = p.parse_x509().unwrap();
    let spki =
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(cert.public_key().raw));
    assert!(issue.contains("  https://10.0.2.15:8443/\n"), "{issue}");
    assert!(
        issue.contains(&format!("TLS certificate SHA-256: {colon}\n")),
        "{issue}"
    );
    assert!(
        issue.contains(&format!("Public key SHA-256: {spki}\n")),
        "{issue}"
    );
    for (name, rel) in [("ED25519", paths::SSH_ED25519), ("ECDSA", paths::SSH_ECDSA)] {
        let public = fs::read_to_string(at(&r.root, &format!("{rel}.pub"))).unwrap();
        let blob = base64::engine::general_purpose::STANDARD
            .decode(public.split_whitespace().nth(1).unwrap())
            .unwrap();
        let sum = base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob));
        assert!(
            issue.contains(&format!("SSH host key {name}: SHA256:{sum}\n")),
            "{issue}"
        );
    }
    let code = keys::current_setup_code(&r.root).unwrap().unwrap();
    assert!(issue.contains(&format!("Setup code: {code}\n")), "{issue}");

    // The consoles got the same text (CR LF), without a ready line before
    // the address is assigned.
    let printed = fs::read_to_string(&r.console)
        .unwrap()
        .replace("\r\n", "\n");
    assert!(printed.contains(&issue), "{printed}");
    assert!(!printed.contains("APPLIANCE-READY"), "{printed}");
    // Once assigned (as `watch` sees it), the ready line follows.
    let st = appliance_config::generation::Store::new(&r.root)
        .current()
        .unwrap()
        .unwrap()
        .1;
    let addr = [IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15))];
    firstboot::refresh(&r.root, &st, &addr, &r.opts.consoles, Print::Always, true).unwrap();
    let printed = fs::read_to_string(&r.console)
        .unwrap()
        .replace("\r\n", "\n");
    let ready = printed
        .lines()
        .find_map(|l| l.strip_prefix("APPLIANCE-READY "))
        .expect("ready line");
    let v: serde_json::Value = serde_json::from_str(ready).unwrap();
    assert_eq!(v["urls"][0], "https://10.0.2.15:8443/");
    assert_eq!(v["tls_sha256"], colon.replace(':', "").to_lowercase());
    assert_eq!(v["spki_sha256"], spki);
    assert_eq!(v["setup_pending"], true);
    assert!(
        !ready.contains(code.canonical()),
        "the ready line never carries the code"
    );
}

#[test]
fn the_refresh_shows_every_address_and_prints_only_on_change() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    let st = appliance_config::generation::Store::new(&r.root)
        .current()
        .unwrap()
        .unwrap()
        .1;
    let addrs = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15)),
        IpAddr::V4(Ipv4Addr::new(192, 168, 5, 9)),
        "2001:db8::5".parse().unwrap(),
    ];
    fs::write(&r.console, "").unwrap();
    assert!(firstboot::refresh(
        &r.root,
        &st,
        &addrs,
        &r.opts.consoles,
        Print::OnChange,
        true
    )
    .unwrap());
    let issue = fs::read_to_string(at(&r.root, paths::ISSUE)).unwrap();
    for u in [
        "https://10.0.2.15:8443/",
        "https://192.168.5.9:8443/",
        "https://[2001:db8::5]:8443/",
    ] {
        assert!(issue.contains(u), "{u}: {issue}");
    }
    let printed = fs::read_to_string(&r.console).unwrap();
    assert!(printed.contains("https://[2001:db8::5]:8443/"));
    // Same addresses: nothing printed again.
    fs::write(&r.console, "").unwrap();
    assert!(!firstboot::refresh(
        &r.root,
        &st,
        &addrs,
        &r.opts.consoles,
        Print::OnChange,
        true
    )
    .unwrap());
    assert_eq!(fs::read_to_string(&r.console).unwrap(), "");
    // agetty's trigger exists after a change.
    assert!(at(&r.root, paths::AGETTY_RELOAD).exists());
}

#[test]
fn without_a_record_the_fallback_state_is_used_and_said() {
    let r = rig();
    fs::remove_file(&r.opts.handover).unwrap();
    let out = firstboot::run(&r.opts, now()).unwrap();
    assert!(
        out.warnings.iter().any(|w| w.contains("handover.json")),
        "{:?}",
        out.warnings
    );
    let net = fs::read_to_string(at(
        &r.root,
        "/etc/systemd/network/10-appliance-lan0.network",
    ))
    .unwrap();
    assert!(
        net.contains("Type=ether") && net.contains("DHCP=ipv4"),
        "{net}"
    );
}

#[test]
fn a_damaged_key_file_is_named_not_replaced() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    fs::write(at(&r.root, paths::SSH_ED25519), "garbage").unwrap();
    let e = firstboot::run(&r.opts, now()).unwrap_err().to_string();
    assert!(
        e.contains("ssh_host_ed25519_key") && e.contains("OpenSSH"),
        "{e}"
    );
    assert_eq!(
        fs::read_to_string(at(&r.root, paths::SSH_ED25519)).unwrap(),
        "garbage"
    );
}

/// Runs a reference tool (integration tests may; a missing tool fails).
#[allow(clippy::disallowed_methods)]
fn tool_bytes(name: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed for this test: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn tool(name: &str, args: &[&str]) -> String {
    String::from_utf8(tool_bytes(name, args)).unwrap()
}

#[test]
#[ignore = "needs ssh-keygen"]
fn ssh_fingerprints_match_ssh_keygen() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    let issue = fs::read_to_string(at(&r.root, paths::ISSUE)).unwrap();
    for (name, rel) in [("ED25519", paths::SSH_ED25519), ("ECDSA", paths::SSH_ECDSA)] {
        let pubfile = at(&r.root, &format!("{rel}.pub"));
        let out = tool("ssh-keygen", &["-lf", pubfile.to_str().unwrap()]);
        let sum = out.split_whitespace().nth(1).unwrap();
        assert!(
            issue.contains(&format!("SSH host key {name}: {sum}\n")),
            "{out}\n{issue}"
        );
        // The private key is one ssh-keygen reads, and its public half is ours.
        let derived = tool(
            "ssh-keygen",
            &["-y", "-f", at(&r.root, rel).to_str().unwrap()],
        );
        let ours = fs::read_to_string(&pubfile).unwrap();
        let two = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert_eq!(two(&derived), two(&ours));
    }
}

#[test]
#[ignore = "needs openssl"]
fn tls_fingerprints_match_openssl() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    let issue = fs::read_to_string(at(&r.root, paths::ISSUE)).unwrap();
    let cert = at(&r.root, paths::TLS_CERT);
    let out = tool(
        "openssl",
        &[
            "x509",
            "-in",
            cert.to_str().unwrap(),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    let colon = out.trim().split('=').nth(1).unwrap();
    assert!(
        issue.contains(&format!("TLS certificate SHA-256: {colon}\n")),
        "{out}\n{issue}"
    );
    // SPKI: openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256 | base64.
    let pubkey = tool(
        "openssl",
        &["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"],
    );
    let dir = tempfile::tempdir().unwrap();
    let pk = dir.path().join("pub.pem");
    fs::write(&pk, pubkey).unwrap();
    let der = tool_bytes(
        "openssl",
        &[
            "pkey",
            "-pubin",
            "-in",
            pk.to_str().unwrap(),
            "-outform",
            "DER",
        ],
    );
    let spki = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&der));
    assert!(
        issue.contains(&format!("Public key SHA-256: {spki}\n")),
        "{issue}"
    );
    // The key file matches the certificate.
    let key = at(&r.root, paths::TLS_KEY);
    let from_key = tool(
        "openssl",
        &["pkey", "-in", key.to_str().unwrap(), "-pubout"],
    );
    let from_cert = fs::read_to_string(&pk).unwrap();
    assert_eq!(from_key.trim(), from_cert.trim());
}

#[test]
fn watch_looks_once_with_the_current_generation() {
    let r = rig();
    firstboot::run(&r.opts, now()).unwrap();
    fs::remove_file(at(&r.root, paths::ISSUE)).unwrap();
    fs::write(&r.console, "").unwrap();
    // Forced: printed even though nothing changed since the last look.
    assert!(appliance_config::watch::once(&r.root, &r.opts.consoles, Print::Always).unwrap());
    let issue = fs::read_to_string(at(&r.root, paths::ISSUE)).unwrap();
    assert!(
        issue.starts_with("Example Appliance 1.0.0 (appliance.example.test)\n"),
        "{issue}"
    );
    assert!(fs::read_to_string(&r.console)
        .unwrap()
        .contains("TLS certificate SHA-256: "));
}
