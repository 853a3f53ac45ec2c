//! The set-up wizard's claim without a socket (`tower::ServiceExt::oneshot`):
//! codes, attempt limits, cookies, origin and form-token rules, and 20
//! concurrent claims with the right code giving one session.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use appliance_web::setup::gate::GateLimits;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use support::oneshot::Browser;
use support::setup::{Wizard, HOST};

#[tokio::test]
async fn the_claim_page_has_a_labelled_field_and_a_double_submit_token() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    let page = b.get("/setup").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<label for=\"setup_code\">Setup code</label>"),
        "{}",
        page.body
    );
    let set = page
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(set.starts_with("__Host-claim="), "{set}");
    assert!(
        set.contains("; Secure; HttpOnly; SameSite=Strict; Path=/"),
        "{set}"
    );
    assert_eq!(b.cookies[0].1, page.csrf());
    // Nothing loads from elsewhere; the script and style sheet are ours.
    assert!(!page.body.contains("://"), "{}", page.body);
    let css = b.get("/setup/assets/wizard.css").await;
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    let js = b.get("/setup/assets/wizard.js").await;
    assert_eq!(
        js.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(js
        .body
        .contains("Blocked until every field is complete and valid"));
}

#[tokio::test]
async fn wrong_and_malformed_codes_are_told_apart_and_the_right_one_opens_one_session() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    let r = b.claim(&w.wrong).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body
            .contains("Setup code is not the one the console shows now"),
        "{}",
        r.body
    );
    let r = b.claim("7K3M-Q9TD").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("Setup code has 13 letters and digits"),
        "{}",
        r.body
    );
    // The typed code is never sent back.
    assert!(!r.body.contains("7K3M-Q9TD\""));
    let r = b.claim(&w.code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/setup/step/licence");
    let set: Vec<&str> = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = set.iter().find(|c| c.starts_with("__Host-setup=")).unwrap();
    assert_eq!(
        session.len(),
        "__Host-setup=".len() + 64 + "; Secure; HttpOnly; SameSite=Strict; Path=/".len(),
        "{session}"
    );
    assert!(session.ends_with("; Secure; HttpOnly; SameSite=Strict; Path=/"));
    assert!(set
        .iter()
        .any(|c| c.starts_with("__Host-claim=;") && c.ends_with("Max-Age=0")));
    // The winner's /setup goes to its step; a second browser is told.
    assert_eq!(b.get("/setup").await.location(), "/setup/step/licence");
    let mut other = Browser::new(&w.app, "192.0.2.2");
    let r = other.get("/setup").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.body
            .contains("Set-up is already in progress in another browser"),
        "{}",
        r.body
    );
    assert!(r.body.contains("systemctl restart appliance-web"));
    let r = other.get("/setup/step/licence").await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/setup"));
}

