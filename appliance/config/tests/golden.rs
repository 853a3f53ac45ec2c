//! Handover record → desired state → rendered files, compared byte for byte
//! with `tests/golden/<case>/` (`state.json` and the files under their
//! absolute paths; a symbolic link is a file `<path>.symlink` holding its
//! target). After an intended change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p appliance-config --test golden` and
//! review the diff.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use appliance_config::render::{self, Content};
use appliance_config::state::{self, LayoutEntry};
use handover::Handover;

fn layouts() -> Vec<LayoutEntry> {
    serde_json::from_str(
        r#"[
          {"code": "us", "name": "English (US)", "xkb_layout": "us", "xkb_variant": ""},
          {"code": "de", "name": "German (no dead keys)", "xkb_layout": "de", "xkb_variant": "nodeadkeys"},
          {"code": "fr-ch", "name": "French (Switzerland, no dead keys)", "xkb_layout": "ch", "xkb_variant": "fr_nodeadkeys"}
        ]"#,
    )
    .unwrap()
}

/// The documented example: manual network, serial console, `de`.
fn manual_serial() -> Handover {
    Handover::parse(handover::EXAMPLE_JSON).unwrap()
}

/// DHCP with a lease, VGA console, Swiss French, search domains, no domain.
fn dhcp_vga() -> Handover {
    let text = handover::EXAMPLE_JSON
        .replace("\"mode\": \"manual\"", "\"mode\": \"dhcp\"")
        .replace(
            "\"address\": \"10.0.2.15/24\"",
            "\"address\": \"192.168.7.23/24\"",
        )
        .replace("\"gateway\": \"10.0.2.2\"", "\"gateway\": \"192.168.7.1\"")
        .replace("\"domain\": \"example.test\"", "\"domain\": null")
        .replace(
            "\"search\": []",
            "\"search\": [\"corp.example\", \"lab.example\"]",
        )
        .replace("\"hostname\": \"appliance\"", "\"hostname\": \"Otp-1\"")
        .replace("\"layout\": \"de\"", "\"layout\": \"fr-ch\"")
        .replace("\"console\": \"ttyS0\"", "\"console\": \"tty0\"");
    Handover::parse(&text).unwrap()
}

fn golden_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

fn files_under(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.insert(p);
        }
    }
}

fn check(case: &str, h: &Handover) {
    check_edited(case, h, |_| {});
}

fn check_edited(case: &str, h: &Handover, edit: impl Fn(&mut state::DesiredState)) {
    let (mut st, warnings) = state::from_handover(h, &layouts());
    assert!(warnings.is_empty(), "{warnings:?}");
    edit(&mut st);
    let mut expected: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut json = serde_json::to_string_pretty(&st).unwrap();
    json.push('\n');
    let dir = golden_dir(case);
    expected.push((dir.join("state.json"), json.into_bytes()));
    for (path, entry) in render::render(&st).unwrap() {
        let rel = path.trim_start_matches('/');
        match entry.content {
            Content::File { bytes, mode } => {
                assert_eq!(mode, 0o644, "{path}");
                expected.push((dir.join(rel), bytes));
            }
            Content::Symlink(target) => expected.push((
                dir.join(format!("{rel}.symlink")),
                format!("{target}\n").into_bytes(),
            )),
        }
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = fs::remove_dir_all(&dir);
        for (p, b) in &expected {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, b).unwrap();
        }
    }
    let mut on_disk = BTreeSet::new();
    files_under(&dir, &mut on_disk);
    let wanted: BTreeSet<PathBuf> = expected.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(on_disk, wanted, "golden files of {case} differ in names");
    for (p, b) in expected {
        let golden = fs::read(&p).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&golden),
            String::from_utf8_lossy(&b),
            "{} differs",
            p.display()
        );
    }
}

#[test]
fn manual_network_on_the_serial_console() {
    check("manual-serial", &manual_serial());
}

#[test]
fn dhcp_on_the_vga_console() {
    check("dhcp-vga", &dhcp_vga());
}

/// After the set-up wizard's activation: NTP servers chosen, so chrony's
/// configuration is rendered (only those servers).
#[test]
fn ntp_servers_after_activation() {
    check_edited("activated-ntp", &manual_serial(), |st| {
        st.ntp_servers = Some(vec!["ntp1.example.test".into(), "192.0.2.123".into()]);
        st.time_zone = "Europe/Berlin".into();
    });
}
