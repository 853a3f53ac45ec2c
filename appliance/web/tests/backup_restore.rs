//! System → Backup and System → Restore without a socket: the sign-in and
//! the form token are needed, the passphrase's field errors, the request
//! files for the root side, the pages that follow the root side's status
//! (written here as the root side writes it), the download (streamed,
//! removed once sent) and the upload (streamed, capped). Passphrases here
//! are TEST values.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use appliance_web::setup::gate::GateLimits;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use support::oneshot::{Browser, Reply};
use support::setup::{Wizard, ADMIN, HOST};

const PASS: &str = "TEST backup passphrase";

async fn signed_in(w: &Wizard) -> Browser {
    w.write_admin_credentials();
    w.set_up(true);
    let mut b = Browser::new(&w.app, "192.0.2.1");
    let csrf = b.get("/").await.csrf();
    let r = b
        .post(
            "/login",
            &[("csrf", &csrf), ("login", ADMIN.0), ("password", ADMIN.1)],
        )
        .await;
    assert_eq!(r.location(), "/system/status", "{}", r.body);
    b
}

fn state(w: &Wizard, rel: &str) -> PathBuf {
    w.dir.path().join("state").join(rel)
}

fn set_status(w: &Wizard, file: &str, json: serde_json::Value) {
    let p = w.dir.path().join("run").join(file);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, json.to_string()).unwrap();
}

/// Reads and removes a request file, as the root side does.
fn take_request(w: &Wizard, kind: &str) -> serde_json::Value {
    let p = state(w, &format!("requests/{kind}.json"));
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{kind}.json");
    let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    std::fs::remove_file(p).unwrap();
    v
}

fn refreshes(r: &Reply) -> bool {
    r.body.contains("http-equiv=\"refresh\"")
}

