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
    let out = backup::handle_all(jobs, &Fake::default(), &|| Ok(())).expect("handled");
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
    backup::handle_all(jobs, &Fake::default(), &|| Ok(())).expect("handled");
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
    let apply = || {
        applied.set(applied.get() + 1);
        Ok(())
    };
    backup::handle_all(&jobs, &sys, &apply).expect("handled");
    assert_eq!(applied.get(), 1, "a restored etc is put into effect once");
    let s = backup::read_status(root, "restore").expect("status");
    assert!(
        s.message
            .contains("the restored configuration is in effect"),
        "{s:?}"
    );
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
