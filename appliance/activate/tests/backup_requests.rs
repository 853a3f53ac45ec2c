//! `appliance-firstboot request`'s backup and restore requests in a
//! temporary root: a backup the library's inspection accepts (and its key
//! and data as two files), the specific refusal of a bad upload, the
//! summary of a good one, a restore of `etc` alone on another appliance,
//! and requests refused with the key they break. The passphrase is a TEST
//! value.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use appliance_activate::backup::{self, JobState, Jobs, BACKUPS_DIR, UPLOADS_DIR};
use appliance_activate::status::{self, Phase};
use appliance_activate::{apply, plan, restored};
use appliance_backup::SecretString;
use appliance_backup_cli::layout::Appliance;
use appliance_backup_cli::restore::{inspect, ReadRequest};
use appliance_config::fsutil::under;
use appliance_config::generation::Store;
use appliance_config::paths;
use support::{appliance, Fake};

const PASS: &str = "TEST passphrase of the request tests";

fn jobs(root: &Path) -> Jobs {
    let p = under(root, paths::HANDOVER);
    fs::create_dir_all(p.parent().expect("parent")).expect("dir");
    fs::write(&p, handover::EXAMPLE_JSON).expect("handover");
    Jobs {
        app: Appliance {
            root: root.to_owned(),
            db: None,
        },
        model: None,
        work_factor: 10,
        max_work_factor: 18,
    }
}

fn drop_request(root: &Path, kind: &str, body: serde_json::Value) {
    let dir = under(root, paths::REQUESTS_DIR);
    fs::create_dir_all(&dir).expect("dir");
    let p = dir.join(format!("{kind}.json"));
    fs::write(&p, body.to_string()).expect("request");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("mode");
}

fn backup_of(root: &Path, jobs: &Jobs, components: &[&str], split: bool) -> Vec<String> {
    drop_request(
        root,
        "backup",
        serde_json::json!({"request": "backup", "id": "b1", "passphrase": PASS,
                           "components": components, "split": split}),
    );
    let out = backup::handle_all(jobs, &Fake::default(), &|_| Ok(String::new())).expect("handled");
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(!under(root, paths::REQUESTS_DIR)
        .join("backup.json")
        .exists());
    let s = backup::read_status(root, "backup").expect("status");
    assert_eq!((s.state, s.id.as_str()), (JobState::Done, "b1"), "{s:?}");
    let text = fs::read_to_string(under(root, backup::BACKUP_STATUS)).expect("status file");
    assert!(!text.contains(PASS), "the passphrase is in the status");
    s.files
}

fn checked(jobs: &Jobs, files: Vec<std::path::PathBuf>) -> Vec<appliance_backup::Manifest> {
    let pass = SecretString::from(PASS.to_owned());
    inspect(
        &jobs.app,
        &ReadRequest {
            files,
            passphrase: &pass,
            max_work_factor: 18,
            model: None,
        },
    )
    .expect("the library accepts the backup")
}

#[test]
fn a_backup_request_writes_a_private_file_that_inspection_accepts() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let jobs = jobs(root);
    let files = backup_of(root, &jobs, &["etc", "db-key", "tls"], false);
    assert_eq!(files.len(), 1);
    assert!(
        files[0].ends_with("_etc+db-key+tls.backup.age"),
        "{files:?}"
    );
    let p = under(root, BACKUPS_DIR).join(&files[0]);
    let mode = fs::metadata(&p).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let m = checked(&jobs, vec![p]);
    let ids: Vec<&str> = m[0].components.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["etc", "db-key", "tls"]);
    // Nothing is left in the root side's own directory.
    assert!(!jobs.app.work_dir().join("out").exists());

    let two = backup_of(root, &jobs, &["etc", "db-key", "tls"], true);
    assert_eq!(two.len(), 2, "{two:?}");
    assert!(
        two.iter().any(|f| f.ends_with("_key.backup.age")),
        "{two:?}"
    );
    assert!(
        two.iter().any(|f| f.ends_with("_data.backup.age")),
        "{two:?}"
    );
    let paths = two
        .iter()
        .map(|f| under(root, BACKUPS_DIR).join(f))
        .collect();
    assert_eq!(checked(&jobs, paths).len(), 2);
}

