//! The set-up wizard's handlers without a socket (`tower::ServiceExt::oneshot`):
//! claim rules, rate limits, cookies, CSRF and origin checks, step order,
//! 20 concurrent claims, and a whole walk through the six steps.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;

use appliance_web::setup::gate::GateLimits;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use support::setup::{Wizard, HOST};
use tower::ServiceExt;

/// One browser: its cookies and its address.
struct Browser {
    app: Router,
    cookies: Vec<(String, String)>,
    ip: SocketAddr,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form token")
            + 19;
        self.body[at..at + 64].to_string()
    }
}

impl Browser {
    fn new(app: &Router, ip: &str) -> Browser {
        Browser {
            app: app.clone(),
            cookies: Vec::new(),
            ip: format!("{ip}:40000").parse().unwrap(),
        }
    }

    async fn send(&mut self, mut req: Request<Body>) -> Reply {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !jar.is_empty() {
            req.headers_mut()
                .insert(header::COOKIE, jar.join("; ").parse().unwrap());
        }
        req.extensions_mut().insert(ConnectInfo(self.ip));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, _) = c.split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !c.contains("Max-Age=0") {
                self.cookies.push((k.into(), v.into()));
            }
        }
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        self.send(
            Request::get(path)
                .header(header::HOST, HOST)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            Request::post(path)
                .header(header::HOST, HOST)
                .header(header::ORIGIN, format!("https://{HOST}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn post_multipart(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let b = "----TESTBOUNDARY7MA4YWxkTrZu0gW";
        let mut body = String::new();
        for (k, v) in fields {
            if *k == "licence" {
                body.push_str(&format!("--{b}\r\nContent-Disposition: form-data; name=\"licence\"; filename=\"test.lic\"\r\nContent-Type: text/plain\r\n\r\n{v}\r\n"));
            } else {
                body.push_str(&format!(
                    "--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                ));
            }
        }
        body.push_str(&format!("--{b}--\r\n"));
        self.send(
            Request::post(path)
                .header(header::HOST, HOST)
                .header(header::ORIGIN, format!("https://{HOST}"))
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={b}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// Opens the claim page and sends `code`.
    async fn claim(&mut self, code: &str) -> Reply {
        let page = self.get("/setup").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = page.csrf();
        self.post("/setup/claim", &[("csrf", &csrf), ("setup_code", code)])
            .await
    }
}

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
async fn the_licence_step_tells_each_failure_apart() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    b.claim(&w.code).await;
    let csrf = b.get("/setup/step/licence").await.csrf();
    let cases = [
        (w.licence.replace("token-num = 50", "token-num = 500"), "is not signed by this product's vendor licence key"),
        (w.other_vendor_licence.clone(), "is not signed by this product's vendor licence key"),
        (w.expired_licence.clone(), "Licence file expired on 2026-01-31"),
        (w.future_licence.clone(), "Licence file is not valid yet: it starts on 2027-01-01"),
        (w.wrong_product_licence.clone(), "Licence file is for the product \"other-appliance\""),
        ("hello".to_string(), "Licence file is not in the licence format: the first line must be -----BEGIN LICENSE-----"),
    ];
    for (text, want) in cases {
        let r = b
            .post_multipart(
                "/setup/step/licence",
                &[
                    ("csrf", &csrf),
                    ("accept", "on"),
                    ("licence", &text),
                    ("update_key", support::setup::UPDATE_KEY),
                    ("action", "next"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let want = want.replace('"', "&quot;").replace('\'', "&#39;");
        assert!(
            r.body.contains(&want) || r.body.contains(&want.replace("&#39;", "'")),
            "{want}\n{}",
            r.body
        );
        assert!(
            r.body.contains("id=\"licence-error\""),
            "the error sits at its field"
        );
    }
}

#[tokio::test]
async fn the_steps_go_in_order_and_the_state_is_kept_0600() {
    let w = Wizard::new(GateLimits::default());
    let mut b = Browser::new(&w.app, "192.0.2.1");
    b.claim(&w.code).await;
    // A later step redirects to the current one; its form is refused.
    let r = b.get("/setup/step/time").await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/setup/step/licence")
    );
    let csrf = b.get("/setup/step/licence").await.csrf();
    let r = b
        .post(
            "/setup/step/network",
            &[
                ("csrf", &csrf),
                ("mode", "dhcp"),
                ("hostname", "otp1"),
                ("action", "next"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("the wizard is at"), "{}", r.body);
    assert_eq!(
        b.get("/setup/step/nope").await.status,
        StatusCode::NOT_FOUND
    );

    let next = |r: &Reply, to: &str| {
        assert_eq!(
            (r.status, r.location()),
            (StatusCode::SEE_OTHER, to),
            "{}",
            r.body
        );
    };
    let r = b
        .post_multipart(
            "/setup/step/licence",
            &[
                ("csrf", &csrf),
                ("accept", "on"),
                ("licence", &w.licence),
                ("update_key", support::setup::UPDATE_KEY),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/network");
    // Bad network values: errors at their fields, values kept.
    let r = b
        .post(
            "/setup/step/network",
            &[
                ("csrf", &csrf),
                ("mode", "static"),
                ("address", "192.0.2.10"),
                ("netmask", "24"),
                ("gateway", "198.51.100.1"),
                ("hostname", "-bad-"),
                ("dns", ""),
                ("action", "next"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for id in ["gateway-error", "hostname-error", "dns-error"] {
        assert!(r.body.contains(&format!("id=\"{id}\"")), "{id}: {}", r.body);
    }
    assert!(r.body.contains("value=\"-bad-\""), "values are kept");
    assert!(r.body.contains("aria-describedby=\"hostname-error\""));
    let r = b
        .post(
            "/setup/step/network",
            &[
                ("csrf", &csrf),
                ("mode", "static"),
                ("address", "192.0.2.10"),
                ("netmask", "24"),
                ("gateway", "192.0.2.1"),
                ("hostname", "otp1"),
                ("domain", "example.com"),
                ("dns", "192.0.2.53"),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/time");
    // Previous goes back and the recorded values are shown again.
    let r = b
        .post(
            "/setup/step/time",
            &[("csrf", &csrf), ("action", "previous")],
        )
        .await;
    next(&r, "/setup/step/network");
    let page = b.get("/setup/step/network").await;
    assert!(
        page.body.contains("value=\"192.0.2.10\"")
            && page.body.contains("https://192.0.2.10:8443/"),
        "{}",
        page.body
    );
    let r = b
        .post(
            "/setup/step/network",
            &[
                ("csrf", &csrf),
                ("mode", "static"),
                ("address", "192.0.2.10"),
                ("netmask", "24"),
                ("gateway", "192.0.2.1"),
                ("hostname", "otp1"),
                ("domain", "example.com"),
                ("dns", "192.0.2.53"),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/time");
    let r = b
        .post(
            "/setup/step/time",
            &[
                ("csrf", &csrf),
                ("time_zone", "Europe/Berlin"),
                ("ntp", "on"),
                ("ntp_servers", "pool.ntp.org"),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/roles");
    // Roles: Previous is blocked while the form is incomplete.
    let r = b
        .post(
            "/setup/step/roles",
            &[
                ("csrf", &csrf),
                ("linotp_admin_user", "admin"),
                ("action", "previous"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body
            .contains("Previous is blocked until every field is complete and valid"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Lin0tp"), "passwords are not sent back");
    let roles = [
        ("csrf", csrf.as_str()),
        ("linotp_admin_user", "admin"),
        ("linotp_admin_password", "Lin0tp-Admin!"),
        ("linotp_admin_repeat", "Lin0tp-Admin!"),
        ("root_password", "R00t-Password#"),
        ("root_repeat", "R00t-Password#"),
        ("appliance_admin_user", "appadmin"),
        ("appliance_admin_password", "Appliance-Adm1n"),
        ("appliance_admin_repeat", "Appliance-Adm1n"),
        ("action", "next"),
    ];
    let r = b.post("/setup/step/roles", &roles).await;
    next(&r, "/setup/step/radius");
    let r = b
        .post(
            "/setup/step/radius",
            &[("csrf", &csrf), ("action", "add_row")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("clients[2].name"), "a third row");
    let r = b
        .post(
            "/setup/step/radius",
            &[
                ("csrf", &csrf),
                ("clients[0].name", "vpn"),
                ("clients[0].address", "192.0.2.0/24"),
                ("clients[0].secret", "Xk9#mP2$vL7qR4wZ"),
                ("action", "next"),
            ],
        )
        .await;
    next(&r, "/setup/step/keys");
    let page = b.get("/setup/step/keys").await;
    assert!(
        page.body.contains("Licensee: Example Corp"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Xk9#mP2"), "no secret in the summary");
    let r = b
        .post(
            "/setup/step/keys",
            &[
                ("csrf", &csrf),
                ("regenerate_ssh", "on"),
                ("regenerate_tls", "on"),
                ("action", "activate"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert!(r.body.contains("nothing on the system has been changed"));

    let mode = std::fs::metadata(&w.state_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let saved = appliance_web::setup::store::load_state(&w.state_file).unwrap();
    let done = saved.completed().expect("every step recorded");
    assert!(done.keys.ssh && done.keys.tls && !done.keys.db_key);
    assert_eq!(done.radius.clients[0].name, "vpn");
    assert_eq!(done.network.hostname, "otp1");
}
