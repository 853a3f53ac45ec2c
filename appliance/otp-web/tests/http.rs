//! The OTP service through its HTTP layer without a socket
//! (`tower::ServiceExt::oneshot`) on the in-memory store: the token's
//! life through the JSON API, and the management pages.

mod common;

use appliance_otp::store::memory::MemoryStore;
use axum::http::{header, StatusCode};
use common::{scenario, Client, OtpAuth, Transport, ADMIN_PASSWORD};

async fn client() -> (Client, std::sync::Arc<appliance_otp::audit::MemoryAudit>) {
    let (app, audit) = common::app(MemoryStore::default()).await;
    (
        Client::new(Transport::Router(appliance_otp_web::router(app))),
        audit,
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[tokio::test]
async fn hotp_token_life_through_the_api() {
    let (mut c, audit) = client().await;
    scenario::hotp_lifecycle(&mut c, &audit).await;
    scenario::totp_for_another_realm(&c, now()).await;
}

/// The value of a hidden `csrf` field on a page.
fn csrf_field(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    page[at..at + 64].to_string()
}

#[tokio::test]
async fn management_pages_log_in_list_enrol_with_a_qr_code_and_save_policies() {
    let (c0, _) = client().await;
    let Transport::Router(router) = c0.transport else {
        unreachable!()
    };
    let mut c = Client::new(Transport::Router(router));

    // Not logged in: pages send the browser to the login page.
    let r = c.get("/manage/tokens").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/manage/login");
    let r = c.get("/manage/login").await;
    assert!(r.body.contains("<label for=\"password\">Password</label>"));
    assert!(r.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let r = c
        .send(
            axum::http::Method::POST,
            "/manage/login",
            Some(&[("login", "admin"), ("password", "TEST-wrong")]),
            false,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("login or password wrong"), "{}", r.body);
    let r = c
        .send(
            axum::http::Method::POST,
            "/manage/login",
            Some(&[("login", "admin"), ("password", ADMIN_PASSWORD)]),
            false,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-otp-admin="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    c.cookie = Some(cookie.split(';').next().unwrap().to_string());

    // User View: sorted by realm, markup escaped.
    let users = c.get("/manage/users").await;
    assert_eq!(users.status, StatusCode::OK);
    let guests = users.body.find("<td>guests</td>").expect("guests realm");
    let staff = users.body.find("<td>staff</td>").expect("staff realm");
    assert!(guests < staff, "sorted by realm");
    assert!(users.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!users.body.contains("<script>"));

    // Enrol through the form: the page shows the QR code and the URI.
    let form_page = c.get("/manage/enrol").await;
    let csrf = csrf_field(&form_page.body);
    let refused = c
        .send(
            axum::http::Method::POST,
            "/manage/enrol",
            Some(&[("csrf", "0"), ("user", "bob")]),
            false,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let page = c
        .send(
            axum::http::Method::POST,
            "/manage/enrol",
            Some(&[
                ("csrf", &csrf),
                ("type", "hotp"),
                ("hashlib", "sha1"),
                ("otplen", "6"),
                ("user", "bob"),
            ]),
            false,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<figure id=\"qr\""));
    assert!(page.body.contains("<svg"), "QR code inline");
    assert!(!page.body.contains("<?xml"));
    let start = page.body.find("otpauth://").expect("URI text");
    let end = start + page.body[start..].find('<').unwrap();
    let uri = page.body[start..end].replace("&amp;", "&");
    let otp = OtpAuth::parse(&uri);
    assert!(
        c.check("bob", &otp.hotp(0)).await,
        "the page's URI makes valid OTPs"
    );

    // Token View: type, user, counter, fail count, active; actions.
    assert!(!c.check("bob", &otp.hotp(0)).await);
    let tokens = c.get("/manage/tokens").await;
    let serial = page
        .body
        .split("<strong id=\"serial\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let row_at = tokens
        .body
        .find(&format!("<tr data-serial=\"{serial}\">"))
        .expect("row");
    let row = &tokens.body[row_at..row_at + tokens.body[row_at..].find("</tr>").unwrap()];
    assert!(
        row.contains("<td>hotp</td><td>bob@staff</td><td>1</td><td>1</td><td>yes</td>"),
        "{row}"
    );
    let r = c
        .send(
            axum::http::Method::POST,
            "/manage/token/disable",
            Some(&[("csrf", &csrf), ("serial", &serial)]),
            false,
        )
        .await;
    assert!(
        r.body.contains(&format!("{serial}: disable done.")),
        "{}",
        r.body
    );
    assert!(r.body.contains("<td>no</td>"));

    // Policies: a bad JSON text is named and kept in the form.
    let r = c
        .send(
            axum::http::Method::POST,
            "/manage/policies",
            Some(&[("csrf", &csrf), ("policies", "[{\"scope\":\"nope\"}]")]),
            false,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("policies: at [0].scope"), "{}", r.body);
    assert!(
        r.body.contains("[{&quot;scope&quot;:&quot;nope&quot;}]"),
        "{}",
        r.body
    );
    let good =
        r#"[{"name":"self","scope":"selfservice","actions":["resync"],"realm":"*","user":"*"}]"#;
    let r = c
        .send(
            axum::http::Method::POST,
            "/manage/policies",
            Some(&[("csrf", &csrf), ("policies", good)]),
            false,
        )
        .await;
    assert!(r.body.contains("Policies saved."), "{}", r.body);
    assert!(
        r.body
            .contains("<td>self</td><td>selfservice</td><td>resync</td>"),
        "{}",
        r.body
    );

    // Log out ends the session.
    let r = c
        .send(
            axum::http::Method::POST,
            "/manage/logout",
            Some(&[("csrf", &csrf)]),
            false,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/manage/tokens").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn failed_logins_are_limited() {
    let (mut c, _) = client().await;
    for _ in 0..appliance_otp_web::session::MAX_FAILURES {
        assert_eq!(c.login("TEST-wrong").await.status, StatusCode::UNAUTHORIZED);
    }
    let r = c.login(ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("try again in"), "{}", r.body);
}