fn upload(root: &Path, name: &str, bytes: &[u8]) {
    let dir = under(root, UPLOADS_DIR);
    fs::create_dir_all(&dir).expect("dir");
    fs::write(dir.join(name), bytes).expect("upload");
}

fn run(root: &Path, jobs: &Jobs, kind: &str, body: serde_json::Value) -> backup::JobStatus {
    drop_request(root, kind, body);
    backup::handle_all(jobs, &Fake::default(), &|_| Ok(String::new())).expect("handled");
    backup::read_status(root, kind).expect("status")
}

#[test]
fn a_bad_upload_is_refused_with_its_own_message_and_removed() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let jobs = jobs(root);
    upload(
        root,
        "upload-1.backup.age",
        b"these are not the bytes of a backup\n",
    );
    let s = run(
        root,
        &jobs,
        "restore-inspect",
        serde_json::json!({"request": "restore-inspect", "id": "i1", "passphrase": PASS,
                           "files": ["upload-1.backup.age"]}),
    );
    assert_eq!((s.state, s.id.as_str()), (JobState::Failed, "i1"));
    assert!(s.message.starts_with("not a backup file"), "{}", s.message);
    assert!(!under(root, UPLOADS_DIR)
        .join("upload-1.backup.age")
        .exists());

    // A wrong passphrase on a good file.
    let files = backup_of(root, &jobs, &["etc"], false);
    let bytes = fs::read(under(root, BACKUPS_DIR).join(&files[0])).expect("backup");
    upload(root, "upload-2.backup.age", &bytes);
    let s = run(
        root,
        &jobs,
        "restore-inspect",
        serde_json::json!({"request": "restore-inspect", "id": "i2",
                           "passphrase": "TEST wrong passphrase", "files": ["upload-2.backup.age"]}),
    );
    assert_eq!(s.state, JobState::Failed);
    assert!(s.message.contains("passphrase"), "{}", s.message);
}

#[test]
fn requests_that_break_the_contract_name_the_key() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let jobs = jobs(root);
    let s = run(
        root,
        &jobs,
        "restore-inspect",
        serde_json::json!({"request": "restore-inspect", "id": "x1", "passphrase": PASS,
                           "files": ["../../../etc/shadow"]}),
    );
    assert_eq!((s.state, s.id.as_str()), (JobState::Failed, "x1"));
    assert!(s.message.contains("key `files`"), "{}", s.message);
    let s = run(
        root,
        &jobs,
        "backup",
        serde_json::json!({"request": "backup", "id": "x2", "passphrase": PASS,
                           "components": ["etc"], "colour": "red"}),
    );
    assert!(s.message.contains("colour"), "{}", s.message);
    assert_eq!(s.id, "x2");
    let s = run(
        root,
        &jobs,
        "backup",
        serde_json::json!({"request": "backup", "id": "x3", "passphrase": "",
                           "components": ["etc"]}),
    );
    assert!(
        s.message.contains("key `passphrase` is empty"),
        "{}",
        s.message
    );
    let s = run(
        root,
        &jobs,
        "backup",
        serde_json::json!({"request": "backup", "id": "x4", "passphrase": PASS,
                           "components": ["etc", "logs"]}),
    );
    assert!(s.message.contains("key `components`"), "{}", s.message);
    assert!(s.message.contains("\"logs\""), "{}", s.message);
}

