//! The application without a socket (`tower::ServiceExt::oneshot`): routes,
//! status codes, headers and the body limit.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::PathBuf;
use std::sync::Arc;

use appliance_web::app::{router, AppState, CSP};
use appliance_web::certs::{CertStore, Identity};
use appliance_web::limits::Limits;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn identity() -> Identity {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["TEST.invalid".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    Identity::from_pem(
        cert.pem().as_bytes(),
        key.serialize_pem().as_bytes(),
        &PathBuf::from("cert.pem"),
        &PathBuf::from("key.pem"),
    )
    .unwrap()
}

fn app() -> (Router, Arc<CertStore>) {
    let certs = Arc::new(CertStore::new(
        identity(),
        "cert.pem".into(),
        "key.pem".into(),
    ));
    let app = router(
        AppState {
            certs: certs.clone(),
            setup: None,
        },
        &Limits::default(),
    );
    (app, certs)
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn assert_security_headers(headers: &axum::http::HeaderMap, what: &str) {
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP, "{what}");
    assert!(CSP.contains("default-src 'self'") && CSP.contains("frame-ancestors 'none'"));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{what}");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{what}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{what}");
    assert!(
        !headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
        "{what}: no HSTS"
    );
}

#[tokio::test]
async fn the_ready_page_shows_the_served_fingerprints() {
    let (app, certs) = app();
    let (status, headers, body) = call(&app, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_security_headers(&headers, "/");
    let id = certs.current();
    assert!(body.contains("This appliance is ready for set-up"));
    assert!(body.contains(&format!(
        "<code id=\"cert-sha256\">{}</code>",
        id.cert_sha256
    )));
    assert!(body.contains(&format!(
        "<code id=\"spki-sha256\">{}</code>",
        id.spki_sha256
    )));
}

#[tokio::test]
async fn the_page_follows_a_replaced_certificate() {
    let (app, certs) = app();
    let old = certs.current().cert_sha256.clone();
    let new = identity();
    let want = new.cert_sha256.clone();
    certs.replace(new);
    let (_, _, body) = call(&app, get("/")).await;
    assert!(body.contains(&want));
    assert!(!body.contains(&old));
}

#[tokio::test]
async fn healthz_answers_ok() {
    let (app, _) = app();
    let (status, headers, body) = call(&app, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok\n");
    assert_security_headers(&headers, "/healthz");
}

#[tokio::test]
async fn every_other_path_is_a_plain_404_with_the_same_headers() {
    let (app, _) = app();
    for path in [
        "/setup",
        "/index.html",
        "/healthz/",
        "/favicon.ico",
        "/../etc/passwd",
        "/%2e%2e/",
    ] {
        let (status, headers, body) = call(&app, get(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/plain; charset=utf-8",
            "{path}"
        );
        assert_eq!(body, "Not Found\n", "{path}");
        assert_security_headers(&headers, path);
    }
}

#[tokio::test]
async fn the_page_does_not_take_posts() {
    let (app, _) = app();
    let request = Request::post("/").body(Body::from("x=1")).unwrap();
    let (status, headers, _) = call(&app, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers(&headers, "POST /");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let (app, _) = app();
    let limit = Limits::default().body;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/healthz")
        .header(header::CONTENT_LENGTH, limit + 1)
        .body(Body::from(vec![b'x'; limit + 1]))
        .unwrap();
    let (status, headers, _) = call(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers(&headers, "413");
}

#[tokio::test]
async fn without_the_wizard_setup_is_a_plain_404_and_the_page_has_no_link() {
    // An appliance that is set up runs without the wizard (setup-done).
    let (app, _) = app();
    for path in [
        "/setup",
        "/setup/claim",
        "/setup/step/licence",
        "/setup/assets/wizard.js",
    ] {
        let (status, _, body) = call(&app, get(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, "Not Found\n", "{path}");
    }
    let (_, _, body) = call(&app, get("/")).await;
    assert!(!body.contains("/setup"), "{body}");
}
