//! `installer validate-answers FILE`: the host-side check of answer files
//! (`cargo xtask iso --answers` runs it), exit codes and messages.

use std::path::PathBuf;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    // Tests may start the binary under test directly.
    #[allow(clippy::disallowed_methods)]
    std::process::Command::new(env!("CARGO_BIN_EXE_installer"))
        .args(args)
        .output()
        .expect("run the installer binary")
}

/// Writes `text` to a file under the temp directory; returns its path.
fn data(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("installer-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the test directory");
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, text).expect("write a test answer file");
    p.to_string_lossy().into_owned()
}

const MANUAL: &str = r#"{
  "version": 1,
  "network": {
    "mode": "manual",
    "interface": "eth0",
    "address": "192.0.2.10/24",
    "gateway": "192.0.2.1",
    "dns": ["192.0.2.53", "198.51.100.53"],
    "hostname": "appliance",
    "domain": "example.com",
    "search": ["example.com"]
  },
  "keyboard": "de",
  "finish": "poweroff"
}
"#;

const DHCP: &str = r#"{
  "version": 1,
  "network": { "mode": "dhcp" },
  "keyboard": "us",
  "finish": "reboot"
}
"#;

const PARTIAL: &str = r#"{
  "version": 1,
  "keyboard": "fr"
}
"#;

const BAD_VALUES: &str = r#"{
  "version": 1,
  "network": {
    "mode": "manual",
    "address": "192.0.2.10/24",
    "gateway": "10.0.0.1",
    "dns": ["192.0.2.53", "192.0.2.53"],
    "hostname": "-appliance",
    "search": ["corp_net.example"]
  }
}
"#;

const TYPO: &str = r#"{
  "version": 1,
  "network": { "mode": "manual", "adress": "192.0.2.10/24" }
}
"#;

#[test]
fn good_files_pass_with_exit_0() {
    for (name, text) in [
        ("manual.json", MANUAL),
        ("dhcp.json", DHCP),
        ("partial.json", PARTIAL),
    ] {
        let file = data(name, text);
        let out = run(&["validate-answers", &file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{file}: ok\n")
        );
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn bad_values_are_listed_with_key_paths_and_exit_1() {
    let file = data("bad-values.json", BAD_VALUES);
    let out = run(&["validate-answers", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = [
        "network.gateway: 10.0.0.1 is outside 192.0.2.0/24",
        "network.dns[1]: 192.0.2.53 is listed twice",
        "network.hostname: \"-appliance\" starts with a hyphen",
        "network.search[0]: \"corp_net.example\" contains \"_\"; only letters a-z, digits and hyphens are allowed",
    ];
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), want.len(), "{err}");
    for (line, w) in lines.iter().zip(want) {
        assert_eq!(*line, format!("{file}: {w}"));
    }
}

#[test]
fn an_unknown_key_names_its_path_and_the_allowed_keys() {
    let file = data("typo.json", TYPO);
    let out = run(&["validate-answers", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "{file}: network.adress: unknown field, expected one of `mode`, `interface`, `address`, `gateway`, `dns`, `hostname`, `domain`, `search`\n"
        )
    );
}

#[test]
fn unreadable_files_and_bad_arguments() {
    let out = run(&["validate-answers", "/nonexistent/answers.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("installer: cannot read /nonexistent/answers.json:"));
    let out = run(&["validate-answers"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("validate-answers needs exactly one FILE")
    );
}

#[test]
fn shell_refuses_to_run_outside_pid1() {
    let out = run(&["shell"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("`shell` only runs as the child of the installer's PID 1"));
}