#[test]
fn inspect_shows_the_summary_and_restore_of_etc_alone_switches_the_state() {
    let source = appliance("10.0.2.15/24");
    let src_jobs = jobs(source.path());
    let files = backup_of(source.path(), &src_jobs, &["etc", "tls"], false);
    let bytes = fs::read(under(source.path(), BACKUPS_DIR).join(&files[0])).expect("backup");

    let target = appliance("10.0.2.16/24");
    let root = target.path();
    let jobs = jobs(root);
    upload(root, "upload-1.backup.age", &bytes);
    let before = Store::new(root)
        .current()
        .expect("store")
        .expect("current")
        .0;
    let tls_before = fs::read(under(root, paths::TLS_KEY)).expect("tls key");
    let request = |kind: &str, id: &str| {
        serde_json::json!({"request": kind, "id": id, "passphrase": PASS,
                           "files": ["upload-1.backup.age"], "components": ["etc"]})
    };
    let s = run(
        root,
        &jobs,
        "restore-inspect",
        request("restore-inspect", "i1"),
    );
    assert_eq!(s.state, JobState::Inspected, "{s:?}");
    let sum = &s.summaries[0];
    assert_eq!(sum.model, "example-appliance");
    let ids: Vec<&str> = sum.components.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["etc", "tls"]);
    assert!(sum.components.iter().all(|c| c.files > 0 && c.bytes > 0));
    // The upload stays for the restore.
    assert!(under(root, UPLOADS_DIR)
        .join("upload-1.backup.age")
        .exists());

    let sys = Fake::default();
    drop_request(root, "restore", request("restore", "r1"));
    let applied = std::cell::Cell::new(0);
    let apply = |b: Option<u64>| {
        applied.set(applied.get() + 1);
        assert_eq!(b, Some(before), "given the generation before the restore");
        // Meanwhile the page showed each step as it started.
        let shown = backup::read_status(root, "restore").expect("status meanwhile");
        assert_eq!(shown.state, JobState::Running);
        assert!(shown.message.starts_with("switching"), "{shown:?}");
        assert_eq!(shown.components[0].state, "working", "{shown:?}");
        Ok("NOTE OF THE APPLY".to_string())
    };
    backup::handle_all(&jobs, &sys, &apply).expect("handled");
    assert_eq!(applied.get(), 1, "a restored etc is put into effect once");
    let s = backup::read_status(root, "restore").expect("status");
    assert!(s.message.contains("NOTE OF THE APPLY"), "{s:?}");
    assert_eq!((s.state, s.id.as_str()), (JobState::Done, "r1"), "{s:?}");
    assert_eq!(s.components.len(), 1);
    assert_eq!(s.components[0].id, "etc");
    assert_eq!(s.components[0].state, "restored");
    assert!(s.components[0].message.starts_with("restored"), "{s:?}");
    let after = Store::new(root)
        .current()
        .expect("store")
        .expect("current")
        .0;
    assert!(after > before, "a new generation of the desired state");
    assert_eq!(
        fs::read(under(root, paths::TLS_KEY)).expect("tls"),
        tls_before
    );
    assert!(
        sys.calls().is_empty(),
        "etc alone reloads nothing: {:?}",
        sys.calls()
    );
    assert!(!under(root, UPLOADS_DIR)
        .join("upload-1.backup.age")
        .exists());
}

/// Restores `etc` of an appliance at `from` onto one at `to` through the
/// request, with the production apply (`restored::put_into_effect`) at
/// `now`. Returns the target, the generation before, the job's status.
fn restore_etc_for_real(
    from: &str,
    to: &str,
    sys: &Fake,
) -> (tempfile::TempDir, u64, backup::JobStatus) {
    let source = appliance(from);
    // The source's own host name, so that its state differs in more than
    // the address.
    let store = Store::new(source.path());
    let (_, mut st) = store.current().expect("store").expect("current");
    st.hostname = "source-host".into();
    store.commit(&st).expect("commit");
    let files = backup_of(source.path(), &jobs(source.path()), &["etc"], false);
    let bytes = fs::read(under(source.path(), BACKUPS_DIR).join(&files[0])).expect("backup");
    let target = appliance(to);
    let root = target.path();
    let jobs = jobs(root);
    upload(root, "upload-1.backup.age", &bytes);
    let before = support::gen_current(root);
    drop_request(
        root,
        "restore",
        serde_json::json!({"request": "restore", "id": "r1", "passphrase": PASS,
                           "files": ["upload-1.backup.age"], "components": ["etc"]}),
    );
    let cx = support::ctx(root, sys, support::now(), true);
    let facts = support::facts(Some(to));
    let apply = |b: Option<u64>| {
        restored::put_into_effect(&cx, &facts, b)
            .map(|a| a.note())
            .map_err(|e| e.to_string())
    };
    backup::handle_all(&jobs, sys, &apply).expect("handled");
    let s = backup::read_status(root, "restore").expect("status");
    assert_eq!(s.state, JobState::Done, "{s:?}");
    (target, before, s)
}

