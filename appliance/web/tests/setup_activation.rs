//! Activate, the progress page, the confirmation of an address change and
//! the setup code's rotation, without a socket (`tower::ServiceExt::oneshot`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use std::os::unix::fs::PermissionsExt;

use appliance_web::setup::gate::GateLimits;
use axum::http::StatusCode;
use support::oneshot::Browser;
use support::setup::{walk_to_keys, Wizard, ADMIN, HOST};

fn activate(csrf: &str) -> [(&str, &str); 4] {
    [
        ("csrf", csrf),
        ("regenerate_ssh", "on"),
        ("regenerate_tls", "on"),
        ("action", "activate"),
    ]
}

/// A completed wizard's state file with `edit` applied to its JSON.
async fn completed_state(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    let csrf = walk_to_keys(&mut b, &w).await;
    let r = b
        .post("/setup/step/keys", &[("csrf", &csrf), ("action", "next")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.state_file).unwrap()).unwrap();
    edit(&mut v);
    v.to_string()
}

#[tokio::test]
async fn activate_writes_the_request_only_for_a_complete_valid_state() {
    // A step missing: refused with the step to fix, no request.
    let state = completed_state(|v| v["radius"] = serde_json::Value::Null).await;
    let w = Wizard::with_state(GateLimits::default(), Some(&state));
    let mut b = Browser::new(&w.app, "192.0.2.1");
    b.claim(&w.code).await;
    let csrf = b.get("/setup/step/keys").await.csrf();
    let r = b.post("/setup/step/keys", &activate(&csrf)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("Step 5, Definition of the RADIUS Clients"),
        "{}",
        r.body
    );
    assert!(r.body.contains("href=\"/setup/step/radius\""), "{}", r.body);
    assert!(r.body.contains("Nothing was changed"), "{}", r.body);
    assert!(w.request("activate.json").is_none());
    assert_eq!(
        b.get("/setup/step/keys").await.location(),
        "/setup/step/radius",
        "the step to fix is the current one"
    );

    // Every step recorded, but one no longer valid (a password that the
    // rules refuse): refused with that step.
    let state = completed_state(|v| {
        v["roles"]["linotp_admin"]["password"] = serde_json::json!("short");
    })
    .await;
    let w = Wizard::with_state(GateLimits::default(), Some(&state));
    let mut b = Browser::new(&w.app, "192.0.2.1");
    b.claim(&w.code).await;
    let csrf = b.get("/setup/step/keys").await.csrf();
    let r = b.post("/setup/step/keys", &activate(&csrf)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("Step 4, "), "{}", r.body);
    assert!(r.body.contains("use at least 10"), "{}", r.body);
    assert!(w.request("activate.json").is_none());

    // Complete and valid: the request (0600, no secrets), then the progress.
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    let csrf = walk_to_keys(&mut b, &w).await;
    let r = b.post("/setup/step/keys", &activate(&csrf)).await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/activation"),
        "{}",
        r.body
    );
    let file = w.dir.path().join("requests/activate.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["request"], "activate");
    assert!(v["requested_at"].as_str().unwrap().ends_with('Z'));
    for secret in ["Lin0tp-Admin!", "R00t-Password#", ADMIN.1] {
        assert!(!text.contains(secret), "no password in the request");
    }
    let page = b.get("/activation").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Activation requested"), "{}", page.body);
    // A timed refresh only when asked for (and a way to stop it).
    assert!(!page.body.contains("http-equiv"), "{}", page.body);
    assert!(
        page.body.contains("href=\"/activation?follow=on\""),
        "{}",
        page.body
    );
    let page = b.get("/activation?follow=on").await;
    assert!(
        page.body
            .contains("<meta http-equiv=\"refresh\" content=\"3\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains(">Stop refreshing</a>"), "{}", page.body);
    assert!(!page.body.contains("<script"), "no script needed");

    // While the root side works, a second Activate is refused.
    std::fs::remove_file(&file).unwrap();
    w.set_status(r#"{"state": "running", "step": "writing the configuration"}"#);
    let r = b.post("/setup/step/keys", &activate(&csrf)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(w.request("activate.json").is_none());
}

#[tokio::test]
async fn the_progress_page_follows_each_state() {
    let w = Wizard::new(GateLimits::default());
    // Nobody needs to be signed in: the status holds no secret.
    let mut b = Browser::new(&w.app, "192.0.2.7");
    let r = b.get("/activation").await;
    assert!(
        r.body.contains("No activation has been started"),
        "{}",
        r.body
    );
    let cases: [(&str, &[&str], bool); 6] = [
        (
            r#"{"state": "running", "step": "restarting chrony", "message": "3 of 7"}"#,
            &["Activating", "restarting chrony", "3 of 7"],
            true,
        ),
        (
            r#"{"state": "running", "step": "writing", "shutdown": true}"#,
            &["will power off", "writing"],
            true,
        ),
        (
            r#"{"state": "pending-confirm", "new_url": "https://192.0.2.20:8443/",
                "tls_sha256": "AB:CD:EF", "spki_sha256": "q+/=",
                "confirm_deadline": "2026-12-07T16:10:00Z"}"#,
            &[
                "https://192.0.2.20:8443/setup/confirm",
                "sign in as the Appliance Administrator before",
                "2026-12-07T16:10:00Z",
                "or the old configuration comes back",
                "AB:CD:EF",
                "q+/=",
            ],
            true,
        ),
        (
            r#"{"state": "done", "new_url": "https://192.0.2.20:8443/"}"#,
            &[
                "Activation complete",
                "Sign in as the Appliance Administrator at https://192.0.2.20:8443/",
            ],
            false,
        ),
        (
            r#"{"state": "rolled-back", "message": "deadline passed"}"#,
            &[
                "previous configuration",
                "deadline passed",
                "href=\"/setup\"",
            ],
            false,
        ),
        (
            r#"{"state": "failed", "step": "checking clients.conf", "message": "freeradius -XC refused client vpn: fix it in step 5"}"#,
            &[
                "Activation failed",
                "checking clients.conf",
                "freeradius -XC refused client vpn: fix it in step 5",
                "keeps its previous configuration",
                "press Activate again",
            ],
            false,
        ),
    ];
    for (json, wants, moves) in cases {
        w.set_status(json);
        let r = b.get("/activation").await;
        assert_eq!(r.status, StatusCode::OK);
        for want in wants {
            assert!(r.body.contains(*want), "{json}: {want}\n{}", r.body);
        }
        assert!(!r.body.contains("http-equiv"), "{json}: not unasked");
        assert_eq!(r.body.contains("?follow=on"), moves, "{json}");
        let r = b.get("/activation?follow=on").await;
        assert_eq!(r.body.contains("http-equiv=\"refresh\""), moves, "{json}");
    }
    w.set_status(r#"{"state": "done", "shutdown": true}"#);
    let r = b.get("/activation").await;
    assert!(r.body.contains("will power off"), "{}", r.body);
    assert!(!r.body.contains("Sign in"), "{}", r.body);
}

#[tokio::test]
async fn confirm_checks_the_administrator_only_while_pending() {
    let limits = GateLimits {
        per_client: 3,
        ..GateLimits::default()
    };
    let w = Wizard::new(limits);
    w.write_admin_credentials();
    let mut b = Browser::new(&w.app, "192.0.2.20");
    // Outside pending-confirm: nothing to confirm.
    let r = b.get("/setup/confirm").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    w.set_status(r#"{"state": "running", "step": "x"}"#);
    assert_eq!(b.get("/setup/confirm").await.status, StatusCode::CONFLICT);

    // Pending, and set up already: the one /setup page still open.
    w.set_status(r#"{"state": "pending-confirm", "new_url": "https://192.0.2.20:8443/"}"#);
    w.set_up(true);
    assert_eq!(b.get("/setup").await.status, StatusCode::NOT_FOUND);
    let page = b.get("/setup/confirm").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<label for=\"password\">"),
        "{}",
        page.body
    );
    let csrf = page.csrf();

    // Cross-origin: refused before anything is checked.
    let mut evil = axum::http::Request::post("/setup/confirm")
        .header(axum::http::header::HOST, HOST)
        .header(axum::http::header::ORIGIN, "https://evil.example")
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(axum::body::Body::from(format!(
            "csrf={csrf}&login={}&password={}",
            ADMIN.0, ADMIN.1
        )))
        .unwrap();
    evil.headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    let r = b.send(evil).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("https://evil.example"), "{}", r.body);
    // Without the form's token: refused.
    let r = b
        .post(
            "/setup/confirm",
            &[("csrf", "x"), ("login", ADMIN.0), ("password", ADMIN.1)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(w.request("confirm.json").is_none());

    // Wrong login or password: a field error, no request.
    // Each page comes with a new token (and its cookie).
    let mut csrf = b.get("/setup/confirm").await.csrf();
    for (login, password) in [(ADMIN.0, "Appliance-Adm1"), ("admin", ADMIN.1)] {
        let r = b
            .post(
                "/setup/confirm",
                &[("csrf", &csrf), ("login", login), ("password", password)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.body.contains("id=\"password-error\""), "{}", r.body);
        assert!(w.request("confirm.json").is_none());
        csrf = r.csrf();
    }
    // Right: confirm.json for the root side.
    let r = b
        .post(
            "/setup/confirm",
            &[("csrf", &csrf), ("login", ADMIN.0), ("password", ADMIN.1)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("New address confirmed"), "{}", r.body);
    let v = w.request("confirm.json").unwrap();
    assert_eq!(
        (v["request"].as_str(), v["login"].as_str()),
        (Some("confirm"), Some(ADMIN.0))
    );
    assert!(
        !v.to_string().contains(ADMIN.1),
        "no password in the request"
    );
    // The limit: this client's 4th attempt in the minute waits.
    let csrf = b.get("/setup/confirm").await.csrf();
    let r = b
        .post(
            "/setup/confirm",
            &[("csrf", &csrf), ("login", ADMIN.0), ("password", ADMIN.1)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.get("retry-after").is_some());

    // Once confirmed (done), /setup/confirm is gone with the rest.
    w.set_status(r#"{"state": "done"}"#);
    assert_eq!(b.get("/setup/confirm").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_fifth_wrong_code_asks_for_a_new_one() {
    let w = Wizard::new(GateLimits::default());
    // Wrong codes count across clients: 2 + 2 from two, then the 5th.
    for (i, ip) in ["192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.2"]
        .iter()
        .enumerate()
    {
        let r = Browser::new(&w.app, ip).claim(&w.wrong).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "attempt {}", i + 1);
        assert!(w.request("rotate-code.json").is_none(), "attempt {}", i + 1);
    }
    // A mistyped code (not a code at all) does not count.
    let r = Browser::new(&w.app, "192.0.2.3").claim("hello").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(w.request("rotate-code.json").is_none());
    let r = Browser::new(&w.app, "192.0.2.3").claim(&w.wrong).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("has been changed"), "{}", r.body);
    let v = w.request("rotate-code.json").expect("the rotation request");
    assert_eq!(
        (v["request"].as_str(), v["failures"].as_u64()),
        (Some("rotate-code"), Some(5))
    );
    let page = Browser::new(&w.app, "192.0.2.9").get("/setup").await;
    assert!(
        page.body.contains("The setup code has changed") && page.body.contains("console"),
        "{}",
        page.body
    );
    // The root side writes the new verifier; the next claim reads it.
    let new = appliance_config::setup_code::SetupCode::derive(&support::setup::SECRET, 1);
    assert_eq!(
        new.to_string(),
        w.wrong,
        "the TEST 'wrong' code is the next one"
    );
    std::fs::write(&w.verifier, new.hash().unwrap()).unwrap();
    let r = Browser::new(&w.app, "192.0.2.4").claim(&w.wrong).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}