/// Before first boot has made the verifier (it comes after the login
/// prompt), a claim is told to wait, not refused as a wrong code; once it
/// is there the same code claims.
#[tokio::test]
async fn a_claim_before_the_verifier_exists_is_asked_to_wait() {
    let w = Wizard::new(GateLimits::default());
    let hash = std::fs::read(&w.verifier).unwrap();
    std::fs::remove_file(&w.verifier).unwrap();
    let mut b = Browser::new(&w.app, "192.0.2.1");
    let r = b.claim(&w.code).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body.contains("still starting"), "{}", r.body);
    assert_eq!(r.headers[header::RETRY_AFTER], "5");
    std::fs::write(&w.verifier, hash).unwrap();
    let r = b.claim(&w.code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn five_tries_a_minute_per_client_then_retry_after() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.7");
    for _ in 0..5 {
        assert_eq!(b.claim(&w.wrong).await.status, StatusCode::FORBIDDEN);
    }
    let r = b.claim(&w.code).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let wait: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        r.body
            .contains("Too many setup code attempts from your address: try again in"),
        "{}",
        r.body
    );
    // Another client still may.
    let mut c = Browser::new(&w.app, "192.0.2.8");
    assert_eq!(c.claim(&w.code).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_global_limit_holds_across_clients() {
    let limits = GateLimits {
        global: 3,
        ..GateLimits::default()
    };
    let w = Wizard::new(limits);
    for i in 0..3 {
        let mut b = Browser::new(&w.app, &format!("198.51.100.{i}"));
        assert_eq!(b.claim(&w.wrong).await.status, StatusCode::FORBIDDEN);
    }
    let mut b = Browser::new(&w.app, "198.51.100.9");
    let r = b.claim(&w.code).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.body
            .contains("Too many setup code attempts on this appliance"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_claims_with_the_right_code_give_one_session() {
    let w = Wizard::new(GateLimits::default());
    let mut browsers = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..20 {
        let mut b = Browser::new(&w.app, &format!("203.0.113.{i}"));
        tokens.push(b.get("/setup").await.csrf());
        browsers.push(b);
    }
    let tasks: Vec<_> = browsers
        .into_iter()
        .zip(tokens)
        .map(|(mut b, t)| {
            let code = w.code.clone();
            tokio::spawn(async move {
                b.post("/setup/claim", &[("csrf", &t), ("setup_code", &code)])
                    .await
            })
        })
        .collect();
    let mut won = 0;
    let mut told = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::SEE_OTHER => won += 1,
            StatusCode::CONFLICT => {
                assert!(r
                    .body
                    .contains("Set-up is already in progress in another browser"));
                told += 1;
            }
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    assert_eq!((won, told), (1, 19));
}

#[tokio::test]
async fn posts_need_the_same_origin_and_the_form_token() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    let csrf = b.get("/setup").await.csrf();
    // Another site's form.
    let body = format!("csrf={csrf}&setup_code={}", w.code);
    let r = b
        .send(
            Request::post("/setup/claim")
                .header(header::HOST, HOST)
                .header(header::ORIGIN, "https://evil.example")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body
            .contains("the form was sent from another site (https://evil.example"),
        "{}",
        r.body
    );
    // No Origin and no Sec-Fetch-Site.
    let r = b
        .send(
            Request::post("/setup/claim")
                .header(header::HOST, HOST)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Sec-Fetch-Site: same-origin alone is enough (with the token).
    let r = b
        .send(
            Request::post("/setup/claim")
                .header(header::HOST, HOST)
                .header("sec-fetch-site", "same-origin")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "csrf=00{}&setup_code={}",
                    &csrf[2..],
                    w.code
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a wrong claim token");
    assert!(r.body.contains("The form has expired"), "{}", r.body);
    // Claimed; then a step form with a wrong token is refused, the right one taken.
    assert_eq!(b.claim(&w.code).await.status, StatusCode::SEE_OTHER);
    let page = b.get("/setup/step/licence").await;
    let token = page.csrf();
    let r = b
        .post_multipart(
            "/setup/step/licence",
            &[
                ("csrf", "x"),
                ("accept", "on"),
                ("licence", &w.licence),
                ("update_key", support::setup::UPDATE_KEY),
                ("action", "next"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body
            .contains("The form&#39;s token does not belong to this set-up session")
            || r.body.contains("The form's token does not belong"),
        "{}",
        r.body
    );
    let r = b
        .post_multipart(
            "/setup/step/licence",
            &[
                ("csrf", &token),
                ("accept", "on"),
                ("licence", &w.licence),
                ("update_key", support::setup::UPDATE_KEY),
                ("action", "next"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/setup/step/network"),
        "{}",
        r.body
    );
    // Without the session cookie: back to the claim.
    let mut stranger = Browser::new(&w.app, "192.0.2.1");
    let r = stranger
        .post("/setup/step/network", &[("csrf", &token)])
        .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/setup"));
}

#[tokio::test]
async fn the_ready_page_leads_to_the_wizard() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    let r = b.get("/").await;
    assert!(
        r.body.contains("<a href=\"/setup\">Start the set-up</a>"),
        "{}",
        r.body
    );
}