#[test]
fn a_restored_configuration_with_the_same_address_is_in_effect_at_once() {
    let sys = Fake::default();
    let (target, before, s) = restore_etc_for_real("10.0.2.16/24", "10.0.2.16/24", &sys);
    let root = target.path();
    assert!(
        s.message
            .contains("the restored configuration is in effect"),
        "{s:?}"
    );
    assert!(support::gen_current(root) > before);
    assert!(status::read_record(root).expect("record").is_none());
    assert!(sys.calls().contains(&"hostname source-host".to_string()));
    assert!(sys.calls().contains(
        &"restart systemd-networkd.service chrony.service freeradius.service ssh.service"
            .to_string()
    ));
}

#[test]
fn a_restored_address_change_waits_for_its_confirmation_and_rolls_back_without_it() {
    let sys = Fake::default();
    let (target, before, s) = restore_etc_for_real("10.0.2.15/24", "10.0.2.16/24", &sys);
    let root = target.path();
    assert!(
        s.message.contains("moves the appliance to another address")
            && s.message.contains("https://10.0.2.15:8443/setup/confirm"),
        "{s:?}"
    );
    let restored_gen = support::gen_current(root);
    assert!(restored_gen > before);
    let record = status::read_record(root).expect("record").expect("pending");
    assert!(record.restore);
    assert_eq!((record.generation, record.previous), (restored_gen, before));
    assert_eq!(
        record.old_address,
        Some("10.0.2.16/24".parse().expect("cidr"))
    );
    let shown = status::read(root).expect("activation status");
    assert_eq!(shown.state, Phase::PendingConfirm, "{shown:?}");
    assert!(shown.message.contains("the other restored components stay"));
    let dropin = under(
        root,
        &plan::grace_dropin(appliance_config::state::FIRST_INTERFACE),
    );
    let kept = fs::read_to_string(&dropin).expect("the old address is kept");
    assert!(kept.contains("Address=10.0.2.16/24"), "{kept}");
    assert!(sys.calls().contains(&"start rollback service".to_string()));

    // Not confirmed: at the deadline the previous configuration is back,
    // and the old address's drop-in is gone.
    let late = support::ctx(
        root,
        &sys,
        support::now() + time::Duration::minutes(11),
        false,
    );
    let s = apply::at_boot(&late).expect("boot").expect("rolled back");
    assert_eq!(s.state, Phase::RolledBack, "{s:?}");
    assert!(
        s.message.contains("the other restored components stay"),
        "{s:?}"
    );
    assert_eq!(support::gen_current(root), before);
    assert!(!dropin.exists());
    assert!(status::read_record(root).expect("record").is_none());
}

#[test]
fn a_confirmed_restored_address_change_is_final() {
    let sys = Fake::default();
    let (target, _, _) = restore_etc_for_real("10.0.2.15/24", "10.0.2.16/24", &sys);
    let root = target.path();
    let restored_gen = support::gen_current(root);
    let cx = support::ctx(root, &sys, support::now(), true);
    let s = apply::confirm(&cx).expect("confirms").expect("was pending");
    assert_eq!(s.state, Phase::Done, "{s:?}");
    assert!(
        s.message.contains("restored configuration is confirmed"),
        "{s:?}"
    );
    assert_eq!(support::gen_current(root), restored_gen);
    assert!(!under(
        root,
        &plan::grace_dropin(appliance_config::state::FIRST_INTERFACE)
    )
    .exists());
    assert!(status::read_record(root).expect("record").is_none());
}
