//! `appliance-firstboot watch` in a network name space: an address added
//! to an interface shows up on the console (URL and ready line) within
//! seconds, IPv6 in brackets.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::fs;

/// Runs the binary's first boot and then `watch` inside `unshare -n`,
/// adding addresses with `ip`.
#[test]
#[ignore = "needs root, unshare and ip (network name space)"]
#[allow(clippy::disallowed_methods)] // reference tools in an integration test
fn an_address_change_refreshes_the_console() {
    let bin = env!("CARGO_BIN_EXE_appliance-firstboot");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let handover = dir.path().join("handover.json");
    fs::write(&handover, handover::EXAMPLE_JSON).unwrap();
    let console = dir.path().join("console");
    fs::write(&console, "").unwrap();
    let status = std::process::Command::new(bin)
        .args(["run", "--root", root.to_str().unwrap(), "--handover"])
        .arg(&handover)
        .arg("--console")
        .arg(&console)
        .status()
        .unwrap();
    assert!(status.success());
    let script = format!(
        r#"set -e
ip link set lo up
ip link add w0 type veth peer name w1
ip link set w1 up
ip link set w0 up
"{bin}" watch --root "{root}" --console "{con}" &
pid=$!
trap 'kill $pid' EXIT
sleep 2
: > "{con}"
ip addr add 192.0.2.44/24 dev w0
sleep 2
cp "{con}" "{con}.v4"
: > "{con}"
ip addr add 2001:db8::44/64 dev w0 nodad
sleep 2
cp "{con}" "{con}.v6"
"#,
        root = root.display(),
        con = console.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .output()
        .expect("unshare is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v4 = fs::read_to_string(format!("{}.v4", console.display())).unwrap();
    assert!(v4.contains("  https://192.0.2.44:8443/\r\n"), "{v4}");
    let ready = v4
        .lines()
        .find_map(|l| l.strip_prefix("APPLIANCE-READY "))
        .expect("a ready line after the address came");
    let v: serde_json::Value = serde_json::from_str(ready.trim()).unwrap();
    assert_eq!(v["addresses"], serde_json::json!(["192.0.2.44"]));
    let v6 = fs::read_to_string(format!("{}.v6", console.display())).unwrap();
    assert!(v6.contains("https://[2001:db8::44]:8443/"), "{v6}");
    let issue = fs::read_to_string(root.join("run/issue.d/50-appliance.issue")).unwrap();
    assert!(
        issue.contains("https://192.0.2.44:8443/")
            && issue.contains("https://[2001:db8::44]:8443/")
    );
}