#[tokio::test]
async fn the_pages_need_the_set_up_and_the_sign_in() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    for path in ["/system/backup", "/system/restore"] {
        assert_eq!(b.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = b
        .post_multipart("/system/restore/upload", &[("csrf", "x")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    w.write_admin_credentials();
    w.set_up(true);
    for path in [
        "/system/backup",
        "/system/restore",
        "/system/backup/download/otp1_20261207-060000Z_all.backup.age",
    ] {
        let r = b.get(path).await;
        assert_eq!(
            (r.status, r.location()),
            (StatusCode::SEE_OTHER, "/"),
            "{path}"
        );
    }
    for path in [
        "/system/backup",
        "/system/restore",
        "/system/restore/cancel",
    ] {
        let r = b.post(path, &[("csrf", "x"), ("passphrase", PASS)]).await;
        assert_eq!(
            (r.status, r.location()),
            (StatusCode::SEE_OTHER, "/"),
            "{path}"
        );
    }
    let r = b
        .post_multipart("/system/restore/upload", &[("csrf", "x")])
        .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/"));
    assert!(
        !state(&w, "requests").exists(),
        "no request without a session"
    );
}

#[tokio::test]
async fn backup_checks_the_passphrase_then_asks_root_and_offers_the_file_once() {
    let w = Wizard::new(GateLimits::default());
    let mut b = signed_in(&w).await;
    let page = b.get("/system/backup").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("aria-current=\"page\">Backup<"),
        "{}",
        page.body
    );
    let csrf = page.csrf();

    let r = b
        .post(
            "/system/backup",
            &[
                ("csrf", "not the token"),
                ("passphrase", PASS),
                ("passphrase2", PASS),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for (p, p2, field, text) in [
        ("", "", "passphrase", "Enter a passphrase"),
        ("short", "short", "passphrase", "at least 12 characters"),
        (
            PASS,
            "TEST another passphrase",
            "passphrase2",
            "The two passphrases differ",
        ),
    ] {
        let r = b
            .post(
                "/system/backup",
                &[("csrf", &csrf), ("passphrase", p), ("passphrase2", p2)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        assert!(r.body.contains(text), "{text}\n{}", r.body);
        assert!(r.body.contains(&format!("id=\"{field}\" name=\"{field}\" autocomplete=\"new-password\" aria-invalid=\"true\"")), "{field}\n{}", r.body);
        assert!(
            !r.body.contains(PASS),
            "a typed passphrase is never sent back"
        );
    }
    assert!(!state(&w, "requests/backup.json").exists());

    let r = b
        .post(
            "/system/backup",
            &[
                ("csrf", &csrf),
                ("passphrase", PASS),
                ("passphrase2", PASS),
                ("files", "split"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/system/backup?follow=on")
    );
    let page = b.get("/system/backup?follow=on").await;
    assert!(
        page.body.contains("is being written") && refreshes(&page),
        "{}",
        page.body
    );
    let req = take_request(&w, "backup");
    assert_eq!(req["passphrase"], PASS);
    assert_eq!(req["split"], true);
    assert_eq!(req["components"][0], "all");
    let id = req["id"].as_str().unwrap().to_string();

    // Another request's status is not ours: still waiting.
    set_status(
        &w,
        "backup.json",
        serde_json::json!({"job": "backup", "id": "older", "state": "failed", "message": "older"}),
    );
    assert!(refreshes(&b.get("/system/backup?follow=on").await));
    // Without ?follow=on: no timed refresh, a link that asks for one.
    let page = b.get("/system/backup").await;
    assert!(
        !refreshes(&page) && page.body.contains("href=\"/system/backup?follow=on\""),
        "{}",
        page.body
    );
    set_status(
        &w,
        "backup.json",
        serde_json::json!({"job": "backup", "id": id, "state": "failed",
        "message": "component token-db: no database given"}),
    );
    let page = b.get("/system/backup").await;
    assert!(
        page.body
            .contains("The backup failed: component token-db: no database given"),
        "{}",
        page.body
    );
    assert!(!refreshes(&page));

    let name = "otp1_20261207-060000Z_data.backup.age";
    std::fs::create_dir_all(state(&w, "backups")).unwrap();
    std::fs::write(state(&w, "backups").join(name), "TEST backup bytes").unwrap();
    set_status(
        &w,
        "backup.json",
        serde_json::json!({"job": "backup", "id": id, "state": "done",
        "message": format!("backup written: {name}"), "files": [name]}),
    );
    let page = b.get("/system/backup").await;
    assert!(
        page.body
            .contains(&format!("href=\"/system/backup/download/{name}\"")),
        "{}",
        page.body
    );
    let r = b.get(&format!("/system/backup/download/{name}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers.get(header::CONTENT_DISPOSITION).unwrap(),
        &format!("attachment; filename=\"{name}\"")
    );
    assert_eq!(r.body, "TEST backup bytes");
    assert!(
        !state(&w, "backups").join(name).exists(),
        "removed once sent"
    );
    let r = b.get(&format!("/system/backup/download/{name}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = b
        .get("/system/backup/download/..%2Frequests%2Fx.backup.age")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A multipart form: text fields and files, in this order.
async fn upload(
    b: &mut Browser,
    parts: &[(&str, Option<&str>, &[u8])],
    length: Option<u64>,
) -> Reply {
    let boundary = "----TESTBOUNDARYbackup";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let len = length.unwrap_or(body.len() as u64);
    b.send(
        Request::post("/system/restore/upload")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("https://{HOST}"))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

fn uploads(w: &Wizard) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(state(w, "restore"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn restore_uploads_checks_shows_the_summary_and_follows_the_job() {
    let w = Wizard::new(GateLimits::default());
    let mut b = signed_in(&w).await;
    let page = b.get("/system/restore").await;
    assert!(
        page.body.contains("enctype=\"multipart/form-data\""),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let backup: &[u8] = b"TEST uploaded backup";

    let r = upload(
        &mut b,
        &[
            ("csrf", None, b"forged"),
            ("file", Some("a.backup.age"), backup),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = upload(
        &mut b,
        &[
            ("file", Some("a.backup.age"), backup),
            ("csrf", None, csrf.as_bytes()),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the token comes first");
    assert!(uploads(&w).is_empty(), "nothing stored for a forged form");

    // The cap (100,000 bytes in the tests): counted, and declared.
    let big = vec![b'x'; 150_000];
    for declared in [None, Some(10_000_000)] {
        let r = upload(
            &mut b,
            &[
                ("csrf", None, csrf.as_bytes()),
                ("passphrase", None, PASS.as_bytes()),
                ("file", Some("big.backup.age"), &big),
            ],
            declared,
        )
        .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{declared:?}");
        assert!(
            r.body
                .contains("The upload is larger than 97.7 KiB, the most this appliance accepts"),
            "{}",
            r.body
        );
        assert!(uploads(&w).is_empty(), "{:?}", uploads(&w));
    }
    let r = upload(
        &mut b,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("file", Some("a.backup.age"), backup),
            ("passphrase", None, b""),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body
            .contains("Enter the passphrase the backup was encrypted with"),
        "{}",
        r.body
    );
    let r = upload(
        &mut b,
        &[
            ("csrf", None, csrf.as_bytes()),
            ("file", Some(""), b""),
            ("passphrase", None, PASS.as_bytes()),
        ],
        None,
    )
    .await;
    assert!(r.body.contains("Choose the backup file"), "{}", r.body);
    assert!(uploads(&w).is_empty());

    // A refused file: its message, the upload removed.
    let good = [
        ("csrf", None, csrf.as_bytes()),
        ("file", Some("a.backup.age"), backup),
        ("file2", Some(""), &b""[..]),
        ("passphrase", None, PASS.as_bytes()),
    ];
    let r = upload(&mut b, &good, None).await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/system/restore?follow=on"),
        "{}",
        r.body
    );
    assert_eq!(uploads(&w), ["upload-1.backup.age"]);
    assert_eq!(
        std::fs::read(state(&w, "restore/upload-1.backup.age")).unwrap(),
        backup
    );
    let page = b.get("/system/restore?follow=on").await;
    assert!(
        page.body.contains("being decrypted and checked") && refreshes(&page),
        "{}",
        page.body
    );
    let req = take_request(&w, "restore-inspect");
    assert_eq!(
        (req["passphrase"].as_str(), req["files"][0].as_str()),
        (Some(PASS), Some("upload-1.backup.age"))
    );
    set_status(
        &w,
        "restore.json",
        serde_json::json!({"job": "restore-inspect", "id": req["id"], "state": "failed",
        "message": "wrong passphrase (or a damaged passphrase stanza in the header)"}),
    );
    let page = b.get("/system/restore").await;
    assert!(
        page.body.contains("The file was refused: wrong passphrase"),
        "{}",
        page.body
    );
    assert!(uploads(&w).is_empty(), "a refused upload is removed");

    // A good file: the summary pop-up, every component ticked.
    upload(&mut b, &good, None).await;
    let req = take_request(&w, "restore-inspect");
    set_status(
        &w,
        "restore.json",
        serde_json::json!({"job": "restore-inspect", "id": req["id"], "state": "inspected",
        "message": "checked", "summaries": [{"created": "2026-12-07T06:00:00Z", "hostname": "otp1",
        "model": "example-appliance", "release": "1.0.0", "install_id": "i",
        "components": [{"id": "etc", "files": 5, "bytes": 2048}, {"id": "tls", "files": 2, "bytes": 3000}]}]}),
    );
    let page = b.get("/system/restore").await;
    for want in [
        "The passphrase is correct",
        "2026-12-07T06:00:00Z",
        "<dd>otp1</dd>",
        "<dd>example-appliance</dd>",
        "<dd>1.0.0</dd>",
        "Appliance configuration /etc (5 file(s), 2.0 KiB)",
        "SSL certificate and key (2 file(s), 2.9 KiB)",
        "name=\"component\" value=\"etc\" checked",
        "name=\"component\" value=\"tls\" checked",
    ] {
        assert!(page.body.contains(want), "{want}\n{}", page.body);
    }
    assert!(!page.body.contains(PASS) && !refreshes(&page));
    let r = b.post("/system/restore", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("Choose at least one component"),
        "{}",
        r.body
    );
    let r = b
        .post("/system/restore", &[("csrf", "x"), ("component", "etc")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            "/system/restore",
            &[("csrf", &csrf), ("component", "tls"), ("component", "etc")],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/system/restore?follow=on")
    );
    let page = b.get("/system/restore?follow=on").await;
    assert!(
        page.body.contains("The restore is starting") && refreshes(&page),
        "{}",
        page.body
    );
    let req = take_request(&w, "restore");
    assert_eq!(req["components"], serde_json::json!(["etc", "tls"]));
    assert_eq!(req["passphrase"], PASS);
    assert_eq!(req["files"][0], "upload-1.backup.age");

    let component = |id: &str, state: &str, message: &str| serde_json::json!({"id": id, "state": state, "message": message});
    set_status(
        &w,
        "restore.json",
        serde_json::json!({"job": "restore", "id": req["id"], "state": "running",
        "message": "restoring", "components": [component("etc", "waiting", "waiting"), component("tls", "waiting", "waiting")]}),
    );
    let page = b.get("/system/restore?follow=on").await;
    assert!(
        page.body.contains("The restore is running") && refreshes(&page),
        "{}",
        page.body
    );
    set_status(
        &w,
        "restore.json",
        serde_json::json!({"job": "restore", "id": req["id"], "state": "done",
        "message": "the restore is complete; the web service serves the restored certificate",
        "components": [component("etc", "restored", "restored (4 file(s) switched)"),
                       component("tls", "restored", "restored (2 file(s) switched); certificate SHA-256 AB:CD")]}),
    );
    let page = b.get("/system/restore?follow=on").await;
    for want in [
        "Done: the restore is complete",
        "<strong>Appliance configuration /etc</strong>: restored (4 file(s) switched)",
        "<strong>SSL certificate and key</strong>: restored (2 file(s) switched); certificate SHA-256 AB:CD",
    ] {
        assert!(page.body.contains(want), "{want}\n{}", page.body);
    }
    assert!(!refreshes(&page));
    // Later visits show the last restore above a new upload form.
    let page = b.get("/system/restore").await;
    assert!(
        page.body.contains("The last restore") && page.body.contains("enctype"),
        "{}",
        page.body
    );
}
