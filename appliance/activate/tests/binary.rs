//! The `appliance-firstboot` binary's wiring: `request` handles a setup code
//! rotation and a backup request (the passphrase never printed), `run`
//! (every boot) rolls back an activation whose deadline passed while the
//! machine was off, before it applies the state.

mod support;

use std::fs;
use std::path::Path;
use std::process::Output;

use appliance_activate::apply;
use appliance_config::fsutil::under;
use appliance_config::paths;
use support::{appliance, ctx, facts, gen_current, snapshot, Fake};

#[allow(clippy::disallowed_methods)] // the binary under test
fn firstboot(root: &Path, args: &[&str]) -> Output {
    let console = root.join("console");
    fs::write(&console, "").expect("console");
    std::process::Command::new(env!("CARGO_BIN_EXE_appliance-firstboot"))
        .args(args)
        .arg("--root")
        .arg(root)
        .arg("--console")
        .arg(&console)
        .output()
        .expect("runs")
}

#[test]
fn request_rotates_the_setup_code() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let out = firstboot(root, &["request"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "no request\n");

    let requests = under(root, paths::REQUESTS_DIR);
    fs::create_dir_all(&requests).expect("dir");
    fs::write(requests.join("rotate-code.json"), "{}").expect("request");
    let out = firstboot(root, &["request"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "rotate-code: the setup code was replaced; the console shows the new one\n"
    );
    assert!(!requests.join("rotate-code.json").exists());
    assert_eq!(
        fs::read_to_string(under(root, paths::SETUP_COUNTER)).expect("counter"),
        "1\n"
    );
    // The console got the text with the new code.
    let code = appliance_config::keys::current_setup_code(root)
        .expect("code")
        .expect("some");
    let console = fs::read_to_string(root.join("console")).expect("console");
    assert!(
        console.contains(&format!("Setup code: {code}")),
        "{console}"
    );
}

#[test]
fn run_rolls_back_an_expired_activation_before_applying_the_state() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let before = snapshot(root);
    let sys = Fake::default();
    let cx = ctx(root, &sys, time::OffsetDateTime::now_utc(), true);
    let mut f = facts(Some("10.0.2.15/24"));
    f.grace_seconds = 0;
    apply::activate(&cx, &f).expect("pending");
    assert_eq!(gen_current(root), 2);

    let out = firstboot(root, &["run", "--handover", "/nonexistent/handover.json"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .contains("activation at boot: RolledBack: The new address was not confirmed in time."),
        "{stdout}"
    );
    assert!(stdout.contains("desired state: generation 1\n"), "{stdout}");
    assert_eq!(gen_current(root), 1);
    // The keys are the old ones; first boot then made none.
    assert_eq!(snapshot(root), before);
    let console = fs::read_to_string(root.join("console")).expect("console");
    assert!(
        console.contains("The previous configuration is back"),
        "{console}"
    );
}

#[test]
fn request_runs_a_backup_request_and_never_prints_the_passphrase() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let handover = under(root, paths::HANDOVER);
    fs::create_dir_all(handover.parent().expect("parent")).expect("dir");
    fs::write(&handover, handover::EXAMPLE_JSON).expect("handover");
    let requests = under(root, paths::REQUESTS_DIR);
    fs::create_dir_all(&requests).expect("dir");
    let pass = "TEST passphrase of the binary test";
    let body = serde_json::json!({"request": "backup", "id": "b1", "passphrase": pass,
                                  "components": ["etc"]});
    fs::write(requests.join("backup.json"), body.to_string()).expect("request");
    let out = firstboot(root, &["request"]);
    assert!(out.status.success(), "{out:?}");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.starts_with("backup: backup written: "), "{stdout}");
    assert!(!stdout.contains(pass) && !stderr.contains(pass));
    assert!(!requests.join("backup.json").exists());
    let name = stdout.trim().rsplit(' ').next().expect("name");
    assert!(name.ends_with("_etc.backup.age"), "{name}");
    assert!(under(root, appliance_activate::backup::BACKUPS_DIR)
        .join(name)
        .exists());
}
